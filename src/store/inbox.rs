//! The record of the files inbox pipelines took (`inbox.sqlite` in the state folder): one row
//! per taking, by pipeline, location and SHA-256, with how it ended and where the file went.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use rusqlite::{params, Connection, OptionalExtension};

/// The record's file in the state folder.
pub const FILE: &str = "inbox.sqlite";

/// How a taken file ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileState {
    /// Its run is under way, or died.
    Started,
    /// Imported (every row has its outcome) and moved to `done`.
    Done,
    /// Not readable as the pipeline says; moved to `failed`.
    Failed,
    /// The same content was imported before; moved to `done` without a run.
    Duplicate,
}

impl FileState {
    fn as_str(self) -> &'static str {
        match self {
            FileState::Started => "started",
            FileState::Done => "done",
            FileState::Failed => "failed",
            FileState::Duplicate => "duplicate",
        }
    }
}

/// An earlier taking of the same content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Earlier {
    /// The file's name then.
    pub name: String,
    /// The run that read it.
    pub run: Option<String>,
    /// When that ended (or started, for an unfinished one).
    pub at: String,
    /// Where the file went.
    pub moved_to: Option<String>,
}

/// The record of the files an inbox pipeline took.
pub struct Record {
    conn: std::sync::Mutex<Connection>,
}

/// What identifies a file for a pipeline: which pipeline, which location it goes to, its hash.
#[derive(Debug, Clone, Copy)]
pub struct Key<'a> {
    /// The pipeline's name.
    pub pipeline: &'a str,
    /// The target (location, or `-` for a CSV sink).
    pub location: &'a str,
    /// SHA-256 of the content.
    pub sha256: &'a str,
}

impl Record {
    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens (creating) the record in `state_dir`.
    pub(super) fn open(state_dir: &Path) -> anyhow::Result<Record> {
        crate::disk::create_private_dir(state_dir)?;
        let path = state_dir.join(FILE);
        let conn = Connection::open(&path)
            .with_context(|| format!("opening the inbox record {}", path.display()))?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS files (
                 id INTEGER PRIMARY KEY,
                 pipeline TEXT NOT NULL,
                 location TEXT NOT NULL,
                 sha256 TEXT NOT NULL,
                 name TEXT NOT NULL,
                 size INTEGER NOT NULL,
                 state TEXT NOT NULL CHECK (state IN ('started', 'done', 'failed', 'duplicate')),
                 run TEXT,
                 started_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
                 ended_at TEXT,
                 moved_to TEXT,
                 note TEXT
             );
             CREATE INDEX IF NOT EXISTS files_by_hash ON files (pipeline, location, sha256);",
        )
        .with_context(|| format!("preparing the inbox record {}", path.display()))?;
        Ok(Record {
            conn: std::sync::Mutex::new(conn),
        })
    }

    /// The latest taking of this content in `state`, if any.
    pub fn latest(&self, key: Key<'_>, state: FileState) -> anyhow::Result<Option<Earlier>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT name, run, COALESCE(ended_at, started_at), moved_to FROM files
                 WHERE pipeline = ?1 AND location = ?2 AND sha256 = ?3 AND state = ?4
                 ORDER BY id DESC LIMIT 1",
                params![key.pipeline, key.location, key.sha256, state.as_str()],
                |r| {
                    Ok(Earlier {
                        name: r.get(0)?,
                        run: r.get(1)?,
                        at: r.get(2)?,
                        moved_to: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// Records that the file `name` is being taken (state `started`, or `duplicate` at once) and
    /// returns its row.
    pub fn take(
        &self,
        key: Key<'_>,
        name: &str,
        size: u64,
        state: FileState,
    ) -> anyhow::Result<i64> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO files (pipeline, location, sha256, name, size, state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                key.pipeline,
                key.location,
                key.sha256,
                name,
                size as i64,
                state.as_str()
            ],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// Names the run reading the file.
    pub fn set_run(&self, id: i64, run: &str) -> anyhow::Result<()> {
        self.conn()
            .execute("UPDATE files SET run = ?2 WHERE id = ?1", params![id, run])?;
        Ok(())
    }

    /// Records how the taking ended.
    pub fn end(
        &self,
        id: i64,
        state: FileState,
        moved_to: Option<&Path>,
        note: Option<&str>,
    ) -> anyhow::Result<()> {
        self.conn().execute(
            "UPDATE files SET state = ?2, moved_to = ?3, note = ?4,
                 ended_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
             WHERE id = ?1",
            params![
                id,
                state.as_str(),
                moved_to.map(|p| p.display().to_string()),
                note
            ],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_finds_earlier_takings_by_pipeline_location_and_hash() {
        let d = tempfile::tempdir().unwrap();
        let r = Record::open(d.path()).unwrap();
        let key = Key {
            pipeline: "p",
            location: "L1",
            sha256: "abc",
        };
        assert_eq!(r.latest(key, FileState::Done).unwrap(), None);
        let id = r.take(key, "a.csv", 3, FileState::Started).unwrap();
        r.set_run(id, "p-1").unwrap();
        assert_eq!(
            r.latest(key, FileState::Started)
                .unwrap()
                .unwrap()
                .run
                .as_deref(),
            Some("p-1")
        );
        r.end(id, FileState::Done, Some(Path::new("/x/done/a.csv")), None)
            .unwrap();
        let e = r.latest(key, FileState::Done).unwrap().unwrap();
        assert_eq!(
            (e.name.as_str(), e.moved_to.as_deref()),
            ("a.csv", Some("/x/done/a.csv"))
        );
        assert_eq!(r.latest(key, FileState::Started).unwrap(), None);
        let other = Key {
            location: "L2",
            ..key
        };
        assert_eq!(r.latest(other, FileState::Done).unwrap(), None);
    }
}
