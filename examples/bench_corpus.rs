//! Benchmark of issue 21 (figures, not assertions): real-shaped CRM exports as a new user takes
//! them — `init`, `validate`, `run --sandbox` — and `init` over a folder of public files.
//!
//! ```sh
//! cargo build --release
//! cargo run --release --example bench_corpus                        # tests/fixtures/crm
//! cargo run --release --example bench_corpus -- ../shared/samples-public   # init (+ validate) on every file
//! ```
//!
//! The corpus table: per export, rows, contacts loaded against the rows with a usable email or
//! phone (tests/fixtures/crm/expected.json), rejects by code, values not loaded by code, the
//! share of non-empty cells sent or reported (a cell of a mapped column of a loaded row is in
//! its contact or in rejected_values.csv; a rejected row's cells are in rejected.csv; a column
//! nothing maps is listed in `unmapped_columns`), the columns left out, and silent merges (two
//! rows of different people in one contact). The folder mode counts `init`'s outcomes: written
//! and validating, refused with a reason (exit 2), or failed (any other exit: a bug).

#[path = "common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use ghl_import::extract::{SourceItem, SourceReader};

fn main() -> anyhow::Result<()> {
    let bin = common::release_binary()?;
    match std::env::args().nth(1) {
        Some(dir) => folder(&bin, Path::new(&dir)),
        None => corpus(&bin),
    }
}

fn blank(c: &str) -> bool {
    c.trim().is_empty() || ghl_import::transform::normalize::is_empty_marker(c)
}

fn read_csv(path: &Path) -> anyhow::Result<Vec<Vec<String>>> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(path)?;
    Ok(r.records()
        .map(|r| r.map(|r| r.iter().map(str::to_owned).collect()))
        .collect::<Result<_, _>>()?)
}

fn corpus(bin: &Path) -> anyhow::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/crm");
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json"))?)?;
    let work = tempfile::tempdir()?;
    println!(
        "| export | rows | loaded / usable identity | rejected rows | values not loaded | cells sent or reported | columns left out | silent merges |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut totals = (0u64, 0u64, 0u64, 0u64);
    for (file, want) in expected.as_object().unwrap() {
        let yaml = work.path().join(format!("{file}.yaml"));
        let out = work.path().join(format!("{file}.out"));
        let init = Command::new(bin)
            .arg("init")
            .arg(dir.join(file))
            .arg("-o")
            .arg(&yaml)
            .output()?;
        let validate = Command::new(bin)
            .args(["validate", "--sandbox"])
            .arg(&yaml)
            .output()?;
        let run = Command::new(bin)
            .args(["run", "-q", "--sandbox", "--out"])
            .arg(&out)
            .arg(&yaml)
            .output()?;
        if !init.status.success()
            || !validate.status.success()
            || !run.status.code().is_some_and(|c| c == 0 || c == 3)
        {
            println!(
                "| {file} | init {:?}, validate {:?}, run {:?} | | | | | | |",
                init.status.code(),
                validate.status.code(),
                run.status.code()
            );
            continue;
        }
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("summary.json"))?)?;
        let usable = want["fates"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| *f == "load")
            .count();
        let (cells, accounted) = account(&yaml, &out)?;
        let merges = merges(&out)?;
        let codes = |v: &serde_json::Value| {
            v.as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, n)| format!("{k} {n}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        };
        let left: Vec<String> = s["unmapped_columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| {
                format!(
                    "{} ({}%)",
                    u["column"].as_str().unwrap_or(""),
                    u["fill_percent"]
                )
            })
            .collect();
        println!(
            "| {file} | {} | {} / {usable} | {} | {} | {:.1} % ({accounted}/{cells}) | {} | {merges} |",
            s["rows"]["read"],
            s["rows"]["created"],
            codes(&s["rejected_by_code"]),
            codes(&s["values"]["by_code"]),
            accounted as f64 * 100.0 / cells.max(1) as f64,
            left.join(", "),
        );
        totals.0 += s["rows"]["created"].as_u64().unwrap_or(0);
        totals.1 += usable as u64;
        totals.2 += cells;
        totals.3 += accounted;
    }
    println!(
        "\nall exports: {} of {} contacts with a usable identity loaded; {} of {} non-empty cells sent or reported",
        totals.0, totals.1, totals.3, totals.2
    );
    Ok(())
}

/// Non-empty cells of the file, and how many of them are sent or reported.
fn account(yaml: &Path, out: &Path) -> anyhow::Result<(u64, u64)> {
    let text = std::fs::read_to_string(yaml)?;
    let p =
        ghl_import::config::parse_str(yaml, &text, |_| None).map_err(|e| anyhow::anyhow!("{e}"))?;
    let reader = SourceReader::open(&p.source)?;
    let headers = reader.headers().to_vec();
    let rows: Vec<Vec<String>> = reader
        .map(|i| match i {
            SourceItem::Row(r) => r.to_vec(),
            SourceItem::Malformed { raw, .. } => raw.to_vec(),
        })
        .collect();
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json"))?)?;
    let unmapped: Vec<&str> = s["unmapped_columns"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["column"].as_str())
        .collect();
    let mapped: BTreeMap<ghl_client::fields::ContactField, Vec<usize>> = p
        .mapping
        .iter()
        .map(|(f, r)| {
            let cols = r
                .input
                .columns()
                .iter()
                .filter_map(|c| headers.iter().position(|h| h.trim() == c.trim()))
                .collect();
            (*f, cols)
        })
        .collect();
    let results = read_csv(&out.join("results.csv"))?;
    let contacts: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(out.join("sandbox-contacts.json"))?)?;
    let mut reported: BTreeMap<(String, String), u64> = BTreeMap::new();
    for v in &read_csv(&out.join("rejected_values.csv"))?[1..] {
        *reported.entry((v[0].clone(), v[3].clone())).or_default() += 1;
    }
    let (mut cells, mut accounted) = (0u64, 0u64);
    for (res, row) in results[1..].iter().zip(&rows) {
        let in_mapped = |i: usize| mapped.values().any(|c| c.contains(&i));
        for (i, c) in row.iter().enumerate() {
            if blank(c) {
                continue;
            }
            cells += 1;
            let h = headers.get(i).map(|h| h.trim()).unwrap_or("");
            // A rejected row is whole in rejected.csv; an unmapped column is listed.
            if res[1] == "rejected" || (!in_mapped(i) && unmapped.contains(&h)) {
                accounted += 1;
            }
        }
        if res[1] == "rejected" {
            continue;
        }
        let Some(contact) = contacts.iter().find(|c| c["id"] == res[2].as_str()) else {
            continue;
        };
        for (field, cols) in &mapped {
            let n: u64 = cols
                .iter()
                .map(|&i| {
                    let cell = row.get(i).map(String::as_str).unwrap_or("");
                    match field {
                        ghl_client::fields::ContactField::Email
                        | ghl_client::fields::ContactField::Phone => {
                            cell.split(" ::: ").filter(|v| !blank(v)).count() as u64
                        }
                        _ => u64::from(!blank(cell)),
                    }
                })
                .sum();
            if n == 0 {
                continue;
            }
            let sent = match &contact[field.api_name()] {
                serde_json::Value::Null => 0,
                serde_json::Value::String(s) if s.is_empty() => 0,
                serde_json::Value::Array(a) if a.is_empty() => 0,
                _ => 1,
            };
            let told = reported
                .get(&(res[0].clone(), field.api_name().to_owned()))
                .copied()
                .unwrap_or(0);
            // Cells of a mapped column: each value is in the contact or reported, at most n.
            accounted += (sent + told).min(n);
            // A cell holding several values counts once in `cells`: count its extra values too.
            let multi: u64 = cols
                .iter()
                .map(|&i| u64::from(!blank(row.get(i).map(String::as_str).unwrap_or(""))))
                .sum();
            cells += n - multi;
        }
    }
    Ok((cells, accounted))
}

/// Contacts that two loaded rows of different people (different names) went into.
fn merges(out: &Path) -> anyhow::Result<u64> {
    let results = read_csv(&out.join("results.csv"))?;
    let mut by_contact: BTreeMap<&str, u64> = BTreeMap::new();
    for r in &results[1..] {
        if r[1] == "created" || r[1] == "updated" {
            *by_contact.entry(r[2].as_str()).or_default() += 1;
        }
    }
    Ok(by_contact.values().filter(|n| **n > 1).count() as u64)
}

fn folder(bin: &Path, dir: &Path) -> anyhow::Result<()> {
    let mut files: Vec<PathBuf> = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                ["csv", "tsv", "txt", "xlsx", "xls", "xlsm", "xlsb", "ods"]
                    .contains(&e.to_ascii_lowercase().as_str())
            }) {
                files.push(p);
            }
        }
    }
    files.sort();
    let work = tempfile::tempdir()?;
    let (mut written, mut refused, mut failed, mut invalid) = (0, 0, 0, 0);
    let started = std::time::Instant::now();
    for (i, f) in files.iter().enumerate() {
        let yaml = work.path().join(format!("p{i}.yaml"));
        let o = Command::new(bin)
            .arg("init")
            .arg(f)
            .arg("-o")
            .arg(&yaml)
            .output()?;
        match o.status.code() {
            Some(0) => {
                written += 1;
                let v = Command::new(bin)
                    .args(["validate", "--sandbox"])
                    .arg(&yaml)
                    .output()?;
                if !v.status.success() {
                    invalid += 1;
                    println!("does not validate: {}", f.display());
                }
            }
            Some(2) => refused += 1,
            code => {
                failed += 1;
                println!(
                    "init failed ({code:?}): {}\n{}",
                    f.display(),
                    String::from_utf8_lossy(&o.stderr)
                );
            }
        }
    }
    println!(
        "{} files in {:.1} s: {written} pipelines written ({invalid} of them not validating), {refused} refused with a reason (exit 2), {failed} failed",
        files.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
