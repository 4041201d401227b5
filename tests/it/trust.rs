//! Trust on every path: recovery commands act on the run's own target and journal, signals end
//! runs with complete reports, an unreachable API or a spent allowance stops a run quickly, and
//! nothing overwrites a user's file or an earlier run's reports.

use std::io::Read;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::util::*;

const SEED: &str = r#"{"loc-it": {"contacts": [
  {"email": "ann@example.com", "phone": "+14155552671", "firstName": "Ann"},
  {"email": "ben@example.com", "phone": "+14155550100", "firstName": "Ben"}
]}}"#;

/// A TCP listener on 127.0.0.1 that counts the connections it gets; with `answer: false` it
/// holds them open and never answers (a hung server).
struct Listener {
    url: String,
    connections: Arc<AtomicUsize>,
}

impl Listener {
    fn start() -> Listener {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&connections);
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for s in l.incoming().flatten() {
                count.fetch_add(1, Ordering::SeqCst);
                let mut s2 = s.try_clone().unwrap();
                // Read what comes, never answer.
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while matches!(s2.read(&mut buf), Ok(n) if n > 0) {}
                });
                held.push(s);
            }
        });
        Listener { url, connections }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// The pipeline's base URL set to `url` (the rest unchanged).
fn point_at(p: &std::path::Path, from: &str, to: &str) {
    let y = std::fs::read_to_string(p).unwrap();
    assert!(y.contains(from));
    std::fs::write(p, y.replace(from, to)).unwrap();
}

/// A fast sandbox and a pipeline loading one row (Ann) into it.
fn one_row(dir: &std::path::Path) -> (SandboxProc, std::path::PathBuf) {
    let sb = SandboxProc::fast("loc-it");
    let p = pipeline(
        dir,
        &sb.base_url,
        "First Name,Email,Phone\nAnn,ann@example.com,\n",
        "",
    );
    (sb, p)
}

fn emails(sb: &SandboxProc) -> Vec<String> {
    let mut v: Vec<String> = sb
        .contacts("loc-it")
        .iter()
        .map(|c| c["email"].as_str().unwrap_or_default().to_owned())
        .collect();
    v.sort();
    v
}

/// (email, firstName, phone) of every contact, sorted: the state rollback must restore.
fn state(sb: &SandboxProc) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = sb
        .contacts("loc-it")
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
            (s("email"), s("firstName"), s("phone"))
        })
        .collect();
    v.sort();
    v
}

/// Waits (up to 10 s) until the sandbox statistic at `path` is `n`.
fn wait_for_stat(sb: &SandboxProc, path: &[&str], n: u64) {
    let started = Instant::now();
    loop {
        let stats = sb.stats();
        let v = path.iter().fold(&stats, |v, k| &v[*k]);
        if v.as_u64() == Some(n) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{path:?} never reached {n}: {stats}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn rollback(sb: &SandboxProc, run_dir: &std::path::Path, extra: &[&str]) -> std::process::Output {
    run(bin()
        .arg("rollback")
        .args(extra)
        .arg(run_dir)
        .env("IT_TOKEN", &sb.token))
}

#[test]
fn sigterm_and_sigint_stop_with_complete_reports_and_a_rerun_loads_each_contact_once() {
    for (sig, at) in [("-TERM", 12), ("-TERM", 36), ("-INT", 12)] {
        let sb = SandboxProc::start(
            "loc-it",
            &["--rate-max", "20", "--rate-interval-ms", "1000"],
        );
        let dir = workdir();
        let extra = "load:\n  rate_limit:\n    max_requests: 20\n    interval_ms: 1000\n";
        let p = pipeline(dir.path(), &sb.base_url, &many_rows(60), extra);
        let out = dir.path().join("o");
        let child = sb.spawn_run(&p, &out);
        wait_for_contacts(&sb, "loc-it", at);
        signal(&child, sig);
        let status = child.wait_with_output().unwrap().status;

        assert_eq!(status.code(), Some(1), "{sig} at {at}");
        let s = summary(&out);
        let name = if sig == "-TERM" { "SIGTERM" } else { "SIGINT" };
        assert!(
            s["aborted"].as_str().unwrap().contains(name),
            "{sig}: {}",
            s["aborted"]
        );
        assert_eq!(s["rows"]["read"], 60);
        let created = s["rows"]["created"].as_u64().unwrap();
        assert!(created >= at as u64 && created < 60, "{sig} at {at}: {s}");
        assert_eq!(
            s["rejected_by_code"]["not_attempted"].as_u64().unwrap(),
            60 - created,
            "every row accounted for"
        );
        assert_eq!(
            read_csv(&out.join("results.csv")).len(),
            61,
            "results.csv: a line per row"
        );
        assert_eq!(settled(&out).len() as u64, created);
        assert_eq!(sb.contacts("loc-it").len() as u64, created);

        // The re-run loads the rest, each contact exactly once.
        let again = sb.run_pipeline(&p, &dir.path().join("o2"));
        assert_eq!(again.status.code(), Some(0));
        let all = emails(&sb);
        let mut unique = all.clone();
        unique.dedup();
        assert_eq!((all.len(), unique.len()), (60, 60), "{sig} at {at}");
    }
}

#[test]
fn rollback_of_a_sandbox_run_reaches_no_other_host() {
    let dir = workdir();
    let listener = Listener::start();
    let p = pipeline(
        dir.path(),
        &listener.url,
        "First Name,Email,Phone\nAnn,ann@example.com,\n",
        "",
    );
    let out = dir.path().join("o");
    let r = run(bin()
        .args(["run", "-q", "--sandbox", "--out"])
        .arg(&out)
        .arg(&p));
    assert_eq!(r.status.code(), Some(0));

    let rb = run(bin()
        .arg("rollback")
        .arg(&out)
        .env("IT_TOKEN", "a-real-token-that-must-stay-home"));
    assert_eq!(rb.status.code(), Some(2), "refused");
    assert!(text(&rb).1.contains("embedded sandbox"), "{}", text(&rb).1);

    // retry-rejects of a sandbox run stays in a sandbox.
    let retry = run(bin()
        .args(["retry-rejects", "-q", "--out"])
        .arg(dir.path().join("o2"))
        .arg(&out)
        .env("IT_TOKEN", "a-real-token-that-must-stay-home"));
    assert_eq!(retry.status.code(), Some(0), "nothing to retry");
    assert_eq!(summary(&dir.path().join("o2"))["sandbox"], true);
    assert_eq!(listener.connections(), 0, "the pipeline's host got nothing");
}

#[test]
fn rollback_refuses_a_pipeline_that_now_targets_another_host() {
    let dir = workdir();
    let (sb, p) = one_row(dir.path());
    assert_eq!(
        sb.run_pipeline(&p, &dir.path().join("o")).status.code(),
        Some(0)
    );
    let listener = Listener::start();
    point_at(&p, &sb.base_url, &listener.url);

    let rb = rollback(&sb, &dir.path().join("o"), &[]);
    assert_eq!(rb.status.code(), Some(2));
    let e = text(&rb).1;
    assert!(e.contains(&sb.base_url) && e.contains(&listener.url), "{e}");
    assert_eq!(listener.connections(), 0);
    assert_eq!(sb.contacts("loc-it").len(), 1, "nothing deleted");
}

#[test]
fn rollback_then_rerun_restores_the_original_state_and_a_second_rollback_does_nothing() {
    let dir = workdir();
    let sb = SandboxProc::seeded("loc-it", dir.path(), SEED);
    let csv = "First Name,Email,Phone\nCy,cy@example.com,\nAnnie,ann@example.com,\nDi,di@example.com,\nBenjamin,ben@example.com,\n";
    let p = pipeline(dir.path(), &sb.base_url, csv, "load:\n  mode: sync\n");
    let original = state(&sb);

    let o = sb.run_pipeline(&p, &dir.path().join("o"));
    assert_eq!(o.status.code(), Some(0));
    let s = summary(&dir.path().join("o"));
    assert_eq!(created_updated(&s), (2, 2));

    let rb = rollback(&sb, &dir.path().join("o"), &[]);
    assert_eq!(rb.status.code(), Some(0));
    assert!(
        text(&rb)
            .0
            .contains("2 created contacts deleted, 2 updated contacts restored"),
        "{}",
        text(&rb).0
    );
    assert_eq!(state(&sb), original, "exactly the state before the run");

    let requests = sb.stats()["requests"].clone();
    let again = rollback(&sb, &dir.path().join("o"), &[]);
    assert_eq!(again.status.code(), Some(0), "a second rollback is a no-op");
    assert!(
        text(&again).0.contains("already rolled back"),
        "{}",
        text(&again).0
    );
    assert_eq!(sb.stats()["requests"], requests, "and sends nothing");

    // The journal forgot the rolled-back rows: a re-run writes them again.
    let rerun = sb.run_pipeline(&p, &dir.path().join("o2"));
    assert_eq!(rerun.status.code(), Some(0));
    let s2 = summary(&dir.path().join("o2"));
    assert_eq!(created_updated(&s2), (2, 2));
    assert_eq!(sb.contacts("loc-it").len(), 4);
}

#[test]
fn rollback_without_previous_values_refuses_or_deletes_only_what_was_created() {
    let dir = workdir();
    let sb = SandboxProc::seeded("loc-it", dir.path(), SEED);
    let csv = "First Name,Email,Phone\nCy,cy@example.com,\nAnnie,ann@example.com,\n";
    // Plain upserts that never read the location (phone conflicts merged): no previous values.
    let p = pipeline(
        dir.path(),
        &sb.base_url,
        csv,
        "load:\n  phone_conflicts: merge\n",
    );
    assert_eq!(
        sb.run_pipeline(&p, &dir.path().join("o")).status.code(),
        Some(0)
    );
    let requests = sb.stats()["requests"].clone();

    let rb = rollback(&sb, &dir.path().join("o"), &[]);
    assert_eq!(rb.status.code(), Some(2));
    assert!(text(&rb).1.contains("--created-only"), "{}", text(&rb).1);
    assert_eq!(sb.stats()["requests"], requests, "nothing sent");

    let c = rollback(&sb, &dir.path().join("o"), &["--created-only"]);
    assert_eq!(c.status.code(), Some(0));
    assert!(
        text(&c).0.contains("1 created contacts deleted"),
        "{}",
        text(&c).0
    );
    assert_eq!(emails(&sb), ["ann@example.com", "ben@example.com"]);
}

#[test]
fn retry_rejects_never_replays_a_duplicate_over_the_kept_contact() {
    let dir = workdir();
    let sb = SandboxProc::fast("loc-it");
    let csv = "First Name,Email,Phone\nBen,ben@example.com,\nBenedict,ben@example.com,415-555-0100\nbad,not-an-email,\n";
    let p = pipeline(dir.path(), &sb.base_url, csv, "");
    let o = sb.run_pipeline(&p, &dir.path().join("o"));
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(
        summary(&dir.path().join("o"))["rejected_by_code"]["duplicate_in_file"],
        1
    );

    let retry = |out: &str, extra: &[&str]| {
        run(bin()
            .args(["retry-rejects", "-q"])
            .args(extra)
            .arg("--out")
            .arg(dir.path().join(out))
            .arg(dir.path().join("o"))
            .env("IT_TOKEN", &sb.token))
    };
    let r = retry("r1", &[]);
    assert_eq!(
        r.status.code(),
        Some(4),
        "both rows rejected again: nothing loaded"
    );
    let s = summary(&dir.path().join("r1"));
    assert_eq!(
        s["rejected_by_code"]["duplicate_in_file"], 1,
        "held back again"
    );
    assert_eq!(s["rows"]["read"], 2);
    let ben = sb.contact_by_email("loc-it", "ben@example.com");
    assert_eq!(ben["firstName"], "Ben", "the kept contact is untouched");
    assert!(ben["phone"].is_null() || ben["phone"] == "", "{ben}");

    // Asked for, the duplicate is merged: only what the kept contact lacks is filled.
    let m = retry("r2", &["--include", "duplicates"]);
    assert_eq!(m.status.code(), Some(3), "the bad email is still bad");
    let ben = sb.contact_by_email("loc-it", "ben@example.com");
    assert_eq!(ben["firstName"], "Ben", "not overwritten");
    assert_eq!(ben["phone"], "+14155550100", "filled");
    assert_eq!(sb.contacts("loc-it").len(), 1);
}

#[test]
fn an_out_folder_holding_a_run_is_refused_unless_forced_and_reports_are_private() {
    let dir = workdir();
    let (sb, p) = one_row(dir.path());
    let out = dir.path().join("o");
    assert_eq!(sb.run_pipeline(&p, &out).status.code(), Some(0));
    let manifest = std::fs::read(out.join("rollback.jsonl")).unwrap();

    let again = sb.run_pipeline(&p, &out);
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again).1.contains("--force"), "{}", text(&again).1);
    assert_eq!(
        std::fs::read(out.join("rollback.jsonl")).unwrap(),
        manifest,
        "the earlier manifest is intact"
    );
    assert_eq!(sb.run_with(&p, &out, &["--force"]).status.code(), Some(0));

    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&out), 0o700);
    for f in [
        "summary.json",
        "results.csv",
        "rejected.csv",
        "rollback.jsonl",
        "run.json",
    ] {
        assert_eq!(mode(&out.join(f)), 0o600, "{f}");
    }
    let journal_dir = dir.path().join(".ghl-import/journal");
    assert_eq!(mode(&journal_dir), 0o700);
    for e in std::fs::read_dir(&journal_dir).unwrap() {
        let e = e.unwrap().path();
        assert_eq!(mode(&e), 0o600, "{}", e.display());
    }
}

#[test]
fn a_refused_port_and_a_silent_server_stop_the_run_within_seconds() {
    let dir = workdir();
    // A port nobody listens on: bind, note it, close.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let silent = Listener::start();
    for url in [closed, silent.url.clone()] {
        let p = pipeline(dir.path(), &url, &many_rows(30), "");
        let out = dir
            .path()
            .join(format!("o-{}", url.rsplit(':').next().unwrap()));
        let started = Instant::now();
        let r = run(bin()
            .args(["run", "-q", "--out"])
            .arg(&out)
            .arg(&p)
            .env("IT_TOKEN", "t"));
        let took = started.elapsed();
        assert_eq!(r.status.code(), Some(1), "{url}");
        // A silent server costs one request timeout (15 s) and a probe (3 s): the read of the
        // location times out, the probe of the API's root gets no answer, the breaker opens.
        // (It used to take two timeouts, 31 s.)
        let limit = if url == silent.url { 20 } else { 5 };
        assert!(took < Duration::from_secs(limit), "{url}: {took:?}");
        let s = summary(&out);
        assert!(
            s["aborted"].as_str().unwrap().contains("api_unavailable"),
            "{}",
            s["aborted"]
        );
        assert_eq!(s["rows"]["read"], 30);
        assert_eq!(s["rows"]["rejected"], 30, "every row accounted for: {s}");
        let (sent, retries) = (
            s["requests"]["sent"].as_u64(),
            s["requests"]["retries"].as_u64(),
        );
        assert!(
            sent.unwrap() <= 8,
            "stopped instead of retrying every row: {s}"
        );
        assert!(retries < sent, "a retry is counted when it is sent: {s}");
    }
    assert!(silent.connections() > 0);
}

#[test]
fn a_spent_daily_allowance_stops_the_run_whatever_the_floor() {
    let dir = workdir();
    let sb = SandboxProc::start("loc-it", &[FAST, &["--daily-limit", "10"]].concat());
    // Writes only (no read of the location first), so that the allowance is 10 rows.
    let p = pipeline(
        dir.path(),
        &sb.base_url,
        &many_rows(30),
        "load:\n  phone_conflicts: merge\n",
    );
    let started = Instant::now();
    let o = sb.run_pipeline(&p, &dir.path().join("o"));
    assert_eq!(o.status.code(), Some(1));
    assert!(started.elapsed() < Duration::from_secs(10));
    let s = summary(&dir.path().join("o"));
    assert_eq!(s["rows"]["created"], 10);
    assert_eq!(s["rejected_by_code"]["not_attempted"], 20);
    // Not one request beyond the allowance, whatever order the server counted them in.
    assert_eq!(s["requests"]["rate_limited_429"], 0, "{s}");
    assert_eq!(s["requests"]["sent"], 10, "{s}");
    assert_eq!(s["resume"]["rows_left"], 20);
    assert!(s["aborted"].as_str().unwrap().contains("daily"), "{s}");
}

#[test]
fn a_long_run_of_429s_is_waited_out_not_turned_into_rejects() {
    let dir = workdir();
    let sb = SandboxProc::start("loc-it", &[FAST, &["--fault", "429x50@3"]].concat());
    let p = pipeline(
        dir.path(),
        &sb.base_url,
        &many_rows(12),
        "load:\n  retry: {base_delay_ms: 20, max_delay_ms: 200}\n",
    );
    let o = sb.run_pipeline(&p, &dir.path().join("o"));
    assert_eq!(o.status.code(), Some(0));
    let s = summary(&dir.path().join("o"));
    assert_eq!(s["rows"]["created"], 12);
    assert_eq!(s["requests"]["rate_limited_429"], 50);
}

#[test]
fn post_commit_faults_still_report_and_record_every_create_so_rollback_leaves_nothing() {
    let dir = workdir();
    // 40 rows; about 15 % of the writes fail after the server made them: a 500, dropped
    // connections, a timeout, and 422s that created the contact anyway.
    let faults = [
        "500createdx1@3",
        "dropcreatedx1@9",
        "422createdx1@15",
        "slowcreated=2500x1@21",
        "dropcreatedx1@27",
        "422createdx1@33",
    ];
    let mut args: Vec<&str> = FAST.to_vec();
    for f in &faults {
        args.extend(["--fault", f]);
    }
    let sb = SandboxProc::start("loc-it", &args);
    let p = pipeline(
        dir.path(),
        &sb.base_url,
        &many_rows(40),
        "load:\n  timeout_secs: 1\n  retry: {base_delay_ms: 10, max_delay_ms: 50}\n  rate_limit: {max_requests: 1000, interval_ms: 1000}\n",
    );
    let o = sb.run_pipeline(&p, &dir.path().join("o"));
    assert_eq!(o.status.code(), Some(0), "no row is lost to a fault");
    assert_eq!(sb.stats()["faults_injected"], 6);
    let s = summary(&dir.path().join("o"));
    assert_eq!(s["rows"]["created"], 40, "{s}");
    assert_eq!(s["rows"]["updated"], 0);
    // A fault can hit a retry of a row that already met one: one warning for both.
    let after_error = s["warnings_by_code"]["created_after_error"]
        .as_u64()
        .unwrap();
    assert!((4..=6).contains(&after_error), "{s}");
    assert_eq!(settled(&dir.path().join("o")).len(), 40);
    assert_eq!(unsettled(&dir.path().join("o")), 0, "every write settled");
    assert_eq!(sb.contacts("loc-it").len(), 40);

    let rb = rollback(&sb, &dir.path().join("o"), &[]);
    assert_eq!(rb.status.code(), Some(0));
    assert!(
        text(&rb).0.contains("40 created contacts deleted"),
        "{}",
        text(&rb).0
    );
    assert!(sb.contacts("loc-it").is_empty(), "nothing left behind");
}

/// A pipeline that cleans `in.csv` into the CSV file `dest` (no API).
fn cleaning_pipeline(
    dir: &std::path::Path,
    csv: &str,
    dest: &str,
    extra: &str,
) -> std::path::PathBuf {
    std::fs::write(dir.join("in.csv"), csv).unwrap();
    let p = dir.join("clean.yaml");
    std::fs::write(
        &p,
        format!(
            "version: 1\nsource: {{type: csv, path: in.csv}}\n\
             mapping: {{firstName: First Name, email: Email, companyName: Company}}\n\
             load: {{type: csv, path: {dest}, columns: mapped{extra}}}\n"
        ),
    )
    .unwrap();
    p
}

fn clean(p: &std::path::Path, out: &std::path::Path) -> std::process::Output {
    run(bin().args(["run", "-q", "--out"]).arg(out).arg(p))
}

#[test]
fn the_csv_sink_never_destroys_a_file() {
    let dir = workdir();
    let d = dir.path();
    let csv = "First Name,Email,Company\nAnn,ann@example.com,\"=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"\nBo,not-an-email,\nCy,cy@example.com,|cmd\n";

    // Its own source: refused, the input intact.
    let p = cleaning_pipeline(d, csv, "in.csv", "");
    let o = clean(&p, &d.join("o0"));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).1.contains("overwrite what it reads"),
        "{}",
        text(&o).1
    );
    assert_eq!(std::fs::read_to_string(d.join("in.csv")).unwrap(), csv);

    // A first export; formulas from the data are escaped like in the reports.
    let p = cleaning_pipeline(d, csv, "clean.csv", "");
    assert_eq!(clean(&p, &d.join("o1")).status.code(), Some(3));
    let first = std::fs::read_to_string(d.join("clean.csv")).unwrap();
    let rows = read_csv(&d.join("clean.csv"));
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(rows[1][2], "'=HYPERLINK(\"http://x\",\"y\")");
    assert_eq!(rows[2][2], "'|cmd");

    // By default an existing file is refused before anything is read.
    let o = clean(&p, &d.join("o2"));
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("if_exists"), "{}", text(&o).1);
    assert_eq!(std::fs::read_to_string(d.join("clean.csv")).unwrap(), first);

    // new_file: one file per run beside it.
    let p = cleaning_pipeline(
        d,
        "First Name,Email,Company\nDi,di@example.com,\n",
        "clean.csv",
        ", if_exists: new_file",
    );
    assert_eq!(clean(&p, &d.join("o3")).status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(d.join("clean.csv")).unwrap(), first);
    let stamped: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("clean-") && n.ends_with(".csv"))
        .collect();
    assert_eq!(stamped.len(), 1, "{stamped:?}");

    // merge by email: Ann updated, Cy kept, Di added; nothing dropped.
    let p = cleaning_pipeline(
        d,
        "First Name,Email,Company\nAnnie,ann@example.com,Acme\nDi,di@example.com,\n",
        "clean.csv",
        ", if_exists: merge",
    );
    assert_eq!(clean(&p, &d.join("o4")).status.code(), Some(0));
    let rows = read_csv(&d.join("clean.csv"));
    let names: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names, ["Annie", "Cy", "Di"]);
}

#[test]
fn sigterm_while_the_location_is_read_reports_every_row_not_attempted() {
    let dir = workdir();
    let sb = SandboxProc::start("loc-it", &[FAST, &["--fault", "slow=20000x1"]].concat());
    let p = pipeline(
        dir.path(),
        &sb.base_url,
        &many_rows(8),
        "load:\n  mode: sync\n",
    );
    let out = dir.path().join("o");
    let started = Instant::now();
    let child = sb.spawn_run(&p, &out);
    // The planning read is held for 20 s by the sandbox.
    wait_for_stat(&sb, &["requests_by_endpoint", "POST /contacts/search"], 1);
    signal(&child, "-TERM");
    let status = child.wait_with_output().unwrap().status;
    assert_eq!(status.code(), Some(1));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "did not wait for the read"
    );
    let s = summary(&out);
    assert_eq!(s["rows"]["read"], 8);
    assert_eq!(s["rejected_by_code"]["not_attempted"], 8);
    assert!(sb.contacts("loc-it").is_empty());
}

#[test]
fn a_request_still_unanswered_after_the_grace_period_is_reported_outcome_unknown() {
    let dir = workdir();
    // The third request hangs for 60 s; the others are answered at once.
    let sb = SandboxProc::start("loc-it", &[FAST, &["--fault", "slow=60000x1@2"]].concat());
    let p = pipeline(
        dir.path(),
        &sb.base_url,
        &many_rows(20),
        "load:\n  timeout_secs: 120\n  rate_limit: {max_requests: 1000, interval_ms: 1000}\n",
    );
    let out = dir.path().join("o");
    let child = sb.spawn_run(&p, &out);
    wait_for_stat(&sb, &["faults_injected"], 1);
    signal(&child, "-TERM");
    let signalled = Instant::now();
    let status = child.wait_with_output().unwrap().status;
    let took = signalled.elapsed();
    assert_eq!(status.code(), Some(1));
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(20),
        "abandoned after the 10 s grace period: {took:?}"
    );
    let s = summary(&out);
    assert_eq!(s["rows"]["read"], 20);
    assert_eq!(s["rejected_by_code"]["outcome_unknown"], 1, "{s}");
    let created = s["rows"]["created"].as_u64().unwrap();
    assert_eq!(
        created + s["rejected_by_code"]["not_attempted"].as_u64().unwrap_or(0) + 1,
        20
    );
}

#[test]
fn thousands_of_blank_records_are_skipped_without_a_crash() {
    // Excel's CSV exports often end in thousands of `,,` lines: once a stack overflow (exit 134).
    let dir = workdir();
    let sb = SandboxProc::fast("loc-it");
    let mut csv =
        String::from("First Name,Email,Phone\nAnn,ann@example.com,\nBen,ben@example.com,\n");
    csv.push_str(&",,\n".repeat(50_000));
    let p = pipeline(dir.path(), &sb.base_url, &csv, "");
    let o = sb.run_pipeline(&p, &dir.path().join("o"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let s = summary(&dir.path().join("o"));
    assert_eq!(
        (s["rows"]["created"].as_u64(), s["blank_records"].as_u64()),
        (Some(2), Some(50_000))
    );
}

#[test]
fn a_fifo_a_device_or_a_folder_as_source_is_a_clear_error_not_a_hang() {
    let dir = workdir();
    let fifo = dir.path().join("in.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    for (path, what) in [
        (fifo.display().to_string(), "named pipe"),
        ("/dev/zero".to_owned(), "a device"),
        (dir.path().display().to_string(), "a folder"),
    ] {
        let yaml = dir.path().join("p.yaml");
        std::fs::write(
            &yaml,
            format!(
                "version: 1\nsource: {{type: csv, path: \"{path}\"}}\ntarget: {{location_id: loc-it, auth: {{token_env: IT_TOKEN}}}}\n\
                 mapping: {{email: Email}}\n"
            ),
        )
        .unwrap();
        // Exit 2 with the reason, at once (it used to block on the FIFO and read /dev/zero forever).
        for args in [&["validate"][..], &["run", "--sandbox", "-q"]] {
            let o = run(bin().args(args).arg(&yaml));
            let (out, err) = text(&o);
            assert_eq!(o.status.code(), Some(2), "{args:?} {path}: {out}{err}");
            assert!(
                format!("{out}{err}").contains(what),
                "{args:?} {path}: {out}{err}"
            );
        }
        let o = run(bin()
            .arg("init")
            .arg(&path)
            .arg("-o")
            .arg(dir.path().join("i.yaml")));
        assert_eq!(o.status.code(), Some(2), "init {path}: {}", text(&o).1);
    }
}

#[test]
fn contacts_deleted_since_are_already_undone_and_rollback_converges() {
    let dir = workdir();
    let sb = SandboxProc::seeded("loc-it", dir.path(), SEED);
    let csv =
        "First Name,Email,Phone\nCy,cy@example.com,\nAnnie,ann@example.com,\nDi,di@example.com,\n";
    let p = pipeline(dir.path(), &sb.base_url, csv, "load:\n  mode: sync\n");
    let o = sb.run_pipeline(&p, &dir.path().join("o"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    assert_eq!(created_updated(&summary(&dir.path().join("o"))), (2, 1));
    // Someone deletes a created contact and the updated one in GHL before the undo.
    let auth = format!("Bearer {}", sb.token);
    for email in ["cy@example.com", "ann@example.com"] {
        let id = sb.contact_by_email("loc-it", email)["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (status, _) = sb.raw(
            "DELETE",
            &format!("/contacts/{id}"),
            &[("Authorization", &auth), ("Version", "2021-07-28")],
            "",
        );
        assert_eq!(status, 200);
    }
    let rb = rollback(&sb, &dir.path().join("o"), &[]);
    assert_eq!(
        rb.status.code(),
        Some(0),
        "gone is undone, not a failure: {}",
        text(&rb).0
    );
    assert!(
        text(&rb)
            .0
            .contains("1 created contacts deleted, 2 contacts were already gone"),
        "{}",
        text(&rb).0
    );
    let again = rollback(&sb, &dir.path().join("o"), &[]);
    assert_eq!(again.status.code(), Some(0));
    assert!(
        text(&again).0.contains("already rolled back"),
        "{}",
        text(&again).0
    );
}

#[test]
fn rollback_and_retry_rejects_take_the_lease_in_the_state_folder_the_runs_use() {
    let dir = workdir();
    let sb = SandboxProc::start("loc-it", &["--rate-max", "5", "--rate-interval-ms", "1000"]);
    let state = dir.path().join("state");
    let state_arg = state.to_str().unwrap();
    let first = dir.path().join("first");
    std::fs::create_dir_all(&first).unwrap();
    let p1 = pipeline(
        &first,
        &sb.base_url,
        "First Name,Email,Phone\nAnn,ann@example.com,\nbad,x@,\n",
        "",
    );
    let o = sb.run_with(&p1, &dir.path().join("o1"), &["--state-dir", state_arg]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o).1);

    // A long run into the same location, from another folder, with the same state folder.
    let second = dir.path().join("second");
    std::fs::create_dir_all(&second).unwrap();
    let p2 = pipeline(&second, &sb.base_url, &many_rows(60), "");
    let mut child = bin()
        .args(["run", "-q", "--state-dir", state_arg, "--out"])
        .arg(dir.path().join("o2"))
        .arg(&p2)
        .env("IT_TOKEN", &sb.token)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for_contacts(&sb, "loc-it", 4);

    let rb = run(bin()
        .args(["rollback", "--state-dir", state_arg])
        .arg(dir.path().join("o1"))
        .env("IT_TOKEN", &sb.token));
    let retry = run(bin()
        .args(["retry-rejects", "-q", "--state-dir", state_arg, "--out"])
        .arg(dir.path().join("r"))
        .arg(dir.path().join("o1"))
        .env("IT_TOKEN", &sb.token));
    let _ = child.kill();
    let _ = child.wait();
    for (what, o) in [("rollback", &rb), ("retry-rejects", &retry)] {
        let (out, err) = text(o);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{what} refuses while the run writes: {out}{err}"
        );
        assert!(
            format!("{out}{err}").contains("location loc-it is busy"),
            "{what}: {out}{err}"
        );
    }
    assert!(
        sb.contact_by_email("loc-it", "ann@example.com").is_object(),
        "the refused rollback deleted nothing"
    );
}

#[test]
fn retry_rejects_keeps_an_unfixed_ragged_row_rejected_under_its_source_row_number() {
    let dir = workdir();
    let sb = SandboxProc::fast("loc-it");
    // Row 3 lacks its phone cell: padded in rejected.csv, its cells would load shifted.
    let csv = "First Name,Email,Phone,Company\nAnn,ann@example.com,,Acme\nBen,ben@example.com,Initech\nCy,,,\n";
    let p = pipeline(dir.path(), &sb.base_url, csv, "");
    let o = sb.run_pipeline(&p, &dir.path().join("o"));
    assert_eq!(o.status.code(), Some(3), "{}", text(&o).1);
    let retry = |out: &str| {
        run(bin()
            .args(["retry-rejects", "-q", "--out"])
            .arg(dir.path().join(out))
            .arg(dir.path().join("o"))
            .env("IT_TOKEN", &sb.token))
    };
    let r = retry("r1");
    assert_eq!(
        r.status.code(),
        Some(4),
        "nothing fixed, nothing loaded: {}",
        text(&r).1
    );
    let results = read_csv(&dir.path().join("r1/results.csv"));
    let got: Vec<(&str, &str)> = results[1..]
        .iter()
        .map(|r| (r[0].as_str(), r[4].as_str()))
        .collect();
    assert_eq!(
        got,
        [("3", "malformed_row"), ("4", "missing_contact_key")],
        "source row numbers"
    );
    assert!(sb
        .contacts("loc-it")
        .iter()
        .all(|c| c["email"] != "ben@example.com"));

    // Fixed (the company moved to its column), it loads.
    let path = dir.path().join("o/rejected.csv");
    let fixed = std::fs::read_to_string(&path).unwrap().replace(
        "Ben,ben@example.com,Initech,",
        "Ben,ben@example.com,,Initech",
    );
    std::fs::write(&path, fixed).unwrap();
    let r = retry("r2");
    assert_eq!(r.status.code(), Some(3), "{}", text(&r).1);
    assert_eq!(
        sb.contact_by_email("loc-it", "ben@example.com")["firstName"],
        "Ben",
        "loaded once fixed"
    );
}
