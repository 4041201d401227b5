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

/// How often an inbox is looked at when file-system events work (a safety net), and when they
/// do not (polling).
const INBOX_POLL: (Duration, Duration) = (Duration::from_secs(30), Duration::from_secs(2));

/// After an inbox run that did not finish, the first wait before the next (doubled up to the
/// second each time).
const INBOX_BACKOFF: (Duration, Duration) = (Duration::from_secs(30), Duration::from_secs(900));

/// One file of the folder, as last read.
struct Entry {
    modified: Option<SystemTime>,
    /// The pipeline and its next time, when it loads and has a schedule.
    scheduled: Option<(Pipeline, SystemTime)>,
    /// The pipeline, when it loads, has no schedule and reads an inbox: it runs when a file is
    /// ready there.
    inbox: Option<(Pipeline, InboxState)>,
}

/// When an unscheduled inbox pipeline is looked at next.
struct InboxState {
    /// The next look at the folder.
    check_at: SystemTime,
    /// No run before this (after runs that did not finish).
    not_before: SystemTime,
    /// The wait after the next run that does not finish.
    backoff: Duration,
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
    let mut events = Events::new();
    while !stopped() {
        if last_scan.is_none_or(|t| t.elapsed() >= RESCAN) {
            let first = last_scan.is_none();
            rescan(dir, state_dir, &mut entries, first);
            events.watch(
                entries
                    .values()
                    .filter_map(|e| e.inbox.as_ref())
                    .filter_map(|(p, _)| p.inbox.as_ref())
                    .map(|i| i.dir.as_path()),
            );
            last_scan = Some(std::time::Instant::now());
        }
        events.wake(&mut entries);
        run_ready_inboxes(&mut entries, state_dir, &metrics, events.poll(), &stopped).await;
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
        let mut inbox = None;
        let scheduled = match crate::config::load(&f) {
            Err(e) => {
                warning(&format!("serve: {} skipped: {e:#}", f.display()));
                None
            }
            Ok(p) => match &p.schedule {
                None => {
                    if let Some(i) = &p.inbox {
                        notice(&format!(
                            "serve: {} runs when a file is ready in {}",
                            f.display(),
                            i.dir.display()
                        ));
                        let now = SystemTime::now();
                        inbox = Some((
                            p,
                            InboxState {
                                check_at: now,
                                not_before: now,
                                backoff: INBOX_BACKOFF.0,
                            },
                        ));
                    }
                    None
                }
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
                inbox,
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

/// Runs the unscheduled inbox pipelines that have a ready file (looked at when an event woke
/// them, a settling file's time came, or every `poll`).
async fn run_ready_inboxes(
    entries: &mut BTreeMap<PathBuf, Entry>,
    state_dir: Option<&Path>,
    metrics: &super::metrics::Metrics,
    poll: Duration,
    stopped: &impl Fn() -> bool,
) {
    for (file, e) in entries.iter_mut() {
        let Some((p, st)) = e.inbox.as_mut() else {
            continue;
        };
        let now = SystemTime::now();
        let Some(inbox) = p
            .inbox
            .as_ref()
            .filter(|_| st.check_at <= now && !stopped())
        else {
            continue;
        };
        let listing = crate::inbox::list(inbox, now).unwrap_or_default();
        st.check_at = listing.next_ready.map_or(now + poll, |t| t.min(now + poll));
        if listing.ready.is_empty() || st.not_before > now {
            st.check_at = st.check_at.max(st.not_before.min(now + poll));
            continue;
        }
        let exit = run_one(file, state_dir, metrics).await;
        let now = SystemTime::now();
        if exit == Exit::Fatal as i32 {
            st.not_before = now + st.backoff;
            notice(&format!(
                "serve: {} is taken again in {} s",
                file.display(),
                st.backoff.as_secs()
            ));
            st.backoff = (st.backoff * 2).min(INBOX_BACKOFF.1);
        } else {
            st.backoff = INBOX_BACKOFF.0;
        }
        // Files may have arrived during the run.
        st.check_at = now;
    }
}

/// File-system events on the inbox folders (the notify crate), or polling when they cannot be
/// had (no inotify watches left, a network file system that sends none).
struct Events {
    watcher: Option<notify::RecommendedWatcher>,
    rx: std::sync::mpsc::Receiver<notify::Result<notify::Event>>,
    watched: Vec<PathBuf>,
    told: bool,
}

impl Events {
    fn new() -> Events {
        let (tx, rx) = std::sync::mpsc::channel();
        let watcher = notify::recommended_watcher(tx)
            .map_err(|e| {
                warning(&format!(
                    "serve: no file-system events ({e}); polling inboxes every {} s",
                    INBOX_POLL.1.as_secs()
                ))
            })
            .ok();
        Events {
            told: watcher.is_none(),
            watcher,
            rx,
            watched: Vec::new(),
        }
    }

    /// Watches exactly these folders.
    fn watch<'a>(&mut self, dirs: impl Iterator<Item = &'a Path>) {
        use notify::Watcher;
        let dirs: Vec<PathBuf> = dirs.map(Path::to_path_buf).collect();
        let Some(w) = self.watcher.as_mut() else {
            return;
        };
        for old in self.watched.iter().filter(|d| !dirs.contains(d)) {
            let _ = w.unwatch(old);
        }
        let mut failed = false;
        for d in dirs.iter().filter(|d| !self.watched.contains(d)) {
            if let Err(e) = w.watch(d, notify::RecursiveMode::NonRecursive) {
                failed = true;
                if !self.told {
                    warning(&format!(
                        "serve: no file-system events for {} ({e}); polling it every {} s",
                        d.display(),
                        INBOX_POLL.1.as_secs()
                    ));
                }
            }
        }
        self.told |= failed;
        self.watched = dirs;
    }

    /// How often inboxes are looked at without an event.
    fn poll(&self) -> Duration {
        match (&self.watcher, self.told) {
            (Some(_), false) => INBOX_POLL.0,
            _ => INBOX_POLL.1,
        }
    }

    /// Marks the inbox pipelines whose folder had an event as to be looked at now.
    fn wake(&mut self, entries: &mut BTreeMap<PathBuf, Entry>) {
        let mut touched: Vec<PathBuf> = Vec::new();
        while let Ok(ev) = self.rx.try_recv() {
            let Ok(ev) = ev else { continue };
            touched.extend(
                ev.paths
                    .iter()
                    .filter_map(|p| p.parent().map(Path::to_path_buf)),
            );
        }
        if touched.is_empty() {
            return;
        }
        let now = SystemTime::now();
        for (p, st) in entries.values_mut().filter_map(|e| e.inbox.as_mut()) {
            if p.inbox
                .as_ref()
                .is_some_and(|i| touched.iter().any(|t| same_dir(t, &i.dir)))
            {
                st.check_at = st.check_at.min(now);
            }
        }
    }
}

/// Whether two paths name the same folder.
fn same_dir(a: &Path, b: &Path) -> bool {
    a == b
        || std::fs::canonicalize(a)
            .ok()
            .zip(std::fs::canonicalize(b).ok())
            .is_some_and(|(a, b)| a == b)
}

/// One scheduled run, as `ghl-import run -q` would make it, counted in the metrics; its exit
/// code.
async fn run_one(file: &Path, state_dir: Option<&Path>, metrics: &super::metrics::Metrics) -> i32 {
    notice(&format!("serve: starting {}", file.display()));
    let loaded = crate::config::load(file).ok();
    // The runs this one makes (an inbox run makes one per file) are the rows added after these.
    let newest = |p: &Pipeline, n: usize| {
        let db = super::state_dir_of(p, state_dir).join(crate::history::FILE);
        db.is_file()
            .then(|| crate::history::History::open_file(&db).ok())
            .flatten()
            .and_then(|h| h.list(Some(&p.name), n).ok())
            .unwrap_or_default()
    };
    let before = loaded
        .as_ref()
        .and_then(|p| newest(p, 1).first().map(|r| r.id))
        .unwrap_or(0);
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
    let exit = match &result {
        Ok(e) => *e as i32,
        Err(e) => crate::error::exit_code_for(e) as i32,
    };
    let Some(p) = loaded else { return exit };
    let location = p.target.as_ref().map(|t| t.location_id.as_str());
    // The runs' figures, from the run history and their summary.json.
    let runs: Vec<_> = newest(&p, 1000)
        .into_iter()
        .filter(|r| r.id > before)
        .collect();
    if runs.is_empty() && result.is_err() {
        // It did not start (busy location, bad pipeline): no row of its own.
        metrics.record(&p.name, location, exit, "failed", None);
    }
    for r in runs.iter().rev() {
        let summary = std::fs::read(Path::new(&r.report_dir).join(crate::report::SUMMARY_JSON))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
        let code = r.exit_code.unwrap_or(exit);
        metrics.record(&p.name, location, code, &r.status, summary.as_ref());
    }
    exit
}
