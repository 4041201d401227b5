//! `ghl-import run`: build the stages from a validated pipeline, stream rows through them, and
//! write the reports. The source is read and transformed on a blocking thread and handed over a
//! bounded channel; writes run with bounded concurrency and complete in input order, so reports
//! are in input order too.

mod around;
mod attempts;
pub(super) mod ending;
mod figures;
use crate::disk::rfc3339;
pub(super) use around::{notify as notify_webhook, run_id as run_id_of};
use around::{notify, run_id};
use attempts::log_finished;
use attempts::record_unloaded;
pub(super) use attempts::{history_kind, record_attempt};
pub(super) use ending::absolute;
use ending::{exit_code, resume_estimate};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;

use super::apis::Apis;
use super::files::RunFiles;
use super::output::{output_dir, print_summary, write_json};
use super::produce::{planning_pass, produce, stream_from};
use super::rows::{RowCtx, Step, Stop};
use crate::config::{self, DedupKey, FieldPolicy, Keep, LoadMode, Sink, Source};
use crate::error::{ConfigError, Exit};
use crate::extract::ghl::GhlReader;
use crate::extract::SourceReader;
use crate::load::csv_sink::CsvSink;
use crate::load::plan::Planning;
use crate::load::Loader;
use crate::options::RunOptions;
use crate::outcome::codes;
use crate::progress::Progress;
use crate::record::Record;
use crate::report::{self, Summary};
use crate::store::journal::Journal;
use crate::store::marks::Watermark;
use crate::transform::dedup::{Dedup, PhoneOwners};
use crate::transform::profile::Unmapped;
use crate::transform::Transformer;
use ghl_client::fields::ContactField;

/// Runs a pipeline and returns the exit code. Configuration problems come back as errors
/// carrying [`ConfigError`] (exit 2).
pub async fn run(opts: RunOptions) -> anyhow::Result<Exit> {
    let p = match load_pipeline(&opts) {
        Ok(p) => p,
        Err(e) => {
            record_unloaded(&opts, &e);
            return Err(e);
        }
    };
    if opts.seed_contacts > 0 && !opts.sandbox {
        return Err(ConfigError::new("--seed-contacts only applies with --sandbox").into());
    }
    if p.inbox.is_some() && opts.source_override.is_none() {
        return super::inbox::run(p, opts).await;
    }
    run_loaded(p, opts).await.result
}

/// Runs a loaded pipeline: one location, or each location of a multi-location target.
pub(super) async fn run_loaded(p: config::Pipeline, opts: RunOptions) -> Ran {
    match p.fanout.is_some() {
        true => super::fanout::run(p, opts).await,
        false => run_one(p, opts).await,
    }
}

/// How a run of a loaded pipeline went, and where its reports are (when it got that far).
pub(super) struct Ran {
    /// The exit code, or why it did not finish.
    pub result: anyhow::Result<Exit>,
    /// Its report folder.
    pub out_dir: Option<PathBuf>,
    /// Its id.
    pub id: String,
}

/// Runs a loaded pipeline on one location (its source a file, a GHL location, or one file of
/// an inbox).
pub(super) async fn run_one(p: config::Pipeline, opts: RunOptions) -> Ran {
    let started = Instant::now();
    let started_at = time::OffsetDateTime::now_utc();
    // SIGINT or SIGTERM, from here on: stop sending, let requests in flight end, account for
    // every row, write reports.
    let stop = Arc::new(Stop::default());
    // Every log line of the run carries its id, pipeline and location (`--log-format json`).
    let span = tracing::info_span!(
        "run",
        run = %run_id(&p, started_at),
        pipeline = %p.name,
        location = %p
            .target
            .as_ref()
            .map(|t| t.location_id.as_str())
            .unwrap_or("-"),
    );
    let id = run_id(&p, started_at);
    let fut =
        tracing::Instrument::instrument(run_in_span(p, opts, stop, started, started_at), span);
    let (result, out_dir) = ghl_client::client::RUN_ID.scope(id.clone(), fut).await;
    Ran {
        result,
        out_dir,
        id,
    }
}

/// The part of [`run`] its span covers.
async fn run_in_span(
    p: config::Pipeline,
    opts: RunOptions,
    stop: Arc<Stop>,
    started: Instant,
    started_at: time::OffsetDateTime,
) -> (anyhow::Result<Exit>, Option<PathBuf>) {
    tracing::info!(pipeline_file = %p.file.display(), dry_run = opts.dry_run, "Run started.");
    let interrupt = {
        let stop = Arc::clone(&stop);
        super::signals::watch(move |s| stop.stop(format!("interrupted by {}", s.name())))
    };
    // The webhook's URL is checked before anything is sent.
    let webhook = match crate::notify::webhook_of(&p) {
        Ok(w) => w,
        Err(e) => {
            let e = e.into();
            record_attempt(&p, &opts, &e);
            interrupt.abort();
            return (Err(e), None);
        }
    };
    let mut out_dir = None;
    let mut finished = None;
    let result = match Apis::build(&p, &opts).await {
        Ok(apis) => {
            let run = Run {
                opts: &opts,
                p: &p,
                apis,
                stop,
                started,
                started_at,
                history: std::sync::Mutex::new(None),
                out_dir: std::sync::Mutex::new(None),
            };
            let result = run.execute().await;
            let (dir, summary) = run.finished(&result);
            if opts.part_of.is_none() {
                super::prune::after_run(&p, &super::store_of(&p, opts.state_dir.as_deref()));
            }
            if let (Some(n), Some(url)) = (&p.notify, &webhook) {
                let id = run_id(&p, started_at);
                notify(n, url, (&p, &id), &result, dir.as_deref(), summary.as_ref()).await;
            }
            out_dir = dir;
            finished = summary;
            result
        }
        Err(e) => {
            record_attempt(&p, &opts, &e);
            Err(e)
        }
    };
    interrupt.abort();
    match &result {
        Ok(exit) => log_finished(*exit, finished.as_ref()),
        Err(e) => crate::progress::run_failed(crate::error::exit_code_for(e) as i32, e),
    }
    (result, out_dir)
}

/// The pipeline, or for `retry-rejects` the same pipeline reading a run's rejected.csv.
fn load_pipeline(opts: &RunOptions) -> anyhow::Result<config::Pipeline> {
    let mut loaded = config::load(&opts.pipeline)?;
    if let Some(l) = &opts.only_location {
        loaded = loaded.for_location(l);
    }
    if let Some(rejected) = &opts.source_override {
        // Our own CSV dialect: its reason columns and formula escapes are dropped on read.
        let scope = opts.retry_scope.unwrap_or_default();
        let xlsx = rejected.extension().is_some_and(|e| e == "xlsx");
        loaded.source = match xlsx {
            true => Source::Excel(config::ExcelSource {
                header_row: config::HeaderRow::Row(1),
                hold_duplicates: !scope.duplicates,
                ..config::ExcelSource::new(rejected)
            }),
            false => Source::Csv(config::CsvSource {
                delimiter: Some(b','),
                hold_duplicates: !scope.duplicates,
                ..config::CsvSource::new(rejected)
            }),
        };
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
    Ok(loaded)
}

/// One run: what it reads and writes, and the run-wide stop that signals and fatal errors set.
struct Run<'a> {
    opts: &'a RunOptions,
    p: &'a config::Pipeline,
    apis: Apis,
    stop: Arc<Stop>,
    started: Instant,
    started_at: time::OffsetDateTime,
    /// The run's row in the run history, once it has a report folder.
    history: std::sync::Mutex<Option<(crate::store::history::History, i64)>>,
    /// The report folder, once claimed.
    out_dir: std::sync::Mutex<Option<std::path::PathBuf>>,
}

/// The source, the transform and the dedup, handed to the reader thread.
struct Stages {
    reader: SourceReader,
    transformer: Transformer,
    dedup: Dedup,
    /// In-file phone conflicts (`load.phone_conflicts: reject`, GHL targets).
    phones: Option<PhoneOwners>,
}

impl Run<'_> {
    /// Build (source, transform, sink, output folder, journal, planning), stream every row, then
    /// finish (follow-ups, summary, incremental mark).
    async fn execute(&self) -> anyhow::Result<Exit> {
        let (p, opts) = (self.p, self.opts);
        let store = super::store_of(p, opts.state_dir.as_deref());
        let (reader, incremental) = self.open_source(&store.marks()).await?;
        let headers = reader.headers().clone();
        let transformer = self.transformer(&headers).await?;
        // Follow-up files are read (and their columns checked) before anything is written.
        let followups = match &p.target {
            Some(_) if !p.load.followups.is_empty() => {
                Some(crate::load::followups::FollowUps::read(p)?)
            }
            _ => None,
        };
        let sink = self.open_sink(&headers)?;
        // One writer per location: held until the run ends (or the process does).
        let _lease = self.take_lease(&store).await?;
        let out_dir = output_dir(opts, p, self.started_at)?;
        let journal = self.open_journal(&store)?;
        super::target::write_record(&out_dir, &self.record(&journal))?;
        *self.out_dir.lock().unwrap_or_else(|e| e.into_inner()) = Some(out_dir.clone());
        self.history_start(&store, &out_dir);
        let sampler = super::timeline::Sampler::start(self.apis.stats());
        let policies: Vec<(ContactField, FieldPolicy)> = p
            .load
            .fields
            .iter()
            .filter_map(|(k, v)| ContactField::from_api_name(k).map(|f| (f, *v)))
            .collect();
        let (index, planning_note) = self.plan_location(&policies).await?;
        let dedup = self.dedup(&transformer)?;
        let checker = opts.retry_of.as_ref().map(|_| transformer.clone());
        let mut files = RunFiles::create(&out_dir, &headers, p, opts, index.is_some(), sink)?;
        let manifest = self.manifest(&out_dir)?;
        let ctx = Arc::new(RowCtx {
            loader: p
                .target
                .as_ref()
                .map(|t| Loader::new(self.apis.client(t).clone())),
            planning: index.clone(),
            journal,
            manifest,
            policies,
            stop: Arc::clone(&self.stop),
            floor_hit: AtomicBool::new(false),
            mode: p.load.mode,
            tags: p.load.tags,
            dry_run: opts.dry_run,
            full_refresh: opts.full_refresh,
            daily_floor: p.load.daily_floor,
            keep_emails: followups.is_some(),
            phone_conflicts: p.load.phone_conflicts,
        });

        // Run.
        let mut summary = self.new_summary();
        let stages = Stages {
            reader,
            transformer,
            dedup,
            phones: self
                .phone_checks()
                .then(|| PhoneOwners::new(self.p.dedup.by == DedupKey::Email)),
        };
        let mut reader = self
            .stream_rows(&ctx, stages, &mut files, &mut summary)
            .await?;

        // Finish.
        if let Some(err) = reader.take_error() {
            self.stop.stop(err);
        }
        let (exported_to, written) = files.finish(&self.stop)?;
        if let Some(f) = followups {
            self.follow_ups(f, &ctx, &written, &out_dir, &mut summary)
                .await?;
        }
        if let (Some(run_dir), Some(t), Some(target)) = (&opts.retry_of, &checker, &p.target) {
            if !opts.dry_run {
                let client = self.apis.client(target);
                let done = super::patch::patch_values(
                    run_dir,
                    ctx.manifest.as_deref(),
                    t,
                    client,
                    &self.stop,
                )
                .await?;
                super::patch::list_again(&out_dir, &done.again, p.report.escape_formulas)?;
                let again: Vec<_> = done.again.into_iter().map(|(_, d, _)| d).collect();
                summary.values.count(&again);
                summary.values.patched = done.written;
            }
        }
        summary.requests = self.apis.totals();
        if let Err(e) = sampler.finish(&out_dir) {
            crate::progress::warning(&format!("warning: timeline.csv not written: {e:#}"));
        }
        summary.planning = planning_note;
        if let (Some(idx), true) = (&index, opts.dry_run) {
            summary.forecast = Some(self.forecast(&summary, idx));
        }
        summary.blank_records = reader.blank_records();
        if let SourceReader::Ghl(g) = &reader {
            summary.source_duplicates_skipped = g.duplicates_skipped();
            if !g.custom_fields().is_empty() {
                write_json(
                    &out_dir.join(report::CUSTOM_FIELDS_JSON),
                    &g.custom_fields(),
                )?;
            }
        }
        summary.aborted = self.stop.reason();
        let daily_spent = summary.requests.daily_remaining == Some(0) && summary.aborted.is_some();
        if ctx.floor_hit.load(Ordering::SeqCst) || daily_spent {
            summary.resume = Some(resume_estimate(&summary, time::OffsetDateTime::now_utc()));
        }
        summary.duration_ms = self.started.elapsed().as_millis() as u64;
        summary.forecast_check = self.forecast_check(&store);
        write_json(&out_dir.join(report::SUMMARY_JSON), &summary)?;
        if p.report.rejected_format == config::RejectedFormat::Xlsx {
            if let Err(e) = report::xlsx::write(&out_dir) {
                crate::progress::warning(&format!("warning: rejected.xlsx not written: {e:#}"));
            }
        }
        if let Err(e) = report::html::write(&out_dir) {
            crate::progress::warning(&format!("warning: report.html not written: {e:#}"));
        }
        if let (Some(sb), Some(t)) = (&self.apis.sandbox, &p.target) {
            write_json(
                &out_dir.join(report::SANDBOX_CONTACTS_JSON),
                &sb.contacts(&t.location_id),
            )?;
        }
        if let (Some(location), SourceReader::Ghl(g)) = (&incremental, &reader) {
            self.advance_mark(&store.marks(), location, g, &summary)?;
        }
        if opts.part_of.is_some() {
            // The multi-location run prints one summary for all.
        } else if opts.json {
            println!("{}", serde_json::to_string(&summary)?);
        } else {
            print_summary(&summary, &out_dir, exported_to.as_deref());
        }
        Ok(exit_code(&summary))
    }

    /// The source reader, and for an incremental GHL source the location its mark belongs to.
    async fn open_source(
        &self,
        marks: &crate::store::marks::Marks,
    ) -> anyhow::Result<(SourceReader, Option<String>)> {
        let (p, opts) = (self.p, self.opts);
        let Source::Ghl(g) = &p.source else {
            return Ok((SourceReader::open(&p.source)?, None));
        };
        // Sandbox runs keep their marks apart from real ones.
        let state_key = match opts.sandbox {
            true => format!("sandbox-{}", g.api.location_id),
            false => g.api.location_id.clone(),
        };
        let since = match (g.incremental, opts.full_refresh) {
            (Some(_), false) => marks.load_watermark(&p.name, &state_key)?,
            _ => None,
        };
        let r = GhlReader::open(self.apis.client(&g.api).clone(), g.clone(), since)
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
        Ok((
            SourceReader::Ghl(Box::new(r)),
            g.incremental.map(|_| g.api.location_id.clone()),
        ))
    }

    /// The transform for these columns, with the target's custom fields resolved.
    async fn transformer(&self, headers: &Arc<[String]>) -> anyhow::Result<Transformer> {
        let p = self.p;
        let transformer = Transformer::new(p, headers)?;
        let Some(t) = p.target.as_ref().filter(|_| !p.custom_fields.is_empty()) else {
            return Ok(transformer);
        };
        let defs = self
            .apis
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
        Ok(transformer.with_custom_fields(p, headers, resolved)?)
    }

    /// The CSV sink's file, checked against `load.if_exists` and the run's inputs.
    fn open_sink(&self, headers: &[String]) -> anyhow::Result<Option<CsvSink>> {
        let p = self.p;
        let Sink::Csv {
            path,
            columns,
            if_exists,
        } = &p.sink
        else {
            return Ok(None);
        };
        let fields = p.mapping.iter().map(|(f, _)| *f).collect();
        let mut inputs: Vec<PathBuf> = p.load.followups.iter().map(|f| f.path.clone()).collect();
        inputs.extend(p.source.path().map(PathBuf::from));
        inputs.extend(self.opts.source_override.clone());
        inputs.push(p.file.clone());
        let o = crate::load::csv_sink::SinkOptions {
            path,
            columns: *columns,
            if_exists: *if_exists,
            escape_formulas: p.report.escape_formulas,
            inputs,
            started_at: self.started_at,
        };
        Ok(Some(CsvSink::create(&o, headers, fields)?))
    }

    /// The run journal: real targets only (an embedded sandbox starts empty every run), keyed
    /// by pipeline, location and API address.
    fn open_journal(&self, store: &crate::store::Store) -> anyhow::Result<Option<Mutex<Journal>>> {
        match (&self.p.target, self.opts.dry_run, self.opts.sandbox) {
            (Some(t), false, false) => Ok(Some(Mutex::new(
                store.journal(&self.p.name, &super::target::journal_where(t))?,
            ))),
            _ => Ok(None),
        }
    }

    /// The location's contacts (an index, or per-row lookups) when planning needs them, and the
    /// note saying which strategy was chosen. The index costs one read per 500 contacts.
    /// Besides planning modes and field policies, it gives additive/subtractive tags their
    /// exact changes and every update a pre-image for rollback.
    async fn plan_location(
        &self,
        policies: &[(ContactField, FieldPolicy)],
    ) -> anyhow::Result<(Option<Arc<Planning>>, Option<String>)> {
        let (p, opts) = (self.p, self.opts);
        // A row with a new email (or none) and the phone of another person's contact would, sent
        // as is, update that contact and replace its email or name (the API's upsert matches the
        // phone too): with
        // `phone_conflicts: reject` (the default) the run reads the location to find them —
        // an index of it, or per-row lookups when the file is small against the location.
        let maps = |f: ContactField| p.mapping.iter().any(|(g, _)| *g == f);
        let phone_conflicts = p.load.phone_conflicts == config::PhoneConflicts::Reject
            && p.target.is_some()
            && (maps(ContactField::Phone) || maps(ContactField::Email));
        let need_index = opts.dry_run
            || p.load.mode != LoadMode::Upsert
            || !policies.is_empty()
            || p.load.tags != config::TagMode::Replace
            || phone_conflicts;
        let t = match (&p.target, need_index) {
            (_, false) => return Ok((None, None)),
            (Some(t), true) => t,
            (None, true) => {
                return Err(ConfigError::new(
                    "--dry-run plans writes to a GHL target; this pipeline writes a CSV file",
                )
                .into())
            }
        };
        let keys = [ContactField::Email, ContactField::Phone]
            .iter()
            .filter(|f| p.mapping.iter().any(|(g, _)| g == *f))
            .count() as u64;
        let rows = crate::extract::estimate_rows(&p.source);
        // Where a missing contact changes what a row does (create and update modes, field
        // policies, a dry run's plan), an index read just after writes must be confirmed.
        let sensitive = opts.dry_run
            || matches!(p.load.mode, LoadMode::Create | LoadMode::Update)
            || !policies.is_empty();
        let lag = sensitive.then(|| std::time::Duration::from_millis(p.load.search_lag_ms));
        let choose = Planning::choose(
            self.apis.client(t),
            &t.location_id,
            p.load.lookup,
            (rows, keys),
            lag,
        );
        let stopped = || {
            (
                Planning::Prefetched(Arc::new(crate::load::plan::Index::default())),
                "planning stopped".to_owned(),
            )
        };
        let (planning, why) = tokio::select! {
            r = choose => match r {
                Ok(chosen) => chosen,
                // The location could not be read (unreachable, token refused, allowance spent):
                // the run stops, and every row is reported not_attempted.
                Err(e) => {
                    self.stop.stop(format!(
                        "planning: reading the contacts of location {}: {}",
                        t.location_id,
                        super::stopping_error("target", t, e)
                    ));
                    stopped()
                }
            },
            // Stopped while reading the location: every row is reported not_attempted.
            () = self.stop.stopped() => stopped(),
        };
        if !opts.quiet {
            crate::progress::notice(&why);
        }
        Ok((Some(Arc::new(planning)), Some(why)))
    }

    /// Whether rows are checked for phones that belong to another person's contact: GHL
    /// targets with the phone mapped, unless `load.phone_conflicts: merge`.
    fn phone_checks(&self) -> bool {
        let p = self.p;
        let mapped = |f: ContactField| p.mapping.iter().any(|(g, _)| *g == f);
        p.target.is_some()
            && matches!(p.sink, Sink::Ghl)
            && p.load.phone_conflicts == config::PhoneConflicts::Reject
            && mapped(ContactField::Phone)
    }

    /// In-file dedup; `keep: last|merge` first read a file source once to plan.
    fn dedup(&self, transformer: &Transformer) -> anyhow::Result<Dedup> {
        let p = self.p;
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
                transformer,
                p.dedup.keep,
                p.dedup.phone,
            )?),
            _ => None,
        };
        Ok(Dedup::new(dedup_on, p.dedup.keep, p.dedup.phone, plan))
    }

    /// Streams every row through the reader thread and the per-row step (bounded
    /// concurrency, input order) into the files, the summary and the progress display. Returns
    /// the reader, for its error and its incremental mark.
    async fn stream_rows(
        &self,
        ctx: &Arc<RowCtx>,
        stages: Stages,
        files: &mut RunFiles,
        summary: &mut Summary,
    ) -> anyhow::Result<SourceReader> {
        let (p, opts) = (self.p, self.opts);
        let total_rows = if opts.quiet {
            0
        } else {
            SourceReader::count_rows(&p.source)?
        };
        // Batches of BATCH_ROWS rows: the reader stays at most one batch ahead.
        let (tx, rx) = tokio::sync::mpsc::channel::<Vec<(Record, Step)>>(1);
        let Stages {
            reader,
            transformer,
            dedup,
            phones,
        } = stages;
        let unmapped = self.unmapped(&reader, &transformer);
        let producer = tokio::task::spawn_blocking(move || {
            produce(reader, transformer, dedup, phones, unmapped, tx)
        });
        let mut progress = Progress::new(total_rows, opts.quiet);
        // Rows sharing an email or phone go one after the other, in file order (writes to a
        // location only: a CSV sink has nothing to race).
        let mut keys = super::order::KeyOrder::default();
        let ordered = ctx.loader.is_some();
        let work = |(rec, step): (Record, Step)| {
            let mut turn = match &step {
                Step::Load(prepared) if ordered => {
                    let email = prepared.body.email.as_deref().map(str::to_lowercase);
                    let phone = prepared.body.phone.as_deref().map(|p| format!("phone:{p}"));
                    Some(keys.register(email.iter().chain(phone.iter()).map(String::as_str)))
                }
                _ => None,
            };
            let ctx = Arc::clone(ctx);
            async move {
                if let Some(t) = turn.as_mut() {
                    t.ready().await;
                }
                let row = ctx.process(rec, step).await;
                drop(turn);
                row
            }
        };
        let mut record = |row| {
            let super::files::Recorded {
                outcome,
                warnings,
                dropped,
            } = files.record(row)?;
            summary.count(&outcome);
            summary.values.count(&dropped);
            if let Some(part) = &opts.part_of {
                part.live_count(&outcome);
            }
            for w in &warnings {
                let code = w.split(':').next().unwrap_or_default().to_owned();
                *summary.warnings_by_code.entry(code).or_default() += 1;
            }
            progress.update(&summary.rows, || self.api_rate());
            Ok(())
        };
        let result = if ctx.offline() {
            // Nothing to wait for: no concurrency, no reordering, no future per row.
            let mut rx = rx;
            let mut result = Ok(());
            'batches: while let Some(batch) = rx.recv().await {
                for (rec, step) in batch {
                    if let Err(e) = record(ctx.process(rec, step).await) {
                        result = Err(e);
                        break 'batches;
                    }
                }
            }
            result
        } else {
            let cap = p.load.concurrency.map(|c| c.get() as usize);
            let _loading = ghl_client::wire::Loading::start();
            super::order::in_order(
                futures::StreamExt::flat_map(stream_from(rx), futures::stream::iter),
                || ctx.in_flight(cap),
                work,
                record,
            )
            .await
        };
        progress.finish();
        result?;
        let (reader, unmapped) = producer.await.context("reader thread")??;
        if let Some(u) = unmapped {
            summary.unmapped_columns = u.filled(reader.headers());
        }
        Ok(reader)
    }

    /// Applies the follow-up files after the rows (dry runs only check them).
    async fn follow_ups(
        &self,
        f: crate::load::followups::FollowUps,
        ctx: &RowCtx,
        written: &HashMap<String, String>,
        out_dir: &std::path::Path,
        summary: &mut Summary,
    ) -> anyhow::Result<()> {
        let (Some(l), Some(t)) = (&ctx.loader, &self.p.target) else {
            return Ok(());
        };
        if self.opts.dry_run {
            crate::progress::notice(
                "note: dry run: the follow-up files were read and checked, not applied",
            );
            return Ok(());
        }
        let cap = self.p.load.concurrency.map(|c| c.get() as usize);
        let stopped = || self.stop.reason();
        let (counts, fatal) = f
            .apply(l, &t.location_id, cap, written, &stopped, out_dir)
            .await?;
        if let Some(f) = fatal {
            self.stop.stop(f.0);
        }
        summary.followups = Some(counts);
        Ok(())
    }
}
