//! The rest of the contacts endpoints the spec declares, kept as simply as their answers allow:
//! followers, campaign and workflow membership of one contact, and the bulk tag and business
//! updates. They check what GHL checks (the contact exists, the DTO's properties and types) and
//! keep what they set, so that a client sees its change in the next answer.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use super::contacts::{bad_request, check_body, unprocessable, Answer};
use super::state::State;

fn contact_mut<'a>(st: &'a mut State, id: &str) -> Option<&'a mut ghl_client::types::Contact> {
    st.locations
        .values_mut()
        .find_map(|cs| cs.iter_mut().find(|c| c.id == id))
}

fn exists(st: &State, id: &str) -> bool {
    st.locations
        .values()
        .any(|cs| cs.iter().any(|c| c.id == id))
}

fn strings(obj: &Map<String, Value>, key: &str) -> Result<Vec<String>, Answer> {
    match obj.get(key) {
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => Ok(a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()),
        Some(_) => Err(unprocessable(vec![format!(
            "each value in {key} must be a string"
        )])),
        None => Err(unprocessable(vec![format!("{key} should not be empty")])),
    }
}

/// `POST` (add, 201) and `DELETE` (remove, 200) `/contacts/{id}/followers` (spec `FollowersDTO`):
/// `{followers, followersAdded}` / `{followers, followersRemoved}`.
pub fn followers(st: &mut State, id: &str, body: &[u8], add: bool) -> Answer {
    let obj = match check_body(body, &["followers"]) {
        Ok(o) => o,
        Err(a) => return a,
    };
    let given = match strings(&obj, "followers") {
        Ok(v) => v,
        Err(a) => return a,
    };
    if !exists(st, id) {
        return bad_request("Contact not found");
    }
    let set = st.followers.entry(id.to_owned()).or_default();
    let changed: Vec<&String> = given
        .iter()
        .filter(|f| {
            if add {
                set.insert((*f).clone())
            } else {
                set.remove(*f)
            }
        })
        .collect();
    let all: Vec<&String> = set.iter().collect();
    if add {
        (201, json!({"followers": all, "followersAdded": changed}))
    } else {
        (200, json!({"followers": all, "followersRemoved": changed}))
    }
}

/// `POST`/`DELETE /contacts/{id}/campaigns/{campaignId}` and `DELETE …/campaigns/removeAll`
/// (`campaign` `None`): `{succeded: true}`.
pub fn campaign(st: &mut State, id: &str, campaign: Option<&str>, add: bool) -> Answer {
    if !exists(st, id) {
        return bad_request("Contact not found");
    }
    let set = st.campaigns.entry(id.to_owned()).or_default();
    match (campaign, add) {
        (Some(c), true) => {
            set.insert(c.to_owned());
        }
        (Some(c), false) => {
            set.remove(c);
        }
        (None, _) => set.clear(),
    }
    (if add { 201 } else { 200 }, json!({"succeded": true}))
}

/// `POST`/`DELETE /contacts/{id}/workflow/{workflowId}` (spec `CreateWorkflowDto`:
/// `eventStartTime` optional): `{succeded: true}`.
pub fn workflow(st: &mut State, id: &str, workflow: &str, body: &[u8], add: bool) -> Answer {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    if let Err(a) = check_body(body, &["eventStartTime"]) {
        return a;
    }
    if !exists(st, id) {
        return bad_request("Contact not found");
    }
    let set = st.workflows.entry(id.to_owned()).or_default();
    if add {
        set.insert(workflow.to_owned());
    } else {
        set.remove(workflow);
    }
    (200, json!({"succeded": true}))
}

/// `POST /contacts/bulk/tags/update/{type}` (`add` or `remove`; spec `UpdateTagsDTO`): 201
/// `{succeded, errorCount, responses}` with one response per contact id.
pub fn bulk_tags(st: &mut State, kind: &str, body: &[u8]) -> Answer {
    let add = match kind {
        "add" => true,
        "remove" => false,
        _ => return bad_request("type must be one of add, remove"),
    };
    let obj = match check_body(body, &["contacts", "tags", "locationId", "removeAllTags"]) {
        Ok(o) => o,
        Err(a) => return a,
    };
    let (ids, tags) = match (strings(&obj, "contacts"), strings(&obj, "tags")) {
        (Ok(i), Ok(t)) => (i, t),
        (Err(a), _) | (_, Err(a)) => return a,
    };
    let remove_all = obj.get("removeAllTags").and_then(Value::as_bool) == Some(true);
    if remove_all && add {
        return unprocessable(vec!["removeAllTags can only be used with remove".into()]);
    }
    let tags: Vec<String> = tags.iter().map(|t| t.trim().to_lowercase()).collect();
    let mut errors = 0;
    let responses: Vec<Value> = ids
        .iter()
        .map(|id| {
            let Some(c) = contact_mut(st, id) else {
                errors += 1;
                return json!({"contactId": id, "message": "contact not found", "type": "error"});
            };
            let old = c.tags.clone();
            if add {
                for t in &tags {
                    if !c.tags.contains(t) {
                        c.tags.push(t.clone());
                    }
                }
            } else if remove_all {
                c.tags.clear();
            } else {
                c.tags.retain(|t| !tags.contains(t));
            }
            let added: Vec<&String> = c.tags.iter().filter(|t| !old.contains(t)).collect();
            let removed: Vec<&String> = old.iter().filter(|t| !c.tags.contains(t)).collect();
            json!({"contactId": id, "message": "Tags updated", "type": "success",
                   "oldTags": old, "tagsAdded": added, "tagsRemoved": removed})
        })
        .collect();
    (
        201,
        json!({"succeded": errors == 0, "errorCount": errors, "responses": responses}),
    )
}

/// `POST /contacts/bulk/business` (spec `ContactsBusinessUpdate`: `locationId`, `ids`,
/// `businessId` or null): `{success, ids}`.
pub fn bulk_business(st: &mut State, body: &[u8]) -> Answer {
    let obj = match check_body(body, &["locationId", "ids", "businessId"]) {
        Ok(o) => o,
        Err(a) => return a,
    };
    let ids = match strings(&obj, "ids") {
        Ok(i) => i,
        Err(a) => return a,
    };
    let business = match obj.get("businessId") {
        Some(Value::String(b)) => Some(b.clone()),
        Some(Value::Null) => None,
        _ => {
            return unprocessable(vec!["businessId must be a string or null".into()]);
        }
    };
    let loc = match super::contacts::location_of(st, &obj) {
        Ok(l) => l,
        Err(a) => return a,
    };
    let mut done = BTreeSet::new();
    for c in loc.iter_mut().filter(|c| ids.contains(&c.id)) {
        c.business_id = business.clone();
        done.insert(c.id.clone());
    }
    (200, json!({"success": true, "ids": done}))
}
