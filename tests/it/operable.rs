//! Operable by people who did not write it: no secret echoed, safe in pipes and files, errors
//! printed once and without colour codes in a file.

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt as _;
use std::process::Stdio;

use crate::util::*;

const TOKEN: &str = "pit-7e3f09c2-41aa-4b1e-9d5c-0c2b7f6a8e11";

/// A pipeline with `line` as its target's auth (where a token could be pasted by mistake).
fn pasted(dir: &std::path::Path, auth: &str, extra: &str) -> std::path::PathBuf {
    std::fs::write(
        dir.join("in.csv"),
        "First Name,Email\nAnn,ann@example.com\n",
    )
    .unwrap();
    let p = dir.join("p.yaml");
    std::fs::write(
        &p,
        format!(
            "version: 1\nsource: {{type: csv, path: in.csv}}\n\
             target: {{location_id: loc-it, base_url: \"http://127.0.0.1:9\", {auth}}}\n\
             mapping: {{email: Email}}\n{extra}"
        ),
    )
    .unwrap();
    p
}

#[test]
fn a_token_pasted_where_a_variable_name_goes_is_never_printed() {
    let dir = workdir();
    let cases = [
        (format!("auth: {{token_env: {TOKEN}}}"), String::new()),
        (
            format!("auth: {{oauth: {{client_secret_env: {TOKEN}}}}}"),
            String::new(),
        ),
        (
            "auth: {token_env: IT_TOKEN}".to_owned(),
            format!("notify: {{on: [failure], webhook_url_env: \"https://hooks.example.com/{TOKEN}\"}}\n"),
        ),
    ];
    for (auth, extra) in cases {
        let p = pasted(dir.path(), &auth, &extra);
        let yaml = std::fs::read_to_string(&p).unwrap();
        assert!(yaml.contains(TOKEN), "the case pastes it: {yaml}");
        let out = dir.path().join("o");
        for args in [
            &["validate"][..],
            &["run", "-q", "--out", out.to_str().unwrap()],
            &[
                "--log-format",
                "json",
                "run",
                "--out",
                out.to_str().unwrap(),
            ],
            &["preview"],
            &["run", "--dry-run", "--out", out.to_str().unwrap()],
        ] {
            let o = run(bin().args(args).arg(&p).env("IT_TOKEN", "t"));
            let (so, se) = text(&o);
            assert_eq!(o.status.code(), Some(2), "{args:?}: {so}{se}");
            assert!(
                !so.contains(&TOKEN[4..20]) && !se.contains(&TOKEN[4..20]),
                "{args:?} echoed the token: {so}{se}"
            );
            assert!(
                se.contains("not shown") || so.contains("not shown"),
                "{args:?}: {se}"
            );
        }
    }
}

/// Runs `args` with stdout a pipe that is closed after the first line.
fn first_line_then_close(args: &[&str]) -> (std::process::ExitStatus, String) {
    let mut child = bin()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reading end is dropped here: the rest of the output has nowhere to go.
    let o = child.wait_with_output().unwrap();
    (o.status, String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn a_closed_stdout_ends_a_command_quietly() {
    let dir = workdir();
    let state = dir.path().join("state");
    let sb = SandboxProc::fast("loc-it");
    let p = pipeline(dir.path(), &sb.base_url, &many_rows(400), "");
    for i in 0..3 {
        let o = sb.run_with(
            &p,
            &dir.path().join(format!("o{i}")),
            &["--state-dir", state.to_str().unwrap()],
        );
        assert_eq!(o.status.code(), Some(0));
    }
    let p_str = p.to_str().unwrap();
    for args in [
        &["runs", "--state-dir", state.to_str().unwrap()][..],
        &["preview", p_str, "--rows", "400"],
        &["man"],
    ] {
        let (status, err) = first_line_then_close(args);
        // It used to panic (exit 101, "failed printing to stdout: Broken pipe").
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(
            status.code() == Some(0) || status.signal() == Some(libc::SIGPIPE),
            "{args:?}: {status:?} {err}"
        );
    }
}

#[test]
fn a_failed_run_prints_its_error_once_without_colour_codes_in_a_file() {
    let dir = workdir();
    let p = pipeline(dir.path(), "http://127.0.0.1:9", &many_rows(3), "");
    let err_file = dir.path().join("stderr.txt");
    let o = bin()
        .args(["run", "--out"])
        .arg(dir.path().join("o"))
        .arg(&p)
        // The token variable is not set: the run fails before it starts.
        .stderr(std::fs::File::create(&err_file).unwrap())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(o.code(), Some(2));
    let err = std::fs::read_to_string(&err_file).unwrap();
    assert!(!err.contains('\u{1b}'), "colour codes in a file: {err:?}");
    assert_eq!(err.matches("IT_TOKEN").count(), 1, "printed once: {err}");
}

#[test]
fn validate_reads_a_sample_so_a_wrong_encoding_fails_there_not_in_the_run() {
    let dir = workdir();
    let mut bytes = b"First Name,Last Name,Email\n".to_vec();
    for i in 0..20 {
        // "José Müller" in Windows-1252: é = 0xE9, ü = 0xFC.
        bytes.extend(format!("Jos\u{1}, M\u{2}ller{i},m{i}@example.com\n").as_bytes());
    }
    let bytes: Vec<u8> = bytes
        .into_iter()
        .map(|b| match b {
            1 => 0xE9,
            2 => 0xFC,
            b => b,
        })
        .collect();
    std::fs::write(dir.path().join("in.csv"), &bytes).unwrap();
    let p = dir.path().join("p.yaml");
    std::fs::write(
        &p,
        "version: 1\nsource: {type: csv, path: in.csv, encoding: utf-8}\n\
         target: {location_id: loc-it, auth: {token_env: IT_TOKEN}}\n\
         mapping: {email: Email, firstName: First Name, lastName: Last Name}\n",
    )
    .unwrap();
    // It used to pass (exit 0), and then the run rejected every row.
    let o = run(bin().args(["validate", "--sandbox"]).arg(&p));
    let (so, se) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{so}{se}");
    let all = format!("{so}{se}");
    assert!(
        all.contains("20 of 20 rows would be rejected as invalid_encoding"),
        "{all}"
    );
    assert!(all.contains("windows-1252"), "{all}");
}

#[test]
fn common_mistakes_get_a_message_that_says_what_to_do() {
    let dir = workdir();
    let d = dir.path();
    std::fs::write(
        d.join("contacts.csv"),
        "First Name;Email;Phone\nAnn;ann@example.com;1\n",
    )
    .unwrap();
    std::fs::copy(
        repo().join("samples/excel/contacts.xlsx"),
        d.join("book.xlsx"),
    )
    .unwrap();
    let yaml = |name: &str, source: &str| {
        let p = d.join(name);
        std::fs::write(
            &p,
            format!(
                "version: 1\nsource: {source}\ntarget: {{location_id: loc-it, auth: {{token_env: IT_TOKEN}}}}\n\
                 mapping: {{email: Email}}\n"
            ),
        )
        .unwrap();
        p
    };
    let cases = [
        // A data file given to `run`: point at init (it used to say "expected mapping start").
        (
            vec![
                "run".to_owned(),
                d.join("contacts.csv").display().to_string(),
            ],
            "ghl-import init",
        ),
        // A workbook read as CSV (it used to suggest encoding: windows-1252).
        (
            vec![
                "validate".to_owned(),
                "--sandbox".to_owned(),
                yaml("x.yaml", "{type: csv, path: book.xlsx}")
                    .display()
                    .to_string(),
            ],
            "set source.type: excel",
        ),
        // A forced wrong delimiter: name the one the header holds.
        (
            vec![
                "validate".to_owned(),
                "--sandbox".to_owned(),
                yaml(
                    "y.yaml",
                    "{type: csv, path: contacts.csv, delimiter: \",\"}",
                )
                .display()
                .to_string(),
            ],
            "source.delimiter: \";\"",
        ),
        // A missing source file, in words (it used to end in "(os error 2)").
        (
            vec![
                "validate".to_owned(),
                "--sandbox".to_owned(),
                yaml("m.yaml", "{type: csv, path: gone/contacts.csv}")
                    .display()
                    .to_string(),
            ],
            "/gone does not exist",
        ),
        // An unknown sheet: the sheets the workbook has.
        (
            vec![
                "validate".to_owned(),
                "--sandbox".to_owned(),
                yaml("s.yaml", "{type: excel, path: book.xlsx, sheet: Contactz}")
                    .display()
                    .to_string(),
            ],
            "no sheet `Contactz`; its sheets: `Contacts`",
        ),
        // A missing pipeline and a folder given as one.
        (
            vec!["run".to_owned(), d.join("nope.yaml").display().to_string()],
            "no such file",
        ),
        (
            vec!["run".to_owned(), d.display().to_string()],
            "ghl-import serve",
        ),
    ];
    for (args, says) in cases {
        let o = run(bin().args(&args));
        let (so, se) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {so}{se}");
        assert!(format!("{so}{se}").contains(says), "{args:?}: {so}{se}");
        assert!(!se.contains("os error"), "{args:?}: {se}");
    }
}

/// A wrong location and an expired (or mistyped) token: `run` and `validate --live` say which,
/// name the variable to fix and never print the token.
#[test]
fn a_wrong_location_or_a_refused_token_says_what_to_fix() {
    let sb = SandboxProc::fast("loc-it");
    let dir = workdir();
    let p = pipeline(dir.path(), &sb.base_url, &many_rows(3), "");
    let yaml = std::fs::read_to_string(&p).unwrap();
    let other = dir.path().join("other.yaml");
    std::fs::write(&other, yaml.replace("loc-it", "loc-elsewhere")).unwrap();
    let cases = [
        (
            &other,
            sb.token.as_str(),
            "location_id (a token works for its own location only)",
        ),
        (
            &p,
            "pit-expired-0000",
            "`$IT_TOKEN`, the variable named by target.auth.token_env",
        ),
    ];
    for (i, (pipeline, token, says)) in cases.into_iter().enumerate() {
        let o = run(bin()
            .env("IT_TOKEN", token)
            .arg("run")
            .arg(pipeline)
            .arg("--out")
            .arg(dir.path().join(format!("o{i}"))));
        let (so, se) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{so}{se}");
        assert!(se.contains(says), "run: {se}");
        let v = run(bin()
            .env("IT_TOKEN", token)
            .args(["validate", "--live"])
            .arg(pipeline));
        let (vo, ve) = text(&v);
        assert_eq!(v.status.code(), Some(2), "{vo}{ve}");
        assert!(format!("{vo}{ve}").contains(says), "validate: {vo}{ve}");
        for out in [&so, &se, &vo, &ve] {
            assert!(!out.contains(token), "{out}");
        }
    }
}

#[test]
fn serve_shows_every_attempt_a_broken_pipeline_and_zero_series_from_the_start() {
    let sb = SandboxProc::fast("loc-it");
    let dir = workdir();
    // One pipeline every second whose token variable is not set (its runs end in exit 2), one
    // that does not load, one that never runs (an hourly schedule far away).
    let p = pipeline(
        dir.path(),
        &sb.base_url,
        &many_rows(3),
        "schedule:\n  cron: \"* * * * * *\"\nreport:\n  dir: out\n",
    );
    let yaml = std::fs::read_to_string(&p).unwrap();
    std::fs::write(
        &p,
        yaml.replace("token_env: IT_TOKEN", "token_env: NOT_SET_TOKEN"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("later.yaml"),
        yaml.replace("cron: \"* * * * * *\"", "cron: \"0 0 3 1 1 *\""),
    )
    .unwrap();
    std::fs::write(dir.path().join("broken.yaml"), "version: 1\nsource: [\n").unwrap();
    let mut serve = ServeProc::start(dir.path(), &sb.token);
    serve.wait_for("p.yaml failed");
    assert!(serve.get("/readyz").contains("200 OK"));
    // The failed run is counted right after it is logged.
    let v = eventually(
        10,
        || serve.status(),
        |v| {
            v["pipelines"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["pipeline"] == "p" && !p["last_run"].is_null())
        },
    );
    let by = |name: &str| {
        v["pipelines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["pipeline"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} in /status: {v}"))
    };
    assert_eq!(v["ready"], true);
    assert_eq!(by("broken")["loaded"], false);
    assert!(
        by("broken")["reason"]
            .as_str()
            .unwrap()
            .contains("broken.yaml"),
        "{v}"
    );
    assert_eq!(by("later")["loaded"], true);
    assert!(by("later")["next_run"].as_str().is_some(), "{v}");
    assert_eq!(by("p")["last_run"]["status"], "config_error", "{v}");
    assert!(by("p")["state_error"].is_null(), "{v}");
    let metrics = serve.get("/metrics");
    for series in [
        r#"ghl_import_pipeline_loaded{pipeline="broken"} 0"#,
        r#"ghl_import_pipeline_loaded{pipeline="later"} 1"#,
        // Series exist at 0 before the first run, for an alert to start from.
        r#"ghl_import_runs_total{pipeline="later",status="config_error"} 0"#,
        r#"ghl_import_rows_total{pipeline="later",outcome="rejected"} 0"#,
    ] {
        assert!(metrics.contains(series), "{series} in:\n{metrics}");
    }
    assert!(
        metrics.contains(r#"ghl_import_runs_total{pipeline="p",status="config_error"}"#)
            && !metrics.contains(r#"ghl_import_runs_total{pipeline="p",status="config_error"} 0"#),
        "{metrics}"
    );
    assert!(serve.get("/runs").contains("config_error"));
    serve.stop();
    // And in `runs`, with the reason.
    let o = run(bin().args(["runs", "--pipeline"]).arg(&p));
    let (out, _) = text(&o);
    assert!(out.contains("config_error"), "{out}");
    assert!(out.contains("NOT_SET_TOKEN"), "{out}");
}

/// A run that serve's stop interrupted is in `/status`, `/runs` and `runs` after the restart,
/// with its unsent rows as not_attempted (not "rejected" by the API).
#[test]
fn serve_shows_a_run_its_last_stop_interrupted_after_the_restart() {
    // Five requests a second: the run is still writing when serve is stopped.
    let sb = SandboxProc::start("loc-it", &["--rate-max", "5", "--rate-interval-ms", "1000"]);
    let dir = workdir();
    let p = pipeline(
        dir.path(),
        &sb.base_url,
        &many_rows(40),
        "schedule:\n  cron: \"* * * * * *\"\nreport:\n  dir: out\n",
    );
    let serve = ServeProc::start(dir.path(), &sb.token);
    wait_for_contacts(&sb, "loc-it", 2);
    let said = serve.stop();
    assert!(said.contains("interrupted"), "{said}");
    // Restarted with a schedule far away: nothing new runs, the last run is the interrupted one.
    let yaml = std::fs::read_to_string(&p).unwrap();
    std::fs::write(
        &p,
        yaml.replace("cron: \"* * * * * *\"", "cron: \"0 0 3 1 1 *\""),
    )
    .unwrap();
    let serve = ServeProc::start(dir.path(), &sb.token);
    let v = eventually(10, || serve.status(), |v| v["ready"] == true);
    let last = &v["pipelines"][0]["last_run"];
    assert_eq!(last["status"], "interrupted", "{v}");
    let report = std::path::PathBuf::from(last["report_dir"].as_str().unwrap());
    let s = summary(&report);
    let unsent = s["rejected_by_code"]["not_attempted"].as_u64().unwrap_or(0);
    assert!(unsent > 0, "{s}");
    assert_eq!(
        s["rows"]["rejected"].as_u64(),
        Some(unsent),
        "only unsent rows, no API rejects: {s}"
    );
    assert!(serve.get("/runs").contains("interrupted"));
    assert!(serve.get("/readyz").contains("200 OK"));
    assert!(serve
        .get("/metrics")
        .contains(r#"ghl_import_runs_total{pipeline="p",status="interrupted"} 0"#));
    serve.stop();
    let o = run(bin().args(["runs", "--pipeline"]).arg(&p));
    assert!(text(&o).0.contains("interrupted"), "{}", text(&o).0);
}

#[test]
fn every_subcommands_help_has_examples() {
    for cmd in [
        &["run"][..],
        &["validate"],
        &["serve"],
        &["runs"],
        &["rollback"],
        &["retry-rejects"],
        &["init"],
        &["preview"],
        &["report"],
        &["completions"],
        &["man"],
        &["auth", "login"],
        &["auth", "status"],
        &["auth", "logout"],
    ] {
        let o = run(bin().args(cmd).arg("--help"));
        let (out, _) = text(&o);
        assert_eq!(o.status.code(), Some(0), "{cmd:?}");
        assert!(
            out.contains("Example"),
            "{cmd:?} --help has no example:\n{out}"
        );
        assert!(out.contains("ghl-import "), "{cmd:?}");
    }
}

#[test]
fn report_keep_and_runs_prune_remove_old_report_folders_only() {
    let dir = workdir();
    let sb = SandboxProc::fast("loc-it");
    let p = pipeline(
        dir.path(),
        &sb.base_url,
        &many_rows(3),
        "report:\n  dir: out\n  keep: {runs: 2}\n",
    );
    for _ in 0..4 {
        let o = run(bin().args(["run", "-q"]).arg(&p).env("IT_TOKEN", &sb.token));
        assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
        // Report folders are named by the second.
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    let folders = |d: &std::path::Path| std::fs::read_dir(d).unwrap().count();
    let out = dir.path().join("out");
    assert_eq!(folders(&out), 2, "report.keep: the two newest");
    // A folder that is not a run's is never touched.
    std::fs::create_dir_all(out.join("notes")).unwrap();
    let state = dir.path().join(".ghl-import");
    let o = run(bin()
        .args([
            "runs",
            "prune",
            "--keep-runs",
            "1",
            "--dry-run",
            "--state-dir",
        ])
        .arg(&state));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    assert!(
        text(&o).0.contains("would remove 1 report folders"),
        "{}",
        text(&o).0
    );
    assert_eq!(folders(&out), 3);
    let o = run(bin()
        .args(["runs", "prune", "--keep-runs", "1", "--state-dir"])
        .arg(&state));
    assert!(
        text(&o).0.contains("removed 1 report folders"),
        "{}",
        text(&o).0
    );
    assert_eq!(folders(&out), 2, "the newest run's folder and notes/");
    assert!(out.join("notes").is_dir());
    // The history keeps every run.
    let o = run(bin().args(["runs", "--state-dir"]).arg(&state));
    assert_eq!(
        text(&o).0.lines().filter(|l| l.contains(" run ")).count(),
        4,
        "{}",
        text(&o).0
    );
}

#[test]
fn the_readme_claims_about_counts_and_logs_hold() {
    let dir = workdir();
    let out = dir.path().join("o");
    let o = run(bin()
        .current_dir(repo())
        .args([
            "--log-format",
            "json",
            "run",
            "pipelines/quickstart.yaml",
            "--sandbox",
            "-q",
            "--out",
        ])
        .arg(&out));
    assert_eq!(o.status.code(), Some(3));
    let (_, err) = text(&o);
    // JSON logs: every stderr line is a JSON object; `Run finished.` carries the counts.
    let lines: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let done = lines
        .iter()
        .find(|l| l["message"] == "Run finished.")
        .expect("a Run finished. line");
    for (k, v) in [
        ("rows_read", 50),
        ("created", 45),
        ("rejected", 5),
        ("exit", 3),
    ] {
        assert_eq!(done[k], v, "{k}: {done}");
    }
    assert!(done["requests"].as_u64().unwrap() >= 46, "{done}");
    // summary.json: the outcomes add up to the rows read.
    let s = summary(&out);
    let r = &s["rows"];
    let sum: u64 = ["created", "updated", "unchanged", "exported", "rejected"]
        .iter()
        .map(|k| r[*k].as_u64().unwrap())
        .sum();
    assert_eq!(r["outcomes"].as_u64(), Some(sum), "{s}");
    assert_eq!(r["outcomes"], r["read"], "{s}");
    // The printed summary (text mode) shows the same counts.
    let o = run(bin()
        .current_dir(repo())
        .args(["run", "pipelines/quickstart.yaml", "--sandbox", "--out"])
        .arg(dir.path().join("o2")));
    let (printed, _) = text(&o);
    assert!(printed.contains("created           45"), "{printed}");
    assert!(printed.contains("rejected           5"), "{printed}");
}

/// Every file under `dir`, read as bytes.
fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(b) = std::fs::read(&p) {
                out.push((p, b));
            }
        }
    }
    out
}

#[test]
fn a_token_in_use_is_in_no_output_report_history_or_journal() {
    let dir = workdir();
    let sb = SandboxProc::fast("loc-it");
    let wrong = "pit-0badc0de-1111-2222-3333-444455556666";
    let p = pipeline(
        dir.path(),
        &sb.base_url,
        &many_rows(5),
        "report:\n  dir: out\n",
    );
    let mut outputs = Vec::new();
    // The right token, then a refused one, in text and JSON logs, verbose; then the commands
    // that read a run back.
    for (token, args, code) in [
        (sb.token.as_str(), &["-vv", "run"][..], 0),
        (
            sb.token.as_str(),
            &["--log-format", "json", "-v", "run", "--dry-run"],
            0,
        ),
        (wrong, &["-vv", "run"], 1),
        (wrong, &["--log-format", "json", "run"], 1),
        (sb.token.as_str(), &["validate", "--live"], 0),
        (wrong, &["preview", "--live"], 1),
    ] {
        let o = run(bin().args(args).arg(&p).env("IT_TOKEN", token));
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", text(&o).1);
        outputs.push((format!("{args:?}"), [o.stdout, o.stderr].concat()));
    }
    let o = run(bin().args(["runs"]).arg("--pipeline").arg(&p));
    outputs.push(("runs".into(), o.stdout));
    for (path, bytes) in files_under(dir.path()) {
        if path.ends_with("p.yaml") {
            continue;
        }
        outputs.push((path.display().to_string(), bytes));
    }
    assert!(outputs.len() > 20, "reports, history and journal were read");
    for secret in [sb.token.as_str(), wrong] {
        for (what, bytes) in &outputs {
            let text = String::from_utf8_lossy(bytes);
            assert!(!text.contains(secret), "{what} holds a token");
        }
    }
}

#[test]
fn serve_is_not_ready_while_its_state_folder_cannot_be_written() {
    let sb = SandboxProc::fast("loc-it");
    let dir = workdir();
    pipeline(
        dir.path(),
        &sb.base_url,
        &many_rows(1),
        "schedule:\n  cron: \"0 0 3 1 1 *\"\n",
    );
    // A file where the state folder should be.
    let blocked = dir.path().join("state");
    std::fs::write(&blocked, "not a folder").unwrap();
    let serve = ServeProc::start_with(
        dir.path(),
        &[("IT_TOKEN", sb.token.as_str())],
        &["--state-dir", blocked.to_str().unwrap()],
    );
    let status = eventually(
        10,
        || serve.get("/status"),
        |s| s.contains("state_error\":\""),
    );
    assert!(status.contains("state_error\":\""), "{status}");
    assert!(serve.get("/readyz").contains("503"), "not ready");
    assert!(serve.get("/healthz").ends_with("ok\n"), "still alive");
}

#[test]
fn rehearsals_are_marked_and_listed_apart_from_real_runs() {
    let dir = workdir();
    let sb = SandboxProc::fast("loc-it");
    let p = pipeline(dir.path(), &sb.base_url, &many_rows(2), "");
    assert_eq!(
        sb.run_pipeline(&p, &dir.path().join("real")).status.code(),
        Some(0)
    );
    let o = run(bin()
        .args(["run", "-q", "--sandbox", "--out"])
        .arg(dir.path().join("r"))
        .arg(&p));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let kinds = |filter: &str| -> Vec<String> {
        let o = run(bin()
            .args(["runs", "--format", "json", "--kind", filter, "--pipeline"])
            .arg(&p));
        let v: serde_json::Value = serde_json::from_str(&text(&o).0).unwrap();
        v["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["kind"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(kinds("real"), ["run"]);
    assert_eq!(kinds("rehearsal"), ["rehearsal_run"]);
    assert_eq!(kinds("all").len(), 2);
}

/// The README's promise: a second SIGINT or SIGTERM exits at once, without waiting for requests
/// in flight (here hung for a minute) — the code of a process the signal killed.
#[test]
fn a_second_signal_exits_at_once() {
    let sb = SandboxProc::start(
        "loc-it",
        &[FAST, &["--fault", "slowcreated=60000x2@1"]].concat(),
    );
    let dir = workdir();
    let p = pipeline(
        dir.path(),
        &sb.base_url,
        &many_rows(20),
        "load:\n  timeout_secs: 120\n",
    );
    let mut child = bin()
        .args(["run", "-q", "--out"])
        .arg(dir.path().join("o"))
        .arg(&p)
        .env("IT_TOKEN", &sb.token)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    eventually(
        20,
        || sb.stats()["faults_injected"].as_u64(),
        |n| *n >= Some(2),
    );
    signal(&child, "-TERM");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("send it again to exit at once"));
    assert!(first.is_some(), "the first signal was not taken");
    signal(&child, "-TERM");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143), "{rest:?}");
    assert!(rest.iter().any(|l| l.contains("exiting now")), "{rest:?}");
}
