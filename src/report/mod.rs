//! Run reports in the output folder: `rejected.csv` (original row + reason), `results.csv` (one
//! line per input row), `summary.json` (counts, requests, duration). Formats: docs/REPORTS.md.

pub mod csvfiles;
pub mod html;
pub mod summary;
pub mod xlsx;

pub use csvfiles::{escape_formula, unescape_formula, ReportWriter, REJECT_COLUMNS};
pub use summary::Summary;

/// File names inside the output folder.
pub const REJECTED_CSV: &str = "rejected.csv";
/// Values of loaded rows that are not in their contact (invalid, or a second phone/email),
/// one line per value, with the reason.
pub const REJECTED_VALUES_CSV: &str = "rejected_values.csv";
/// One line per input row.
pub const RESULTS_CSV: &str = "results.csv";
/// Runs with a GHL target: one JSON line per contact created or updated (with previous values
/// when known), read by `rollback`.
pub const ROLLBACK_JSONL: &str = "rollback.jsonl";
/// Dry runs: what each row would do.
pub const PLAN_CSV: &str = "plan.csv";
/// Counts and figures.
pub const SUMMARY_JSON: &str = "summary.json";
/// GHL sources only: the source location's custom fields (id, name, fieldKey, dataType).
pub const CUSTOM_FIELDS_JSON: &str = "custom-fields.json";
/// Sandbox runs only: the sandbox's contacts at the end of the run.
pub const SANDBOX_CONTACTS_JSON: &str = "sandbox-contacts.json";
