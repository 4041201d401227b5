//! How a row's values compare with a contact's, across the forms the API answers in (tags
//! trimmed and lower-cased, custom values as numbers or lists, emails in any case).

use super::plan::Change;
use ghl_client::types::{Contact, UpsertContact};

/// Fields the body sets to a different value. A field the body leaves out never counts (a blank
/// cell does not clear a value). Emails compare case-insensitively; tags as sets (an upsert with
/// tags replaces them all).
pub fn diff(c: &Contact, b: &UpsertContact) -> Vec<Change> {
    let mut out = Vec::new();
    let mut cmp = |name: &'static str, old: &Option<String>, new: &Option<String>, ci: bool| {
        if let Some(n) = new {
            let o = old.clone().unwrap_or_default();
            let same = if ci {
                o.eq_ignore_ascii_case(n)
            } else {
                o == *n
            };
            if !same {
                out.push((name, o, n.clone()));
            }
        }
    };
    cmp("firstName", &c.first_name, &b.first_name, false);
    cmp("lastName", &c.last_name, &b.last_name, false);
    cmp("name", &c.name, &b.name, false);
    cmp("email", &c.email, &b.email, true);
    cmp("phone", &c.phone, &b.phone, false);
    cmp("companyName", &c.company_name, &b.company_name, false);
    cmp("address1", &c.address1, &b.address1, false);
    cmp("city", &c.city, &b.city, false);
    cmp("state", &c.state, &b.state, false);
    cmp("postalCode", &c.postal_code, &b.postal_code, false);
    cmp("country", &c.country, &b.country, true);
    cmp("website", &c.website, &b.website, false);
    cmp("timezone", &c.timezone, &b.timezone, false);
    cmp("source", &c.source, &b.source, false);
    cmp("dateOfBirth", &c.date_of_birth, &b.date_of_birth, false);
    if let Some(d) = b.dnd {
        if c.dnd != Some(d) {
            out.push((
                "dnd",
                c.dnd.map(|x| x.to_string()).unwrap_or_default(),
                d.to_string(),
            ));
        }
    }
    if let Some(tags) = &b.tags {
        // The API stores tags trimmed and lower-cased.
        let norm = |v: &[String]| {
            let mut t: Vec<String> = v
                .iter()
                .map(|s| s.trim().to_lowercase())
                .filter(|s| !s.is_empty())
                .collect();
            t.sort();
            t.dedup();
            t
        };
        if norm(tags) != norm(&c.tags) {
            out.push(("tags", c.tags.join(", "), tags.join(", ")));
        }
    }
    if let Some(cfs) = &b.custom_fields {
        for cf in cfs {
            let old = c
                .custom_fields
                .iter()
                .find(|v| v.id == cf.id)
                .map(|v| v.value.clone());
            let same = old
                .as_ref()
                .is_some_and(|o| same_custom_value(o, &cf.field_value));
            if !same {
                let text = |v: &serde_json::Value| {
                    v.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string())
                };
                out.push((
                    "customField",
                    old.map(|o| text(&o)).unwrap_or_default(),
                    format!("{}={}", cf.id, text(&cf.field_value)),
                ));
            }
        }
    }
    out
}

/// Whether a custom field's stored value equals the value a row would send, across the forms
/// the API answers in: a number for `"42"`, a list for `"a, b"` (compared as sets), text
/// trimmed.
pub fn same_custom_value(old: &serde_json::Value, new: &serde_json::Value) -> bool {
    use serde_json::Value as V;
    fn items(v: &V) -> Option<Vec<String>> {
        let mut out: Vec<String> = match v {
            V::Array(a) => a
                .iter()
                .map(|x| match x {
                    V::String(s) => s.trim().to_owned(),
                    other => other.to_string(),
                })
                .collect(),
            V::String(s) => s.split(',').map(|p| p.trim().to_owned()).collect(),
            _ => return None,
        };
        out.retain(|s| !s.is_empty());
        out.sort();
        out.dedup();
        Some(out)
    }
    let number = |v: &V| match v {
        V::Number(n) => n.as_f64(),
        V::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match (old, new) {
        (a, b) if a == b => true,
        (V::String(a), V::String(b)) => a.trim() == b.trim(),
        (V::Number(_), _) | (_, V::Number(_)) => {
            matches!((number(old), number(new)), (Some(a), Some(b)) if a == b)
        }
        (V::Array(_), _) | (_, V::Array(_)) => items(old) == items(new),
        _ => false,
    }
}
