//! Configuration errors from the CLI: exit code 2, a clear message with a position, no panic.

use crate::util::*;

fn expect_config_error(o: &std::process::Output) -> String {
    assert_eq!(o.status.code(), Some(2));
    let (_, stderr) = text(o);
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn yaml_syntax_error_has_line_and_column() {
    let dir = workdir();
    let p = dir.path().join("bad.yaml");
    std::fs::write(&p, "version: 1\nsource:\n  type: csv\n  path: [x.csv\n").unwrap();
    let e = expect_config_error(&run(bin().arg("run").arg(&p).arg("--sandbox")));
    assert!(e.contains(&format!("{}:4:", p.display())), "{e}");
}

#[test]
fn unknown_key_has_position_and_suggestion() {
    let dir = workdir();
    let p = pipeline(
        dir.path(),
        "http://127.0.0.1:9",
        "First Name,Email,Phone\n",
        "load:\n  concurency: 2\n",
    );
    let e = expect_config_error(&run(bin().arg("validate").arg(&p)));
    assert!(
        e.contains(&format!("{}:17:3: unknown field `concurency`", p.display())),
        "{e}"
    );
    assert!(e.contains("did you mean `concurrency`?"), "{e}");
}

#[test]
fn missing_env_var_names_it() {
    let dir = workdir();
    let p = dir.path().join("p.yaml");
    let yaml = std::fs::read_to_string(repo().join("pipelines/quickstart.yaml"))
        .unwrap()
        .replace(
            "${GHL_LOCATION_ID:-quickstart-location}",
            "${IT_UNSET_LOCATION}",
        );
    std::fs::write(&p, yaml).unwrap();
    let e = expect_config_error(&run(bin().arg("run").arg(&p).arg("--sandbox")));
    assert!(
        e.contains("environment variable `IT_UNSET_LOCATION` is not set"),
        "{e}"
    );
    assert!(e.contains("location_id: ${IT_UNSET_LOCATION}"), "{e}");
}

#[test]
fn missing_token_variable_is_a_config_error() {
    let dir = workdir();
    let p = pipeline(
        dir.path(),
        "http://127.0.0.1:9",
        "First Name,Email,Phone\nA,a@example.com,\n",
        "",
    );
    let o = run(bin()
        .arg("run")
        .arg(&p)
        .arg("--out")
        .arg(dir.path().join("o")));
    let e = expect_config_error(&o);
    assert!(
        e.contains("environment variable `IT_TOKEN` is not set"),
        "{e}"
    );
    assert!(
        !dir.path().join("o").exists(),
        "nothing is written before the build succeeds"
    );
}

#[test]
fn missing_input_file_is_a_config_error() {
    let dir = workdir();
    let p = pipeline(dir.path(), "http://127.0.0.1:9", "x", "");
    std::fs::remove_file(dir.path().join("in.csv")).unwrap();
    let e = expect_config_error(&run(bin().arg("run").arg(&p).arg("--sandbox")));
    assert!(e.contains("cannot open source file"), "{e}");
    assert!(e.contains("in.csv"), "{e}");
}

#[test]
fn missing_pipeline_file_is_a_config_error() {
    let e = expect_config_error(&run(bin().args([
        "run",
        "/nonexistent/p.yaml",
        "--sandbox",
    ])));
    assert!(
        e.contains("cannot read pipeline file /nonexistent/p.yaml"),
        "{e}"
    );
}

#[test]
fn mapped_column_missing_from_the_file_is_named() {
    let dir = workdir();
    let p = pipeline(
        dir.path(),
        "http://127.0.0.1:9",
        "First Name,E-mail,Phone\n",
        "",
    );
    let e = expect_config_error(&run(bin().arg("validate").arg(&p).arg("--sandbox")));
    assert!(e.contains("mapping.email: column `Email` is not in"), "{e}");
    assert!(e.contains("did you mean `E-mail`?"), "{e}");
}

#[test]
fn help_lists_examples_and_exit_codes() {
    let o = run(bin().arg("--help"));
    assert_eq!(o.status.code(), Some(0));
    let (stdout, _) = text(&o);
    assert!(
        stdout.contains("ghl-import run pipelines/quickstart.yaml --sandbox"),
        "{stdout}"
    );
    assert!(stdout.contains("Exit codes"), "{stdout}");
}

#[test]
fn yaml_library_errors_read_in_the_users_words_with_positions() {
    let dir = workdir();
    let cases: [(&str, &str, &str); 5] = [
        (
            "load:\n  concurrency: 2\n  concurrency: 3\n",
            ":18:3:",
            "the key `concurrency` appears twice",
        ),
        (
            "load:\n  concurrency: lots\n",
            ":17:16:",
            "`concurrency`: expected a whole number",
        ),
        (
            "load:\n  concurrency: 0\n",
            ":17:",
            "`concurrency`: expected a whole number of at least 1",
        ),
        (
            "load:\n  concurrency: [1]\n",
            ":17:16:",
            "not a list or a section",
        ),
        (
            "load:\n  rate_limit:\n    interval_ms: 100000000000000000\n",
            ":18:5:",
            "load.rate_limit.interval_ms: 100000000000000000 is out of range: use 1..=86400000",
        ),
    ];
    for (extra, pos, message) in cases {
        let p = pipeline(
            dir.path(),
            "http://127.0.0.1:9",
            "First Name,Email,Phone\n",
            extra,
        );
        // `run` too: the bad value must never reach a library and panic there.
        for cmd in ["validate", "run"] {
            let e = expect_config_error(&run(bin().arg(cmd).arg(&p).env("IT_TOKEN", "t")));
            assert!(e.contains(&format!("p.yaml{pos}")), "{extra}: {e}");
            assert!(e.contains(message), "{extra}: {e}");
        }
    }
}

#[test]
fn credentials_in_a_base_url_are_refused_and_never_echoed() {
    let dir = workdir();
    let p = pipeline(
        dir.path(),
        "http://user:s3cr3t-pass@127.0.0.1:9",
        "First Name,Email,Phone\nAnn,ann@example.com,\n",
        "",
    );
    let o = run(bin().arg("run").arg(&p).env("IT_TOKEN", "t"));
    let e = expect_config_error(&o);
    assert!(e.contains("target.base_url: holds credentials"), "{e}");
    let (out, err) = text(&o);
    assert!(
        !out.contains("s3cr3t") && !err.contains("s3cr3t"),
        "{out}{err}"
    );
}

#[test]
fn an_inbox_source_is_checked_with_positions() {
    let dir = workdir();
    let p = pipeline(
        dir.path(),
        "http://127.0.0.1:9",
        "First Name,Email,Phone\n",
        "",
    );
    let yaml = std::fs::read_to_string(&p).unwrap();
    let write = |source: &str| {
        std::fs::write(&p, yaml.replace("  path: in.csv\n", source)).unwrap();
        expect_config_error(&run(bin().arg("validate").arg(&p)))
    };
    // Both a file and a folder, then neither.
    let e = write("  path: in.csv\n  inbox: {dir: incoming}\n");
    assert!(
        e.contains(&format!("{}:5:3: source.inbox", p.display())),
        "{e}"
    );
    assert!(e.contains("not both"), "{e}");
    let e = write("");
    assert!(e.contains("missing `path`"), "{e}");
    // A pattern that is not one, and `done` the inbox itself.
    let e = write("  inbox: {dir: incoming, pattern: \"*.{csv\"}\n");
    assert!(e.contains("source.inbox.pattern"), "{e}");
    assert!(e.contains("is not a file-name pattern"), "{e}");
    let e = write("  inbox: {dir: incoming, done: incoming}\n");
    assert!(e.contains("three different folders"), "{e}");
    // A valid inbox whose folder does not exist: validate says so, run too.
    let e = write("  inbox: {dir: incoming}\n");
    assert!(e.contains("is not a folder"), "{e}");
    let e = expect_config_error(&run(bin().arg("run").arg(&p).arg("--sandbox")));
    assert!(e.contains("source.inbox.dir"), "{e}");
    assert!(e.contains("is not a folder"), "{e}");
}

#[test]
fn completions_and_the_man_page_come_from_the_argument_parser() {
    for shell in ["bash", "zsh", "fish"] {
        let o = run(bin().args(["completions", shell]));
        assert_eq!(o.status.code(), Some(0));
        let script = text(&o).0;
        for word in ["ghl-import", "serve", "retry-rejects", "dry-run", "shard"] {
            assert!(script.contains(word), "{shell}: {word}");
        }
    }
    let o = run(bin().args(["completions", "tcsh"]));
    assert_eq!(
        o.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
    let o = run(bin().arg("man"));
    assert_eq!(o.status.code(), Some(0));
    let page = text(&o).0;
    assert!(
        page.starts_with(".ie") || page.contains(".TH ghl-import"),
        "{page}"
    );
    for word in ["ghl-import", "serve", "Exit codes"] {
        assert!(page.contains(word), "man page: {word}");
    }
}

#[test]
fn validate_format_json_says_which_phase_failed_and_where() {
    let dir = workdir();
    let p = dir.path().join("bad.yaml");
    std::fs::write(&p, "version: 1\nsource:\n  type: csv\n  path: [x.csv\n").unwrap();
    let o = run(bin().args(["validate", "--format", "json"]).arg(&p));
    assert_eq!(o.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_str(&text(&o).0).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["phases"][0]["phase"], "pipeline");
    assert_eq!(v["phases"][0]["ok"], false);
    let detail = v["phases"][0]["detail"].as_str().unwrap();
    assert!(detail.contains(&format!("{}:4:", p.display())), "{detail}");
}
