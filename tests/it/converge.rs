//! Converging with the API as it really answers (issue 12): values come back in other forms
//! than they were sent (dates of birth as date-times or epoch ms, `address` for `address1`,
//! tags trimmed and lower-cased, custom values as numbers and lists), and a sync run right after
//! another must still find every contact unchanged.

use crate::util::*;

const SEED: &str = r#"{"loc-it": {"customFields": [
  {"id": "f-ltv", "name": "Lifetime value", "fieldKey": "contact.lifetime_value", "dataType": "MONETORY"},
  {"id": "f-int", "name": "Interests", "fieldKey": "contact.interests", "dataType": "MULTIPLE_OPTIONS", "picklistOptions": ["Yoga", "Running", "Chess"]}
], "contacts": []}}"#;

const CSV: &str = "First Name,Email,Phone,Birthday,Street,Tags,LTV,Interests
Ann,Ann.Lee@Example.com,(415) 555-2671,1990-05-17,1 Main St, VIP ;Lead ,\"1,200.50\",\"yoga; chess\"
Ben,ben@example.com,,1985-04-05,2 Side Rd,customer,10,Running
";

#[test]
fn a_second_sync_right_after_the_first_writes_nothing() {
    let dir = workdir();
    let sb = SandboxProc::seeded("loc-it", dir.path(), SEED);
    let p = csv_pipeline(
        dir.path(),
        &sb.base_url,
        CSV,
        "mapping:\n  firstName: First Name\n  email: Email\n  phone: Phone\n  dateOfBirth: Birthday\n  \
         address1: Street\n  tags: Tags\ncustom_fields:\n  contact.lifetime_value: LTV\n  \
         contact.interests: Interests\nvalidate:\n  phone_default_region: US\nload:\n  mode: sync\n",
    );
    let first = sb.run_pipeline(&p, &dir.path().join("o1"));
    assert_eq!(first.status.code(), Some(0));
    assert_eq!(created_updated(&summary(&dir.path().join("o1"))), (2, 0));

    // The sandbox answers like GHL: the same contact in other forms.
    let ann = sb.contact_by_email("loc-it", "ann.lee@example.com");
    let id = ann["id"].as_str().unwrap();
    let got = sb.api_get(&format!("/contacts/{id}"))["contact"].clone();
    assert_eq!(got["dateOfBirth"], "1990-05-17T00:00:00.000Z");
    assert_eq!(got["tags"], serde_json::json!(["vip", "lead"]));

    // Journal ignored: the planner alone must see that nothing changed.
    let writes_before = sb.stats()["requests_by_endpoint"]["POST /contacts/upsert"].clone();
    let second = sb.run_with(&p, &dir.path().join("o2"), &["--full-refresh"]);
    assert_eq!(second.status.code(), Some(0));
    let s = summary(&dir.path().join("o2"));
    assert_eq!(s["rows"]["unchanged"], 2, "{s}");
    assert_eq!(
        sb.stats()["requests_by_endpoint"]["POST /contacts/upsert"],
        writes_before,
        "0 writes"
    );
    let plan = sb.run_with(&p, &dir.path().join("o3"), &["--dry-run"]);
    assert_eq!(plan.status.code(), Some(0));
    assert_eq!(summary(&dir.path().join("o3"))["plan"]["unchanged"], 2);
}

#[test]
fn follow_ups_reach_the_contacts_this_run_created_although_search_lags() {
    let dir = workdir();
    let sb = SandboxProc::start("loc-it", &[FAST, &["--search-lag-ms", "3000"]].concat());
    let mut main = String::from("First Name,Email\n");
    let mut activity = String::from("Email,Note,Tags\n");
    for i in 0..8 {
        main.push_str(&format!("P{i},p{i}@example.com\n"));
        activity.push_str(&format!("P{i}@Example.com,Called {i},webinar\n"));
    }
    std::fs::write(dir.path().join("activity.csv"), activity).unwrap();
    let p = csv_pipeline(
        dir.path(),
        &sb.base_url,
        &main,
        "mapping: {firstName: First Name, email: Email}\n\
         load:\n  rate_limit: {max_requests: 1000, interval_ms: 1000}\n  followups:\n\
         \x20   - {path: activity.csv, email: Email, notes: [{column: Note}], tags: {column: Tags}}\n",
    );
    // Search really lags: right after a write, the new contact is not found.
    let o = sb.run_pipeline(&p, &dir.path().join("o"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let s = summary(&dir.path().join("o"));
    assert_eq!(s["rows"]["created"], 8);
    assert_eq!(s["followups"]["applied"], 8, "{s}");
    let stats = sb.stats();
    assert_eq!(
        stats["requests_by_endpoint"]["POST /contacts/search"], 1,
        "one read of the location before the rows (identity checks); every follow-up contact was \
         written by the run: no search for them ({stats})"
    );
    for i in 0..8 {
        let c = sb.contact_by_email("loc-it", &format!("p{i}@example.com"));
        assert_eq!(c["tags"], serde_json::json!(["webinar"]));
        let notes = sb.api_get(&format!("/contacts/{}/notes", c["id"].as_str().unwrap()));
        assert_eq!(notes["notes"][0]["body"], format!("Called {i}"));
    }
}

#[test]
fn the_sandbox_search_lags_writes() {
    let sb = SandboxProc::start("loc-it", &[FAST, &["--search-lag-ms", "1500"]].concat());
    let auth = format!("Bearer {}", sb.token);
    let h = [("Authorization", auth.as_str()), ("Version", "2021-07-28")];
    let (s, _) = sb.raw(
        "POST",
        "/contacts/upsert",
        &h,
        r#"{"locationId":"loc-it","email":"a@example.com","firstName":"A"}"#,
    );
    assert_eq!(s, 200);
    let search = || {
        let (s, body) = sb.raw(
            "POST",
            "/contacts/search",
            &h,
            r#"{"locationId":"loc-it","pageLimit":10}"#,
        );
        assert_eq!(s, 200, "{body}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["contacts"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(search(), 0, "not visible yet");
    std::thread::sleep(std::time::Duration::from_millis(1600));
    assert_eq!(search(), 1, "visible after the lag");
}

/// Ten rows, one phone, ten emails.
fn shared_phone_rows() -> String {
    let mut csv = String::from("First Name,Email,Phone\n");
    for i in 0..10 {
        csv.push_str(&format!("P{i},p{i}@example.com,(415) 555-2671\n"));
    }
    csv
}

#[test]
fn rows_sharing_a_phone_are_conflicts_or_merged_in_file_order_the_same_every_run() {
    for policy in ["reject", "merge"] {
        let mut outcomes = Vec::new();
        for _ in 0..5 {
            let dir = workdir();
            let sb = SandboxProc::fast("loc-it");
            let p = pipeline(
                dir.path(),
                &sb.base_url,
                &shared_phone_rows(),
                &format!(
                    "load:\n  concurrency: 8\n  phone_conflicts: {policy}\n  \
                     rate_limit: {{max_requests: 1000, interval_ms: 1000}}\n"
                ),
            );
            let o = sb.run_pipeline(&p, &dir.path().join("o"));
            let results = read_csv(&dir.path().join("o/results.csv"));
            let contacts = sb.contacts("loc-it");
            assert_eq!(contacts.len(), 1, "one phone, one contact");
            outcomes.push((
                o.status.code(),
                results[1..]
                    .iter()
                    .map(|r| (r[1].clone(), r[4].clone()))
                    .collect::<Vec<_>>(),
                contacts[0]["email"].clone(),
            ));
        }
        assert!(
            outcomes.windows(2).all(|w| w[0] == w[1]),
            "{policy}: the same every run: {outcomes:?}"
        );
        let (code, rows, email) = &outcomes[0];
        if policy == "reject" {
            assert_eq!(*code, Some(3));
            assert_eq!(rows[0], ("created".to_owned(), String::new()));
            assert!(
                rows[1..].iter().all(|r| r.1 == "phone_conflict"),
                "{rows:?}"
            );
            assert_eq!(email, "p0@example.com", "never overwritten");
        } else {
            assert_eq!(*code, Some(0));
            assert_eq!(
                email, "p9@example.com",
                "merged in file order: the last row wins"
            );
        }
    }
}

#[test]
fn a_new_email_with_the_phone_of_an_existing_contact_is_a_conflict_in_every_mode() {
    let dir = workdir();
    let seed = r#"{"loc-it": {"contacts": [{"email": "ann@example.com", "phone": "+14155552671", "firstName": "Ann"}]}}"#;
    let sb = SandboxProc::seeded("loc-it", dir.path(), seed);
    let csv = "First Name,Email,Phone\nBob,bob@example.com,(415) 555-2671\n";
    // Plain upsert mode (the default) reads the location for this too: no silent merge.
    let p = pipeline(dir.path(), &sb.base_url, csv, "");
    let o = sb.run_pipeline(&p, &dir.path().join("o0"));
    assert_eq!(
        o.status.code(),
        Some(4),
        "its one row rejected: {}",
        text(&o).1
    );
    let rejected = read_csv(&dir.path().join("o0/rejected.csv"));
    assert_eq!(rejected[1][5], "phone_conflict", "{:?}", rejected[1]);
    assert_eq!(
        sb.stats()["requests_by_endpoint"]["POST /contacts/upsert"],
        serde_json::Value::Null,
        "nothing written"
    );

    let p = pipeline(dir.path(), &sb.base_url, csv, "load:\n  mode: sync\n");
    let o = sb.run_pipeline(&p, &dir.path().join("o"));
    assert_eq!(o.status.code(), Some(4));
    let rejected = read_csv(&dir.path().join("o/rejected.csv"));
    assert_eq!(rejected[1][5], "phone_conflict");
    assert!(
        rejected[1][6].contains("ann@example.com"),
        "{:?}",
        rejected[1]
    );
    assert_eq!(
        sb.contact_by_email("loc-it", "ann@example.com")["firstName"],
        "Ann"
    );

    // Asked for, the upsert merges them.
    let p = pipeline(
        dir.path(),
        &sb.base_url,
        csv,
        "load:\n  mode: sync\n  phone_conflicts: merge\n",
    );
    assert_eq!(
        sb.run_pipeline(&p, &dir.path().join("o2")).status.code(),
        Some(0)
    );
    let c = &sb.contacts("loc-it")[0];
    assert_eq!(
        (c["email"].as_str(), c["firstName"].as_str()),
        (Some("bob@example.com"), Some("Bob"))
    );
}

#[test]
fn decomposed_text_is_sent_composed() {
    let dir = workdir();
    let sb = SandboxProc::fast("loc-it");
    // "José" and "Muñoz" as a Mac export may write them: letters plus combining marks.
    let csv = "First Name,Email,Phone\nJose\u{301} Mun\u{303}oz,jose@example.com,\n";
    let p = pipeline(dir.path(), &sb.base_url, csv, "");
    assert_eq!(
        sb.run_pipeline(&p, &dir.path().join("o")).status.code(),
        Some(0)
    );
    assert_eq!(
        sb.contact_by_email("loc-it", "jose@example.com")["firstName"],
        "Jos\u{e9} Mu\u{f1}oz"
    );
}

#[test]
fn blank_records_are_skipped_and_counted_like_empty_lines() {
    let dir = workdir();
    let sb = SandboxProc::fast("loc-it");
    let csv = "First Name,Email,Phone\nAnn,ann@example.com,\n,,\n  , ,\t\n\nBen,ben@example.com,\n";
    let p = pipeline(dir.path(), &sb.base_url, csv, "");
    assert_eq!(
        sb.run_pipeline(&p, &dir.path().join("o")).status.code(),
        Some(0)
    );
    let s = summary(&dir.path().join("o"));
    assert_eq!(s["rows"]["read"], 2, "{s}");
    assert_eq!(s["rows"]["rejected"], 0);
    assert_eq!(s["blank_records"], 2);
    let rows: Vec<String> = read_csv(&dir.path().join("o/results.csv"))[1..]
        .iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(rows, ["2", "3"], "no row numbers for blank records");
}

#[test]
fn a_duplicate_never_names_a_row_the_api_refused_as_loaded() {
    // Row 2 is kept (dedup.keep: first) and the API refuses it (422); row 3 duplicates it.
    // Row 3's reason must say that row 2 did not reach the location either.
    // The first request reads the location; the second is row 2's upsert.
    let sb = SandboxProc::start("loc-it", &["--fault", "422x1@1"]);
    let dir = workdir();
    let csv = "First Name,Email,Phone\nA,dup@example.com,\nB,dup@example.com,\nC,c@example.com,\n";
    let p = pipeline(dir.path(), &sb.base_url, csv, "load:\n  concurrency: 1\n");
    let o = sb.run_pipeline(&p, &dir.path().join("o"));
    assert_eq!(o.status.code(), Some(3), "{}", text(&o).1);
    let results = read_csv(&dir.path().join("o/results.csv"));
    assert_eq!(results[1][1], "rejected", "{results:?}");
    assert_ne!(results[1][4], "duplicate_in_file");
    assert_eq!(results[2][4], "duplicate_in_file");
    assert!(
        results[2][5].contains("kept instead")
            && results[2][5].contains("row 2 was not loaded either"),
        "{:?}",
        results[2]
    );
    assert_eq!(results[3][1], "created");
    let rejected = read_csv(&dir.path().join("o/rejected.csv"));
    let dup = rejected.iter().find(|r| r[0] == "B").unwrap();
    assert!(
        dup.iter()
            .any(|c| c.contains("retry-rejects --include duplicates")),
        "{dup:?}"
    );
    assert_eq!(
        sb.contacts("loc-it").len(),
        1,
        "only row 4 reached the location"
    );
}

/// Requests that change something, from the sandbox's statistics.
fn writes(sb: &SandboxProc) -> u64 {
    sb.stats()["requests_by_endpoint"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| !k.starts_with("GET") && !k.contains("/search"))
        .map(|(_, v)| v.as_u64().unwrap())
        .sum()
}

#[test]
fn every_shipped_pipeline_settles_in_sync_mode_under_search_lag() {
    // Each shipped pipeline that writes to GHL, in sync mode, against a sandbox whose search
    // lags writes by 3 s: the second run, started right after the first, writes nothing (the
    // journal knows every row); a third one with --full-refresh, once the lag has passed, writes
    // nothing either (the planner alone sees every contact unchanged, whatever forms the API
    // answered values in).
    let sb = SandboxProc::start(
        "loc-a",
        &[
            FAST,
            &[
                "--location",
                "loc-it",
                "--location",
                "loc-b",
                "--seed-contacts",
                "60",
                "--search-lag-ms",
                "3000",
            ],
        ]
        .concat(),
    );
    let samples = repo().join("samples");
    for name in [
        "quickstart",
        "excel-import",
        "hubspot-import",
        "ghl-to-ghl-migration",
    ] {
        let dir = workdir();
        let mut yaml = std::fs::read_to_string(repo().join(format!("pipelines/{name}.yaml")))
            .unwrap()
            .replace("../samples/", &format!("{}/", samples.display()))
            .replace("  mode: upsert", "  mode: sync");
        yaml = yaml
            .lines()
            .map(|l| match l.trim_start().starts_with("token_env: GHL_") {
                true => format!("    token_env: IT_TOKEN\n  base_url: {}\n", sb.base_url),
                false => format!("{l}\n"),
            })
            .collect();
        if !yaml.contains("  mode: sync") {
            yaml = if yaml.contains("\nload:\n") {
                yaml.replace("\nload:\n", "\nload:\n  mode: sync\n")
            } else {
                yaml + "\nload:\n  mode: sync\n"
            };
        }
        let p = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&p, yaml).unwrap();
        let go = |out: &str, extra: &[&str]| {
            let o = run(bin()
                .args(["run", "-q"])
                .args(extra)
                .arg("--out")
                .arg(dir.path().join(out))
                .arg(&p)
                .env("IT_TOKEN", &sb.token)
                .env("GHL_LOCATION_ID", "loc-it")
                .env("GHL_SOURCE_LOCATION_ID", "loc-a")
                .env("GHL_TARGET_LOCATION_ID", "loc-b"));
            assert!(
                matches!(o.status.code(), Some(0) | Some(3)),
                "{name} {out}: {}",
                text(&o).1
            );
            summary(&dir.path().join(out))
        };
        let first = go("o1", &[]);
        let (created, updated) = created_updated(&first);
        assert!(created + updated > 0, "{name}: {first}");
        let before = writes(&sb);
        let second = go("o2", &[]);
        assert_eq!(
            writes(&sb),
            before,
            "{name}: the second run wrote: {second}"
        );
        assert_eq!(
            second["rows"]["unchanged"].as_u64().unwrap(),
            created + updated,
            "{name}: {second}"
        );
        std::thread::sleep(std::time::Duration::from_millis(3100));
        let third = go("o3", &["--full-refresh"]);
        assert_eq!(writes(&sb), before, "{name}: the planner re-sent: {third}");
        assert_eq!(
            third["rows"]["unchanged"].as_u64().unwrap(),
            created + updated,
            "{name}: {third}"
        );
    }
}
