//! `ghl-import run`: build the stages from a validated pipeline, stream rows through them, and
//! write the reports. The source is read and transformed on a blocking thread and handed over a
//! bounded channel; writes run with bounded concurrency and complete in input order, so reports
//! are in input order too.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use futures::StreamExt;

use super::apis::Apis;
use super::output::{output_dir, print_summary, write_json};
use super::produce::{planning_pass, produce, stream_from};
use super::rows::{Done, RowCtx, RowResult, Step, Stop};
use crate::config::{self, DedupKey, FieldPolicy, Keep, LoadMode, Sink, Source};
use crate::error::{ConfigError, Exit};
use crate::extract::ghl::{GhlReader, Watermark};
use crate::extract::SourceReader;
use crate::ghl::fields::ContactField;
use crate::journal::Journal;
use crate::load::csv_sink::CsvSink;
use crate::load::plan::Planning;
use crate::load::Loader;
use crate::outcome::{codes, Outcome};
use crate::progress::Progress;
use crate::record::Record;
use crate::report::{self, ReportWriter, Summary};
use crate::state::StateStore;
use crate::transform::dedup::Dedup;
use crate::transform::Transformer;

/// Options of the `run` command (how this run behaves; the YAML says what the pipeline is).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The pipeline file.
    pub pipeline: PathBuf,
    /// Target an embedded sandbox instead of the pipeline's base URLs.
    pub sandbox: bool,
    /// With `sandbox`: start it with this many synthetic contacts in the GHL source's location
    /// (or the target's when the source is a file).
    pub seed_contacts: usize,
    /// Output folder (overrides `report.dir`).
    pub out: Option<PathBuf>,
    /// Write into a non-empty `out` folder.
    pub force: bool,
    /// No progress display.
    pub quiet: bool,
    /// Ignore the incremental high-water mark and read everything.
    pub full_refresh: bool,
    /// Where incremental state lives (default `.ghl-import`).
    pub state_dir: Option<PathBuf>,
    /// Plan every row against the target with read requests only; write nothing.
    pub dry_run: bool,
    /// Read this file (a run's rejected.csv) instead of the pipeline's source.
    pub source_override: Option<PathBuf>,
    /// With `source_override` (`retry-rejects`): what is replayed besides fixable rows.
    pub retry_scope: Option<super::RetryScope>,
}

/// Runs a pipeline and returns the exit code. Configuration problems come back as errors
/// carrying [`ConfigError`] (exit 2).
pub async fn run(opts: RunOptions) -> anyhow::Result<Exit> {
    let started = Instant::now();
    let started_at = time::OffsetDateTime::now_utc();
    let mut loaded = config::load(&opts.pipeline)?;
    if let Some(rejected) = &opts.source_override {
        // retry-rejects: the same pipeline, reading a run's rejected.csv (our own CSV dialect;
        // its reason columns and formula escapes are dropped on read).
        let scope = opts.retry_scope.unwrap_or_default();
        loaded.source = Source::Csv(config::CsvSource {
            delimiter: Some(b','),
            hold_duplicates: !scope.duplicates,
            ..config::CsvSource::new(rejected)
        });
        if scope.duplicates {
            // Merged, never a blind upsert: fields the location already holds stay as they are.
            for (field, _) in &loaded.mapping {
                loaded
                    .load
                    .fields
                    .entry(field.api_name().to_owned())
                    .or_insert(FieldPolicy::FillEmpty);
            }
        }
    }
    let p = &loaded;
    if opts.seed_contacts > 0 && !opts.sandbox {
        return Err(ConfigError::new("--seed-contacts only applies with --sandbox").into());
    }

    // SIGINT or SIGTERM, from here on: stop sending, let requests in flight end, account for
    // every row, write reports.
    let stop = Arc::new(Stop::default());
    let interrupt = {
        let stop = Arc::clone(&stop);
        super::signals::watch(move |s| stop.stop(format!("interrupted by {}", s.name())))
    };
    let run = build_and_run(&opts, p, &stop, started, started_at).await;
    interrupt.abort();
    run
}

/// The build and run phases of [`run`], with the run-wide stop that signals set.
async fn build_and_run(
    opts: &RunOptions,
    p: &config::Pipeline,
    stop: &Arc<Stop>,
    started: Instant,
    started_at: time::OffsetDateTime,
) -> anyhow::Result<Exit> {
    // Build: the API clients, the source, the transform, the sink, the output folder.
    let apis = Apis::build(p, &opts).await?;
    let state_dir = super::state_dir_of(p, opts.state_dir.as_deref());
    let state = StateStore::new(state_dir.clone());
    let (reader, incremental) = match &p.source {
        Source::Ghl(g) => {
            // Sandbox runs keep their marks apart from real ones.
            let state_key = match opts.sandbox {
                true => format!("sandbox-{}", g.api.location_id),
                false => g.api.location_id.clone(),
            };
            let since = match (g.incremental, opts.full_refresh) {
                (Some(_), false) => state.load_watermark(&p.name, &state_key)?,
                _ => None,
            };
            let r = GhlReader::open(apis.client(&g.api).clone(), g.clone(), since)
                .await
                .map_err(|e| anyhow::anyhow!(e))?;
            (
                SourceReader::Ghl(Box::new(r)),
                g.incremental.map(|_| g.api.location_id.clone()),
            )
        }
        other => (SourceReader::open(other)?, None),
    };
    let headers = reader.headers().clone();
    let transformer = Transformer::new(p, &headers)?;
    let transformer = match (&p.target, p.custom_fields.is_empty()) {
        (Some(t), false) => {
            let defs = apis
                .client(t)
                .custom_fields(&t.location_id)
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                    "listing the custom fields of target location {}: {e}; the token needs the \
                     locations/customFields.readonly scope to write custom fields by key or name",
                    t.location_id
                )
                })?;
            let shown = p.file.display().to_string();
            let resolved =
                crate::transform::custom::resolve(&p.custom_fields, &defs, &shown, &t.location_id)?;
            transformer.with_custom_fields(p, &headers, resolved)?
        }
        _ => transformer,
    };
    // Follow-up files are read (and their columns checked) before anything is written.
    let followups = match &p.target {
        Some(_) if !p.load.followups.is_empty() => {
            Some(crate::load::followups::FollowUps::read(p)?)
        }
        _ => None,
    };
    let out_dir = output_dir(&opts, p, started_at)?;
    let mut csv_sink = match &p.sink {
        Sink::Csv {
            path,
            columns,
            if_exists,
        } => {
            let fields = p.mapping.iter().map(|(f, _)| *f).collect();
            let mut inputs: Vec<PathBuf> =
                p.load.followups.iter().map(|f| f.path.clone()).collect();
            inputs.extend(p.source.path().map(PathBuf::from));
            inputs.push(p.file.clone());
            let o = crate::load::csv_sink::SinkOptions {
                path,
                columns: *columns,
                if_exists: *if_exists,
                escape_formulas: p.report.escape_formulas,
                inputs,
                started_at,
            };
            Some(CsvSink::create(&o, &headers, fields)?)
        }
        Sink::Ghl => None,
    };
    let loader = p
        .target
        .as_ref()
        .map(|t| Loader::new(apis.client(t).clone()));
    // The run journal: real targets only (an embedded sandbox starts empty every run), keyed by
    // pipeline, location and API address.
    let journal = match (&p.target, opts.dry_run, opts.sandbox) {
        (Some(t), false, false) => Some(Mutex::new(Journal::open(
            &state_dir,
            &p.name,
            &super::target::journal_where(t),
        )?)),
        _ => None,
    };
    super::target::write_record(
        &out_dir,
        &run_record(p, &opts, &apis, &journal, &started_at),
    )?;
    let policies: Vec<(ContactField, FieldPolicy)> = p
        .load
        .fields
        .iter()
        .filter_map(|(k, v)| ContactField::from_api_name(k).map(|f| (f, *v)))
        .collect();
    // The index costs one read per 500 contacts. Besides planning modes and field policies, it
    // gives additive/subtractive tags their exact changes and every update a pre-image for
    // rollback.
    let mut planning_note = None;
    let need_index = opts.dry_run
        || p.load.mode != LoadMode::Upsert
        || !policies.is_empty()
        || p.load.tags != config::TagMode::Replace;
    let index = match (&p.target, need_index) {
        (Some(t), true) => {
            let keys = [ContactField::Email, ContactField::Phone]
                .iter()
                .filter(|f| p.mapping.iter().any(|(g, _)| g == *f))
                .count() as u64;
            let rows = crate::extract::estimate_rows(&p.source);
            let choose =
                Planning::choose(apis.client(t), &t.location_id, p.load.lookup, rows, keys);
            let (planning, why) = tokio::select! {
                r = choose => r.map_err(|e| {
                    anyhow::anyhow!(
                        "planning: reading the contacts of location {}: {e}",
                        t.location_id
                    )
                })?,
                // Stopped while reading the location: every row is reported not_attempted.
                () = stop.stopped() => (
                    Planning::Prefetched(Arc::new(crate::load::plan::Index::default())),
                    "planning stopped".to_owned(),
                ),
            };
            if !opts.quiet {
                eprintln!("{why}");
            }
            planning_note = Some(why);
            Some(Arc::new(planning))
        }
        (None, true) => {
            return Err(ConfigError::new(
                "--dry-run plans writes to a GHL target; this pipeline writes a CSV file",
            )
            .into())
        }
        _ => None,
    };
    // Rollback manifest: what this run created, and the previous values of what it changed
    // (known when the location was indexed: sync/create/update modes or field policies).
    let mut manifest = match (&p.target, opts.dry_run) {
        (Some(_), false) => {
            let path = out_dir.join(report::ROLLBACK_JSONL);
            Some(std::io::BufWriter::new(
                std::fs::File::create(&path)
                    .with_context(|| format!("creating {}", path.display()))?,
            ))
        }
        _ => None,
    };
    let mut plan_csv = match (&index, opts.dry_run) {
        (Some(_), true) => {
            let path = out_dir.join(report::PLAN_CSV);
            let mut w = csv::Writer::from_path(&path)
                .with_context(|| format!("creating {}", path.display()))?;
            w.write_record(["row", "action", "contact_id", "changes"])?;
            Some(w)
        }
        _ => None,
    };

    let dedup_on = p.dedup.by == DedupKey::Email && !p.mapping.is_empty();
    let plan = match (dedup_on, p.dedup.keep, &p.source) {
        (true, Keep::Last | Keep::Merge, Source::Ghl(_)) => {
            return Err(ConfigError::new(
                "dedup.keep: last and merge need a file source (they read the input twice)",
            )
            .into())
        }
        (true, Keep::Last | Keep::Merge, src) => Some(planning_pass(
            src,
            &transformer,
            p.dedup.keep,
            p.dedup.phone,
        )?),
        _ => None,
    };
    let dedup = Dedup::new(dedup_on, p.dedup.keep, p.dedup.phone, plan);

    // Run.
    let mut writer = ReportWriter::create(&out_dir, &headers, p.report.escape_formulas)?;
    let total_rows = if opts.quiet {
        0
    } else {
        SourceReader::count_rows(&p.source)?
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<(Record, Step)>(1024);
    let producer = tokio::task::spawn_blocking(move || produce(reader, transformer, dedup, tx));

    let concurrency = p.load.concurrency.get() as usize;
    let ctx = Arc::new(RowCtx {
        loader,
        planning: index.clone(),
        journal,
        policies,
        stop: Arc::clone(stop),
        floor_hit: AtomicBool::new(false),
        mode: p.load.mode,
        tags: p.load.tags,
        dry_run: opts.dry_run,
        full_refresh: opts.full_refresh,
        daily_floor: p.load.daily_floor,
    });
    let mut outcomes = stream_from(rx)
        .map(|(rec, step)| {
            let ctx = Arc::clone(&ctx);
            async move { ctx.process(rec, step).await }
        })
        .buffered(concurrency);

    let mut summary = Summary {
        version: report::summary::SUMMARY_VERSION,
        pipeline: p.name.clone(),
        pipeline_file: absolute(&p.file),
        source: p.source.describe(),
        location_id: p
            .target
            .as_ref()
            .map(|t| t.location_id.clone())
            .unwrap_or_default(),
        base_url: match (&apis.sandbox, &p.target) {
            (Some(sb), _) => sb.base_url(),
            (None, Some(t)) => t.base_url.to_string(),
            (None, None) => String::new(),
        },
        sandbox: opts.sandbox,
        started_at: started_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        ..Default::default()
    };
    let mut progress = Progress::new(total_rows, opts.quiet);
    while let Some(RowResult {
        rec,
        done,
        warnings,
        before,
    }) = outcomes.next().await
    {
        let outcome = match done {
            Done::Outcome(o) => o,
            Done::Export(prepared) => {
                csv_sink
                    .as_mut()
                    .expect("exports only with a CSV sink")
                    .write(&rec, &prepared)?;
                Outcome::Exported
            }
        };
        if let Some(w) = plan_csv.as_mut() {
            let row = rec.row.to_string();
            match &outcome {
                Outcome::Planned {
                    action,
                    contact_id,
                    detail,
                } => w.write_record([row.as_str(), action, contact_id, detail])?,
                Outcome::Rejected(e) if e.code == codes::CONFLICT => {
                    w.write_record([row.as_str(), "conflict", "", e.message.as_str()])?
                }
                Outcome::Rejected(e) => w.write_record([
                    row.as_str(),
                    "reject",
                    "",
                    &format!("{}: {}", e.code, e.message),
                ])?,
                other => w.write_record([row.as_str(), other.label(), "", ""])?,
            }
        }
        if let Some(m) = manifest.as_mut() {
            use std::io::Write as _;
            let line = match &outcome {
                Outcome::Created { contact_id } => Some(
                    serde_json::json!({"row": rec.row, "action": "created", "contact_id": contact_id}),
                ),
                Outcome::Updated { contact_id } => Some(serde_json::json!({
                    "row": rec.row, "action": "updated", "contact_id": contact_id,
                    "before": before,
                })),
                _ => None,
            };
            if let Some(l) = line {
                // Flushed per line: after a crash, the manifest still lists what was created.
                writeln!(m, "{l}")?;
                m.flush()?;
            }
        }
        writer.write(&rec, &outcome, &warnings)?;
        summary.count(&outcome);
        for w in &warnings {
            let code = w.split(':').next().unwrap_or_default().to_owned();
            *summary.warnings_by_code.entry(code).or_default() += 1;
        }
        let rate = (!apis.clients.is_empty()).then(|| {
            let t = apis.totals();
            crate::progress::ApiRate {
                per_sec: t.sent as f64 / started.elapsed().as_secs_f64().max(0.001),
                allowed_per_sec: f64::from(p.load.rate_limit.max_requests.get())
                    / (p.load.rate_limit.interval_ms.get() as f64 / 1000.0),
                daily_remaining: t.daily_remaining,
            }
        });
        progress.update(&summary.rows, rate.as_ref());
    }
    progress.finish();
    drop(outcomes);
    let mut reader = producer.await.context("reader thread")??;
    writer.finish()?;
    if let Some(mut m) = manifest.take() {
        use std::io::Write as _;
        m.flush()?;
    }
    if let Some(err) = reader.take_error() {
        stop.stop(err);
    }
    let exported_to = match csv_sink {
        Some(s) if stop.reason().is_none() => Some(s.finish()?),
        _ => None, // an incomplete export is not moved into place
    };

    if let (Some(f), Some(l), Some(t)) = (followups, &ctx.loader, &p.target) {
        if opts.dry_run {
            eprintln!("note: dry run: the follow-up files were read and checked, not applied");
        } else {
            let stopped = stop.reason();
            let (counts, fatal) = f
                .apply(l, &t.location_id, concurrency, stopped.as_deref(), &out_dir)
                .await?;
            if let Some(f) = fatal {
                stop.stop(f.0);
            }
            summary.followups = Some(counts);
        }
    }
    summary.requests = apis.totals();
    summary.planning = planning_note;
    if let Some(mut w) = plan_csv.take() {
        w.flush()?;
    }
    if let (Some(idx), true) = (&index, opts.dry_run) {
        let writes: u64 = ["create", "update"]
            .iter()
            .map(|a| summary.plan.get(*a).copied().unwrap_or(0))
            .sum();
        let per_sec = f64::from(
            p.load
                .rate_limit
                .max_requests
                .get()
                .saturating_sub(1)
                .max(1),
        ) / (p.load.rate_limit.interval_ms.get() as f64 / 1000.0);
        let daily = summary.requests.daily_remaining;
        summary.forecast = Some(report::summary::Forecast {
            write_requests: writes,
            read_requests: idx.reads(),
            existing_contacts: idx.contacts(),
            daily_remaining: daily,
            daily_share_percent: daily
                .filter(|d| *d > 0)
                .map(|d| writes as f64 * 100.0 / d as f64),
            eta_seconds: writes as f64 / per_sec,
        });
    }
    if let SourceReader::Ghl(g) = &reader {
        summary.source_duplicates_skipped = g.duplicates_skipped();
        if !g.custom_fields().is_empty() {
            write_json(
                &out_dir.join(report::CUSTOM_FIELDS_JSON),
                &g.custom_fields(),
            )?;
        }
    }
    summary.aborted = stop.reason();
    let daily_spent = summary.requests.daily_remaining == Some(0) && summary.aborted.is_some();
    if ctx.floor_hit.load(Ordering::SeqCst) || daily_spent {
        summary.resume = Some(resume_estimate(&summary, time::OffsetDateTime::now_utc()));
    }
    summary.duration_ms = started.elapsed().as_millis() as u64;
    write_json(&out_dir.join(report::SUMMARY_JSON), &summary)?;
    if let (Some(sb), Some(t)) = (&apis.sandbox, &p.target) {
        write_json(
            &out_dir.join(report::SANDBOX_CONTACTS_JSON),
            &sb.contacts(&t.location_id),
        )?;
    }
    // The incremental mark moves only when nothing was left to retry: rows that failed for a
    // transient reason (or were never sent) must be read again next time.
    if let (Some(location), SourceReader::Ghl(g)) = (&incremental, &reader) {
        let retry_needed = summary
            .rejected_by_code
            .contains_key(codes::API_UNAVAILABLE)
            || summary.rejected_by_code.contains_key(codes::NOT_ATTEMPTED);
        if summary.aborted.is_none() && !retry_needed {
            let w: Watermark = g.watermark();
            if !w.mark.is_empty() {
                state.save_watermark(&p.name, location, &w)?;
            }
        } else {
            eprintln!("note: the incremental mark was not advanced; the next run re-reads from the previous mark");
        }
    }
    print_summary(&summary, &out_dir, exported_to.as_deref());

    Ok(if let Some(f) = &summary.aborted {
        eprintln!("error: run stopped: {f}");
        Exit::Fatal
    } else if summary.rows.rejected > 0
        || summary.followups.as_ref().is_some_and(|f| f.rejected > 0)
    {
        Exit::Rejects
    } else {
        Exit::Ok
    })
}

/// Where this run writes, for `run.json` (read by `retry-rejects` and `rollback`).
fn run_record(
    p: &config::Pipeline,
    opts: &RunOptions,
    apis: &Apis,
    journal: &Option<Mutex<Journal>>,
    started_at: &time::OffsetDateTime,
) -> super::target::RunRecord {
    use super::target::{RunRecord, TargetKind, TargetRecord, RUN_RECORD_VERSION};
    RunRecord {
        version: RUN_RECORD_VERSION,
        pipeline: p.name.clone(),
        pipeline_file: absolute(&p.file),
        started_at: started_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        dry_run: opts.dry_run,
        target: p.target.as_ref().map(|t| TargetRecord {
            kind: match &apis.sandbox {
                Some(_) => TargetKind::EmbeddedSandbox,
                None => TargetKind::Api,
            },
            base_url: match &apis.sandbox {
                Some(sb) => sb.base_url(),
                None => t.base_url.as_str().trim_end_matches('/').to_owned(),
            },
            location_id: t.location_id.clone(),
            journal: journal
                .as_ref()
                .map(|j| absolute(j.lock().unwrap_or_else(|p| p.into_inner()).path())),
        }),
    }
}

/// `path` made absolute (as given when that fails).
fn absolute(path: &std::path::Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_owned())
        .display()
        .to_string()
}

/// What is left of a run stopped at the daily floor, and when re-running can work.
fn resume_estimate(s: &Summary, now: time::OffsetDateTime) -> report::summary::Resume {
    let rows_left = s
        .rejected_by_code
        .get(codes::NOT_ATTEMPTED)
        .copied()
        .unwrap_or(0);
    let attempted = (s.rows.created + s.rows.updated + s.rows.unchanged).max(1);
    let per_row = (s.requests.sent as f64 / attempted as f64).max(1.0);
    let requests_needed = (rows_left as f64 * per_row).ceil() as u64;
    let rfc = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    let midnight = (now + time::Duration::days(1)).replace_time(time::Time::MIDNIGHT);
    report::summary::Resume {
        rows_left,
        requests_needed,
        daily_share_percent: s
            .requests
            .daily_limit
            .filter(|l| *l > 0)
            .map(|l| requests_needed as f64 * 100.0 / l as f64),
        earliest: rfc(midnight),
        latest: rfc(now + time::Duration::days(1)),
    }
}
