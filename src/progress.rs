//! Progress on stderr: an indicatif bar (rows finished of the rows in the file, with rate and
//! ETA) on a TTY, plain periodic lines otherwise (CI, cron), nothing under `--quiet`. stdout
//! carries only the final summary.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::report::summary::RowCounts;

/// How often plain progress lines are printed.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// A progress display.
pub enum Progress {
    /// Interactive bar.
    Bar(ProgressBar),
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
        if std::io::stderr().is_terminal() {
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
            Progress::Bar(bar)
        } else {
            Progress::Plain {
                last: Instant::now(),
                total: total_rows,
            }
        }
    }

    /// Updates with the current counts.
    pub fn update(&mut self, c: &RowCounts) {
        let msg = if c.exported > 0 {
            format!("exported {} · rejected {}", c.exported, c.rejected)
        } else {
            format!(
                "created {} · updated {} · rejected {}",
                c.created, c.updated, c.rejected
            )
        };
        match self {
            Progress::Bar(b) => {
                b.set_position(c.read);
                b.set_message(msg);
            }
            Progress::Plain { last, total } => {
                if last.elapsed() >= PLAIN_EVERY {
                    *last = Instant::now();
                    eprintln!("progress: {}/{} rows · {msg}", c.read, total);
                }
            }
            Progress::Hidden => {}
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Progress::Bar(b) = self {
            b.finish_and_clear();
        }
    }
}
