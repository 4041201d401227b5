//! `ghl-import runs`: the run history of a state folder, as a table or as JSON.

use std::path::Path;

use crate::cli::Command;
use crate::error::{ConfigError, Exit};
use crate::options::Format;
use crate::store::history::{History, RunRow, JSON_VERSION};

/// `runs` and `runs prune`.
pub fn cmd(c: Command) -> anyhow::Result<Exit> {
    match c {
        Command::Runs {
            action:
                Some(crate::cli::RunsAction::Prune {
                    keep_days,
                    keep_runs,
                    dry_run,
                }),
            pipeline,
            state_dir,
            ..
        } => runs_prune(
            pipeline.as_deref(),
            state_dir.as_deref(),
            crate::config::model::Retention {
                days: keep_days,
                runs: keep_runs,
            },
            dry_run,
        ),
        Command::Runs {
            action: None,
            pipeline,
            last,
            kind,
            state_dir,
            format,
            json,
        } => {
            let format = if json {
                crate::options::Format::Json
            } else {
                format
            };
            let rehearsals = match kind {
                crate::cli::RunsKind::All => None,
                crate::cli::RunsKind::Real => Some(false),
                crate::cli::RunsKind::Rehearsal => Some(true),
            };
            runs(
                pipeline.as_deref(),
                (last, rehearsals),
                state_dir.as_deref(),
                format,
            )
        }
        _ => unreachable!("dispatch passes runs only"),
    }
}

/// `runs prune`: removes old report folders of `pipeline` (a file or a name), else of every
/// pipeline in the history, as `keep` says.
pub fn runs_prune(
    pipeline: Option<&str>,
    state_dir: Option<&Path>,
    keep: crate::config::model::Retention,
    dry_run: bool,
) -> anyhow::Result<Exit> {
    if keep.days.is_none() && keep.runs.is_none() {
        return Err(ConfigError::new(
            "runs prune: say what to keep: --keep-days N, --keep-runs N, or both",
        )
        .into());
    }
    let (name, h) = history_of(pipeline, state_dir)?;
    let names: Vec<String> = match name {
        Some(n) => vec![n],
        None => {
            let mut all: Vec<String> = h
                .list(None, usize::MAX >> 1)?
                .into_iter()
                .map(|r| r.pipeline)
                .collect();
            all.sort();
            all.dedup();
            all
        }
    };
    let (mut folders, mut bytes) = (0, 0);
    let verb = if dry_run { "would remove" } else { "removed" };
    for n in &names {
        let done = crate::engine::prune::prune(&h, n, keep, dry_run)?;
        for f in &done.folders {
            println!("{verb} {f}");
        }
        folders += done.folders.len();
        bytes += done.bytes;
    }
    println!(
        "{verb} {folders} report folders ({:.1} MB) of {} pipelines",
        bytes as f64 / 1e6,
        names.len()
    );
    Ok(Exit::Ok)
}

/// The pipeline name (from a file or a name) and the run history to read.
fn history_of(
    pipeline: Option<&str>,
    state_dir: Option<&Path>,
) -> anyhow::Result<(Option<String>, History)> {
    // A pipeline file: its name, and its state folder unless one is given.
    let file = pipeline
        .map(Path::new)
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml" || e == "yml"));
    let (name, store) = match file {
        Some(f) => {
            let p = crate::config::load(f)?;
            let store = crate::engine::store_of(&p, state_dir);
            (Some(p.name), store)
        }
        None => (
            pipeline.map(str::to_owned),
            state_dir.map_or_else(crate::store::Store::found, crate::store::Store::at),
        ),
    };
    match store.history_if_any() {
        Some(h) => Ok((name, h?)),
        None => Err(ConfigError::new(format!(
            "no run history in {} (runs are recorded in the state folder of the pipelines that ran; \
             pass --state-dir or --pipeline FILE)",
            store.dir().display()
        ))
        .into()),
    }
}

/// Lists the last `last` runs (of `pipeline`: a pipeline file or a pipeline name).
pub fn runs(
    pipeline: Option<&str>,
    (last, rehearsals): (usize, Option<bool>),
    state_dir: Option<&Path>,
    format: Format,
) -> anyhow::Result<Exit> {
    let (name, h) = history_of(pipeline, state_dir)?;
    let rows = h.list_of(name.as_deref(), last, rehearsals)?;
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"version": JSON_VERSION, "runs": rows})
            )?
        ),
        Format::Table => print_table(&rows),
    }
    Ok(Exit::Ok)
}

fn print_table(rows: &[RunRow]) {
    if rows.is_empty() {
        println!("no runs recorded yet");
        return;
    }
    let n = |v: Option<u64>| v.map_or("-".to_owned(), |v| v.to_string());
    let table: Vec<[String; 11]> = rows
        .iter()
        .map(|r| {
            [
                r.id.to_string(),
                r.started_at.clone(),
                r.pipeline.clone(),
                r.location.clone().unwrap_or_else(|| "-".into()),
                r.kind.clone(),
                r.status.clone(),
                format!(
                    "{}/{}/{}",
                    n(r.created.or(r.exported)),
                    n(r.updated),
                    n(r.unchanged)
                ),
                n(r.rejected),
                n(r.requests),
                n(r.rate_limited_429),
                r.report_dir.clone(),
            ]
        })
        .collect();
    let header = [
        "id",
        "started",
        "pipeline",
        "location",
        "kind",
        "status",
        "created/updated/unchanged",
        "rejected",
        "requests",
        "429s",
        "report",
    ];
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &table {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    for (row, r) in table.iter().zip(rows) {
        line(row.iter().map(String::as_str).collect());
        // Why a run did not start or stopped, under it (cut to one line).
        if let Some(why) = r.aborted.as_deref().filter(|_| r.status != "ok") {
            let first = why.lines().next().unwrap_or_default();
            let cut: String = first.chars().take(160).collect();
            let more = if cut.len() < first.len() { "…" } else { "" };
            println!("    {}: {cut}{more}", r.status);
        }
    }
}
