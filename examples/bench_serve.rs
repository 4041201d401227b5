//! Benchmark of `ghl-import serve` (figures, not assertions): N pipelines, each on its own
//! sandbox location and scheduled every minute, each reading an inbox that gets a new file of R
//! rows before every minute. Needs the release binary (`cargo build --release`).
//!
//! ```sh
//! cargo build --release && cargo run --release --example bench_serve -- 50 3 200
//! #                                                                  pipelines minutes rows
//! ```
//!
//! The sandbox runs as its own process with GHL's documented limit per location (100 requests /
//! 10 s). Printed: the server's CPU (share of one core, averaged over the run and at its busiest
//! second) and peak RSS; schedule jitter (how long after its time each run started: p50, p99,
//! max); per location and minute, the achieved request rate against the 10/s ceiling (p5, p50,
//! min); 429s; runs started and finished.

#[path = "common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

const TOKEN: &str = "bench-token-0123456789";

fn drop_files(dir: &Path, n: usize, rows: usize, minute: usize) -> anyhow::Result<()> {
    for l in 0..n {
        let inbox = dir.join(format!("inbox-{l:02}"));
        let part = inbox.join(format!("drop-{minute}.csv.part"));
        let mut w = std::io::BufWriter::new(std::fs::File::create(&part)?);
        writeln!(w, "First Name,Email")?;
        for r in 0..rows {
            writeln!(w, "M{minute}R{r},m{minute}r{r}l{l}@example.com")?;
        }
        w.flush()?;
        drop(w);
        std::fs::rename(&part, inbox.join(format!("drop-{minute}.csv")))?;
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (n, minutes, rows) = (
        *args.first().unwrap_or(&50),
        *args.get(1).unwrap_or(&3),
        *args.get(2).unwrap_or(&200),
    );
    let exe = common::release_binary()?;

    // The sandbox: one process, N locations, the documented window each.
    let locations: Vec<String> = (0..n).map(|l| format!("loc-{l:02}")).collect();
    let (mut sb, base) = common::start_sandbox(
        &exe,
        TOKEN,
        &locations,
        &["--rate-max", "100", "--rate-interval-ms", "10000"],
    )?;

    let dir = tempfile::tempdir()?;
    let pipelines = dir.path().join("pipelines");
    std::fs::create_dir(&pipelines)?;
    for l in 0..n {
        std::fs::create_dir(dir.path().join(format!("inbox-{l:02}")))?;
        std::fs::write(
            pipelines.join(format!("p-{l:02}.yaml")),
            format!(
                "version: 1\nname: p-{l:02}\n\
                 source: {{type: csv, inbox: {{dir: ../inbox-{l:02}, settle_secs: 2}}}}\n\
                 target: {{location_id: loc-{l:02}, base_url: \"{base}\", auth: {{token_env: BENCH_TOKEN}}}}\n\
                 mapping: {{firstName: First Name, email: Email}}\n\
                 schedule: {{cron: \"* * * * *\"}}\nreport: {{dir: ../out}}\n"
            ),
        )?;
    }

    // The first files, then serve; the next files at :45 of each minute.
    drop_files(dir.path(), n, rows, 0)?;
    let mut serve = Command::new(&exe)
        .args(["--log-format", "json", "serve", "--listen", "127.0.0.1:0"])
        .args(["--max-runs", &n.to_string()])
        .arg(&pipelines)
        .env("BENCH_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let pid = serve.id();
    let stderr = serve.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let started = Instant::now();
    let now_s = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)?
        .as_secs();
    // Until the end of the `minutes`-th full minute, plus time for its runs to end.
    let first_fire = now_s - now_s % 60 + 60;
    let end = first_fire + 60 * (minutes as u64 - 1) + 50;
    println!(
        "serve bench: {n} pipelines × {rows} rows every minute, {minutes} minute(s); first fire in {} s",
        first_fire - now_s
    );
    let (mut cpu_samples, mut peak_rss) = (Vec::new(), 0f64);
    let mut last = common::proc_sample(pid).unwrap_or((0, 0.0));
    let mut last_t = Instant::now();
    let mut minute = 1;
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let now_s = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)?
            .as_secs();
        if let Some(s) = common::proc_sample(pid) {
            let dt = last_t.elapsed().as_secs_f64();
            cpu_samples.push((s.0 - last.0) as f64 / 100.0 / dt * 100.0);
            peak_rss = peak_rss.max(s.1);
            last = s;
            last_t = Instant::now();
        }
        if now_s >= end {
            break;
        }
        if now_s % 60 == 45 && minute < minutes && now_s > first_fire {
            drop_files(dir.path(), n, rows, minute)?;
            minute += 1;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = serve.wait();

    let mut delays = Vec::new();
    let (mut finished, mut failed) = (0, 0);
    for l in rx.try_iter() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&l) else {
            continue;
        };
        if let Some(d) = v["start_delay_ms"].as_f64() {
            delays.push(d);
        }
        match v["message"].as_str() {
            Some("Run finished.") => finished += 1,
            Some("Run failed.") => failed += 1,
            _ => {}
        }
    }
    let log: Vec<serde_json::Value> = serde_json::from_str(&common::get(&base, "/_sandbox/log")?)?;
    let stats: serde_json::Value = serde_json::from_str(&common::get(&base, "/_sandbox/stats")?)?;
    // Per location and minute: requests over the span they took, against 10/s.
    let mut spans: std::collections::HashMap<(String, u64), (u64, u64, u64)> = Default::default();
    for e in &log {
        if e["admitted"] != true || e["location"] == "" {
            continue;
        }
        let at = e["at_ms"].as_u64().unwrap_or(0);
        let key = (e["location"].as_str().unwrap_or("").to_owned(), at / 60_000);
        let s = spans.entry(key).or_insert((u64::MAX, 0, 0));
        s.0 = s.0.min(at);
        s.1 = s.1.max(at);
        s.2 += 1;
    }
    let mut rates: Vec<f64> = spans
        .values()
        .filter(|(_, _, count)| *count > 20)
        .map(|(a, b, count)| {
            // `count` requests span (count - 1) gaps: the rate between the first and last.
            let secs = (b - a) as f64 / 1000.0;
            (*count as f64 - 1.0) / secs / 10.0 * 100.0
        })
        .collect();
    let mut cpu = cpu_samples.clone();
    let avg_cpu = cpu_samples.iter().sum::<f64>() / cpu_samples.len().max(1) as f64;
    println!(
        "server: CPU {avg_cpu:.1} % of one core on average, {:.1} % at the busiest second; peak RSS {peak_rss:.1} MB ({elapsed:.0} s)",
        common::percentile(&mut cpu, 100.0)
    );
    println!(
        "jitter: {} runs started; delay after their time p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        delays.len(),
        common::percentile(&mut delays.clone(), 50.0),
        common::percentile(&mut delays.clone(), 99.0),
        common::percentile(&mut delays, 100.0)
    );
    println!(
        "rate: {} location-minutes; achieved / ceiling (10/s) p5 {:.1} %, p50 {:.1} %, min {:.1} %",
        rates.len(),
        common::percentile(&mut rates.clone(), 5.0),
        common::percentile(&mut rates.clone(), 50.0),
        common::percentile(&mut rates, 0.0)
    );
    println!(
        "runs finished {finished}, failed {failed}; 429s {}; requests {}",
        stats["rate_limited_429"],
        stats["requests_by_endpoint"]
            .as_object()
            .map(|m| m.values().filter_map(|v| v.as_u64()).sum::<u64>())
            .unwrap_or(0)
    );
    let _ = sb.kill();
    let _ = sb.wait();
    Ok(())
}
