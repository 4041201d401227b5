//! One writer per location: a run that writes to a location first takes its lease, an OS file
//! lock (`flock`) on `<state dir>/leases/<location>.lock`. The lock is the process's, so a crash or
//! `kill -9` releases it; the file holds who has it (run, pipeline, pid, since), so a run that
//! finds it taken can say by whom. `load.on_busy` chooses between giving up at once (`skip`,
//! exit 1) and waiting for it (`wait`, until the holder ends or the run is stopped).

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::config::OnBusy;

/// Who holds a lease.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Holder {
    /// The run (its report folder's name).
    pub run: String,
    /// The pipeline file.
    pub pipeline: String,
    /// The process.
    pub pid: u32,
    /// When it took the lease (RFC 3339).
    pub since: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "run {} of {} (pid {}) since {}",
            self.run, self.pipeline, self.pid, self.since
        )
    }
}

/// A held lease; released when dropped (or when the process ends, however it ends).
#[derive(Debug)]
pub struct Lease {
    _file: File,
}

/// The location (or inbox folder) is busy and the pipeline said not to wait.
#[derive(Debug, thiserror::Error)]
#[error(
    "{what} is busy: {holder} is {doing} it; this run did not start (load.on_busy: skip — set \
     load.on_busy: wait to wait for it)"
)]
pub struct Busy {
    /// What: `location <id>` or `inbox <folder>`.
    pub what: String,
    /// Who has it (as far as its file tells).
    pub holder: String,
    /// What the holder does with it.
    pub doing: &'static str,
}

/// What a lease guards: a location (one writer) or an inbox folder (one reader).
#[derive(Debug, Clone, Copy)]
pub enum Guarded<'a> {
    /// A location, by id.
    Location(&'a str),
    /// An inbox folder.
    Inbox(&'a Path),
}

impl Guarded<'_> {
    /// The lock file's name (without `.lock`).
    fn key(&self) -> String {
        match self {
            Guarded::Location(l) => (*l).to_owned(),
            Guarded::Inbox(dir) => {
                let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
                format!(
                    "inbox-{:016x}",
                    xxhash_rust::xxh3::xxh3_64(dir.display().to_string().as_bytes())
                )
            }
        }
    }

    /// For messages.
    fn describe(&self) -> String {
        match self {
            Guarded::Location(l) => format!("location {l}"),
            Guarded::Inbox(dir) => format!("inbox {}", dir.display()),
        }
    }

    fn doing(&self) -> &'static str {
        match self {
            Guarded::Location(_) => "writing to",
            Guarded::Inbox(_) => "reading",
        }
    }
}

fn lock_path(state_dir: &Path, key: &str) -> PathBuf {
    let safe: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    state_dir.join("leases").join(format!("{safe}.lock"))
}

/// What the lock file says about its holder.
fn holder_of(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.rewind().and_then(|_| file.read_to_string(&mut text));
    serde_json::from_str::<Holder>(&text)
        .map(|h| h.to_string())
        .unwrap_or_else(|_| "another run".to_owned())
}

/// Takes the lease of `what` for `holder`. With [`OnBusy::Skip`] a taken lease is a [`Busy`]
/// error at once; with [`OnBusy::Wait`] the run waits (saying so once) until the lease is free,
/// or until `stopped` says the run was stopped (then `Ok(None)`).
async fn acquire(
    state_dir: &Path,
    what: Guarded<'_>,
    holder: &Holder,
    on_busy: OnBusy,
    stopped: impl Fn() -> bool,
) -> anyhow::Result<Option<Lease>> {
    let path = lock_path(state_dir, &what.key());
    if let Some(dir) = path.parent() {
        crate::disk::create_private_dir(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening the lease {}", path.display()))?;
    let mut told = false;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) => {
                let who = holder_of(&mut file);
                match on_busy {
                    OnBusy::Skip => {
                        return Err(Busy {
                            what: what.describe(),
                            holder: who,
                            doing: what.doing(),
                        }
                        .into())
                    }
                    OnBusy::Wait => {
                        if !told {
                            crate::progress::notice(&format!(
                                "waiting for {}: {who} is {} it",
                                what.describe(),
                                what.doing()
                            ));
                            told = true;
                        }
                        if stopped() {
                            return Ok(None);
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()))
            }
        }
    }
    file.set_len(0)?;
    file.rewind()?;
    file.write_all(serde_json::to_string(holder)?.as_bytes())?;
    file.flush()?;
    Ok(Some(Lease { _file: file }))
}

/// Takes the lease of `what` for a run (or rollback) named `run` of pipeline `p`, as
/// `p.load.on_busy` says; a run stopped while it waits ends with an error (exit 1).
/// The leases of a state folder (`leases/<key>.lock`).
#[derive(Debug, Clone)]
pub struct Leases {
    dir: PathBuf,
}

impl Leases {
    pub(super) fn new(state_dir: &Path) -> Leases {
        Leases {
            dir: state_dir.to_path_buf(),
        }
    }

    /// Takes the lease of `what` for a run (or rollback) named `run` of pipeline `p`, as
    /// `p.load.on_busy` says; a run stopped while it waits ends with an error (exit 1).
    pub async fn take(
        &self,
        p: &crate::config::Pipeline,
        what: Guarded<'_>,
        run: &str,
        stopped: impl Fn() -> bool,
    ) -> anyhow::Result<Lease> {
        let holder = Holder {
            run: run.to_owned(),
            pipeline: p.file.display().to_string(),
            pid: std::process::id(),
            since: crate::disk::rfc3339(time::OffsetDateTime::now_utc()),
        };
        acquire(&self.dir, what, &holder, p.load.on_busy, stopped)
            .await?
            .ok_or_else(|| anyhow::anyhow!("stopped while waiting for {}", what.describe()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(run: &str) -> Holder {
        Holder {
            run: run.into(),
            pipeline: "p.yaml".into(),
            pid: std::process::id(),
            since: "2026-11-29T00:00:00Z".into(),
        }
    }

    #[tokio::test]
    async fn one_holder_at_a_time_and_the_busy_error_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(
            dir.path(),
            Guarded::Location("loc/1"),
            &holder("r1"),
            OnBusy::Skip,
            || false,
        )
        .await
        .unwrap()
        .unwrap();
        assert!(lock_path(dir.path(), "loc/1").ends_with("leases/loc_1.lock"));
        let e = acquire(
            dir.path(),
            Guarded::Location("loc/1"),
            &holder("r2"),
            OnBusy::Skip,
            || false,
        )
        .await
        .unwrap_err();
        let busy = e.downcast_ref::<Busy>().expect("a Busy error");
        assert!(busy.holder.contains("run r1 of p.yaml"), "{busy}");
        // Another location is free.
        assert!(acquire(
            dir.path(),
            Guarded::Location("loc-2"),
            &holder("r3"),
            OnBusy::Skip,
            || false
        )
        .await
        .unwrap()
        .is_some());
        drop(first);
        assert!(acquire(
            dir.path(),
            Guarded::Location("loc/1"),
            &holder("r2"),
            OnBusy::Skip,
            || false
        )
        .await
        .unwrap()
        .is_some());
    }

    #[tokio::test]
    async fn a_waiting_run_gets_the_lease_when_it_is_released_or_gives_up_when_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(
            dir.path(),
            Guarded::Location("L"),
            &holder("r1"),
            OnBusy::Skip,
            || false,
        )
        .await
        .unwrap();
        let stopped = std::sync::atomic::AtomicBool::new(false);
        let release = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            drop(first);
        };
        let r2 = holder("r2");
        let (got, ()) = tokio::join!(
            acquire(
                dir.path(),
                Guarded::Location("L"),
                &r2,
                OnBusy::Wait,
                || false
            ),
            release
        );
        let second = got.unwrap().expect("the lease, once released");
        stopped.store(true, std::sync::atomic::Ordering::SeqCst);
        let none = acquire(
            dir.path(),
            Guarded::Location("L"),
            &holder("r3"),
            OnBusy::Wait,
            || stopped.load(std::sync::atomic::Ordering::SeqCst),
        )
        .await
        .unwrap();
        assert!(none.is_none(), "a stopped run stops waiting");
        drop(second);
    }
}
