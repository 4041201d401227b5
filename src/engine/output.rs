//! What a run leaves behind for the user: the output folder, JSON reports, the printed summary.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::Pipeline;
use crate::error::ConfigError;
use crate::options::RunOptions;
use crate::outcome::codes;
use crate::report::Summary;

/// `--out` (which must not exist or be empty, unless `--force`: an earlier run's reports and
/// rollback manifest are never overwritten silently), else a new folder `<name>-<UTC timestamp>`
/// (suffixed when taken) under `report.dir` or `out/`. Created 0700: reports hold customer data.
pub(super) fn output_dir(
    opts: &RunOptions,
    p: &Pipeline,
    at: time::OffsetDateTime,
) -> anyhow::Result<PathBuf> {
    let dir = match &opts.out {
        Some(d) => {
            let used = std::fs::read_dir(d)
                .map(|mut entries| entries.next().is_some())
                .unwrap_or(false);
            if used && !opts.force {
                return Err(ConfigError::new(format!(
                    "--out {}: the folder is not empty (an earlier run's reports?); choose a new folder, leave \
                     --out out to get one, or add --force to replace what is there",
                    d.display()
                ))
                .into());
            }
            d.clone()
        }
        None => {
            let parent = p.report.dir.clone().unwrap_or_else(|| PathBuf::from("out"));
            crate::disk::create_private_dir(&parent).map_err(|e| {
                ConfigError::new(format!("cannot create the reports folder: {e:#}"))
            })?;
            let base = parent.join(format!("{}-{}", p.name, crate::disk::stamp(at)));
            // Claimed with a non-recursive create, so two runs started in the same second get
            // two folders.
            let mut dir = base.clone();
            let mut n = 2;
            loop {
                match private_dir_builder().create(&dir) {
                    Ok(()) => return Ok(dir),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        dir = PathBuf::from(format!("{}-{n}", base.display()));
                        n += 1;
                    }
                    Err(e) => {
                        return Err(ConfigError::new(format!(
                            "cannot create the output folder {}: {e}",
                            dir.display()
                        ))
                        .into())
                    }
                }
            }
        }
    };
    crate::disk::create_private_dir(&dir).map_err(|e| {
        ConfigError::new(format!(
            "cannot create the output folder {}: {e:#}",
            dir.display()
        ))
    })?;
    Ok(dir)
}

fn private_dir_builder() -> std::fs::DirBuilder {
    #[allow(unused_mut)]
    let mut b = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b
}

pub(super) fn write_json(path: &Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
    let f = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    serde_json::to_writer_pretty(std::io::BufWriter::new(f), value)
        .with_context(|| format!("writing {}", path.display()))
}

pub(super) fn print_summary(s: &Summary, out: &Path, exported_to: Option<&Path>) {
    let r = &s.rows;
    let dest = match exported_to {
        Some(p) => format!("{}", p.display()),
        None if s.locations.is_some() => format!(
            "{} locations{}",
            s.locations.as_ref().map_or(0, Vec::len),
            if s.sandbox { " (embedded sandbox)" } else { "" }
        ),
        None if s.location_id.is_empty() => "(nothing written)".to_owned(),
        None => format!(
            "location {}{}",
            s.location_id,
            if s.sandbox { " (embedded sandbox)" } else { "" }
        ),
    };
    println!("{}: {} → {dest}", s.pipeline, s.source);
    println!("  rows read   {:>8}", r.read);
    if s.forecast.is_some() {
        // Dry run: the planned actions are printed below.
    } else if exported_to.is_some() || r.exported > 0 {
        println!("  exported    {:>8}", r.exported);
    } else {
        println!("  created     {:>8}", r.created);
        println!("  updated     {:>8}", r.updated);
        println!("  unchanged   {:>8}", r.unchanged);
    }
    if !s.plan.is_empty() || s.forecast.is_some() {
        for action in ["create", "update", "unchanged"] {
            println!(
                "  {action:<11} {:>8}  (planned)",
                s.plan.get(action).copied().unwrap_or(0)
            );
        }
        let conflicts = s
            .rejected_by_code
            .get(codes::CONFLICT)
            .copied()
            .unwrap_or(0);
        println!("  conflict    {conflicts:>8}  (planned: rejected, see plan.csv)");
    }
    print_rejects(s);
    println!(
        "  requests    {:>8}  (retries {}, 429s {}, 5xx {}, transport errors {})",
        s.requests.sent,
        s.requests.retries,
        s.requests.rate_limited_429,
        s.requests.server_errors,
        s.requests.transport_errors
    );
    if s.values.patched > 0 {
        println!(
            "  values patched {:>5}  (fixed in rejected_values.csv, written into their contacts, that field only)",
            s.values.patched
        );
    }
    if s.values.reported > 0 {
        let kept = match s.values.kept_in_note {
            0 => String::new(),
            n => format!(", {n} kept in a note"),
        };
        println!(
            "  values not in their field {:>4}  (contacts loaded without them{kept}: see rejected_values.csv)",
            s.values.reported
        );
        for (code, n) in &s.values.by_code {
            println!("    {code:<22}{n:>6}");
        }
    }
    for (code, n) in &s.warnings_by_code {
        println!("  warnings    {n:>8}  ({code}: loaded, but see results.csv)");
    }
    if !s.unmapped_columns.is_empty() {
        println!(
            "  columns with data the pipeline does not map ({}; nothing of them was sent):",
            s.unmapped_columns.len()
        );
        for u in s.unmapped_columns.iter().take(12) {
            println!(
                "    {:<28}{:>6} rows ({:.1} %)",
                u.column, u.filled, u.fill_percent
            );
        }
        if s.unmapped_columns.len() > 12 {
            println!(
                "    … and {} more (summary.json lists all)",
                s.unmapped_columns.len() - 12
            );
        }
    }
    println!("  duration    {:>7.1}s", s.duration_ms as f64 / 1000.0);
    if let Some(f) = &s.forecast {
        let share = match (f.daily_share_percent, f.daily_remaining) {
            (Some(pct), Some(d)) if pct < 1.0 => format!(" = {pct:.2} % of today's remaining {d}"),
            (Some(pct), Some(d)) => format!(" = {pct:.1} % of today's remaining {d}"),
            _ => String::new(),
        };
        let planning = match f.existing_contacts {
            Some(n) => format!(
                "{n} contacts in the location, {} read requests to plan",
                f.read_requests
            ),
            None => format!("{} per-row lookups to plan", f.read_requests),
        };
        println!(
            "dry run: nothing was written. A real run would send ≈ {} write requests{share}, ETA {:.0} s at the \
             configured rate ({planning})",
            f.write_requests, f.eta_seconds
        );
    }
    if let Some(f) = &s.followups {
        println!(
            "  follow-ups  {:>8}  (applied {}, unchanged {}, rejected {}: see followups.csv)",
            f.rows, f.applied, f.unchanged, f.rejected
        );
    }
    if let Some(r) = &s.resume {
        let share = r
            .daily_share_percent
            .map(|p| format!(", {p:.1} % of a day's allowance"))
            .unwrap_or_default();
        println!(
            "resume: {} rows were not sent (≈ {} requests{share}). The API does not say when its daily \
             allowance resets: re-run the same command after {} (calendar day, UTC), or by {} at the \
             latest (rolling 24 hours); rows already written are skipped.",
            r.rows_left, r.requests_needed, r.earliest, r.latest
        );
    }
    if let Some(parts) = &s.locations {
        print_locations(parts);
    }
    if super::run::ending::nothing_loaded(s) && s.aborted.is_none() {
        println!(
            "nothing loaded: all {} rows were rejected (exit code 4); the reasons are in rejected.csv",
            s.rows.read
        );
    }
    println!("reports: {}", out.display());
}

/// One line per location (the 20 stopped or with the most rejects first, when there are more).
fn print_locations(parts: &[crate::report::summary::LocationPart]) {
    let mut shown: Vec<&crate::report::summary::LocationPart> = parts.iter().collect();
    shown.sort_by(|a, b| {
        (b.aborted.is_some(), b.rows.rejected).cmp(&(a.aborted.is_some(), a.rows.rejected))
    });
    println!("  location                   read  created  updated rejected  req/s");
    for l in shown.iter().take(20) {
        println!(
            "  {:<24}{:>7}{:>9}{:>9}{:>9}{:>7.1}{}",
            l.location_id,
            l.rows.read,
            l.rows.created,
            l.rows.updated,
            l.rows.rejected,
            l.requests_per_second,
            l.aborted
                .as_deref()
                .map(|a| format!("  stopped: {a}"))
                .unwrap_or_default()
        );
    }
    if shown.len() > 20 {
        println!("  … and {} more (summary.json lists all)", shown.len() - 20);
    }
}

/// The rejects by code; rows the run never sent (it stopped) and rows whose outcome is unknown
/// are not rejects of the data: they are shown apart, as the files say.
fn print_rejects(s: &Summary) {
    let r = &s.rows;
    let apart = [codes::NOT_ATTEMPTED, codes::OUTCOME_UNKNOWN];
    let count = |c: &str| s.rejected_by_code.get(c).copied().unwrap_or(0);
    let held: u64 = apart.iter().map(|c| count(c)).sum();
    println!("  rejected    {:>8}", r.rejected.saturating_sub(held));
    for (code, n) in s
        .rejected_by_code
        .iter()
        .filter(|(c, _)| !apart.contains(&c.as_str()))
    {
        println!("    {code:<22}{n:>6}");
    }
    if count(codes::NOT_ATTEMPTED) > 0 {
        println!(
            "  not sent    {:>8}  (the run stopped first; a re-run sends them: not_attempted)",
            count(codes::NOT_ATTEMPTED)
        );
    }
    if count(codes::OUTCOME_UNKNOWN) > 0 {
        println!(
            "  unknown     {:>8}  (sent, unanswered: a re-run or rollback settles them: outcome_unknown)",
            count(codes::OUTCOME_UNKNOWN)
        );
    }
}
