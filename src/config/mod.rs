//! Pipeline configuration: parse (YAML → [`model`]), interpolate `${VAR}`, and validate into a
//! [`Pipeline`] whose values are checked. Validation is pure computation: it opens no files and
//! makes no requests (the build phase in `app` does that). Errors carry `file:line:col`.

mod followup_model;
pub mod interpolate;
pub mod locate;
pub mod mapping;
pub mod model;
mod ops_model;
mod source_model;
pub mod sql;
mod target_model;
mod validate;

use std::path::{Path, PathBuf};

use crate::error::{ConfigError, ConfigErrors};
use ghl_client::fields::{did_you_mean, ContactField};
pub use model::*;
pub use sql::{PostgresSource, SqliteSource};

/// The only pipeline format version this build reads.
pub const PIPELINE_VERSION: u32 = 1;

/// A validated pipeline: every value checked, every relative path resolved.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// Display name (the `name` key, or the file stem).
    pub name: String,
    /// The pipeline file.
    pub file: PathBuf,
    /// The source.
    pub source: Source,
    /// The target location (absent when the sink is a CSV file).
    pub target: Option<Target>,
    /// Where rows go.
    pub sink: Sink,
    /// GHL field ← rule, in field order.
    pub mapping: Vec<(ContactField, mapping::FieldRule)>,
    /// Custom field (fieldKey or name, as written) ← rule.
    pub custom_fields: Vec<(String, mapping::FieldRule)>,
    /// Dedup settings.
    pub dedup: DedupConfig,
    /// Validation rules.
    pub validate: ValidateRules,
    /// Load settings.
    pub load: LoadConfig,
    /// Report settings.
    pub report: ReportSettings,
    /// The run's webhook, if any.
    pub notify: Option<NotifyConfig>,
    /// When `serve` runs it.
    pub schedule: Option<crate::schedule::Schedule>,
    /// The folder a file source reads new files from (`source.inbox`); the source's `path` is
    /// then each ready file in turn.
    pub inbox: Option<Inbox>,
    /// Several target locations in one run (`target.locations`, `target.location_from`); the
    /// target's `location_id` is then [`Fanout::PLACEHOLDER`] until each location's part sets it.
    pub fanout: Option<Fanout>,
    /// The column a multi-location run routed this location's rows by (its part's run reads it
    /// but maps nothing from it).
    pub routed_by: Option<String>,
}

/// A checked multi-location target.
#[derive(Debug, Clone)]
pub struct Fanout {
    /// Which locations.
    pub locations: LocationSet,
    /// How rows are routed; `None`: every location gets every row.
    pub route: Option<Route>,
    /// Locations loaded at the same time.
    pub parallel: usize,
}

impl Fanout {
    /// The target's `location_id` in a multi-location pipeline (never sent anywhere).
    pub const PLACEHOLDER: &'static str = "*";
}

impl Pipeline {
    /// `file:line:col: a.b.c` for the key at `keys` in the pipeline's file (`file: a.b.c` when
    /// it cannot be found), for errors found after loading (a variable that is not set).
    pub fn at(&self, keys: &[&str]) -> String {
        let pos = std::fs::read_to_string(&self.file)
            .ok()
            .and_then(|t| locate::locate(&t, keys));
        match pos {
            Some((l, c)) => format!("{}:{l}:{c}: {}", self.file.display(), keys.join(".")),
            None => format!("{}: {}", self.file.display(), keys.join(".")),
        }
    }

    /// The pipeline as one location's run of a multi-location target sees it (a commands on
    /// one location's run folder acts on that location only). No change for one location.
    pub fn for_location(mut self, location: &str) -> Pipeline {
        if let Some(f) = self.fanout.take() {
            if let Some(t) = &mut self.target {
                t.location_id = location.to_owned();
            }
            self.routed_by = f.route.map(|r| r.column);
        }
        self
    }
}

/// `target.locations`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocationSet {
    /// These ids.
    List(Vec<String>),
    /// Every location the agency grant is installed on, optionally filtered by name.
    Installed {
        /// GHL's `query` filter.
        query: Option<String>,
    },
    /// The ids the routing column holds (or its map's values).
    Routed,
}

/// `target.location_from`.
#[derive(Debug, Clone)]
pub struct Route {
    /// The column.
    pub column: String,
    /// Lower-cased trimmed cell value → location id; empty: the cell is the id.
    pub map: std::collections::BTreeMap<String, String>,
}

/// A checked `source.inbox`.
#[derive(Debug, Clone)]
pub struct Inbox {
    /// The folder watched.
    pub dir: PathBuf,
    /// The file-name pattern, as written.
    pub pattern: String,
    /// The pattern, compiled.
    pub matcher: globset::GlobMatcher,
    /// Where imported files go.
    pub done: PathBuf,
    /// Where unreadable files go.
    pub failed: PathBuf,
    /// How long a file must be unchanged before it is read.
    pub settle: std::time::Duration,
}

/// A checked source.
#[derive(Debug, Clone)]
pub enum Source {
    /// A CSV file.
    Csv(CsvSource),
    /// A workbook.
    Excel(ExcelSource),
    /// A GHL location.
    Ghl(GhlSource),
    /// A query on an SQLite database.
    Sqlite(SqliteSource),
    /// A query on a PostgreSQL database.
    Postgres(PostgresSource),
}

impl Source {
    /// The file read, for file sources.
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            Source::Csv(c) => Some(&c.path),
            Source::Excel(x) => Some(&x.path),
            Source::Sqlite(q) => Some(&q.path),
            Source::Postgres(_) => None,
            Source::Ghl(_) => None,
        }
    }

    /// What the source is, for messages: a file path or `ghl location <id>`.
    pub fn describe(&self) -> String {
        match self {
            Source::Csv(c) => c.path.display().to_string(),
            Source::Excel(e) => e.path.display().to_string(),
            Source::Sqlite(q) => q.path.display().to_string(),
            Source::Postgres(q) => format!("the PostgreSQL database in ${}", q.url_env),
            Source::Ghl(g) => format!("GHL location {}", g.api.location_id),
        }
    }
}

/// A checked GHL source.
#[derive(Debug, Clone)]
pub struct GhlSource {
    /// Location, URL and token variable.
    pub api: Target,
    /// Search or the deprecated list.
    pub method: ReadMethod,
    /// Page size (checked against the method's maximum).
    pub page_size: u32,
    /// Search filters (the `since` filter included).
    pub filters: Vec<serde_json::Value>,
    /// Free-text query.
    pub query: Option<String>,
    /// Incremental reading.
    pub incremental: Option<CursorField>,
    /// Per-contact extras.
    pub include: Vec<Include>,
    /// Custom-field columns.
    pub custom_fields: bool,
    /// Requests in flight for per-contact extras.
    pub concurrency: usize,
}

/// Requests in flight for a GHL source's per-contact extras when `load.concurrency` is not set
/// (the throttle still holds them to the rate limit).
pub const GHL_READS_IN_FLIGHT: usize = 8;

/// A checked sink.
#[derive(Debug, Clone)]
pub enum Sink {
    /// Upsert into the target location.
    Ghl,
    /// Write a CSV file.
    Csv {
        /// Resolved output path.
        path: PathBuf,
        /// Which columns.
        columns: CsvColumns,
        /// What to do when the file exists.
        if_exists: IfExists,
    },
}

/// A checked CSV source.
#[derive(Debug, Clone)]
pub struct CsvSource {
    /// Resolved path.
    pub path: PathBuf,
    /// Delimiter byte; `None` = sniff.
    pub delimiter: Option<u8>,
    /// Whether row 1 is a header.
    pub has_header: bool,
    /// Forced encoding; `None` = BOM, else UTF-8.
    pub encoding: Option<&'static encoding_rs::Encoding>,
    /// Encoding for rows that are not UTF-8 (auto mode only).
    pub fallback_encoding: Option<&'static encoding_rs::Encoding>,
    /// Longest field allowed, in bytes.
    pub max_field_bytes: u64,
    /// Repeated column names.
    pub duplicate_headers: DuplicateHeaders,
    /// When the file is one of our rejected.csv reports (`retry-rejects`): pass rows rejected as
    /// `duplicate_in_file` straight through as rejects again instead of replaying them (a blind
    /// replay would overwrite the contact their kept duplicate went to).
    pub hold_duplicates: bool,
    /// When the file is one location's part of a multi-location run: its last column,
    /// [`SOURCE_ROW_COLUMN`], holds each row's number in the original file; it is dropped and
    /// used as the row number, so reports name the rows of the file the user gave.
    pub source_rows: bool,
}

/// The column a location's part of a multi-location run keeps the original row numbers in:
/// `ROW`, or `ROW;BITS` when some cells were spreadsheet numbers (`Record::numeric`, so the
/// hints about numbers that lost a leading `0` survive the routing).
pub const SOURCE_ROW_COLUMN: &str = "_source_row";

/// A record's [`SOURCE_ROW_COLUMN`] cell.
pub fn source_row_cell(rec: &crate::record::Record) -> String {
    match rec.numeric {
        0 => rec.row.to_string(),
        bits => format!("{};{bits}", rec.row),
    }
}

impl CsvSource {
    /// A plain UTF-8 source with defaults (tests, tools).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        CsvSource {
            path: path.into(),
            delimiter: None,
            has_header: true,
            encoding: None,
            fallback_encoding: None,
            max_field_bytes: 1 << 20,
            duplicate_headers: DuplicateHeaders::Error,
            hold_duplicates: false,
            source_rows: false,
        }
    }
}

/// A checked workbook source.
#[derive(Debug, Clone)]
pub struct ExcelSource {
    /// Resolved path.
    pub path: PathBuf,
    /// Which sheet.
    pub sheet: Option<SheetRef>,
    /// Where the header is.
    pub header_row: HeaderRow,
    /// Columns holding date serials.
    pub date_columns: Vec<String>,
    /// Repeated column names.
    pub duplicate_headers: DuplicateHeaders,
    /// As for [`CsvSource::hold_duplicates`] (a rejected.xlsx read back by `retry-rejects`).
    pub hold_duplicates: bool,
}

impl ExcelSource {
    /// The first sheet of a workbook, header found automatically (tests, tools).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        ExcelSource {
            path: path.into(),
            sheet: None,
            header_row: HeaderRow::Auto,
            date_columns: Vec::new(),
            duplicate_headers: DuplicateHeaders::Error,
            hold_duplicates: false,
        }
    }
}

/// A checked target.
#[derive(Debug, Clone)]
pub struct Target {
    /// Location id.
    pub location_id: String,
    /// Parsed base URL.
    pub base_url: reqwest::Url,
    /// How to authenticate.
    pub auth: TargetAuth,
}

/// A checked `auth:` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetAuth {
    /// A Private Integration Token in this environment variable.
    Token {
        /// The variable's name.
        env: String,
    },
    /// OAuth tokens from the token store; the client secret in this variable.
    OAuth {
        /// The variable's name.
        client_secret_env: String,
    },
    /// Location tokens minted from an agency grant in the token store.
    Agency {
        /// The client secret's variable.
        client_secret_env: String,
        /// The agency, when the store holds several.
        company_id: Option<String>,
    },
}

impl TargetAuth {
    /// The client secret's variable of an OAuth or agency grant.
    pub fn client_secret_env(&self) -> Option<&str> {
        match self {
            TargetAuth::Token { .. } => None,
            TargetAuth::OAuth { client_secret_env }
            | TargetAuth::Agency {
                client_secret_env, ..
            } => Some(client_secret_env),
        }
    }
}

/// Checked validation rules.
#[derive(Debug, Clone)]
pub struct ValidateRules {
    /// At least one of these must be present.
    pub require_any: Vec<RequiredKey>,
    /// Default region for national phone numbers.
    pub phone_default_region: Option<phonenumber::country::Id>,
    /// Fields every row must have.
    pub required: Vec<ContactField>,
    /// Longest value per field, in characters.
    pub max_length: Vec<(ContactField, usize)>,
    /// Phone extensions.
    pub phone_extension: ExtensionPolicy,
    /// What an invalid value comes to when its rule does not say.
    pub invalid_values: mapping::OnInvalid,
}

/// Checked report settings.
#[derive(Debug, Clone)]
pub struct ReportSettings {
    /// Resolved output folder, if the pipeline sets one.
    pub dir: Option<PathBuf>,
    /// Whether to escape formula-like cells.
    pub escape_formulas: bool,
    /// Also write rejected.xlsx.
    pub rejected_format: model::RejectedFormat,
    /// Report folders kept (`report.keep`).
    pub keep: Option<model::Retention>,
}

/// Reads, interpolates, parses and validates a pipeline file, reading variables from the process
/// environment.
pub fn load(path: &Path) -> Result<Pipeline, ConfigErrors> {
    load_with_env(path, |k| std::env::var(k).ok())
}

/// Like [`load`] with an explicit variable lookup (tests).
pub fn load_with_env(
    path: &Path,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Pipeline, ConfigErrors> {
    let shown = path.display();
    let data = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .filter(|e| {
            ["csv", "tsv", "txt", "xlsx", "xlsm", "xlsb", "xls", "ods"].contains(&e.as_str())
        });
    if let Some(ext) = data {
        return Err(one(format!(
            "{shown} is a data file (.{ext}), not a pipeline: a pipeline (a .yaml file) says how to read it \
             and where to load it. Make one with `ghl-import init {shown}`, check it with `ghl-import \
             validate --sandbox <pipeline.yaml>`, then run that pipeline"
        )));
    }
    let raw = std::fs::read_to_string(path).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_owned(),
            std::io::ErrorKind::IsADirectory => {
                "it is a folder (to run every pipeline in a folder, use `ghl-import serve <folder>`)".to_owned()
            }
            std::io::ErrorKind::InvalidData => "it is not a text file".to_owned(),
            _ => crate::error::io_words(&e),
        };
        one(format!("cannot read pipeline file {shown}: {why}"))
    })?;
    parse_str(path, &raw, env)
}

/// Parses and validates pipeline text that was read from `path`.
pub fn parse_str(
    path: &Path,
    raw: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Pipeline, ConfigErrors> {
    let shown = path.display().to_string();
    if raw.trim().is_empty() {
        return Err(one(format!("{shown}: the pipeline file is empty; start from pipelines/quickstart.yaml or `ghl-import init <file>`")));
    }
    let text = interpolate::interpolate(raw, env).map_err(|errs| {
        let mut out = Vec::new();
        for m in errs.missing {
            out.push(ConfigError::new(format!(
                "{shown}:{}:{}: environment variable `{}` is not set (used in `{}`); \
                 set it, or give a default with `${{{}:-value}}`",
                m.line,
                m.column,
                m.name,
                m.line_text.trim(),
                m.name
            )));
        }
        for b in errs.malformed {
            out.push(ConfigError::new(format!(
                "{shown}:{}:{}: {}",
                b.line, b.column, b.reason
            )));
        }
        ConfigErrors(out)
    })?;
    let cfg: PipelineConfig =
        serde_saphyr::from_str(&text).map_err(|e| one(yaml_error(&shown, &text, &e)))?;
    validate::validate(path, &text, cfg)
}

fn one(msg: String) -> ConfigErrors {
    ConfigErrors(vec![ConfigError::new(msg)])
}

/// Renders a YAML/serde error as `file:line:col: message (did you mean …?)` plus the offending line.
fn yaml_error(shown: &str, text: &str, e: &serde_saphyr::Error) -> String {
    let full = e.to_string();
    // serde-saphyr renders "error: line L column C: <message>" then a snippet; keep the message.
    let first = full.lines().next().unwrap_or_default();
    let message = first
        .split_once(": ")
        .and_then(|(_, rest)| rest.split_once(": ").map(|(_, m)| m))
        .unwrap_or(first)
        .to_owned();
    let mut pos = e
        .location()
        .map(|l| (l.line() as usize, l.column() as usize));
    let message = plain_message(&message, pos.and_then(|(l, c)| key_at(text, l, c)));
    let mut hint = String::new();
    if let Some((kind, bad, expected)) = parse_unknown(&message) {
        // Positions of errors inside an internally tagged enum point at the parent key; look
        // for the offending key below it.
        if kind == "field" {
            let start = pos.map(|(l, _)| l.saturating_sub(1)).unwrap_or(0);
            if let Some(p) = locate::locate_from(text, start, &[bad.as_str()]) {
                pos = Some(p);
            }
        }
        if let Some(s) = did_you_mean(&bad, expected.iter().map(String::as_str)) {
            hint = format!(" (did you mean `{s}`?)");
        }
    }
    let message = redact_secrets(&message);
    let mut out = match pos {
        Some((l, c)) => format!("{shown}:{l}:{c}: {message}{hint}"),
        None => format!("{shown}: {message}{hint}"),
    };
    if let Some((l, c)) = pos {
        if let Some(line) = text.lines().nth(l.saturating_sub(1)).map(redact_secrets) {
            out.push_str(&format!(
                "\n  {l:>4} | {line}\n       | {}^",
                " ".repeat(c.saturating_sub(1))
            ));
        }
    }
    out
}

/// `text` with every word that looks like a secret — 30 or more letters, digits, `-`, `_` or
/// `.`, with both letters and digits (a token, a key, a JWT) — replaced by `[hidden]`: an error
/// message quoting a line of the pipeline never shows a token pasted into it.
pub fn redact_secrets(text: &str) -> String {
    let word = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(word) {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let end = tail.find(|c: char| !word(c)).unwrap_or(tail.len());
        let w = &tail[..end];
        let secret = w.len() >= 30
            && w.chars().any(|c| c.is_ascii_digit())
            && w.chars().any(|c| c.is_ascii_alphabetic());
        out.push_str(if secret { "[hidden]" } else { w });
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// The YAML library's message in the user's words: what is wrong and what is expected, naming
/// the key when it is known.
fn plain_message(message: &str, key: Option<String>) -> String {
    let named = |what: &str| match &key {
        Some(k) => format!("`{k}`: {what}"),
        None => what.to_owned(),
    };
    if let Some(rest) = message.strip_prefix("duplicate mapping key: ") {
        let k = rest.split(',').next().unwrap_or(rest).trim();
        return format!("the key `{k}` appears twice in the same section; keep one of them");
    }
    if message.contains("expected a nonzero") {
        return named("expected a whole number of at least 1");
    }
    let whole = [
        "invalid u8",
        "invalid u16",
        "invalid u32",
        "invalid u64",
        "invalid usize",
    ];
    if whole.iter().any(|w| message.starts_with(w))
        || message.contains("expected u32")
        || message.contains("expected u64")
    {
        return named("expected a whole number (0 or more; no sign, no decimals)");
    }
    if message.starts_with("expected string scalar") {
        return named("expected a single value here, not a list or a section");
    }
    if message.starts_with("multiple YAML documents") {
        return "the file holds more than one YAML document (a `---` line starts another one); a \
                pipeline is one document: remove the `---` line and what follows, or put each \
                pipeline in a file of its own"
            .to_owned();
    }
    if message.starts_with("expected mapping start") || message.starts_with("expected a mapping") {
        return named("expected a section (`key: value` lines below it, or `{key: value}`), not a single value");
    }
    if message.starts_with("expected sequence start") {
        return named("expected a list (`[a, b]`, or `- a` lines below it)");
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        // serde: "invalid type: sequence, expected …" — what was found in the user's words.
        let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
        let found = match found.split_once(' ') {
            Some(("string", v)) => format!("the text {v}"),
            Some(("integer" | "floating", v)) => format!("the number {}", v.trim_matches('`')),
            Some(("boolean", v)) => format!("`{}` (true/false)", v.trim_matches('`')),
            _ => match found {
                "sequence" => "a list".to_owned(),
                "map" => "a section (keys and values)".to_owned(),
                "unit value" | "null" => "nothing (an empty value)".to_owned(),
                other => other.to_owned(),
            },
        };
        return named(&match expected {
            "" => format!("{found} is not accepted here"),
            e => format!("found {found}, expected {e}"),
        });
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        return format!("{} is required here", rest.trim());
    }
    if message.contains("budget") || message.contains("recursion") || message.contains("depth") {
        return format!(
            "the file is too large or too deeply nested to be a pipeline ({message}); repeated aliases (`*name`) \
             expand to a copy each — write the values out"
        );
    }
    message.to_owned()
}

/// The YAML key at, or just before, line `l` column `c` (1-based).
fn key_at(text: &str, l: usize, c: usize) -> Option<String> {
    let line = text.lines().nth(l.checked_sub(1)?)?;
    let at = c.saturating_sub(1).min(line.len());
    let ident = |s: &str| -> Option<String> {
        let s = s.trim_start();
        let end = s.find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))?;
        (end > 0 && s[end..].trim_start().starts_with(':')).then(|| s[..end].to_owned())
    };
    if let Some(k) = line.get(at..).and_then(ident) {
        return Some(k);
    }
    // `key: value` with the position on the value: the identifier before the last `:`.
    let before = line.get(..at)?.trim_end().strip_suffix(':')?;
    let start = before
        .rfind(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
        .map_or(0, |i| i + 1);
    let k = &before[start..];
    (!k.is_empty()).then(|| k.to_owned())
}

/// Splits "unknown field `x`, expected one of a, b" (or "unknown variant …", "expected `a` or `b`").
fn parse_unknown(message: &str) -> Option<(String, String, Vec<String>)> {
    let rest = message.strip_prefix("unknown ")?;
    let (kind, rest) = rest.split_once(' ')?;
    let rest = rest.strip_prefix('`')?;
    let (bad, rest) = rest.split_once('`')?;
    let expected_txt = rest
        .trim_start_matches(", ")
        .trim_start_matches("expected one of ")
        .trim_start_matches("expected ");
    let expected = expected_txt
        .split([',', ' '])
        .map(|s| s.trim().trim_matches('`'))
        .filter(|s| !s.is_empty() && *s != "or")
        .map(str::to_owned)
        .collect();
    Some((kind.to_owned(), bad.to_owned(), expected))
}

#[cfg(test)]
mod tests;
