//! A flaky network is not a dead API: through a TCP proxy that drops one request in ten (half
//! before the sandbox sees them, half after it applied them and before the answer), a run
//! finishes with every row loaded once and every created contact in the rollback manifest.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::util::{bin, many_rows, pipeline, run, summary, text, workdir, SandboxProc, FAST};

/// Forwards 127.0.0.1:<port> to `upstream`, dropping about `percent` % of the requests; while
/// [`FlakyProxy::partition`] is on, nothing crosses it (requests are held, answers lost).
pub struct FlakyProxy {
    pub url: String,
    pub dropped: Arc<AtomicU64>,
    silent: Arc<AtomicBool>,
    percent: Arc<AtomicU64>,
}

impl FlakyProxy {
    pub fn start(upstream: &str, percent: u64) -> FlakyProxy {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let dropped = Arc::new(AtomicU64::new(0));
        let silent = Arc::new(AtomicBool::new(false));
        let percent = Arc::new(AtomicU64::new(percent));
        let link = Link {
            percent: Arc::clone(&percent),
            dropped: Arc::clone(&dropped),
            silent: Arc::clone(&silent),
            seed: Arc::new(AtomicU64::new(0x9E37_79B9_7F4A_7C15)),
        };
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for client in l.incoming().flatten() {
                if link.silent.load(Ordering::SeqCst) {
                    held.push(client); // accepted, never answered
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let link = link.clone();
                std::thread::spawn(move || link.relay(client, server));
            }
        });
        FlakyProxy {
            url,
            dropped,
            silent,
            percent,
        }
    }

    /// Drops about `percent` % of the requests from now on.
    pub fn set_percent(&self, percent: u64) {
        self.percent.store(percent, Ordering::SeqCst);
    }

    /// Cuts the network (`true`) or restores it.
    pub fn partition(&self, on: bool) {
        self.silent.store(on, Ordering::SeqCst);
    }
}

#[derive(Clone)]
struct Link {
    percent: Arc<AtomicU64>,
    dropped: Arc<AtomicU64>,
    silent: Arc<AtomicBool>,
    seed: Arc<AtomicU64>,
}

impl Link {
    /// A deterministic pseudo-random number in 0..100 (xorshift) from the shared state.
    fn roll(&self) -> u64 {
        let mut x = self.seed.load(Ordering::SeqCst);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.seed.store(x, Ordering::SeqCst);
        x % 100
    }

    fn relay(self, mut client: TcpStream, mut server: TcpStream) {
        let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
        let silent = Arc::clone(&self.silent);
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n) = s2.read(&mut buf) {
                // In a partition answers are lost; the client waits for nothing.
                if n == 0 || silent.load(Ordering::SeqCst) || c2.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            if !silent.load(Ordering::SeqCst) {
                let _ = c2.shutdown(Shutdown::Both);
            }
        });
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let got = match client.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(k) => k,
            };
            if self.silent.load(Ordering::SeqCst) {
                continue; // held: never forwarded, never answered
            }
            let request = [&b"GET "[..], b"POST", b"PUT ", b"DELE"]
                .iter()
                .any(|m| buf[..got].starts_with(m));
            let r = if request { self.roll() } else { 100 };
            let percent = self.percent.load(Ordering::SeqCst);
            if r < percent / 2 {
                self.dropped.fetch_add(1, Ordering::SeqCst);
                break; // dropped before the API saw it
            }
            if server.write_all(&buf[..got]).is_err() {
                break;
            }
            if r < percent {
                self.dropped.fetch_add(1, Ordering::SeqCst);
                // Applied by the API, the answer lost.
                std::thread::sleep(std::time::Duration::from_millis(30));
                break;
            }
        }
        if !self.silent.load(Ordering::SeqCst) {
            let _ = client.shutdown(Shutdown::Both);
            let _ = server.shutdown(Shutdown::Both);
        }
    }
}

#[test]
fn ten_percent_dropped_connections_do_not_stop_a_run() {
    let dir = workdir();
    let sb = SandboxProc::start("loc-it", FAST);
    let proxy = FlakyProxy::start(&sb.base_url, 10);
    let p = pipeline(dir.path(), &proxy.url, &many_rows(1500), "");
    let out = dir.path().join("o");
    let o = run(bin()
        .args(["run", "-q", "--out"])
        .arg(&out)
        .arg(&p)
        .env("IT_TOKEN", &sb.token));
    let (stdout, err) = text(&o);
    // It used to stop with api_unavailable after three drops in a row.
    assert_eq!(o.status.code(), Some(0), "{stdout}{err}");
    assert!(
        proxy.dropped.load(Ordering::SeqCst) >= 10,
        "the network was flaky"
    );
    let s = summary(&out);
    assert_eq!(s["rows"]["created"], 1500, "{s}");
    assert_eq!(sb.contacts("loc-it").len(), 1500, "one contact per row");
    let manifest = std::fs::read_to_string(out.join("rollback.jsonl")).unwrap();
    let created: std::collections::BTreeSet<String> = manifest
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["action"] == "created")
        .map(|v| v["contact_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(created.len(), 1500, "every created contact in the manifest");
}

#[test]
fn rollback_over_a_flaky_network_deletes_everything_while_the_api_answers() {
    let dir = workdir();
    let sb = SandboxProc::start("loc-it", FAST);
    let proxy = FlakyProxy::start(&sb.base_url, 0);
    let p = pipeline(dir.path(), &proxy.url, &many_rows(150), "");
    let out = dir.path().join("o");
    let o = sb.run_pipeline(&p, &out);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    // Now one request in five is dropped: retried, a delete whose answer was lost is already
    // undone, and no breaker fails the deletes while the API answers.
    proxy.set_percent(20);
    let rb = run(bin().arg("rollback").arg(&out).env("IT_TOKEN", &sb.token));
    let (stdout, err) = text(&rb);
    assert_eq!(rb.status.code(), Some(0), "{stdout}{err}");
    assert!(
        proxy.dropped.load(Ordering::SeqCst) >= 10,
        "the network was flaky"
    );
    assert_eq!(sb.contacts("loc-it").len(), 0, "{stdout}");
}
