//! `ghl-import run`: build the stages from a validated pipeline, stream rows through them, and
//! write the reports. The CSV is read and transformed on a blocking thread and handed over a
//! bounded channel; writes run with bounded concurrency and complete in input order, so reports
//! are in input order too.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use secrecy::SecretString;

use crate::config::{self, DedupKey, Keep, Pipeline};
use crate::error::{ConfigError, Exit};
use crate::extract::{SourceItem, SourceReader};
use crate::ghl::client::{ClientConfig, GhlClient};
use crate::ghl::ratelimit::{Limit, Throttle};
use crate::ghl::retry::RetryPolicy;
use crate::load::Loader;
use crate::outcome::{codes, Outcome, RowError, Stage};
use crate::progress::Progress;
use crate::record::Record;
use crate::report::{self, ReportWriter, Summary};
use crate::sandbox::{Sandbox, SandboxConfig};
use crate::transform::dedup::{Dedup, LastRows};
use crate::transform::{Prepared, Transformer};

/// Options of the `run` command (how this run behaves; the YAML says what the pipeline is).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The pipeline file.
    pub pipeline: PathBuf,
    /// Target an embedded sandbox instead of `target.base_url`.
    pub sandbox: bool,
    /// Output folder (overrides `report.dir`).
    pub out: Option<PathBuf>,
    /// No progress display.
    pub quiet: bool,
}

/// What the producer thread hands to the writer.
enum Step {
    Reject(RowError),
    Load(Box<Prepared>),
}

/// Runs a pipeline and returns the exit code. Configuration problems come back as errors
/// carrying [`ConfigError`] (exit 2).
pub async fn run(opts: RunOptions) -> anyhow::Result<Exit> {
    let started = Instant::now();
    let started_at = time::OffsetDateTime::now_utc();
    let pipeline = Arc::new(config::load(&opts.pipeline)?);
    let p = &*pipeline;

    // Build: open the source, resolve columns, credentials, output folder.
    let reader = SourceReader::open(&p.source)?;
    let headers = reader.headers().clone();
    let transformer = Transformer::new(p, &headers)?;
    let (sandbox, base_url, token) = if opts.sandbox {
        let sb = Sandbox::start(SandboxConfig {
            locations: vec![p.target.location_id.clone()],
            ..SandboxConfig::default()
        })
        .await
        .context("starting the embedded sandbox")?;
        let url = reqwest::Url::parse(&sb.base_url()).context("sandbox URL")?;
        let token = SecretString::from(sb.token().to_owned());
        (Some(sb), url, token)
    } else {
        (None, p.target.base_url.clone(), super::token_from_env(p)?)
    };
    let out_dir = output_dir(&opts, p, started_at)?;

    let last_rows = match (p.dedup.by, p.dedup.keep) {
        (DedupKey::Email, Keep::Last) => Some(first_pass_last_rows(p, &transformer)?),
        _ => None,
    };
    let dedup = Dedup::new(p.dedup.by == DedupKey::Email, p.dedup.keep, last_rows);

    let throttle = Arc::new(Throttle::new(Limit {
        max: p.load.rate_limit.max_requests,
        interval: Duration::from_millis(p.load.rate_limit.interval_ms.get()),
    }));
    let client = GhlClient::new(
        ClientConfig {
            base_url: base_url.clone(),
            timeout: Duration::from_secs(p.load.timeout_secs.get()),
            retry: RetryPolicy {
                max_attempts: p.load.retry.max_attempts.get(),
                base: Duration::from_millis(p.load.retry.base_delay_ms),
                cap: Duration::from_millis(p.load.retry.max_delay_ms),
            },
        },
        &token,
        throttle,
    )?;
    let loader = Loader::new(client);

    // Run.
    let mut writer = ReportWriter::create(&out_dir, &headers, p.report.escape_formulas)?;
    let total_rows = if opts.quiet {
        0
    } else {
        SourceReader::count_rows(&p.source)?
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<(Record, Step)>(1024);
    let producer = tokio::task::spawn_blocking(move || produce(reader, transformer, dedup, tx));

    let fatal: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let aborted = Arc::new(AtomicBool::new(false));
    // Ctrl-C: stop sending, let requests in flight finish, account for every row, write reports.
    let interrupt = {
        let (fatal, aborted) = (Arc::clone(&fatal), Arc::clone(&aborted));
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("interrupted: finishing requests in flight and writing reports (Ctrl-C again to kill)");
                fatal
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert("interrupted by Ctrl-C".into());
                aborted.store(true, Ordering::SeqCst);
                let _ = tokio::signal::ctrl_c().await;
                std::process::exit(130);
            }
        })
    };
    let concurrency = p.load.concurrency.get() as usize;
    let mut outcomes = tokio_stream_from(rx)
        .map(|(rec, step)| {
            let loader = loader.clone();
            let fatal = Arc::clone(&fatal);
            let aborted = Arc::clone(&aborted);
            async move {
                let outcome = match step {
                    Step::Reject(e) => Outcome::Rejected(e),
                    Step::Load(_) if aborted.load(Ordering::SeqCst) => not_attempted(&fatal),
                    Step::Load(prepared) => match loader.upsert(&prepared).await {
                        Ok(o) => o,
                        Err(f) => {
                            aborted.store(true, Ordering::SeqCst);
                            let mut g = fatal.lock().unwrap_or_else(|p| p.into_inner());
                            g.get_or_insert(f.0);
                            drop(g);
                            not_attempted(&fatal)
                        }
                    },
                };
                (rec, outcome)
            }
        })
        .buffered(concurrency);

    let mut summary = Summary {
        version: report::summary::SUMMARY_VERSION,
        pipeline: p.name.clone(),
        location_id: p.target.location_id.clone(),
        base_url: base_url.to_string(),
        sandbox: opts.sandbox,
        started_at: started_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        ..Default::default()
    };
    let mut progress = Progress::new(total_rows, opts.quiet);
    while let Some((rec, outcome)) = outcomes.next().await {
        writer.write(&rec, &outcome)?;
        summary.count(&outcome);
        progress.update(&summary.rows);
    }
    progress.finish();
    interrupt.abort();
    drop(outcomes);
    producer.await.context("reader thread")??;
    writer.finish()?;

    let stats = loader.client().stats();
    summary.requests = report::summary::RequestCounts {
        sent: stats.requests.load(Ordering::Relaxed),
        retries: stats.retries.load(Ordering::Relaxed),
        rate_limited_429: stats.throttled_429.load(Ordering::Relaxed),
        server_errors: stats.server_errors.load(Ordering::Relaxed),
        transport_errors: stats.transport_errors.load(Ordering::Relaxed),
        daily_remaining: Some(stats.daily_remaining.load(Ordering::Relaxed))
            .filter(|d| *d != u64::MAX),
    };
    summary.aborted = fatal.lock().unwrap_or_else(|p| p.into_inner()).clone();
    summary.duration_ms = started.elapsed().as_millis() as u64;
    write_json(&out_dir.join(report::SUMMARY_JSON), &summary)?;
    if let Some(sb) = &sandbox {
        write_json(
            &out_dir.join(report::SANDBOX_CONTACTS_JSON),
            &sb.contacts(&p.target.location_id),
        )?;
    }
    print_summary(&summary, &out_dir, sandbox.is_some());

    Ok(if let Some(f) = &summary.aborted {
        eprintln!("error: run stopped: {f}");
        Exit::Fatal
    } else if summary.rows.rejected > 0 {
        Exit::Rejects
    } else {
        Exit::Ok
    })
}

fn not_attempted(fatal: &Mutex<Option<String>>) -> Outcome {
    let why = fatal
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .unwrap_or_default();
    Outcome::Rejected(RowError::new(
        Stage::Load,
        codes::NOT_ATTEMPTED,
        format!("not sent: the run stopped after a fatal error ({why})"),
        "fix the error, then re-run; rows already written are matched, not duplicated",
    ))
}

/// Reads, transforms and dedups every row in order, on a blocking thread.
fn produce(
    reader: SourceReader,
    transformer: Transformer,
    mut dedup: Dedup,
    tx: tokio::sync::mpsc::Sender<(Record, Step)>,
) -> anyhow::Result<()> {
    for item in reader {
        let (rec, step) = match item {
            SourceItem::Malformed { raw, error } => (raw, Step::Reject(error)),
            SourceItem::Row(rec) => {
                let step = match transformer.apply(&rec) {
                    Err(e) => Step::Reject(e),
                    Ok(prepared) => match dedup.check(prepared.email_key(), rec.row) {
                        Err(e) => Step::Reject(e),
                        Ok(()) => Step::Load(Box::new(prepared)),
                    },
                };
                (rec, step)
            }
        };
        if tx.blocking_send((rec, step)).is_err() {
            // The writer stopped (it failed); its error is the one to report.
            break;
        }
    }
    Ok(())
}

/// `keep: last` first pass: the last valid row of each email.
fn first_pass_last_rows(p: &Pipeline, t: &Transformer) -> anyhow::Result<LastRows> {
    let mut last = LastRows::default();
    for item in SourceReader::open(&p.source)? {
        if let SourceItem::Row(rec) = item {
            if let Ok(prepared) = t.apply(&rec) {
                if let Some(k) = prepared.email_key() {
                    last.note(k, rec.row);
                }
            }
        }
    }
    Ok(last)
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// `--out`, else `report.dir`, else `out/<name>-<UTC timestamp>` (suffixed if it exists).
fn output_dir(
    opts: &RunOptions,
    p: &Pipeline,
    at: time::OffsetDateTime,
) -> anyhow::Result<PathBuf> {
    let dir = match opts.out.clone().or_else(|| p.report.dir.clone()) {
        Some(d) => d,
        None => {
            let fmt =
                time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
            let stamp = at.format(&fmt).unwrap_or_else(|_| "run".into());
            let base = Path::new("out").join(format!("{}-{stamp}", p.name));
            let mut dir = base.clone();
            let mut n = 2;
            while dir.exists() {
                dir = PathBuf::from(format!("{}-{n}", base.display()));
                n += 1;
            }
            dir
        }
    };
    std::fs::create_dir_all(&dir).map_err(|e| {
        ConfigError::new(format!(
            "cannot create the output folder {}: {e}",
            dir.display()
        ))
    })?;
    Ok(dir)
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
    let f = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    serde_json::to_writer_pretty(std::io::BufWriter::new(f), value)
        .with_context(|| format!("writing {}", path.display()))
}

fn print_summary(s: &Summary, out: &Path, sandbox: bool) {
    let r = &s.rows;
    println!(
        "{} → location {}{}",
        s.pipeline,
        s.location_id,
        if sandbox { " (embedded sandbox)" } else { "" }
    );
    println!("  rows read   {:>8}", r.read);
    println!("  created     {:>8}", r.created);
    println!("  updated     {:>8}", r.updated);
    println!("  unchanged   {:>8}", r.unchanged);
    println!("  rejected    {:>8}", r.rejected);
    for (code, n) in &s.rejected_by_code {
        println!("    {code:<22}{n:>6}");
    }
    println!(
        "  requests    {:>8}  (retries {}, 429s {}, 5xx {}, transport errors {})",
        s.requests.sent,
        s.requests.retries,
        s.requests.rate_limited_429,
        s.requests.server_errors,
        s.requests.transport_errors
    );
    println!("  duration    {:>7.1}s", s.duration_ms as f64 / 1000.0);
    println!("reports: {}", out.display());
}
