//! `run` of a pipeline whose source is an inbox folder (`source.inbox`): each ready file is
//! one run of its own (journal, lease, history, reports, alert), oldest first, then moved:
//!
//! - imported (every row has its outcome, rejects included) → `done/`, with the run's report
//!   folder beside it as `<file>.report/`;
//! - not readable as the pipeline says (encoding, header, mapped columns) → `failed/`, with
//!   `<file>.error.txt` saying why;
//! - the same content imported before (SHA-256, per pipeline and location) → `done/` without a
//!   run;
//! - the run did not finish (stopped, 401, daily floor, API down, crash) → left in the inbox:
//!   the next run takes it again and the run journal skips what was applied, so a crash
//!   mid-file never duplicates a contact. No later file is taken in that run.
//!
//! One process at a time reads an inbox folder (an OS lock like the location lease). Dry runs
//! and sandbox rehearsals read the ready files and leave them where they are, unrecorded.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use super::run::run_loaded;
use crate::config::{Inbox, Pipeline, Source};
use crate::error::{ConfigError, Exit};
use crate::inbox::Dropped;
use crate::options::RunOptions;
use crate::progress::{notice, warning};
use crate::store::inbox::{FileState, Key, Record};

/// Runs `p` over the ready files of its inbox.
pub(super) async fn run(p: Pipeline, opts: RunOptions) -> anyhow::Result<Exit> {
    let Some(inbox) = p.inbox.clone() else {
        return Err(anyhow::anyhow!("internal: {} has no inbox", p.name));
    };
    if opts.out.is_some() {
        return Err(ConfigError::new(
            "--out: an inbox run writes one report folder per file, beside the file in `done/`; leave --out out",
        )
        .into());
    }
    if !inbox.dir.is_dir() {
        return Err(ConfigError::new(format!(
            "source.inbox.dir {} is not a folder; create it, or fix the path",
            inbox.dir.display()
        ))
        .into());
    }
    let store = super::store_of(&p, opts.state_dir.as_deref());
    // Rehearsals read the files and leave them (and the record) as they are.
    let moves = !opts.dry_run && !opts.sandbox;
    let _lock = match moves {
        true => Some(lock(&p, &inbox, &store).await?),
        false => None,
    };
    let listing = crate::inbox::list(&inbox, SystemTime::now())
        .map_err(|e| ConfigError::new(format!("reading the inbox {}: {e}", inbox.dir.display())))?;
    if listing.ready.is_empty() {
        notice(&format!(
            "inbox {}: no new file{}",
            inbox.dir.display(),
            match listing.settling {
                0 => String::new(),
                n => format!(
                    " ready ({n} still changing; read once unchanged for {} s)",
                    inbox.settle.as_secs()
                ),
            }
        ));
        return Ok(Exit::Ok);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            super::signals::next().await;
            stop.store(true, Ordering::SeqCst);
        })
    };
    let record = match moves {
        true => Some(store.inbox()?),
        false => None,
    };
    let taker = Taker {
        p: &p,
        opts: &opts,
        inbox: &inbox,
        record: record.as_ref(),
        location: p.target.as_ref().map_or("-", |t| t.location_id.as_str()),
    };
    let mut worst = Exit::Ok;
    let mut result = Ok(());
    for file in listing.ready {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        match taker.take(&file).await {
            Ok(Taken::Next(exit)) => worst = worst.worse(exit),
            Ok(Taken::Stop(exit)) => {
                worst = worst.worse(exit);
                break;
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    watcher.abort();
    result.map(|()| worst)
}

/// What taking a file means for the next one.
enum Taken {
    /// Go on with the next file.
    Next(Exit),
    /// Take no more files in this run (this one's run did not finish).
    Stop(Exit),
}

/// Takes the files of one inbox run.
struct Taker<'a> {
    p: &'a Pipeline,
    opts: &'a RunOptions,
    inbox: &'a Inbox,
    record: Option<&'a Record>,
    location: &'a str,
}

impl Taker<'_> {
    async fn take(&self, file: &Dropped) -> anyhow::Result<Taken> {
        let name = file.name();
        let sha = crate::inbox::sha256(&file.path)?;
        if !file.unchanged() {
            notice(&format!(
                "inbox: {name} changed while it was read; it is taken once unchanged"
            ));
            return Ok(Taken::Next(Exit::Ok));
        }
        let key = Key {
            pipeline: &self.p.name,
            location: self.location,
            sha256: &sha,
        };
        let tag = crate::disk::stamp(time::OffsetDateTime::now_utc());
        let Some(record) = self.record else {
            // A rehearsal: read it, move nothing.
            let ran = run_loaded(with_file(self.p, &file.path), self.opts.clone()).await;
            return ran.result.map(Taken::Next);
        };
        if let Some(e) = record.latest(key, FileState::Done)? {
            let to = crate::inbox::move_into(&file.path, &self.inbox.done, &tag)?;
            let note = format!(
                "the same content (SHA-256 {}) was imported from {} by run {} at {}",
                &sha[..12],
                e.name,
                e.run.as_deref().unwrap_or("-"),
                e.at
            );
            let id = record.take(key, &name, file.size, FileState::Duplicate)?;
            record.end(id, FileState::Duplicate, Some(&to), Some(&note))?;
            notice(&format!(
                "inbox: {name} not imported again: {note}; moved to {}",
                to.display()
            ));
            return Ok(Taken::Next(Exit::Ok));
        }
        if let Some(e) = record.latest(key, FileState::Started)? {
            notice(&format!(
                "inbox: resuming {name}: {} did not finish; rows it applied are skipped (run journal)",
                e.run.map_or_else(|| "its run".to_owned(), |r| format!("run {r}"))
            ));
        }
        let id = record.take(key, &name, file.size, FileState::Started)?;
        let p = with_file(self.p, &file.path);
        if let Err(e) = precheck(&p) {
            let to = crate::inbox::move_into(&file.path, &self.inbox.failed, &tag)?;
            let why = format!("{e:#}");
            write_error(&to, &why)?;
            record.end(id, FileState::Failed, Some(&to), Some(&why))?;
            // A failed file is an attempt of the pipeline: a row of the run history too.
            let failed = crate::error::ConfigError::new(format!(
                "inbox file {name} moved to {}: {why}",
                to.display()
            ));
            super::run::record_attempt(&p, self.opts, &failed.into());
            warning(&format!(
                "inbox: {name} cannot be read as {} says; moved to {} ({}): {why}",
                self.p.file.display(),
                to.display(),
                error_file(&to).display()
            ));
            return Ok(Taken::Next(Exit::Config));
        }
        notice(&format!("inbox: importing {name}"));
        let ran = run_loaded(p, self.opts.clone()).await;
        record.set_run(id, &ran.id)?;
        match ran.result {
            // A writer that paused longer than the settle time and went on: what it added was
            // not read. The file stays, and the next run reads it as the new content it is.
            Ok(exit @ (Exit::Ok | Exit::Rejects | Exit::NothingLoaded))
                if crate::inbox::sha256(&file.path).ok().as_deref() != Some(sha.as_str()) =>
            {
                // The content read was imported (done, though not moved); the file's new
                // content is another key, taken by the next run.
                let why = "the file changed while it was imported";
                record.end(id, FileState::Done, None, Some(why))?;
                warning(&format!(
                    "inbox: {name} stays in the inbox: {why}; the next run reads it again (rows already \
                     applied are skipped)"
                ));
                Ok(Taken::Next(exit))
            }
            Ok(exit @ (Exit::Ok | Exit::Rejects | Exit::NothingLoaded)) => {
                let to = crate::inbox::move_into(&file.path, &self.inbox.done, &tag)?;
                record.end(id, FileState::Done, Some(&to), None)?;
                let reports = ran
                    .out_dir
                    .map(|d| self.move_reports(&d, &to))
                    .transpose()?;
                notice(&format!(
                    "inbox: {name} imported; moved to {}{}",
                    to.display(),
                    reports
                        .map(|r| format!(", its reports to {}", r.display()))
                        .unwrap_or_default()
                ));
                Ok(Taken::Next(exit))
            }
            Ok(exit) => {
                warning(&format!(
                    "inbox: {name} stays in the inbox: its run did not finish; the next run resumes it"
                ));
                Ok(Taken::Stop(exit))
            }
            Err(e) => {
                warning(&format!(
                    "inbox: {name} stays in the inbox: its run did not start or finish; the next run takes it again"
                ));
                Err(e)
            }
        }
    }

    /// Moves a run's report folder beside its file (`<file>.report`), and says so in the run
    /// history. A folder that cannot be moved stays where it is, with a warning.
    fn move_reports(&self, out_dir: &Path, file: &Path) -> anyhow::Result<PathBuf> {
        let to = PathBuf::from(format!("{}.report", file.display()));
        if let Err(e) = crate::inbox::move_folder(out_dir, &to) {
            warning(&format!(
                "inbox: the reports stay in {}: {e:#}",
                out_dir.display()
            ));
            return Ok(out_dir.to_owned());
        }
        let store = super::store_of(self.p, self.opts.state_dir.as_deref());
        if let Err(e) = store.history().and_then(|h| h.moved(out_dir, &to)) {
            tracing::warn!(error = %e, "Could not record the moved report folder in the run history.");
        }
        Ok(to)
    }
}

/// `p` reading `file` instead of its inbox.
pub(crate) fn with_file(p: &Pipeline, file: &Path) -> Pipeline {
    let mut p = p.clone();
    match &mut p.source {
        Source::Csv(c) => c.path = file.to_owned(),
        Source::Excel(x) => x.path = file.to_owned(),
        Source::Ghl(_) | Source::Sqlite(_) | Source::Postgres(_) => {}
    }
    p
}

/// The first ready file of `p`'s inbox (for `validate`).
pub(crate) fn sample(inbox: &Inbox) -> Option<PathBuf> {
    crate::inbox::list(inbox, SystemTime::now())
        .ok()?
        .ready
        .into_iter()
        .next()
        .map(|d| d.path)
}

/// Whether the file can be read as the pipeline says: it opens, its header has the mapped
/// columns. (Custom fields are checked by the run against the location.)
fn precheck(p: &Pipeline) -> anyhow::Result<()> {
    let reader = crate::extract::SourceReader::open(&p.source)?;
    crate::transform::Transformer::new(p, reader.headers())?;
    Ok(())
}

fn error_file(moved: &Path) -> PathBuf {
    PathBuf::from(format!("{}.error.txt", moved.display()))
}

fn write_error(moved: &Path, why: &str) -> anyhow::Result<()> {
    crate::disk::write_atomically(
        &error_file(moved),
        format!("{why}\n\nFix the file (or the pipeline) and drop it into the inbox again.\n")
            .as_bytes(),
    )
}

/// The inbox folder's lock: one process reads it at a time (`load.on_busy` as for locations).
async fn lock(
    p: &Pipeline,
    inbox: &Inbox,
    store: &crate::store::Store,
) -> anyhow::Result<crate::store::lease::Lease> {
    let run = format!("inbox run of {}", p.name);
    let what = crate::store::lease::Guarded::Inbox(&inbox.dir);
    store.leases().take(p, what, &run, || false).await
}
