//! Share of the rate limit a run spends, whatever the answer times (figures, not assertions).
//! Run in release mode:
//!
//! ```sh
//! cargo run --release --example bench_rate                 # the whole matrix, about 4 minutes
//! cargo run --release --example bench_rate -- burst 600    # one 600-row run against its minimum
//! cargo run --release --example bench_rate -- case 2 500    # 100 / 1 s, every 2nd answer 0.5 s late
//! ```
//!
//! `matrix` loads generated rows into an in-process sandbox (a sliding window, as GHL's) at
//! 100 / 10 s and at 100 / 1 s, with no slow answers, every tenth answer 1.5 s late and every
//! other answer 0.5 s late (the sandbox's `slow` fault), with the pipeline's defaults (no
//! `load.concurrency`): the share of the ceiling — the least time the window allows for the
//! requests (a full window at once, then a full window each interval) over the time from the
//! first request to the last (the sandbox's log) — and the requests per second over the wall
//! time, 429s, the busiest window and requests per contact. `burst N` times an N-row run at 100 / 10 s against the least time
//! the window allows: a full window at once, then the next as the first leave it.

#[path = "common/mod.rs"]
mod common;

use std::time::Duration;

use ghl_sandbox::Fault;

/// One slow answer every `every` requests, `ms` late (none when `every` is 0), for `rows` rows.
fn slow_answers(every: usize, ms: u64, rows: usize) -> anyhow::Result<Vec<Fault>> {
    if every == 0 {
        return Ok(Vec::new());
    }
    (0..rows / every + 2)
        .map(|k| {
            format!("slow={ms}x1@{}", k * every + every / 2)
                .parse()
                .map_err(|e: String| anyhow::anyhow!(e))
        })
        .collect()
}

/// Loads `rows` rows at `max` per `interval` with `faults`; prints the share of the ceiling.
async fn one(
    what: &str,
    rows: usize,
    max: u32,
    interval: Duration,
    faults: Vec<Fault>,
    load: &str,
) -> anyhow::Result<(f64, u64)> {
    let (sb, code, el) = common::load_people(rows, max, interval, faults, load).await?;
    let stats = sb.stats();
    let sent: u64 = stats.requests_by_endpoint.values().sum();
    let ceiling = f64::from(max) / interval.as_secs_f64();
    // The rate the requests went at: from the first to the last (the wall time also holds the
    // last answers, 1.5 s for a slow one).
    let log: serde_json::Value =
        serde_json::from_str(&common::get(&sb.base_url(), "/_sandbox/log")?)?;
    let at: Vec<f64> = log
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["at_ms"].as_f64()).collect())
        .unwrap_or_default();
    let span = (at.iter().copied().fold(f64::MIN, f64::max)
        - at.iter().copied().fold(f64::MAX, f64::min))
        / 1000.0;
    if std::env::var_os("BENCH_BUCKETS").is_some() {
        // Requests in each tenth of the interval, from the first (where the pace sags).
        let t0 = at.iter().copied().fold(f64::MAX, f64::min);
        let tenth = interval.as_secs_f64() * 100.0;
        let mut buckets = vec![0u32; (span * 1000.0 / tenth) as usize + 1];
        for t in &at {
            buckets[((t - t0) / tenth) as usize] += 1;
        }
        println!("{buckets:?}");
    }
    // A sliding window lets `max` go at once, then `max` more each interval.
    let least = (sent.saturating_sub(1) / u64::from(max)) as f64 * interval.as_secs_f64();
    let share = least / span.max(least).max(0.001) * 100.0;
    println!(
        "{what:<34} {rows:>5} rows in {el:>6.2} s, exit {:?}: requests over {span:.2} s (least {least:.0} s) = \
         {share:>5.1} % of the ceiling ({:.1} req/s of {ceiling:.0} over the wall time); \
         429s {}; busiest window {}; requests per contact {:.3}",
        code,
        sent as f64 / el,
        stats.rate_limited_429,
        stats.max_in_any_window,
        sent as f64 / sb.contacts("bench-location").len().max(1) as f64
    );
    Ok((share, stats.rate_limited_429))
}

async fn matrix() -> anyhow::Result<()> {
    let limits = [
        ("100 / 10 s", Duration::from_secs(10), 400),
        ("100 / 1 s", Duration::from_secs(1), 2000),
    ];
    let slow = [
        ("no slow answers", 0, 0),
        ("10 % of answers +1.5 s", 10, 1500),
        ("50 % of answers +0.5 s", 2, 500),
    ];
    let mut worst: f64 = f64::MAX;
    let mut refused = 0;
    for (limit, interval, rows) in limits {
        for (late, every, ms) in slow {
            let faults = slow_answers(every, ms, rows + 10)?;
            let (share, r429) =
                one(&format!("{limit}, {late}"), rows, 100, interval, faults, "").await?;
            worst = worst.min(share);
            refused += r429;
        }
    }
    println!("lowest share {worst:.1} %, 429s in all {refused}");
    Ok(())
}

async fn burst(rows: usize) -> anyhow::Result<()> {
    let interval = Duration::from_secs(10);
    let (sb, code, el) = common::load_people(rows, 100, interval, Vec::new(), "").await?;
    let stats = sb.stats();
    let sent: u64 = stats.requests_by_endpoint.values().sum();
    // The least time: a full window at once, then each window as the previous one leaves.
    let sliding = (sent.saturating_sub(1) / 100) as f64 * interval.as_secs_f64();
    // A token bucket (the burst at once, then the rest at the rate) would allow this.
    let bucket = sent.saturating_sub(100) as f64 / 10.0;
    println!(
        "burst: {rows} rows ({sent} requests) at 100 / 10 s in {el:.2} s, exit {code:?}; least time \
         for a sliding window {sliding:.1} s ({:.1} % over), for a token bucket {bucket:.1} s; evenly \
         paced from the first request {:.1} s; 429s {}; busiest window {}",
        (el / sliding.max(0.001) - 1.0) * 100.0,
        (sent.saturating_sub(1)) as f64 / 9.9,
        stats.rate_limited_429,
        stats.max_in_any_window
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Runtime::new()?;
    match args.get(1).map(String::as_str).unwrap_or("matrix") {
        "matrix" => rt.block_on(matrix()),
        "burst" => rt.block_on(burst(
            args.get(2).and_then(|s| s.parse().ok()).unwrap_or(600),
        )),
        "case" => {
            // One case of the matrix at 100 / 1 s: `case EVERY MS [CONCURRENCY]` (one answer in
            // EVERY late by MS; `load.concurrency` when given).
            let n = |i: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(0);
            let (every, ms, cap) = (n(2), n(3) as u64, n(4));
            let load = match cap {
                0 => String::new(),
                c => format!("load: {{concurrency: {c}}}\n"),
            };
            rt.block_on(async {
                let faults = slow_answers(every, ms, 2010)?;
                let what = format!("100 / 1 s, 1 in {every} answers +{ms} ms");
                one(&what, 2000, 100, Duration::from_secs(1), faults, &load).await?;
                Ok(())
            })
        }
        other => anyhow::bail!("unknown benchmark `{other}`: use matrix, burst N or case EVERY MS"),
    }
}
