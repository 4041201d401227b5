//! `run --dry-run`: every row planned against the location with read requests only.

use crate::util::*;

const SEED: &str = r#"{"loc-it": {"contacts": [
  {"email": "ann@example.com", "phone": "+14155552671", "firstName": "Ann"},
  {"email": "ben@example.com", "phone": "+14155550100", "firstName": "Ben"}
]}}"#;

#[test]
fn dry_run_plans_every_row_and_writes_nothing() {
    let (sb, dir) = seeded();
    let csv = "First Name,Email,Phone
Cy,cy@example.com,
Ann,ANN@example.com,
Benjamin,ben@example.com,
Ann,ann@example.com,415-555-0100
Bad,not-an-email,
";
    // This sandbox's search does not lag writes: no confirming lookups (their count is checked).
    let p = pipeline(
        dir.path(),
        &sb.base_url,
        csv,
        "dedup:\n  by: none\nload:\n  search_lag_ms: 0\n",
    );

    let o = run(bin()
        .args(["run", "-q", "--dry-run", "--out"])
        .arg(dir.path().join("o"))
        .arg(&p)
        .env("IT_TOKEN", &sb.token));

    assert_eq!(o.status.code(), Some(3), "one row is rejected");
    let plan = read_csv(&dir.path().join("o/plan.csv"));
    let actions: Vec<(&str, &str)> = plan[1..]
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("2", "create"),
            ("3", "unchanged"),
            ("4", "update"),
            ("5", "conflict"),
            ("6", "reject")
        ]
    );
    assert_eq!(plan[3][3], "firstName: `Ben` → `Benjamin`");
    assert!(plan[4][3].contains("drop the phone"), "{:?}", plan[4]);
    let stats = sb.stats();
    assert_eq!(
        stats["requests_by_endpoint"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["POST /contacts/search"]
    );
    assert_eq!(sb.contacts("loc-it").len(), 2, "nothing written");
    let s = summary(&dir.path().join("o"));
    assert_eq!(
        s["forecast"]["write_requests"], 2,
        "the conflict would be rejected, not written"
    );
    assert_eq!(s["rejected_by_code"]["conflict"], 1);
    assert_eq!(s["forecast"]["read_requests"], 1);
    assert_eq!(s["forecast"]["existing_contacts"], 2);
    assert!(text(&o).0.contains("dry run: nothing was written"));
}

fn seeded() -> (SandboxProc, tempfile::TempDir) {
    let dir = workdir();
    let sb = SandboxProc::seeded("loc-it", dir.path(), SEED);
    (sb, dir)
}

const ROWS: &str = "First Name,Email,Phone
Cy,cy@example.com,
Ann,ann@example.com,
Benjamin,ben@example.com,
";

#[test]
fn sync_mode_sends_nothing_for_unchanged_rows() {
    let (sb, dir) = seeded();
    let p = pipeline(dir.path(), &sb.base_url, ROWS, "load:\n  mode: sync\n");

    let o = sb.run_pipeline(&p, &dir.path().join("o"));

    assert_eq!(o.status.code(), Some(0));
    let s = summary(&dir.path().join("o"));
    assert_eq!(
        (
            s["rows"]["created"].as_u64(),
            s["rows"]["updated"].as_u64(),
            s["rows"]["unchanged"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(
        sb.stats()["requests_by_endpoint"]["POST /contacts/upsert"],
        2,
        "no write for the unchanged row"
    );
    assert_eq!(
        sb.contact_by_email("loc-it", "ben@example.com")["firstName"],
        "Benjamin"
    );
}

#[test]
fn create_and_update_modes_and_fill_empty() {
    let (sb, dir) = seeded();
    // create: existing contacts are left alone.
    let p = pipeline(dir.path(), &sb.base_url, ROWS, "load:\n  mode: create\n");
    let o = sb.run_pipeline(&p, &dir.path().join("c"));
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(summary(&dir.path().join("c"))["rows"]["unchanged"], 2);
    assert_eq!(
        sb.contact_by_email("loc-it", "ben@example.com")["firstName"],
        "Ben"
    );

    // update with fill_empty on firstName: Ben keeps his name; a new email is not_found.
    let rows =
        "First Name,Email,Phone\nBenjamin,ben@example.com,415-555-0199\nDee,dee@example.com,\n";
    let p = pipeline(
        dir.path(),
        &sb.base_url,
        rows,
        "load:\n  mode: update\n  fields:\n    firstName: fill_empty\n",
    );
    let o = sb.run_pipeline(&p, &dir.path().join("u"));
    assert_eq!(o.status.code(), Some(3));
    let ben = sb.contact_by_email("loc-it", "ben@example.com");
    assert_eq!(
        (ben["firstName"].as_str(), ben["phone"].as_str()),
        (Some("Ben"), Some("+14155550199"))
    );
    assert_eq!(
        summary(&dir.path().join("u"))["rejected_by_code"]["not_found"],
        1
    );
}

#[test]
fn tags_can_be_added_without_replacing() {
    let (sb, dir) = seeded();
    let rows = "First Name,Email,Phone,Tags\nAnn,ann@example.com,,newsletter\n";
    let add_tag = |tag: &str| {
        let auth = format!("Bearer {}", sb.token);
        let id = sb.contact_by_email("loc-it", "ann@example.com")["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (s, _) = sb.raw(
            "POST",
            &format!("/contacts/{id}/tags"),
            &[("Authorization", &auth), ("Version", "2021-07-28")],
            &format!(r#"{{"tags":["{tag}"]}}"#),
        );
        assert_eq!(s, 201);
    };
    add_tag("vip");
    let p = csv_pipeline(
        dir.path(),
        &sb.base_url,
        rows,
        "mapping: {firstName: First Name, email: Email, tags: Tags}\nload: {mode: sync, tags: add}\n",
    );
    let go = |out: &str| sb.run_pipeline(&p, &dir.path().join(out));

    assert_eq!(go("o1").status.code(), Some(0));
    let tags = sb.contact_by_email("loc-it", "ann@example.com")["tags"].clone();
    assert_eq!(
        tags,
        serde_json::json!(["vip", "newsletter"]),
        "added, not replaced"
    );
    // Second run: the tag is there, nothing to send.
    assert_eq!(go("o2").status.code(), Some(0));
    assert_eq!(summary(&dir.path().join("o2"))["rows"]["unchanged"], 1);
    assert_eq!(
        sb.stats()["requests_by_endpoint"]["POST /contacts/{id}/tags"],
        2,
        "the seed's tag plus one follow-up"
    );
}

#[test]
fn rollback_deletes_what_a_run_created_and_restores_what_it_changed() {
    let (sb, dir) = seeded();
    let p = pipeline(dir.path(), &sb.base_url, ROWS, "load:\n  mode: sync\n");
    let before: Vec<serde_json::Value> = sb.contacts("loc-it");
    let o = sb.run_pipeline(&p, &dir.path().join("o"));
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(sb.contacts("loc-it").len(), 3);

    let r = run(bin()
        .arg("rollback")
        .arg(dir.path().join("o"))
        .env("IT_TOKEN", &sb.token));

    assert_eq!(r.status.code(), Some(0));
    assert!(
        text(&r)
            .0
            .contains("1 created contacts deleted, 1 updated contacts restored"),
        "{}",
        text(&r).0
    );
    let after = sb.contacts("loc-it");
    let key = |v: &Vec<serde_json::Value>| {
        let mut k: Vec<(String, String)> = v
            .iter()
            .map(|c| {
                (
                    c["email"].as_str().unwrap_or("").to_owned(),
                    c["firstName"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        k.sort();
        k
    };
    assert_eq!(key(&after), key(&before), "back to the seeded contacts");
}

#[test]
fn notes_from_columns_are_added_once() {
    let (sb, dir) = seeded();
    let csv = "First Name,Email,Phone,Note,History\nAnn,ann@example.com,,Called on Monday,\"[{\"\"body\"\": \"\"Met at the fair\"\", \"\"title\"\": \"\"2024\"\"}]\"\nCy,cy@example.com,,,\"[]\"\nBad,bad@example.com,,,not json\nDee,dee@example.com,,Asked for a quote,\n";
    let p = csv_pipeline(
        dir.path(),
        &sb.base_url,
        csv,
        "mapping: {firstName: First Name, email: Email}\nload:\n  notes:\n    - {column: Note, title: Imported}\n    - {column: History, format: json}\n",
    );
    let go = |out: &str, extra: &[&str]| sb.run_with(&p, &dir.path().join(out), extra);

    let o = go("o1", &[]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(
        summary(&dir.path().join("o1"))["rejected_by_code"]["invalid_notes"],
        1
    );
    // Notes were listed for Ann only (she was there before); Dee's row created her, so her
    // note is added without listing her notes first.
    let listed =
        |sb: &SandboxProc| sb.stats()["requests_by_endpoint"]["GET /contacts/{id}/notes"].clone();
    assert_eq!(listed(&sb), 1, "{}", sb.stats());
    let ann = sb.contact_by_email("loc-it", "ann@example.com");
    let notes = |id: &str| -> serde_json::Value {
        sb.api_get(&format!("/contacts/{id}/notes"))["notes"].clone()
    };
    let ann_id = ann["id"].as_str().unwrap();
    let bodies: Vec<String> = notes(ann_id)
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["body"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(bodies, ["Called on Monday", "Met at the fair"]);
    let dee = sb.contact_by_email("loc-it", "dee@example.com");
    let dee_id = dee["id"].as_str().unwrap();
    assert_eq!(notes(dee_id)[0]["body"], "Asked for a quote");

    // A full re-send (journal ignored) does not add the same notes again; Dee is there now, so
    // her notes are listed this time.
    assert_eq!(go("o2", &["--full-refresh"]).status.code(), Some(3));
    assert_eq!(listed(&sb), 1 + 2 + 2, "{}", sb.stats());
    assert_eq!(notes(ann_id).as_array().unwrap().len(), 2);
    assert_eq!(notes(dee_id).as_array().unwrap().len(), 1);
}

#[test]
fn tasks_from_columns_are_added_once() {
    let (sb, dir) = seeded();
    let csv = "First Name,Email,Phone,Task,Due\nAnn,ann@example.com,,Call back,2026-12-01\nBen,ben@example.com,,Send deck,someday\n";
    let p = csv_pipeline(
        dir.path(),
        &sb.base_url,
        csv,
        "mapping: {firstName: First Name, email: Email}\nload:\n  tasks:\n    - {title: Task, due: Due}\n",
    );
    let go = |out: &str, extra: &[&str]| sb.run_with(&p, &dir.path().join(out), extra);

    assert_eq!(go("o1", &[]).status.code(), Some(3));
    assert_eq!(
        summary(&dir.path().join("o1"))["rejected_by_code"]["invalid_task"],
        1
    );
    let ann_id = sb.contact_by_email("loc-it", "ann@example.com")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let tasks = || -> serde_json::Value {
        sb.api_get(&format!("/contacts/{ann_id}/tasks"))["tasks"].clone()
    };
    assert_eq!(tasks()[0]["title"], "Call back");
    assert_eq!(tasks()[0]["dueDate"], "2026-12-01T00:00:00Z");
    assert_eq!(go("o2", &["--full-refresh"]).status.code(), Some(3));
    assert_eq!(tasks().as_array().unwrap().len(), 1, "not added twice");
}

/// A task that arrives completed (a migrated task list) is created completed: one write, no
/// second request to mark it done; summary.json counts what the follow-ups sent per contact.
#[test]
fn a_task_created_completed_costs_one_write() {
    let (sb, dir) = seeded();
    let csv = "First Name,Email,Tasks\nAnn,ann@example.com,\"[{\"\"title\"\": \"\"Call back\"\", \"\"dueDate\"\": \"\"2026-12-01\"\", \"\"completed\"\": true}, {\"\"title\"\": \"\"Send deck\"\", \"\"dueDate\"\": \"\"2026-12-02\"\", \"\"completed\"\": false}]\"\n";
    let p = csv_pipeline(
        dir.path(),
        &sb.base_url,
        csv,
        "mapping: {firstName: First Name, email: Email}\nload:\n  tasks:\n    - {list: Tasks}\n",
    );
    let o = sb.run_with(&p, &dir.path().join("o"), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let ann = sb.contact_by_email("loc-it", "ann@example.com")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let tasks = sb.api_get(&format!("/contacts/{ann}/tasks"))["tasks"].clone();
    let state: Vec<(String, bool)> = tasks
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["title"].as_str().unwrap().to_owned(),
                t["completed"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(state.contains(&("Call back".to_owned(), true)), "{state:?}");
    assert!(
        state.contains(&("Send deck".to_owned(), false)),
        "{state:?}"
    );
    let stats = sb.stats();
    let by = &stats["requests_by_endpoint"];
    assert_eq!(by["POST /contacts/{id}/tasks"], 2, "{stats}");
    assert!(
        by["PUT /contacts/{id}/tasks/{taskId}/completed"].is_null(),
        "{stats}"
    );
}

#[test]
fn rollback_restores_custom_fields_company_and_added_tags() {
    // Upsert mode with additive tags: the run indexes the location for the pre-images, the
    // rollback puts back custom fields (PUT customFields), tags (the whole previous list) and the
    // company name (which PUT cannot write: an upsert addressed by the contact's unique email).
    let dir = workdir();
    let sb = SandboxProc::seeded(
        "loc-it",
        dir.path(),
        r#"{"loc-it": {"customFields": [
  {"id": "f-note", "name": "Note", "fieldKey": "contact.note", "dataType": "TEXT"},
  {"id": "f-ltv", "name": "LTV", "fieldKey": "contact.ltv", "dataType": "NUMERICAL"}
], "contacts": [
  {"email": "ann@example.com", "firstName": "Ann", "companyName": "Acme", "tags": ["vip"],
   "customFields": [{"id": "f-note", "value": "old note"}, {"id": "f-ltv", "value": 12.5}]},
  {"email": "ben@example.com", "firstName": "Ben", "tags": ["lead", "Past Customer"]}
]}}"#,
    );
    let p = csv_pipeline(
        dir.path(),
        &sb.base_url,
        "First Name,Email,Company,Tags,Note,LTV\n\
         Ann,ann@example.com,NewCo,new,new note,99\n\
         Ben,ben@example.com,BenCo,\"lead, x\",ben note,\n\
         Cy,cy@example.com,CyCo,y,,\n",
        "mapping: {firstName: First Name, email: Email, companyName: Company, tags: Tags}\n\
         custom_fields: {contact.note: Note, contact.ltv: LTV}\n\
         load: {tags: add}\n",
    );
    let state = |sb: &SandboxProc| {
        let mut v: Vec<String> = sb
            .contacts("loc-it")
            .iter()
            .map(|c| {
                let mut tags: Vec<String> = c["tags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_str().unwrap().to_owned())
                    .collect();
                tags.sort();
                let mut cf: Vec<String> = c["customFields"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|f| format!("{}={}", f["id"], f["value"]))
                            .collect()
                    })
                    .unwrap_or_default();
                cf.sort();
                format!(
                    "{} {} company={} tags={tags:?} cf={cf:?}",
                    c["email"], c["firstName"], c["companyName"]
                )
            })
            .collect();
        v.sort();
        v
    };
    let before = state(&sb);

    let o = sb.run_pipeline(&p, &dir.path().join("o"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let during = state(&sb);
    assert_eq!(during.len(), 3);
    assert!(
        during[0].contains("company=\"NewCo\"") && during[0].contains("\"new\", \"vip\""),
        "{during:?}"
    );
    assert!(during[0].contains("=99"), "{during:?}");

    let r = run(bin()
        .arg("rollback")
        .arg(dir.path().join("o"))
        .env("IT_TOKEN", &sb.token));

    assert_eq!(r.status.code(), Some(0), "{}", text(&r).1);
    assert!(
        text(&r)
            .0
            .contains("1 created contacts deleted, 2 updated contacts restored"),
        "{}",
        text(&r).0
    );
    assert_eq!(state(&sb), before);
}

#[test]
fn followup_file_by_email_creates_updates_completes_and_deletes_tasks_once() {
    let dir = workdir();
    let sb = SandboxProc::seeded(
        "loc-it",
        dir.path(),
        r#"{"loc-it": {"contacts": [
  {"email": "ann@example.com", "firstName": "Ann", "tags": ["old", "vip"], "tasks": [
     {"title": "Call back", "dueDate": "2026-12-01T00:00:00Z", "completed": false},
     {"title": "Send deck", "dueDate": "2026-12-02T00:00:00Z", "completed": false},
     {"title": "Old lead", "dueDate": "2026-01-01T00:00:00Z", "completed": false}]},
  {"email": "ben@example.com", "firstName": "Ben"}
]}}"#,
    );
    // The main file creates Cy; the activity file then works on Ann (seeded), Cy (created by this
    // very run) and two rows that cannot apply.
    std::fs::write(
        dir.path().join("activity.csv"),
        "Contact Email,Task,Due,Details,Action,Note\n\
         ANN@example.com,Call back,2026-12-05,New time,update,Moved the call\n\
         ann@example.com,Send deck,,,done,\n\
         ann@example.com,Old lead,,,delete,\n\
         cy@example.com,Welcome call,2026-12-03,,,Imported from the fair\n\
         nobody@example.com,Call,2026-12-03,,,\n\
         ben@example.com,Call,2026-12-03,,archive,\n",
    )
    .unwrap();
    // Tags: one file adds, another removes; only tags that change something are sent.
    std::fs::write(
        dir.path().join("add.csv"),
        "Email,Tags\nann@example.com,\"Webinar; VIP\"\ncy@example.com,webinar\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("remove.csv"),
        "Email,Tags\nann@example.com,OLD\n",
    )
    .unwrap();
    let p = csv_pipeline(
        dir.path(),
        &sb.base_url,
        "First Name,Email\nCy,cy@example.com\n",
        "mapping: {firstName: First Name, email: Email}\n\
         load:\n  followups:\n    - path: activity.csv\n      email: Contact Email\n\
         \x20     notes: [{column: Note}]\n\
         \x20     tasks: [{title: Task, due: Due, body: Details, action: Action}]\n\
         \x20   - {path: add.csv, email: Email, tags: {column: Tags}}\n\
         \x20   - {path: remove.csv, email: Email, tags: {column: Tags, mode: remove}}\n",
    );
    let go = |out: &str| sb.run_with(&p, &dir.path().join(out), &["--full-refresh"]);

    let o = go("o1");

    assert_eq!(o.status.code(), Some(3), "{}", text(&o).1);
    let report = read_csv(&dir.path().join("o1/followups.csv"));
    let got: Vec<(&str, &str, &str, &str)> = report[1..]
        .iter()
        .map(|r| {
            let file = r[0].rsplit('/').next().unwrap();
            (file, r[1].as_str(), r[4].as_str(), r[5].as_str())
        })
        .collect();
    assert_eq!(
        got,
        [
            ("activity.csv", "2", "applied", ""),
            ("activity.csv", "3", "applied", ""),
            ("activity.csv", "4", "applied", ""),
            ("activity.csv", "5", "applied", ""),
            ("activity.csv", "6", "rejected", "not_found"),
            ("activity.csv", "7", "rejected", "invalid_task"),
            ("add.csv", "2", "applied", ""),
            ("add.csv", "3", "applied", ""),
            ("remove.csv", "2", "applied", ""),
        ]
    );
    let s = summary(&dir.path().join("o1"));
    assert_eq!(s["followups"]["applied"], 7, "{s}");
    // What the follow-ups sent, per contact addressed (Ann and Cy: Ben's row is invalid).
    let f = &s["followups"];
    assert_eq!(f["contacts"], 2, "{s}");
    let per = f["requests"].as_f64().unwrap() / 2.0;
    assert!(
        (f["requests_per_contact"].as_f64().unwrap() - per).abs() < 1e-9,
        "{s}"
    );
    assert!(per >= 2.0, "{s}");
    // Ann's three activity rows list her tasks once (so do Cy's one row).
    let stats = sb.stats();
    assert_eq!(
        stats["requests_by_endpoint"]["GET /contacts/{id}/tasks"], 2,
        "{stats}"
    );
    assert_eq!(
        stats["requests_by_endpoint"]["GET /contacts/{id}/notes"], 2,
        "{stats}"
    );
    assert_eq!(
        sb.contact_by_email("loc-it", "ann@example.com")["tags"],
        serde_json::json!(["vip", "webinar"])
    );
    assert_eq!(
        sb.contact_by_email("loc-it", "cy@example.com")["tags"],
        serde_json::json!(["webinar"])
    );
    let tasks_of = |email: &str| -> Vec<(String, String, bool, String)> {
        let id = sb.contact_by_email("loc-it", email)["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut t: Vec<_> = sb.api_get(&format!("/contacts/{id}/tasks"))["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["title"].as_str().unwrap().to_owned(),
                    t["dueDate"].as_str().unwrap_or("").to_owned(),
                    t["completed"].as_bool().unwrap(),
                    t["body"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        t.sort();
        t
    };
    let ann = tasks_of("ann@example.com");
    assert_eq!(
        ann,
        [
            (
                "Call back".into(),
                "2026-12-05T00:00:00Z".into(),
                false,
                "New time".into()
            ),
            (
                "Send deck".into(),
                "2026-12-02T00:00:00Z".into(),
                true,
                String::new()
            ),
        ]
    );
    assert_eq!(tasks_of("cy@example.com").len(), 1);

    // Again: everything is already so — only reads reach the task and note endpoints.
    let before = sb.stats()["requests_by_endpoint"].clone();
    assert_eq!(go("o2").status.code(), Some(3));
    let after = sb.stats()["requests_by_endpoint"].clone();
    let writes = |v: &serde_json::Value| -> u64 {
        v.as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.contains("/tasks") || k.contains("/notes") || k.contains("/tags"))
            .filter(|(k, _)| !k.starts_with("GET"))
            .map(|(_, n)| n.as_u64().unwrap())
            .sum()
    };
    assert_eq!(writes(&after), writes(&before), "{after}");
    let s = summary(&dir.path().join("o2"));
    assert_eq!(s["followups"]["unchanged"], 7, "{s}");
    assert_eq!(tasks_of("ann@example.com"), ann);
}

#[test]
fn followup_file_with_a_wrong_column_stops_the_run_before_any_write() {
    let (sb, dir) = seeded();
    std::fs::write(dir.path().join("activity.csv"), "Email,Task,Due\n").unwrap();
    let p = csv_pipeline(
        dir.path(),
        &sb.base_url,
        "First Name,Email\nCy,cy@example.com\n",
        "mapping: {firstName: First Name, email: Email}\n\
         load:\n  followups:\n    - {path: activity.csv, email: Mail, tasks: [{title: Tsk, due: Due}]}\n",
    );

    let o = sb.run_pipeline(&p, &dir.path().join("o"));

    assert_eq!(o.status.code(), Some(2));
    let err = text(&o).1;
    assert!(
        err.contains("email column `Mail` is not in the file"),
        "{err}"
    );
    assert!(err.contains("column `Tsk`"), "{err}");
    assert!(sb.stats()["requests_by_endpoint"]
        .get("POST /contacts/upsert")
        .is_none());
}

#[test]
fn small_file_against_a_large_location_plans_with_per_row_lookups() {
    // 5,000 contacts: indexing costs 10 reads, three rows need 3 email lookups (+1 for the phone
    // of the third row). auto picks the lookups and plans exactly what the index would.
    let sb = SandboxProc::start("loc-it", &[FAST, &["--seed-contacts", "5000"]].concat());
    let dir = workdir();
    let csv = "First Name,Email,Phone\n\
               Seed7,seed7@example.com,\n\
               Renamed,seed8@example.com,\n\
               New,new@example.com,+14155550199\n";
    let plan_of = |extra: &str, out: &str| {
        // This sandbox's search does not lag: the reads counted are the planning's own.
        let extra = format!("{extra}  search_lag_ms: 0\n");
        let p = pipeline(dir.path(), &sb.base_url, csv, &extra);
        let o = run(bin()
            .args(["run", "--dry-run", "--out"])
            .arg(dir.path().join(out))
            .arg(&p)
            .env("IT_TOKEN", &sb.token));
        assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
        let plan = read_csv(&dir.path().join(out).join("plan.csv"));
        let actions: Vec<String> = plan[1..].iter().map(|r| r[1].clone()).collect();
        (actions, text(&o).1)
    };
    let reads = |sb: &SandboxProc| {
        let s = sb.stats();
        let n = |k: &str| s["requests_by_endpoint"][k].as_u64().unwrap_or(0);
        (
            n("POST /contacts/search"),
            n("GET /contacts/search/duplicate"),
        )
    };

    let (auto, err) = plan_of("load:\n  mode: sync\n", "auto");
    assert!(err.contains("planning: per-row lookups"), "{err}");
    assert_eq!(
        reads(&sb),
        (1, 4),
        "one index page, then 3 email + 1 phone lookups"
    );

    let (indexed, err) = plan_of("load:\n  mode: sync\n  lookup: index\n", "index");
    assert!(
        err.contains("indexed the location's 5000 contacts with 10 reads"),
        "{err}"
    );
    assert_eq!(reads(&sb), (11, 4));
    assert_eq!(auto, ["unchanged", "update", "create"]);
    assert_eq!(auto, indexed);

    // Forced per-row: no index page at all.
    let (forced, _) = plan_of("load:\n  mode: sync\n  lookup: per_row\n", "per-row");
    assert_eq!(reads(&sb), (11, 8));
    assert_eq!(forced, auto);
}

#[test]
fn preview_live_says_what_each_row_would_do_with_reads_only() {
    let dir = workdir();
    let seed = r#"{"loc-it": {"contacts": [
        {"email": "ann@example.com", "phone": "+14155552671", "firstName": "Annie"},
        {"email": "bo@example.com", "firstName": "Bo"}]}}"#;
    let sb = SandboxProc::seeded("loc-it", dir.path(), seed);
    let csv = "First Name,Email,Phone\nAnn,ann@example.com,(415) 555-2671\nBo,bo@example.com,\nCy,cy@example.com,\n";
    let p = pipeline(dir.path(), &sb.base_url, csv, "");
    let o = run(bin()
        .args(["preview", "--live", "--format", "json"])
        .arg(&p)
        .env("IT_TOKEN", &sb.token));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let v: serde_json::Value = serde_json::from_str(&text(&o).0).unwrap();
    let live: Vec<&serde_json::Value> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["live"])
        .collect();
    assert_eq!(live[0]["action"], "update", "{v}");
    assert_eq!(
        live[0]["changes"][0],
        serde_json::json!({"field": "firstName", "from": "Annie", "to": "Ann"})
    );
    assert_eq!(live[1]["action"], "unchanged");
    assert_eq!(live[2]["action"], "create");
    let writes: Vec<String> = sb.stats()["requests_by_endpoint"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| !k.starts_with("GET") && !k.contains("search") && !k.contains("duplicate"))
        .cloned()
        .collect();
    assert!(writes.is_empty(), "reads only: {writes:?}");
    // Table form names the change.
    let o = run(bin()
        .args(["preview", "--live", "--rows", "1"])
        .arg(&p)
        .env("IT_TOKEN", &sb.token));
    assert!(
        text(&o).0.contains("in the location: update")
            && text(&o).0.contains("firstName: `Annie` → `Ann`"),
        "{}",
        text(&o).0
    );
}

#[test]
fn a_real_run_after_a_dry_run_sets_its_duration_against_the_forecast() {
    let sb = SandboxProc::fast("loc-it");
    let dir = workdir();
    let p = pipeline(dir.path(), &sb.base_url, &many_rows(6), "");
    let o = sb.run_with(&p, &dir.path().join("dry"), &["--dry-run"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let forecast = summary(&dir.path().join("dry"))["forecast"].clone();
    assert_eq!(forecast["write_requests"], 6);
    assert!(summary(&dir.path().join("dry"))["forecast_check"].is_null());

    let o = sb.run_pipeline(&p, &dir.path().join("real"));
    assert_eq!(o.status.code(), Some(0));
    let s = summary(&dir.path().join("real"));
    let check = &s["forecast_check"];
    assert_eq!(check["eta_seconds"], forecast["eta_seconds"], "{s}");
    assert_eq!(check["write_requests"], 6);
    assert!(
        check["dry_run_report_dir"]
            .as_str()
            .unwrap()
            .ends_with("dry"),
        "{s}"
    );
    let html = std::fs::read_to_string(dir.path().join("real/report.html")).unwrap();
    assert!(html.contains("of the forecast"), "{html}");
}
