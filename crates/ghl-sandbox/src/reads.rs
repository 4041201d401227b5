//! Read endpoints of the sandbox: `POST /contacts/search` (`query`, filters, `sort`, `page` or
//! `searchAfter`) and the deprecated `GET /contacts/` (`limit` ≤ 100, `startAfter` +
//! `startAfterId`).
//!
//! Contacts are stored in creation order and every write gets a strictly increasing timestamp,
//! so creation order is `dateAdded` order. A search's cursor is its sort keys then the id —
//! `[dateAddedMs, id]` by default — so paging with `searchAfter` is exact in any order.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::contacts::{bad_request, location_of, trace_id, unprocessable, Answer};
use super::state::State;
use ghl_client::types::Contact;

/// Records reachable with `page` paging.
pub const PAGE_WINDOW: usize = 10_000;

/// Milliseconds since the epoch of an RFC 3339 timestamp.
pub fn millis(ts: Option<&str>) -> i64 {
    ts.and_then(ghl_client::types::unix_millis).unwrap_or(0)
}

fn get_form(c: &Contact) -> Value {
    super::contacts::render(c, super::contacts::Form::Get)
}

/// A contact as search answers it, with its cursor under `sort`.
fn with_cursor(c: &Contact, sort: &[(SortField, bool)]) -> Value {
    let mut v = super::contacts::render(c, super::contacts::Form::Search);
    if let Value::Object(o) = &mut v {
        o.insert("searchAfter".into(), Value::Array(cursor(c, sort)));
    }
    v
}

/// Fields a search may filter on (and, with `LowerCase`, the lower-cased copies GHL indexes).
/// Custom fields are `customFields.{id}`. Anything else is a 422, as GHL answers it.
const FILTER_FIELDS: &[&str] = &[
    "id",
    "firstName",
    "lastName",
    "firstNameLowerCase",
    "lastNameLowerCase",
    "name",
    "email",
    "emailLowerCase",
    "phone",
    "companyName",
    "address",
    "address1",
    "city",
    "state",
    "country",
    "postalCode",
    "website",
    "timezone",
    "source",
    "tags",
    "dnd",
    "dateOfBirth",
    "dateAdded",
    "dateUpdated",
    "businessId",
    "assignedTo",
    "type",
];

/// What a search can sort by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortField {
    DateAdded,
    DateUpdated,
    FirstName,
    LastName,
    Email,
}

impl SortField {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "dateAdded" => SortField::DateAdded,
            "dateUpdated" => SortField::DateUpdated,
            "firstNameLowerCase" => SortField::FirstName,
            "lastNameLowerCase" => SortField::LastName,
            "email" | "emailLowerCase" => SortField::Email,
            _ => return None,
        })
    }

    fn key(self, c: &Contact) -> Value {
        let lower = |s: &Option<String>| json!(s.as_deref().unwrap_or("").to_lowercase());
        match self {
            SortField::DateAdded => json!(millis(c.date_added.as_deref())),
            SortField::DateUpdated => json!(millis(c.date_updated.as_deref())),
            SortField::FirstName => lower(&c.first_name),
            SortField::LastName => lower(&c.last_name),
            SortField::Email => lower(&c.email),
        }
    }
}

/// The sort keys of `c`, then its id.
fn cursor(c: &Contact, sort: &[(SortField, bool)]) -> Vec<Value> {
    let mut k: Vec<Value> = sort.iter().map(|(f, _)| f.key(c)).collect();
    k.push(json!(c.id));
    k
}

/// Orders two cursors of `sort` (numbers as numbers, text as text; `true` = descending).
fn cmp_cursor(a: &[Value], b: &[Value], sort: &[(SortField, bool)]) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let one = |x: &Value, y: &Value| match (x.as_i64(), y.as_i64()) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => x.as_str().unwrap_or("").cmp(y.as_str().unwrap_or("")),
    };
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let desc = sort.get(i).is_some_and(|(_, d)| *d);
        let o = one(x, y);
        if o != Ordering::Equal {
            return if desc { o.reverse() } else { o };
        }
    }
    Ordering::Equal
}

/// `sort: [{field, direction}]`, or the 422 messages.
fn parse_sort(v: Option<&Value>) -> Result<Vec<(SortField, bool)>, Vec<String>> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(vec![(SortField::DateAdded, false)]);
    };
    let items = v
        .as_array()
        .ok_or(vec!["sort must be an array".to_owned()])?;
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let field = item.get("field").and_then(Value::as_str).unwrap_or("");
        let dir = item
            .get("direction")
            .and_then(Value::as_str)
            .unwrap_or("asc");
        match (SortField::parse(field), dir) {
            (Some(f), "asc") => out.push((f, false)),
            (Some(f), "desc") => out.push((f, true)),
            (None, _) => problems.push(format!("sort.{i}.field {field} is not sortable")),
            (_, d) => problems.push(format!("sort.{i}.direction must be asc or desc, not {d}")),
        }
    }
    if out.is_empty() && problems.is_empty() {
        out.push((SortField::DateAdded, false));
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// Whether a free-text `query` finds `c`: in its names, email, phone digits or company.
fn query_matches(c: &Contact, q: &str) -> bool {
    let q = q.trim().to_lowercase();
    if q.is_empty() {
        return true;
    }
    let digits: String = q.chars().filter(char::is_ascii_digit).collect();
    let text = [
        &c.first_name,
        &c.last_name,
        &c.name,
        &c.email,
        &c.company_name,
    ]
    .into_iter()
    .flatten()
    .any(|t| t.to_lowercase().contains(&q));
    let phone = digits.len() >= 3
        && digits.len() * 2 >= q.len()
        && c.phone.as_deref().is_some_and(|p| {
            p.chars()
                .filter(char::is_ascii_digit)
                .collect::<String>()
                .contains(&digits)
        });
    text || phone
}

/// 422 messages for filters on fields search does not know.
fn unknown_filter_fields(filters: &[Value], out: &mut Vec<String>) {
    for f in filters {
        if let Some(inner) = f.get("filters").and_then(Value::as_array) {
            unknown_filter_fields(inner, out);
            continue;
        }
        if let Some(field) = f.get("field").and_then(Value::as_str) {
            if !FILTER_FIELDS.contains(&field) && !field.starts_with("customFields.") {
                out.push(format!("filters: field {field} is not supported"));
            }
        }
    }
}

/// A date-ish filter value: RFC 3339 text or epoch milliseconds.
fn as_millis(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().map(|s| millis(Some(s))).filter(|m| *m != 0))
}

/// Evaluates one filter (or a `{group, filters}` group) against a contact as JSON.
fn matches(c: &Value, f: &Value) -> Result<bool, String> {
    if let Some(group) = f.get("group").and_then(Value::as_str) {
        let list = f
            .get("filters")
            .and_then(Value::as_array)
            .ok_or("group needs filters")?;
        let results: Result<Vec<bool>, String> = list.iter().map(|g| matches(c, g)).collect();
        let results = results?;
        return match group {
            "AND" => Ok(results.iter().all(|b| *b)),
            "OR" => Ok(results.iter().any(|b| *b)),
            other => Err(format!("group must be AND or OR, not {other}")),
        };
    }
    let field = f
        .get("field")
        .and_then(Value::as_str)
        .ok_or("filter needs a field")?;
    let op = f
        .get("operator")
        .and_then(Value::as_str)
        .ok_or("filter needs an operator")?;
    let value = f.get("value").cloned().unwrap_or(Value::Null);
    let actual = c.get(field).filter(|v| !v.is_null());
    let text = |v: &Value| {
        v.as_str()
            .map(str::to_lowercase)
            .unwrap_or_else(|| v.to_string())
    };
    Ok(match op {
        "eq" => actual.is_some_and(|a| text(a) == text(&value)),
        "not_eq" => actual.is_none_or(|a| text(a) != text(&value)),
        "contains" => actual.is_some_and(|a| match a {
            Value::Array(items) => items.iter().any(|i| text(i) == text(&value)),
            _ => text(a).contains(&text(&value)),
        }),
        "not_contains" => actual.is_none_or(|a| !text(a).contains(&text(&value))),
        "exists" => actual.is_some(),
        "not_exists" => actual.is_none(),
        "range" => {
            let Some(a) = actual.and_then(as_millis) else {
                return Ok(false);
            };
            let bound = |k: &str| value.get(k).and_then(as_millis);
            bound("gte").is_none_or(|b| a >= b)
                && bound("gt").is_none_or(|b| a > b)
                && bound("lte").is_none_or(|b| a <= b)
                && bound("lt").is_none_or(|b| a < b)
        }
        other => return Err(format!("operator {other} is not supported")),
    })
}

/// `POST /contacts/search`.
pub fn search(st: &mut State, body: &[u8]) -> Answer {
    let obj: Map<String, Value> = match serde_json::from_slice(body) {
        Ok(Value::Object(o)) => o,
        _ => return bad_request("body must be a JSON object"),
    };
    let mut messages = Vec::new();
    let page_limit = obj.get("pageLimit").and_then(Value::as_u64);
    match page_limit {
        None => messages.push("pageLimit must be a number".to_owned()),
        Some(n) if n == 0 || n > 500 => {
            messages.push("pageLimit must not be greater than 500".into())
        }
        _ => {}
    }
    let page = obj.get("page").and_then(Value::as_u64);
    let sort = parse_sort(obj.get("sort")).unwrap_or_else(|m| {
        messages.extend(m);
        Vec::new()
    });
    let after = match obj.get("searchAfter") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a))
            if a.len() == sort.len() + 1
                && a.last().is_some_and(Value::is_string)
                && a.iter().all(|v| v.is_string() || v.is_i64()) =>
        {
            Some(a.clone())
        }
        Some(_) => {
            messages.push(format!(
                "searchAfter must be the searchAfter of a contact of the previous page ({} sort values then the id)",
                sort.len()
            ));
            None
        }
    };
    if page.is_some() && after.is_some() {
        messages.push("page and searchAfter cannot be used together".into());
    }
    let query = match obj.get("query") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(q)) => q.clone(),
        Some(_) => {
            messages.push("query must be a string".into());
            String::new()
        }
    };
    let filters: Vec<Value> = match obj.get("filters") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => {
            messages.push("filters must be an array".into());
            Vec::new()
        }
    };
    unknown_filter_fields(&filters, &mut messages);
    if !messages.is_empty() {
        return unprocessable(messages);
    }
    let limit = page_limit.unwrap_or(20) as usize;
    if let Err(a) = location_of(st, &obj) {
        return a;
    }
    let loc = obj
        .get("locationId")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let st: &State = st;
    let contacts = &st.locations[loc];
    let mut selected: Vec<&Contact> = Vec::with_capacity(contacts.len());
    // Search lags writes: a contact written within the lag shows as it was, or not at all.
    for c in contacts.iter().filter_map(|c| st.searchable(c)) {
        if !query_matches(c, &query) {
            continue;
        }
        if filters.is_empty() {
            selected.push(c);
            continue;
        }
        let v = filterable(c);
        let mut keep = true;
        for f in &filters {
            match matches(&v, f) {
                Ok(true) => {}
                Ok(false) => keep = false,
                Err(m) => return unprocessable(vec![m]),
            }
        }
        if keep {
            selected.push(c);
        }
    }
    if sort != [(SortField::DateAdded, false)] {
        selected.sort_by(|a, b| cmp_cursor(&cursor(a, &sort), &cursor(b, &sort), &sort));
    }
    let start = match (&after, page) {
        (Some(a), _) => selected.partition_point(|c| {
            cmp_cursor(&cursor(c, &sort), a, &sort) != std::cmp::Ordering::Greater
        }),
        (None, p) => {
            let p = p.unwrap_or(1).max(1) as usize;
            if p * limit > PAGE_WINDOW {
                return unprocessable(vec![format!(
                    "page window exceeds {PAGE_WINDOW} records; use searchAfter"
                )]);
            }
            (p - 1) * limit
        }
    };
    let page_contacts: Vec<Value> = selected
        .iter()
        .skip(start)
        .take(limit)
        .map(|c| with_cursor(c, &sort))
        .collect();
    (
        200,
        json!({"contacts": page_contacts, "total": selected.len(), "traceId": trace_id()}),
    )
}

/// A contact as filters see it: its fields, the lower-cased copies and `address`.
fn filterable(c: &Contact) -> Value {
    let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
    if let Value::Object(o) = &mut v {
        let lower = |s: &Option<String>| s.as_deref().map(str::to_lowercase);
        o.insert("firstNameLowerCase".into(), json!(lower(&c.first_name)));
        o.insert("lastNameLowerCase".into(), json!(lower(&c.last_name)));
        o.insert("emailLowerCase".into(), json!(lower(&c.email)));
        o.insert("address".into(), json!(c.address1));
        for f in &c.custom_fields {
            o.insert(format!("customFields.{}", f.id), f.value.clone());
        }
    }
    v
}

/// The contacts of the query's `locationId`, or the error answer.
fn location_of_query<'a>(
    st: &'a mut State,
    query: &BTreeMap<String, String>,
) -> Result<&'a mut Vec<Contact>, Answer> {
    let mut obj = Map::new();
    if let Some(l) = query.get("locationId") {
        obj.insert("locationId".into(), json!(l));
    }
    location_of(st, &obj)
}

/// `GET /contacts/search/duplicate?locationId&email&number`: `{contact}` — the contact the email
/// (first) or the number matches, or null. 400 without either.
pub fn duplicate(st: &mut State, query: &BTreeMap<String, String>) -> Answer {
    let contacts = match location_of_query(st, query) {
        Ok(c) => c,
        Err(a) => return a,
    };
    let (email, number) = (query.get("email"), query.get("number"));
    if email.is_none() && number.is_none() {
        return super::contacts::bad_request("Pass at least one of number, email query parameter");
    }
    let (e, p) = super::contacts::find_match(
        contacts,
        email.map(String::as_str),
        number.map(String::as_str),
    );
    (
        200,
        json!({"contact": e.or(p).map(|i| get_form(&contacts[i]))}),
    )
}

/// `GET /contacts/` (deprecated): `locationId`, `limit` (default 20, ≤ 100), `startAfter`
/// (epoch ms of the previous page's last `dateAdded`) and `startAfterId`.
pub fn list(st: &mut State, query: &BTreeMap<String, String>) -> Answer {
    let limit: usize = match query.get("limit").map(|l| l.parse::<usize>()) {
        None => 20,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => return unprocessable(vec!["limit must not be greater than 100".into()]),
    };
    let contacts = match location_of_query(st, query) {
        Ok(c) => c,
        Err(a) => return a,
    };
    let after_ms: Option<i64> = query.get("startAfter").and_then(|v| v.parse().ok());
    let after_id = query.get("startAfterId").map(String::as_str).unwrap_or("");
    let start = match after_ms {
        Some(ms) => contacts.partition_point(|c| {
            (millis(c.date_added.as_deref()), c.id.as_str()) <= (ms, after_id)
        }),
        None if !after_id.is_empty() => match contacts.iter().position(|c| c.id == after_id) {
            Some(i) => i + 1,
            None => return bad_request("startAfterId does not match a contact"),
        },
        None => 0,
    };
    let page: Vec<&Contact> = contacts.iter().skip(start).take(limit).collect();
    let rendered: Vec<Value> = page.iter().map(|c| get_form(c)).collect();
    let meta = match page.last() {
        Some(last) => json!({
            "total": contacts.len(),
            "startAfterId": last.id,
            "startAfter": millis(last.date_added.as_deref()),
            "currentPage": start / limit + 1,
        }),
        None => json!({"total": contacts.len()}),
    };
    (
        200,
        json!({"contacts": rendered, "count": contacts.len(), "meta": meta}),
    )
}

/// `GET /locations/{locationId}/customFields?model=contact`.
pub fn custom_fields(st: &mut State, location: &str) -> Answer {
    if !st.locations.contains_key(location) {
        return (
            403,
            json!({"statusCode": 403, "message": "The token does not have access to this location."}),
        );
    }
    (
        200,
        json!({"customFields": st.custom_fields.get(location).cloned().unwrap_or_default()}),
    )
}

/// `GET /contacts/business/{businessId}?locationId&limit&skip` (`limit`, `skip` are strings).
pub fn business(st: &mut State, business_id: &str, query: &BTreeMap<String, String>) -> Answer {
    let limit: usize = query
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(25);
    let skip: usize = query.get("skip").and_then(|l| l.parse().ok()).unwrap_or(0);
    let mut obj = Map::new();
    if let Some(l) = query.get("locationId") {
        obj.insert("locationId".into(), json!(l));
    }
    let contacts = match location_of(st, &obj) {
        Ok(c) => c,
        Err(a) => return a,
    };
    let all: Vec<&Contact> = contacts
        .iter()
        .filter(|c| c.business_id.as_deref() == Some(business_id))
        .collect();
    let page: Vec<Value> = all
        .iter()
        .skip(skip)
        .take(limit)
        .map(|c| get_form(c))
        .collect();
    (200, json!({"contacts": page, "count": all.len()}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contacts::upsert;

    fn seeded(n: usize) -> State {
        let mut st = State::for_tests();
        for i in 0..n {
            upsert(
                &mut st,
                format!(
                    r#"{{"locationId":"L","email":"u{i}@x.co","tags":["t{}"]}}"#,
                    i % 3
                )
                .as_bytes(),
            );
        }
        st
    }

    #[test]
    fn filters_select_contacts() {
        let mut st = seeded(9);
        let mid = st.locations["L"][4].date_updated.clone().unwrap();
        let body = json!({"locationId":"L","pageLimit":100,
            "filters":[{"field":"dateUpdated","operator":"range","value":{"gte": mid}}]});
        let (c, v) = search(&mut st, body.to_string().as_bytes());
        assert_eq!(c, 200);
        assert_eq!(v["total"], 5);
        let body = json!({"locationId":"L","pageLimit":100,
            "filters":[{"group":"OR","filters":[{"field":"email","operator":"eq","value":"U1@x.co"},
                                                 {"field":"tags","operator":"contains","value":"t2"}]}]});
        let (_, v) = search(&mut st, body.to_string().as_bytes());
        assert_eq!(v["total"], 4, "u1 plus t2 on u2, u5, u8");
        let body = json!({"locationId":"L","pageLimit":10,"filters":[{"field":"x","operator":"near","value":1}]});
        assert_eq!(search(&mut st, body.to_string().as_bytes()).0, 422);
    }

    #[test]
    fn deprecated_list_pages_with_start_after() {
        let mut st = seeded(250);
        let mut q = BTreeMap::from([
            ("locationId".to_owned(), "L".to_owned()),
            ("limit".into(), "100".into()),
        ]);
        let mut seen = Vec::new();
        loop {
            let (c, v) = list(&mut st, &q);
            assert_eq!(c, 200);
            let page = v["contacts"].as_array().unwrap();
            if page.is_empty() {
                break;
            }
            seen.extend(page.iter().map(|c| c["id"].as_str().unwrap().to_owned()));
            q.insert("startAfter".into(), v["meta"]["startAfter"].to_string());
            q.insert(
                "startAfterId".into(),
                v["meta"]["startAfterId"].as_str().unwrap().to_owned(),
            );
        }
        let n = seen.len();
        seen.sort();
        seen.dedup();
        assert_eq!((n, seen.len()), (250, 250));
        q.insert("limit".into(), "101".into());
        assert_eq!(list(&mut st, &q).0, 422);
    }

    #[test]
    fn page_window_is_enforced() {
        let mut st = seeded(3);
        let (c, v) = search(&mut st, br#"{"locationId":"L","pageLimit":500,"page":21}"#);
        assert_eq!(c, 422, "{v}");
    }
}
