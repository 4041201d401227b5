//! OAuth against the sandbox's OAuth server: login (loopback and pasted), the 0600 token store,
//! refresh mid-run, two runs sharing a store, a crash between refresh and persist, least
//! privilege, and no token in any output or report.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::util::*;

pub(crate) const SECRET_VAR: &str = "IT_CLIENT_SECRET";
pub(crate) const SECRET: &str = "sandbox-secret";

/// One HTTP GET to an absolute http URL; returns (status, Location header).
fn get(url: &str) -> (u16, Option<String>) {
    let u = reqwest::Url::parse(url).unwrap();
    let addr = format!("{}:{}", u.host_str().unwrap(), u.port().unwrap());
    let mut s = TcpStream::connect(&addr).unwrap();
    let target = match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_owned(),
    };
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let location = raw
        .lines()
        .find_map(|l| {
            l.strip_prefix("location: ")
                .or_else(|| l.strip_prefix("Location: "))
        })
        .map(|l| l.trim().to_owned());
    (status, location)
}

/// A sandbox for `loc-it` allowing `rate` requests per second, whose access tokens live `ttl` s.
fn oauth_sandbox(rate: u32, ttl: u32) -> SandboxProc {
    let (rate, ttl) = (rate.to_string(), ttl.to_string());
    SandboxProc::start(
        "loc-it",
        &[
            "--rate-max",
            &rate,
            "--rate-interval-ms",
            "1000",
            "--access-token-ttl-secs",
            &ttl,
        ],
    )
}

fn login_cmd(sb: &SandboxProc, state: &Path, extra: &[&str]) -> Command {
    let mut c = bin();
    c.args([
        "auth",
        "login",
        "--client-id",
        "sandbox-client",
        "--client-secret-env",
        SECRET_VAR,
        "--base-url",
        &sb.base_url,
        "--port",
        "0",
        "--state-dir",
    ])
    .arg(state)
    .args(if extra.contains(&"--agency") {
        &[][..]
    } else {
        &["--location", "loc-it"][..]
    })
    .args(extra)
    .env(SECRET_VAR, SECRET);
    c
}

/// Logs in like a user with a browser: open the printed URL (the sandbox approves at once and
/// redirects), follow the redirect to the tool's loopback listener.
pub(crate) fn login(sb: &SandboxProc, state: &Path, extra: &[&str]) -> Output {
    let mut child = login_cmd(sb, state, extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let url = loop {
        let mut line = String::new();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "no URL printed: {seen}"
        );
        seen.push_str(&line);
        if let Some(u) = line.trim().strip_prefix("http") {
            break format!("http{u}");
        }
    };
    assert!(
        url.contains("client_id=sandbox-client") && url.contains("state="),
        "{url}"
    );
    let (status, to) = get(&url);
    assert_eq!(status, 302);
    let (status, _) = get(&to.expect("redirect"));
    assert_eq!(status, 200);
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    let mut out = child.wait_with_output().unwrap();
    out.stderr = format!("{seen}{rest}").into_bytes();
    out
}

fn token_file(state: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(state.join("tokens/loc-it.json")).unwrap())
        .unwrap()
}

fn oauth_pipeline(dir: &Path, sb: &SandboxProc, csv: &str, extra: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("in.csv"), csv).unwrap();
    let p = dir.join("p.yaml");
    std::fs::write(
        &p,
        format!(
            "version: 1\nsource: {{type: csv, path: in.csv}}\n\
             target:\n  location_id: loc-it\n  base_url: {}\n  auth:\n    oauth: {{client_secret_env: {SECRET_VAR}}}\n\
             mapping: {{firstName: First Name, email: Email}}\n{extra}",
            sb.base_url
        ),
    )
    .unwrap();
    p
}

fn rows(prefix: &str, n: usize) -> String {
    let mut s = String::from("First Name,Email\n");
    for i in 0..n {
        s.push_str(&format!("{prefix}{i},{prefix}{i}@example.com\n"));
    }
    s
}

fn run_oauth(p: &Path, state: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut c = bin();
    c.args(["run", "-q"])
        .args(extra)
        .arg("--state-dir")
        .arg(state)
        .arg("--out")
        .arg(out)
        .arg(p)
        .env(SECRET_VAR, SECRET);
    c
}

/// Every file under `dir`, as text.
fn all_text(dir: &Path) -> String {
    let mut s = String::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            s.push_str(&all_text(&p));
        } else if let Ok(t) = std::fs::read_to_string(&p) {
            s.push_str(&t);
        }
    }
    s
}

#[test]
fn login_stores_private_tokens_and_a_run_uses_them_without_printing_any() {
    let sb = SandboxProc::start("loc-it", FAST);
    let dir = workdir();
    let state = dir.path().join("state");

    let o = login(&sb, &state, &[]);

    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    assert!(text(&o)
        .0
        .contains("logged in: location loc-it, scopes contacts.readonly contacts.write"));
    let f = token_file(&state);
    let (at, rt) = (
        f["access_token"].as_str().unwrap().to_owned(),
        f["refresh_token"].as_str().unwrap().to_owned(),
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(state.join("tokens/loc-it.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let p = oauth_pipeline(dir.path(), &sb, &rows("p", 5), "");
    let r = run(&mut run_oauth(&p, &state, &dir.path().join("o"), &["-v"]));
    let status = run(bin().args(["auth", "status", "--state-dir"]).arg(&state));
    let status_json = run(bin()
        .args(["auth", "status", "--format", "json", "--state-dir"])
        .arg(&state));
    let v: serde_json::Value = serde_json::from_str(&text(&status_json).0).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["grants"][0]["location"], "loc-it");
    assert_eq!(v["grants"][0]["stored"], true);
    assert_eq!(
        v["grants"][0]["scopes"],
        serde_json::json!(["contacts.readonly", "contacts.write"])
    );
    let valid = run(bin()
        .args(["validate", "--state-dir"])
        .arg(&state)
        .arg(&p)
        .env(SECRET_VAR, SECRET));
    assert_eq!(valid.status.code(), Some(0));
    assert!(
        text(&valid)
            .0
            .contains("✓ credentials for target (OAuth tokens of loc-it, scopes: contacts.readonly contacts.write)"),
        "{}",
        text(&valid).0
    );

    assert_eq!(r.status.code(), Some(0));
    assert_eq!(sb.contacts("loc-it").len(), 5);
    assert!(text(&status)
        .0
        .contains("loc-it: client sandbox-client, scopes contacts.readonly contacts.write"));
    let everything = [
        text(&o).0,
        text(&o).1,
        text(&r).0,
        text(&r).1,
        text(&status).0,
        text(&status_json).0,
        all_text(&dir.path().join("o")),
    ]
    .concat();
    assert!(
        !everything.contains(&at) && !everything.contains(&rt),
        "a token leaked"
    );
    assert!(!everything.contains(SECRET), "the client secret leaked");

    let out = run(bin()
        .args(["auth", "logout", "--location", "loc-it", "--state-dir"])
        .arg(&state));
    assert_eq!(out.status.code(), Some(0));
    assert!(!state.join("tokens/loc-it.json").exists());
}

#[test]
fn headless_login_takes_the_pasted_redirect_and_checks_state() {
    let sb = SandboxProc::start("loc-it", FAST);
    let dir = workdir();
    let state = dir.path().join("state");
    let attempt = |tamper: bool| {
        let mut child = login_cmd(&sb, &state, &["--no-browser"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let url = loop {
            let mut line = String::new();
            assert!(err.read_line(&mut line).unwrap() > 0);
            if let Some(u) = line.trim().strip_prefix("http") {
                break format!("http{u}");
            }
        };
        let (_, to) = get(&url);
        let mut to = to.unwrap();
        if tamper {
            to = to.replace("state=", "state=forged");
        }
        writeln!(child.stdin.take().unwrap(), "{to}").unwrap();
        let mut rest = String::new();
        err.read_to_string(&mut rest).unwrap();
        (child.wait().unwrap().code(), rest)
    };

    let (code, err) = attempt(true);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("state does not match"), "{err}");
    assert!(!state.join("tokens/loc-it.json").exists());

    let (code, err) = attempt(false);
    assert_eq!(code, Some(0), "{err}");
    assert!(state.join("tokens/loc-it.json").exists());
}

#[test]
fn access_token_expiring_mid_run_is_refreshed_and_the_run_completes() {
    // Tokens live 2 s; 30 rows at 10 requests per second take ~3 s.
    let sb = oauth_sandbox(10, 2);
    let dir = workdir();
    let state = dir.path().join("state");
    assert_eq!(login(&sb, &state, &[]).status.code(), Some(0));
    let first = token_file(&state)["refresh_token"].clone();
    let p = oauth_pipeline(
        dir.path(),
        &sb,
        &rows("p", 30),
        "load:\n  concurrency: 2\n  rate_limit: {max_requests: 10, interval_ms: 1000}\n",
    );

    let r = run(&mut run_oauth(&p, &state, &dir.path().join("o"), &[]));

    assert_eq!(r.status.code(), Some(0));
    assert_eq!(sb.contacts("loc-it").len(), 30);
    let s = sb.stats();
    assert!(s["oauth_refreshes"].as_u64().unwrap() >= 1, "{s}");
    assert_eq!(s["refresh_token_reuse"], 0, "{s}");
    assert_ne!(
        token_file(&state)["refresh_token"],
        first,
        "the rotated token was saved"
    );
}

#[test]
fn two_runs_sharing_a_store_never_present_the_same_refresh_token() {
    let sb = oauth_sandbox(40, 2);
    let dir = workdir();
    let state = dir.path().join("state");
    assert_eq!(login(&sb, &state, &[]).status.code(), Some(0));
    let mk = |name: &str, prefix: &str| {
        let d = dir.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        oauth_pipeline(
            &d,
            &sb,
            &rows(prefix, 40),
            // The second run waits for the location's lease (one writer per location), but
            // both processes use the token store from the start: B checks and refreshes its
            // token while A runs.
            "load:\n  concurrency: 2\n  on_busy: wait\n  rate_limit: {max_requests: 20, interval_ms: 1000}\n",
        )
    };
    let (pa, pb) = (mk("a", "a"), mk("b", "b"));

    let ca = run_oauth(&pa, &state, &dir.path().join("oa"), &[])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let cb = run_oauth(&pb, &state, &dir.path().join("ob"), &[])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (oa, ob) = (
        ca.wait_with_output().unwrap(),
        cb.wait_with_output().unwrap(),
    );

    assert_eq!(
        oa.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&oa.stderr)
    );
    assert_eq!(
        ob.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ob.stderr)
    );
    assert_eq!(sb.contacts("loc-it").len(), 80);
    let s = sb.stats();
    assert!(s["oauth_refreshes"].as_u64().unwrap() >= 2, "{s}");
    assert_eq!(s["refresh_token_reuse"], 0, "{s}");
}

#[test]
fn a_crash_between_refresh_and_persist_does_not_lose_access() {
    // Two crash points: right after the server answered the refresh (the old refresh token is
    // spent, the new one only in memory), and in the middle of saving (the new file written and
    // synced, not yet renamed over the old one). Either way the store still holds a complete
    // file, and the next run recovers without the user.
    for (i, point) in ["after-refresh", "before-rename"].into_iter().enumerate() {
        let sb = oauth_sandbox(1000, 1);
        let dir = workdir();
        let state = dir.path().join("state");
        assert_eq!(login(&sb, &state, &[]).status.code(), Some(0));
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let p = oauth_pipeline(dir.path(), &sb, &rows("p", 5), "");

        let crashed =
            run(run_oauth(&p, &state, &dir.path().join("o1"), &[])
                .env("GHL_IMPORT_CRASH_AT", point));
        assert_ne!(crashed.status.code(), Some(0), "{point}");
        assert!(text(&crashed)
            .1
            .contains(&format!("crash injected at {point}")));
        assert_eq!(sb.contacts("loc-it").len(), 0);
        let _ = token_file(&state); // still a complete, readable file

        let r = run(&mut run_oauth(&p, &state, &dir.path().join("o2"), &[]));

        assert_eq!(r.status.code(), Some(0), "{point}");
        assert_eq!(sb.contacts("loc-it").len(), 5);
        let s = sb.stats();
        assert_eq!(s["oauth_reconnects"], 1, "{point} ({i}): {s}");
        assert_eq!(
            s["refresh_token_reuse"], 1,
            "the one spent by the crashed run: {s}"
        );
    }
}

#[test]
fn a_read_only_grant_plans_but_a_write_run_fails_early_naming_the_scope() {
    let sb = SandboxProc::start("loc-it", FAST);
    let dir = workdir();
    let state = dir.path().join("state");
    assert_eq!(
        login(&sb, &state, &["--scope", "contacts.readonly"])
            .status
            .code(),
        Some(0)
    );
    let p = oauth_pipeline(dir.path(), &sb, &rows("p", 3), "");

    let dry = run(&mut run_oauth(
        &p,
        &state,
        &dir.path().join("o1"),
        &["--dry-run"],
    ));
    let real = run(&mut run_oauth(&p, &state, &dir.path().join("o2"), &[]));

    assert_eq!(dry.status.code(), Some(0));
    assert_eq!(real.status.code(), Some(2));
    assert!(
        text(&real)
            .1
            .contains("has scopes [contacts.readonly]; `run` needs contacts.write"),
        "{}",
        text(&real).1
    );
    let s = sb.stats();
    assert!(
        s["requests_by_endpoint"]
            .get("POST /contacts/upsert")
            .is_none(),
        "{s}"
    );
    assert_eq!(sb.contacts("loc-it").len(), 0);
}

#[test]
fn a_refused_refresh_stops_the_run_with_every_row_accounted_and_no_secret_shown() {
    let sb = oauth_sandbox(1000, 1);
    let dir = workdir();
    let state = dir.path().join("state");
    assert_eq!(login(&sb, &state, &[]).status.code(), Some(0));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let p = oauth_pipeline(dir.path(), &sb, &rows("p", 3), "");
    let rt = token_file(&state)["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let r = run(run_oauth(&p, &state, &dir.path().join("o"), &[]).env(SECRET_VAR, "wrong-secret"));

    assert_eq!(r.status.code(), Some(1));
    let (out, err) = text(&r);
    assert!(
        err.contains("invalid_client") && err.contains("auth login"),
        "{err}"
    );
    let s = summary(&dir.path().join("o"));
    assert_eq!(s["rejected_by_code"]["not_attempted"], 3, "{s}");
    let all = [out, err, all_text(&dir.path().join("o"))].concat();
    assert!(!all.contains(&rt) && !all.contains("wrong-secret"));
    assert_eq!(sb.contacts("loc-it").len(), 0);
}

#[test]
fn a_401_mid_run_triggers_one_refresh_and_the_request_is_sent_again() {
    let sb = oauth_sandbox(1000, 3600);
    let dir = workdir();
    let state = dir.path().join("state");
    assert_eq!(login(&sb, &state, &[]).status.code(), Some(0));
    // The 3rd API request from now is refused with 401 (as when the token was revoked or
    // rotated elsewhere), once.
    let (status, body) = sb.raw("POST", "/_sandbox/faults", &[], r#"["401x1@2"]"#);
    assert_eq!((status, body.as_str()), (200, r#"{"pending":1}"#));
    let p = oauth_pipeline(dir.path(), &sb, &rows("p", 6), "load:\n  concurrency: 1\n");

    let r = run(&mut run_oauth(&p, &state, &dir.path().join("o"), &[]));

    assert_eq!(r.status.code(), Some(0));
    assert_eq!(sb.contacts("loc-it").len(), 6);
    let s = sb.stats();
    assert_eq!(s["faults_injected"], 1, "{s}");
    assert_eq!(s["oauth_refreshes"], 1, "{s}");
    assert_eq!(s["refresh_token_reuse"], 0, "{s}");
}

#[test]
fn an_agency_token_mints_location_tokens_that_work_for_their_own_location_only() {
    let sb = SandboxProc::start("loc-a", &[FAST, &["--location", "loc-b"]].concat());
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    // The agency approves the app (user_type=Company on the sandbox's chooser).
    let (status, to) = get(&format!(
        "{}/oauth/chooselocation?response_type=code&client_id=sandbox-client&redirect_uri=http://127.0.0.1:9/cb&scope=contacts.readonly%20contacts.write%20oauth.write%20oauth.readonly&user_type=Company",
        sb.base_url
    ));
    assert_eq!(status, 302);
    let code = to
        .unwrap()
        .split("code=")
        .nth(1)
        .and_then(|c| c.split('&').next())
        .unwrap()
        .to_owned();
    let token = |body: &str| {
        let (s, b) = sb.raw("POST", "/oauth/token", &form, body);
        (s, serde_json::from_str::<serde_json::Value>(&b).unwrap())
    };
    let exchange = format!(
        "client_id=sandbox-client&client_secret=sandbox-secret&grant_type=authorization_code&code={code}&redirect_uri=http://127.0.0.1:9/cb&user_type=Location"
    );
    let (s, v) = token(&exchange);
    assert_eq!(s, 400, "an agency grant is not a location token: {v}");
    assert!(
        v["error_description"]
            .as_str()
            .unwrap()
            .contains("user_type Company"),
        "{v}"
    );
    let (s, v) = token(&exchange.replace("Location", "Company"));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["userType"], "Company");
    assert!(v.get("locationId").is_none());
    let company = v["access_token"].as_str().unwrap().to_owned();
    let bearer = format!("Bearer {company}");
    let auth = [
        ("Authorization", bearer.as_str()),
        ("Version", "2021-07-28"),
    ];

    // The locations it is installed on, paged.
    let (s, b) = sb.raw(
        "GET",
        "/oauth/installedLocations?companyId=sandbox-company&appId=sandbox&limit=1",
        &auth,
        "",
    );
    let v: serde_json::Value = serde_json::from_str(&b).unwrap();
    assert_eq!((s, v["count"].as_u64()), (200, Some(2)), "{v}");
    assert_eq!(v["locations"].as_array().unwrap().len(), 1);
    assert_eq!(v["locations"][0]["_id"], "loc-a");
    let (s, _) = sb.raw(
        "GET",
        "/oauth/installedLocations?companyId=sandbox-company",
        &auth,
        "",
    );
    assert_eq!(s, 422, "appId is required");

    // A company token cannot read contacts; it mints a location token that can, there only.
    let search = r#"{"locationId":"loc-b","pageLimit":1}"#;
    let (s, _) = sb.raw("POST", "/contacts/search", &auth, search);
    assert_eq!(s, 401);
    let mint = |body: &str, version: bool| {
        let mut h = vec![("Authorization", bearer.as_str()), form[0]];
        if version {
            h.push(("Version", "2021-07-28"));
        }
        let (s, b) = sb.raw("POST", "/oauth/locationToken", &h, body);
        (
            s,
            serde_json::from_str::<serde_json::Value>(&b).unwrap_or_default(),
        )
    };
    assert_eq!(
        mint("companyId=sandbox-company&locationId=loc-b", false).0,
        400,
        "Version"
    );
    assert_eq!(mint("companyId=sandbox-company", true).0, 422);
    assert_eq!(
        mint("companyId=sandbox-company&locationId=loc-z", true).0,
        400
    );
    let (s, v) = mint("companyId=sandbox-company&locationId=loc-b", true);
    assert_eq!(s, 200, "{v}");
    assert!(
        v.get("refresh_token").is_none(),
        "minted again, never refreshed"
    );
    assert_eq!(v["locationId"], "loc-b");
    assert_eq!(v["scope"], "contacts.readonly contacts.write");
    let loc_bearer = format!("Bearer {}", v["access_token"].as_str().unwrap());
    let loc_auth = [
        ("Authorization", loc_bearer.as_str()),
        ("Version", "2021-07-28"),
    ];
    assert_eq!(sb.raw("POST", "/contacts/search", &loc_auth, search).0, 200);
    let (s, b) = sb.raw(
        "POST",
        "/contacts/search",
        &loc_auth,
        r#"{"locationId":"loc-a","pageLimit":1}"#,
    );
    assert_eq!(s, 403, "another location: {b}");
    assert!(b.contains("does not have access to this location"), "{b}");
}

#[test]
fn agency_login_lists_its_locations_and_mints_location_tokens_again_when_they_expire() {
    // Access tokens live 3 s: a 40-row run at 10 requests/s outlives two of them.
    let sb = SandboxProc::start(
        "loc-a",
        &[
            "--location",
            "loc-b",
            "--location",
            "loc-c",
            "--rate-max",
            "10",
            "--rate-interval-ms",
            "1000",
            "--access-token-ttl-secs",
            "3",
        ],
    );
    let dir = workdir();
    let state = dir.path().join("state");
    let out = login(&sb, &state, &["--agency"]);
    let (so, se) = text(&out);
    assert!(out.status.success(), "{so}{se}");
    assert!(so.contains("agency sandbox-company (app sandbox)"), "{so}");
    let file = state.join("tokens/agency-sandbox-company.json");
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(stored["user_type"], "Company");
    assert_eq!(stored["app_id"], "sandbox");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // auth status lists the grant and the locations it covers, never a token.
    let out = run(bin()
        .args([
            "auth",
            "status",
            "--format",
            "json",
            "--client-secret-env",
            SECRET_VAR,
            "--state-dir",
        ])
        .arg(&state)
        .env(SECRET_VAR, SECRET));
    let (so, se) = text(&out);
    assert!(out.status.success(), "{so}{se}");
    let v: serde_json::Value = serde_json::from_str(&so).unwrap();
    let ids: Vec<&str> = v["agencies"][0]["locations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["loc-a", "loc-b", "loc-c"], "{so}");
    for secret in [&stored["access_token"], &stored["refresh_token"]] {
        assert!(
            !so.contains(secret.as_str().unwrap()),
            "a token was printed"
        );
    }

    // A pipeline on loc-b with `auth.agency`: its token is minted, minted again before it
    // expires, and works for loc-b only.
    let p = dir.path().join("p.yaml");
    std::fs::write(dir.path().join("in.csv"), rows("ag", 40)).unwrap();
    std::fs::write(
        &p,
        format!(
            "version: 1\nsource: {{type: csv, path: in.csv}}\n\
             target:\n  location_id: loc-b\n  base_url: {}\n  auth:\n    agency: {{client_secret_env: {SECRET_VAR}}}\n\
             mapping: {{firstName: First Name, email: Email}}\n",
            sb.base_url
        ),
    )
    .unwrap();
    let out = run(&mut run_oauth(&p, &state, &dir.path().join("out"), &[]));
    let (so, se) = text(&out);
    assert!(out.status.success(), "{so}{se}");
    assert_eq!(sb.contacts("loc-b").len(), 40);
    assert_eq!(sb.contacts("loc-a").len(), 0);
    let stats = sb.stats();
    assert!(
        stats["oauth_location_tokens"].as_u64().unwrap() >= 2,
        "minted again on expiry: {stats}"
    );
    assert_eq!(stats["unauthorized_401"], 0, "{stats}");
    assert!(
        !all_text(&dir.path().join("out")).contains("sbx-lt-"),
        "a minted token was written"
    );
    // The company token expired during the run too: refreshed, and the rotated refresh token
    // saved before use.
    let now: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_ne!(now["refresh_token"], stored["refresh_token"]);
    assert_eq!(sb.stats()["refresh_token_reuse"], 0);

    // A location token refused before its expiry (401): minted again once, the row sent again.
    let mints = sb.stats()["oauth_location_tokens"].as_u64().unwrap();
    let (s, _) = sb.raw("POST", "/_sandbox/faults", &[], r#"["401x1@3"]"#);
    assert_eq!(s, 200);
    std::fs::write(dir.path().join("in.csv"), rows("re", 10)).unwrap();
    let out = run(&mut run_oauth(&p, &state, &dir.path().join("out-401"), &[]));
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(sb.contacts("loc-b").len(), 50);
    // One mint to start (a new process), one after the 401 (the run is shorter than a token).
    assert_eq!(
        sb.stats()["oauth_location_tokens"].as_u64().unwrap(),
        mints + 2
    );

    // Uninstalled from loc-b: the run stops with a clear reason.
    sb.raw("POST", "/_sandbox/uninstall?location=loc-b", &[], "");
    let out = run(&mut run_oauth(&p, &state, &dir.path().join("out2"), &[]));
    let (so, se) = text(&out);
    assert!(!out.status.success(), "{so}{se}");
    assert!(
        se.contains("cannot act for location loc-b") && se.contains("not installed"),
        "{se}"
    );
}
