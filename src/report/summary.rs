//! `summary.json`: the run's counts and figures. Maps are `BTreeMap`s and timings sit in their
//! own fields so that the rest is deterministic.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::outcome::Outcome;

/// Report format version.
pub const SUMMARY_VERSION: u32 = 1;

/// Row counts.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct RowCounts {
    /// Data rows read from the source (every one ends in exactly one of the outcomes below).
    pub read: u64,
    /// Contacts created.
    pub created: u64,
    /// Contacts updated.
    pub updated: u64,
    /// Rows that sent nothing: the contact already held the values (`sync`), or exists and the
    /// mode leaves existing contacts alone (`create`). Always 0 in `upsert` mode.
    pub unchanged: u64,
    /// Rows written to a CSV sink.
    pub exported: u64,
    /// Rows rejected (see rejected.csv).
    pub rejected: u64,
    /// Row outcomes, which `created` … `rejected` add up to (planned ones aside): `read` in a
    /// run on one location or a routed one; `read` × locations when every location of a
    /// multi-location run reads the whole source.
    pub outcomes: u64,
}

/// Request figures.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct RequestCounts {
    /// HTTP requests sent, retries included.
    pub sent: u64,
    /// Of which retries.
    pub retries: u64,
    /// 429 answers received.
    pub rate_limited_429: u64,
    /// 5xx answers received.
    pub server_errors: u64,
    /// Transport errors (connect, timeout, reset).
    pub transport_errors: u64,
    /// Last `X-RateLimit-Daily-Remaining` seen, if any.
    pub daily_remaining: Option<u64>,
    /// Last `X-RateLimit-Limit-Daily` seen, if any.
    pub daily_limit: Option<u64>,
    /// The burst limit in force at the end: the one advertised (`X-RateLimit-Max` per
    /// `X-RateLimit-Interval-Milliseconds`), or the documented 100 / 10 s, never above
    /// `load.rate_limit`; the smallest of the run's locations.
    pub rate_limit: Option<RateLimitInForce>,
}

/// A request limit: `max` requests per `interval_ms`.
#[derive(Debug, Default, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct RateLimitInForce {
    /// Requests per interval.
    pub max: u64,
    /// The interval, in milliseconds.
    pub interval_ms: u64,
}

/// Follow-up file rows (`load.followups`) and what became of them (details in followups.csv).
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct FollowUpCounts {
    /// Rows read from the follow-up files.
    pub rows: u64,
    /// Rows that wrote something.
    pub applied: u64,
    /// Rows whose notes and tasks the contact already had.
    pub unchanged: u64,
    /// Rows rejected.
    pub rejected: u64,
    /// Rejected rows per code.
    pub rejected_by_code: BTreeMap<String, u64>,
    /// Requests the follow-ups sent (reads of the contacts' notes and tasks, and writes).
    pub requests: u64,
    /// Contacts they addressed.
    pub contacts: u64,
    /// `requests / contacts` (0 when none).
    pub requests_per_contact: f64,
}

/// When and how to finish a run that stopped at `load.daily_floor`.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Resume {
    /// Rows not sent (`not_attempted`).
    pub rows_left: u64,
    /// Requests those rows need, at this run's requests per attempted row (at least one each).
    pub requests_needed: u64,
    /// `requests_needed` as a share of a full day's allowance, in percent (when advertised).
    pub daily_share_percent: Option<f64>,
    /// The next 00:00 UTC: the earliest time worth re-running if the allowance is per calendar day.
    pub earliest: String,
    /// 24 hours after the stop: by then a rolling 24-hour allowance has recovered too. (The API
    /// does not document which of the two it uses.)
    pub latest: String,
}

/// What a real run of a dry-run plan would cost.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Forecast {
    /// Write requests (one per create, update or conflict row).
    pub write_requests: u64,
    /// Read requests the dry run spent indexing the location (one per 500 contacts).
    pub read_requests: u64,
    /// Contacts in the location.
    pub existing_contacts: Option<u64>,
    /// The location's daily allowance left, as last advertised.
    pub daily_remaining: Option<u64>,
    /// Write requests as a share of `daily_remaining`, in percent.
    pub daily_share_percent: Option<f64>,
    /// Seconds the writes would take at the configured rate.
    pub eta_seconds: f64,
}

/// Values of loaded rows that are not in their contact (rejected_values.csv).
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ValueCounts {
    /// Values reported (one line each in rejected_values.csv).
    pub reported: u64,
    /// Of those, values kept in a note on the contact (`invalid: note`, `others: note`).
    pub kept_in_note: u64,
    /// Reported values per code (`invalid_date`, `extra_value`, …).
    pub by_code: BTreeMap<String, u64>,
    /// `retry-rejects`: values of the retried run's rejected_values.csv written into their
    /// contacts (that field only).
    pub patched: u64,
}

impl ValueCounts {
    /// Counts one row's reported values.
    pub fn count(&mut self, dropped: &[crate::outcome::DroppedValue]) {
        for d in dropped {
            self.reported += 1;
            self.kept_in_note += u64::from(d.kept_in.is_some());
            *self.by_code.entry(d.code.to_owned()).or_default() += 1;
        }
    }

    /// Adds another run's counts.
    pub fn add(&mut self, o: &ValueCounts) {
        self.reported += o.reported;
        self.patched += o.patched;
        self.kept_in_note += o.kept_in_note;
        for (k, v) in &o.by_code {
            *self.by_code.entry(k.clone()).or_default() += v;
        }
    }
}

/// A source column with data that the pipeline does not read.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct UnmappedColumn {
    /// The column's name.
    pub column: String,
    /// Rows whose cell in it is not blank.
    pub filled: u64,
    /// That share of the rows read, in percent (one decimal).
    pub fill_percent: f64,
}

/// The latest earlier dry run's forecast, for a real run.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ForecastCheck {
    /// When the dry run started (RFC 3339).
    pub dry_run_started_at: String,
    /// Its report folder.
    pub dry_run_report_dir: String,
    /// The seconds it forecast for the writes.
    pub eta_seconds: f64,
    /// The write requests it forecast.
    pub write_requests: u64,
}

/// The whole summary.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Summary {
    /// Format version of this file.
    pub version: u32,
    /// Pipeline name.
    pub pipeline: String,
    /// The pipeline file (absolute), so that `retry-rejects` can re-run it.
    pub pipeline_file: String,
    /// What was read: a file path or `GHL location <id>`.
    pub source: String,
    /// Target location (empty for a CSV sink).
    pub location_id: String,
    /// API base URL used.
    pub base_url: String,
    /// Whether the target was the embedded sandbox.
    pub sandbox: bool,
    /// Row counts.
    pub rows: RowCounts,
    /// Rejected rows per code.
    pub rejected_by_code: BTreeMap<String, u64>,
    /// Rejected rows per stage.
    pub rejected_by_stage: BTreeMap<String, u64>,
    /// Dry runs: rows per planned action (create, update, unchanged, conflict).
    pub plan: BTreeMap<String, u64>,
    /// How rows were matched against the location (planning modes): the strategy chosen and why.
    pub planning: Option<String>,
    /// Dry runs: the forecast of what a real run would spend.
    pub forecast: Option<Forecast>,
    /// Warnings (rows loaded, but worth a look) per code.
    pub warnings_by_code: BTreeMap<String, u64>,
    /// Values of loaded rows that are not in their contact, by code (rejected_values.csv).
    pub values: ValueCounts,
    /// Source columns with data that the pipeline does not read (nothing of them is sent).
    pub unmapped_columns: Vec<UnmappedColumn>,
    /// Request figures.
    pub requests: RequestCounts,
    /// Contacts a GHL source returned twice (page shifts) and that were read once.
    pub source_duplicates_skipped: u64,
    /// Records of the file whose cells were all blank: skipped like empty lines (no row number,
    /// not in `rows.read`).
    pub blank_records: u64,
    /// The fatal error that stopped the run, if any.
    pub aborted: Option<String>,
    /// Set when the run stopped at `load.daily_floor`: what is left and when to re-run.
    pub resume: Option<Resume>,
    /// Set when the pipeline has follow-up files.
    pub followups: Option<FollowUpCounts>,
    /// Real runs after a dry run of the same pipeline and location: what that dry run forecast,
    /// to set against `duration_ms` and the writes made.
    pub forecast_check: Option<ForecastCheck>,
    /// A multi-location run: each location's part (its own reports are in `report_dir`). The
    /// counts above are their sums plus the rows the routing rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locations: Option<Vec<LocationPart>>,
    /// RFC 3339 start time.
    pub started_at: String,
    /// Wall time in ms.
    pub duration_ms: u64,
}

/// One location's part of a multi-location run.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct LocationPart {
    /// The location.
    pub location_id: String,
    /// Its report folder, relative to the run's.
    pub report_dir: String,
    /// Its exit code (0 ok, 3 rows rejected, 2 configuration, 1 stopped).
    pub exit: i32,
    /// Its rows.
    pub rows: RowCounts,
    /// Requests sent for it.
    pub requests: u64,
    /// 429 answers it got.
    pub rate_limited_429: u64,
    /// The rate limit in force for it.
    pub rate_limit: Option<RateLimitInForce>,
    /// Write requests per second it achieved while it ran (requests / duration).
    pub requests_per_second: f64,
    /// Its wall time in ms.
    pub duration_ms: u64,
    /// Why it stopped, or why it did not start.
    pub aborted: Option<String>,
}

impl RowCounts {
    /// Counts one row's outcome (a planned action counts in `read` only).
    pub fn count(&mut self, o: &Outcome) {
        self.read += 1;
        self.outcomes += 1;
        match o {
            Outcome::Created { .. } => self.created += 1,
            Outcome::Updated { .. } => self.updated += 1,
            Outcome::Unchanged { .. } => self.unchanged += 1,
            Outcome::Exported => self.exported += 1,
            Outcome::Planned { .. } => {}
            Outcome::Rejected(_) => self.rejected += 1,
        }
    }
}

impl Summary {
    /// Adds another summary's counts (rows, rejects, plans, warnings, requests) to this one.
    pub fn add(&mut self, o: &Summary) {
        let (r, x) = (&mut self.rows, &o.rows);
        r.read += x.read;
        r.created += x.created;
        r.updated += x.updated;
        r.unchanged += x.unchanged;
        r.exported += x.exported;
        r.rejected += x.rejected;
        r.outcomes += x.outcomes;
        for (mine, theirs) in [
            (&mut self.rejected_by_code, &o.rejected_by_code),
            (&mut self.rejected_by_stage, &o.rejected_by_stage),
            (&mut self.plan, &o.plan),
            (&mut self.warnings_by_code, &o.warnings_by_code),
        ] {
            for (k, v) in theirs {
                *mine.entry(k.clone()).or_default() += v;
            }
        }
        self.values.add(&o.values);
        for u in &o.unmapped_columns {
            match self
                .unmapped_columns
                .iter_mut()
                .find(|m| m.column == u.column)
            {
                Some(m) => m.filled += u.filled,
                None => self.unmapped_columns.push(u.clone()),
            }
        }
        let read = self.rows.read.max(1) as f64;
        for m in &mut self.unmapped_columns {
            m.fill_percent = (m.filled as f64 * 1000.0 / read).round() / 10.0;
        }
        let (q, y) = (&mut self.requests, &o.requests);
        q.sent += y.sent;
        q.retries += y.retries;
        q.rate_limited_429 += y.rate_limited_429;
        q.server_errors += y.server_errors;
        q.transport_errors += y.transport_errors;
        q.rate_limit = q.rate_limit.or(y.rate_limit);
        self.blank_records = self.blank_records.max(o.blank_records);
        if let Some(f) = &o.forecast {
            // Each location's allowance is its own: the tightest share is the one to watch.
            let mine = self.forecast.get_or_insert_with(Forecast::default);
            mine.write_requests += f.write_requests;
            mine.read_requests += f.read_requests;
            mine.existing_contacts = match (mine.existing_contacts, f.existing_contacts) {
                (None, None) => None,
                (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
            };
            mine.daily_remaining = match (mine.daily_remaining, f.daily_remaining) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            mine.daily_share_percent = match (mine.daily_share_percent, f.daily_share_percent) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            mine.eta_seconds = mine.eta_seconds.max(f.eta_seconds);
        }
    }

    /// Counts one row's outcome.
    pub fn count(&mut self, o: &Outcome) {
        self.rows.count(o);
        match o {
            Outcome::Planned { action, .. } => {
                *self.plan.entry((*action).to_owned()).or_default() += 1
            }
            Outcome::Rejected(e) => {
                *self.rejected_by_code.entry(e.code.to_owned()).or_default() += 1;
                *self
                    .rejected_by_stage
                    .entry(e.stage.as_str().to_owned())
                    .or_default() += 1;
            }
            _ => {}
        }
    }
}
