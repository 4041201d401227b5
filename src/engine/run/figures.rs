//! A run's figures: its summary as it starts, a dry run's forecast, the record of its target
//! (run.json), and the incremental mark a GHL source advances.

use super::*;

impl Run<'_> {
    /// What a real run would spend, for a dry run's summary.
    pub(super) fn forecast(&self, summary: &Summary, idx: &Planning) -> report::summary::Forecast {
        let pace = self
            .pace()
            .or(self.p.load.rate_limit.cap())
            .unwrap_or(ghl_client::ratelimit::DOCUMENTED);
        let writes: u64 = ["create", "update"]
            .iter()
            .map(|a| summary.plan.get(*a).copied().unwrap_or(0))
            .sum();
        let daily = summary.requests.daily_remaining;
        report::summary::Forecast {
            write_requests: writes,
            read_requests: idx.reads(),
            existing_contacts: idx.contacts(),
            daily_remaining: daily,
            daily_share_percent: daily
                .filter(|d| *d > 0)
                .map(|d| writes as f64 * 100.0 / d as f64),
            eta_seconds: pace.seconds_for(writes) + self.answering_time(writes),
        }
    }

    /// Moves the incremental mark only when nothing was left to retry: rows that failed for a
    /// transient reason (or were never sent) must be read again next time.
    pub(super) fn advance_mark(
        &self,
        marks: &crate::store::marks::Marks,
        location: &str,
        g: &GhlReader,
        summary: &Summary,
    ) -> anyhow::Result<()> {
        let retry_needed = summary
            .rejected_by_code
            .contains_key(codes::API_UNAVAILABLE)
            || summary.rejected_by_code.contains_key(codes::NOT_ATTEMPTED);
        if summary.aborted.is_none() && !retry_needed {
            let w: Watermark = g.watermark();
            if !w.mark.is_empty() {
                marks.save_watermark(&self.p.name, location, &w)?;
            }
        } else {
            crate::progress::warning(
            "note: the incremental mark was not advanced; the next run re-reads from the previous mark",
        );
        }
        Ok(())
    }

    /// The summary's fixed part.
    pub(super) fn new_summary(&self) -> Summary {
        let p = self.p;
        Summary {
            version: report::summary::SUMMARY_VERSION,
            pipeline: p.name.clone(),
            pipeline_file: absolute(&p.file),
            source: self
                .opts
                .source_shown
                .clone()
                .unwrap_or_else(|| p.source.describe()),
            location_id: p
                .target
                .as_ref()
                .map(|t| t.location_id.clone())
                .unwrap_or_default(),
            base_url: match (&self.apis.sandbox, &p.target) {
                (Some(sb), _) => sb.api().base_url.as_str().trim_end_matches('/').to_owned(),
                (None, Some(t)) => t.base_url.to_string(),
                (None, None) => String::new(),
            },
            sandbox: self.opts.sandbox,
            started_at: rfc3339(self.started_at),
            ..Default::default()
        }
    }

    /// Where this run writes, for `run.json` (read by `retry-rejects` and `rollback`).
    pub(super) fn record(
        &self,
        journal: &Option<Mutex<Journal>>,
    ) -> crate::engine::target::RunRecord {
        use crate::engine::target::{RunRecord, TargetKind, TargetRecord, RUN_RECORD_VERSION};
        let p = self.p;
        RunRecord {
            version: RUN_RECORD_VERSION,
            pipeline: p.name.clone(),
            pipeline_file: absolute(&p.file),
            started_at: rfc3339(self.started_at),
            dry_run: self.opts.dry_run,
            target: p.target.as_ref().map(|t| TargetRecord {
                kind: match &self.apis.sandbox {
                    Some(_) => TargetKind::EmbeddedSandbox,
                    None => TargetKind::Api,
                },
                base_url: match &self.apis.sandbox {
                    Some(sb) => sb.api().base_url.as_str().trim_end_matches('/').to_owned(),
                    None => t.base_url.as_str().trim_end_matches('/').to_owned(),
                },
                location_id: t.location_id.clone(),
                journal: journal
                    .as_ref()
                    .map(|j| absolute(j.lock().unwrap_or_else(|p| p.into_inner()).path())),
            }),
        }
    }
    /// The count of cells in columns the pipeline does not read — none for a CSV export of the
    /// source's columns (every column is written) or a GHL source (its columns are the API's).
    pub(super) fn unmapped(&self, reader: &SourceReader, t: &Transformer) -> Option<Unmapped> {
        let p = self.p;
        let all_written = matches!(
            p.sink,
            Sink::Csv {
                columns: config::CsvColumns::Source,
                ..
            }
        );
        if all_written || matches!(p.source, Source::Ghl(_)) {
            return None;
        }
        let headers = reader.headers();
        let mut used = t.used_columns();
        used.extend(headers.iter().enumerate().filter_map(|(i, h)| {
            let h = h.trim();
            let routing = p
                .routed_by
                .as_deref()
                .is_some_and(|r| r.trim().eq_ignore_ascii_case(h));
            (routing || h == config::SOURCE_ROW_COLUMN).then_some(i)
        }));
        Some(Unmapped::new(headers.len(), &used))
    }

    /// The request rate so far against the configured one, for the progress display.
    pub(super) fn api_rate(&self) -> Option<crate::progress::ApiRate> {
        let pace = self.pace()?;
        (!self.apis.clients.is_empty()).then(|| {
            let t = self.apis.totals();
            crate::progress::ApiRate {
                per_sec: t.sent as f64 / self.started.elapsed().as_secs_f64().max(0.001),
                allowed_per_sec: pace.per_second(),
                daily_remaining: t.daily_remaining,
            }
        })
    }

    /// The limit the target's requests are paced at now (what the server advertised, within
    /// the pipeline's cap).
    pub(super) fn pace(&self) -> Option<ghl_client::ratelimit::Limit> {
        let t = self.p.target.as_ref()?;
        Some(self.apis.clients.get(&t.location_id)?.throttle().limit())
    }

    /// The time `n` requests spend being answered, as many at once as the target keeps in
    /// flight, at the answer time measured so far (the reads of a dry run).
    fn answering_time(&self, n: u64) -> f64 {
        let Some(throttle) = self
            .p
            .target
            .as_ref()
            .and_then(|t| self.apis.clients.get(&t.location_id))
            .map(|c| c.throttle())
        else {
            return 0.0;
        };
        let at_once = throttle.in_flight(self.p.load.concurrency.map(|c| c.get() as usize));
        n as f64 * throttle.answer_time().as_secs_f64() / at_once as f64
    }

    /// rollback.jsonl for a run that writes to a GHL target (none for dry runs and sinks).
    pub(super) fn manifest(
        &self,
        out_dir: &std::path::Path,
    ) -> anyhow::Result<Option<Arc<crate::engine::manifest::Manifest>>> {
        Ok(match (&self.p.target, self.opts.dry_run) {
            (Some(_), false) => Some(Arc::new(crate::engine::manifest::Manifest::open(
                &out_dir.join(crate::report::ROLLBACK_JSONL),
            )?)),
            _ => None,
        })
    }
}
