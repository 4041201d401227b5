//! The pipeline keys of unattended operation: `schedule:` (for `serve`), `notify:` (alerts) and
//! `source.inbox` (a folder files are dropped into).

use serde::Deserialize;

pub use crate::schedule::CatchUp;

/// `schedule:` — for `ghl-import serve`.
#[derive(Debug, Deserialize, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// A cron pattern: 5 fields (`0 2 * * *`), or 6 with seconds first.
    pub cron: String,
    /// IANA time zone the pattern is read in (default UTC).
    #[serde(default)]
    pub timezone: Option<String>,
    /// A run missed while `serve` was not running: `skip` it, or run `once` at start.
    #[serde(default)]
    pub catch_up: CatchUp,
}

/// `notify:` — a short JSON summary posted to a webhook (Slack- and Teams-compatible `text`)
/// after a run.
#[derive(Debug, Deserialize, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// When: any of `success`, `failure`, `rejects`, `daily_floor` (default `[failure]`).
    #[serde(default = "default_notify_on")]
    pub on: Vec<NotifyOn>,
    /// The environment variable holding the webhook URL (a secret: never in YAML or logs).
    pub webhook_url_env: String,
}

/// A run's ending a webhook can be told about.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyOn {
    /// Exit 0.
    Success,
    /// The run did not finish (exit 1) or did not start (exit 2).
    Failure,
    /// Exit 3: some rows rejected.
    Rejects,
    /// The run stopped at the daily allowance or `load.daily_floor`.
    DailyFloor,
}

fn default_notify_on() -> Vec<NotifyOn> {
    vec![NotifyOn::Failure]
}

/// `source.inbox`: a folder a client's system drops files into. Each new file is imported once
/// (by content hash), then moved to `done` (or `failed`) with its report folder beside it.
#[derive(Debug, Deserialize, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct InboxConfig {
    /// The folder watched, relative to the pipeline file's folder unless absolute.
    pub dir: std::path::PathBuf,
    /// Which file names are read (a glob; default `*.csv`, or the workbook extensions for Excel).
    #[serde(default)]
    pub pattern: Option<String>,
    /// Where imported files go (default `<dir>/done`).
    #[serde(default)]
    pub done: Option<std::path::PathBuf>,
    /// Where files that cannot be read as the pipeline says go (default `<dir>/failed`).
    #[serde(default)]
    pub failed: Option<std::path::PathBuf>,
    /// A file is read once it has not changed for this many seconds (default 5).
    #[serde(default = "default_settle_secs")]
    pub settle_secs: u64,
}

fn default_settle_secs() -> u64 {
    5
}
