//! A flaky network is not a dead API: through a TCP proxy that drops one request in ten (half
//! before the sandbox sees them, half after it applied them and before the answer), a run
//! finishes with every row loaded once and every created contact in the rollback manifest.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::util::{bin, many_rows, pipeline, run, summary, text, workdir, SandboxProc, FAST};

/// Forwards 127.0.0.1:<port> to `upstream`, dropping about `percent` % of the requests.
pub struct FlakyProxy {
    pub url: String,
    pub dropped: Arc<AtomicU64>,
}

impl FlakyProxy {
    pub fn start(upstream: &str, percent: u64) -> FlakyProxy {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let dropped = Arc::new(AtomicU64::new(0));
        let count = Arc::clone(&dropped);
        let seed = Arc::new(AtomicU64::new(0x9E37_79B9_7F4A_7C15));
        std::thread::spawn(move || {
            for client in l.incoming().flatten() {
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let (count, seed) = (Arc::clone(&count), Arc::clone(&seed));
                std::thread::spawn(move || relay(client, server, percent, &count, &seed));
            }
        });
        FlakyProxy { url, dropped }
    }
}

/// A deterministic pseudo-random number (xorshift) from the shared state.
fn roll(seed: &AtomicU64) -> u64 {
    let mut x = seed.load(Ordering::SeqCst);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    seed.store(x, Ordering::SeqCst);
    x % 100
}

fn relay(
    mut client: TcpStream,
    mut server: TcpStream,
    percent: u64,
    n: &AtomicU64,
    seed: &AtomicU64,
) {
    let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut s2, &mut c2);
        let _ = c2.shutdown(Shutdown::Both);
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let got = match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(k) => k,
        };
        let request = [&b"GET "[..], b"POST", b"PUT ", b"DELE"]
            .iter()
            .any(|m| buf[..got].starts_with(m));
        let r = if request { roll(seed) } else { 100 };
        if r < percent / 2 {
            n.fetch_add(1, Ordering::SeqCst);
            break; // dropped before the API saw it
        }
        if server.write_all(&buf[..got]).is_err() {
            break;
        }
        if r < percent {
            n.fetch_add(1, Ordering::SeqCst);
            // Applied by the API, the answer lost.
            std::thread::sleep(std::time::Duration::from_millis(30));
            break;
        }
    }
    let _ = client.shutdown(Shutdown::Both);
    let _ = server.shutdown(Shutdown::Both);
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
