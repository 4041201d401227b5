//! Loading against a standalone sandbox process: re-runs, retries, API rejects, pacing, auth.

use crate::util::*;

const CSV: &str = "First Name,Email,Phone
Ann,ann@example.com,(415) 555-2671
Ben,ben@example.com,
Cy,,+44 20 7946 0958
Di,di@example.com,415-555-0100
Ed,ed@example.com,
";

/// Fast retries for tests: the backoff is real but short.
const FAST_RETRY: &str = "load:\n  retry:\n    base_delay_ms: 5\n    max_delay_ms: 50\n";

#[test]
fn rerun_updates_and_never_duplicates() {
    let sb = SandboxProc::fast("loc-it");
    let dir = workdir();
    let p = pipeline(dir.path(), &sb.base_url, CSV, FAST_RETRY);

    let first = sb.run_pipeline(&p, &dir.path().join("o1"));
    assert_eq!(first.status.code(), Some(0));
    let s1 = summary(&dir.path().join("o1"));
    assert_eq!(created_updated(&s1), (5, 0));
    let ids1: Vec<String> = sb
        .contacts("loc-it")
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();

    // Second run: the journal knows every row was applied with this payload: nothing is
    // written (the one request is the read of the location that finds phone conflicts).
    let second = sb.run_pipeline(&p, &dir.path().join("o2"));
    assert_eq!(second.status.code(), Some(0));
    let s2 = summary(&dir.path().join("o2"));
    assert_eq!(
        (
            s2["rows"]["unchanged"].as_u64(),
            s2["requests"]["sent"].as_u64()
        ),
        (Some(5), Some(1))
    );
    assert_eq!(
        sb.stats()["requests_by_endpoint"]["POST /contacts/upsert"],
        5
    );

    // Third run ignoring the journal: every row is upserted again and matches its contact.
    let third = run(bin()
        .args(["run", "-q", "--full-refresh", "--out"])
        .arg(dir.path().join("o3"))
        .arg(&p)
        .env("IT_TOKEN", &sb.token));
    assert_eq!(third.status.code(), Some(0));
    let s3 = summary(&dir.path().join("o3"));
    assert_eq!(created_updated(&s3), (0, 5));
    let ids2: Vec<String> = sb
        .contacts("loc-it")
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids1, ids2, "same contacts, none added");

    // results.csv of the second run names the same contact ids, row for row.
    let r1 = read_csv(&dir.path().join("o1/results.csv"));
    let r2 = read_csv(&dir.path().join("o3/results.csv"));
    let ids = |r: &Vec<Vec<String>>| r[1..].iter().map(|l| l[2].clone()).collect::<Vec<_>>();
    assert_eq!(ids(&r1), ids(&r2));
}

#[test]
fn rate_limited_429s_and_5xx_are_retried_and_rows_land() {
    let sb = SandboxProc::start(
        "loc-it",
        &[
            "--rate-max",
            "1000",
            "--rate-interval-ms",
            "1000",
            "--fault",
            "429x3@2",
            "--fault",
            "503x2@5",
        ],
    );
    let dir = workdir();
    let p = pipeline(dir.path(), &sb.base_url, CSV, FAST_RETRY);

    let o = sb.run_pipeline(&p, &dir.path().join("o"));

    assert_eq!(o.status.code(), Some(0));
    let s = summary(&dir.path().join("o"));
    assert_eq!(s["rows"]["created"], 5);
    assert_eq!(s["requests"]["rate_limited_429"], 3);
    assert_eq!(s["requests"]["server_errors"], 2);
    assert_eq!(s["requests"]["retries"], 5);
    // One read of the location (phone conflicts), five upserts, five retries.
    assert_eq!(s["requests"]["sent"], 11);
    assert_eq!(sb.stats()["faults_injected"], 5);
    assert_eq!(sb.contacts("loc-it").len(), 5);
}

#[test]
fn retries_are_bounded_and_the_row_is_reported() {
    // Every request fails: each row gets max_attempts attempts. A 502 can come after the write
    // was made, and the lookup that would settle it fails too: outcome_unknown, each write an
    // intent without settlement in rollback.jsonl (a rollback settles them by a lookup).
    let sb = SandboxProc::start(
        "loc-it",
        &[
            "--rate-max",
            "1000",
            "--rate-interval-ms",
            "1000",
            "--fault",
            "502x1000",
        ],
    );
    let dir = workdir();
    // Phone conflicts merged: no read of the location first (it would fail the same way and
    // stop the run before any row).
    let extra = "load:\n  phone_conflicts: merge\n  retry:\n    max_attempts: 3\n    base_delay_ms: 1\n    max_delay_ms: 5\n";
    let p = pipeline(dir.path(), &sb.base_url, CSV, extra);

    let o = sb.run_pipeline(&p, &dir.path().join("o"));

    assert_eq!(o.status.code(), Some(4), "no row was loaded");
    assert!(
        text(&o)
            .0
            .contains("nothing loaded: all 5 rows were rejected"),
        "{}",
        text(&o).0
    );
    let s = summary(&dir.path().join("o"));
    assert_eq!(s["rejected_by_code"]["outcome_unknown"], 5, "{s}");
    assert_eq!(unsettled(&dir.path().join("o")), 5);
    assert_eq!(
        sb.stats()["requests_by_endpoint"]["POST /contacts/upsert"],
        15,
        "3 attempts per row"
    );
    // A 5xx may follow a commit: each row then looks its contact up (3 attempts each) before
    // it is reported, so that a create is never lost.
    assert_eq!(
        sb.stats()["requests_by_endpoint"]["GET /contacts/search/duplicate"],
        15
    );
    let rejected = read_csv(&dir.path().join("o/rejected.csv"));
    assert!(rejected[1][6].contains("HTTP 502"), "{:?}", rejected[1]);
}

#[test]
fn api_4xx_is_a_row_reject_carrying_the_api_message() {
    let sb = SandboxProc::start(
        "loc-it",
        &[
            "--rate-max",
            "1000",
            "--rate-interval-ms",
            "1000",
            "--fault",
            "422x1@3",
        ],
    );
    let dir = workdir();
    let p = pipeline(dir.path(), &sb.base_url, CSV, "load:\n  concurrency: 1\n");

    let o = sb.run_pipeline(&p, &dir.path().join("o"));

    assert_eq!(o.status.code(), Some(3));
    let s = summary(&dir.path().join("o"));
    assert_eq!(s["rows"]["created"], 4);
    assert_eq!(s["rejected_by_code"]["api_rejected"], 1);
    assert_eq!(s["requests"]["retries"], 0, "4xx is not retried");
    let rejected = read_csv(&dir.path().join("o/rejected.csv"));
    assert_eq!(rejected.len(), 2);
    assert_eq!(&rejected[1][3..6], ["4", "load", "api_rejected"]);
    assert!(rejected[1][6].starts_with("HTTP 422"), "{:?}", rejected[1]);
}

#[test]
fn wrong_token_is_fatal_every_row_accounted_and_token_never_printed() {
    let sb = SandboxProc::fast("loc-it");
    let dir = workdir();
    let p = pipeline(dir.path(), &sb.base_url, CSV, FAST_RETRY);
    let secret = "pit-very-secret-value-123";

    let o = run(bin()
        .args(["run", "-q", "--out"])
        .arg(dir.path().join("o"))
        .arg(&p)
        .env("IT_TOKEN", secret));

    assert_eq!(o.status.code(), Some(1));
    let (stdout, stderr) = text(&o);
    assert!(stderr.contains("HTTP 401"), "{stderr}");
    assert!(stderr.contains("token_env"), "{stderr}");
    let results = read_csv(&dir.path().join("o/results.csv"));
    assert_eq!(results.len(), 6, "every row has an outcome");
    assert!(results[1..]
        .iter()
        .all(|r| r[1] == "rejected" && r[4] == "not_attempted"));
    for f in ["rejected.csv", "results.csv", "summary.json"] {
        let body = std::fs::read_to_string(dir.path().join("o").join(f)).unwrap();
        assert!(!body.contains(secret), "{f} leaks the token");
    }
    assert!(!stdout.contains(secret) && !stderr.contains(secret));
    assert!(sb.contacts("loc-it").is_empty());
}

#[test]
fn location_without_access_is_fatal() {
    let sb = SandboxProc::start("another-location", &[]);
    let dir = workdir();
    let p = pipeline(dir.path(), &sb.base_url, CSV, FAST_RETRY);

    let o = sb.run_pipeline(&p, &dir.path().join("o"));

    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("HTTP 403"), "{}", text(&o).1);
}

#[test]
fn kill_9_then_rerun_leaves_each_contact_exactly_once() {
    let sb = SandboxProc::start(
        "loc-it",
        &["--rate-max", "25", "--rate-interval-ms", "1000"],
    );
    let dir = workdir();
    let extra = "load:\n  rate_limit:\n    max_requests: 25\n    interval_ms: 1000\n";
    let p = pipeline(dir.path(), &sb.base_url, &many_rows(40), extra);

    let mut child = sb.spawn_run(&p, &dir.path().join("o1"));
    wait_for_contacts(&sb, "loc-it", 3);
    signal(&child, "-KILL");
    child.wait().unwrap();
    // Let the server finish any request whose bytes had fully arrived.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let after_kill = sb.contacts("loc-it").len();
    assert!(
        after_kill > 0 && after_kill < 40,
        "killed mid-run: {after_kill}"
    );

    let o = sb.run_pipeline(&p, &dir.path().join("o2"));

    assert_eq!(o.status.code(), Some(0));
    let contacts = sb.contacts("loc-it");
    let mut emails: Vec<&str> = contacts
        .iter()
        .map(|c| c["email"].as_str().unwrap())
        .collect();
    emails.sort_unstable();
    emails.dedup();
    assert_eq!((contacts.len(), emails.len()), (40, 40));
    let s = summary(&dir.path().join("o2"));
    let n = |k: &str| s["rows"][k].as_u64().unwrap() as usize;
    // Rows the journal saw applied send nothing; a row in flight at the kill is sent again and
    // matches the contact it may have created.
    assert_eq!(n("created") + n("updated") + n("unchanged"), 40);
    // A write in flight at the kill that created its contact is the re-run's `created`, with a
    // warning (rollback must find it); the others the re-run finds are updated or unchanged.
    let earlier = s["warnings_by_code"]["created_by_earlier_run"]
        .as_u64()
        .unwrap_or(0) as usize;
    assert_eq!(n("created"), 40 - after_kill + earlier, "{s}");
    assert!(n("unchanged") + n("updated") == after_kill - earlier, "{s}");
}

#[test]
fn dedup_keep_last_loads_the_last_row_and_names_it() {
    let sb = SandboxProc::fast("loc-it");
    let dir = workdir();
    let csv = "First Name,Email,Phone\nOld,ann@example.com,\nBen,ben@example.com,\nNew, ANN@example.com,\n";
    let p = pipeline(
        dir.path(),
        &sb.base_url,
        csv,
        "dedup:\n  keep: last\nload:\n  concurrency: 1\n",
    );

    let o = sb.run_pipeline(&p, &dir.path().join("o"));

    assert_eq!(o.status.code(), Some(3));
    let rejected = read_csv(&dir.path().join("o/rejected.csv"));
    assert_eq!(rejected.len(), 2);
    assert_eq!(
        &rejected[1][..5],
        ["Old", "ann@example.com", "", "2", "dedup"]
    );
    assert!(
        rejected[1][6].contains("duplicates row 4"),
        "{:?}",
        rejected[1]
    );
    let ann = sb.contact_by_email("loc-it", "ann@example.com");
    assert_eq!(ann["firstName"], "New");
}

#[test]
fn formula_escaping_can_be_turned_off() {
    let sb = SandboxProc::fast("loc-it");
    let dir = workdir();
    let csv = "First Name,Email,Phone\n=1+1,bad@,+1 415 555 2671\n";
    let p = pipeline(
        dir.path(),
        &sb.base_url,
        csv,
        "  invalid_values: reject_row\nreport:\n  escape_formulas: false\n",
    );

    let o = sb.run_pipeline(&p, &dir.path().join("o"));

    assert_eq!(
        o.status.code(),
        Some(4),
        "the one row was rejected: nothing loaded"
    );
    let rejected = read_csv(&dir.path().join("o/rejected.csv"));
    assert_eq!(&rejected[1][..3], ["=1+1", "bad@", "+1 415 555 2671"]);
}

#[test]
fn rejected_csv_can_be_corrected_and_reloaded() {
    // Run 1 rejects a row; the user fixes the cell in rejected.csv and uses it as the source.
    let sb = SandboxProc::fast("loc-it");
    let dir = workdir();
    let csv = "First Name,Email,Phone\n=Ann,ann@,+1 415 555 2671\nBen,ben@example.com,\n";
    let p = pipeline(
        dir.path(),
        &sb.base_url,
        csv,
        "  invalid_values: reject_row\n",
    );
    assert_eq!(
        sb.run_pipeline(&p, &dir.path().join("o1")).status.code(),
        Some(3)
    );
    let fixed = std::fs::read_to_string(dir.path().join("o1/rejected.csv"))
        .unwrap()
        .replace("ann@,", "ann@example.com,");
    std::fs::write(dir.path().join("in.csv"), fixed).unwrap();

    let o = sb.run_pipeline(&p, &dir.path().join("o2"));

    assert_eq!(o.status.code(), Some(0));
    let ann = sb.contact_by_email("loc-it", "ann@example.com");
    assert_eq!(
        ann["firstName"], "=Ann",
        "our escape prefix is stripped on read-back"
    );
    assert_eq!(ann["phone"], "+14155552671");
}

#[test]
fn large_file_keeps_order_and_row_numbers_through_the_batched_transform() {
    // 20,000 rows (several transform batches), every 7th a duplicate of an earlier email,
    // written to a CSV sink: outcomes and exported rows stay in input order.
    let dir = workdir();
    let mut csv = String::from("First Name,Email,Phone\n");
    for i in 0..20_000 {
        let email = if i % 7 == 6 {
            format!("p{}@example.com", i - 3)
        } else {
            format!("p{i}@example.com")
        };
        csv.push_str(&format!("P{i},{email},\n"));
    }
    std::fs::write(dir.path().join("in.csv"), csv).unwrap();
    let yaml = "version: 1\nsource: {type: csv, path: in.csv}\nmapping: {firstName: First Name, email: Email}\n\
                load: {type: csv, path: out.csv, columns: mapped}\n";
    std::fs::write(dir.path().join("p.yaml"), yaml).unwrap();

    let o = run(bin()
        .args(["run", "-q", "--out"])
        .arg(dir.path().join("o"))
        .arg(dir.path().join("p.yaml")));

    assert_eq!(o.status.code(), Some(3));
    let results = read_csv(&dir.path().join("o/results.csv"));
    let rows: Vec<u64> = results[1..].iter().map(|r| r[0].parse().unwrap()).collect();
    assert_eq!(rows, (2..=20_001).collect::<Vec<u64>>());
    let dups = results[1..]
        .iter()
        .filter(|r| r[4] == "duplicate_in_file")
        .count();
    assert_eq!(dups, 20_000 / 7);
    let exported = read_csv(&dir.path().join("out.csv"));
    assert_eq!(exported[0], ["firstName", "email"]);
    let names: Vec<&str> = exported[1..].iter().map(|r| r[0].as_str()).collect();
    let want: Vec<String> = (0..20_000)
        .filter(|i| i % 7 != 6)
        .map(|i| format!("P{i}"))
        .collect();
    assert_eq!(names, want);
}

#[test]
fn dedup_merge_and_phone_key_through_the_cli() {
    let dir = workdir();
    let csv = "First Name,Email,Phone,Tags\n,ann@example.com,,vip\nBen,ben@example.com,(415) 555-2671,\nAnn,ANN@example.com,,lead\nBenji,other@example.com,415.555.2671,x\n";
    std::fs::write(dir.path().join("in.csv"), csv).unwrap();
    let yaml = "version: 1\nsource: {type: csv, path: in.csv}\n\
                mapping: {firstName: First Name, email: Email, phone: Phone, tags: Tags}\n\
                dedup: {keep: merge, phone: true}\nvalidate: {phone_default_region: US}\n\
                load: {type: csv, path: out.csv, columns: mapped}\n";
    std::fs::write(dir.path().join("p.yaml"), yaml).unwrap();

    let o = run(bin()
        .args(["run", "-q", "--out"])
        .arg(dir.path().join("o"))
        .arg(dir.path().join("p.yaml")));

    assert_eq!(o.status.code(), Some(3));
    let out = read_csv(&dir.path().join("out.csv"));
    assert_eq!(out[0], ["firstName", "email", "phone", "tags"]);
    assert_eq!(
        out[1],
        ["Ann", "ann@example.com", "", "vip, lead"],
        "blank filled, tags unioned"
    );
    assert_eq!(
        out[2],
        ["Ben", "ben@example.com", "+14155552671", "x"],
        "merged by phone"
    );
    assert_eq!(out.len(), 3);
    let rejected = read_csv(&dir.path().join("o/rejected.csv"));
    assert!(
        rejected[1][7].contains("email `ann@example.com` duplicates row 2; its values were merged"),
        "{:?}",
        rejected[1]
    );
    assert!(
        rejected[2][7].contains("phone `+14155552671` duplicates row 3"),
        "{:?}",
        rejected[2]
    );
}

#[test]
fn stops_cleanly_at_the_daily_floor() {
    let sb = SandboxProc::start("loc-it", &[FAST, &["--daily-limit", "5"]].concat());
    let dir = workdir();
    let p = pipeline(
        dir.path(),
        &sb.base_url,
        &many_rows(10),
        // Writes only (no read of the location first): the allowance is all rows.
        "load:\n  concurrency: 1\n  daily_floor: 2\n  phone_conflicts: merge\n",
    );

    let o = sb.run_pipeline(&p, &dir.path().join("o"));

    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).1.contains("reached load.daily_floor (2)"),
        "{}",
        text(&o).1
    );
    let s = summary(&dir.path().join("o"));
    assert_eq!(
        s["rows"]["created"], 3,
        "writes until the advertised allowance left reaches the floor"
    );
    assert_eq!(s["rejected_by_code"]["not_attempted"], 7);
    assert_eq!(sb.contacts("loc-it").len(), 3);
    // When to come back: 7 rows at one request each, 140 % of the sandbox's 5-a-day allowance.
    let r = &s["resume"];
    assert_eq!(r["rows_left"], 7, "{s}");
    assert_eq!(r["requests_needed"], 7, "{s}");
    assert_eq!(r["daily_share_percent"], 140.0, "{s}");
    assert!(
        r["earliest"].as_str().unwrap().ends_with("T00:00:00Z"),
        "{s}"
    );
    let out = text(&o).0;
    assert!(
        out.contains("resume: 7 rows were not sent (≈ 7 requests, 140.0 % of a day's allowance)"),
        "{out}"
    );
}

#[test]
fn journal_sends_only_changed_rows_of_an_edited_resorted_file() {
    let sb = SandboxProc::fast("loc-it");
    let dir = workdir();
    let p = pipeline(dir.path(), &sb.base_url, CSV, FAST_RETRY);
    assert_eq!(
        sb.run_pipeline(&p, &dir.path().join("o1")).status.code(),
        Some(0)
    );

    // Same contacts, re-sorted, one first name edited.
    let edited = "First Name,Email,Phone\nEd,ed@example.com,\nDiana,di@example.com,415-555-0100\nCy,,+44 20 7946 0958\nBen,ben@example.com,\nAnn,ann@example.com,(415) 555-2671\n";
    std::fs::write(dir.path().join("in.csv"), edited).unwrap();
    let o = sb.run_pipeline(&p, &dir.path().join("o2"));

    assert_eq!(o.status.code(), Some(0));
    let s = summary(&dir.path().join("o2"));
    assert_eq!(
        (
            s["rows"]["updated"].as_u64(),
            s["rows"]["unchanged"].as_u64()
        ),
        (Some(1), Some(4))
    );
    assert_eq!(
        s["requests"]["sent"], 2,
        "the read of the location, then the one write"
    );
    assert_eq!(
        sb.contact_by_email("loc-it", "di@example.com")["firstName"],
        "Diana"
    );
    assert!(
        dir.path().join(".ghl-import/journal").is_dir(),
        "the journal sits next to the pipeline"
    );
}

#[test]
fn dropped_connections_and_slow_answers_are_retried_without_duplicates() {
    // Two answers dropped mid-body, one slower than the client's timeout: every row lands once.
    let sb = SandboxProc::start(
        "loc-it",
        &[FAST, &["--fault", "dropx2@1", "--fault", "slow=2500x1@4"]].concat(),
    );
    let dir = workdir();
    let p = pipeline(dir.path(), &sb.base_url, CSV, "load:\n  concurrency: 1\n  timeout_secs: 1\n  retry:\n    base_delay_ms: 5\n    max_delay_ms: 50\n");

    let o = sb.run_pipeline(&p, &dir.path().join("o"));

    assert_eq!(o.status.code(), Some(0));
    let s = summary(&dir.path().join("o"));
    assert_eq!(s["requests"]["transport_errors"], 3);
    assert_eq!(
        s["rows"]["created"].as_u64().unwrap() + s["rows"]["updated"].as_u64().unwrap(),
        5
    );
    assert_eq!(
        sb.contacts("loc-it").len(),
        5,
        "a dropped answer's retry matched the contact it created"
    );
}

#[test]
fn a_write_that_answers_422_but_was_made_is_reported_created_in_the_same_run() {
    let sb = SandboxProc::start("loc-it", &[FAST, &["--fault", "422createdx1@2"]].concat());
    let dir = workdir();
    let p = pipeline(dir.path(), &sb.base_url, CSV, "load:\n  concurrency: 1\n");

    let o = sb.run_pipeline(&p, &dir.path().join("o1"));
    assert_eq!(o.status.code(), Some(0));
    let s = summary(&dir.path().join("o1"));
    assert_eq!(s["rows"]["created"], 5, "{s}");
    assert_eq!(s["warnings_by_code"]["created_after_error"], 1);
    assert_eq!(
        sb.stats()["requests_by_endpoint"]["GET /contacts/search/duplicate"],
        1,
        "one lookup settled it"
    );
    let results = read_csv(&dir.path().join("o1/results.csv"));
    assert!(results[2][6].contains("422"), "{:?}", results[2]);
    assert_eq!(sb.contacts("loc-it").len(), 5);
    assert_eq!(
        settled(&dir.path().join("o1")).len(),
        5,
        "rollback knows all five"
    );

    // The journal recorded it as written: the next run sends nothing.
    let o = sb.run_pipeline(&p, &dir.path().join("o2"));
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(summary(&dir.path().join("o2"))["rows"]["unchanged"], 5);
    assert_eq!(sb.contacts("loc-it").len(), 5);
}

#[test]
fn killed_three_times_then_finished_holds_each_contact_once() {
    // kill -9 at several points of the same import (journal and all), then let it finish.
    let sb = SandboxProc::start(
        "loc-it",
        &["--rate-max", "40", "--rate-interval-ms", "1000"],
    );
    let dir = workdir();
    let extra =
        "load:\n  concurrency: 4\n  rate_limit:\n    max_requests: 40\n    interval_ms: 1000\n";
    let p = pipeline(dir.path(), &sb.base_url, &many_rows(60), extra);
    for (i, at) in [2usize, 15, 35].into_iter().enumerate() {
        let mut child = sb.spawn_run(&p, &dir.path().join(format!("k{i}")));
        wait_for_contacts(&sb, "loc-it", at);
        signal(&child, "-KILL");
        child.wait().unwrap();
    }
    let o = sb.run_pipeline(&p, &dir.path().join("done"));

    assert_eq!(o.status.code(), Some(0));
    let contacts = sb.contacts("loc-it");
    let mut emails: Vec<&str> = contacts
        .iter()
        .map(|c| c["email"].as_str().unwrap())
        .collect();
    emails.sort_unstable();
    emails.dedup();
    assert_eq!((contacts.len(), emails.len()), (60, 60));
    let s = summary(&dir.path().join("done"));
    let n = |k: &str| s["rows"][k].as_u64().unwrap();
    assert_eq!(n("created") + n("updated") + n("unchanged"), 60, "{s}");
}

#[test]
fn retry_rejects_reruns_the_pipeline_on_a_corrected_rejected_csv() {
    let sb = SandboxProc::fast("loc-it");
    let dir = workdir();
    let csv = "First Name,Email,Phone\nAnn,ann@,\nBen,ben@example.com,\n";
    let p = pipeline(dir.path(), &sb.base_url, csv, "");
    assert_eq!(
        sb.run_pipeline(&p, &dir.path().join("o1")).status.code(),
        Some(3)
    );
    let rejected = dir.path().join("o1/rejected.csv");
    let fixed = std::fs::read_to_string(&rejected)
        .unwrap()
        .replace("ann@,", "ann@example.com,");
    std::fs::write(&rejected, fixed).unwrap();

    let o = run(bin()
        .args(["retry-rejects", "-q", "--out"])
        .arg(dir.path().join("o2"))
        .arg(dir.path().join("o1"))
        .env("IT_TOKEN", &sb.token));

    assert_eq!(o.status.code(), Some(0));
    let s = summary(&dir.path().join("o2"));
    assert_eq!(
        (s["rows"]["read"].as_u64(), s["rows"]["created"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(sb.contacts("loc-it").len(), 2);
    let missing = run(bin()
        .args(["retry-rejects", "-q"])
        .arg(dir.path().join("nope")));
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn rejected_xlsx_holds_the_rows_as_text_with_reasons_and_retry_rejects_reads_it_back() {
    use calamine::Reader;
    let sb = SandboxProc::fast("loc-it");
    let dir = workdir();
    let csv = "First Name,Email,Phone\n=HYPERLINK(\"http://x\"),ann@,+41 44 668 18 00\nBen,ben@example.com,\nBen again,BEN@example.com,\n";
    let p = pipeline(
        dir.path(),
        &sb.base_url,
        csv,
        // All or nothing: the row with a bad email is rejected whole, phone and all.
        "  invalid_values: reject_row\nreport:\n  rejected_format: xlsx\n",
    );
    assert_eq!(
        sb.run_pipeline(&p, &dir.path().join("o1")).status.code(),
        Some(3)
    );
    let xlsx = dir.path().join("o1/rejected.xlsx");
    let mut wb = calamine::open_workbook_auto(&xlsx).unwrap();
    let sheet = wb.worksheet_range("rejected").unwrap();
    let rows: Vec<Vec<String>> = sheet
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    assert_eq!(
        rows[0],
        [
            "First Name",
            "Email",
            "Phone",
            "_row",
            "_stage",
            "_code",
            "_message",
            "_hint",
            "_column"
        ]
    );
    assert_eq!(rows.len(), 3, "two rejects: {rows:?}");
    // Formula-looking cells are text (no formula in the sheet).
    assert_eq!(rows[1][0], "=HYPERLINK(\"http://x\")");
    assert_eq!(
        rows[1][2], "+41 44 668 18 00",
        "no CSV escape in a workbook"
    );
    let formulas = wb.worksheet_formula("rejected").unwrap();
    assert!(
        formulas.used_cells().all(|(_, _, f)| f.is_empty()),
        "no formulas"
    );
    assert_eq!(
        (rows[1][5].as_str(), rows[2][5].as_str()),
        ("invalid_email", "duplicate_in_file")
    );

    // Fixed in a spreadsheet (saved after rejected.csv): retry-rejects reads the workbook,
    // replays the fixed row and holds the duplicate back.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let mut out = rust_xlsxwriter::Workbook::new();
    let ws = out.add_worksheet();
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            let v = if r == 1 && c == 1 {
                "ann@example.com"
            } else {
                cell.as_str()
            };
            ws.write_string(r as u32, c as u16, v).unwrap();
        }
    }
    out.save(&xlsx).unwrap();
    let o = run(bin()
        .args(["retry-rejects", "-q", "--out"])
        .arg(dir.path().join("o2"))
        .arg(dir.path().join("o1"))
        .env("IT_TOKEN", &sb.token));
    assert_eq!(o.status.code(), Some(3), "{}", text(&o).1);
    let s = summary(&dir.path().join("o2"));
    assert_eq!(s["rows"]["created"], 1, "{s}");
    assert_eq!(s["rejected_by_code"]["duplicate_in_file"], 1, "{s}");
    assert!(
        s["source"].as_str().unwrap().ends_with("rejected.xlsx"),
        "{s}"
    );
    let ann = sb.contact_by_email("loc-it", "ann@example.com");
    assert_eq!(ann["firstName"], "=HYPERLINK(\"http://x\")");
}
