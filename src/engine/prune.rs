//! Retention of report folders (customer data): `report.keep` after each run, and
//! `ghl-import runs prune`. A folder is removed when its run ended more than `days` ago, or is
//! beyond the newest `runs` of its pipeline — never the folder of a run that has not ended, and
//! only a folder this tool wrote (it holds run.json or summary.json). A removed run can no longer
//! be rolled back or retried; its row stays in the history.

use std::path::Path;

use crate::config::model::Retention;
use crate::store::history::{History, RunRow};

/// What pruning removed (or, with `dry_run`, would remove).
#[derive(Debug, Default)]
pub struct Pruned {
    /// Report folders removed.
    pub folders: Vec<String>,
    /// Bytes they held.
    pub bytes: u64,
}

/// The runs of `rows` (one pipeline's, newest first) whose folders `keep` lets go.
fn expired(rows: &[RunRow], keep: Retention, now: time::OffsetDateTime) -> Vec<&RunRow> {
    let ended: Vec<&RunRow> = rows.iter().filter(|r| r.ended_at.is_some()).collect();
    ended
        .iter()
        .enumerate()
        .filter(|(i, r)| {
            let beyond = keep.runs.is_some_and(|n| *i >= n as usize);
            let old = keep.days.is_some_and(|d| {
                r.ended_at
                    .as_deref()
                    .and_then(crate::disk::parse_rfc3339)
                    .is_some_and(|t| now - t > time::Duration::days(i64::from(d)))
            });
            beyond || old
        })
        .map(|(_, r)| *r)
        .collect()
}

/// A folder this tool wrote for a run.
fn is_run_folder(dir: &Path) -> bool {
    dir.is_dir()
        && (dir.join("run.json").is_file() || dir.join(crate::report::SUMMARY_JSON).is_file())
}

fn size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => size(&e.path()),
                    _ => e.metadata().map(|m| m.len()).unwrap_or(0),
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Removes the report folders of `pipeline`'s runs in `history` that `keep` lets go.
pub fn prune(
    history: &History,
    pipeline: &str,
    keep: Retention,
    dry_run: bool,
) -> anyhow::Result<Pruned> {
    let rows = history.list(Some(pipeline), usize::MAX >> 1)?;
    let mut out = Pruned::default();
    for r in expired(&rows, keep, time::OffsetDateTime::now_utc()) {
        let dir = Path::new(&r.report_dir);
        if r.report_dir.is_empty() || !is_run_folder(dir) {
            continue;
        }
        out.bytes += size(dir);
        if !dry_run {
            std::fs::remove_dir_all(dir)?;
        }
        out.folders.push(r.report_dir.clone());
    }
    Ok(out)
}

/// `report.keep` after a run of `p` (warnings only: a run never fails over its clean-up).
pub(super) fn after_run(p: &crate::config::Pipeline, store: &crate::store::Store) {
    let Some(keep) = p.report.keep else { return };
    let result = store
        .history()
        .and_then(|h| prune(&h, &p.name, keep, false));
    match result {
        Ok(done) if !done.folders.is_empty() => tracing::info!(
            pipeline = %p.name,
            folders = done.folders.len(),
            bytes = done.bytes,
            "Removed old report folders (report.keep)."
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "Could not remove old report folders (report.keep)."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, ended: Option<&str>) -> RunRow {
        RunRow {
            id,
            pipeline: "p".into(),
            pipeline_file: "p.yaml".into(),
            location: None,
            kind: "run".into(),
            started_at: String::new(),
            ended_at: ended.map(str::to_owned),
            status: "ok".into(),
            exit_code: Some(0),
            rows_read: None,
            created: None,
            updated: None,
            unchanged: None,
            exported: None,
            rejected: None,
            requests: None,
            rate_limited_429: None,
            aborted: None,
            report_dir: format!("out/{id}"),
        }
    }

    #[test]
    fn old_runs_and_runs_beyond_the_count_expire_unfinished_ones_never() {
        let now = time::OffsetDateTime::parse(
            "2026-12-07T00:00:00Z",
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        let rows = vec![
            row(5, None),
            row(4, Some("2026-12-06T00:00:00Z")),
            row(3, Some("2026-12-05T00:00:00Z")),
            row(2, Some("2026-11-01T00:00:00Z")),
            row(1, Some("2026-10-01T00:00:00Z")),
        ];
        let ids =
            |k: Retention| -> Vec<i64> { expired(&rows, k, now).iter().map(|r| r.id).collect() };
        assert_eq!(
            ids(Retention {
                days: Some(30),
                runs: None
            }),
            vec![2, 1]
        );
        assert_eq!(
            ids(Retention {
                days: None,
                runs: Some(2)
            }),
            vec![2, 1]
        );
        assert_eq!(
            ids(Retention {
                days: None,
                runs: Some(1)
            }),
            vec![3, 2, 1]
        );
        assert_eq!(
            ids(Retention {
                days: Some(365),
                runs: Some(10)
            }),
            Vec::<i64>::new()
        );
    }
}
