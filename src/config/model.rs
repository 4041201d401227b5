//! The pipeline YAML, version 1, as serde types (the "parse" phase). Every struct denies unknown
//! keys; docs/PIPELINE.md documents every key.

use std::collections::BTreeMap;
use std::num::{NonZeroU32, NonZeroU64};
use std::path::PathBuf;

use serde::Deserialize;

pub use super::followup_model::{FollowUpFile, FollowUpTags, NoteSource, TaskSource};
pub use super::ops_model::InboxConfig;
pub use super::ops_model::{CatchUp, NotifyConfig, NotifyOn, ScheduleConfig};
pub use super::source_model::*;
pub use super::target_model::{
    AgencyAuthConfig, AuthConfig, InstalledConfig, LocationsConfig, OAuthAuthConfig, RouteConfig,
    RouteMapConfig, TargetConfig,
};

/// The production API base URL.
pub const DEFAULT_BASE_URL: &str = "https://services.leadconnectorhq.com";

/// A whole pipeline file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Format version; only 1 exists.
    pub version: u32,
    /// Optional display name; defaults to the file stem.
    #[serde(default)]
    pub name: Option<String>,
    /// Where rows come from.
    pub source: SourceConfig,
    /// Which GHL location receives them, and how to authenticate (required unless the rows go
    /// to a CSV file: `load.type: csv`).
    #[serde(default)]
    pub target: Option<TargetConfig>,
    /// GHL contact field ← source column or rule (may be empty when exporting to CSV).
    #[serde(default)]
    pub mapping: BTreeMap<String, super::mapping::FieldSpec>,
    /// Custom fields (by `fieldKey` or name) ← column or rule; resolved to ids through the target
    /// location's custom-fields listing at the start of a run.
    #[serde(default)]
    pub custom_fields: BTreeMap<String, super::mapping::FieldSpec>,
    /// In-file duplicate handling.
    #[serde(default)]
    pub dedup: DedupConfig,
    /// Row validation rules.
    #[serde(default)]
    pub validate: ValidateConfig,
    /// How rows are written.
    #[serde(default)]
    pub load: LoadConfig,
    /// Where and how reports are written.
    #[serde(default)]
    pub report: ReportConfig,
    /// A webhook told about the run when it ends as `on` says.
    #[serde(default)]
    pub notify: Option<NotifyConfig>,
    /// When `ghl-import serve` runs the pipeline.
    #[serde(default)]
    pub schedule: Option<ScheduleConfig>,
}

/// `dedup:`.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct DedupConfig {
    /// Key to dedup on.
    #[serde(default)]
    pub by: DedupKey,
    /// Which of the duplicate rows is loaded.
    #[serde(default)]
    pub keep: Keep,
    /// Also treat rows with the same E.164 phone as duplicates (after the email).
    #[serde(default)]
    pub phone: bool,
}

impl Default for DedupConfig {
    fn default() -> Self {
        DedupConfig {
            by: DedupKey::Email,
            keep: Keep::First,
            phone: false,
        }
    }
}

/// The dedup key.
#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DedupKey {
    /// The normalised (trimmed, lower-cased) email.
    #[default]
    Email,
    /// No in-file dedup.
    None,
}

/// Which duplicate to keep.
#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Keep {
    /// Keep the first row; later rows are rejected as `duplicate_in_file`.
    #[default]
    First,
    /// Keep the last row; earlier rows are rejected as `duplicate_in_file`.
    Last,
    /// Load the first row with blanks filled from later rows and tags unioned; later rows are
    /// rejected as `duplicate_in_file` ("merged into row N").
    Merge,
}

/// `validate:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidateConfig {
    /// A row must have at least one of these (after normalisation).
    #[serde(default = "default_require_any")]
    pub require_any: Vec<RequiredKey>,
    /// ISO 3166 region for phone numbers written without a `+` country code (e.g. `US`).
    #[serde(default)]
    pub phone_default_region: Option<String>,
    /// Fields every row must have (after mapping and normalisation).
    #[serde(default)]
    pub required: Vec<String>,
    /// Longest value allowed per field, in characters.
    #[serde(default)]
    pub max_length: BTreeMap<String, std::num::NonZeroUsize>,
    /// What to do with a phone extension (`… ext. 42`): the API has no field for it.
    #[serde(default)]
    pub phone_extension: ExtensionPolicy,
    /// What a value that fails its field's check comes to, unless its mapping rule says
    /// (`invalid:`): `drop` (default), `reject_row` or `note`.
    #[serde(default)]
    pub invalid_values: super::mapping::OnInvalid,
}

/// Phone extensions.
#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ExtensionPolicy {
    /// Load the number without it; the row gets a `phone_extension_dropped` warning.
    #[default]
    Drop,
    /// Reject the row (`phone_extension`), e.g. to route it to a manual fix.
    Reject,
}

impl Default for ValidateConfig {
    fn default() -> Self {
        ValidateConfig {
            require_any: default_require_any(),
            phone_default_region: None,
            required: Vec::new(),
            max_length: BTreeMap::new(),
            phone_extension: ExtensionPolicy::default(),
            invalid_values: super::mapping::OnInvalid::default(),
        }
    }
}

/// The contact keys `require_any` can name.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RequiredKey {
    /// The `email` field.
    Email,
    /// The `phone` field.
    Phone,
}

/// `load:`.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct LoadConfig {
    /// Where rows go: the target location (`ghl`) or a CSV file (`csv`).
    #[serde(default, rename = "type")]
    pub kind: SinkKind,
    /// With `type: csv`: the output file, relative to the pipeline file.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// With `type: csv`: write the source's columns (`source`) or the mapped fields (`mapped`).
    #[serde(default)]
    pub columns: CsvColumns,
    /// With `type: csv`: what to do when the file already exists.
    #[serde(default)]
    pub if_exists: IfExists,
    /// Write mode.
    #[serde(default)]
    pub mode: LoadMode,
    /// Notes to add to each contact, from columns (one request to list the contact's notes, one
    /// per new note; a note whose text the contact already has is not added again).
    #[serde(default)]
    pub notes: Vec<NoteSource>,
    /// Tasks to add to each contact, from columns (the contact's tasks are listed first; a task
    /// with the same title and due date is not added again).
    #[serde(default)]
    pub tasks: Vec<TaskSource>,
    /// How rows are matched against the location's contacts when planning: `auto`, `index`
    /// or `per_row`.
    #[serde(default)]
    pub lookup: LookupStrategy,
    /// Files of notes and tasks keyed by email, applied after the rows are written (reported
    /// in followups.csv).
    #[serde(default)]
    pub followups: Vec<FollowUpFile>,
    /// How mapped tags are written: `replace` (in the upsert: the contact's tags become the
    /// row's), `add` or `remove` (through the tags endpoint, one more request per row with tags).
    #[serde(default)]
    pub tags: TagMode,
    /// A row whose email is new but whose phone belongs to a contact (or an earlier row) with
    /// another email: the API's upsert would update that contact and replace its email.
    #[serde(default)]
    pub phone_conflicts: PhoneConflicts,
    /// Another run is writing to the location: `skip` (exit 1) or `wait`.
    #[serde(default)]
    pub on_busy: OnBusy,
    /// Write policy per contact field (`firstName: fill_empty`); the rest overwrite.
    #[serde(default)]
    pub fields: BTreeMap<String, FieldPolicy>,
    /// The most requests in flight at once per location. Absent (the default): sized during the
    /// run from the rate limit and the measured answer times (Little's law), up to the burst.
    #[serde(default)]
    pub concurrency: Option<NonZeroU32>,
    /// Client-side rate limit per location.
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
    /// Retry policy for 429, 5xx and transport errors.
    #[serde(default)]
    pub retry: RetryConfig,
    /// Per-request timeout (connecting, sending and reading the answer).
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: NonZeroU64,
    /// Timeout of establishing a connection.
    #[serde(default = "default_connect_timeout_secs")]
    pub connect_timeout_secs: NonZeroU64,
    /// Stop writing when the location's advertised daily allowance left falls to this many
    /// requests, leaving room for the customer's other apps.
    #[serde(default)]
    pub daily_floor: u64,
    /// How long the API's search may lag writes ("a few seconds"): while an index of the
    /// location may miss contacts written that long before it was read, the planner confirms
    /// each row with the duplicate lookups, then reads what changed since once.
    #[serde(default = "default_search_lag_ms")]
    pub search_lag_ms: u64,
}

fn default_search_lag_ms() -> u64 {
    5000
}

/// Sinks.
#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SinkKind {
    /// Upsert into `target`.
    #[default]
    Ghl,
    /// Write a CSV file.
    Csv,
}

/// What the CSV sink does with a file that already exists at `load.path`.
#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum IfExists {
    /// Refuse before reading anything (exit 2): nothing is overwritten silently.
    #[default]
    Error,
    /// Write `<stem>-<UTC timestamp>.<ext>` beside it: one file per run.
    NewFile,
    /// Merge into it: rows with the same key (`id`, else `email`) are replaced, new ones added,
    /// none removed — an incremental export keeps a complete snapshot.
    Merge,
    /// Replace it (with a complete file, moved into place when the run completes).
    Replace,
}

/// Columns of the CSV sink.
#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CsvColumns {
    /// Every source column, as read.
    #[default]
    Source,
    /// The mapped contact fields, normalised, named as in the API.
    Mapped,
}

impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig {
            kind: SinkKind::default(),
            path: None,
            columns: CsvColumns::default(),
            if_exists: IfExists::default(),
            mode: LoadMode::default(),
            notes: Vec::new(),
            tasks: Vec::new(),
            followups: Vec::new(),
            lookup: LookupStrategy::default(),
            tags: TagMode::default(),
            phone_conflicts: PhoneConflicts::default(),
            on_busy: OnBusy::default(),
            fields: BTreeMap::new(),
            concurrency: None,
            rate_limit: RateLimitConfig::default(),
            retry: RetryConfig::default(),
            timeout_secs: default_timeout_secs(),
            connect_timeout_secs: default_connect_timeout_secs(),
            daily_floor: 0,
            search_lag_ms: default_search_lag_ms(),
        }
    }
}

/// Write modes.
#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LoadMode {
    /// `POST /contacts/upsert`: create or update per the location's duplicate rules.
    #[default]
    Upsert,
    /// Create new contacts only; rows matching an existing contact are left alone (unchanged).
    Create,
    /// Update existing contacts only; rows matching none are rejected (`not_found`).
    Update,
    /// Upsert, but rows whose contact already holds the same values send nothing (unchanged).
    Sync,
}

/// Which planning strategy to use (`load.lookup`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LookupStrategy {
    /// Whichever costs fewer read requests, estimated from the location's contact count and
    /// the file's row count.
    #[default]
    Auto,
    /// Always index the location.
    Index,
    /// Always look rows up one by one.
    PerRow,
}

/// Note cell formats.
#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum NoteFormat {
    /// One note per cell.
    #[default]
    Text,
    /// A JSON array of notes.
    Json,
}

/// Tag writes.
#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TagMode {
    /// The upsert's `tags` replaces all of the contact's tags.
    #[default]
    Replace,
    /// Add the row's tags, keep the others.
    Add,
    /// Remove the row's tags.
    Remove,
}

/// What a run does when another run is writing to the same location (`load.on_busy`).
#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OnBusy {
    /// Do not start: say who holds the location, exit 1.
    #[default]
    Skip,
    /// Wait until the other run ends (or this one is stopped).
    Wait,
}

/// What to do with a row whose phone belongs to another person's contact.
#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PhoneConflicts {
    /// Reject the row (`phone_conflict`), naming the contact or row that has the phone.
    #[default]
    Reject,
    /// Let the upsert update the contact that has the phone (its email becomes the row's).
    Merge,
}

/// Per-field write policy against an existing contact.
#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FieldPolicy {
    /// Write the row's value.
    #[default]
    Overwrite,
    /// Write only where the contact has no value yet.
    FillEmpty,
    /// Never change it on an existing contact (new contacts still get it).
    Never,
}

/// `load.rate_limit:`. The pace follows the limit the server advertises in `X-RateLimit-*`
/// headers (the documented 100 requests / 10 s until the first answer); `max_requests` and
/// `interval_ms` set a cap the pace never goes above.
#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Most requests per interval (a cap; none: the server's limit).
    #[serde(default)]
    pub max_requests: Option<NonZeroU32>,
    /// The cap's interval in milliseconds (default 10000 when `max_requests` is set).
    #[serde(default)]
    pub interval_ms: Option<NonZeroU64>,
    /// How long one request may keep waiting on 429 answers (waits the server asks for are not
    /// failures) before the run stops.
    #[serde(default = "default_max_wait_secs")]
    pub max_wait_secs: NonZeroU64,
}

impl RateLimitConfig {
    /// The cap the user set, if any.
    pub fn cap(&self) -> Option<ghl_client::ratelimit::Limit> {
        if self.max_requests.is_none() && self.interval_ms.is_none() {
            return None;
        }
        Some(ghl_client::ratelimit::Limit {
            max: self.max_requests.unwrap_or(default_max_requests()),
            interval: std::time::Duration::from_millis(
                self.interval_ms.unwrap_or(default_interval_ms()).get(),
            ),
        })
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            max_requests: None,
            interval_ms: None,
            max_wait_secs: default_max_wait_secs(),
        }
    }
}

/// `load.retry:`.
#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts per request, the first included.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: NonZeroU32,
    /// Base of the exponential backoff.
    #[serde(default = "default_base_delay_ms")]
    pub base_delay_ms: u64,
    /// Cap of one backoff sleep.
    #[serde(default = "default_max_delay_ms")]
    pub max_delay_ms: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: default_max_attempts(),
            base_delay_ms: default_base_delay_ms(),
            max_delay_ms: default_max_delay_ms(),
        }
    }
}

/// `report:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    /// The folder under which each run gets a new folder `<name>-<timestamp>` (relative to the
    /// pipeline file). Default: `out/` under the current directory. `--out` overrides it.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// Prefix cells that a spreadsheet would run as formulas with `'`.
    #[serde(default = "default_true")]
    pub escape_formulas: bool,
    /// `csv` (rejected.csv) or `xlsx` (rejected.xlsx as well, for people who fix rows in a
    /// spreadsheet; `retry-rejects` reads whichever was changed last).
    #[serde(default)]
    pub rejected_format: RejectedFormat,
    /// How long report folders (customer data) are kept; none: kept until removed by hand.
    #[serde(default)]
    pub keep: Option<Retention>,
}

/// `report.keep`: after each run, the pipeline's older report folders are removed — those of
/// runs that ended more than `days` ago, and those beyond the newest `runs`.
#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Keep the folders of runs that ended within this many days.
    #[serde(default)]
    pub days: Option<u32>,
    /// Keep the folders of this many newest runs.
    #[serde(default)]
    pub runs: Option<u32>,
}

/// The format of the rejected rows for people.
#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RejectedFormat {
    /// rejected.csv only.
    #[default]
    Csv,
    /// rejected.csv and rejected.xlsx.
    Xlsx,
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            dir: None,
            keep: None,
            rejected_format: RejectedFormat::Csv,
            escape_formulas: true,
        }
    }
}

pub(super) const fn default_true() -> bool {
    true
}
pub(super) const fn default_max_field_bytes() -> NonZeroU64 {
    NonZeroU64::new(1 << 20).expect("1 MiB is not zero")
}
pub(super) fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_owned()
}
fn default_require_any() -> Vec<RequiredKey> {
    vec![RequiredKey::Email, RequiredKey::Phone]
}
const fn default_max_requests() -> NonZeroU32 {
    NonZeroU32::new(100).expect("100 is not zero")
}
const fn default_interval_ms() -> NonZeroU64 {
    NonZeroU64::new(10_000).expect("10000 is not zero")
}
const fn default_max_attempts() -> NonZeroU32 {
    NonZeroU32::new(6).expect("6 is not zero")
}
const fn default_base_delay_ms() -> u64 {
    500
}
const fn default_max_delay_ms() -> u64 {
    30_000
}
const fn default_timeout_secs() -> NonZeroU64 {
    NonZeroU64::new(15).expect("15 is not zero")
}
const fn default_connect_timeout_secs() -> NonZeroU64 {
    NonZeroU64::new(5).expect("5 is not zero")
}
const fn default_max_wait_secs() -> NonZeroU64 {
    NonZeroU64::new(600).expect("600 is not zero")
}
