//! What the sandbox accepts in a request body, as GHL's validation (class-validator on the spec's
//! DTOs) answers it: the operation's properties only, their types, nested objects
//! (`customFields`, `dndSettings`), emails, phones and dates in shapes GHL takes, and custom field
//! values that fit the field's data type.

use serde_json::{Map, Value};

use super::contacts::{bad_request, unprocessable, Answer};
use super::state::State;
use ghl_client::types::CustomFieldDef;

/// Properties accepted by `POST /contacts/` (spec `CreateContactDto`).
pub const CREATE_FIELDS: &[&str] = &[
    "firstName",
    "lastName",
    "name",
    "email",
    "locationId",
    "gender",
    "phone",
    "address1",
    "city",
    "state",
    "postalCode",
    "website",
    "timezone",
    "dnd",
    "dndSettings",
    "inboundDndSettings",
    "tags",
    "customFields",
    "source",
    "dateOfBirth",
    "country",
    "companyName",
    "assignedTo",
];
/// Properties accepted by `POST /contacts/upsert` (spec `UpsertContactDto`).
pub const UPSERT_FIELDS: &[&str] = &[
    "firstName",
    "lastName",
    "name",
    "email",
    "locationId",
    "gender",
    "phone",
    "address1",
    "city",
    "state",
    "postalCode",
    "website",
    "timezone",
    "dnd",
    "dndSettings",
    "inboundDndSettings",
    "tags",
    "customFields",
    "source",
    "dateOfBirth",
    "country",
    "companyName",
    "assignedTo",
    "createNewIfDuplicateAllowed",
];
/// Properties accepted by `PUT /contacts/{id}` (spec `UpdateContactDto`).
pub const UPDATE_FIELDS: &[&str] = &[
    "firstName",
    "lastName",
    "name",
    "email",
    "phone",
    "address1",
    "city",
    "state",
    "postalCode",
    "website",
    "timezone",
    "dnd",
    "dndSettings",
    "inboundDndSettings",
    "tags",
    "customFields",
    "source",
    "dateOfBirth",
    "country",
    "assignedTo",
];

/// Fields stored as (nullable) strings.
const NULLABLE_STRINGS: &[&str] = &[
    "firstName",
    "lastName",
    "name",
    "email",
    "phone",
    "address1",
    "city",
    "state",
    "website",
    "timezone",
    "companyName",
    "dateOfBirth",
];
/// Fields that must be strings when present (null not allowed).
const STRINGS: &[&str] = &[
    "postalCode",
    "country",
    "source",
    "gender",
    "assignedTo",
    "locationId",
];

/// Validates a write body against an operation's allowed properties and types; returns it as an
/// object or the 422 the API would give.
pub fn check_body(body: &[u8], allowed: &[&str]) -> Result<Map<String, Value>, Answer> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| bad_request(&format!("Unexpected token in JSON body: {e}")))?;
    let Value::Object(obj) = value else {
        return Err(bad_request("body must be a JSON object"));
    };
    let mut messages = Vec::new();
    for (k, v) in &obj {
        if !allowed.contains(&k.as_str()) {
            messages.push(format!("property {k} should not exist"));
            continue;
        }
        let ok = if NULLABLE_STRINGS.contains(&k.as_str()) {
            v.is_string() || v.is_null()
        } else if STRINGS.contains(&k.as_str()) {
            v.is_string()
        } else {
            match k.as_str() {
                "dnd" | "createNewIfDuplicateAllowed" | "pinned" | "completed" => v.is_boolean(),
                "body" | "title" | "color" | "userId" | "dueDate" => v.is_string(),
                "tags" | "followers" | "contacts" | "ids" => {
                    v.as_array().is_some_and(|a| a.iter().all(Value::is_string))
                }
                "removeAllTags" => v.is_boolean(),
                "businessId" => v.is_string() || v.is_null(),
                "eventStartTime" => v.is_string(),
                "customFields" => v.is_array(),
                _ => v.is_object(),
            }
        };
        if !ok {
            messages.push(format!("{k} has the wrong type"));
        }
    }
    nested_problems(&obj, &mut messages);
    if let Some(Value::String(e)) = obj.get("email") {
        if !e.is_empty() && !looks_like_email(e) {
            messages.push("email must be an email".into());
        }
    }
    if let Some(Value::String(p)) = obj.get("phone") {
        if !p.is_empty() && normalize_phone(p).is_none() {
            messages.push("phone must be a valid phone number".into());
        }
    }
    if let Some(Value::String(d)) = obj.get("dateOfBirth") {
        if !d.is_empty() && parse_dob(d).is_none() {
            messages.push("dateOfBirth must be a valid date".into());
        }
    }
    if messages.is_empty() {
        Ok(obj)
    } else {
        Err(unprocessable(messages))
    }
}

/// Channels of `dndSettings` (spec `DndSettingsSchema`).
const DND_CHANNELS: &[&str] = &["Call", "Email", "SMS", "WhatsApp", "GMB", "FB"];

/// 422 messages for the nested objects of a contact body, as class-validator words them:
/// `customFields` items (`{id, key, field_value}`), `dndSettings` (channel → `{status, message,
/// code}` with `status` one of active, inactive, permanent) and `inboundDndSettings`
/// (`{all: {status: active|inactive, message}}`).
fn nested_problems(obj: &Map<String, Value>, out: &mut Vec<String>) {
    if let Some(items) = obj.get("customFields").and_then(Value::as_array) {
        for (i, item) in items.iter().enumerate() {
            let Some(o) = item.as_object() else {
                out.push(format!("customFields.{i} must be an object"));
                continue;
            };
            for k in o.keys() {
                if !["id", "key", "field_value", "value"].contains(&k.as_str()) {
                    out.push(format!("customFields.{i}.property {k} should not exist"));
                }
            }
            if o.get("id").is_some_and(|v| !v.is_string()) {
                out.push(format!("customFields.{i}.id must be a string"));
            }
        }
    }
    let settings = |key: &str,
                    channels: &[&str],
                    statuses: &[&str],
                    fields: &[&str],
                    out: &mut Vec<String>| {
        let Some(v) = obj.get(key) else { return };
        let Some(o) = v.as_object() else {
            out.push(format!("{key} must be an object"));
            return;
        };
        for (ch, setting) in o {
            if !channels.contains(&ch.as_str()) {
                out.push(format!("{key}.property {ch} should not exist"));
                continue;
            }
            let Some(s) = setting.as_object() else {
                out.push(format!("{key}.{ch} must be an object"));
                continue;
            };
            for k in s.keys() {
                if !fields.contains(&k.as_str()) {
                    out.push(format!("{key}.{ch}.property {k} should not exist"));
                }
            }
            match s.get("status").and_then(Value::as_str) {
                Some(st) if statuses.contains(&st) => {}
                _ => out.push(format!(
                    "{key}.{ch}.status must be one of the following values: {}",
                    statuses.join(", ")
                )),
            }
        }
    };
    settings(
        "dndSettings",
        DND_CHANNELS,
        &["active", "inactive", "permanent"],
        &["status", "message", "code"],
        out,
    );
    settings(
        "inboundDndSettings",
        &["all"],
        &["active", "inactive"],
        &["status", "message"],
        out,
    );
}

/// 422 messages for a custom field value the field's data type does not take (a NUMERICAL
/// `"abc"`, an option that is not one of a SINGLE_OPTIONS field's, a list for a TEXT field).
fn custom_value_problem(def: &CustomFieldDef, v: &Value) -> Option<String> {
    if v.is_null() || v == "" {
        return None;
    }
    let number = v.is_number()
        || v.as_str()
            .is_some_and(|s| s.trim().replace(',', "").parse::<f64>().is_ok());
    let is_option = |s: &str| {
        def.picklist_options.is_empty()
            || def
                .picklist_options
                .iter()
                .any(|o| o.eq_ignore_ascii_case(s))
    };
    let ok = match def.data_type.as_str() {
        "NUMERICAL" | "MONETORY" => number,
        "CHECKBOX" | "MULTIPLE_OPTIONS" => v
            .as_array()
            .is_some_and(|a| a.iter().all(|i| i.as_str().is_some_and(is_option))),
        "SINGLE_OPTIONS" | "RADIO" => v.as_str().is_some_and(is_option),
        "DATE" => {
            v.is_number()
                || v.as_str()
                    .is_some_and(|s| super::reads::millis(Some(s)) != 0 || parse_dob(s).is_some())
        }
        "FILE_UPLOAD" => v.is_object() || v.is_array(),
        _ => v.is_string() || v.is_number(),
    };
    (!ok).then(|| {
        format!(
            "{} is not a valid value for the {} field {}",
            v, def.data_type, def.field_key
        )
    })
}

fn looks_like_email(e: &str) -> bool {
    match e.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !e.contains(' ')
        }
        None => false,
    }
}

/// Stored phone form: `+` and digits only. `None` when it can't be a phone number.
/// A phone as GHL stores it, in E.164: `+` and digits as written when it has a `+`; else a
/// national number of the location's country (US here): 10 digits get `+1`, 11 starting with 1
/// get `+`. So `(415) 555-0101` and `+1 415-555-0101` are the same number (and the same
/// duplicate).
pub(super) fn normalize_phone(p: &str) -> Option<String> {
    let digits: String = p.chars().filter(char::is_ascii_digit).collect();
    if !(7..=15).contains(&digits.len()) || p.chars().any(|c| c.is_alphabetic()) {
        return None;
    }
    let international = p.trim_start().starts_with('+');
    Some(match (international, digits.len()) {
        (false, 10) => format!("+1{digits}"),
        _ => format!("+{digits}"),
    })
}

/// Accepts the spec's date forms, returns `YYYY-MM-DD`.
pub(super) fn parse_dob(d: &str) -> Option<String> {
    let parts: Vec<&str> = d.split(['-', '/', '.', '_']).collect();
    let [a, b, c] = parts.as_slice() else {
        return None;
    };
    let (y, m, dd) = if a.len() == 4 { (a, b, c) } else { (c, a, b) };
    let (y, m, dd): (u32, u32, u32) = (y.parse().ok()?, m.parse().ok()?, dd.parse().ok()?);
    ((1..=12).contains(&m) && (1..=31).contains(&dd) && y >= 1000)
        .then(|| format!("{y:04}-{m:02}-{dd:02}"))
}

/// 422 messages for custom field items whose id is missing or not a field of `location`.
pub(super) fn custom_field_problems(
    st: &State,
    location: &str,
    obj: &Map<String, Value>,
) -> Vec<String> {
    let Some(items) = obj.get("customFields").and_then(Value::as_array) else {
        return Vec::new();
    };
    let defs = st.custom_fields.get(location);
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item.get("id").and_then(Value::as_str) {
            None => out.push(format!("customFields.{i}.id should not be empty")),
            Some(id) => match defs.and_then(|d| d.iter().find(|f| f.id == id)) {
                None => out.push(format!(
                    "customFields.{i}.id {id} is not a custom field of this location"
                )),
                Some(def) => {
                    let value = item.get("field_value").or_else(|| item.get("value"));
                    if let Some(m) = value.and_then(|v| custom_value_problem(def, v)) {
                        out.push(format!("customFields.{i}.field_value {m}"));
                    }
                }
            },
        }
    }
    out
}
