//! Undo is complete after any stop: every write is in rollback.jsonl before it is sent, so a
//! run killed (kill -9) or stopped (SIGTERM under a hung API, the breaker) at any point, then
//! run again, then both rolled back (newest first), leaves the location exactly as it was.

use std::path::Path;

use crate::util::*;

/// 10 people already in the location; the file updates them (a new first name and city) and
/// adds `new` others.
fn seeded(dir: &Path, extra: &[&str]) -> SandboxProc {
    let contacts: Vec<String> = (0..10)
        .map(|i| {
            format!(
                r#"{{"email": "p{i}@example.com", "firstName": "Old{i}", "city": "Oldtown",
                     "dateAdded": "2025-01-0{}T00:00:00.000Z", "dateUpdated": "2025-02-01T00:00:00.000Z"}}"#,
                i % 9 + 1
            )
        })
        .collect();
    let seed = format!(r#"{{"loc-it": {{"contacts": [{}]}}}}"#, contacts.join(","));
    let path = dir.join("seed.json");
    std::fs::write(&path, seed).unwrap();
    SandboxProc::start(
        "loc-it",
        &[extra, &["--seed", path.to_str().unwrap()]].concat(),
    )
}

/// `n` rows: the new people first, then the 10 already in the location (so that a fault that
/// starts after the first writes, however many reads come before, hits creates).
fn rows(n: usize) -> String {
    let mut csv = String::from("First Name,Email,City\n");
    for i in (10..n).chain(0..10) {
        csv.push_str(&format!("P{i},p{i}@example.com,Newtown\n"));
    }
    csv
}

/// What a person looks like in the location: every field the runs write.
fn state(sb: &SandboxProc) -> Vec<(String, String, String, String)> {
    let mut v: Vec<_> = sb
        .contacts("loc-it")
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
            (s("email"), s("firstName"), s("city"), s("phone"))
        })
        .collect();
    v.sort();
    v
}

fn rollback(sb: &SandboxProc, run_dir: &Path) -> std::process::Output {
    run(bin()
        .arg("rollback")
        .arg(run_dir)
        .env("IT_TOKEN", &sb.token))
}

/// Re-runs the pipeline to the end, then rolls back the re-run and the stopped run (newest
/// first) and checks the location is `before`.
fn rerun_and_roll_back_both(
    sb: &SandboxProc,
    p: &Path,
    stopped: &Path,
    before: &[(String, String, String, String)],
) {
    let again = stopped.with_extension("rerun");
    let o = sb.run_pipeline(p, &again);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let s = summary(&again);
    assert_eq!(s["rows"]["read"], 60);
    for dir in [&again, stopped] {
        let rb = rollback(sb, dir);
        assert_eq!(rb.status.code(), Some(0), "{}{}", text(&rb).0, text(&rb).1);
    }
    assert_eq!(
        state(sb),
        before,
        "the location is as it was before the first run"
    );
}

#[test]
fn kill_9_at_five_points_then_rolling_back_both_runs_restores_the_location() {
    for at in [11, 20, 30, 42, 55] {
        let dir = workdir();
        let sb = seeded(
            dir.path(),
            &["--rate-max", "60", "--rate-interval-ms", "1000"],
        );
        let p = pipeline_with(dir.path(), &sb.base_url, &rows(60));
        let before = state(&sb);
        let killed = dir.path().join("killed");
        kill9_after(
            bin()
                .args(["run", "-q", "--out"])
                .arg(&killed)
                .arg(&p)
                .env("IT_TOKEN", &sb.token),
            &sb,
            "loc-it",
            at,
        );
        // Whatever the kill cut short is an intent without settlement, never missing.
        let created_now = sb.contacts("loc-it").len() - 10;
        let recorded = settled(&killed)
            .iter()
            .filter(|v| v["action"] == "created")
            .count()
            + unsettled(&killed);
        assert!(
            recorded >= created_now,
            "kill at {at}: {created_now} contacts created, {recorded} writes in the manifest"
        );
        rerun_and_roll_back_both(&sb, &p, &killed, &before);
    }
}

/// A pipeline that reads the location first (the default), so updates carry previous values.
fn pipeline_with(dir: &Path, base_url: &str, csv: &str) -> std::path::PathBuf {
    csv_pipeline(
        dir,
        base_url,
        csv,
        "mapping: {firstName: First Name, email: Email, city: City}\n",
    )
}

#[test]
fn sigterm_under_a_hung_api_leaves_unknowns_that_the_rerun_and_rollback_settle() {
    let dir = workdir();
    // Four writes are applied and then hang for a minute before their answer.
    let sb = seeded(
        dir.path(),
        &[FAST, &["--fault", "slowcreated=60000x4@15"]].concat(),
    );
    let p = csv_pipeline(
        dir.path(),
        &sb.base_url,
        &rows(60),
        "mapping: {firstName: First Name, email: Email, city: City}\n\
         load:\n  timeout_secs: 120\n  rate_limit: {max_requests: 1000, interval_ms: 1000}\n",
    );
    let before = state(&sb);
    let stopped = dir.path().join("stopped");
    let child = sb.spawn_run(&p, &stopped);
    let fired = eventually(
        20,
        || sb.stats()["faults_injected"].as_u64(),
        |n| *n >= Some(4),
    );
    assert_eq!(fired, Some(4), "the faults never fired");
    signal(&child, "-TERM");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let s = summary(&stopped);
    assert_eq!(s["rejected_by_code"]["outcome_unknown"], 4, "{s}");
    assert_eq!(unsettled(&stopped), 4, "each unknown write is an intent");

    // The re-run finds what the hung writes did: the created ones are its creates, not updates.
    let again = stopped.with_extension("rerun");
    let o = sb.run_pipeline(&p, &again);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let s2 = summary(&again);
    let (created, updated) = created_updated(&s);
    let (created2, updated2) = created_updated(&s2);
    assert_eq!(
        created + created2,
        50,
        "each new person created once across the runs: {s} {s2}"
    );
    assert_eq!(
        updated + updated2,
        10,
        "the 10 people already there: {s} {s2}"
    );
    // What the hung writes created is the re-run's create, not an update.
    assert_eq!(s2["warnings_by_code"]["created_by_earlier_run"], 4, "{s2}");
    for dir in [&again, &stopped] {
        let rb = rollback(&sb, dir);
        assert_eq!(rb.status.code(), Some(0), "{}{}", text(&rb).0, text(&rb).1);
    }
    assert_eq!(state(&sb), before);
}

#[test]
fn a_breaker_stop_reports_sent_writes_unknown_and_rollback_finds_them() {
    let dir = workdir();
    // Every write is applied at once and answered 0.4 s later: the cut always finds some applied
    // and unanswered.
    let sb = SandboxProc::start(
        "loc-it",
        &[FAST, &["--fault", "slowcreated=400x100000"]].concat(),
    );
    let proxy = crate::flaky::FlakyProxy::start(&sb.base_url, 0);
    let p = csv_pipeline(
        dir.path(),
        &proxy.url,
        &rows(60),
        "mapping: {firstName: First Name, email: Email, city: City}\n\
         load:\n  timeout_secs: 2\n",
    );
    let out = dir.path().join("o");
    let child = sb.spawn_run(&p, &out);
    wait_for_contacts(&sb, "loc-it", 20);
    // The network is cut with writes in flight: applied by the API, their answers lost.
    proxy.partition(true);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let s = summary(&out);
    assert!(
        s["aborted"]
            .as_str()
            .unwrap_or_default()
            .contains("api_unavailable"),
        "{s}"
    );
    let applied = sb.contacts("loc-it").len() as u64;
    let (created, _) = created_updated(&s);
    let unknown = s["rejected_by_code"]["outcome_unknown"]
        .as_u64()
        .unwrap_or(0);
    // Every contact the API holds is reported created or unknown, never "not sent".
    assert!(created + unknown >= applied, "{applied} contacts, {s}");
    assert_eq!(unsettled(&out) as u64, unknown);
    // Rollback, once the network is back, finds every one of them.
    proxy.partition(false);
    let rb = rollback(&sb, &out);
    assert_eq!(rb.status.code(), Some(0), "{}{}", text(&rb).0, text(&rb).1);
    assert_eq!(sb.contacts("loc-it").len(), 0);
}

#[test]
fn a_422_after_a_committed_update_is_settled_as_updated() {
    let dir = workdir();
    let sb = seeded(dir.path(), &[FAST, &["--fault", "422createdx3@1"]].concat());
    let p = pipeline_with(dir.path(), &sb.base_url, &rows(10));
    let before = state(&sb);
    let out = dir.path().join("o");
    let o = sb.run_pipeline(&p, &out);
    // It used to be reported api_rejected and left out of the manifest.
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let s = summary(&out);
    assert_eq!(created_updated(&s), (0, 10), "{s}");
    assert_eq!(s["warnings_by_code"]["updated_after_error"], 3, "{s}");
    assert_eq!(settled(&out).len(), 10);
    let rb = rollback(&sb, &out);
    assert_eq!(rb.status.code(), Some(0), "{}", text(&rb).1);
    assert_eq!(state(&sb), before);
}
