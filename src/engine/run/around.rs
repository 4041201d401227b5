//! What surrounds a run: its id, the location's lease, its row in the run history, and the alert
//! after it.

use super::*;

impl Run<'_> {
    /// Records the run in the state folder's run history (a history that cannot be written is
    /// a warning, never a reason not to run).
    pub(super) fn history_start(&self, store: &crate::store::Store, out_dir: &std::path::Path) {
        let (p, opts) = (self.p, self.opts);
        let kind = super::history_kind(opts);
        let location = p
            .target
            .as_ref()
            .map(|t| t.location_id.as_str())
            .or(match &p.source {
                Source::Ghl(g) => Some(g.api.location_id.as_str()),
                _ => None,
            });
        let started_at = rfc3339(self.started_at);
        let start = crate::store::history::Start {
            pipeline: &p.name,
            pipeline_file: &p.file,
            location,
            kind,
            started_at: &started_at,
            report_dir: out_dir,
        };
        match store.history().and_then(|h| Ok((h.start(&start)?, h))) {
            Ok((id, h)) => {
                *self.history.lock().unwrap_or_else(|e| e.into_inner()) = Some((h, id));
            }
            Err(e) => tracing::warn!(error = %e, "Could not record the run in the run history."),
        }
    }

    /// After the run: its report folder and summary.json (when it got that far), and its run
    /// history row completed with the exit code.
    pub(super) fn finished(
        &self,
        result: &anyhow::Result<Exit>,
    ) -> (Option<std::path::PathBuf>, Option<serde_json::Value>) {
        let out_dir = self
            .out_dir
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let summary = out_dir
            .as_ref()
            .and_then(|d| std::fs::read(d.join(report::SUMMARY_JSON)).ok())
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
        let started = self
            .history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        match (started, result) {
            (Some((h, id)), _) => {
                let ended_at = rfc3339(time::OffsetDateTime::now_utc());
                if let Err(e) = h.finish(id, exit_of(result) as i32, &ended_at, summary.as_ref()) {
                    tracing::warn!(error = %e, "Could not complete the run in the run history.");
                }
            }
            // It ended before it started (its source, credentials, lease): an attempt all the same.
            (None, Err(e)) => super::record_attempt(self.p, self.opts, e),
            (None, Ok(_)) => {}
        }
        (out_dir, summary)
    }

    /// What the latest earlier dry run of this pipeline into the same location forecast (from
    /// the run history and that run's summary.json), for a real run's report.
    pub(super) fn forecast_check(
        &self,
        store: &crate::store::Store,
    ) -> Option<report::summary::ForecastCheck> {
        let t = self.p.target.as_ref().filter(|_| !self.opts.dry_run)?;
        let started = rfc3339(self.started_at);
        let h = store.history_if_any()?.ok()?;
        let dry = h
            .list(Some(&self.p.name), 200)
            .ok()?
            .into_iter()
            .find(|r| {
                r.kind == "dry_run"
                    && r.location.as_deref() == Some(t.location_id.as_str())
                    && r.started_at < started
            })?;
        let s: serde_json::Value = serde_json::from_slice(
            &std::fs::read(std::path::Path::new(&dry.report_dir).join(report::SUMMARY_JSON))
                .ok()?,
        )
        .ok()?;
        Some(report::summary::ForecastCheck {
            dry_run_started_at: dry.started_at,
            dry_run_report_dir: dry.report_dir,
            eta_seconds: s["forecast"]["eta_seconds"].as_f64()?,
            write_requests: s["forecast"]["write_requests"].as_u64()?,
        })
    }

    /// The target location's lease, for runs that write to it (not dry runs, not CSV sinks,
    /// not runs into their own embedded sandbox).
    pub(super) async fn take_lease(
        &self,
        store: &crate::store::Store,
    ) -> anyhow::Result<Option<crate::store::lease::Lease>> {
        let writes = !self.opts.dry_run && !self.opts.sandbox;
        let Some(t) = self.p.target.as_ref().filter(|_| writes) else {
            return Ok(None);
        };
        let run = run_id(self.p, self.started_at);
        let stop = &self.stop;
        let what = crate::store::lease::Guarded::Location(&t.location_id);
        store
            .leases()
            .take(self.p, what, &run, || stop.is_stopped())
            .await
            .map(Some)
    }
}

/// The exit code a run's result means.
fn exit_of(result: &anyhow::Result<Exit>) -> Exit {
    match result {
        Ok(e) => *e,
        Err(e) => crate::error::exit_code_for(e),
    }
}

/// Tells the pipeline's webhook about the run if its ending is one `notify.on` names; a webhook
/// that fails is a warning, never a change of the run's outcome.
pub(crate) async fn notify(
    n: &config::NotifyConfig,
    url: &reqwest::Url,
    (p, id): (&config::Pipeline, &str),
    result: &anyhow::Result<Exit>,
    out_dir: Option<&std::path::Path>,
    summary: Option<&serde_json::Value>,
) {
    let exit = exit_of(result);
    let Some(event) = crate::notify::event(&n.on, exit, summary) else {
        return;
    };
    let info = crate::notify::RunInfo {
        run: id,
        pipeline: &p.name,
        location: p.target.as_ref().map(|t| t.location_id.as_str()),
        exit,
        summary,
        report_dir: out_dir,
        error: result.as_ref().err().map(|e| format!("{e:#}")),
    };
    match crate::notify::post(url, &crate::notify::payload(event, &info)).await {
        Ok(()) => tracing::info!(event = ?event, "Webhook notified."),
        Err(e) => crate::progress::warning(&format!(
            "warning: the notify webhook ({}) was not reached: {e}",
            n.webhook_url_env
        )),
    }
}

/// A run's id: the pipeline's name and the UTC second it started (`quickstart-20261129T214500Z`),
/// as in its default report folder, its lease and its log lines.
pub(crate) fn run_id(p: &config::Pipeline, started_at: time::OffsetDateTime) -> String {
    format!("{}-{}", p.name, crate::disk::stamp(started_at))
}
