//! The files a run writes as rows come out, in input order: results.csv and rejected.csv,
//! plan.csv for dry runs, and the CSV sink's file (rollback.jsonl is written as writes are sent:
//! `manifest.rs`).

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Context;

use super::rows::{Done, RowResult, Stop};
use crate::config;
use crate::load::csv_sink::CsvSink;
use crate::options::RunOptions;
use crate::outcome::{codes, Outcome};
use crate::report::{self, ReportWriter};

/// One row as reported.
pub(super) struct Recorded {
    pub outcome: Outcome,
    pub warnings: Vec<String>,
    /// The values reported in rejected_values.csv.
    pub dropped: Vec<crate::transform::DroppedValue>,
}

/// What a run writes as rows come out, in input order.
pub(super) struct RunFiles {
    reports: ReportWriter,
    /// plan.csv (dry runs).
    plan: Option<csv::Writer<std::fs::File>>,
    /// The CSV sink's file.
    sink: Option<CsvSink>,
    /// Lower-cased email → id of every contact the run wrote (kept for follow-ups).
    written: HashMap<String, String>,
    /// Rows rejected so far (a row a later duplicate names as kept may be one), with the code.
    not_loaded: HashMap<u64, &'static str>,
}

impl RunFiles {
    /// Creates the reports (and rollback.jsonl for writes to a target, plan.csv for dry runs).
    pub(super) fn create(
        out_dir: &std::path::Path,
        headers: &[String],
        p: &config::Pipeline,
        opts: &RunOptions,
        indexed: bool,
        sink: Option<CsvSink>,
    ) -> anyhow::Result<RunFiles> {
        let plan = match (indexed, opts.dry_run) {
            (true, true) => {
                let path = out_dir.join(report::PLAN_CSV);
                let mut w = csv::Writer::from_path(&path)
                    .with_context(|| format!("creating {}", path.display()))?;
                w.write_record(["row", "action", "contact_id", "changes"])?;
                Some(w)
            }
            _ => None,
        };
        Ok(RunFiles {
            reports: ReportWriter::create(out_dir, headers, p.report.escape_formulas)?,
            plan,
            sink,
            written: HashMap::new(),
            not_loaded: HashMap::new(),
        })
    }

    /// Writes what one row came to everywhere it belongs; returns its outcome, warnings and
    /// the values reported in rejected_values.csv (a rejected row's are all in rejected.csv).
    pub(super) fn record(&mut self, row: RowResult) -> anyhow::Result<Recorded> {
        let RowResult {
            rec,
            done,
            warnings,
            email,
            mut dropped,
        } = row;
        let outcome = match done {
            Done::Outcome(o) => o,
            Done::Export(prepared) => {
                self.sink
                    .as_mut()
                    .expect("exports only with a CSV sink")
                    .write(&rec, &prepared)?;
                Outcome::Exported
            }
        };
        if let Some(w) = self.plan.as_mut() {
            let row = rec.row.to_string();
            match &outcome {
                Outcome::Planned {
                    action,
                    contact_id,
                    detail,
                } => w.write_record([row.as_str(), action, contact_id, detail])?,
                Outcome::Rejected(e)
                    if e.code == codes::CONFLICT || e.code == codes::PHONE_CONFLICT =>
                {
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
        if let (
            Some(e),
            Outcome::Created { contact_id }
            | Outcome::Updated { contact_id }
            | Outcome::Unchanged { contact_id },
        ) = (email, &outcome)
        {
            self.written.insert(e.to_lowercase(), contact_id.clone());
        }
        let outcome = self.kept_row_fate(rec.row, outcome);
        self.reports.write(&rec, &outcome, &warnings)?;
        if matches!(outcome, Outcome::Rejected(_)) {
            dropped.clear();
        }
        let contact_id = match &outcome {
            Outcome::Created { contact_id }
            | Outcome::Updated { contact_id }
            | Outcome::Unchanged { contact_id }
            | Outcome::Planned { contact_id, .. } => contact_id.as_str(),
            _ => "",
        };
        self.reports.write_values(rec.row, &dropped, contact_id)?;
        Ok(Recorded {
            outcome,
            warnings,
            dropped,
        })
    }

    /// A duplicate's message names the row kept in its place; when that row came first and was
    /// not loaded (the API refused it, a conflict, the run stopped), the duplicate says so
    /// instead of implying the contact exists. Rows come here in file order, so with
    /// `dedup.keep: first` (and `merge`) the kept row's fate is known; with `keep: last` it
    /// comes later, and `retry-rejects` of the run retries it.
    fn kept_row_fate(&mut self, row: u64, outcome: Outcome) -> Outcome {
        let Outcome::Rejected(mut e) = outcome else {
            return outcome;
        };
        match e.kept_row {
            Some(kept) => {
                if let Some(code) = self.not_loaded.get(&kept) {
                    e.message.push_str(&format!(
                        "; but row {kept} was not loaded either ({code}), so neither row reached the location"
                    ));
                    e.hint = format!(
                        "fix row {kept} and re-run (this row stays a duplicate of it), or load this row in its place                          with `retry-rejects --include duplicates`"
                    );
                }
            }
            None => {
                self.not_loaded.insert(row, e.code);
            }
        }
        Outcome::Rejected(e)
    }

    /// Completes the files. The CSV sink's file is moved into place only when the run was not
    /// stopped (an incomplete export never replaces anything); returns its path then, and the
    /// ids of the contacts written.
    pub(super) fn finish(
        self,
        stop: &Stop,
    ) -> anyhow::Result<(Option<PathBuf>, HashMap<String, String>)> {
        self.reports.finish()?;
        if let Some(mut w) = self.plan {
            w.flush()?;
        }
        let exported = match self.sink {
            Some(s) if stop.reason().is_none() => Some(s.finish()?),
            _ => None,
        };
        Ok((exported, self.written))
    }
}
