//! A run's requests second by second (`timeline.csv` in the report folder): a task samples the
//! clients' counters once a second while the run goes; the report draws it against the limit.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ghl_client::client::ClientStats;

/// (second since the start, requests, 429s, retries) — cumulative at each sample.
type Sample = (u64, u64, u64, u64);

/// The sampling task and what it gathered.
pub(super) struct Sampler {
    task: tokio::task::JoinHandle<()>,
    samples: Arc<Mutex<Vec<Sample>>>,
    stats: Vec<Arc<ClientStats>>,
    started: std::time::Instant,
}

/// (requests, 429s, retries) so far.
fn totals(stats: &[Arc<ClientStats>]) -> (u64, u64, u64) {
    let c = super::apis::counts(stats);
    (c.sent, c.rate_limited_429, c.retries)
}

impl Sampler {
    /// Starts sampling these clients' counters.
    pub(super) fn start(stats: Vec<Arc<ClientStats>>) -> Sampler {
        let samples = Arc::new(Mutex::new(vec![(0, 0, 0, 0)]));
        let started = std::time::Instant::now();
        let task = {
            let (samples, stats) = (Arc::clone(&samples), stats.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                tick.tick().await;
                let mut second = 0;
                loop {
                    tick.tick().await;
                    second += 1;
                    let (r, l, t) = totals(&stats);
                    samples
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((second, r, l, t));
                }
            })
        };
        Sampler {
            task,
            samples,
            stats,
            started,
        }
    }

    /// Stops sampling and writes `timeline.csv` (requests per second) into `dir`, when any
    /// request was sent.
    pub(super) fn finish(self, dir: &Path) -> anyhow::Result<()> {
        self.task.abort();
        let mut samples =
            std::mem::take(&mut *self.samples.lock().unwrap_or_else(|e| e.into_inner()));
        let (r, l, t) = totals(&self.stats);
        if r == 0 {
            return Ok(());
        }
        let end = self.started.elapsed().as_secs_f64().ceil() as u64;
        if samples.last().is_none_or(|s| s.0 < end) {
            samples.push((end, r, l, t));
        }
        let mut w = std::io::BufWriter::new(std::fs::File::create(
            dir.join(crate::report::html::TIMELINE_CSV),
        )?);
        writeln!(w, "second,requests,rate_limited_429,retries")?;
        for pair in samples.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            writeln!(w, "{},{},{},{}", b.0, b.1 - a.1, b.2 - a.2, b.3 - a.3)?;
        }
        w.flush()?;
        Ok(())
    }
}
