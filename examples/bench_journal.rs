//! Cost of the run journal per row (figures, not assertions): `N` rows, each an intent then a
//! result, in one journal file, as a run records them.
//!
//! ```sh
//! cargo run --release --example bench_journal -- 100000
//! ```

use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir()?;
    let j = ghl_import::store::Store::at(dir.path()).journal("bench", "loc")?;
    let started = Instant::now();
    for i in 0..n {
        let key = format!("p{i}@example.com");
        j.applied(&key, "0123456789abcdef")?;
        j.intent(&key, "0123456789abcdef")?;
        j.done(&key, "0123456789abcdef", &format!("c{i:020}"))?;
    }
    drop(j);
    let took = started.elapsed().as_secs_f64();
    let size: u64 = std::fs::read_dir(dir.path().join("journal"))?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    println!(
        "{n} rows: {took:.2} s, {:.1} µs per row (lookup, intent, result); files {:.1} MB",
        took / n as f64 * 1e6,
        size as f64 / 1e6
    );
    Ok(())
}
