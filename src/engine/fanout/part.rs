//! One location's part of a multi-location run, seen from the run: its reports when it could
//! not write them, its line in the summary, its folder, and how many parts fit the open-file
//! limit at once.

use std::path::Path;

use anyhow::Context;

use crate::config::Pipeline;
use crate::engine::output::write_json;
use crate::error::Exit;
use crate::extract::{SourceItem, SourceReader};
use crate::outcome::{codes, Outcome, RowError, Stage};
use crate::report::summary::LocationPart;
use crate::report::{self, ReportWriter, Summary};

/// A location's summary and exit code after its run (its result, and whether it claimed its
/// folder); when it wrote no summary, its reports are written here, every row of its input
/// `not_attempted` with the reason.
pub(super) fn finish_part(
    child: &Pipeline,
    location: &str,
    dir: &Path,
    (ran, claimed): (anyhow::Result<Exit>, bool),
) -> anyhow::Result<(Summary, Exit)> {
    let written = dir.join(report::SUMMARY_JSON);
    let own = claimed
        .then(|| std::fs::read(&written).ok())
        .flatten()
        .map(|b| serde_json::from_slice::<Summary>(&b))
        .transpose()
        .with_context(|| format!("reading {}", written.display()))?;
    let err = match (own, ran) {
        (Some(s), Ok(exit)) => return Ok((s, exit)),
        (Some(mut s), Err(e)) => {
            // Finished its reports, then failed (its webhook, its history): reported as is.
            s.aborted.get_or_insert_with(|| format!("{e:#}"));
            return Ok((s, crate::error::exit_code_for(&e)));
        }
        (None, Ok(_)) => anyhow::anyhow!("the run of location {location} wrote no summary"),
        (None, Err(e)) => e,
    };
    let exit = crate::error::exit_code_for(&err);
    let reason = format!("{err:#}");
    crate::progress::warning(&format!("error: location {location}: {reason}"));
    crate::disk::create_private_dir(dir)?;
    let mut s = Summary {
        version: report::summary::SUMMARY_VERSION,
        pipeline: child.name.clone(),
        pipeline_file: child.file.display().to_string(),
        location_id: location.to_owned(),
        aborted: Some(reason.clone()),
        started_at: crate::disk::rfc3339(time::OffsetDateTime::now_utc()),
        ..Summary::default()
    };
    let not_started = Outcome::Rejected(RowError::new(
        Stage::Load,
        codes::NOT_ATTEMPTED,
        format!("not sent: location {location} did not start ({reason})"),
        "fix the error, then re-run; the other locations' rows already written are matched, not duplicated",
    ));
    let mut reader = SourceReader::open(&child.source)?;
    let mut w = ReportWriter::create(dir, reader.headers(), child.report.escape_formulas)?;
    for item in reader.by_ref() {
        let rec = match item {
            SourceItem::Row(r) => r,
            SourceItem::Malformed { raw, .. } => raw,
        };
        w.write(&rec, &not_started, &[])?;
        s.count(&not_started);
    }
    w.finish()?;
    write_json(&written, &s)?;
    if let Err(e) = report::html::write(dir) {
        crate::progress::warning(&format!("warning: report.html not written: {e:#}"));
    }
    Ok((s, exit))
}

/// A location's line in the run's summary.
pub(super) fn location_part(location: &str, s: &Summary, exit: Exit) -> LocationPart {
    let secs = s.duration_ms as f64 / 1000.0;
    LocationPart {
        location_id: location.to_owned(),
        report_dir: format!("locations/{}", folder(location)),
        exit: exit as i32,
        rows: s.rows.clone(),
        requests: s.requests.sent,
        rate_limited_429: s.requests.rate_limited_429,
        rate_limit: s.requests.rate_limit,
        requests_per_second: if secs > 0.0 {
            s.requests.sent as f64 / secs
        } else {
            0.0
        },
        duration_ms: s.duration_ms,
        aborted: s.aborted.clone(),
    }
}

/// Files one running location holds besides its connections: its journal (3), lease, reports
/// (6) and part, with room to spare. Connections are counted for the whole process
/// ([`ghl_client::wire`]).
pub(super) const FILES_PER_LOCATION: u64 = 16;

/// `parallel`, or fewer when the process may not open enough files for that many locations at
/// once, next to its connections.
pub(super) fn within_file_limit(parallel: usize) -> usize {
    let limit = ghl_client::wire::open_file_limit();
    let connections = 2 * ghl_client::wire::budget() as u64;
    let fits = (limit.saturating_sub(64 + connections) / FILES_PER_LOCATION).max(1) as usize;
    if fits < parallel {
        tracing::warn!(
            parallel,
            fits,
            open_files = limit,
            "The open-file limit allows fewer locations at once than target.parallel; running {fits} at a time."
        );
        return fits;
    }
    parallel
}

/// A location's folder and part file name: letters, digits, `-` and `_` kept, the rest `_`.
pub(super) fn folder(location: &str) -> String {
    location
        .chars()
        .map(
            |c| match c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                true => c,
                false => '_',
            },
        )
        .collect()
}
