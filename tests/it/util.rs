//! Test helpers: a work dir per test, running the binary with a failure dump, a standalone
//! `ghl-import sandbox` process on a free port, and the sandbox's admin endpoints.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A command running the built binary with a clean environment for our variables.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ghl-import"));
    c.env_remove("GHL_TOKEN")
        .env_remove("GHL_LOCATION_ID")
        .env_remove("RUST_LOG");
    c.stdin(Stdio::null());
    c
}

/// Runs a command and returns its output; prints everything on failure to help debugging.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("binary runs");
    eprintln!(
        "--- {:?}\nstatus: {:?}\nstdout:\n{}\nstderr:\n{}",
        cmd,
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// stdout + stderr as text.
pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A temporary work dir.
pub fn workdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("ghl-import-it-")
        .tempdir()
        .expect("tempdir")
}

/// Sandbox flags for a rate limit no test run reaches.
pub const FAST: &[&str] = &["--rate-max", "1000", "--rate-interval-ms", "1000"];

/// A `ghl-import sandbox` child process, killed on drop.
pub struct SandboxProc {
    child: Child,
    // Kept open: the sandbox prints to stdout and must not see a closed pipe.
    _stdout: std::io::Lines<BufReader<ChildStdout>>,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// The token it accepts.
    pub token: String,
}

impl SandboxProc {
    /// Starts a sandbox for location `loc` with extra flags.
    pub fn start(loc: &str, extra: &[&str]) -> SandboxProc {
        let token = "test-token-0123456789";
        let mut child = bin()
            .args([
                "sandbox",
                "--port",
                "0",
                "--token",
                token,
                "--location",
                loc,
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("sandbox starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let first = lines
            .next()
            .expect("sandbox prints its URL")
            .expect("utf-8 line");
        let base_url = first
            .strip_prefix("base_url=")
            .expect("base_url= line")
            .to_owned();
        SandboxProc {
            child,
            _stdout: lines,
            base_url,
            token: token.to_owned(),
        }
    }

    /// A fast sandbox for `loc` started with the contacts of `seed` (JSON, written into `dir`).
    pub fn seeded(loc: &str, dir: &Path, seed: &str) -> SandboxProc {
        let path = dir.join("seed.json");
        std::fs::write(&path, seed).unwrap();
        SandboxProc::start(loc, &[FAST, &["--seed", path.to_str().unwrap()]].concat())
    }

    /// A sandbox for `loc` with a generous rate limit (1,000 requests per second), for tests
    /// that are not about pacing.
    pub fn fast(loc: &str) -> SandboxProc {
        SandboxProc::start(loc, FAST)
    }

    /// The contact of `loc` with this email.
    pub fn contact_by_email(&self, loc: &str, email: &str) -> serde_json::Value {
        self.contacts(loc)
            .into_iter()
            .find(|c| c["email"] == email)
            .unwrap_or_else(|| panic!("no contact {email} in {loc}"))
    }

    /// Sends one raw HTTP/1.1 request and returns (status, body). Used for admin queries and
    /// for clients that do not pace themselves.
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        let (status, _, body) = self.raw_with_head(method, path, headers, body);
        (status, body)
    }

    /// Like [`SandboxProc::raw`], also returning the answer's header lines, lower-cased.
    pub fn raw_with_head(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String, String) {
        let addr = self.base_url.trim_start_matches("http://");
        let mut s = TcpStream::connect(addr).expect("connect to sandbox");
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            req.push_str("Content-Type: application/json\r\n");
        }
        req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        s.write_all(req.as_bytes()).unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").expect("http answer");
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .expect("status code");
        (status, head.to_lowercase(), body.to_owned())
    }

    /// Runs `ghl-import run -q --out OUT PIPELINE` with this sandbox's token in `IT_TOKEN`.
    pub fn run_pipeline(&self, p: &Path, out: &Path) -> Output {
        self.run_with(p, out, &[])
    }

    /// Like [`SandboxProc::run_pipeline`] with extra flags (`--full-refresh`, `--dry-run`, …).
    pub fn run_with(&self, p: &Path, out: &Path, extra: &[&str]) -> Output {
        run(bin()
            .args(["run", "-q"])
            .args(extra)
            .arg("--out")
            .arg(out)
            .arg(p)
            .env("IT_TOKEN", &self.token))
    }

    /// Starts `ghl-import run -q --out OUT PIPELINE` in the background (output discarded), for
    /// tests that signal or kill it.
    pub fn spawn_run(&self, p: &Path, out: &Path) -> Child {
        bin()
            .args(["run", "-q", "--out"])
            .arg(out)
            .arg(p)
            .env("IT_TOKEN", &self.token)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary starts")
    }

    /// GET an API path with this sandbox's token and parse the JSON answer (status must be 200).
    pub fn api_get(&self, path: &str) -> serde_json::Value {
        let auth = format!("Bearer {}", self.token);
        let (status, body) = self.raw(
            "GET",
            path,
            &[("Authorization", &auth), ("Version", "2021-07-28")],
            "",
        );
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("json body")
    }

    /// GET an admin path and parse the JSON answer.
    pub fn admin(&self, path_and_query: &str) -> serde_json::Value {
        let (status, body) = self.raw("GET", path_and_query, &[], "");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("json body")
    }

    /// Every contact of `loc`.
    pub fn contacts(&self, loc: &str) -> Vec<serde_json::Value> {
        self.admin(&format!("/_sandbox/contacts?locationId={loc}"))
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Request statistics.
    pub fn stats(&self) -> serde_json::Value {
        self.admin("/_sandbox/stats")
    }
}

impl Drop for SandboxProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes a pipeline file into `dir` targeting `base_url` with `extra` YAML appended, and a CSV.
pub fn pipeline(dir: &Path, base_url: &str, csv: &str, extra: &str) -> PathBuf {
    std::fs::write(dir.join("in.csv"), csv).unwrap();
    let yaml = format!(
        "version: 1
source:
  type: csv
  path: in.csv
target:
  location_id: loc-it
  base_url: {base_url}
  auth:
    token_env: IT_TOKEN
mapping:
  firstName: First Name
  email: Email
  phone: Phone
validate:
  phone_default_region: US
{extra}"
    );
    let p = dir.join("p.yaml");
    std::fs::write(&p, yaml).unwrap();
    p
}

/// Writes `csv` as in.csv and a pipeline p.yaml reading it into `loc-it` at `base_url` (token in
/// `IT_TOKEN`), followed by `rest` (the mapping and anything else).
pub fn csv_pipeline(dir: &Path, base_url: &str, csv: &str, rest: &str) -> PathBuf {
    std::fs::write(dir.join("in.csv"), csv).unwrap();
    let p = dir.join("p.yaml");
    std::fs::write(
        &p,
        format!(
            "version: 1\nsource: {{type: csv, path: in.csv}}\n\
             target: {{location_id: loc-it, base_url: \"{base_url}\", auth: {{token_env: IT_TOKEN}}}}\n{rest}"
        ),
    )
    .unwrap();
    p
}

/// Reads a CSV report into rows of strings (header included).
pub fn read_csv(path: &Path) -> Vec<Vec<String>> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .expect("report exists");
    r.records()
        .map(|rec| rec.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

/// Runs the shipped `pipelines/<name>.yaml` from the repository root into an embedded sandbox,
/// reports in `out`, with `extra` flags.
pub fn run_shipped(name: &str, out: &Path, extra: &[&str]) -> Output {
    run(bin()
        .current_dir(repo())
        .args(["run", &format!("pipelines/{name}.yaml"), "--sandbox"])
        .args(extra)
        .arg("--out")
        .arg(out))
}

/// Reads summary.json.
pub fn summary(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).expect("summary.json"))
        .unwrap()
}

/// A CSV of `n` rows with distinct emails.
pub fn many_rows(n: usize) -> String {
    let mut csv = String::from("First Name,Email,Phone\n");
    for i in 0..n {
        csv.push_str(&format!("P{i},p{i}@example.com,\n"));
    }
    csv
}

/// Waits (up to 20 s) until the sandbox holds at least `n` contacts: the run is under way.
pub fn wait_for_contacts(sb: &SandboxProc, loc: &str, n: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while sb.contacts(loc).len() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "the run never started writing"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Starts `cmd` with its output discarded, waits until `loc` of `sb` holds `n` contacts, then
/// kills it with SIGKILL (a crash: no reports, no clean-up) and reaps it.
pub fn kill9_after(cmd: &mut Command, sb: &SandboxProc, loc: &str, n: usize) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    wait_for_contacts(sb, loc, n);
    signal(&child, "-9");
    let _ = child.wait();
}

/// `ghl-import serve DIR --once --shard I/N --state-dir STATE` with `IT_TOKEN` set.
pub fn serve_once_shard(dir: &Path, state: &Path, shard: u32, count: u32, token: &str) -> Output {
    run(bin()
        .args([
            "serve",
            "--once",
            "--shard",
            &format!("{shard}/{count}"),
            "--state-dir",
        ])
        .arg(state)
        .arg(dir)
        .env("IT_TOKEN", token))
}

/// Sends `sig` (`-TERM`, `-INT`, `-9`) to a child process.
pub fn signal(child: &std::process::Child, sig: &str) {
    let st = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

/// (created, updated) of a summary.json.
pub fn created_updated(s: &serde_json::Value) -> (u64, u64) {
    (
        s["rows"]["created"].as_u64().unwrap_or(0),
        s["rows"]["updated"].as_u64().unwrap_or(0),
    )
}

/// A `ghl-import serve --listen 127.0.0.1:0 DIR` child process with its stderr collected line by
/// line; killed on drop.
pub struct ServeProc {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    reader: Option<std::thread::JoinHandle<()>>,
    /// Every stderr line so far.
    pub seen: Vec<String>,
    /// The address of /healthz and /metrics.
    pub addr: String,
}

impl ServeProc {
    /// Starts `serve` on `dir` with `token` in `IT_TOKEN` and waits for its address.
    pub fn start(dir: &Path, token: &str) -> ServeProc {
        ServeProc::start_env(dir, &[("IT_TOKEN", token)])
    }

    /// Starts `serve` on `dir` with these environment variables and waits for its address.
    pub fn start_env(dir: &Path, env: &[(&str, &str)]) -> ServeProc {
        ServeProc::start_with(dir, env, &[])
    }

    /// Starts `serve` on `dir` with these environment variables and extra flags.
    pub fn start_with(dir: &Path, env: &[(&str, &str)], extra: &[&str]) -> ServeProc {
        let mut child = bin()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .arg(dir)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("serve starts");
        let (tx, lines) = std::sync::mpsc::channel::<String>();
        let stderr = child.stderr.take().expect("stderr");
        let reader = std::thread::spawn(move || {
            for l in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        let mut s = ServeProc {
            child,
            lines,
            reader: Some(reader),
            seen: Vec::new(),
            addr: String::new(),
        };
        let l = s.wait_for("/metrics on http://");
        s.addr = l
            .split("/metrics on http://")
            .nth(1)
            .unwrap_or("")
            .to_owned();
        s
    }

    /// Waits (up to 20 s) for a stderr line containing `needle` and returns it.
    pub fn wait_for(&mut self, needle: &str) -> String {
        if let Some(l) = self.seen.iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.contains(needle) {
                        return l;
                    }
                }
                Err(_) => panic!(
                    "serve never printed {needle:?}; it printed:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// GET a path of its endpoint; the whole answer, head included.
    pub fn get(&self, path: &str) -> String {
        let mut s = TcpStream::connect(&self.addr).expect("serve listens");
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut t = String::new();
        s.read_to_string(&mut t).unwrap();
        t
    }

    /// `/status` as JSON.
    pub fn status(&self) -> serde_json::Value {
        let answer = self.get("/status");
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        serde_json::from_str(body).unwrap_or_else(|e| panic!("/status is not JSON ({e}): {answer}"))
    }

    /// SIGTERM, wait for it to exit 0, and return everything it printed.
    pub fn stop(mut self) -> String {
        signal(&self.child, "-TERM");
        let status = self.child.wait().expect("serve exits");
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        self.seen.extend(self.lines.try_iter());
        let all = self.seen.join("\n");
        assert_eq!(status.code(), Some(0), "{all}");
        all
    }
}

impl Drop for ServeProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The lines of `out`'s rollback.jsonl.
fn manifest_lines(out: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out.join("rollback.jsonl"))
        .expect("rollback.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// The settled writes of `out`'s rollback.jsonl (`created` and `updated` lines).
pub fn settled(out: &Path) -> Vec<serde_json::Value> {
    manifest_lines(out)
        .into_iter()
        .filter(|v| v["action"] == "created" || v["action"] == "updated")
        .collect()
}

/// How many writes of `out`'s rollback.jsonl have an intent and no settlement (unknown).
pub fn unsettled(out: &Path) -> usize {
    let lines = manifest_lines(out);
    let done: std::collections::BTreeSet<u64> = lines
        .iter()
        .filter(|v| v["action"] != "intent")
        .filter_map(|v| v["intent"].as_u64())
        .collect();
    lines
        .iter()
        .filter(|v| v["action"] == "intent")
        .filter(|v| !v["intent"].as_u64().is_some_and(|n| done.contains(&n)))
        .count()
}

/// Probes until `ready` says so or `secs` pass; the last probe either way (for the assertion
/// that follows to show it).
pub fn eventually<T>(secs: u64, mut probe: impl FnMut() -> T, ready: impl Fn(&T) -> bool) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let got = probe();
        if ready(&got) || std::time::Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
