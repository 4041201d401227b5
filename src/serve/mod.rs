//! `ghl-import serve <folder>`: runs the pipelines of a folder on their schedules, in this one
//! process, until SIGINT/SIGTERM. The folder is read again when a file in it changes (added,
//! edited, removed); a pipeline that does not load is reported (once per version of the file)
//! and skipped, never stopping the others. A run missed while `serve` was not running follows the
//! pipeline's `catch_up` (`once`: run at start). An unscheduled pipeline reading an inbox runs
//! when a file is ready there (file-system events, else polling).
//!
//! Each run is a normal `run` (journal, lease, history, reports, alerts). Pipelines on different
//! locations run side by side, up to `--max-runs`; one location's runs go one after another
//! (the lease would make a second one wait or fail). A pipeline still running when its next time
//! comes is not started twice: that time is skipped, as Kubernetes' `concurrencyPolicy: Forbid`.

mod events;
pub(crate) mod metrics;

use crate::options::{ServeOptions, Shard};

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
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
    /// The pipeline, when it loads.
    pipeline: Option<Pipeline>,
    /// A scheduled pipeline's next time.
    next: Option<SystemTime>,
    /// An unscheduled inbox pipeline's looks at its folder.
    inbox: Option<InboxState>,
    /// Waiting to start since this time (its scheduled time, or when its inbox had a file).
    due: Option<SystemTime>,
    /// The file did not load (reported once per version of it), and why.
    broken: bool,
    reason: Option<String>,
}

impl Entry {
    /// The location the pipeline writes to (runs on one location go one at a time).
    fn location(&self) -> Option<&str> {
        self.pipeline
            .as_ref()?
            .target
            .as_ref()
            .map(|t| t.location_id.as_str())
    }
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

/// The runs under way: their pipeline files and locations, and the tasks running them.
#[derive(Default)]
struct Running {
    files: HashMap<PathBuf, Option<String>>,
    ids: HashMap<tokio::task::Id, PathBuf>,
    tasks: tokio::task::JoinSet<Exit>,
}

/// Runs the scheduled pipelines of a folder until a stop signal, with `/healthz` and
/// `/metrics` (loopback only unless `allow_remote`).
pub async fn serve(o: ServeOptions) -> anyhow::Result<Exit> {
    let dir = o.dir.as_path();
    if !dir.is_dir() {
        return Err(crate::error::ConfigError::new(format!(
            "{} is not a folder of pipelines",
            dir.display()
        ))
        .into());
    }
    let listen = o.listen;
    if !listen.ip().is_loopback() && !o.allow_remote {
        return Err(crate::error::ConfigError::new(format!(
            "--listen {listen} is not a loopback address: the metrics name pipelines and locations; add \
             --allow-remote to serve them there"
        ))
        .into());
    }
    let metrics = Arc::new(metrics::Metrics::default());
    if !o.once {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| crate::error::ConfigError::new(format!("--listen {listen}: {e}")))?;
        notice(&format!(
            "serve: /healthz and /metrics on http://{}",
            listener.local_addr()?
        ));
        metrics::spawn_endpoint(listener, Arc::clone(&metrics));
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let s = crate::engine::signals::next().await;
            notice(&format!(
                "serve: {}: finishing the runs under way, then exiting",
                s.name()
            ));
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
        })
    };
    let stopped = || stop.load(std::sync::atomic::Ordering::SeqCst);
    notice(&format!(
        "serve: running {} pipelines of {}{} (at most {} at once)",
        if o.once { "once the" } else { "the scheduled" },
        dir.display(),
        o.shard
            .map(|s| format!(" in shard {}/{}", s.index, s.count))
            .unwrap_or_default(),
        o.max_runs
    ));
    let mut entries: BTreeMap<PathBuf, Entry> = BTreeMap::new();
    let mut running = Running::default();
    let mut last_scan = None::<std::time::Instant>;
    let mut events = events::Events::new();
    let mut worst = Exit::Ok;
    while !stopped() {
        if last_scan.is_none_or(|t| t.elapsed() >= RESCAN) {
            let first = last_scan.is_none();
            rescan(dir, &o, &mut entries, first);
            if first {
                recall(&entries, o.state_dir.as_deref(), &metrics);
            }
            metrics.publish(states(&entries, o.state_dir.as_deref()));
            if first && o.once {
                let now = SystemTime::now();
                for e in entries.values_mut().filter(|e| e.pipeline.is_some()) {
                    e.due = Some(now);
                }
                // A Job's pod says so when a pipeline of the folder does not load.
                if entries.values().any(|e| e.broken) {
                    worst = worst.worse(Exit::Config);
                }
            }
            events.watch(
                entries
                    .values()
                    .filter(|e| e.inbox.is_some())
                    .filter_map(|e| e.pipeline.as_ref()?.inbox.as_ref())
                    .map(|i| i.dir.as_path()),
            );
            last_scan = Some(std::time::Instant::now());
        }
        while let Some(done) = running.tasks.try_join_next_with_id() {
            worst = worst.worse(finished(&mut entries, &mut running, done));
            metrics.publish(states(&entries, o.state_dir.as_deref()));
        }
        let now = SystemTime::now();
        if o.once {
            if running.files.is_empty() && entries.values().all(|e| e.due.is_none()) {
                break;
            }
        } else {
            events.wake(&mut entries);
            for (file, at) in mark_due(&mut entries, &running, now, events.poll()) {
                skipped(&entries, &file, at, &o, &metrics);
            }
        }
        start_due(&mut entries, &mut running, &o, &metrics, now);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The runs got the signal too: each stops sending and writes its reports.
    while let Some(done) = running.tasks.join_next_with_id().await {
        worst = worst.worse(finished(&mut entries, &mut running, done));
    }
    watcher.abort();
    notice("serve: stopped");
    Ok(match o.once {
        true => worst,
        false => Exit::Ok,
    })
}

/// Records a scheduled time skipped because the pipeline was still running: a row of the
/// history (status `skipped`) and of the metrics, so that an alert can see runs pile up.
fn skipped(
    entries: &BTreeMap<PathBuf, Entry>,
    file: &Path,
    at: SystemTime,
    o: &ServeOptions,
    metrics: &metrics::Metrics,
) {
    let Some(p) = entries.get(file).and_then(|e| e.pipeline.as_ref()) else {
        return;
    };
    let when = rfc3339(at);
    let location = p.target.as_ref().map(|t| t.location_id.as_str());
    let start = crate::store::history::Start {
        pipeline: &p.name,
        pipeline_file: &p.file,
        location,
        kind: "run",
        started_at: &when,
        report_dir: Path::new(""),
    };
    let why = format!("skipped: the run of {when} came while the previous one was still going");
    let store = crate::engine::store_of(p, o.state_dir.as_deref());
    if let Err(e) = store.history().and_then(|h| h.skipped(&start, &why)) {
        tracing::warn!(error = %e, "Could not record a skipped run in the run history.");
    }
    metrics.record(&p.name, location, -1, "skipped", None);
}

/// Marks what is due: scheduled pipelines whose time came (a pipeline still running then skips
/// that time, returned), and unscheduled inbox pipelines whose folder has a ready file.
fn mark_due(
    entries: &mut BTreeMap<PathBuf, Entry>,
    running: &Running,
    now: SystemTime,
    poll: Duration,
) -> Vec<(PathBuf, SystemTime)> {
    let mut skips = Vec::new();
    for (file, e) in entries.iter_mut() {
        let Some(p) = e.pipeline.as_ref() else {
            continue;
        };
        let busy = running.files.contains_key(file);
        if let Some(at) = e.next.filter(|at| *at <= now) {
            e.next = p.schedule.as_ref().and_then(|s| s.next_after(now));
            if busy || e.due.is_some() {
                notice(&format!(
                    "serve: {} is still {}; its run of {} is skipped",
                    file.display(),
                    if busy { "running" } else { "waiting to start" },
                    rfc3339(at)
                ));
                skips.push((file.clone(), at));
            } else {
                e.due = Some(at);
            }
        }
        let (Some(st), Some(inbox)) = (e.inbox.as_mut(), p.inbox.as_ref()) else {
            continue;
        };
        if busy || e.due.is_some() || st.check_at > now {
            continue;
        }
        let listing = crate::inbox::list(inbox, now).unwrap_or_default();
        st.check_at = listing.next_ready.map_or(now + poll, |t| t.min(now + poll));
        if listing.ready.is_empty() {
            continue;
        }
        if st.not_before > now {
            st.check_at = st.check_at.min(st.not_before);
            continue;
        }
        e.due = Some(now);
    }
    skips
}

/// Starts due runs, earliest first, while fewer than `max_runs` run and their location is free.
fn start_due(
    entries: &mut BTreeMap<PathBuf, Entry>,
    running: &mut Running,
    o: &ServeOptions,
    metrics: &Arc<metrics::Metrics>,
    now: SystemTime,
) {
    let mut due: Vec<(SystemTime, PathBuf)> = entries
        .iter()
        .filter_map(|(f, e)| Some((e.due?, f.clone())))
        .collect();
    due.sort();
    for (at, file) in due {
        if running.files.len() >= o.max_runs {
            break;
        }
        let Some(e) = entries.get_mut(&file) else {
            continue;
        };
        let location = e.location().map(str::to_owned);
        if location.is_some() && running.files.values().any(|l| *l == location) {
            continue;
        }
        e.due = None;
        let late = now.duration_since(at).unwrap_or_default();
        notice(&format!(
            "serve: starting {} ({} ms after its time)",
            file.display(),
            late.as_millis()
        ));
        tracing::info!(
            pipeline_file = %file.display(),
            due = %rfc3339(at),
            start_delay_ms = late.as_millis() as u64,
            "Scheduled run started."
        );
        running.files.insert(file.clone(), location);
        let (state_dir, metrics, f) = (o.state_dir.clone(), Arc::clone(metrics), file.clone());
        let shard = o.shard;
        let task = running
            .tasks
            .spawn(async move { run_one(&f, state_dir.as_deref(), shard, &metrics).await });
        running.ids.insert(task.id(), file);
    }
}

/// A run ended: its location is free, and an inbox pipeline whose run did not finish waits
/// longer each time before the next.
fn finished(
    entries: &mut BTreeMap<PathBuf, Entry>,
    running: &mut Running,
    done: Result<(tokio::task::Id, Exit), tokio::task::JoinError>,
) -> Exit {
    let (id, exit) = match done {
        Ok(d) => d,
        Err(e) => {
            warning(&format!("serve: a run ended abnormally: {e}"));
            (e.id(), Exit::Fatal)
        }
    };
    let Some(file) = running.ids.remove(&id) else {
        return exit;
    };
    running.files.remove(&file);
    let Some(st) = entries.get_mut(&file).and_then(|e| e.inbox.as_mut()) else {
        return exit;
    };
    let now = SystemTime::now();
    if exit == Exit::Fatal {
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
    exit
}

fn rfc3339(t: SystemTime) -> String {
    crate::disk::rfc3339(time::OffsetDateTime::from(t))
}

/// Reads the folder's pipelines again where their files changed.
fn rescan(dir: &Path, o: &ServeOptions, entries: &mut BTreeMap<PathBuf, Entry>, first: bool) {
    let state_dir = o.state_dir.as_deref();
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
        let mut e = Entry {
            modified,
            pipeline: None,
            next: None,
            inbox: None,
            due: None,
            broken: false,
            reason: None,
        };
        match crate::config::load(&f) {
            Err(err) => {
                warning(&format!("serve: {} skipped: {err:#}", f.display()));
                e.broken = true;
                e.reason = Some(crate::config::redact_secrets(&err.to_string()));
            }
            // A multi-location pipeline runs in every shard, each on its own locations.
            Ok(p)
                if p.fanout.is_none()
                    && o.shard.is_some_and(|s| Shard::of(&p, s.count) != s.index) =>
            {
                if first {
                    notice(&format!(
                        "serve: {} is in shard {}; not this one",
                        f.display(),
                        o.shard.map_or(0, |s| Shard::of(&p, s.count))
                    ));
                }
            }
            Ok(p) if o.once => e.pipeline = Some(p),
            Ok(p) => {
                let now = SystemTime::now();
                match (&p.schedule, &p.inbox) {
                    (None, None) => {}
                    (None, Some(i)) => {
                        notice(&format!(
                            "serve: {} runs when a file is ready in {}",
                            f.display(),
                            i.dir.display()
                        ));
                        e.inbox = Some(InboxState {
                            check_at: now,
                            not_before: now,
                            backoff: INBOX_BACKOFF.0,
                        });
                    }
                    (Some(s), _) => {
                        let catch_up =
                            first && s.catch_up == CatchUp::Once && missed(&p, state_dir, now);
                        e.next = if catch_up {
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
                    }
                }
                e.pipeline = Some(p);
            }
        }
        entries.insert(f, e);
    }
}

/// Whether the schedule fired since the pipeline's last recorded run.
fn missed(p: &Pipeline, state_dir: Option<&Path>, now: SystemTime) -> bool {
    let Some(s) = &p.schedule else { return false };
    let last = crate::engine::store_of(p, state_dir)
        .history_if_any()
        .and_then(Result::ok)
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

/// The folder's pipelines as `/status` and the metrics show them.
fn states(
    entries: &BTreeMap<PathBuf, Entry>,
    state_dir: Option<&Path>,
) -> Vec<metrics::PipelineState> {
    // Each state folder is tried once per scan, however many pipelines share it.
    let mut tried: BTreeMap<PathBuf, Option<String>> = BTreeMap::new();
    let mut state_error = |p: &Pipeline| {
        let store = crate::engine::store_of(p, state_dir);
        tried
            .entry(store.dir().to_path_buf())
            .or_insert_with(|| store.writable().err())
            .clone()
    };
    entries
        .iter()
        .map(|(file, e)| {
            let p = e.pipeline.as_ref();
            let inbox = p.and_then(|p| p.inbox.as_ref());
            // The files themselves, not the error notes beside them.
            let failed_files = inbox.map_or(0, |i| {
                std::fs::read_dir(&i.failed).map_or(0, |rd| {
                    rd.flatten()
                        .filter(|f| f.path().is_file() && i.matcher.is_match(f.file_name()))
                        .count() as u64
                })
            });
            metrics::PipelineState {
                file: file.display().to_string(),
                pipeline: p.map(|p| p.name.clone()).unwrap_or_else(|| {
                    file.file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default()
                }),
                loaded: p.is_some(),
                reason: e.reason.clone(),
                location: e.location().map(str::to_owned),
                next_run: e.next.map(rfc3339),
                inbox: inbox.map(|i| i.dir.display().to_string()),
                failed_files,
                state_error: p.and_then(&mut state_error),
            }
        })
        .collect()
}

/// One scheduled run, as `ghl-import run -q` would make it, counted in the metrics; its exit
/// code.
async fn run_one(
    file: &Path,
    state_dir: Option<&Path>,
    shard: Option<Shard>,
    metrics: &metrics::Metrics,
) -> Exit {
    let loaded = crate::config::load(file).ok();
    // The runs this one makes (an inbox run makes one per file) are the rows added after these.
    let newest = |p: &Pipeline, n: usize| newest_runs(p, state_dir, n);
    let before = loaded
        .as_ref()
        .and_then(|p| newest(p, 1).first().map(|r| r.id))
        .unwrap_or(0);
    let result = crate::engine::run(crate::options::RunOptions {
        pipeline: file.to_owned(),
        quiet: true,
        state_dir: state_dir.map(Path::to_path_buf),
        shard,
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
        Ok(e) => *e,
        Err(e) => crate::error::exit_code_for(e),
    };
    let Some(p) = loaded else {
        // The file does not load: an attempt all the same (its history row, when it has a
        // state folder, says why), counted under the file's stem.
        let stem = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        metrics.record(&stem, None, exit as i32, "config_error", None);
        metrics.remember(metrics::RunLink {
            pipeline: stem,
            started_at: rfc3339(SystemTime::now()),
            status: "config_error".to_owned(),
            counts: "–".to_owned(),
            report_dir: PathBuf::new(),
        });
        return exit;
    };
    let location = p.target.as_ref().map(|t| t.location_id.as_str());
    // The runs' figures, from the run history and their summary.json.
    let runs: Vec<_> = newest(&p, 1000)
        .into_iter()
        .filter(|r| r.id > before)
        .collect();
    if runs.is_empty() && result.is_err() {
        // It did not start and left no row of its own (a busy location).
        let status = crate::store::history::status_of(Some(exit as i32), None);
        metrics.record(&p.name, location, exit as i32, status, None);
    }
    for r in runs.iter().rev() {
        let summary = std::fs::read(Path::new(&r.report_dir).join(crate::report::SUMMARY_JSON))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
        let code = r.exit_code.unwrap_or(exit as i32);
        // A multi-location pipeline's runs are one per location: each counts for its own.
        let location = match p.fanout {
            Some(_) => r.location.as_deref(),
            None => location,
        };
        metrics.record(&p.name, location, code, &r.status, summary.as_ref());
        metrics.remember(link_of(r));
    }
    exit
}

/// A run of the history as `/runs` and `/status` show it.
fn link_of(r: &crate::store::history::RunRow) -> metrics::RunLink {
    let n = |v: Option<u64>| v.map_or_else(|| "–".to_owned(), |n| n.to_string());
    metrics::RunLink {
        pipeline: r.pipeline.clone(),
        started_at: r.started_at.clone(),
        status: r.status.clone(),
        counts: format!(
            "{} / {} / {} / {}",
            n(r.created),
            n(r.updated),
            n(r.unchanged),
            n(r.rejected)
        ),
        report_dir: PathBuf::from(&r.report_dir),
    }
}

/// The newest `n` runs of `p` in its run history (none when it has no history yet).
fn newest_runs(
    p: &Pipeline,
    state_dir: Option<&Path>,
    n: usize,
) -> Vec<crate::store::history::RunRow> {
    crate::engine::store_of(p, state_dir)
        .history_if_any()
        .and_then(Result::ok)
        .and_then(|h| h.list(Some(&p.name), n).ok())
        .unwrap_or_default()
}

/// Runs of the history kept per pipeline for `/runs` and `/status` when serve starts.
const RECALLED: usize = 20;

/// The latest runs of each loaded pipeline from its run history, so that `/status` and `/runs`
/// show what happened before this start (a run interrupted by the last stop, a failure that
/// restarted the pod), oldest first as if this server had made them.
fn recall(
    entries: &BTreeMap<PathBuf, Entry>,
    state_dir: Option<&Path>,
    metrics: &metrics::Metrics,
) {
    let mut runs: Vec<crate::store::history::RunRow> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for p in entries.values().filter_map(|e| e.pipeline.as_ref()) {
        if seen.insert((
            crate::engine::store_of(p, state_dir).dir().to_path_buf(),
            p.name.clone(),
        )) {
            runs.extend(newest_runs(p, state_dir, RECALLED));
        }
    }
    runs.sort_by(|a, b| a.started_at.cmp(&b.started_at));
    for r in &runs {
        metrics.remember(link_of(r));
    }
}
