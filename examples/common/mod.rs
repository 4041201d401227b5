//! What the benchmarks share.
// Each benchmark uses some of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

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
    use std::io::{Read, Write};
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
