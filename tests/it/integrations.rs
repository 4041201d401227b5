//! The integrations the tool serves, as shipped in `pipelines/` with files from `samples/`:
//! a field-service CRM's exports and a delivery system's feeds dropped into inboxes and taken on
//! their schedules (on a fast clock: the cron made every second), and an app reading contacts
//! with tasks, notes and appointments under `contacts.readonly` only.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::util::*;

/// The shipped pipeline `name`, installed in `dir/pipelines/` with its inbox at `dir/inbox` and
/// its cron made every second; the inbox folder is created.
fn install(dir: &Path, name: &str) -> PathBuf {
    let yaml = std::fs::read_to_string(repo().join(format!("pipelines/{name}.yaml"))).unwrap();
    let inbox = dir.join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let mut out = String::new();
    for l in yaml.lines() {
        let t = l.trim_start();
        if t.starts_with("dir: ../inbox/") {
            out.push_str(&format!("    dir: {}\n", inbox.display()));
        } else if t.starts_with("cron: ") {
            out.push_str("  cron: \"* * * * * *\"\n");
        } else {
            out.push_str(l);
            out.push('\n');
        }
    }
    assert!(out.contains("* * * * * *"), "{name} is scheduled: {yaml}");
    let pipelines = dir.join("pipelines");
    std::fs::create_dir_all(&pipelines).unwrap();
    let p = pipelines.join(format!("{name}.yaml"));
    std::fs::write(&p, out).unwrap();
    p
}

/// Copies a sample file into the inbox, as if it had finished uploading a while ago.
fn drop_sample(dir: &Path, sample: &str, as_name: Option<&str>) {
    let src = repo().join("samples").join(sample);
    let name = as_name.unwrap_or_else(|| sample.rsplit('/').next().unwrap());
    let dest = dir.join("inbox").join(name);
    std::fs::copy(&src, &dest).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&dest)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(60))
        .unwrap();
}

/// The environment that points a shipped pipeline at the sandbox's `loc-it`.
fn env(sb: &SandboxProc) -> Vec<(&'static str, String)> {
    vec![
        ("GHL_LOCATION_ID", "loc-it".to_owned()),
        ("GHL_BASE_URL", sb.base_url.clone()),
        ("GHL_TOKEN", sb.token.clone()),
    ]
}

fn tasks_of(sb: &SandboxProc, email: &str) -> Vec<serde_json::Value> {
    let c = sb.contact_by_email("loc-it", email);
    sb.api_get(&format!("/contacts/{}/tasks", c["id"].as_str().unwrap()))["tasks"]
        .as_array()
        .cloned()
        .unwrap()
}

fn notes_of(sb: &SandboxProc, email: &str) -> Vec<String> {
    let c = sb.contact_by_email("loc-it", email);
    sb.api_get(&format!("/contacts/{}/notes", c["id"].as_str().unwrap()))["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["body"].as_str().unwrap().to_owned())
        .collect()
}

/// The samples of each day's report folders in `done`, summed: `rows.<outcome>`.
fn summed(done: &Path, outcome: &str) -> u64 {
    std::fs::read_dir(done)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".report"))
        .map(|e| summary(&e.path())["rows"][outcome].as_u64().unwrap())
        .sum()
}

/// Checks Prometheus text exposition line by line and returns `name{labels} value` pairs.
fn parse_metrics(text: &str) -> Vec<(String, f64)> {
    let body = text.split("\r\n\r\n").nth(1).expect("a body");
    let sample = regex::Regex::new(
        r#"^([a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*\})?) (-?[0-9.eE+]+|NaN|[+-]Inf)$"#,
    )
    .unwrap();
    let mut out = Vec::new();
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(
        lines.last(),
        Some(&"# EOF"),
        "OpenMetrics text ends with # EOF"
    );
    for l in &lines[..lines.len() - 1] {
        if l.starts_with("# HELP ") || l.starts_with("# TYPE ") || l.starts_with("# UNIT ") {
            continue;
        }
        let c = sample
            .captures(l)
            .unwrap_or_else(|| panic!("not a metric line: {l:?}"));
        out.push((c[1].to_owned(), c[4].parse().unwrap()));
    }
    out
}

#[test]
fn field_service_exports_dropped_on_two_days_are_mirrored_with_notes_and_completed_tasks() {
    let sb = SandboxProc::fast("loc-it");
    let dir = workdir();
    install(dir.path(), "fieldservice-inbox");
    let env = env(&sb);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut serve = ServeProc::start_env(&dir.path().join("pipelines"), &env);
    serve.wait_for("fieldservice-inbox.yaml scheduled `* * * * * *`");

    // Day 1: four customers (one without an email, known by phone), one with an address the
    // API refuses and a two-digit phone.
    drop_sample(dir.path(), "fieldservice/customers-2026-11-27.csv", None);
    serve.wait_for("customers-2026-11-27.csv imported");
    assert_eq!(sb.contacts("loc-it").len(), 4);
    let maria = sb.contact_by_email("loc-it", "maria.gonzales@example.com");
    assert_eq!(maria["city"], "Austin");
    assert_eq!(maria["phone"], "+15125550142");
    let tags: Vec<&str> = maria["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        tags.contains(&"estimate sent") && tags.contains(&"google"),
        "{tags:?}"
    );
    let t = tasks_of(&sb, "maria.gonzales@example.com");
    assert_eq!(t.len(), 1, "{t:?}");
    assert_eq!(t[0]["title"], "Follow up on fence estimate");
    assert_eq!(t[0]["completed"], false);
    let done = dir.path().join("inbox/done");
    let rejected = read_csv(&done.join("customers-2026-11-27.csv.report/rejected.csv"));
    assert_eq!(rejected.len(), 2, "one reject: {rejected:?}");
    assert!(
        rejected[1].contains(&"invalid_email".to_owned()),
        "{rejected:?}"
    );

    // Day 2: two jobs move on (task completed, a new note, a new status tag), one new customer.
    drop_sample(dir.path(), "fieldservice/customers-2026-11-28.csv", None);
    serve.wait_for("customers-2026-11-28.csv imported");
    assert_eq!(sb.contacts("loc-it").len(), 5);
    let t = tasks_of(&sb, "maria.gonzales@example.com");
    assert_eq!(
        (t.len(), &t[0]["completed"]),
        (1, &serde_json::json!(true)),
        "{t:?}"
    );
    assert_eq!(tasks_of(&sb, "tbecker@example.net")[0]["completed"], true);
    assert_eq!(
        tasks_of(&sb, "grace.obi@example.com")[0]["completed"],
        false
    );
    let notes = notes_of(&sb, "maria.gonzales@example.com");
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(
        notes.iter().any(|n| n.contains("install Dec 8-9")),
        "{notes:?}"
    );
    let maria = sb.contact_by_email("loc-it", "maria.gonzales@example.com");
    let tags = maria["tags"].to_string();
    assert!(
        tags.contains("job won") && tags.contains("estimate sent"),
        "{tags}"
    );

    // Day 1's file uploaded again by mistake: not imported twice.
    drop_sample(
        dir.path(),
        "fieldservice/customers-2026-11-27.csv",
        Some("customers-2026-11-27-resent.csv"),
    );
    serve.wait_for("customers-2026-11-27-resent.csv not imported again");
    assert_eq!(notes_of(&sb, "maria.gonzales@example.com").len(), 2);

    // What /metrics counted equals the runs' summary.json files.
    let metrics = parse_metrics(&serve.get("/metrics"));
    let counted = |outcome: &str| {
        metrics
            .iter()
            .find(|(k, _)| {
                k == &format!(
                    "ghl_import_rows_total{{pipeline=\"fieldservice\",outcome=\"{outcome}\"}}"
                )
            })
            .map(|(_, v)| *v as u64)
            .unwrap_or(0)
    };
    for outcome in ["created", "updated", "unchanged", "rejected"] {
        assert_eq!(counted(outcome), summed(&done, outcome), "{outcome}");
    }
    assert_eq!(counted("created"), 5);
    // The sandbox's fast limit (1,000 / s), as advertised to the runs.
    let limit = metrics
        .iter()
        .find(|(k, _)| k == "ghl_import_rate_limit_per_second{location=\"loc-it\"}")
        .map(|(_, v)| *v);
    assert_eq!(limit, Some(1000.0), "{metrics:?}");
    // /runs lists the runs serve made and links their reports (and nothing else).
    let runs = serve.get("/runs");
    assert!(runs.starts_with("HTTP/1.1 200"), "{runs}");
    assert!(runs.contains("fieldservice"), "{runs}");
    let link = runs
        .split("href=\"")
        .nth(1)
        .and_then(|l| l.split('"').next())
        .expect("a report link")
        .to_owned();
    let report = serve.get(&link);
    assert!(report.starts_with("HTTP/1.1 200"), "{report}");
    assert!(report.contains("data-k=\"rows.read\""), "{report}");
    assert!(serve
        .get("/runs/999/report.html")
        .starts_with("HTTP/1.1 404"));
    let all = serve.stop();
    assert!(all.contains("serve: stopped"), "{all}");
}

#[test]
fn delivery_feeds_update_contacts_by_email_and_a_read_only_app_reads_them_back() {
    let sb = SandboxProc::start("loc-it", &[FAST, &["--seed-contacts", "6"]].concat());
    let dir = workdir();
    let p = install(dir.path(), "delivery-inbox");
    // Two evenings' files, both waiting: taken oldest first, each its own run.
    drop_sample(dir.path(), "delivery/recipients-2026-11-28.csv", None);
    std::thread::sleep(Duration::from_millis(20));
    drop_sample(dir.path(), "delivery/recipients-2026-11-29.csv", None);
    let f = dir.path().join("inbox/recipients-2026-11-29.csv");
    std::fs::File::options()
        .write(true)
        .open(&f)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(30))
        .unwrap();
    let o = run(bin().args(["run", "-q"]).arg(&p).envs(env(&sb)));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let err = text(&o).1;
    let first = err.find("importing recipients-2026-11-28.csv").unwrap();
    let second = err.find("importing recipients-2026-11-29.csv").unwrap();
    assert!(first < second, "{err}");
    // 6 seeded + Jonas, Claire, Piotr, Ana: Piotr's email in another case is the same contact.
    assert_eq!(sb.contacts("loc-it").len(), 10);
    let piotr = sb.contact_by_email("loc-it", "piotr.nowak@example.pl");
    assert_eq!(
        piotr["address1"], "ul. Długa 3 m. 4",
        "updated by the second file"
    );
    let t = tasks_of(&sb, "piotr.nowak@example.pl");
    assert_eq!(t.len(), 1, "{t:?}");
    assert_eq!(
        (&t[0]["title"], &t[0]["completed"]),
        (
            &serde_json::json!("Call recipient about the address"),
            &serde_json::json!(true)
        )
    );
    assert_eq!(notes_of(&sb, "claire.martin@example.fr").len(), 2);

    // An app with a contacts.readonly grant only reads them back, with tasks, notes and
    // appointments (the seeded contacts have appointments), and writes nothing.
    let state = dir.path().join("pipelines/.ghl-import");
    let o = crate::auth::login(&sb, &state, &["--scope", "contacts.readonly"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let export = install(dir.path(), "contacts-readonly-export");
    let writes_before = sb.stats()["requests_by_endpoint"].clone();
    let o = run(bin()
        .args(["run", "-q", "--state-dir"])
        .arg(&state)
        .arg(&export)
        .envs(env(&sb))
        .env("GHL_CLIENT_SECRET", crate::auth::SECRET));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let writes: Vec<String> = sb.stats()["requests_by_endpoint"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, v)| {
            !(k.starts_with("GET ") || k.as_str() == "POST /contacts/search")
                && writes_before.get(k.as_str()) != Some(v)
        })
        .map(|(k, _)| k.clone())
        .collect();
    assert!(
        writes.iter().all(|k| k.starts_with("POST /oauth")),
        "the export only reads: {writes:?}"
    );
    let rows = read_csv(&dir.path().join("out/exports/contacts-activity.csv"));
    let h = &rows[0];
    let col = |name: &str| h.iter().position(|c| c == name).unwrap();
    let (email, tasks, notes, appts) = (
        col("email"),
        col("tasks"),
        col("notes"),
        col("appointments"),
    );
    assert_eq!(rows.len(), 11, "a header and 10 contacts");
    let row = |e: &str| rows.iter().find(|r| r[email] == e).unwrap();
    let t: serde_json::Value = serde_json::from_str(&row("piotr.nowak@example.pl")[tasks]).unwrap();
    assert_eq!(t[0]["completed"], true, "{t}");
    let n: serde_json::Value =
        serde_json::from_str(&row("claire.martin@example.fr")[notes]).unwrap();
    assert_eq!(n.as_array().unwrap().len(), 2, "{n}");
    let with_appointments = rows[1..]
        .iter()
        .filter(|r| {
            serde_json::from_str::<serde_json::Value>(&r[appts])
                .is_ok_and(|v| v.as_array().is_some_and(|a| !a.is_empty()))
        })
        .count();
    assert!(with_appointments > 0, "seeded appointments are read back");
}
