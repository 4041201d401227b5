//! Benchmark (figures, not assertions). Run in release mode:
//!
//! ```sh
//! cargo run --release --example bench -- extract 1000000     # the CSV source alone
//! cargo run --release --example bench -- transform 1000000   # extract + transform + dedup, no network
//! cargo run --release --example bench -- load 1000           # full load against an in-process sandbox
//! ```
//!
//! `extract N` reads a generated CSV of N rows through the CSV source only and prints rows/s and
//! peak RSS (run it for 100000 and 1000000: memory must not grow with the file).
//! `phones N` checks the NANP phone fast path against the phonenumber crate on N numbers.
//! `profile N` profiles the columns of a generated N-row CSV (what `init` does on its sample).
//! `transform N` generates a synthetic CSV of N rows (~5 % duplicate emails, ~2 % invalid emails,
//! mixed phone formats), times a bare csv-crate read of it, then the importer's extract +
//! transform + dedup, and prints rows/s and the process's peak RSS.
//! `sync N` plans N rows against N existing contacts in sync mode (reads per 500, writes only
//! for changed rows).
//! `headers N` opens a CSV whose header has N columns (one of them repeated at the end, then
//! without the repeat) and times reading or rejecting it.
//! `slow N` is `load N` with every tenth answer delayed by 1.5 s (a slow answer must cost only
//! its own time).
//! `sqlite N` puts the same N rows in a CSV file and an SQLite table and runs the release binary
//! on each into a CSV sink: wall time and peak RSS side by side.
//! `cli N` runs the release binary (`cargo build --release` first) on a generated N-row CSV into a
//! CSV sink, end to end as a user runs it, and prints wall time and the process's peak RSS.
//! `load N` loads N rows into an in-process sandbox advertising 200 requests / 1 s and prints the
//! achieved request rate against that limit, 429s received and requests per created contact
//! (no cap in the pipeline: the pace is what the server advertises).
//! `rerun N` loads N rows at 100 requests / 1 s, then N more in a run started right after, while
//! the first run's requests still fill the window: the second run's rate and 429s.

#[path = "common/mod.rs"]
mod common;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use ghl_import::config;
use ghl_import::extract::SourceItem;
use ghl_import::extract::SourceReader;
use ghl_import::transform::dedup::Dedup;
use ghl_import::transform::Transformer;

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn generate(path: &Path, rows: usize) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(
        w,
        "First Name,Last Name,Email,Phone,Company,City,Country,Tags"
    )?;
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in 0..rows {
        let r = next();
        let email = match r % 100 {
            0..=4 if i > 0 => format!("User{}@Example.com ", (r >> 8) as usize % i), // duplicate, case variant
            5 | 6 => format!("user{i}@@example"),                                    // invalid
            _ => format!("user{i}@example.com"),
        };
        let n = 2_000_000 + (r >> 16) % 7_000_000;
        let phone = match (r >> 40) % 4 {
            0 => format!("(415) {:03}-{:04}", 200 + n / 10_000 % 800, n % 10_000),
            1 => format!("415.{:03}.{:04}", 200 + n / 10_000 % 800, n % 10_000),
            2 => format!("+1 415 {:03} {:04}", 200 + n / 10_000 % 800, n % 10_000),
            _ => format!("+44 20 7946 {:04}", n % 10_000),
        };
        writeln!(
            w,
            "First{i},Last{i},{email},{phone},Company {},City {},US,\"lead, vip\"",
            r % 1000,
            r % 50
        )?;
    }
    w.flush()
}

const PIPELINE: &str = "version: 1
source: {type: csv, path: bench.csv}
target: {location_id: bench-location, auth: {token_env: BENCH_TOKEN}}
mapping: {firstName: First Name, lastName: Last Name, email: Email, phone: Phone, companyName: Company, city: City, country: Country, tags: Tags}
validate: {phone_default_region: US}
";

/// Extract only: our CSV reader (sniffing, per-cell UTF-8 checks, row numbers) over the file.
fn extract(rows: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let csv = dir.path().join("bench.csv");
    generate(&csv, rows)?;
    let size = std::fs::metadata(&csv)?.len();
    let before = peak_rss_mb();
    let t = Instant::now();
    let src = ghl_import::config::Source::Csv(ghl_import::config::CsvSource::new(&csv));
    let mut n = 0u64;
    let mut bytes = 0usize;
    for item in SourceReader::open(&src)? {
        if let SourceItem::Row(r) = item {
            bytes += r.cells().map(str::len).sum::<usize>();
        }
        n += 1;
    }
    let el = t.elapsed();
    println!(
        "extract (csv): {n} rows, {:.1} MB in {:.3} s = {:.0} rows/s, {:.0} MB/s ({bytes} cell bytes); \
         peak RSS {:.1} MB (before reading: {before:.1} MB)",
        size as f64 / 1e6,
        el.as_secs_f64(),
        n as f64 / el.as_secs_f64(),
        size as f64 / 1e6 / el.as_secs_f64(),
        peak_rss_mb()
    );
    Ok(())
}

fn headers(columns: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    for repeated in [true, false] {
        let csv = dir.path().join("wide.csv");
        let mut names: Vec<String> = (0..columns).map(|i| format!("Column {i}")).collect();
        if repeated {
            names.push("column   0".into());
        }
        std::fs::write(&csv, format!("{}\n", names.join(",")))?;
        let t = Instant::now();
        let src = ghl_import::config::Source::Csv(ghl_import::config::CsvSource::new(&csv));
        let what = match SourceReader::open(&src) {
            Ok(r) => format!("read, {} columns", r.headers().len()),
            Err(e) => format!(
                "rejected: {}",
                e.to_string().chars().take(60).collect::<String>()
            ),
        };
        println!(
            "headers: {} columns{} in {:.3} s ({what})",
            names.len(),
            if repeated {
                " (last repeats the first)"
            } else {
                ""
            },
            t.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn transform(rows: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let csv = dir.path().join("bench.csv");
    generate(&csv, rows)?;
    let size = std::fs::metadata(&csv)?.len();
    println!("input: {rows} rows, {:.1} MB", size as f64 / 1e6);

    let t = Instant::now();
    let mut r = csv::Reader::from_path(&csv)?;
    let mut rec = csv::ByteRecord::new();
    let mut n = 0u64;
    while r.read_byte_record(&mut rec)? {
        n += 1;
    }
    let bare = t.elapsed();
    println!(
        "bare csv-crate read:           {n} rows in {:.3} s",
        bare.as_secs_f64()
    );

    let p = config::parse_str(&dir.path().join("p.yaml"), PIPELINE, |_| None)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let t = Instant::now();
    let reader = SourceReader::open(&p.source)?;
    let tf = Transformer::new(&p, reader.headers()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut dedup = Dedup::new(true, p.dedup.keep, false, None);
    let (mut ok, mut rejected) = (0u64, 0u64);
    let mut reader = reader;
    loop {
        let batch: Vec<SourceItem> = reader
            .by_ref()
            .take(ghl_import::transform::BATCH_ROWS)
            .collect();
        if batch.is_empty() {
            break;
        }
        let rows: Vec<ghl_import::record::Record> = batch
            .into_iter()
            .filter_map(|i| match i {
                SourceItem::Row(r) => Some(r),
                SourceItem::Malformed { .. } => {
                    rejected += 1;
                    None
                }
            })
            .collect();
        for (rec, res) in rows
            .iter()
            .zip(ghl_import::transform::apply_batch(&tf, &rows))
        {
            match res.and_then(|pr| dedup.check(&pr.body, rec.row)) {
                Ok(_) => ok += 1,
                Err(_) => rejected += 1,
            }
        }
    }
    let el = t.elapsed();
    println!(
        "extract + transform + dedup:   {} rows in {:.3} s = {:.0} rows/s ({ok} ok, {rejected} rejected), {} threads",
        ok + rejected,
        el.as_secs_f64(),
        (ok + rejected) as f64 / el.as_secs_f64(),
        rayon::current_num_threads()
    );
    let (keys, bytes) = dedup.footprint();
    let rss = peak_rss_mb();
    println!(
        "peak RSS: {rss:.1} MB, of which the dedup index ≈ {:.1} MB ({keys} distinct keys); \
         without it ≈ {:.1} MB",
        bytes as f64 / 1048576.0,
        rss - bytes as f64 / 1048576.0
    );
    Ok(())
}

/// Writes `header` and `rows` as a CSV, runs a pipeline loading it into the sandbox's
/// `bench-location` (`rest`: mapping and load settings), and returns the exit code and seconds.
/// `ghl-import run` on `rows` generated rows into a CSV sink, as a user runs it: the release
/// binary in a child process, wall time and the child's peak RSS.
fn cli(rows: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    generate(&dir.path().join("bench.csv"), rows)?;
    if let Some(keep) = std::env::var_os("BENCH_KEEP") {
        // Keeps the input for profiling: `BENCH_KEEP=/tmp/x bench cli N`.
        std::fs::create_dir_all(&keep)?;
        std::fs::copy(
            dir.path().join("bench.csv"),
            Path::new(&keep).join("bench.csv"),
        )?;
    }
    let (el, rss_mb, status, written) = to_csv_sink(dir.path(), "{type: csv, path: bench.csv}")?;
    let report = std::fs::metadata(dir.path().join("out/report.html")).map_or(0, |m| m.len());
    let t = Instant::now();
    ghl_import::report::html::write(&dir.path().join("out"))?;
    let rebuilt = t.elapsed().as_secs_f64();
    println!(
        "cli: {rows} rows → CSV sink in {el:.2} s ({:.0} rows/s), exit {status:?}, {written} rows written, peak RSS {rss_mb:.1} MB; \
         report.html {:.1} KB, rebuilt from the folder in {rebuilt:.2} s",
        rows as f64 / el,
        report as f64 / 1024.0
    );
    Ok(())
}

/// The same rows from a CSV file and from an SQLite query, each into a CSV sink by the release
/// binary: wall time and the process's peak RSS side by side.
fn sqlite(rows: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let csv = dir.path().join("bench.csv");
    generate(&csv, rows)?;
    let db = rusqlite::Connection::open(dir.path().join("bench.db"))?;
    db.execute_batch(
        "create table people (\"First Name\", \"Last Name\", Email, Phone, Company, City, Country, Tags)",
    )?;
    let tx = db.unchecked_transaction()?;
    {
        let mut ins = tx.prepare("insert into people values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")?;
        let mut r = csv::Reader::from_path(&csv)?;
        for rec in r.records() {
            let rec = rec?;
            ins.execute(rusqlite::params_from_iter(rec.iter()))?;
        }
    }
    tx.commit()?;
    drop(db);
    let query = "{type: sqlite, path: bench.db, query: select * from people order by rowid}";
    for (what, source) in [
        ("CSV file", "{type: csv, path: bench.csv}"),
        ("SQLite query", query),
    ] {
        let (el, rss_mb, status, written) = to_csv_sink(dir.path(), source)?;
        println!(
            "{what:>12}: {rows} rows → CSV sink in {el:.2} s ({:.0} rows/s), exit {status:?}, {written} rows written, peak RSS {rss_mb:.1} MB",
            rows as f64 / el
        );
    }
    Ok(())
}

/// Runs the release binary on `source` (a YAML flow mapping) into a CSV sink in `dir`: wall
/// seconds, its peak RSS (MB), exit code, rows written.
fn to_csv_sink(dir: &Path, source: &str) -> anyhow::Result<(f64, f64, Option<i32>, usize)> {
    let exe = common::release_binary()?;
    let yaml = PIPELINE
        .lines()
        .filter(|l| !l.starts_with("target:"))
        .map(|l| match l.strip_prefix("source: ") {
            Some(_) => format!("source: {source}"),
            None => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\nload: {type: csv, path: sink.csv, if_exists: replace}\n";
    std::fs::write(dir.join("p.yaml"), yaml)?;
    let _ = std::fs::remove_dir_all(dir.join("out"));
    let t = Instant::now();
    let child = std::process::Command::new(&exe)
        .args(["run", "-q", "--out"])
        .arg(dir.join("out"))
        .arg(dir.join("p.yaml"))
        .spawn()?;
    // This child's own peak (RUSAGE_CHILDREN would count the cargo build release_binary ran).
    // SAFETY: wait4 reaps our own child and writes into the structs we pass.
    let (code, rss_mb) = unsafe {
        let (mut status, mut u): (libc::c_int, libc::rusage) = (0, std::mem::zeroed());
        libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut u);
        (
            libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
            u.ru_maxrss as f64 / 1024.0,
        )
    };
    let el = t.elapsed().as_secs_f64();
    let written = std::fs::read_to_string(dir.join("sink.csv"))
        .map(|s| s.lines().count().saturating_sub(1))
        .unwrap_or(0);
    Ok((el, rss_mb, code, written))
}

async fn load(rows: usize) -> anyhow::Result<()> {
    load_with(rows, Vec::new(), 200, 8, "load").await
}

/// `load` with 10 % of the answers delayed by 1.5 s (every tenth request).
async fn slow(rows: usize) -> anyhow::Result<()> {
    let n = if std::env::var_os("BENCH_NO_FAULTS").is_some() {
        0
    } else {
        rows / 10
    };
    let faults = (0..n)
        .map(|k| format!("slow=1500x1@{}", k * 10 + 5).parse())
        .collect::<Result<Vec<ghl_sandbox::Fault>, String>>()
        .map_err(|e| anyhow::anyhow!(e))?;
    // The default concurrency (4) at 20 requests / s: enough in flight for the ceiling when a
    // slow answer holds only itself up (4 / 0.15 s mean latency ≈ 26 / s).
    load_with(rows, faults, 20, 4, "slow (10 % of answers +1.5 s)").await
}

/// Loads `rows` rows into a sandbox advertising `rate` requests / s, `concurrency` in flight.
async fn load_with(
    rows: usize,
    faults: Vec<ghl_sandbox::Fault>,
    rate: u32,
    concurrency: u32,
    what: &str,
) -> anyhow::Result<()> {
    let load = format!("load: {{concurrency: {concurrency}}}\n");
    let (sb, code, el) =
        common::load_people(rows, rate, Duration::from_secs(1), faults, &load).await?;
    common::report(&sb, what, rows, code, el, rate, None);
    Ok(())
}

/// Two runs of `rows` rows each, the second started as soon as the first ends (its requests
/// still fill the window): the second's rate against the ceiling, and its 429s.
async fn rerun(rows: usize) -> anyhow::Result<()> {
    use ghl_sandbox::{Sandbox, SandboxConfig};
    let rate = 100;
    let sb = Sandbox::start(SandboxConfig {
        locations: vec!["bench-location".into()],
        rate_max: rate,
        rate_interval: Duration::from_secs(1),
        ..SandboxConfig::default()
    })
    .await?;
    let rest = "mapping: {firstName: First Name, email: Email}\nload: {concurrency: 8}\n";
    let (code, el) = common::run_on_sandbox(
        &sb,
        "First Name,Email",
        (0..rows).map(|i| format!("P{i},p{i}@example.com")),
        rest,
    )
    .await?;
    common::report(&sb, "first run", rows, code, el, rate, None);
    let before = sb.stats();
    let (code, el) = common::run_on_sandbox(
        &sb,
        "First Name,Email",
        (0..rows).map(|i| format!("Q{i},q{i}@example.com")),
        rest,
    )
    .await?;
    common::report(
        &sb,
        "second run, right after",
        rows,
        code,
        el,
        rate,
        Some(&before),
    );
    Ok(())
}

/// The phone fast path against the phonenumber crate on `n` generated numbers: every answer must
/// agree; prints both timings.
fn phones(n: usize) -> anyhow::Result<()> {
    use ghl_import::transform::phone::{fast_nanp, slow};
    use phonenumber::country::Id;
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let nums: Vec<String> = (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let (a, b, c) = (seed % 1000, (seed >> 10) % 1000, (seed >> 20) % 10000);
            match (seed >> 40) % 3 {
                0 => format!("({a:03}) {b:03}-{c:04}"),
                1 => format!("+1 {a:03}.{b:03}.{c:04}"),
                _ => format!("1{a:03}{b:03}{c:04}"),
            }
        })
        .collect();
    let t = Instant::now();
    let mut hits = 0usize;
    let fast: Vec<Option<String>> = nums
        .iter()
        .map(|p| match fast_nanp(p, Some(Id::US)) {
            Some(v) => {
                hits += 1;
                v
            }
            None => slow(p, Some(Id::US)),
        })
        .collect();
    let tf = t.elapsed();
    let t = Instant::now();
    let slow: Vec<Option<String>> = nums.iter().map(|p| slow(p, Some(Id::US))).collect();
    let ts = t.elapsed();
    let disagree = fast.iter().zip(&slow).filter(|(a, b)| a != b).count();
    for ((raw, f), s) in nums
        .iter()
        .zip(&fast)
        .zip(&slow)
        .filter(|((_, a), b)| a != b)
        .take(10)
    {
        println!("  disagreement: {raw}: fast {f:?}, crate {s:?}");
    }
    let valid = slow.iter().filter(|v| v.is_some()).count();
    println!(
        "phones: {n} numbers ({valid} valid, {hits} on the fast path): fast path {:.3} s ({:.2} µs/number), crate {:.3} s ({:.2} µs/number); disagreements: {disagree}",
        tf.as_secs_f64(),
        tf.as_secs_f64() * 1e6 / n as f64,
        ts.as_secs_f64(),
        ts.as_secs_f64() * 1e6 / n as f64
    );
    anyhow::ensure!(disagree == 0, "the fast path disagrees with the crate");
    Ok(())
}

/// Column profiling (what `init` runs) over all N rows of a generated CSV, kept at
/// `$TMPDIR/ghl-import-bench-profile.csv` so that other tools can be timed on the same file.
fn profile(rows: usize) -> anyhow::Result<()> {
    let csv = std::env::temp_dir().join("ghl-import-bench-profile.csv");
    generate(&csv, rows)?;
    let t = Instant::now();
    let src = ghl_import::config::Source::Csv(ghl_import::config::CsvSource::new(&csv));
    let reader = SourceReader::open(&src)?;
    let headers = reader.headers().to_vec();
    let recs: Vec<ghl_import::record::Record> = reader
        .filter_map(|i| match i {
            SourceItem::Row(r) => Some(r),
            SourceItem::Malformed { .. } => None,
        })
        .collect();
    let read = t.elapsed();
    let t = Instant::now();
    let p = ghl_import::transform::profile::profile(&headers, &recs);
    let prof = t.elapsed();
    println!(
        "profile (plain loop): {rows} rows from {}: read {:.3} s, profile {:.3} s, total {:.3} s; {} columns; peak RSS {:.0} MB",
        csv.display(),
        read.as_secs_f64(),
        prof.as_secs_f64(),
        (read + prof).as_secs_f64(),
        p.len(),
        peak_rss_mb()
    );
    Ok(())
}

/// Planning cost: a location seeded with N contacts, a file of the same N contacts (one in ten
/// changed) loaded in sync mode: reads spent on the index, writes spent on changed rows only.
async fn sync(rows: usize) -> anyhow::Result<()> {
    use ghl_sandbox::{synthetic_location, Sandbox, SandboxConfig};
    let sb = Sandbox::start(SandboxConfig {
        locations: vec!["bench-location".into()],
        rate_max: 1000,
        rate_interval: Duration::from_secs(1),
        seed: vec![("bench-location".into(), synthetic_location(rows))],
        ..SandboxConfig::default()
    })
    .await?;
    let rows_csv = (0..rows).map(|i| {
        let first = if i % 10 == 0 { "Changed" } else { "Seed" };
        format!("{first}{i},Contact,seed{i}@example.com")
    });
    let (_, el) = common::run_on_sandbox(
        &sb,
        "First Name,Last Name,Email",
        rows_csv,
        "mapping: {firstName: First Name, lastName: Last Name, email: Email}\n\
         load: {mode: sync, concurrency: 8, rate_limit: {max_requests: 1000, interval_ms: 1000}}\n",
    )
    .await?;
    let stats = sb.stats();
    let reads = stats
        .requests_by_endpoint
        .get("POST /contacts/search")
        .copied()
        .unwrap_or(0);
    let writes = stats
        .requests_by_endpoint
        .get("POST /contacts/upsert")
        .copied()
        .unwrap_or(0);
    println!(
        "sync: {rows} rows against {rows} existing contacts in {el:.2} s: {reads} planning reads ({:.2} per 500 contacts), \
         {writes} writes for {} changed rows, 0 for the {} unchanged",
        reads as f64 * 500.0 / rows as f64,
        rows.div_ceil(10),
        rows - rows.div_ceil(10)
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let what = args.get(1).map(String::as_str).unwrap_or("transform");
    let rows: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    match what {
        "extract" => extract(rows),
        "cli" => cli(rows),
        "sqlite" => sqlite(rows),
        "phones" => phones(rows),
        "profile" => profile(rows),
        "transform" => transform(rows),
        "load" => tokio::runtime::Runtime::new()?.block_on(load(rows)),
        "sync" => tokio::runtime::Runtime::new()?.block_on(sync(rows)),
        "slow" => tokio::runtime::Runtime::new()?.block_on(slow(rows)),
        "rerun" => tokio::runtime::Runtime::new()?.block_on(rerun(rows)),
        "headers" => headers(rows),
        other => anyhow::bail!("unknown benchmark `{other}`: use extract, transform or load"),
    }
}
