//! Contact operations of the sandbox as plain functions over [`State`]: body validation with the
//! real API's messages, the no-duplicates rule, upsert matching (email, then phone), search paging.

use serde_json::{json, Map, Value};

pub use super::dto::{check_body, CREATE_FIELDS, UPDATE_FIELDS, UPSERT_FIELDS};
use super::dto::{custom_field_problems, normalize_phone, parse_dob};
use super::state::State;
use ghl_client::types::Contact;

/// An API answer: status and JSON body.
pub type Answer = (u16, Value);

pub(super) fn err(status: u16, message: Value) -> Answer {
    let error = match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        422 => "Unprocessable Entity",
        _ => "Error",
    };
    (
        status,
        json!({"statusCode": status, "message": message, "error": error}),
    )
}

/// 422 with the API's array-of-messages shape.
pub fn unprocessable(messages: Vec<String>) -> Answer {
    err(422, json!(messages))
}

/// 400 with a single message.
pub fn bad_request(message: &str) -> Answer {
    err(400, json!(message))
}

fn str_field(obj: &Map<String, Value>, k: &str) -> Option<String> {
    obj.get(k).and_then(Value::as_str).map(str::to_owned)
}

/// How an endpoint renders a contact: GHL does not hand values back in the form they were sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `GET /contacts/{id}` and write answers: `dateOfBirth` as `YYYY-MM-DDT00:00:00.000Z`.
    Get,
    /// `POST /contacts/search`: `dateOfBirth` as epoch milliseconds, the street as `address`
    /// (highlevel-api-docs#314).
    Search,
}

/// A stored contact as `form` answers it.
pub fn render(c: &Contact, form: Form) -> Value {
    let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
    let Value::Object(o) = &mut v else {
        return v;
    };
    if let Some(d) = c.date_of_birth.as_deref() {
        let dob = match form {
            Form::Get => json!(format!("{d}T00:00:00.000Z")),
            Form::Search => json!(super::reads::millis(Some(&format!("{d}T00:00:00Z")))),
        };
        o.insert("dateOfBirth".into(), dob);
    }
    if let Some(e) = c.email.as_deref() {
        o.insert("emailLowerCase".into(), json!(e.to_lowercase()));
    }
    if form == Form::Search {
        if let Some(a) = o.remove("address1") {
            o.insert("address".into(), a);
        }
    }
    v
}

/// Applies the body's fields to a contact (absent fields unchanged; `tags` replaces).
fn apply(c: &mut Contact, obj: &Map<String, Value>, skip_phone: bool) {
    let set = |slot: &mut Option<String>, k: &str| {
        if let Some(v) = obj.get(k) {
            *slot = v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
        }
    };
    set(&mut c.first_name, "firstName");
    set(&mut c.last_name, "lastName");
    set(&mut c.name, "name");
    set(&mut c.company_name, "companyName");
    set(&mut c.address1, "address1");
    set(&mut c.city, "city");
    set(&mut c.state, "state");
    set(&mut c.postal_code, "postalCode");
    set(&mut c.country, "country");
    set(&mut c.website, "website");
    set(&mut c.timezone, "timezone");
    set(&mut c.source, "source");
    if let Some(v) = obj.get("email") {
        // Stored as sent; answers add `emailLowerCase`, and matching ignores case.
        c.email = v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    }
    if !skip_phone {
        if let Some(v) = obj.get("phone") {
            c.phone = v.as_str().and_then(normalize_phone);
        }
    }
    if let Some(v) = obj.get("dateOfBirth") {
        c.date_of_birth = v.as_str().and_then(parse_dob);
    }
    if let Some(v) = obj.get("dnd").and_then(Value::as_bool) {
        c.dnd = Some(v);
    }
    if let Some(items) = obj.get("customFields").and_then(Value::as_array) {
        for item in items {
            let Some(id) = item.get("id").and_then(Value::as_str) else {
                continue;
            };
            let value = item
                .get("field_value")
                .or_else(|| item.get("value"))
                .cloned()
                .unwrap_or(Value::Null);
            c.custom_fields.retain(|v| v.id != id);
            if !value.is_null() && value != "" {
                c.custom_fields.push(ghl_client::types::CustomFieldValue {
                    id: id.to_owned(),
                    value,
                });
            }
        }
    }
    if let Some(tags) = obj.get("tags").and_then(Value::as_array) {
        let mut t: Vec<String> = tags
            .iter()
            .filter_map(Value::as_str)
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        t.dedup();
        c.tags = t;
    }
    if c.name.is_none() || obj.contains_key("firstName") || obj.contains_key("lastName") {
        let full = [c.first_name.as_deref(), c.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        if !full.is_empty() && !obj.contains_key("name") {
            c.name = Some(full);
        }
    }
}

pub(super) fn now_iso(ms: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Finds a contact in `location` whose email (case-insensitive) or phone matches.
/// Returns (index, matching field).
pub(super) fn find_match(
    contacts: &[Contact],
    email: Option<&str>,
    phone: Option<&str>,
) -> (Option<usize>, Option<usize>) {
    let email = email.filter(|e| !e.is_empty()).map(str::to_lowercase);
    let phone = phone.and_then(normalize_phone);
    let by_email = email.as_ref().and_then(|e| {
        contacts.iter().position(|c| {
            c.email.as_deref().is_some_and(|x| {
                // No allocation per stored contact unless its email is not ASCII.
                x.eq_ignore_ascii_case(e) || (!x.is_ascii() && x.to_lowercase() == *e)
            })
        })
    });
    // An email that no contact has as its primary one matches a contact that has it as an
    // additional email (and the write then replaces that contact's primary email, #337).
    let by_email = by_email.or_else(|| {
        let e = email.as_ref()?;
        contacts.iter().position(|c| {
            c.additional_emails
                .iter()
                .any(|a| a.trim().eq_ignore_ascii_case(e))
        })
    });
    let by_phone = phone.and_then(|p| {
        contacts
            .iter()
            .position(|c| c.phone.as_deref() == Some(p.as_str()))
    });
    (by_email, by_phone)
}

pub(super) fn location_of<'a>(
    st: &'a mut State,
    obj: &Map<String, Value>,
) -> Result<&'a mut Vec<Contact>, Answer> {
    let Some(loc) = obj.get("locationId").and_then(Value::as_str) else {
        return Err(unprocessable(vec!["locationId should not be empty".into()]));
    };
    st.locations.get_mut(loc).ok_or_else(|| {
        err(
            403,
            json!("The token does not have access to this location."),
        )
    })
}

fn new_contact(st: &mut State, obj: &Map<String, Value>) -> Contact {
    let (id, ms) = st.next_id_and_time();
    let mut c = Contact {
        id,
        location_id: str_field(obj, "locationId"),
        date_added: Some(now_iso(ms)),
        date_updated: Some(now_iso(ms)),
        ..Default::default()
    };
    apply(&mut c, obj, false);
    c
}

pub(super) fn trace_id() -> String {
    let (a, b): (u64, u64) = (rand::random(), rand::random());
    format!("{a:016x}{b:016x}")
}

/// `POST /contacts/`.
pub fn create(st: &mut State, body: &[u8]) -> Answer {
    let obj = match check_body(body, CREATE_FIELDS) {
        Ok(o) => o,
        Err(a) => return a,
    };
    let allow_dup = st.allow_duplicates;
    if let Some(loc) = obj.get("locationId").and_then(Value::as_str) {
        let problems = custom_field_problems(st, loc, &obj);
        if !problems.is_empty() {
            return unprocessable(problems);
        }
    }
    let contacts = match location_of(st, &obj) {
        Ok(c) => c,
        Err(a) => return a,
    };
    if !allow_dup {
        let (e, p) = find_match(
            contacts,
            obj.get("email").and_then(Value::as_str),
            obj.get("phone").and_then(Value::as_str),
        );
        if let Some((idx, field)) = e.map(|i| (i, "email")).or(p.map(|i| (i, "phone"))) {
            let c = &contacts[idx];
            return (
                400,
                json!({"statusCode": 400, "message": "This location does not allow duplicated contacts.",
                       "meta": {"contactId": c.id, "contactName": c.name, "matchingField": field}}),
            );
        }
    }
    let c = new_contact(st, &obj);
    let loc = c.location_id.clone().unwrap_or_default();
    st.note_write(&c.id, None);
    st.locations.entry(loc).or_default().push(c.clone());
    (201, json!({"contact": render(&c, Form::Get)}))
}

/// `POST /contacts/upsert`: match by email, then phone; the matched contact is updated, and a
/// phone that belongs to another contact is dropped silently (as the real API does, #37).
pub fn upsert(st: &mut State, body: &[u8]) -> Answer {
    let obj = match check_body(body, UPSERT_FIELDS) {
        Ok(o) => o,
        Err(a) => return a,
    };
    let force_new = st.allow_duplicates
        && obj
            .get("createNewIfDuplicateAllowed")
            .and_then(Value::as_bool)
            .unwrap_or(false);
    if let Some(loc) = obj.get("locationId").and_then(Value::as_str) {
        let problems = custom_field_problems(st, loc, &obj);
        if !problems.is_empty() {
            return unprocessable(problems);
        }
    }
    let contacts = match location_of(st, &obj) {
        Ok(c) => c,
        Err(a) => return a,
    };
    let (e, p) = find_match(
        contacts,
        obj.get("email").and_then(Value::as_str),
        obj.get("phone").and_then(Value::as_str),
    );
    let target = if force_new { None } else { e.or(p) };
    if let Some(idx) = target {
        let phone_taken_elsewhere = p.is_some_and(|pi| pi != idx);
        let (_, ms) = st.next_id_and_time();
        let loc = str_field(&obj, "locationId").unwrap_or_default();
        let c = &mut st.locations.get_mut(&loc).expect("location checked above")[idx];
        let before = c.clone();
        apply(c, &obj, phone_taken_elsewhere);
        c.date_updated = Some(now_iso(ms));
        let answer = json!({"new": false, "contact": render(c, Form::Get), "traceId": trace_id()});
        st.note_write(&before.id.clone(), Some(before));
        return (200, answer);
    }
    let c = new_contact(st, &obj);
    let loc = c.location_id.clone().unwrap_or_default();
    st.note_write(&c.id, None);
    st.locations.entry(loc).or_default().push(c.clone());
    (
        200,
        json!({"new": true, "contact": render(&c, Form::Get), "traceId": trace_id()}),
    )
}

fn find_by_id(st: &mut State, id: &str) -> Option<(String, usize)> {
    st.locations
        .iter()
        .find_map(|(loc, cs)| cs.iter().position(|c| c.id == id).map(|i| (loc.clone(), i)))
}

/// `GET /contacts/{id}`.
pub fn get(st: &mut State, id: &str) -> Answer {
    match find_by_id(st, id) {
        Some((loc, i)) => (
            200,
            json!({"contact": render(&st.locations[&loc][i], Form::Get)}),
        ),
        None => bad_request("Contact not found"),
    }
}

/// `DELETE /contacts/{id}`: `{succeded: true}`.
pub fn delete(st: &mut State, id: &str) -> Answer {
    match find_by_id(st, id) {
        Some((loc, i)) => {
            st.locations.get_mut(&loc).expect("found above").remove(i);
            st.notes.remove(id);
            st.tasks.remove(id);
            st.appointments.remove(id);
            (200, json!({"succeded": true}))
        }
        None => bad_request("Contact not found"),
    }
}

/// `PUT /contacts/{id}`.
pub fn update(st: &mut State, id: &str, body: &[u8]) -> Answer {
    let obj = match check_body(body, UPDATE_FIELDS) {
        Ok(o) => o,
        Err(a) => return a,
    };
    let Some((loc, idx)) = find_by_id(st, id) else {
        return bad_request("Contact not found");
    };
    let problems = custom_field_problems(st, &loc, &obj);
    if !problems.is_empty() {
        return unprocessable(problems);
    }
    if !st.allow_duplicates {
        let contacts = &st.locations[&loc];
        let (e, p) = find_match(
            contacts,
            obj.get("email").and_then(Value::as_str),
            obj.get("phone").and_then(Value::as_str),
        );
        let clash = e
            .filter(|&i| i != idx)
            .map(|i| (i, "email"))
            .or(p.filter(|&i| i != idx).map(|i| (i, "phone")));
        if let Some((i, field)) = clash {
            let c = &contacts[i];
            return (
                400,
                json!({"statusCode": 400, "message": "This location does not allow duplicated contacts.",
                       "meta": {"contactId": c.id, "contactName": c.name, "matchingField": field}}),
            );
        }
    }
    let (_, ms) = st.next_id_and_time();
    let c = &mut st.locations.get_mut(&loc).expect("found above")[idx];
    let before = c.clone();
    apply(c, &obj, false);
    c.date_updated = Some(now_iso(ms));
    let answer = json!({"succeded": true, "contact": render(c, Form::Get)});
    st.note_write(id, Some(before));
    (200, answer)
}

#[cfg(test)]
mod tests {
    use super::super::reads::search;
    use super::*;

    #[test]
    fn national_us_numbers_are_stored_in_e164() {
        assert_eq!(
            normalize_phone("(415) 555-0101").as_deref(),
            Some("+14155550101")
        );
        assert_eq!(
            normalize_phone("1 415 555 0101").as_deref(),
            Some("+14155550101")
        );
        assert_eq!(
            normalize_phone("+1 415-555-0101").as_deref(),
            Some("+14155550101")
        );
        assert_eq!(
            normalize_phone("+44 20 7946 0958").as_deref(),
            Some("+442079460958")
        );
    }

    fn st() -> State {
        State::for_tests()
    }

    #[test]
    fn unknown_property_is_422() {
        let (s, v) = upsert(
            &mut st(),
            br#"{"locationId":"L","email":"a@b.co","additionalEmails":[]}"#,
        );
        assert_eq!(s, 422);
        assert_eq!(
            v["message"],
            json!(["property additionalEmails should not exist"])
        );
    }

    #[test]
    fn upsert_matches_email_case_insensitively_then_phone() {
        let mut s = st();
        let (code, v) = upsert(
            &mut s,
            br#"{"locationId":"L","email":"A@b.co","firstName":"A"}"#,
        );
        assert_eq!((code, v["new"].clone()), (200, json!(true)));
        let (_, v2) = upsert(
            &mut s,
            br#"{"locationId":"L","email":"a@B.co","lastName":"Z"}"#,
        );
        assert_eq!(v2["new"], json!(false));
        assert_eq!(v2["contact"]["id"], v["contact"]["id"]);
        assert_eq!(v2["contact"]["firstName"], json!("A"));
        let (_, v3) = upsert(&mut s, br#"{"locationId":"L","phone":"+1 415 555 2671"}"#);
        assert_eq!(v3["new"], json!(true));
        let (_, v4) = upsert(
            &mut s,
            br#"{"locationId":"L","phone":"+14155552671","city":"SF"}"#,
        );
        assert_eq!(v4["contact"]["id"], v3["contact"]["id"]);
        assert_eq!(s.locations["L"].len(), 2);
    }

    #[test]
    fn email_and_phone_matching_two_contacts_updates_the_email_match_and_drops_phone() {
        let mut s = st();
        upsert(&mut s, br#"{"locationId":"L","email":"a@b.co"}"#);
        upsert(&mut s, br#"{"locationId":"L","phone":"+14155552671"}"#);
        let (_, v) = upsert(
            &mut s,
            br#"{"locationId":"L","email":"a@b.co","phone":"+14155552671"}"#,
        );
        assert_eq!(v["new"], json!(false));
        assert_eq!(v["contact"].get("phone"), None);
    }

    #[test]
    fn create_duplicate_is_400_with_meta() {
        let mut s = st();
        let (c, v) = create(&mut s, br#"{"locationId":"L","email":"a@b.co"}"#);
        assert_eq!(c, 201);
        let (c2, v2) = create(&mut s, br#"{"locationId":"L","email":"A@B.CO"}"#);
        assert_eq!(c2, 400);
        assert_eq!(
            v2["message"],
            json!("This location does not allow duplicated contacts.")
        );
        assert_eq!(v2["meta"]["contactId"], v["contact"]["id"]);
        assert_eq!(v2["meta"]["matchingField"], json!("email"));
    }

    #[test]
    fn other_location_is_403_and_bad_types_422() {
        let (c, _) = upsert(&mut st(), br#"{"locationId":"other","email":"a@b.co"}"#);
        assert_eq!(c, 403);
        let (c, v) = upsert(
            &mut st(),
            br#"{"locationId":"L","dnd":"yes","postalCode":null}"#,
        );
        assert_eq!(c, 422);
        assert_eq!(v["message"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn search_pages_and_cursor_cover_everything_once() {
        let mut s = st();
        for i in 0..25 {
            upsert(
                &mut s,
                format!(r#"{{"locationId":"L","email":"u{i}@x.co"}}"#).as_bytes(),
            );
        }
        let mut seen = Vec::new();
        let mut after: Option<Value> = None;
        loop {
            let body = match &after {
                None => json!({"locationId":"L","pageLimit":10}),
                Some(a) => json!({"locationId":"L","pageLimit":10,"searchAfter":a}),
            };
            let (c, v) = search(&mut s, body.to_string().as_bytes());
            assert_eq!(c, 200);
            let cs = v["contacts"].as_array().unwrap().clone();
            if cs.is_empty() {
                break;
            }
            after = Some(cs.last().unwrap()["searchAfter"].clone());
            seen.extend(cs.iter().map(|c| c["id"].as_str().unwrap().to_owned()));
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 25);
        let (c, _) = search(&mut s, br#"{"locationId":"L","pageLimit":600}"#);
        assert_eq!(c, 422);
    }
}
