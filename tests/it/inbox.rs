//! Inbox folders (issue 13): each dropped file imported once, moved with its reports, a
//! half-written file left alone, a killed run resumed without duplicates, `serve` noticing files.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::util::*;

/// A pipeline `p.yaml` in `dir` reading the inbox `dir/incoming` into `loc-it`, reports under
/// `dir/reports`, with `inbox_extra` added to `source.inbox` and `extra` appended.
fn inbox_pipeline(dir: &Path, base_url: &str, inbox_extra: &str, extra: &str) -> PathBuf {
    std::fs::create_dir_all(dir.join("incoming")).unwrap();
    let p = pipeline(
        dir,
        base_url,
        "",
        &format!("report:\n  dir: reports\n{extra}"),
    );
    std::fs::remove_file(dir.join("in.csv")).unwrap();
    let yaml = std::fs::read_to_string(&p).unwrap().replace(
        "  path: in.csv\n",
        &format!("  inbox:\n    dir: incoming\n{inbox_extra}\n"),
    );
    std::fs::write(&p, yaml).unwrap();
    p
}

/// Drops `csv` into the inbox as `name`, changed `age` ago.
fn drop_file(dir: &Path, name: &str, csv: &str, age: Duration) -> PathBuf {
    let f = dir.join("incoming").join(name);
    std::fs::write(&f, csv).unwrap();
    let file = std::fs::File::options().write(true).open(&f).unwrap();
    file.set_modified(SystemTime::now() - age).unwrap();
    f
}

/// `ghl-import run -q PIPELINE` (no `--out`: an inbox run puts reports beside each file).
fn run_inbox(sb: &SandboxProc, p: &Path, extra: &[&str]) -> std::process::Output {
    run(bin()
        .args(["run", "-q"])
        .args(extra)
        .arg(p)
        .env("IT_TOKEN", &sb.token))
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn rows(prefix: &str, n: usize) -> String {
    let mut csv = String::from("First Name,Email,Phone\n");
    for i in 0..n {
        csv.push_str(&format!("{prefix}{i},{prefix}{i}@example.com,\n"));
    }
    csv
}

const OLD: Duration = Duration::from_secs(120);

#[test]
fn each_file_is_imported_once_and_moved_with_its_reports_and_a_bad_one_goes_to_failed() {
    let sb = SandboxProc::fast("loc-it");
    let dir = workdir();
    let p = inbox_pipeline(dir.path(), &sb.base_url, "    settle_secs: 30", "");
    let inbox = dir.path().join("incoming");
    drop_file(dir.path(), "a.csv", &rows("a", 3), OLD);
    drop_file(dir.path(), "b.csv", &rows("b", 2), OLD);
    // Still being written: a `.part` name, and a file changed a moment ago.
    drop_file(dir.path(), "c.csv.part", &rows("c", 2), OLD);
    let fresh = drop_file(dir.path(), "d.csv", &rows("d", 2), Duration::ZERO);

    // A dry run reads the ready files and moves nothing.
    let o = run_inbox(&sb, &p, &["--dry-run"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    assert_eq!(
        names(&inbox),
        ["a.csv", "b.csv", "c.csv.part", "d.csv"],
        "a dry run leaves the files"
    );
    assert_eq!(sb.contacts("loc-it").len(), 0);

    let o = run_inbox(&sb, &p, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let done = inbox.join("done");
    assert_eq!(
        names(&done),
        ["a.csv", "a.csv.report", "b.csv", "b.csv.report"]
    );
    assert_eq!(names(&inbox), ["c.csv.part", "d.csv", "done"]);
    let s = summary(&done.join("a.csv.report"));
    assert_eq!(s["rows"]["created"], 3, "{s}");
    assert_eq!(summary(&done.join("b.csv.report"))["rows"]["created"], 2);
    assert_eq!(sb.contacts("loc-it").len(), 5);
    // The run history points at the moved folders.
    let o = run(bin()
        .args(["runs", "--format", "json", "--pipeline"])
        .arg(&p));
    let v: serde_json::Value = serde_json::from_str(&text(&o).0).unwrap();
    let dirs: Vec<&str> = v["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "run")
        .map(|r| r["report_dir"].as_str().unwrap())
        .collect();
    assert_eq!(dirs.len(), 2, "{v}");
    assert!(dirs.iter().all(|d| d.ends_with(".csv.report")), "{v}");

    // The same content again, under another name: moved to done, not run, nothing sent.
    let sent = || sb.stats()["requests_by_endpoint"].clone();
    let before = sent();
    drop_file(dir.path(), "a-again.csv", &rows("a", 3), OLD);
    let o = run_inbox(&sb, &p, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let err = text(&o).1;
    assert!(err.contains("a-again.csv not imported again"), "{err}");
    assert!(err.contains("imported from a.csv"), "{err}");
    assert!(names(&done).contains(&"a-again.csv".to_owned()));
    assert!(!names(&done).contains(&"a-again.csv.report".to_owned()));
    assert_eq!(sent(), before, "no request for a file imported before");

    // The same name again with new content: imported, and nothing in done/ is replaced.
    drop_file(dir.path(), "a.csv", &rows("e", 1), OLD);
    let o = run_inbox(&sb, &p, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let moved: Vec<String> = names(&done)
        .into_iter()
        .filter(|n| n.starts_with("a.") && n.ends_with(".csv"))
        .collect();
    assert_eq!(moved.len(), 2, "{moved:?}");
    assert_eq!(
        std::fs::read_to_string(done.join("a.csv")).unwrap(),
        rows("a", 3),
        "the first a.csv is untouched"
    );
    assert_eq!(sb.contacts("loc-it").len(), 6);

    // A file the pipeline cannot read (no Email column): failed/, with the reason beside it.
    drop_file(dir.path(), "bad.csv", "Name,Mail\nx,y\n", OLD);
    let o = run_inbox(&sb, &p, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o).1);
    let failed = inbox.join("failed");
    assert_eq!(names(&failed), ["bad.csv", "bad.csv.error.txt"]);
    let why = std::fs::read_to_string(failed.join("bad.csv.error.txt")).unwrap();
    assert!(why.contains("Email"), "{why}");

    // The settling file, once unchanged for the settle time, is read; `.part` never is.
    assert_eq!(names(&inbox), ["c.csv.part", "d.csv", "done", "failed"]);
    std::fs::File::options()
        .write(true)
        .open(&fresh)
        .unwrap()
        .set_modified(SystemTime::now() - OLD)
        .unwrap();
    let o = run_inbox(&sb, &p, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    assert_eq!(names(&inbox), ["c.csv.part", "done", "failed"]);
    assert_eq!(sb.contacts("loc-it").len(), 8);
    let emails: std::collections::BTreeSet<String> = sb
        .contacts("loc-it")
        .iter()
        .map(|c| c["email"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(emails.len(), 8, "each contact once");
}

#[test]
fn a_run_killed_mid_file_is_resumed_by_the_next_without_duplicates() {
    // 10 requests a second: 40 rows take about 4 s.
    let sb = SandboxProc::start(
        "loc-it",
        &["--rate-max", "10", "--rate-interval-ms", "1000"],
    );
    let dir = workdir();
    let p = inbox_pipeline(dir.path(), &sb.base_url, "    settle_secs: 0", "");
    let file = drop_file(dir.path(), "big.csv", &rows("k", 40), OLD);
    kill9_after(
        bin().args(["run", "-q"]).arg(&p).env("IT_TOKEN", &sb.token),
        &sb,
        "loc-it",
        8,
    );
    let written = sb.contacts("loc-it").len();
    assert!(written < 40, "killed mid-file ({written} written)");
    assert!(file.exists(), "the file stays in the inbox");

    let o = run_inbox(&sb, &p, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let err = text(&o).1;
    assert!(err.contains("resuming big.csv"), "{err}");
    let done = dir.path().join("incoming/done");
    assert_eq!(names(&done), ["big.csv", "big.csv.report"]);
    let s = summary(&done.join("big.csv.report"));
    // Rows the killed run wrote are skipped by the journal (unchanged), the rest created.
    assert_eq!(s["rows"]["read"], 40, "{s}");
    assert_eq!(
        s["rows"]["created"].as_u64().unwrap() + s["rows"]["unchanged"].as_u64().unwrap(),
        40,
        "{s}"
    );
    let contacts = sb.contacts("loc-it");
    let emails: std::collections::BTreeSet<String> = contacts
        .iter()
        .map(|c| c["email"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        (contacts.len(), emails.len()),
        (40, 40),
        "each contact once"
    );
}

#[test]
fn serve_imports_a_file_when_it_is_ready_and_a_second_drop_of_it_only_once() {
    let sb = SandboxProc::fast("loc-it");
    let dir = workdir();
    let pipelines = dir.path().join("pipelines");
    std::fs::create_dir(&pipelines).unwrap();
    inbox_pipeline(&pipelines, &sb.base_url, "    settle_secs: 1", "");
    let mut serve = ServeProc::start(&pipelines, &sb.token);
    serve.wait_for("runs when a file is ready");
    // Written as `.part`, then renamed: the usual way to drop a file whole.
    let inbox = pipelines.join("incoming");
    let part = inbox.join("x.csv.part");
    std::fs::write(&part, rows("x", 4)).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(sb.contacts("loc-it").len(), 0, "a .part file is not read");
    std::fs::rename(&part, inbox.join("x.csv")).unwrap();
    serve.wait_for("x.csv imported");
    assert_eq!(sb.contacts("loc-it").len(), 4);
    std::fs::write(inbox.join("x2.csv"), rows("x", 4)).unwrap();
    serve.wait_for("x2.csv not imported again");
    let lines = serve.stop();
    assert!(lines.contains("serve: stopped"), "{lines}");
    assert_eq!(
        names(&inbox.join("done")),
        ["x.csv", "x.csv.report", "x2.csv"]
    );
    assert_eq!(sb.contacts("loc-it").len(), 4);
}

#[test]
fn a_file_that_changes_while_it_is_imported_stays_and_is_read_again() {
    let dir = workdir();
    let sb = SandboxProc::start(
        "loc-it",
        &["--rate-max", "10", "--rate-interval-ms", "1000"],
    );
    let p = inbox_pipeline(dir.path(), &sb.base_url, "    settle_secs: 0", "");
    let f = drop_file(
        dir.path(),
        "list.csv",
        &rows("a", 20),
        Duration::from_secs(60),
    );
    let mut child = bin()
        .args(["run", "-q"])
        .arg(&p)
        .env("IT_TOKEN", &sb.token)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("first.err")).unwrap())
        .spawn()
        .unwrap();
    // A writer that paused longer than the settle time goes on while the run reads.
    wait_for_contacts(&sb, "loc-it", 3);
    let more: String = rows("b", 5)
        .lines()
        .skip(1)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&f)
        .and_then(|mut w| std::io::Write::write_all(&mut w, more.as_bytes()))
        .unwrap();
    let status = child.wait().unwrap();
    let err = std::fs::read_to_string(dir.path().join("first.err")).unwrap_or_default();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(err.contains("changed while it was imported"), "{err}");
    assert!(
        f.exists(),
        "not moved to done/: {:?}",
        names(&dir.path().join("incoming"))
    );
    assert!(names(&dir.path().join("incoming/done")).is_empty());

    // The next run reads it again: the appended rows land, the others are not sent twice.
    let o = run_inbox(&sb, &p, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    assert_eq!(sb.contacts("loc-it").len(), 25);
    assert_eq!(
        names(&dir.path().join("incoming/done")),
        ["list.csv", "list.csv.report"]
    );
    assert_eq!(
        sb.stats()["requests_by_endpoint"]["POST /contacts/upsert"],
        25,
        "each row sent once"
    );
}

#[test]
fn serve_shows_a_failed_inbox_file_in_status_metrics_and_runs() {
    let sb = SandboxProc::fast("loc-it");
    let dir = workdir();
    let pipelines = dir.path().join("pipelines");
    std::fs::create_dir(&pipelines).unwrap();
    inbox_pipeline(&pipelines, &sb.base_url, "    settle_secs: 0", "");
    let mut serve = ServeProc::start(&pipelines, &sb.token);
    serve.wait_for("runs when a file is ready");
    // A file whose header has none of the mapped columns: the run cannot start.
    std::fs::write(
        pipelines.join("incoming").join("bad.csv"),
        "Name,Mail\nA,a@x.co\n",
    )
    .unwrap();
    let status = eventually(
        20,
        || serve.get("/status"),
        |s| s.contains("\"failed_files\":1"),
    );
    assert!(status.contains("\"failed_files\":1"), "{status}");
    assert!(status.contains("\"status\":\"config_error\""), "{status}");
    let metrics = serve.get("/metrics");
    assert!(
        metrics.contains(r#"ghl_import_inbox_failed_files{pipeline="p"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"ghl_import_runs_total{pipeline="p",status="config_error"} 1"#),
        "{metrics}"
    );
    serve.stop();
    assert_eq!(
        names(&pipelines.join("incoming").join("failed")).len(),
        2,
        "the file and its report"
    );
    let o = run(bin()
        .args(["runs", "--state-dir"])
        .arg(pipelines.join(".ghl-import")));
    assert!(text(&o).0.contains("config_error"), "{}", text(&o).0);
}
