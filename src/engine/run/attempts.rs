//! Attempts in the run history and the run's last log line: a run that failed before it
//! started (its pipeline did not load, its credentials or source were wrong) is recorded all
//! the same, and `Run finished.` carries what the run did.

use crate::config;
use crate::error::Exit;
use crate::options::RunOptions;

/// The kind of a run in the history: `run`, `dry_run`, `retry_rejects`, each prefixed
/// `rehearsal_` when it wrote into an embedded sandbox.
pub(crate) fn history_kind(opts: &RunOptions) -> &'static str {
    match (opts.sandbox, opts.dry_run, opts.source_override.is_some()) {
        (false, true, _) => "dry_run",
        (false, false, true) => "retry_rejects",
        (false, false, false) => "run",
        (true, true, _) => "rehearsal_dry_run",
        (true, false, true) => "rehearsal_retry_rejects",
        (true, false, false) => "rehearsal_run",
    }
}

/// Records in the history a run of `p` that failed before it started.
pub(crate) fn record_attempt(p: &config::Pipeline, opts: &RunOptions, e: &anyhow::Error) {
    let location = p.target.as_ref().map(|t| t.location_id.as_str());
    let store = crate::engine::store_of(p, opts.state_dir.as_deref());
    attempt(&store, (&p.name, &p.file, location), opts, e);
}

/// Records in the history a pipeline file that did not load (its name: the file's stem).
pub(super) fn record_unloaded(opts: &RunOptions, e: &anyhow::Error) {
    if opts.part_of.is_some() {
        return;
    }
    let file = &opts.pipeline;
    let name = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let store = crate::store::Store::of_pipeline(opts.state_dir.as_deref(), file);
    // Only a pipeline file (.yaml) that exists: not a data file, a folder or a typo.
    let yaml = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
    if !file.is_file() || !yaml {
        return;
    }
    attempt(&store, (&name, file, None), opts, e);
}

fn attempt(
    store: &crate::store::Store,
    (name, file, location): (&str, &std::path::Path, Option<&str>),
    opts: &RunOptions,
    e: &anyhow::Error,
) {
    let now = crate::disk::rfc3339(time::OffsetDateTime::now_utc());
    let start = crate::store::history::Start {
        pipeline: name,
        pipeline_file: file,
        location,
        kind: history_kind(opts),
        started_at: &now,
        report_dir: std::path::Path::new(""),
    };
    let why = crate::config::redact_secrets(&crate::error::in_words(e));
    let exit = crate::error::exit_code_for(e) as i32;
    if let Err(err) = store.history().and_then(|h| h.attempt(&start, exit, &why)) {
        tracing::warn!(error = %err, "Could not record the attempt in the run history.");
    }
}

/// `Run finished.` with what the run did: rows by outcome, requests, 429s and duration.
pub(super) fn log_finished(exit: Exit, s: Option<&serde_json::Value>) {
    let n = |path: &[&str]| {
        s.and_then(|s| path.iter().try_fold(s, |v, k| v.get(*k)))
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
    };
    tracing::info!(
        exit = exit as i32,
        rows_read = n(&["rows", "read"]),
        created = n(&["rows", "created"]),
        updated = n(&["rows", "updated"]),
        unchanged = n(&["rows", "unchanged"]),
        exported = n(&["rows", "exported"]),
        rejected = n(&["rows", "rejected"]),
        not_attempted = n(&["rejected_by_code", "not_attempted"]),
        requests = n(&["requests", "sent"]),
        rate_limited_429 = n(&["requests", "rate_limited_429"]),
        duration_ms = n(&["duration_ms"]),
        "Run finished."
    );
}
