//! Benchmark of one run across many locations (figures, not assertions): L sandbox locations in
//! one sandbox process, each with its own window of M requests per I ms (GHL's 100 / 10 s,
//! scaled to 100 / 1 s by default), and a file of L × N rows routed by a `Location Id` column.
//! Needs the release binary (`cargo build --release`).
//!
//! ```sh
//! cargo build --release && cargo run --release --example bench_agency -- 500 200 500 100 1000
//! #                                                  locations rows parallel max interval-ms
//! ```
//!
//! Printed: wall time; the importer's CPU (share of one core over the run) and peak RSS; per
//! location, the achieved write rate between its first and last request (from the sandbox's
//! request log) against its ceiling (p5, p50, min); 429s; requests per contact; the sandbox's
//! CPU.

#[path = "common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "bench-token-0123456789";

fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n_loc = *args.first().unwrap_or(&500);
    let rows = *args.get(1).unwrap_or(&200);
    let parallel = *args.get(2).unwrap_or(&n_loc);
    let max = *args.get(3).unwrap_or(&100);
    let interval_ms = *args.get(4).unwrap_or(&1000);
    // The ceiling in requests per second.
    let rate = max as f64 * 1000.0 / interval_ms as f64;
    let exe = common::release_binary()?;

    let locations: Vec<String> = (0..n_loc).map(|l| format!("loc-{l:03}")).collect();
    let (max_s, interval_s) = (max.to_string(), interval_ms.to_string());
    let (mut sb, base) = common::start_sandbox(
        &exe,
        TOKEN,
        &locations,
        &["--rate-max", &max_s, "--rate-interval-ms", &interval_s],
    )?;
    let sb_pid = sb.id();

    let dir = tempfile::tempdir()?;
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(dir.path().join("in.csv"))?);
        writeln!(w, "First Name,Email,Location Id")?;
        // Interleaved, as an agency's export would be: row i goes to location i % L.
        for i in 0..n_loc * rows {
            let l = &locations[i % n_loc];
            writeln!(w, "R{i},r{i}@example.com,{l}")?;
        }
    }
    std::fs::write(
        dir.path().join("p.yaml"),
        format!(
            "version: 1\nname: agency-bench\nsource: {{type: csv, path: in.csv}}\n\
             target:\n  location_from: Location Id\n  parallel: {}\n  base_url: \"{base}\"\n  auth: {{token_env: BENCH_TOKEN}}\n\
             mapping: {{firstName: First Name, email: Email}}\n{}",
            parallel.min(1000),
            // `BENCH_LOAD='load: {concurrency: 4}'` adds pipeline keys.
            std::env::var("BENCH_LOAD").map(|l| l + "\n").unwrap_or_default()
        ),
    )?;

    let sb_before = common::proc_sample(sb_pid).unwrap_or((0, 0.0));
    let started = Instant::now();
    // `BENCH_WRAP=heaptrack` (or `perf record -g --`…) runs the importer under a profiler.
    let mut child = match std::env::var("BENCH_WRAP") {
        Ok(w) if !w.trim().is_empty() => {
            let mut words = w.split_whitespace();
            let mut c = Command::new(words.next().unwrap_or_default());
            c.args(words).arg(&exe);
            c
        }
        _ => Command::new(&exe),
    };
    let mut child = child
        .args(["run", "-q", "--state-dir"])
        .arg(dir.path().join("state"))
        .arg("--out")
        .arg(dir.path().join("out"))
        .arg(dir.path().join("p.yaml"))
        .env("BENCH_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let (mut ticks, mut peak_rss) = (0u64, 0.0f64);
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if let Some((t, rss)) = common::proc_sample(pid) {
            ticks = t;
            peak_rss = peak_rss.max(rss);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let wall = started.elapsed().as_secs_f64();
    let sb_after = common::proc_sample(sb_pid).unwrap_or((0, 0.0));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err)?;
    println!(
        "exit {:?}{}",
        status.code(),
        if err.is_empty() {
            String::new()
        } else {
            format!(
                "; stderr: {}",
                err.lines().take(3).collect::<Vec<_>>().join(" | ")
            )
        }
    );

    // Each location's achieved rate between its first and last admitted write.
    let log: serde_json::Value = serde_json::from_str(&common::get(&base, "/_sandbox/log")?)?;
    let mut per: HashMap<String, Vec<f64>> = HashMap::new();
    let mut refused = 0;
    let mut refusals = Vec::new();
    for e in log.as_array().into_iter().flatten() {
        if e["admitted"] != true {
            refused += 1;
            refusals.push((
                e["location"].as_str().unwrap_or_default().to_owned(),
                e["at_ms"].as_f64().unwrap_or(0.0),
            ));
            continue;
        }
        if e["endpoint"] == "POST /contacts/upsert" {
            per.entry(e["location"].as_str().unwrap_or_default().to_owned())
                .or_default()
                .push(e["at_ms"].as_f64().unwrap_or(0.0));
        }
    }
    // Over each location's whole run, and after its first 10 % (once the first answers have
    // told the client the advertised limit: before them it paces by the documented 100 / 10 s).
    let share = |t: &[f64]| {
        let achieved = (t.len() - 1) as f64 / ((t[t.len() - 1] - t[0]) / 1000.0);
        achieved / rate * 100.0
    };
    let mut shares = Vec::new();
    let mut steady = Vec::new();
    // How long each location took for its first window's worth, and when it started.
    let (mut first_window, mut starts) = (Vec::new(), Vec::new());
    let earliest = per.values().flatten().copied().fold(f64::MAX, f64::min);
    for t in per.values_mut().filter(|t| t.len() > 10) {
        t.sort_by(|a, b| a.total_cmp(b));
        shares.push(share(t));
        steady.push(share(&t[t.len() / 10..]));
        first_window.push((t[(max - 1).min(t.len() - 1)] - t[0]) / 1000.0);
        starts.push((t[0] - earliest) / 1000.0);
    }
    let stats: serde_json::Value = serde_json::from_str(&common::get(&base, "/_sandbox/stats")?)?;
    let summary: serde_json::Value = {
        let out = dir.path().join("out");
        serde_json::from_slice(&std::fs::read(out.join("summary.json"))?)?
    };
    let contacts = stats["contacts"].as_u64().unwrap_or(0);
    let sent = summary["requests"]["sent"].as_u64().unwrap_or(0);
    let hz = 100.0; // clock ticks per second (Linux USER_HZ)
    println!("{n_loc} locations × {rows} rows, parallel {parallel}, window {max} / {interval_ms} ms per location (ceiling {rate}/s)");
    println!(
        "wall {wall:.1} s; importer CPU {:.0} % of one core, peak RSS {peak_rss:.0} MB; sandbox CPU {:.0} %",
        ticks as f64 / hz / wall * 100.0,
        (sb_after.0 - sb_before.0) as f64 / hz / wall * 100.0
    );
    for (what, v) in [
        ("whole run", &mut shares),
        ("after the first 10 %", &mut steady),
    ] {
        println!(
            "achieved vs ceiling over {} locations ({what}): p5 {:.1} %, p50 {:.1} %, min {:.1} %",
            v.len(),
            common::percentile(v, 5.0),
            common::percentile(v, 50.0),
            common::percentile(v, 0.0)
        );
    }
    println!(
        "first {max} requests of a location took p50 {:.2} s, p95 {:.2} s; locations started within p50 {:.2} s, p95 {:.2} s of the first",
        common::percentile(&mut first_window, 50.0),
        common::percentile(&mut first_window, 95.0),
        common::percentile(&mut starts, 50.0),
        common::percentile(&mut starts, 95.0)
    );
    // When the refused requests came, from their location's first write.
    let mut refused_at: Vec<f64> = refusals
        .iter()
        .filter_map(|(l, at)| Some((at - per.get(l)?.first()?) / 1000.0))
        .collect();
    if !refused_at.is_empty() {
        println!(
            "refused requests came after their location's first write: min {:.2} s, p50 {:.2} s, max {:.2} s",
            common::percentile(&mut refused_at, 0.0),
            common::percentile(&mut refused_at, 50.0),
            common::percentile(&mut refused_at, 100.0)
        );
    }
    println!(
        "429s {} (sandbox: {}); refused in the log {refused}; max in any window {}",
        summary["requests"]["rate_limited_429"],
        stats["rate_limited_429"],
        stats["max_in_any_window"]
    );
    println!(
        "rows {} created {} rejected {}; contacts {contacts}; requests {sent} ({:.3} per contact)",
        summary["rows"]["read"],
        summary["rows"]["created"],
        summary["rows"]["rejected"],
        sent as f64 / contacts.max(1) as f64
    );
    let _ = sb.kill();
    Ok(())
}
