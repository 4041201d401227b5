//! How a run ends: its exit code, and what is left after a stop at the daily floor.

use super::*;

/// The exit code of a finished run.
pub(super) fn exit_code(summary: &Summary) -> Exit {
    if let Some(f) = &summary.aborted {
        crate::progress::warning(&format!("error: run stopped: {f}"));
        Exit::Fatal
    } else if nothing_loaded(summary) {
        Exit::NothingLoaded
    } else if summary.rows.rejected > 0
        || summary.followups.as_ref().is_some_and(|f| f.rejected > 0)
    {
        Exit::Rejects
    } else {
        Exit::Ok
    }
}

/// Whether a finished run read rows and loaded (or, dry, planned) none: every row rejected.
pub(crate) fn nothing_loaded(s: &Summary) -> bool {
    let r = &s.rows;
    let planned: u64 = ["create", "update", "unchanged"]
        .iter()
        .filter_map(|a| s.plan.get(*a))
        .sum();
    r.read > 0 && r.rejected > 0 && r.created + r.updated + r.unchanged + r.exported + planned == 0
}

/// `path` made absolute (as given when that fails).
pub(crate) fn absolute(path: &std::path::Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_owned())
        .display()
        .to_string()
}

/// What is left of a run stopped at the daily floor, and when re-running can work.
pub(super) fn resume_estimate(s: &Summary, now: time::OffsetDateTime) -> report::summary::Resume {
    let rows_left = s
        .rejected_by_code
        .get(codes::NOT_ATTEMPTED)
        .copied()
        .unwrap_or(0);
    let attempted = (s.rows.created + s.rows.updated + s.rows.unchanged).max(1);
    let per_row = (s.requests.sent as f64 / attempted as f64).max(1.0);
    let requests_needed = (rows_left as f64 * per_row).ceil() as u64;
    let rfc = crate::disk::rfc3339;
    let midnight = (now + time::Duration::days(1)).replace_time(time::Time::MIDNIGHT);
    report::summary::Resume {
        rows_left,
        requests_needed,
        daily_share_percent: s
            .requests
            .daily_limit
            .filter(|l| *l > 0)
            .map(|l| requests_needed as f64 * 100.0 / l as f64),
        earliest: rfc(midnight),
        latest: rfc(now + time::Duration::days(1)),
    }
}
