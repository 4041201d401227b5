//! Progress on stderr: an indicatif bar (by bytes of input read) on a TTY, plain periodic lines
//! otherwise (CI, cron), nothing under `--quiet`. stdout carries only the final summary.

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
    Plain { last: Instant },
    /// Nothing.
    Hidden,
}

impl Progress {
    /// Chooses the display for this terminal. `total_bytes` is the input size.
    pub fn new(total_bytes: u64, quiet: bool) -> Self {
        if quiet {
            return Progress::Hidden;
        }
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(
                Some(total_bytes),
                ProgressDrawTarget::stderr_with_hz(5),
            );
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {percent:>3}% {msg}",
                )
                .expect("static template is valid"),
            );
            Progress::Bar(bar)
        } else {
            Progress::Plain {
                last: Instant::now(),
            }
        }
    }

    /// Updates with bytes read and current counts.
    pub fn update(&mut self, bytes: u64, c: &RowCounts) {
        let msg = format!(
            "rows {} · created {} · updated {} · rejected {}",
            c.read, c.created, c.updated, c.rejected
        );
        match self {
            Progress::Bar(b) => {
                b.set_position(bytes);
                b.set_message(msg);
            }
            Progress::Plain { last } => {
                if last.elapsed() >= PLAIN_EVERY {
                    *last = Instant::now();
                    eprintln!("progress: {msg}");
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
