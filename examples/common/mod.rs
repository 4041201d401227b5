//! What the benchmarks share.
// Each benchmark uses some of these.
#![allow(dead_code)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The `ghl-import` binary built beside this example (`cargo build --release` first).
pub fn release_binary() -> anyhow::Result<PathBuf> {
    std::env::current_exe()?
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("ghl-import"))
        .filter(|p| p.exists())
        .ok_or_else(|| anyhow::anyhow!("build the binary first: cargo build --release"))
}

/// The `p`th percentile of `v` (nearest rank; sorts `v`).
pub fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() - 1) as f64 * p / 100.0).round() as usize;
    v[i]
}

/// (utime + stime in clock ticks, RSS in MB) of a process.
pub fn proc_sample(pid: u32) -> Option<(u64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse::<f64>()
        .ok()?;
    Some((ticks, rss / 1024.0))
}

/// Starts `ghl-import sandbox` for `locations` with `extra` flags; returns the child and its
/// base URL (its stdout is drained on a thread).
pub fn start_sandbox(
    exe: &Path,
    token: &str,
    locations: &[String],
    extra: &[&str],
) -> anyhow::Result<(std::process::Child, String)> {
    use std::io::BufRead;
    let mut sb = std::process::Command::new(exe);
    sb.args(["sandbox", "--port", "0", "--token", token])
        .args(extra);
    for l in locations {
        sb.args(["--location", l]);
    }
    let mut sb = sb
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let mut out = std::io::BufReader::new(sb.stdout.take().expect("stdout")).lines();
    let base = out
        .next()
        .transpose()?
        .and_then(|l| l.strip_prefix("base_url=").map(str::to_owned))
        .ok_or_else(|| anyhow::anyhow!("the sandbox printed no base_url"))?;
    std::thread::spawn(move || for _ in out.by_ref() {});
    Ok((sb, base))
}

/// GET `path` of the server at `base` (`http://host:port`); the body.
pub fn get(base: &str, path: &str) -> anyhow::Result<String> {
    use std::io::Read;
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr)?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )?;
    let mut t = String::new();
    s.read_to_string(&mut t)?;
    Ok(t.split_once("\r\n\r\n")
        .map(|x| x.1.to_owned())
        .unwrap_or_default())
}

/// Runs a pipeline of `rows` (under `header`) into `sb`'s `bench-location`, `rest` appended to
/// its YAML; the exit code and the wall time in seconds.
pub async fn run_on_sandbox(
    sb: &ghl_sandbox::Sandbox,
    header: &str,
    rows: impl Iterator<Item = String>,
    rest: &str,
) -> anyhow::Result<(ghl_import::error::Exit, f64)> {
    let dir = tempfile::tempdir()?;
    let mut w = std::io::BufWriter::new(std::fs::File::create(dir.path().join("bench.csv"))?);
    writeln!(w, "{header}")?;
    for r in rows {
        writeln!(w, "{r}")?;
    }
    w.flush()?;
    drop(w);
    let yaml = format!(
        "version: 1\nsource: {{type: csv, path: bench.csv}}\n\
         target: {{location_id: bench-location, base_url: \"{}\", auth: {{token_env: BENCH_TOKEN}}}}\n\
         report: {{dir: out}}\n{rest}",
        sb.base_url()
    );
    let pfile = dir.path().join("p.yaml");
    std::fs::write(&pfile, yaml)?;
    // SAFETY of intent: single-threaded at this point of the benchmark; the variable is ours.
    unsafe { std::env::set_var("BENCH_TOKEN", sb.token()) };
    let t = Instant::now();
    let code = ghl_import::engine::run(ghl_import::engine::RunOptions {
        pipeline: pfile,
        quiet: true,
        ..Default::default()
    })
    .await?;
    Ok((code, t.elapsed().as_secs_f64()))
}

/// Prints what the sandbox saw of a load: rate against the ceiling, 429s, the busiest window.
/// `before`: the statistics before this run (to count this run's requests only).
pub fn report(
    sb: &ghl_sandbox::Sandbox,
    what: &str,
    rows: usize,
    code: ghl_import::error::Exit,
    el: f64,
    rate: u32,
    before: Option<&ghl_sandbox::Stats>,
) {
    let stats = sb.stats();
    let total = |s: &ghl_sandbox::Stats| s.requests_by_endpoint.values().sum::<u64>();
    let sent = total(&stats) - before.map_or(0, total);
    let r429 = stats.rate_limited_429 - before.map_or(0, |b| b.rate_limited_429);
    println!(
        "{what}: {rows} rows in {el:.2} s, exit {:?}; {sent} requests = {:.1} req/s against {rate} req/s advertised ({:.1} %); \
         429s {}; max in any 1 s window {}; requests per created contact {:.2}",
        code,
        sent as f64 / el,
        sent as f64 / el / f64::from(rate) * 100.0,
        r429,
        stats.max_in_any_window,
        total(&stats) as f64 / sb.contacts("bench-location").len().max(1) as f64
    );
}

/// `rows` generated people (`P{i}`, `p{i}@example.com`) loaded into a fresh in-process sandbox
/// whose `bench-location` allows `max` requests per `interval`, with `faults`; `load` is the
/// pipeline's `load:` mapping, if any. The sandbox, the exit code and the wall time in seconds.
pub async fn load_people(
    rows: usize,
    max: u32,
    interval: std::time::Duration,
    faults: Vec<ghl_sandbox::Fault>,
    load: &str,
) -> anyhow::Result<(ghl_sandbox::Sandbox, ghl_import::error::Exit, f64)> {
    use ghl_sandbox::{Sandbox, SandboxConfig};
    let sb = Sandbox::start(SandboxConfig {
        locations: vec!["bench-location".into()],
        rate_max: max,
        rate_interval: interval,
        faults,
        ..SandboxConfig::default()
    })
    .await?;
    let (code, el) = run_on_sandbox(
        &sb,
        "First Name,Email",
        (0..rows).map(|i| format!("P{i},p{i}@example.com")),
        &format!("mapping: {{firstName: First Name, email: Email}}\n{load}"),
    )
    .await?;
    Ok((sb, code, el))
}
