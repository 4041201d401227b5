//! rollback.jsonl, the run's record of what it changed in the location: an **intent** line is
//! written (and flushed) before each write is sent — the row, its email and phone, what the run
//! expected (`create`, `update` with the contact's previous values, or `upsert` when the
//! location was not read first) — and a **settlement** line as soon as the write's answer came:
//! `created` / `updated` with the contact (the lines rollback has always read), or
//! `not_applied`. Settlements name their intent (`intent`: its number), so a run killed at any
//! point leaves each write either settled or an intent without settlement — *unknown*, never
//! unrecorded — and rollback (or the re-run) resolves unknowns by looking the contact up.
//!
//! Lines are appended under one lock and flushed one by one (a kill -9 loses nothing written).

use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use anyhow::Context as _;

use super::rows::PreImage;
use crate::outcome::Outcome;
use ghl_client::types::UpsertContact;

/// What a write was expected to do when it was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expect {
    /// The location had no contact with the row's email or phone.
    Create,
    /// The location's contact (named in the intent) was to be changed.
    Update,
    /// The location was not read first: the upsert creates or updates.
    Upsert,
}

impl Expect {
    fn name(self) -> &'static str {
        match self {
            Expect::Create => "create",
            Expect::Update => "update",
            Expect::Upsert => "upsert",
        }
    }
}

/// The run's rollback.jsonl, shared by the rows in flight.
#[derive(Debug)]
pub(super) struct Manifest {
    out: Mutex<std::io::BufWriter<std::fs::File>>,
    next: AtomicU64,
}

/// A write about to be sent.
pub(super) struct Intent<'a> {
    pub row: u64,
    pub body: &'a UpsertContact,
    pub expect: Expect,
    /// The contact an update goes to.
    pub contact_id: Option<&'a str>,
    /// Its values before the write, when the location was read.
    pub before: Option<&'a PreImage>,
}

impl Manifest {
    /// Opens `path` for appending (creating it): a run's manifest, or the one `retry-rejects`
    /// adds its patches to.
    pub(super) fn open(path: &Path) -> anyhow::Result<Manifest> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("creating {}", path.display()))?;
        // Intent numbers continue after the ones already in the file.
        let taken = std::fs::read_to_string(path)
            .map(|t| {
                t.lines()
                    .filter(|l| l.contains(r#""action":"intent""#))
                    .count()
            })
            .unwrap_or(0);
        Ok(Manifest {
            out: Mutex::new(std::io::BufWriter::new(file)),
            next: AtomicU64::new(taken as u64 + 1),
        })
    }

    fn append(&self, line: &serde_json::Value) -> anyhow::Result<()> {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        writeln!(out, "{line}")?;
        out.flush()?;
        Ok(())
    }

    /// Records a write before it is sent; returns the intent's number for [`Manifest::settle`].
    pub(super) fn intent(&self, i: &Intent<'_>) -> anyhow::Result<u64> {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let at = crate::disk::rfc3339(time::OffsetDateTime::now_utc());
        self.append(&serde_json::json!({
            "action": "intent", "intent": n, "row": i.row, "expect": i.expect.name(),
            "email": i.body.email, "phone": i.body.phone,
            "contact_id": i.contact_id, "before": i.before, "at": at,
        }))?;
        Ok(n)
    }

    /// Records what intent `n` came to: the contact it created or updated, or that it was not
    /// applied. An unknown outcome is not settled.
    pub(super) fn settle(
        &self,
        n: u64,
        row: u64,
        applied: Option<&Outcome>,
        before: Option<&PreImage>,
    ) -> anyhow::Result<()> {
        let line = match applied {
            Some(Outcome::Created { contact_id }) => serde_json::json!({
                "row": row, "action": "created", "contact_id": contact_id, "intent": n,
            }),
            Some(Outcome::Updated { contact_id }) => serde_json::json!({
                "row": row, "action": "updated", "contact_id": contact_id, "before": before,
                "intent": n,
            }),
            _ => serde_json::json!({"row": row, "action": "not_applied", "intent": n}),
        };
        self.append(&line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intents_come_before_settlements_and_number_on_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rollback.jsonl");
        let m = Manifest::open(&path).unwrap();
        let body = UpsertContact {
            email: Some("a@x.co".into()),
            ..Default::default()
        };
        let i = Intent {
            row: 2,
            body: &body,
            expect: Expect::Create,
            contact_id: None,
            before: None,
        };
        let n = m.intent(&i).unwrap();
        let created = Outcome::Created {
            contact_id: "c1".into(),
        };
        m.settle(n, 2, Some(&created), None).unwrap();
        drop(m);
        let m = Manifest::open(&path).unwrap();
        let n2 = m.intent(&i).unwrap();
        assert_eq!((n, n2), (1, 2));
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["action"], "intent");
        assert_eq!(lines[0]["email"], "a@x.co");
        assert_eq!(lines[0]["expect"], "create");
        assert_eq!(lines[1]["action"], "created");
        assert_eq!(lines[1]["intent"], 1);
        assert_eq!(lines[2]["intent"], 2);
    }
}
