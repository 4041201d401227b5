//! Progress on stderr: an indicatif bar (rows finished of the rows in the file, with rate and
//! ETA) on a TTY, plain periodic lines otherwise (CI, cron), nothing under `--quiet`. stdout
//! carries only the final summary.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::report::summary::RowCounts;

/// The request rate against the limit, for the progress line.
#[derive(Debug, Clone, Copy)]
pub struct ApiRate {
    /// Requests per second so far.
    pub per_sec: f64,
    /// Requests per second the limit allows.
    pub allowed_per_sec: f64,
    /// The daily allowance left, as last advertised.
    pub daily_remaining: Option<u64>,
}

static JSON_LOGS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Sends the notices of this module through the JSON log (`--log-format json`) instead of
/// printing them as text, so that stderr holds JSON lines only.
pub fn set_json_logs(on: bool) {
    JSON_LOGS.store(on, std::sync::atomic::Ordering::Relaxed);
}

static CALLER_PRINTS_ERRORS: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Whether the command's caller prints a failed run's error itself (every command but `serve`).
pub fn set_errors_printed_by_caller(on: bool) {
    CALLER_PRINTS_ERRORS.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Logs a run that failed: always in JSON logs and under `serve` (where the log is the only
/// place it shows); in a text-mode command the error is printed once, by the command.
pub fn run_failed(exit: i32, error: &anyhow::Error) {
    let said = crate::error::in_words(error);
    if json_logs() || !CALLER_PRINTS_ERRORS.load(std::sync::atomic::Ordering::Relaxed) {
        tracing::error!(exit, error = %said, "Run failed.");
    } else {
        tracing::info!(exit, error = %said, "Run failed.");
    }
}

/// Whether notices go to the JSON log.
pub fn json_logs() -> bool {
    JSON_LOGS.load(std::sync::atomic::Ordering::Relaxed)
}

/// A line for the person (or the log collector) watching: on stderr as text, or a JSON log
/// event (info) under `--log-format json`.
pub fn notice(msg: &str) {
    if json_logs() {
        tracing::info!("{msg}");
    } else {
        eprintln!("{msg}");
    }
}

/// Like [`notice`], at warning level in the JSON log.
pub fn warning(msg: &str) {
    if json_logs() {
        tracing::warn!("{msg}");
    } else {
        eprintln!("{msg}");
    }
}

/// How often plain progress lines are printed.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// How often the bar's message is rebuilt (the bar redraws at 5 Hz; building it per row cost
/// more than the row's own work on a CSV sink run).
const MESSAGE_EVERY: Duration = Duration::from_millis(100);

/// A progress display.
pub enum Progress {
    /// Interactive bar, and when its message was last rebuilt.
    Bar(ProgressBar, Instant),
    /// Periodic lines.
    Plain {
        /// When the last line was printed.
        last: Instant,
        /// Rows in the file.
        total: u64,
    },
    /// Nothing.
    Hidden,
}

impl Progress {
    /// Chooses the display for this terminal. `total_rows` is the number of data rows.
    pub fn new(total_rows: u64, quiet: bool) -> Self {
        if quiet {
            return Progress::Hidden;
        }
        if std::io::stderr().is_terminal() && !json_logs() {
            // 0 = unknown in advance (a GHL source): a spinner with counts instead of a bar.
            let (len, template) = if total_rows > 0 {
                (Some(total_rows), "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} rows · {per_sec} · ETA {eta} · {msg}")
            } else {
                (
                    None,
                    "{spinner} [{elapsed_precise}] {pos} rows · {per_sec} · {msg}",
                )
            };
            let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr_with_hz(5));
            bar.set_style(
                ProgressStyle::with_template(template).expect("static template is valid"),
            );
            Progress::Bar(bar, Instant::now() - MESSAGE_EVERY)
        } else {
            Progress::Plain {
                last: Instant::now(),
                total: total_rows,
            }
        }
    }

    /// Updates with the current counts; `api` is asked for the request rate only when a
    /// message is shown.
    pub fn update(&mut self, c: &RowCounts, api: impl FnOnce() -> Option<ApiRate>) {
        match self {
            Progress::Hidden => {}
            Progress::Bar(b, last) => {
                b.set_position(c.read);
                if last.elapsed() >= MESSAGE_EVERY {
                    *last = Instant::now();
                    b.set_message(message(c, api()));
                }
            }
            Progress::Plain { last, total } => {
                if last.elapsed() >= PLAIN_EVERY {
                    *last = Instant::now();
                    notice(&format!(
                        "progress: {}/{} rows · {}",
                        c.read,
                        total,
                        message(c, api())
                    ));
                }
            }
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Progress::Bar(b, _) = self {
            b.finish_and_clear();
        }
    }
}

/// The counts (and the request rate against the limit) as one line.
fn message(c: &RowCounts, api: Option<ApiRate>) -> String {
    let api_msg = api
        .map(|a| {
            let daily = a
                .daily_remaining
                .map(|d| format!(" · daily left {d}"))
                .unwrap_or_default();
            format!(
                " · {:.1} req/s of {:.1} allowed{daily}",
                a.per_sec, a.allowed_per_sec
            )
        })
        .unwrap_or_default();
    let msg = if c.exported > 0 {
        format!("exported {} · rejected {}", c.exported, c.rejected)
    } else {
        format!(
            "created {} · updated {} · unchanged {} · rejected {}",
            c.created, c.updated, c.unchanged, c.rejected
        )
    };
    msg + &api_msg
}
