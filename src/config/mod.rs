//! Pipeline configuration: parse (YAML → [`model`]), interpolate `${VAR}`, and validate into a
//! [`Pipeline`] whose values are checked. Validation is pure computation: it opens no files and
//! makes no requests (the build phase in `app` does that). Errors carry `file:line:col`.

pub mod interpolate;
pub mod locate;
pub mod model;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::{ConfigError, ConfigErrors};
use crate::ghl::fields::{did_you_mean, ContactField};
pub use model::*;

/// The only pipeline format version this build reads.
pub const PIPELINE_VERSION: u32 = 1;

/// A validated pipeline: every value checked, every relative path resolved.
#[derive(Debug)]
pub struct Pipeline {
    /// Display name (the `name` key, or the file stem).
    pub name: String,
    /// The pipeline file.
    pub file: PathBuf,
    /// The source.
    pub source: Source,
    /// The target location.
    pub target: Target,
    /// GHL field ← source column, in field order.
    pub mapping: Vec<(ContactField, String)>,
    /// Dedup settings.
    pub dedup: DedupConfig,
    /// Validation rules.
    pub validate: ValidateRules,
    /// Load settings.
    pub load: LoadConfig,
    /// Report settings.
    pub report: ReportSettings,
}

/// A checked source.
#[derive(Debug, Clone)]
pub enum Source {
    /// A CSV file.
    Csv(CsvSource),
    /// A workbook.
    Excel(ExcelSource),
}

impl Source {
    /// The input file.
    pub fn path(&self) -> &Path {
        match self {
            Source::Csv(c) => &c.path,
            Source::Excel(e) => &e.path,
        }
    }
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
}

/// A checked target.
#[derive(Debug, Clone)]
pub struct Target {
    /// Location id.
    pub location_id: String,
    /// Parsed base URL.
    pub base_url: reqwest::Url,
    /// Env var holding the token.
    pub token_env: String,
}

/// Checked validation rules.
#[derive(Debug, Clone)]
pub struct ValidateRules {
    /// At least one of these must be present.
    pub require_any: Vec<RequiredKey>,
    /// Default region for national phone numbers.
    pub phone_default_region: Option<phonenumber::country::Id>,
}

/// Checked report settings.
#[derive(Debug, Clone)]
pub struct ReportSettings {
    /// Resolved output folder, if the pipeline sets one.
    pub dir: Option<PathBuf>,
    /// Whether to escape formula-like cells.
    pub escape_formulas: bool,
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
    let raw = std::fs::read_to_string(path)
        .map_err(|e| one(format!("cannot read pipeline file {}: {e}", path.display())))?;
    parse_str(path, &raw, env)
}

/// Parses and validates pipeline text that was read from `path`.
pub fn parse_str(
    path: &Path,
    raw: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Pipeline, ConfigErrors> {
    let shown = path.display().to_string();
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
    validate(path, &text, cfg)
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
    let mut out = match pos {
        Some((l, c)) => format!("{shown}:{l}:{c}: {message}{hint}"),
        None => format!("{shown}: {message}{hint}"),
    };
    if let Some((l, c)) = pos {
        if let Some(line) = text.lines().nth(l.saturating_sub(1)) {
            out.push_str(&format!(
                "\n  {l:>4} | {line}\n       | {}^",
                " ".repeat(c.saturating_sub(1))
            ));
        }
    }
    out
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

/// The validate phase: pure checks that turn the raw model into a [`Pipeline`], collecting every
/// problem rather than stopping at the first.
fn validate(path: &Path, text: &str, cfg: PipelineConfig) -> Result<Pipeline, ConfigErrors> {
    let shown = path.display().to_string();
    let mut errs: Vec<ConfigError> = Vec::new();
    let at = |keys: &[&str]| match locate::locate(text, keys) {
        Some((l, c)) => format!("{shown}:{l}:{c}: {}", keys.join(".")),
        None => format!("{shown}: {}", keys.join(".")),
    };
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let resolve = |p: &Path| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base_dir.join(p)
        }
    };

    if cfg.version != PIPELINE_VERSION {
        errs.push(ConfigError::new(format!(
            "{}: unsupported version {}, this build reads version {PIPELINE_VERSION}",
            at(&["version"]),
            cfg.version
        )));
    }

    let source = match cfg.source {
        SourceConfig::Csv(csv) => {
            let delimiter = match csv.delimiter {
                None => None,
                Some(d) if d.is_ascii() && d != '"' && d != '\n' && d != '\r' => Some(d as u8),
                Some(d) => {
                    errs.push(ConfigError::new(format!(
                        "{}: delimiter {d:?} must be one ASCII character other than a quote or newline \
                         (e.g. \",\", \";\", \"\\t\", \"|\"), or left out to sniff it",
                        at(&["source", "delimiter"]),
                    )));
                    None
                }
            };
            let mut encoding_of = |key: &str, label: &Option<String>| match label.as_deref() {
                None | Some("auto") => None,
                Some(l) => match encoding_rs::Encoding::for_label(l.trim().as_bytes()) {
                    Some(e) => Some(e),
                    None => {
                        errs.push(ConfigError::new(format!(
                            "{}: `{l}` is not an encoding label (e.g. utf-8, windows-1252, \
                             iso-8859-1, shift_jis, utf-16le, gb18030)",
                            at(&["source", key])
                        )));
                        None
                    }
                },
            };
            let encoding = encoding_of("encoding", &csv.encoding);
            let fallback_encoding = encoding_of("fallback_encoding", &csv.fallback_encoding);
            Source::Csv(CsvSource {
                path: resolve(&csv.path),
                delimiter,
                has_header: csv.has_header,
                encoding,
                fallback_encoding,
                max_field_bytes: csv.max_field_bytes.get(),
                duplicate_headers: csv.duplicate_headers,
            })
        }
        SourceConfig::Excel(x) => Source::Excel(ExcelSource {
            path: resolve(&x.path),
            sheet: x.sheet,
            header_row: x.header_row,
            date_columns: x.date_columns,
            duplicate_headers: x.duplicate_headers,
        }),
    };

    let t = cfg.target;
    if t.location_id.trim().is_empty() {
        errs.push(ConfigError::new(format!(
            "{}: must not be empty",
            at(&["target", "location_id"])
        )));
    }
    let base_url = match reqwest::Url::parse(&t.base_url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => u,
        Ok(_) | Err(_) => {
            errs.push(ConfigError::new(format!(
                "{}: `{}` is not an http(s) URL (the production API is {DEFAULT_BASE_URL})",
                at(&["target", "base_url"]),
                t.base_url
            )));
            reqwest::Url::parse(DEFAULT_BASE_URL).expect("constant URL parses")
        }
    };
    let var_ok = !t.auth.token_env.is_empty()
        && t.auth
            .token_env
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !var_ok {
        errs.push(ConfigError::new(format!(
            "{}: `{}` is not an environment variable name; write the variable's name \
             (e.g. GHL_TOKEN), never the token itself",
            at(&["target", "auth", "token_env"]),
            t.auth.token_env
        )));
    }
    let target = Target {
        location_id: t.location_id,
        base_url,
        token_env: t.auth.token_env,
    };

    let mut mapping = Vec::new();
    if cfg.mapping.is_empty() {
        errs.push(ConfigError::new(format!(
            "{}: maps no field",
            at(&["mapping"])
        )));
    }
    for (field, column) in &cfg.mapping {
        match ContactField::from_api_name(field) {
            Some(f) => mapping.push((f, column.clone())),
            None => {
                let names = ContactField::ALL.map(ContactField::api_name);
                let hint = did_you_mean(field, names)
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                errs.push(ConfigError::new(format!(
                    "{}: `{field}` is not a standard contact field{hint}; valid fields: {}",
                    at(&["mapping", field]),
                    names.join(", ")
                )));
            }
        }
    }
    mapping.sort_by_key(|(f, _)| *f);
    let mapped = |f: ContactField| mapping.iter().any(|(m, _)| *m == f);

    if cfg.dedup.by == DedupKey::Email && !mapped(ContactField::Email) && !cfg.mapping.is_empty() {
        errs.push(ConfigError::new(format!(
            "{}: dedup by email needs `mapping.email`; map an email column or set `by: none`",
            at(&["dedup", "by"])
        )));
    }
    let required_field = |k: &RequiredKey| match k {
        RequiredKey::Email => ContactField::Email,
        RequiredKey::Phone => ContactField::Phone,
    };
    let require = &cfg.validate.require_any;
    if !require.is_empty()
        && !cfg.mapping.is_empty()
        && !require.iter().any(|k| mapped(required_field(k)))
    {
        let names: Vec<String> = require
            .iter()
            .map(|k| required_field(k).to_string())
            .collect();
        errs.push(ConfigError::new(format!(
            "{}: every row needs one of {} but the mapping has none of them; map one, or set `require_any: []`",
            at(&["validate", "require_any"]),
            names.join(", ")
        )));
    }
    let phone_default_region = match &cfg.validate.phone_default_region {
        None => None,
        Some(r) => match phonenumber::country::Id::from_str(&r.to_ascii_uppercase()) {
            Ok(id) => Some(id),
            Err(_) => {
                errs.push(ConfigError::new(format!(
                    "{}: `{r}` is not an ISO 3166 region code (e.g. US, GB, DE, AU)",
                    at(&["validate", "phone_default_region"])
                )));
                None
            }
        },
    };

    let load = cfg.load;
    if load.concurrency.get() > 64 {
        errs.push(ConfigError::new(format!(
            "{}: {} is too many requests in flight; the API allows 100 per 10 s, use 1..=64",
            at(&["load", "concurrency"]),
            load.concurrency
        )));
    }
    if load.retry.base_delay_ms > load.retry.max_delay_ms {
        errs.push(ConfigError::new(format!(
            "{}: base_delay_ms ({}) is larger than max_delay_ms ({})",
            at(&["load", "retry"]),
            load.retry.base_delay_ms,
            load.retry.max_delay_ms
        )));
    }

    if !errs.is_empty() {
        return Err(ConfigErrors(errs));
    }
    let name = cfg.name.unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "pipeline".into())
    });
    Ok(Pipeline {
        name,
        file: path.to_path_buf(),
        source,
        target,
        mapping,
        dedup: cfg.dedup,
        validate: ValidateRules {
            require_any: cfg.validate.require_any,
            phone_default_region,
        },
        load,
        report: ReportSettings {
            dir: cfg.report.dir.as_deref().map(resolve),
            escape_formulas: cfg.report.escape_formulas,
        },
    })
}

#[cfg(test)]
mod tests;
