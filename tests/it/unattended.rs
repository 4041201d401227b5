//! Unattended operation (issue 13): one writer per location, whoever starts the runs.

use crate::util::*;

/// A second pipeline `b.yaml` beside `p` (same folder, so the same state folder and leases),
/// loading `csv` into the same location with `extra` settings.
fn second_pipeline(p: &std::path::Path, csv: &str, extra: &str) -> std::path::PathBuf {
    let dir = p.parent().unwrap();
    std::fs::write(dir.join("in2.csv"), csv).unwrap();
    let yaml = std::fs::read_to_string(p)
        .unwrap()
        .replace("path: in.csv", "path: in2.csv")
        + extra;
    let b = dir.join("b.yaml");
    std::fs::write(&b, yaml).unwrap();
    b
}

fn other_rows(n: usize) -> String {
    many_rows(n).replace(",p", ",q").replace("\nP", "\nQ")
}

/// A sandbox at 10 requests a second; a first run of `rows` rows into `loc-it` under way (it has
/// written); and a second pipeline `b.yaml` of 5 other rows into the same location, with `extra`
/// load settings.
fn second_run_while_first_writes(
    rows: usize,
    extra: &str,
) -> (
    SandboxProc,
    tempfile::TempDir,
    std::process::Child,
    std::path::PathBuf,
) {
    let sb = SandboxProc::start(
        "loc-it",
        &["--rate-max", "10", "--rate-interval-ms", "1000"],
    );
    let dir = workdir();
    let a = pipeline(
        dir.path(),
        &sb.base_url,
        &many_rows(rows),
        "load:\n  phone_conflicts: merge\n",
    );
    let b = second_pipeline(&a, &other_rows(5), extra);
    let first = sb.spawn_run(&a, &dir.path().join("oa"));
    wait_for_contacts(&sb, "loc-it", 2);
    (sb, dir, first, b)
}

#[test]
fn a_run_on_a_location_another_run_is_writing_to_says_who_and_does_not_start() {
    // 10 requests a second: the first run's 40 rows take about 4 s.
    let (sb, dir, mut first, b) = second_run_while_first_writes(40, "");

    let o = sb.run_pipeline(&b, &dir.path().join("ob"));

    assert_eq!(o.status.code(), Some(1));
    let err = text(&o).1;
    assert!(err.contains("location loc-it is busy"), "{err}");
    assert!(err.contains(&format!("(pid {})", first.id())), "{err}");
    assert!(err.contains("p.yaml"), "{err}");
    assert!(err.contains("load.on_busy: wait"), "{err}");
    assert!(
        !dir.path().join("ob").exists(),
        "nothing started, no reports"
    );
    assert_eq!(first.wait().unwrap().code(), Some(0));
    assert!(
        sb.contacts("loc-it")
            .iter()
            .all(|c| c["email"].as_str().unwrap().starts_with('p')),
        "the second run wrote nothing"
    );
    // Once the first has ended, the location is free again.
    assert_eq!(
        sb.run_pipeline(&b, &dir.path().join("ob2")).status.code(),
        Some(0)
    );
    assert_eq!(sb.contacts("loc-it").len(), 45);
}

#[test]
fn with_on_busy_wait_the_second_run_writes_after_the_first_and_a_killed_holder_frees_it() {
    let (sb, dir, mut first, b) = second_run_while_first_writes(30, "  on_busy: wait\n");
    let o = sb.run_pipeline(&b, &dir.path().join("ob"));
    let first_status = first.wait().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    assert!(
        text(&o).1.contains("waiting for location loc-it"),
        "{}",
        text(&o).1
    );
    assert_eq!(first_status.code(), Some(0));
    // Writes never interleaved: the second run's contacts come after all of the first's.
    let emails: Vec<String> = sb
        .contacts("loc-it")
        .iter()
        .map(|c| c["email"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(emails.len(), 35);
    let first_q = emails.iter().position(|e| e.starts_with('q')).unwrap();
    assert_eq!(first_q, 30, "{emails:?}");

    // kill -9 of a holder: the OS releases its lock; the next run does not wait.
    let c = pipeline(
        dir.path(),
        &sb.base_url,
        &other_rows(30).replace(",q", ",r"),
        "",
    );
    let mut killed = sb.spawn_run(&c, &dir.path().join("oc"));
    wait_for_contacts(&sb, "loc-it", 37);
    signal(&killed, "-9");
    let _ = killed.wait();
    let started = std::time::Instant::now();
    let o = sb.run_pipeline(&b, &dir.path().join("ob2"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    assert!(
        !text(&o).1.contains("waiting for location"),
        "{}",
        text(&o).1
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn runs_lists_the_history_with_the_counts_of_each_run() {
    let sb = SandboxProc::fast("loc-it");
    let dir = workdir();
    let csv =
        "First Name,Email,Phone\nAnn,ann@example.com,\nBen,not-an-email,\nCy,cy@example.com,\n";
    let p = pipeline(dir.path(), &sb.base_url, csv, "");
    assert_eq!(
        sb.run_pipeline(&p, &dir.path().join("o1")).status.code(),
        Some(3)
    );
    assert_eq!(
        sb.run_with(&p, &dir.path().join("o2"), &["--dry-run"])
            .status
            .code(),
        Some(3)
    );
    // A run killed before its end stays unfinished.
    let big = pipeline(dir.path(), &sb.base_url, &many_rows(400), "");
    let mut killed = sb.spawn_run(&big, &dir.path().join("o3"));
    wait_for_contacts(&sb, "loc-it", 5);
    signal(&killed, "-9");
    let _ = killed.wait();

    let o = run(bin()
        .args(["runs", "--format", "json", "--pipeline"])
        .arg(&p));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let v: serde_json::Value = serde_json::from_str(&text(&o).0).unwrap();
    assert_eq!(v["version"], 1);
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3, "{v}");
    assert_eq!(runs[0]["status"], "unfinished");
    assert_eq!(runs[0]["exit_code"], serde_json::Value::Null);
    assert_eq!(runs[1]["kind"], "dry_run");
    let first = &runs[2];
    let s = summary(&dir.path().join("o1"));
    assert_eq!(
        (
            first["kind"].as_str(),
            first["status"].as_str(),
            first["exit_code"].as_i64()
        ),
        (Some("run"), Some("rejects"), Some(3))
    );
    assert_eq!(first["created"], s["rows"]["created"]);
    assert_eq!(first["rejected"], s["rows"]["rejected"]);
    assert_eq!(first["requests"], s["requests"]["sent"]);
    assert_eq!(first["location"], "loc-it");
    assert!(first["report_dir"].as_str().unwrap().ends_with("o1"));

    let o = run(bin()
        .args(["runs", "--last", "1", "--state-dir"])
        .arg(dir.path().join(".ghl-import")));
    let table = text(&o).0;
    assert!(table.starts_with("id  started"), "{table}");
    assert_eq!(
        table.lines().count(),
        2,
        "header and the newest run: {table}"
    );
    assert!(table.contains("unfinished"), "{table}");

    let o = run(bin()
        .args(["runs", "--state-dir"])
        .arg(dir.path().join("nothing")));
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("no run history"), "{}", text(&o).1);
}

#[test]
fn log_format_json_writes_only_json_lines_carrying_the_run() {
    let sb = SandboxProc::fast("loc-it");
    let dir = workdir();
    let p = pipeline(dir.path(), &sb.base_url, &many_rows(20), "");
    let o = run(bin()
        .args(["--log-format", "json", "run", "--out"])
        .arg(dir.path().join("o"))
        .arg(&p)
        .env("IT_TOKEN", &sb.token));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let stderr = text(&o).1;
    let events: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let find = |msg: &str| {
        events
            .iter()
            .find(|e| e["message"] == msg)
            .unwrap_or_else(|| panic!("no `{msg}` in {stderr}"))
    };
    let started = find("Run started.");
    let run_id = started["span"]["run"].as_str().unwrap();
    assert!(run_id.starts_with("p-"), "{started}");
    assert_eq!(started["span"]["pipeline"], "p");
    assert_eq!(started["span"]["location"], "loc-it");
    let finished = find("Run finished.");
    assert_eq!(finished["exit"], 0);
    assert_eq!(finished["span"]["run"], run_id);
    // The planning notice is a log event too, inside the run.
    assert!(
        events.iter().any(|e| e["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("planning:"))
            && e["span"]["run"] == run_id),
        "{stderr}"
    );
    assert!(!stderr.contains(&sb.token), "never the token");
}

/// A webhook endpoint on 127.0.0.1 that answers the first `fail` requests 500, then 200, and
/// keeps every body it received.
pub(crate) struct Webhook {
    pub url: String,
    pub bodies: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Webhook {
    pub fn start(fail: usize) -> Webhook {
        use std::io::{BufRead, BufReader, Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook/secret-path", l.local_addr().unwrap());
        let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = std::sync::Arc::clone(&bodies);
        std::thread::spawn(move || {
            for (i, s) in l.incoming().flatten().enumerate() {
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut len = 0;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; len];
                let _ = r.read_exact(&mut body);
                seen.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&body).into_owned());
                let status = if i < fail {
                    "500 Internal Server Error"
                } else {
                    "200 OK"
                };
                let mut w = s;
                let _ = write!(
                    w,
                    "HTTP/1.1 {status}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                );
            }
        });
        Webhook { url, bodies }
    }
}

#[test]
fn a_webhook_is_told_about_rejects_retried_once_and_never_given_the_token() {
    let sb = SandboxProc::fast("loc-it");
    let hook = Webhook::start(1);
    let dir = workdir();
    let csv = "First Name,Email,Phone\nAnn,ann@example.com,\nBen,not-an-email,\n";
    let notify = "notify:\n  on: [rejects, failure]\n  webhook_url_env: IT_WEBHOOK\n";
    let p = pipeline(dir.path(), &sb.base_url, csv, notify);
    let o = run(bin()
        .args(["run", "-q", "--out"])
        .arg(dir.path().join("o"))
        .arg(&p)
        .env("IT_TOKEN", &sb.token)
        .env("IT_WEBHOOK", &hook.url));
    assert_eq!(o.status.code(), Some(3), "{}", text(&o).1);
    let bodies = hook.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 2, "one 500, then the retry: {bodies:?}");
    let v: serde_json::Value = serde_json::from_str(&bodies[1]).unwrap();
    assert_eq!(v["event"], "rejects");
    assert_eq!(v["exit_code"], 3);
    assert_eq!(v["rows"]["rejected"], 1);
    assert_eq!(v["location"], "loc-it");
    let t = v["text"].as_str().unwrap();
    assert!(
        t.contains("1 created") && t.contains("1 rejected of 2 rows"),
        "{t}"
    );
    assert!(!bodies[1].contains(&sb.token), "never the token");

    // A success is not among `on`: nothing is posted.
    let ok = pipeline(
        dir.path(),
        &sb.base_url,
        "First Name,Email,Phone\nCy,cy@example.com,\n",
        notify,
    );
    let o = run(bin()
        .args(["run", "-q", "--out"])
        .arg(dir.path().join("o2"))
        .arg(&ok)
        .env("IT_TOKEN", &sb.token)
        .env("IT_WEBHOOK", &hook.url));
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(hook.bodies.lock().unwrap().len(), 2);
}

#[test]
fn a_missing_webhook_variable_stops_before_anything_is_sent_and_a_dead_webhook_changes_nothing() {
    let sb = SandboxProc::fast("loc-it");
    let dir = workdir();
    let csv = "First Name,Email,Phone\nAnn,ann@example.com,\nBen,not-an-email,\n";
    let p = pipeline(
        dir.path(),
        &sb.base_url,
        csv,
        "notify:\n  on: [rejects]\n  webhook_url_env: IT_WEBHOOK\n",
    );
    let o = sb.run_pipeline(&p, &dir.path().join("o"));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).1.contains("`IT_WEBHOOK` is not set"),
        "{}",
        text(&o).1
    );
    assert_eq!(sb.stats()["requests_by_endpoint"], serde_json::json!({}));

    // Nobody listens: the run's outcome stands, and the warning does not show the URL.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/hook/secret-path", l.local_addr().unwrap())
    };
    let o = run(bin()
        .args(["run", "-q", "--out"])
        .arg(dir.path().join("o2"))
        .arg(&p)
        .env("IT_TOKEN", &sb.token)
        .env("IT_WEBHOOK", &closed));
    assert_eq!(o.status.code(), Some(3));
    let err = text(&o).1;
    assert!(
        err.contains("notify webhook (IT_WEBHOOK) was not reached"),
        "{err}"
    );
    assert!(!err.contains("secret-path"), "the URL is a secret: {err}");
}

#[test]
fn serve_runs_a_one_second_schedule_and_skips_a_broken_pipeline() {
    let sb = SandboxProc::fast("loc-it");
    let dir = workdir();
    let p = pipeline(
        dir.path(),
        &sb.base_url,
        &many_rows(3),
        "schedule:\n  cron: \"* * * * * *\"\n  timezone: Europe/Berlin\nreport:\n  dir: out\n",
    );
    std::fs::write(dir.path().join("broken.yaml"), "version: 1\nsource: [\n").unwrap();
    let serve = ServeProc::start(dir.path(), &sb.token);
    std::thread::sleep(std::time::Duration::from_millis(3500));
    assert!(serve.get("/healthz").ends_with("ok\n"));
    let metrics = serve.get("/metrics");
    assert!(
        metrics.contains(r#"ghl_import_runs_total{pipeline="p",status="ok"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"ghl_import_rows_total{pipeline="p",outcome="created"} 3"#),
        "{metrics}"
    );
    assert!(metrics.contains("ghl_import_last_success_timestamp_seconds{pipeline=\"p\"}"));
    let err = serve.stop();
    assert!(err.contains("broken.yaml skipped"), "{err}");
    assert!(err.contains("serve: stopped"), "{err}");
    // Every second for ~3.5 s: 3 runs (one either way for timing), each complete in the history.
    let o = run(bin()
        .args(["runs", "--format", "json", "--pipeline"])
        .arg(&p));
    let v: serde_json::Value = serde_json::from_str(&text(&o).0).unwrap();
    let runs = v["runs"].as_array().unwrap();
    assert!((2..=4).contains(&runs.len()), "{} runs: {v}", runs.len());
    assert!(runs.iter().all(|r| r["status"] == "ok"), "{v}");
    assert_eq!(sb.contacts("loc-it").len(), 3, "the journal: no duplicates");
}

#[test]
fn serve_makes_a_missed_run_once_with_catch_up_once() {
    let sb = SandboxProc::fast("loc-it");
    let dir = workdir();
    // Once a year: the last time it fired was before the run recorded below.
    let p = pipeline(
        dir.path(),
        &sb.base_url,
        &many_rows(2),
        "schedule:\n  cron: \"0 3 1 1 *\"\n  catch_up: once\nreport:\n  dir: out\n",
    );
    assert_eq!(
        sb.run_pipeline(&p, &dir.path().join("o1")).status.code(),
        Some(0)
    );
    // That run is made older than the last 1 January, 03:00: the schedule fired since.
    let db = dir.path().join(".ghl-import/runs.sqlite");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute("UPDATE runs SET started_at = '2020-01-01T00:00:00Z'", [])
        .unwrap();
    drop(c);
    let mut serve = ServeProc::start(dir.path(), &sb.token);
    serve.wait_for("a missed run is made now");
    serve.wait_for("ended with exit 0");
    let err = serve.stop();
    assert!(err.contains("a missed run is made now"), "{err}");
    let o = run(bin()
        .args(["runs", "--format", "json", "--pipeline"])
        .arg(&p));
    let v: serde_json::Value = serde_json::from_str(&text(&o).0).unwrap();
    assert_eq!(
        v["runs"].as_array().unwrap().len(),
        2,
        "the manual run and one catch-up: {v}"
    );
}

#[test]
fn serve_refuses_a_remote_listen_address_unless_allowed() {
    let dir = workdir();
    let o = run(bin()
        .args(["serve", "--listen", "0.0.0.0:0"])
        .arg(dir.path()));
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("--allow-remote"), "{}", text(&o).1);
}

#[test]
fn two_serve_processes_and_a_manual_run_never_write_to_one_location_at_once() {
    // 20 requests a second: a pipeline's first run (30 rows) takes about 1.5 s, so runs due in
    // the same second overlap unless the lease keeps them apart.
    let sb = SandboxProc::start(
        "loc-it",
        &["--rate-max", "20", "--rate-interval-ms", "1000"],
    );
    let dir = workdir();
    let every_second = "schedule:\n  cron: \"* * * * * *\"\nreport:\n  dir: out\nload:\n  phone_conflicts: merge\n";
    let a = pipeline(dir.path(), &sb.base_url, &many_rows(30), every_second);
    let p1 = dir.path().join("p1.yaml");
    std::fs::rename(&a, &p1).unwrap();
    std::fs::rename(dir.path().join("in.csv"), dir.path().join("in1.csv")).unwrap();
    std::fs::write(
        &p1,
        std::fs::read_to_string(&p1)
            .unwrap()
            .replace("in.csv", "in1.csv"),
    )
    .unwrap();
    std::fs::write(dir.path().join("in2.csv"), other_rows(30)).unwrap();
    std::fs::write(
        dir.path().join("p2.yaml"),
        std::fs::read_to_string(&p1)
            .unwrap()
            .replace("in1.csv", "in2.csv"),
    )
    .unwrap();
    let folder = dir.path();
    let start = || {
        bin()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .arg(folder)
            .env("IT_TOKEN", &sb.token)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let (s1, s2) = (start(), start());
    // A manual run of a third list into the same location, meanwhile.
    let manual_dir = dir.path().join("manual");
    std::fs::create_dir_all(&manual_dir).unwrap();
    let m = pipeline(
        &manual_dir,
        &sb.base_url,
        &many_rows(20).replace(",p", ",r").replace("\nP", "\nR"),
        "load:\n  phone_conflicts: merge\n  on_busy: wait\n",
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    let o = run(bin()
        .args(["run", "-q", "--state-dir"])
        .arg(dir.path().join(".ghl-import"))
        .args(["--out"])
        .arg(dir.path().join("om"))
        .arg(&m)
        .env("IT_TOKEN", &sb.token));
    wait_for_contacts(&sb, "loc-it", 80);
    for s in [&s1, &s2] {
        signal(s, "-TERM");
    }
    for s in [s1, s2] {
        s.wait_with_output().unwrap();
    }
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    assert_eq!(sb.contacts("loc-it").len(), 80, "every list landed once");

    // From the sandbox's request log: each run's writes form one block.
    let log: Vec<serde_json::Value> =
        serde_json::from_str(&sb.raw("GET", "/_sandbox/log", &[], "").1).unwrap();
    let writers: Vec<&str> = log
        .iter()
        .filter(|e| e["endpoint"] == "POST /contacts/upsert" && e["admitted"] == true)
        .map(|e| e["user_agent"].as_str().unwrap())
        .collect();
    assert_eq!(writers.len(), 80, "{writers:?}");
    let mut blocks: Vec<&str> = Vec::new();
    for w in &writers {
        if blocks.last() != Some(w) {
            assert!(
                !blocks.contains(w),
                "{w} wrote again after another run: {writers:?}"
            );
            blocks.push(w);
        }
    }
    assert!(blocks.len() >= 3, "three runs wrote: {blocks:?}");
    assert!(
        blocks
            .iter()
            .all(|b| b.contains("(run ") && b.contains("; pid ")),
        "{blocks:?}"
    );
}

#[test]
fn serve_runs_two_locations_side_by_side_and_skips_a_time_a_pipeline_is_still_running() {
    // 10 requests a second per location: each first run (25 rows) takes about 2.5 s, while the
    // schedule fires every second.
    let sb = SandboxProc::start(
        "loc-a",
        &[
            "--location",
            "loc-b",
            "--rate-max",
            "10",
            "--rate-interval-ms",
            "1000",
        ],
    );
    let dir = workdir();
    for (name, loc, rows) in [
        ("a", "loc-a", many_rows(25)),
        ("b", "loc-b", other_rows(25)),
    ] {
        std::fs::write(dir.path().join(format!("{name}.csv")), rows).unwrap();
        std::fs::write(
            dir.path().join(format!("{name}.yaml")),
            format!(
                "version: 1\nsource: {{type: csv, path: {name}.csv}}\n\
                 target: {{location_id: {loc}, base_url: \"{}\", auth: {{token_env: IT_TOKEN}}}}\n\
                 mapping: {{firstName: First Name, email: Email}}\n\
                 schedule: {{cron: \"* * * * * *\"}}\nreport: {{dir: out}}\n",
                sb.base_url
            ),
        )
        .unwrap();
    }
    let mut serve = ServeProc::start(dir.path(), &sb.token);
    serve.wait_for("is still running; its run of");
    serve.wait_for("a.yaml ended with exit 0");
    serve.wait_for("b.yaml ended with exit 0");
    serve.stop();
    let log: Vec<serde_json::Value> =
        serde_json::from_str(&sb.raw("GET", "/_sandbox/log", &[], "").1).unwrap();
    let span = |loc: &str| {
        let at: Vec<u64> = log
            .iter()
            .filter(|e| e["endpoint"] == "POST /contacts/upsert" && e["location"] == loc)
            .map(|e| e["at_ms"].as_u64().unwrap())
            .collect();
        (*at.iter().min().unwrap(), *at.iter().max().unwrap())
    };
    let (a, b) = (span("loc-a"), span("loc-b"));
    assert!(
        a.0 < b.1 && b.0 < a.1,
        "the two locations were written at the same time: {a:?} {b:?}"
    );
    assert_eq!(sb.contacts("loc-a").len(), 25);
    assert_eq!(sb.contacts("loc-b").len(), 25);
    assert_eq!(sb.stats()["rate_limited_429"], 0);
    // A skipped time is history too.
    let o = run(bin()
        .args(["runs", "--format", "json", "--state-dir"])
        .arg(dir.path().join(".ghl-import")));
    let v: serde_json::Value = serde_json::from_str(&text(&o).0).unwrap();
    assert!(
        v["runs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["status"] == "skipped"),
        "{v}"
    );
}

#[test]
fn serve_once_with_shards_runs_every_pipeline_exactly_once_across_the_shards() {
    let locations: Vec<String> = (0..6).map(|i| format!("loc-{i}")).collect();
    let mut flags: Vec<&str> = FAST.to_vec();
    for l in &locations[1..] {
        flags.extend(["--location", l.as_str()]);
    }
    let sb = SandboxProc::start(&locations[0], &flags);
    let dir = workdir();
    for (i, loc) in locations.iter().enumerate() {
        std::fs::write(dir.path().join(format!("{i}.csv")), many_rows(5)).unwrap();
        std::fs::write(
            dir.path().join(format!("p{i}.yaml")),
            format!(
                "version: 1\nsource: {{type: csv, path: {i}.csv}}\n\
                 target: {{location_id: {loc}, base_url: \"{}\", auth: {{token_env: IT_TOKEN}}}}\n\
                 mapping: {{firstName: First Name, email: Email}}\nreport: {{dir: out}}\n",
                sb.base_url
            ),
        )
        .unwrap();
    }
    let mut started = Vec::new();
    for shard in 0..3 {
        let state = dir.path().join(format!("state-{shard}"));
        let o = serve_once_shard(dir.path(), &state, shard, 3, &sb.token);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
        let err = text(&o).1;
        started.extend(
            err.lines()
                .filter_map(|l| l.strip_prefix("serve: starting "))
                .map(|l| l.split(' ').next().unwrap().to_owned()),
        );
    }
    started.sort();
    let mut all: Vec<String> = (0..6)
        .map(|i| dir.path().join(format!("p{i}.yaml")).display().to_string())
        .collect();
    all.sort();
    assert_eq!(started, all, "each pipeline in exactly one shard");
    for loc in &locations {
        assert_eq!(sb.contacts(loc).len(), 5, "{loc}");
    }
    // A pipeline that does not load makes the pod fail (the others still run).
    std::fs::write(dir.path().join("broken.yaml"), "version: 1\nsource: [\n").unwrap();
    let o = run(bin()
        .args(["serve", "--once", "--shard", "0/3", "--state-dir"])
        .arg(dir.path().join("state-0"))
        .arg(dir.path())
        .env("IT_TOKEN", &sb.token));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o).1);
    assert!(text(&o).1.contains("broken.yaml skipped"), "{}", text(&o).1);
    // A bad shard is refused by the argument parser.
    let o = run(bin()
        .args(["serve", "--once", "--shard", "3/3"])
        .arg(dir.path()));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).1.contains("INDEX must be 0 to COUNT - 1"),
        "{}",
        text(&o).1
    );
}

#[test]
fn rehearsals_in_their_own_sandboxes_take_no_lease() {
    // Two --sandbox runs of one pipeline at once: each has its own emulator, so neither waits
    // for or refuses the other.
    let dir = workdir();
    let start = |out: &str| {
        bin()
            .current_dir(repo())
            .args([
                "run",
                "-q",
                "--sandbox",
                "pipelines/quickstart.yaml",
                "--state-dir",
            ])
            .arg(dir.path().join("state"))
            .arg("--out")
            .arg(dir.path().join(out))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (start("a"), start("b"));
    for c in [a, b] {
        let o = c.wait_with_output().unwrap();
        assert_eq!(
            o.status.code(),
            Some(3),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}
