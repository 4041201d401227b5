//! Run history: one SQLite file per state folder (`<state dir>/runs.sqlite`) with a row per run —
//! its pipeline, location, start and end, counts by outcome, requests and 429s, exit code and
//! report folder. A run is recorded when it starts and completed when it ends; one that never
//! ends (killed, crashed) stays `unfinished`. `ghl-import runs` lists it.

use std::path::Path;

use anyhow::Context;
use rusqlite::{params, Connection};
use serde::Serialize;

/// File name in the state folder.
pub const FILE: &str = "runs.sqlite";

/// Version of `runs --format json`.
pub const JSON_VERSION: u32 = 1;

/// An open history.
#[derive(Debug)]
pub struct History {
    conn: Connection,
}

/// What is known when a run starts.
#[derive(Debug, Clone)]
pub struct Start<'a> {
    /// The pipeline's name.
    pub pipeline: &'a str,
    /// The pipeline file.
    pub pipeline_file: &'a Path,
    /// The location written to (or read from, for a CSV sink), if any.
    pub location: Option<&'a str>,
    /// `run`, `dry_run` or `retry_rejects`; prefixed `rehearsal_` for a run into an embedded
    /// sandbox (`--sandbox`), which changed no real location.
    pub kind: &'a str,
    /// RFC 3339.
    pub started_at: &'a str,
    /// The report folder.
    pub report_dir: &'a Path,
}

/// One run as listed (also the JSON shape of `runs --format json`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunRow {
    /// Row id (increasing).
    pub id: i64,
    /// The pipeline's name.
    pub pipeline: String,
    /// The pipeline file.
    pub pipeline_file: String,
    /// The location.
    pub location: Option<String>,
    /// `run`, `dry_run` or `retry_rejects`.
    pub kind: String,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339, once ended.
    pub ended_at: Option<String>,
    /// One of [`STATUSES`]: see [`status_of`].
    pub status: String,
    /// The exit code, once ended.
    pub exit_code: Option<i32>,
    /// Rows read.
    pub rows_read: Option<u64>,
    /// Created.
    pub created: Option<u64>,
    /// Updated.
    pub updated: Option<u64>,
    /// Unchanged.
    pub unchanged: Option<u64>,
    /// Exported (CSV sink).
    pub exported: Option<u64>,
    /// Rejected (all codes, `not_attempted` included).
    pub rejected: Option<u64>,
    /// Requests sent.
    pub requests: Option<u64>,
    /// 429 answers.
    pub rate_limited_429: Option<u64>,
    /// Why the run stopped, if it did.
    pub aborted: Option<String>,
    /// The report folder.
    pub report_dir: String,
}

/// A run's status from its exit code and why it stopped: `skipped` (a scheduled time that came
/// while the previous run was still going), `unfinished` (no end recorded: it is running, or
/// was killed), `ok` (0), `rejects` (3), `nothing_loaded` (4), `config_error` (2:
/// the pipeline, its source or its environment is wrong; nothing was sent), `interrupted` (1
/// after Ctrl-C or SIGTERM), `stopped` (1: the API, the token, the daily allowance).
pub fn status_of(exit: Option<i32>, aborted: Option<&str>) -> &'static str {
    match exit {
        None if aborted.is_some_and(|a| a.starts_with("skipped:")) => "skipped",
        None => "unfinished",
        Some(0) => "ok",
        Some(3) => "rejects",
        Some(4) => "nothing_loaded",
        Some(2) => "config_error",
        Some(_) if aborted.is_some_and(|a| a.starts_with("interrupted by")) => "interrupted",
        Some(_) => "stopped",
    }
}

/// Every status [`status_of`] gives.
pub const STATUSES: [&str; 8] = [
    "skipped",
    "unfinished",
    "ok",
    "rejects",
    "nothing_loaded",
    "config_error",
    "interrupted",
    "stopped",
];

impl History {
    /// The history of a state folder (created if needed).
    pub(super) fn open(state_dir: &Path) -> anyhow::Result<History> {
        crate::disk::create_private_dir(state_dir)?;
        Self::open_file(&state_dir.join(FILE))
    }

    /// The history in `path`.
    pub(super) fn open_file(path: &Path) -> anyhow::Result<History> {
        let conn = Connection::open(path)
            .with_context(|| format!("opening the run history {}", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE IF NOT EXISTS runs (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 pipeline TEXT NOT NULL,
                 pipeline_file TEXT NOT NULL,
                 location TEXT,
                 kind TEXT NOT NULL,
                 started_at TEXT NOT NULL,
                 ended_at TEXT,
                 exit_code INTEGER,
                 rows_read INTEGER, created INTEGER, updated INTEGER, unchanged INTEGER,
                 exported INTEGER, rejected INTEGER, requests INTEGER, rate_limited_429 INTEGER,
                 aborted TEXT,
                 report_dir TEXT NOT NULL
             );
             CREATE INDEX IF NOT EXISTS runs_by_pipeline ON runs (pipeline, id);",
        )
        .with_context(|| format!("preparing the run history {}", path.display()))?;
        Ok(History { conn })
    }

    /// Records a run that starts; returns its id.
    pub fn start(&self, s: &Start<'_>) -> anyhow::Result<i64> {
        self.conn.execute(
            "INSERT INTO runs (pipeline, pipeline_file, location, kind, started_at, report_dir)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                s.pipeline,
                s.pipeline_file.display().to_string(),
                s.location,
                s.kind,
                s.started_at,
                s.report_dir.display().to_string()
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Records an attempt that ended before its run started (the pipeline, its source or its
    /// credentials were wrong; a file of an inbox that failed): a row that starts and ends now,
    /// with `why` as its reason.
    pub fn attempt(&self, s: &Start<'_>, exit: i32, why: &str) -> anyhow::Result<i64> {
        let id = self.start(s)?;
        self.conn.execute(
            "UPDATE runs SET ended_at = ?2, exit_code = ?3, aborted = ?4 WHERE id = ?1",
            params![id, s.started_at, exit, why],
        )?;
        Ok(id)
    }

    /// Records a scheduled time that was skipped: a row that ends as it starts, no exit code.
    pub fn skipped(&self, s: &Start<'_>, why: &str) -> anyhow::Result<i64> {
        let id = self.start(s)?;
        self.conn.execute(
            "UPDATE runs SET ended_at = ?2, aborted = ?3 WHERE id = ?1",
            params![id, s.started_at, why],
        )?;
        Ok(id)
    }

    /// Completes run `id` with its exit code and, when the run wrote one, its summary.json.
    pub fn finish(
        &self,
        id: i64,
        exit: i32,
        ended_at: &str,
        summary: Option<&serde_json::Value>,
    ) -> anyhow::Result<()> {
        let n = |path: &[&str]| -> Option<u64> {
            let mut v = summary?;
            for k in path {
                v = v.get(*k)?;
            }
            v.as_u64()
        };
        let aborted = summary
            .and_then(|s| s.get("aborted"))
            .and_then(|a| a.as_str())
            .map(str::to_owned);
        self.conn.execute(
            "UPDATE runs SET ended_at = ?2, exit_code = ?3, rows_read = ?4, created = ?5, updated = ?6,
                 unchanged = ?7, exported = ?8, rejected = ?9, requests = ?10, rate_limited_429 = ?11,
                 aborted = ?12
             WHERE id = ?1",
            params![
                id,
                ended_at,
                exit,
                n(&["rows", "read"]),
                n(&["rows", "created"]),
                n(&["rows", "updated"]),
                n(&["rows", "unchanged"]),
                n(&["rows", "exported"]),
                n(&["rows", "rejected"]),
                n(&["requests", "sent"]),
                n(&["requests", "rate_limited_429"]),
                aborted
            ],
        )?;
        Ok(())
    }

    /// Records that a run's report folder moved (an inbox run's, beside its file in `done/`).
    pub fn moved(&self, from: &Path, to: &Path) -> anyhow::Result<()> {
        // The folder itself, and the folders in it (a multi-location run's locations).
        self.conn.execute(
            "UPDATE runs SET report_dir = ?2 || substr(report_dir, length(?1) + 1)
             WHERE report_dir = ?1 OR substr(report_dir, 1, length(?1) + 1) = ?1 || '/'",
            params![from.display().to_string(), to.display().to_string()],
        )?;
        Ok(())
    }

    /// The last `last` runs (of `pipeline`, by name, when given), newest first.
    pub fn list(&self, pipeline: Option<&str>, last: usize) -> anyhow::Result<Vec<RunRow>> {
        self.list_of(pipeline, last, None)
    }

    /// [`History::list`] of rehearsals only (`Some(true)`), of real runs only (`Some(false)`),
    /// or of both.
    pub fn list_of(
        &self,
        pipeline: Option<&str>,
        last: usize,
        rehearsals: Option<bool>,
    ) -> anyhow::Result<Vec<RunRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, pipeline, pipeline_file, location, kind, started_at, ended_at, exit_code,
                    rows_read, created, updated, unchanged, exported, rejected, requests,
                    rate_limited_429, aborted, report_dir
             FROM runs WHERE (?1 IS NULL OR pipeline = ?1)
               AND (?3 IS NULL OR (kind LIKE 'rehearsal%') = ?3)
             ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![pipeline, last as i64, rehearsals], |r| {
            let exit: Option<i32> = r.get(7)?;
            let aborted: Option<String> = r.get(16)?;
            Ok(RunRow {
                id: r.get(0)?,
                pipeline: r.get(1)?,
                pipeline_file: r.get(2)?,
                location: r.get(3)?,
                kind: r.get(4)?,
                started_at: r.get(5)?,
                ended_at: r.get(6)?,
                status: status_of(exit, aborted.as_deref()).to_owned(),
                exit_code: exit,
                rows_read: r.get(8)?,
                created: r.get(9)?,
                updated: r.get(10)?,
                unchanged: r.get(11)?,
                exported: r.get(12)?,
                rejected: r.get(13)?,
                requests: r.get(14)?,
                rate_limited_429: r.get(15)?,
                aborted,
                report_dir: r.get(17)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moved_report_folder_takes_its_locations_folders_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        let start = |report_dir: &'static str| Start {
            pipeline: "p",
            pipeline_file: Path::new("p.yaml"),
            location: Some("loc"),
            kind: "run",
            started_at: "2026-11-30T01:00:00Z",
            report_dir: Path::new(report_dir),
        };
        for d in [
            "out/p-1/locations/a",
            "out/p-1/locations/b",
            "out/p-10/locations/a",
            "out/p-1",
        ] {
            h.start(&start(d)).unwrap();
        }
        h.moved(Path::new("out/p-1"), Path::new("inbox/done/x.csv.report"))
            .unwrap();
        let mut dirs: Vec<String> = h
            .list(None, 10)
            .unwrap()
            .into_iter()
            .map(|r| r.report_dir)
            .collect();
        dirs.sort();
        assert_eq!(
            dirs,
            [
                "inbox/done/x.csv.report",
                "inbox/done/x.csv.report/locations/a",
                "inbox/done/x.csv.report/locations/b",
                "out/p-10/locations/a",
            ]
        );
    }

    #[test]
    fn a_run_is_recorded_at_start_and_completed_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        let start = |name: &'static str| Start {
            pipeline: name,
            pipeline_file: Path::new("pipelines/a.yaml"),
            location: Some("loc"),
            kind: "run",
            started_at: "2026-11-29T01:00:00Z",
            report_dir: Path::new("out/a-1"),
        };
        let a = h.start(&start("a")).unwrap();
        let b = h.start(&start("b")).unwrap();
        let summary = serde_json::json!({
            "rows": {"read": 10, "created": 7, "updated": 1, "unchanged": 0, "exported": 0, "rejected": 2},
            "requests": {"sent": 9, "rate_limited_429": 1},
            "aborted": null
        });
        h.finish(a, 3, "2026-11-29T01:00:05Z", Some(&summary))
            .unwrap();
        let rows = h.list(None, 10).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].id, rows[0].status.as_str()), (b, "unfinished"));
        let ra = &rows[1];
        assert_eq!(
            (
                ra.status.as_str(),
                ra.created,
                ra.rejected,
                ra.rate_limited_429
            ),
            ("rejects", Some(7), Some(2), Some(1))
        );
        assert_eq!(h.list(Some("a"), 10).unwrap().len(), 1);
        assert_eq!(h.list(None, 1).unwrap()[0].id, b, "newest first");
        h.finish(b, 2, "2026-11-29T01:00:06Z", None).unwrap();
        assert_eq!(h.list(Some("b"), 1).unwrap()[0].status, "config_error");
    }
}
