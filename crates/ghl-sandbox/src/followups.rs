//! Per-contact sub-resources of the sandbox: notes and tasks (list, create, get, update, delete)
//! and appointments (list), with the spec's required properties and the unknown-property 422.

use serde_json::{json, Value};

use super::contacts::{check_body, now_iso, unprocessable, Answer};
use super::state::State;
use ghl_client::types::{Note, Task};

/// Properties of `POST /contacts/{id}/notes` (spec `NotesDTO`).
pub const NOTE_FIELDS: &[&str] = &["userId", "body", "title", "color", "pinned"];
/// Properties of `POST /contacts/{id}/tasks` (spec `CreateTaskParams`).
pub const TASK_FIELDS: &[&str] = &["title", "body", "dueDate", "completed", "assignedTo"];

fn contact_exists(st: &State, id: &str) -> bool {
    st.locations
        .values()
        .any(|cs| cs.iter().any(|c| c.id == id))
}

fn not_found() -> Answer {
    super::contacts::bad_request("Contact not found")
}

/// `GET /contacts/{id}/notes`.
pub fn list_notes(st: &mut State, id: &str) -> Answer {
    if !contact_exists(st, id) {
        return not_found();
    }
    (
        200,
        json!({"notes": st.notes.get(id).cloned().unwrap_or_default()}),
    )
}

/// `GET /contacts/{id}/tasks`.
pub fn list_tasks(st: &mut State, id: &str) -> Answer {
    if !contact_exists(st, id) {
        return not_found();
    }
    (
        200,
        json!({"tasks": st.tasks.get(id).cloned().unwrap_or_default()}),
    )
}

/// `GET /contacts/{id}/appointments`.
pub fn list_appointments(st: &mut State, id: &str) -> Answer {
    if !contact_exists(st, id) {
        return not_found();
    }
    (
        200,
        json!({"events": st.appointments.get(id).cloned().unwrap_or_default()}),
    )
}

fn missing(obj: &serde_json::Map<String, Value>, required: &[&str]) -> Vec<String> {
    required
        .iter()
        .filter(|k| !obj.contains_key(**k))
        .map(|k| format!("{k} should not be empty"))
        .collect()
}

/// `POST /contacts/{id}/notes`: `body` required; 201 `{note}`.
pub fn create_note(st: &mut State, id: &str, body: &[u8]) -> Answer {
    let obj = match check_body(body, NOTE_FIELDS) {
        Ok(o) => o,
        Err(a) => return a,
    };
    let m = missing(&obj, &["body"]);
    if !m.is_empty() {
        return unprocessable(m);
    }
    if !contact_exists(st, id) {
        return not_found();
    }
    let (nid, ms) = st.next_id_and_time();
    let note = Note {
        id: nid,
        body: obj
            .get("body")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        title: obj.get("title").and_then(Value::as_str).map(str::to_owned),
        user_id: obj.get("userId").and_then(Value::as_str).map(str::to_owned),
        date_added: Some(now_iso(ms)),
        contact_id: Some(id.to_owned()),
        pinned: obj.get("pinned").and_then(Value::as_bool),
    };
    st.notes
        .entry(id.to_owned())
        .or_default()
        .push(note.clone());
    (201, json!({"note": note}))
}

/// `POST /contacts/{id}/tasks`: `title`, `dueDate`, `completed` required; 201 `{task}`.
pub fn create_task(st: &mut State, id: &str, body: &[u8]) -> Answer {
    let obj = match check_body(body, TASK_FIELDS) {
        Ok(o) => o,
        Err(a) => return a,
    };
    let m = missing(&obj, &["title", "dueDate", "completed"]);
    if !m.is_empty() {
        return unprocessable(m);
    }
    if !contact_exists(st, id) {
        return not_found();
    }
    let task = Task {
        id: st.next_id_and_time().0,
        title: obj
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        body: obj.get("body").and_then(Value::as_str).map(str::to_owned),
        due_date: obj
            .get("dueDate")
            .and_then(Value::as_str)
            .map(str::to_owned),
        completed: obj
            .get("completed")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        assigned_to: obj
            .get("assignedTo")
            .and_then(Value::as_str)
            .map(str::to_owned),
        contact_id: Some(id.to_owned()),
    };
    st.tasks
        .entry(id.to_owned())
        .or_default()
        .push(task.clone());
    (201, json!({"task": task}))
}

/// The contact's note `note_id`, or the error answer.
fn note_mut<'a>(st: &'a mut State, id: &str, note_id: &str) -> Result<&'a mut Note, Answer> {
    if !contact_exists(st, id) {
        return Err(not_found());
    }
    st.notes
        .get_mut(id)
        .and_then(|ns| ns.iter_mut().find(|n| n.id == note_id))
        .ok_or_else(|| super::contacts::bad_request("Note not found"))
}

/// `GET /contacts/{id}/notes/{noteId}`: 200 `{note}`.
pub fn get_note(st: &mut State, id: &str, note_id: &str) -> Answer {
    match note_mut(st, id, note_id) {
        Ok(n) => (200, json!({"note": n})),
        Err(a) => a,
    }
}

/// `PUT /contacts/{id}/notes/{noteId}` (spec `UpdateNoteDTO`, every field optional): 200 `{note}`.
pub fn update_note(st: &mut State, id: &str, note_id: &str, body: &[u8]) -> Answer {
    let obj = match check_body(body, NOTE_FIELDS) {
        Ok(o) => o,
        Err(a) => return a,
    };
    let n = match note_mut(st, id, note_id) {
        Ok(n) => n,
        Err(a) => return a,
    };
    let text = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_owned);
    if let Some(v) = text("body") {
        n.body = v;
    }
    if let Some(v) = text("title") {
        n.title = Some(v);
    }
    if let Some(v) = text("userId") {
        n.user_id = Some(v);
    }
    if let Some(v) = obj.get("pinned").and_then(Value::as_bool) {
        n.pinned = Some(v);
    }
    (200, json!({"note": n}))
}

/// `DELETE /contacts/{id}/notes/{noteId}`: 200 `{succeded: true}`.
pub fn delete_note(st: &mut State, id: &str, note_id: &str) -> Answer {
    if let Err(a) = note_mut(st, id, note_id) {
        return a;
    }
    if let Some(ns) = st.notes.get_mut(id) {
        ns.retain(|n| n.id != note_id);
    }
    (200, json!({"succeded": true}))
}

/// `GET /contacts/{id}/tasks/{taskId}`: 200 `{task}`.
pub fn get_task(st: &mut State, id: &str, task_id: &str) -> Answer {
    match task_mut(st, id, task_id) {
        Ok(t) => (200, json!({"task": t})),
        Err(a) => a,
    }
}

/// The contact's task `task_id`, or the error answer.
fn task_mut<'a>(st: &'a mut State, id: &str, task_id: &str) -> Result<&'a mut Task, Answer> {
    if !contact_exists(st, id) {
        return Err(not_found());
    }
    st.tasks
        .get_mut(id)
        .and_then(|ts| ts.iter_mut().find(|t| t.id == task_id))
        .ok_or_else(|| super::contacts::bad_request("Task not found"))
}

/// `PUT /contacts/{id}/tasks/{taskId}` (spec `UpdateTaskBody`, every field optional): 200 `{task}`.
pub fn update_task(st: &mut State, id: &str, task_id: &str, body: &[u8]) -> Answer {
    let obj = match check_body(body, TASK_FIELDS) {
        Ok(o) => o,
        Err(a) => return a,
    };
    let t = match task_mut(st, id, task_id) {
        Ok(t) => t,
        Err(a) => return a,
    };
    let text = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_owned);
    if let Some(v) = text("title") {
        t.title = v;
    }
    if let Some(v) = text("body") {
        t.body = Some(v);
    }
    if let Some(v) = text("dueDate") {
        t.due_date = Some(v);
    }
    if let Some(v) = text("assignedTo") {
        t.assigned_to = Some(v);
    }
    if let Some(v) = obj.get("completed").and_then(Value::as_bool) {
        t.completed = v;
    }
    (200, json!({"task": t}))
}

/// `PUT /contacts/{id}/tasks/{taskId}/completed`: `{completed}` required; 200 `{task}`.
pub fn complete_task(st: &mut State, id: &str, task_id: &str, body: &[u8]) -> Answer {
    let obj = match check_body(body, &["completed"]) {
        Ok(o) => o,
        Err(a) => return a,
    };
    let Some(done) = obj.get("completed").and_then(Value::as_bool) else {
        return unprocessable(vec!["completed must be a boolean value".into()]);
    };
    match task_mut(st, id, task_id) {
        Ok(t) => {
            t.completed = done;
            (200, json!({"task": t}))
        }
        Err(a) => a,
    }
}

/// `DELETE /contacts/{id}/tasks/{taskId}`: 200 `{succeded: true}`.
pub fn delete_task(st: &mut State, id: &str, task_id: &str) -> Answer {
    if let Err(a) = task_mut(st, id, task_id) {
        return a;
    }
    if let Some(ts) = st.tasks.get_mut(id) {
        ts.retain(|t| t.id != task_id);
    }
    (200, json!({"succeded": true}))
}

/// `POST /contacts/{id}/tags` (add, 201) and `DELETE /contacts/{id}/tags` (remove, 200):
/// body `{tags: [...]}`; answers `{tags}` — the contact's tags after the change.
pub fn change_tags(st: &mut State, id: &str, body: &[u8], add: bool) -> Answer {
    let obj = match check_body(body, &["tags"]) {
        Ok(o) => o,
        Err(a) => return a,
    };
    let Some(tags) = obj.get("tags").and_then(Value::as_array) else {
        return unprocessable(vec!["tags should not be empty".into()]);
    };
    let tags: Vec<String> = tags
        .iter()
        .filter_map(Value::as_str)
        .map(|t| t.trim().to_lowercase())
        .collect();
    let (_, ms) = st.next_id_and_time();
    for cs in st.locations.values_mut() {
        if let Some(c) = cs.iter_mut().find(|c| c.id == id) {
            let before = c.clone();
            if add {
                for t in tags {
                    if !c.tags.contains(&t) {
                        c.tags.push(t);
                    }
                }
            } else {
                c.tags.retain(|t| !tags.contains(t));
            }
            c.date_updated = Some(now_iso(ms));
            let answer = json!({"tags": c.tags});
            st.note_write(id, Some(before));
            return (if add { 201 } else { 200 }, answer);
        }
    }
    not_found()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contacts::upsert;

    #[test]
    fn notes_and_tasks_follow_the_spec() {
        let mut st = State::for_tests();
        let (_, v) = upsert(&mut st, br#"{"locationId":"L","email":"a@x.co"}"#);
        let id = v["contact"]["id"].as_str().unwrap().to_owned();
        assert_eq!(
            create_note(&mut st, &id, br#"{"body":"hi","title":"t"}"#).0,
            201
        );
        let (c, v) = create_note(&mut st, &id, br#"{"title":"no body"}"#);
        assert_eq!(
            (c, v["message"].clone()),
            (422, json!(["body should not be empty"]))
        );
        let (c, v) = create_note(&mut st, &id, br#"{"body":"x","colour":"red"}"#);
        assert_eq!(
            (c, v["message"].clone()),
            (422, json!(["property colour should not exist"]))
        );
        assert_eq!(
            list_notes(&mut st, &id).1["notes"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        let (c, _) = create_task(
            &mut st,
            &id,
            br#"{"title":"call","dueDate":"2026-01-01T00:00:00Z","completed":false}"#,
        );
        assert_eq!(c, 201);
        assert_eq!(create_task(&mut st, &id, br#"{"title":"call"}"#).0, 422);
        assert_eq!(list_tasks(&mut st, &id).1["tasks"][0]["title"], "call");
        assert_eq!(list_appointments(&mut st, "nope").0, 400);
    }
}
