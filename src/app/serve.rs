//! `ghl-import serve <folder>`: runs the pipelines of a folder on their schedules, in this one
//! process, until SIGINT/SIGTERM. The folder is read again when a file in it changes (added,
//! edited, removed); a pipeline that does not load is reported (once per version of the file)
//! and skipped, never stopping the others. A run missed while `serve` was not running follows the
//! pipeline's `catch_up` (`once`: run at start). Each run is a normal `run` (journal, lease,
//! history, reports, alerts); two due at once run one after the other.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::config::{CatchUp, Pipeline};
use crate::error::Exit;
use crate::progress::{notice, warning};

/// How often the folder is looked at for changes.
const RESCAN: Duration = Duration::from_secs(2);

/// One file of the folder, as last read.
struct Entry {
    modified: Option<SystemTime>,
    /// The pipeline and its next time, when it loads and has a schedule.
    scheduled: Option<(Pipeline, SystemTime)>,
}

/// Runs the scheduled pipelines of `dir` until a stop signal, with `/healthz` and `/metrics`
/// on `listen` (loopback only unless `allow_remote`).
pub async fn serve(
    dir: &Path,
    state_dir: Option<&Path>,
    listen: std::net::SocketAddr,
    allow_remote: bool,
) -> anyhow::Result<Exit> {
    if !dir.is_dir() {
        return Err(crate::error::ConfigError::new(format!(
            "{} is not a folder of pipelines",
            dir.display()
        ))
        .into());
    }
    if !listen.ip().is_loopback() && !allow_remote {
        return Err(crate::error::ConfigError::new(format!(
            "--listen {listen} is not a loopback address: the metrics name pipelines and locations; add \
             --allow-remote to serve them there"
        ))
        .into());
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| crate::error::ConfigError::new(format!("--listen {listen}: {e}")))?;
    let metrics = std::sync::Arc::new(super::metrics::Metrics::default());
    notice(&format!(
        "serve: /healthz and /metrics on http://{}",
        listener.local_addr()?
    ));
    super::metrics::spawn_endpoint(listener, std::sync::Arc::clone(&metrics));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let stop = std::sync::Arc::clone(&stop);
        tokio::spawn(async move {
            let s = super::signals::next().await;
            notice(&format!(
                "serve: {}: finishing the run under way, then exiting",
                s.name()
            ));
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
        })
    };
    let stopped = || stop.load(std::sync::atomic::Ordering::SeqCst);
    notice(&format!(
        "serve: running the scheduled pipelines of {}",
        dir.display()
    ));
    let mut entries: BTreeMap<PathBuf, Entry> = BTreeMap::new();
    let mut last_scan = None::<std::time::Instant>;
    while !stopped() {
        if last_scan.is_none_or(|t| t.elapsed() >= RESCAN) {
            let first = last_scan.is_none();
            rescan(dir, state_dir, &mut entries, first);
            last_scan = Some(std::time::Instant::now());
        }
        let now = SystemTime::now();
        let due: Vec<PathBuf> = entries
            .iter()
            .filter(|(_, e)| e.scheduled.as_ref().is_some_and(|(_, at)| *at <= now))
            .map(|(f, _)| f.clone())
            .collect();
        for file in due {
            if stopped() {
                break;
            }
            run_one(&file, state_dir, &metrics).await;
            // The next time after now: runs that came due while this one ran are not stacked.
            if let Some((p, at)) = entries.get_mut(&file).and_then(|e| e.scheduled.as_mut()) {
                if let Some(next) = p
                    .schedule
                    .as_ref()
                    .and_then(|s| s.next_after(SystemTime::now()))
                {
                    *at = next;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    watcher.abort();
    notice("serve: stopped");
    Ok(Exit::Ok)
}

/// Reads the folder's pipelines again where their files changed.
fn rescan(
    dir: &Path,
    state_dir: Option<&Path>,
    entries: &mut BTreeMap<PathBuf, Entry>,
    first: bool,
) {
    let files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
            .collect(),
        Err(e) => {
            warning(&format!("serve: cannot read {}: {e}", dir.display()));
            return;
        }
    };
    entries.retain(|f, _| {
        let keep = files.contains(f);
        if !keep {
            notice(&format!(
                "serve: {} removed; no longer scheduled",
                f.display()
            ));
        }
        keep
    });
    for f in files {
        let modified = std::fs::metadata(&f).and_then(|m| m.modified()).ok();
        if entries.get(&f).is_some_and(|e| e.modified == modified) {
            continue;
        }
        let scheduled = match crate::config::load(&f) {
            Err(e) => {
                warning(&format!("serve: {} skipped: {e:#}", f.display()));
                None
            }
            Ok(p) => match &p.schedule {
                None => None,
                Some(s) => {
                    let now = SystemTime::now();
                    let catch_up =
                        first && s.catch_up == CatchUp::Once && missed(&p, state_dir, now);
                    let next = if catch_up {
                        Some(now)
                    } else {
                        s.next_after(now)
                    };
                    notice(&format!(
                        "serve: {} scheduled `{}` ({}){}",
                        f.display(),
                        s.pattern,
                        s.tz,
                        if catch_up {
                            "; a missed run is made now (catch_up: once)"
                        } else {
                            ""
                        }
                    ));
                    next.map(|at| (p, at))
                }
            },
        };
        entries.insert(
            f,
            Entry {
                modified,
                scheduled,
            },
        );
    }
}

/// Whether the schedule fired since the pipeline's last recorded run.
fn missed(p: &Pipeline, state_dir: Option<&Path>, now: SystemTime) -> bool {
    let Some(s) = &p.schedule else { return false };
    let db = super::state_dir_of(p, state_dir).join(crate::history::FILE);
    let last = crate::history::History::open_file(&db)
        .ok()
        .filter(|_| db.is_file())
        .and_then(|h| h.list(Some(&p.name), 1).ok())
        .and_then(|rows| rows.into_iter().next())
        .and_then(|r| {
            time::OffsetDateTime::parse(
                &r.started_at,
                &time::format_description::well_known::Rfc3339,
            )
            .ok()
        })
        .map(SystemTime::from);
    s.missed(last, now)
}

/// One scheduled run, as `ghl-import run -q` would make it, counted in the metrics.
async fn run_one(file: &Path, state_dir: Option<&Path>, metrics: &super::metrics::Metrics) {
    notice(&format!("serve: starting {}", file.display()));
    let result = super::run(super::RunOptions {
        pipeline: file.to_owned(),
        quiet: true,
        state_dir: state_dir.map(Path::to_path_buf),
        ..Default::default()
    })
    .await;
    match &result {
        Ok(exit) => notice(&format!(
            "serve: {} ended with exit {}",
            file.display(),
            *exit as i32
        )),
        Err(e) => warning(&format!("serve: {} failed: {e:#}", file.display())),
    }
    // The run's figures, from the run history and its summary.json.
    let Ok(p) = crate::config::load(file) else {
        return;
    };
    let db = super::state_dir_of(&p, state_dir).join(crate::history::FILE);
    let row = crate::history::History::open_file(&db)
        .ok()
        .and_then(|h| h.list(Some(&p.name), 1).ok())
        .and_then(|rows| rows.into_iter().next());
    let exit = match &result {
        Ok(e) => *e as i32,
        Err(e) => crate::error::exit_code_for(e) as i32,
    };
    // A run that did not start (busy location, bad pipeline) has no row of its own.
    let row = row.filter(|_| result.is_ok());
    let status = row.as_ref().map_or("failed", |r| r.status.as_str());
    let summary = row
        .as_ref()
        .and_then(|r| {
            std::fs::read(Path::new(&r.report_dir).join(crate::report::SUMMARY_JSON)).ok()
        })
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    let location = p.target.as_ref().map(|t| t.location_id.as_str());
    metrics.record(&p.name, location, exit, status, summary.as_ref());
}
