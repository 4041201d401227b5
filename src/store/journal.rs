//! The run journal: a SQLite file per pipeline and location (under the state folder) recording,
//! for each row identity, the payload last written and the contact it went to. The intent is
//! recorded before each request and the result after it, so a re-run sends nothing for rows
//! already applied — even when the file was edited or re-sorted — and a row whose request was in
//! flight when a run died is simply sent again (an upsert matches the contact it created).

use std::path::{Path, PathBuf};

use anyhow::Context;
use rusqlite::{params, Connection, OptionalExtension};

use ghl_client::types::UpsertContact;

/// What the journal knows about a row identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Hash of the payload last sent.
    pub hash: String,
    /// `intent` (sent, no answer recorded) or `done`.
    pub state: String,
    /// The contact, once known.
    pub contact_id: Option<String>,
    /// When the state was recorded (UTC, `YYYY-MM-DDTHH:MM:SS.sssZ`).
    pub at: String,
}

/// An open journal.
#[derive(Debug)]
pub struct Journal {
    conn: Connection,
    path: PathBuf,
}

/// The identity of a row: its normalised email, else its E.164 phone.
pub fn key(body: &UpsertContact) -> Option<String> {
    body.email
        .clone()
        .or_else(|| body.phone.as_ref().map(|p| format!("phone:{p}")))
}

/// A stable hash of what would be sent (the request body and the follow-ups).
pub fn payload_hash(body: &UpsertContact, follow_ups: &impl serde::Serialize) -> String {
    let bytes = serde_json::to_vec(&(body, follow_ups)).unwrap_or_default();
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes))
}

impl Journal {
    /// Opens (creating if needed) the journal of `pipeline` writing to `location`.
    pub(super) fn open(
        state_dir: &Path,
        pipeline: &str,
        location: &str,
    ) -> anyhow::Result<Journal> {
        let dir = state_dir.join("journal");
        crate::disk::create_private_dir(&dir)?;
        let path = dir.join(format!(
            "{}.sqlite",
            crate::disk::file_key(pipeline, location)
        ));
        Self::open_file(&path)
    }

    /// Opens the journal file at `path` (creating it if needed).
    pub fn open_file(path: &Path) -> anyhow::Result<Journal> {
        let path = path.to_owned();
        let conn = Connection::open(&path)
            .with_context(|| format!("opening the run journal {}", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // Another run opening the same journal at this moment may hold a lock while it switches
        // to WAL or creates the table; SQLite answers BUSY at once for that (no busy wait), so
        // retry for a while.
        let init = || {
            // One writer per location holds the lease, so the journal is locked once for the
            // run instead of once per statement (no shared-memory index, no fcntl per write).
            conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            // One b-tree keyed by the row identity (WITHOUT ROWID): a commit writes one page, not
            // a table page and an index page (85 µs a row instead of 97, bench_journal). Files
            // written before keep their layout and work the same.
            conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS rows (
                     key TEXT PRIMARY KEY,
                     hash TEXT NOT NULL,
                     state TEXT NOT NULL CHECK (state IN ('intent', 'done')),
                     contact_id TEXT,
                     updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                 ) WITHOUT ROWID;",
            )
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match init() {
                Ok(()) => break,
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::DatabaseBusy
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("preparing the run journal {}", path.display()))
                }
            }
        }
        Ok(Journal { conn, path })
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What is known about `key`.
    pub fn lookup(&self, key: &str) -> anyhow::Result<Option<Entry>> {
        // Statements are prepared once per connection (parsing them is most of a write's cost).
        Ok(self
            .conn
            .prepare_cached("SELECT hash, state, contact_id, updated_at FROM rows WHERE key = ?1")?
            .query_row(params![key], |r| {
                Ok(Entry {
                    hash: r.get(0)?,
                    state: r.get(1)?,
                    contact_id: r.get(2)?,
                    at: r.get(3)?,
                })
            })
            .optional()?)
    }

    /// Records that `key` is about to be sent with `hash`.
    pub fn intent(&self, key: &str, hash: &str) -> anyhow::Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO rows (key, hash, state) VALUES (?1, ?2, 'intent')
                 ON CONFLICT(key) DO UPDATE SET hash = excluded.hash, state = 'intent',
                     updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
            )?
            .execute(params![key, hash])?;
        Ok(())
    }

    /// Records that `key` was written with `hash` to `contact_id`.
    pub fn done(&self, key: &str, hash: &str, contact_id: &str) -> anyhow::Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO rows (key, hash, state, contact_id) VALUES (?1, ?2, 'done', ?3)
                 ON CONFLICT(key) DO UPDATE SET hash = excluded.hash, state = 'done', contact_id = excluded.contact_id,
                     updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
            )?
            .execute(params![key, hash, contact_id])?;
        Ok(())
    }

    /// Forgets what was written to `contact_id` (rolled back): rows that went to it are sent
    /// again by the next run. Returns the number of row identities forgotten.
    pub fn forget_contact(&self, contact_id: &str) -> anyhow::Result<usize> {
        Ok(self.conn.execute(
            "DELETE FROM rows WHERE contact_id = ?1",
            params![contact_id],
        )?)
    }

    /// The contact id if `key` was already written with exactly `hash`.
    pub fn applied(&self, key: &str, hash: &str) -> anyhow::Result<Option<String>> {
        Ok(self
            .lookup(key)?
            .filter(|e| e.state == "done" && e.hash == hash)
            .and_then(|e| e.contact_id))
    }

    /// Records that the write of `key` reached `contact_id`, its row not yet done (a follow-up
    /// failed): a later run knows the write was settled.
    pub fn reached(&self, key: &str, contact_id: &str) -> anyhow::Result<()> {
        self.conn
            .prepare_cached("UPDATE rows SET contact_id = ?2 WHERE key = ?1")?
            .execute(params![key, contact_id])?;
        Ok(())
    }

    /// Records that the write of `key` was not applied (refused, or never sent): an intent with
    /// no contact is forgotten, so that no later run takes it for a write in flight.
    pub fn not_applied(&self, key: &str) -> anyhow::Result<()> {
        self.conn
            .prepare_cached(
                "DELETE FROM rows WHERE key = ?1 AND state = 'intent' AND contact_id IS NULL",
            )?
            .execute(params![key])?;
        Ok(())
    }

    /// When an earlier run sent a write for `key` whose outcome it never recorded (it was
    /// killed or stopped while the write was in flight) and no contact is known for the key.
    pub fn unsettled_since(&self, key: &str) -> anyhow::Result<Option<std::time::SystemTime>> {
        Ok(self
            .lookup(key)?
            .filter(|e| e.state == "intent" && e.contact_id.is_none())
            .and_then(|e| crate::disk::parse_rfc3339(&e.at))
            .map(std::time::SystemTime::from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_written_before_without_rowid_still_works() {
        // The layout of the earlier releases: a rowid table with an index on the key.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite");
        let old = Connection::open(&path).unwrap();
        old.execute_batch(
            "PRAGMA journal_mode=WAL;
             CREATE TABLE rows (
                 key TEXT PRIMARY KEY,
                 hash TEXT NOT NULL,
                 state TEXT NOT NULL CHECK (state IN ('intent', 'done')),
                 contact_id TEXT,
                 updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
             );
             INSERT INTO rows (key, hash, state, contact_id) VALUES ('a@x.co', 'h1', 'done', 'c1');",
        )
        .unwrap();
        drop(old);
        let j = Journal::open_file(&path).unwrap();
        assert_eq!(j.applied("a@x.co", "h1").unwrap().as_deref(), Some("c1"));
        j.intent("b@x.co", "h2").unwrap();
        j.done("b@x.co", "h2", "c2").unwrap();
        assert_eq!(j.applied("b@x.co", "h2").unwrap().as_deref(), Some("c2"));
        let new = Journal::open_file(&dir.path().join("new.sqlite")).unwrap();
        let ddl: String = new
            .conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE name = 'rows'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(ddl.ends_with("WITHOUT ROWID"), "{ddl}");
    }

    #[test]
    fn records_intent_then_done_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path(), "p", "L").unwrap();
        let body = UpsertContact {
            location_id: "L".into(),
            email: Some("a@x.co".into()),
            ..Default::default()
        };
        let (k, h) = (key(&body).unwrap(), payload_hash(&body, &()));
        assert_eq!(j.applied(&k, &h).unwrap(), None);
        j.intent(&k, &h).unwrap();
        assert_eq!(j.applied(&k, &h).unwrap(), None, "in flight is not applied");
        j.done(&k, &h, "c1").unwrap();
        drop(j);
        let j = Journal::open(dir.path(), "p", "L").unwrap();
        assert_eq!(j.applied(&k, &h).unwrap().as_deref(), Some("c1"));
        let changed = UpsertContact {
            city: Some("Paris".into()),
            ..body.clone()
        };
        assert_eq!(
            j.applied(&k, &payload_hash(&changed, &())).unwrap(),
            None,
            "a changed row is sent again"
        );
        assert_eq!(j.forget_contact("c1").unwrap(), 1);
        assert_eq!(j.applied(&k, &h).unwrap(), None, "rolled back: sent again");
        assert_eq!(
            key(&UpsertContact {
                phone: Some("+1".into()),
                ..Default::default()
            })
            .as_deref(),
            Some("phone:+1")
        );
    }
}
