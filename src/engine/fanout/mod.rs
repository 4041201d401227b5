//! `run` on several locations at once (`target.locations`, `target.location_from`): an
//! agency's run across its sub-accounts.
//!
//! 1. **Locations**: the listed ids, every location the agency grant is installed on (with a
//!    name filter), or the ids the routing column holds.
//! 2. **Routing** (`location_from`): the source is read once and each row is written to its
//!    location's part (`parts/<location>.csv`, the original row number in a last
//!    `_source_row` column). A row whose location cannot be told is rejected here
//!    (`unknown_location`), in the run folder's own rejected.csv. Without routing, every
//!    location reads the whole source.
//! 3. **Each location is a run of its own**, `parallel` at a time: its own client and
//!    throttle (the limit is per location), its own lease, journal, history row and reports in
//!    `locations/<id>/`. A location that fails (401, 403, its daily floor, the breaker) stops
//!    only itself. One that fails before it starts gets its reports written here: every row of
//!    its part `not_attempted`, with the reason. So every input row still ends in exactly one
//!    outcome, and a re-run resumes each location from its own journal.
//! 4. **One summary across them**: `summary.json` sums the parts and lists each
//!    (`locations`), report.html links each location's page.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use futures::StreamExt;
use secrecy::SecretString;

mod part;
mod route;

use part::{finish_part, folder, location_part, within_file_limit};
use route::partition;
pub(crate) use route::{locations_to_check, Router};

use super::output::{output_dir, write_json};
use super::run::{run_one, Ran};
use crate::config::{Fanout, LocationSet, Pipeline, Source, TargetAuth};
use crate::error::{ConfigError, Exit};
use crate::extract::SourceReader;
use crate::options::{Part, RunOptions};
use crate::report::{self, Summary};

/// One location's input: a part of the routed source, or the whole source.
pub(super) struct Input {
    pub source: Source,
    /// Its rows, when counted (a part); 0 for the whole source.
    pub rows: u64,
}

/// Runs a multi-location pipeline.
pub(super) async fn run(p: Pipeline, opts: RunOptions) -> Ran {
    let started_at = time::OffsetDateTime::now_utc();
    let id = super::run::run_id_of(&p, started_at);
    let span = tracing::info_span!("run", run = %id, pipeline = %p.name, location = "*");
    // The webhook's URL is checked before anything is sent; it is told once, about the whole run.
    let webhook = match crate::notify::webhook_of(&p) {
        Ok(w) => w,
        Err(e) => {
            return Ran {
                result: Err(e.into()),
                out_dir: None,
                id,
            }
        }
    };
    let fut = tracing::Instrument::instrument(execute(&p, opts, started_at), span);
    let (result, out_dir) = fut.await;
    if let (Some(n), Some(url)) = (&p.notify, &webhook) {
        let summary: Option<serde_json::Value> = out_dir
            .as_ref()
            .and_then(|d| std::fs::read(d.join(report::SUMMARY_JSON)).ok())
            .and_then(|b| serde_json::from_slice(&b).ok());
        let mut shown = p.clone();
        if let (Some(t), Some(n)) = (
            &mut shown.target,
            summary
                .as_ref()
                .and_then(|s| s["locations"].as_array())
                .map(Vec::len),
        ) {
            t.location_id = format!("{n} locations");
        }
        super::run::notify_webhook(
            n,
            url,
            (&shown, &id),
            &result,
            out_dir.as_deref(),
            summary.as_ref(),
        )
        .await;
    }
    if let Err(e) = &result {
        crate::progress::run_failed(crate::error::exit_code_for(e) as i32, e);
    }
    Ran {
        result,
        out_dir,
        id,
    }
}

async fn execute(
    p: &Pipeline,
    opts: RunOptions,
    started_at: time::OffsetDateTime,
) -> (anyhow::Result<Exit>, Option<PathBuf>) {
    let started = Instant::now();
    let out_dir = match output_dir(&opts, p, started_at) {
        Ok(d) => d,
        Err(e) => return (Err(e), None),
    };
    let result = fan_out(p, &opts, &out_dir, started_at, started).await;
    (result, Some(out_dir))
}

async fn fan_out(
    p: &Pipeline,
    opts: &RunOptions,
    out_dir: &Path,
    started_at: time::OffsetDateTime,
    started: Instant,
) -> anyhow::Result<Exit> {
    let fan = p.fanout.clone().context("a multi-location pipeline")?;
    let mut summary = new_summary(p, opts, started_at);
    let inputs = inputs(p, &fan, opts, out_dir, &mut summary).await?;
    let locations: Vec<String> = inputs.keys().cloned().collect();
    tracing::info!(locations = locations.len(), "Multi-location run started.");
    let sandbox = match opts.sandbox {
        true => Some(super::rehearse(opts, locations.clone()).await?),
        false => None,
    };
    let part = Part {
        live: Arc::default(),
        api: sandbox.as_ref().map(|sb| sb.api()),
    };
    let parallel = within_file_limit(fan.parallel);
    let (stop, shown) = show_progress(&part, inputs.values().map(|i| i.rows).sum(), opts.quiet);
    let parts = run_parts(p, opts, out_dir, &part, inputs, parallel).await;
    let _ = stop.send(());
    let _ = shown.await;
    let exit = sum_up(&mut summary, parts, (parallel, fan.route.is_none()))?;
    if let Some(sb) = &sandbox {
        for l in &locations {
            let dir = out_dir.join("locations").join(folder(l));
            write_json(&dir.join(report::SANDBOX_CONTACTS_JSON), &sb.contacts(l))?;
        }
    }
    summary.duration_ms = started.elapsed().as_millis() as u64;
    write_json(&out_dir.join(report::SUMMARY_JSON), &summary)?;
    if let Err(e) = report::html::write(out_dir) {
        crate::progress::warning(&format!("warning: report.html not written: {e:#}"));
    }
    if opts.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        super::output::print_summary(&summary, out_dir, None);
    }
    Ok(exit)
}

/// The run's progress display (a bar on a terminal, a line every few seconds otherwise),
/// updated from the locations' rows five times a second until `stop` is sent. `total`: the
/// rows of all the parts (0 when every location reads the whole source: counts, no bar).
fn show_progress(
    part: &Part,
    total: u64,
    quiet: bool,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let live = Arc::clone(&part.live);
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut progress = crate::progress::Progress::new(total, quiet);
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(200));
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                _ = tick.tick() => {
                    let counts = live.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    progress.update(&counts, || None);
                }
            }
        }
        progress.finish();
    });
    (stop, task)
}

/// Each location's input: its part of the routed source, or the whole source; only this
/// shard's locations under `serve --shard`. A mapping that does not fit the source fails once,
/// here, before any location starts.
async fn inputs(
    p: &Pipeline,
    fan: &Fanout,
    opts: &RunOptions,
    out_dir: &Path,
    summary: &mut Summary,
) -> anyhow::Result<BTreeMap<String, Input>> {
    let headers = SourceReader::headers_of(&p.source)?;
    crate::transform::Transformer::new(p, &headers)?;
    let listed = listed_locations(p, fan, opts).await?;
    if fan.route.is_some() {
        let router = Router::of(p, &headers)?
            .context("a routed pipeline")?
            .within(listed);
        return partition(p, &router, opts.shard, out_dir, summary);
    }
    Ok(listed
        .unwrap_or_default()
        .into_iter()
        .filter(|l| opts.shard.is_none_or(|s| s.owns(l)))
        .map(|l| {
            let source = p.source.clone();
            (l, Input { source, rows: 0 })
        })
        .collect())
}

/// Runs each location's part, `parallel` at a time, each a task of its own (so they use every
/// worker thread). After SIGINT/SIGTERM the running parts stop by their own signal watchers
/// and the parts not started yet are not started. Sorted by location.
async fn run_parts(
    p: &Pipeline,
    opts: &RunOptions,
    out_dir: &Path,
    part: &Part,
    inputs: BTreeMap<String, Input>,
    parallel: usize,
) -> Vec<(String, anyhow::Result<(Summary, Exit)>)> {
    let stopping = Arc::new(AtomicBool::new(false));
    let watcher = {
        let stopping = Arc::clone(&stopping);
        super::signals::watch(move |_| stopping.store(true, Ordering::SeqCst))
    };
    let runs = futures::stream::iter(inputs)
        .map(|(location, input)| {
            let routed = input.rows > 0 || p.fanout.as_ref().is_some_and(|f| f.route.is_some());
            let child = part_pipeline(p, &location, input);
            let dir = out_dir.join("locations").join(folder(&location));
            let child_opts = RunOptions {
                source_shown: routed
                    .then(|| format!("{} (its rows for {location})", p.source.describe())),
                out: Some(dir.clone()),
                // The run's own fresh folder (or one --force gave it).
                force: opts.force,
                quiet: true,
                json: false,
                part_of: Some(part.clone()),
                ..opts.clone()
            };
            let stopping = Arc::clone(&stopping);
            async move {
                let ran = match stopping.load(Ordering::SeqCst) {
                    true => (
                        Err(anyhow::anyhow!("not started: the run was interrupted")),
                        false,
                    ),
                    false => match tokio::spawn(run_one(child.clone(), child_opts)).await {
                        Ok(r) => (r.result, r.out_dir.is_some()),
                        Err(e) => (
                            Err(anyhow::anyhow!("the run of {location} panicked: {e}")),
                            false,
                        ),
                    },
                };
                let part = finish_part(&child, &location, &dir, ran);
                (location, part)
            }
        })
        .buffer_unordered(parallel);
    let mut parts: Vec<(String, anyhow::Result<(Summary, Exit)>)> = runs.collect().await;
    watcher.abort();
    parts.sort_by(|a, b| a.0.cmp(&b.0));
    parts
}

/// Adds the locations' summaries into the run's (listing each) and returns the worst exit
/// code. A dry run's forecast ETA: the longest location, or the total spread over the
/// `parallel` slots, whichever is longer.
/// Sums the locations' summaries into the run's. When every location read the whole source
/// (`replicate`), a source row is counted once in `rows.read` (and a column's unmapped cells
/// once), while the outcomes count each row at each location (`rows.outcomes`).
fn sum_up(
    summary: &mut Summary,
    parts: Vec<(String, anyhow::Result<(Summary, Exit)>)>,
    (parallel, replicate): (usize, bool),
) -> anyhow::Result<Exit> {
    let mut exit = match summary.rows.rejected > 0 {
        true => Exit::Rejects,
        false => Exit::Ok,
    };
    let mut listed = Vec::new();
    let mut etas = Vec::new();
    let mut once = (0, BTreeMap::new());
    for (location, r) in parts {
        let (s, e) = r.with_context(|| format!("writing the reports of location {location}"))?;
        exit = exit.worse(e);
        summary.add(&s);
        once.0 = s.rows.read.max(once.0);
        for u in &s.unmapped_columns {
            let filled: &mut u64 = once.1.entry(u.column.clone()).or_default();
            *filled = u.filled.max(*filled);
        }
        etas.extend(s.forecast.as_ref().map(|f| f.eta_seconds));
        listed.push(location_part(&location, &s, e));
    }
    if let Some(f) = &mut summary.forecast {
        let longest = etas.iter().copied().fold(0.0, f64::max);
        f.eta_seconds = longest.max(etas.iter().sum::<f64>() / parallel as f64);
    }
    summary.locations = Some(listed);
    if replicate {
        summary.rows.read = once.0;
        let read = once.0.max(1) as f64;
        for m in &mut summary.unmapped_columns {
            m.filled = once.1.get(&m.column).copied().unwrap_or(m.filled);
            m.fill_percent = (m.filled as f64 * 1000.0 / read).round() / 10.0;
        }
    }
    // "Nothing loaded" is said of the whole run: one location's empty part is a reject.
    let none = crate::engine::run::ending::nothing_loaded(summary);
    Ok(match exit {
        Exit::NothingLoaded if !none => Exit::Rejects,
        Exit::Rejects if none => Exit::NothingLoaded,
        other => other,
    })
}

/// The locations named up front: the list, the agency's installed ones, or the routing map's
/// values; `None` when the routing column's values decide.
pub(super) async fn listed_locations(
    p: &Pipeline,
    fan: &Fanout,
    opts: &RunOptions,
) -> anyhow::Result<Option<Vec<String>>> {
    Ok(match &fan.locations {
        LocationSet::List(ids) => Some(ids.clone()),
        LocationSet::Installed { query } => {
            if opts.sandbox {
                return Err(ConfigError::new(
                    "target.locations: `installed` asks an agency grant; with --sandbox list the locations",
                )
                .into());
            }
            let t = p.target.as_ref().context("a target")?;
            let TargetAuth::Agency {
                client_secret_env,
                company_id,
            } = &t.auth
            else {
                return Err(
                    ConfigError::new("target.locations: `installed` needs auth.agency").into(),
                );
            };
            let secret = std::env::var(client_secret_env)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| {
                    ConfigError::new(format!(
                        "{}: target.auth.agency.client_secret_env: environment variable `{client_secret_env}` is not set",
                        p.file.display()
                    ))
                })?;
            let store = crate::engine::store_of(p, opts.state_dir.as_deref()).tokens();
            let agency = ghl_client::auth::agency::Agency::open(
                &store.vault(),
                company_id.as_deref(),
                SecretString::from(secret.trim().to_owned()),
            )
            .map_err(|e| {
                ConfigError::new(format!("{}: target.auth.agency: {e:#}", p.file.display()))
            })?;
            let found = agency.installed_locations(query.as_deref()).await?;
            let mut ids: Vec<String> = found.into_iter().map(|l| l.id).collect();
            ids.sort();
            ids.dedup();
            tracing::info!(
                locations = ids.len(),
                "Listed the agency's installed locations."
            );
            Some(ids)
        }
        LocationSet::Routed => match &fan.route {
            Some(r) if !r.map.is_empty() => {
                let mut ids: Vec<String> = r.map.values().cloned().collect();
                ids.sort();
                ids.dedup();
                Some(ids)
            }
            _ => None,
        },
    })
}

/// The pipeline as one location's run sees it.
fn part_pipeline(p: &Pipeline, location: &str, input: Input) -> Pipeline {
    let mut child = p.clone().for_location(location);
    child.inbox = None;
    child.notify = None;
    child.source = input.source;
    child
}

fn new_summary(p: &Pipeline, opts: &RunOptions, started_at: time::OffsetDateTime) -> Summary {
    let t = p.target.as_ref();
    Summary {
        version: report::summary::SUMMARY_VERSION,
        pipeline: p.name.clone(),
        pipeline_file: super::run::absolute(&p.file),
        source: match &p.source {
            Source::Csv(c) => c.path.display().to_string(),
            Source::Excel(x) => x.path.display().to_string(),
            Source::Sqlite(q) => q.path.display().to_string(),
            Source::Postgres(_) => p.source.describe(),
            Source::Ghl(g) => format!("GHL location {}", g.api.location_id),
        },
        location_id: Fanout::PLACEHOLDER.to_owned(),
        base_url: t.map(|t| t.base_url.to_string()).unwrap_or_default(),
        sandbox: opts.sandbox,
        started_at: crate::disk::rfc3339(started_at),
        ..Summary::default()
    }
}
