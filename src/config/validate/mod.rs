//! The validate phase: pure checks that turn the raw model into a [`Pipeline`], collecting every
//! problem (each with `file:line:col` where the key can be located) rather than stopping at the
//! first. No files are opened and no requests made here.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::locate;
use super::model::*;
use super::PIPELINE_VERSION;
use super::{
    CsvSource, ExcelSource, GhlSource, Inbox, Pipeline, ReportSettings, Sink, Source, Target,
    ValidateRules,
};
use crate::config::TargetAuth;
use crate::error::{ConfigError, ConfigErrors};
use ghl_client::fields::{did_you_mean, ContactField};

mod sql;
mod target;

struct Checker<'a> {
    shown: String,
    text: &'a str,
    base_dir: PathBuf,
    errs: Vec<ConfigError>,
    /// `source.inbox`, once checked.
    inbox: Option<Inbox>,
    /// `target.locations` / `target.location_from`, once checked.
    fanout: Option<super::Fanout>,
}

impl Checker<'_> {
    fn at(&self, keys: &[&str]) -> String {
        match locate::locate(self.text, keys) {
            Some((l, c)) => format!("{}:{l}:{c}: {}", self.shown, keys.join(".")),
            None => format!("{}: {}", self.shown, keys.join(".")),
        }
    }

    fn err(&mut self, keys: &[&str], msg: impl std::fmt::Display) {
        let e = ConfigError::new(format!("{}: {msg}", self.at(keys)));
        self.errs.push(e);
    }

    fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    /// `load.type` and `load.path`: where rows go.
    fn sink(&mut self, load: &LoadConfig) -> Sink {
        let c = self;
        match (load.kind, &load.path) {
            (SinkKind::Ghl, None) => Sink::Ghl,
            (SinkKind::Ghl, Some(_)) => {
                c.err(&["load", "path"], "only applies to `type: csv`");
                Sink::Ghl
            }
            (SinkKind::Csv, Some(p)) => Sink::Csv {
                path: c.resolve(p),
                columns: load.columns,
                if_exists: load.if_exists,
            },
            (SinkKind::Csv, None) => {
                c.err(
                    &["load", "type"],
                    "`csv` needs `load.path`, the file to write",
                );
                Sink::Csv {
                    path: PathBuf::new(),
                    columns: load.columns,
                    if_exists: load.if_exists,
                }
            }
        }
    }

    /// `mapping`: standard contact fields, each with a rule that compiles.
    fn mapping(
        &mut self,
        spec: &std::collections::BTreeMap<String, super::mapping::FieldSpec>,
        sink: &Sink,
    ) -> Vec<(ContactField, super::mapping::FieldRule)> {
        let c = self;
        let mut mapping = Vec::new();
        if spec.is_empty() && matches!(sink, Sink::Ghl) {
            c.err(&["mapping"], "maps no field");
        }
        for (field, spec) in spec {
            match ContactField::from_api_name(field) {
                Some(f) => match super::mapping::compile(spec, f == ContactField::Tags) {
                    Ok(rule)
                        if matches!(rule.input, super::mapping::Input::FirstOf(_))
                            && matches!(f, ContactField::Country | ContactField::Dnd) =>
                    {
                        c.err(
                            &["mapping", field, "first_of"],
                            format!("does not apply to `{field}`; use `column:`"),
                        );
                    }
                    Ok(rule) => mapping.push((f, rule)),
                    Err(problems) => {
                        for (key, msg) in problems {
                            match key {
                                Some(k) => c.err(&["mapping", field, k], msg),
                                None => c.err(&["mapping", field], msg),
                            }
                        }
                    }
                },
                None => {
                    let names = ContactField::ALL.map(ContactField::api_name);
                    let hint = did_you_mean(field, names)
                        .map(|s| format!(" (did you mean `{s}`?)"))
                        .unwrap_or_default();
                    c.err(
                        &["mapping", field],
                        format!(
                            "`{field}` is not a standard contact field{hint}; valid fields: {}",
                            names.join(", ")
                        ),
                    );
                }
            }
        }
        mapping
    }

    /// `validate`: the default phone region, and the fields `required` and `max_length` name
    /// (standard, and mapped).
    fn rules(
        &mut self,
        v: ValidateConfig,
        mapped: &dyn Fn(ContactField) -> bool,
        names: [&'static str; ContactField::ALL.len()],
    ) -> ValidateRules {
        let c = self;
        let phone_default_region = match &v.phone_default_region {
            None => None,
            Some(r) => match phonenumber::country::Id::from_str(&r.to_ascii_uppercase()) {
                Ok(id) => Some(id),
                Err(_) => {
                    c.err(
                        &["validate", "phone_default_region"],
                        format!("`{r}` is not an ISO 3166 region code (e.g. US, GB, DE, AU)"),
                    );
                    None
                }
            },
        };
        let mut field_list = |key: &str, list: Vec<&String>| -> Vec<ContactField> {
            let mut out = Vec::new();
            for f in list {
                match ContactField::from_api_name(f) {
                    Some(cf) if mapped(cf) => out.push(cf),
                    Some(_) => c.err(
                        &["validate", key],
                        format!("`{f}` is not mapped, so no row could have it"),
                    ),
                    None => {
                        let hint = did_you_mean(f, names)
                            .map(|s| format!(" (did you mean `{s}`?)"))
                            .unwrap_or_default();
                        c.err(
                            &["validate", key],
                            format!("`{f}` is not a standard contact field{hint}"),
                        );
                    }
                }
            }
            out
        };
        let required = field_list("required", v.required.iter().collect());
        let max_fields = field_list("max_length", v.max_length.keys().collect());
        let max_length: Vec<(ContactField, usize)> = max_fields
            .into_iter()
            .zip(v.max_length.values().map(|n| n.get()))
            .collect();
        ValidateRules {
            require_any: v.require_any,
            phone_default_region,
            required,
            max_length,
            phone_extension: v.phone_extension,
            invalid_values: v.invalid_values,
        }
    }

    /// `notify` and `schedule`: a variable's name for the webhook, a cron pattern and zone.
    fn ops(
        &mut self,
        notify: Option<&NotifyConfig>,
        schedule: Option<&ScheduleConfig>,
    ) -> Option<crate::schedule::Schedule> {
        let c = self;
        let cfg_notify = notify;
        if let Some(n) = cfg_notify {
            let v = &n.webhook_url_env;
            if v.is_empty() || !v.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_') {
                c.err(
                    &["notify", "webhook_url_env"],
                    not_a_variable_name(v, "SLACK_WEBHOOK_URL", "the URL"),
                );
            }
            if n.on.is_empty() {
                c.err(
                    &["notify", "on"],
                    "is empty: name when to notify (success, failure, rejects, daily_floor)",
                );
            }
        }
        schedule.and_then(|sc| {
            crate::schedule::Schedule::new(&sc.cron, sc.timezone.as_deref(), sc.catch_up)
                .map_err(|e| {
                    let key = if e.contains("IANA") {
                        "timezone"
                    } else {
                        "cron"
                    };
                    c.err(&["schedule", key], e)
                })
                .ok()
        })
    }

    /// `load`: fields named in policies are mapped, settings that need a GHL target have one,
    /// numbers in range, follow-up files resolved.
    fn load_rules(
        &mut self,
        load: LoadConfig,
        sink: &Sink,
        mapped: &dyn Fn(ContactField) -> bool,
        names: [&'static str; ContactField::ALL.len()],
    ) -> LoadConfig {
        let c = self;
        for f in load.fields.keys() {
            match ContactField::from_api_name(f) {
                Some(cf) if mapped(cf) => {}
                Some(_) => c.err(
                    &["load", "fields", f],
                    format!("`{f}` is not mapped, so no row writes it"),
                ),
                None => {
                    let hint = did_you_mean(f, names)
                        .map(|s| format!(" (did you mean `{s}`?)"))
                        .unwrap_or_default();
                    c.err(
                        &["load", "fields", f],
                        format!("`{f}` is not a standard contact field{hint}"),
                    );
                }
            }
        }
        if load.mode != LoadMode::Upsert && !matches!(sink, Sink::Ghl) {
            c.err(&["load", "mode"], "applies to a GHL target");
        }
        if let Some(n) = load
            .concurrency
            .filter(|n| n.get() as usize > ghl_client::inflight::MOST)
        {
            c.err(
                &["load", "concurrency"],
                format!(
                    "{n} is too many requests in flight for one location; use 1..={} or leave the key \
                     out (the tool then sizes it from the rate limit and the answer times)",
                    ghl_client::inflight::MOST
                ),
            );
        }
        check_bounds(c, &load);
        let mut load = load;
        for (i, f) in load.followups.iter_mut().enumerate() {
            f.path = c.resolve(&f.path);
            if !matches!(sink, Sink::Ghl) {
                c.err(&["load", "followups"], "applies to a GHL target");
            }
            if f.notes.is_empty() && f.tasks.is_empty() && f.tags.is_none() {
                c.err(
                    &["load", "followups"],
                    format!(
                        "entry {} ({}) names no notes, tasks or tags: add `notes:`, `tasks:` or `tags:`",
                        i + 1,
                        f.path.display()
                    ),
                );
            }
            if f.tags.as_ref().is_some_and(|t| t.mode == TagMode::Replace) {
                c.err(
                    &["load", "followups"],
                    format!(
                        "entry {} ({}): tags.mode is add or remove (a follow-up never replaces all tags)",
                        i + 1,
                        f.path.display()
                    ),
                );
            }
        }
        if load.retry.base_delay_ms > load.retry.max_delay_ms {
            c.err(
                &["load", "retry"],
                format!(
                    "base_delay_ms ({}) is larger than max_delay_ms ({})",
                    load.retry.base_delay_ms, load.retry.max_delay_ms
                ),
            );
        }
        load
    }

    fn encoding(
        &mut self,
        key: &str,
        label: &Option<String>,
    ) -> Option<&'static encoding_rs::Encoding> {
        match label.as_deref() {
            None | Some("auto") => None,
            Some(l) => encoding_rs::Encoding::for_label(l.trim().as_bytes()).or_else(|| {
                self.err(
                    &["source", key],
                    format!(
                        "`{l}` is not an encoding label (e.g. utf-8, windows-1252, iso-8859-1, shift_jis, \
                         utf-16le, gb18030)"
                    ),
                );
                None
            }),
        }
    }

    /// A file source's `path`, or its `inbox` (kept in `self.inbox`; the path is then the
    /// inbox folder until a run sets each ready file in turn).
    fn file_or_inbox(
        &mut self,
        path: Option<PathBuf>,
        inbox: Option<super::model::InboxConfig>,
        default_pattern: &str,
    ) -> PathBuf {
        match (path, inbox) {
            (Some(p), None) => self.resolve(&p),
            (None, Some(i)) => {
                let dir = self.resolve(&i.dir);
                let pattern = i.pattern.unwrap_or_else(|| default_pattern.to_owned());
                let matcher = match globset::GlobBuilder::new(&pattern)
                    .literal_separator(true)
                    .build()
                {
                    Ok(g) => g.compile_matcher(),
                    Err(e) => {
                        self.err(
                            &["source", "inbox", "pattern"],
                            format!("`{pattern}` is not a file-name pattern: {}", e.kind()),
                        );
                        return dir;
                    }
                };
                let done = i
                    .done
                    .map_or_else(|| dir.join("done"), |d| self.resolve(&d));
                let failed = i
                    .failed
                    .map_or_else(|| dir.join("failed"), |d| self.resolve(&d));
                if done == dir || failed == dir || done == failed {
                    self.err(
                        &["source", "inbox"],
                        "`dir`, `done` and `failed` must be three different folders (files are moved out of `dir`)",
                    );
                }
                if i.settle_secs > 86_400 {
                    self.err(
                        &["source", "inbox", "settle_secs"],
                        format!("{} is out of range: use 0..=86400 seconds", i.settle_secs),
                    );
                }
                self.inbox = Some(Inbox {
                    dir: dir.clone(),
                    pattern,
                    matcher,
                    done,
                    failed,
                    settle: std::time::Duration::from_secs(i.settle_secs),
                });
                dir
            }
            (Some(p), Some(_)) => {
                self.err(
                    &["source", "inbox"],
                    "give either `path` (one file) or `inbox` (a folder of new files), not both",
                );
                self.resolve(&p)
            }
            (None, None) => {
                self.err(
                    &["source"],
                    "missing `path` (the file to read) or `inbox` (a folder files are dropped into)",
                );
                PathBuf::new()
            }
        }
    }

    fn source(&mut self, cfg: SourceConfig) -> Source {
        match cfg {
            SourceConfig::Csv(csv) => {
                let delimiter = match csv.delimiter {
                    None => None,
                    Some(d) if d.is_ascii() && d != '"' && d != '\n' && d != '\r' => Some(d as u8),
                    Some(d) => {
                        self.err(
                            &["source", "delimiter"],
                            format!(
                                "{d:?} must be one ASCII character other than a quote or newline \
                                 (e.g. \",\", \";\", \"\\t\", \"|\"), or left out to sniff it"
                            ),
                        );
                        None
                    }
                };
                if csv.max_field_bytes.get() > 1 << 30 {
                    self.err(
                        &["source", "max_field_bytes"],
                        format!(
                            "{} is out of range: use 1..=1073741824 bytes (1 GiB)",
                            csv.max_field_bytes
                        ),
                    );
                }
                let encoding = self.encoding("encoding", &csv.encoding);
                let fallback_encoding = self.encoding("fallback_encoding", &csv.fallback_encoding);
                let path = self.file_or_inbox(csv.path, csv.inbox, "*.csv");
                Source::Csv(CsvSource {
                    path,
                    delimiter,
                    has_header: csv.has_header,
                    encoding,
                    fallback_encoding,
                    max_field_bytes: csv.max_field_bytes.get(),
                    duplicate_headers: csv.duplicate_headers,
                    hold_duplicates: false,
                    source_rows: false,
                })
            }
            SourceConfig::Excel(x) => Source::Excel(ExcelSource {
                path: self.file_or_inbox(x.path, x.inbox, "*.{xlsx,xlsm,xlsb,xls,ods}"),
                sheet: x.sheet,
                header_row: x.header_row,
                date_columns: x.date_columns,
                duplicate_headers: x.duplicate_headers,
                hold_duplicates: false,
            }),
            SourceConfig::Sqlite(q) => self.sqlite_source(q),
            SourceConfig::Postgres(q) => self.postgres_source(q),
            SourceConfig::Ghl(g) => {
                let api = self.api("source", g.location_id, &g.base_url, g.auth);
                let max = match g.method {
                    ReadMethod::Search => 500,
                    ReadMethod::List => 100,
                };
                let page_size = g.page_size.map_or(max, |n| n.get());
                if page_size > max {
                    self.err(
                        &["source", "page_size"],
                        format!("{page_size} is more than the {max} contacts per request that `{:?}` allows", g.method)
                            .to_lowercase(),
                    );
                }
                let mut filters = g.filters;
                if g.method == ReadMethod::List
                    && (!filters.is_empty() || g.since.is_some() || g.incremental.is_some())
                {
                    self.err(
                        &["source", "method"],
                        "the deprecated list cannot filter; use `method: search` with filters, since or incremental",
                    );
                }
                if let Some(since) = &g.since {
                    match parse_since(since) {
                        Some(ts) => filters.push(serde_json::json!({
                            "field": "dateUpdated", "operator": "range", "value": {"gte": ts}
                        })),
                        None => self.err(
                            &["source", "since"],
                            format!("`{since}` is not a date (YYYY-MM-DD) or an RFC 3339 time"),
                        ),
                    }
                }
                if let Some(q) = &g.query {
                    if q.chars().count() > 75 {
                        self.err(&["source", "query"], "the API allows at most 75 characters");
                    }
                }
                Source::Ghl(GhlSource {
                    api,
                    method: g.method,
                    page_size: page_size.min(max),
                    filters,
                    query: g.query,
                    incremental: g.incremental.map(|i| i.cursor),
                    include: {
                        let mut inc = g.include;
                        inc.dedup();
                        inc
                    },
                    custom_fields: g.custom_fields,
                    concurrency: crate::config::GHL_READS_IN_FLIGHT,
                })
            }
        }
    }
}

/// `YYYY-MM-DD` or RFC 3339 → RFC 3339 (UTC midnight for a date).
fn parse_since(s: &str) -> Option<String> {
    let rfc = &time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(s, rfc) {
        return t.format(rfc).ok();
    }
    let d = time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).ok()?;
    d.midnight().assume_utc().format(rfc).ok()
}

/// Validates a parsed pipeline.
pub(super) fn validate(
    path: &Path,
    text: &str,
    cfg: PipelineConfig,
) -> Result<Pipeline, ConfigErrors> {
    let mut c = Checker {
        shown: path.display().to_string(),
        text,
        base_dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        errs: Vec::new(),
        inbox: None,
        fanout: None,
    };
    if cfg.version != PIPELINE_VERSION {
        c.err(
            &["version"],
            format!(
                "unsupported version {}, this build reads version {PIPELINE_VERSION}",
                cfg.version
            ),
        );
    }
    let mut source = c.source(cfg.source);
    let load = cfg.load;
    if let Source::Ghl(g) = &mut source {
        g.concurrency = load
            .concurrency
            .map_or(crate::config::GHL_READS_IN_FLIGHT, |c| c.get() as usize);
    }
    let sink = c.sink(&load);
    let target = c.target(cfg.target, &sink);
    if c.fanout.is_some() && matches!(source, Source::Ghl(_)) {
        c.err(
            &["target", "locations"],
            "a GHL source is read from one location: several target locations need a file source",
        );
    }
    let mut mapping = c.mapping(&cfg.mapping, &sink);
    mapping.sort_by_key(|(f, _)| *f);
    let mut custom_fields = Vec::new();
    for (key, spec) in &cfg.custom_fields {
        match super::mapping::compile(spec, false) {
            Ok(rule) => custom_fields.push((key.clone(), rule)),
            Err(problems) => {
                for (k, msg) in problems {
                    match k {
                        Some(k) => c.err(&["custom_fields", key, k], msg),
                        None => c.err(&["custom_fields", key], msg),
                    }
                }
            }
        }
    }
    if !custom_fields.is_empty() && !matches!(sink, Sink::Ghl) {
        c.err(
            &["custom_fields"],
            "custom fields are written to a GHL target; a CSV export keeps the source's columns",
        );
    }
    let mapped = |f: ContactField| mapping.iter().any(|(m, _)| *m == f);
    if !cfg.mapping.is_empty() {
        if cfg.dedup.by == DedupKey::Email && !mapped(ContactField::Email) {
            c.err(
                &["dedup", "by"],
                "dedup by email needs `mapping.email`; map an email column or set `by: none`",
            );
        }
        let field = |k: &RequiredKey| match k {
            RequiredKey::Email => ContactField::Email,
            RequiredKey::Phone => ContactField::Phone,
        };
        let require = &cfg.validate.require_any;
        if !require.is_empty() && !require.iter().any(|k| mapped(field(k))) {
            let names: Vec<String> = require.iter().map(|k| field(k).to_string()).collect();
            c.err(
                &["validate", "require_any"],
                format!(
                    "every row needs one of {} but the mapping has none of them; map one, or set `require_any: []`",
                    names.join(", ")
                ),
            );
        }
    }
    let names = ContactField::ALL.map(ContactField::api_name);
    let validate_rules = c.rules(cfg.validate, &mapped, names);
    let load = c.load_rules(load, &sink, &mapped, names);
    let schedule = c.ops(cfg.notify.as_ref(), cfg.schedule.as_ref());

    if !c.errs.is_empty() {
        return Err(ConfigErrors(c.errs));
    }
    let name = cfg.name.unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "pipeline".into())
    });
    let report = ReportSettings {
        dir: cfg.report.dir.as_deref().map(|d| c.resolve(d)),
        escape_formulas: cfg.report.escape_formulas,
        rejected_format: cfg.report.rejected_format,
        keep: cfg.report.keep,
    };
    if cfg
        .report
        .keep
        .is_some_and(|k| k.days.is_none() && k.runs.is_none())
    {
        c.err(
            &["report", "keep"],
            "names neither `days` nor `runs`: say how long report folders are kept (e.g. {days: 30, runs: 50})",
        );
    }
    Ok(Pipeline {
        name,
        file: path.to_path_buf(),
        source,
        target,
        sink,
        mapping,
        custom_fields,
        dedup: cfg.dedup,
        validate: validate_rules,
        load,
        report,
        notify: cfg.notify,
        schedule,
        inbox: c.inbox,
        fanout: c.fanout,
        routed_by: None,
    })
}

/// Every number of `load` has a range that means something; outside it, a clear error instead of
/// an overflow deep in a library.
fn check_bounds(c: &mut Checker<'_>, load: &LoadConfig) {
    let bounds: [(&[&str], u64, u64, u64, &str); 9] = [
        (
            &["load", "rate_limit", "max_requests"],
            load.rate_limit.max_requests.map_or(1, |m| m.get().into()),
            1,
            100_000,
            "requests per interval",
        ),
        (
            &["load", "rate_limit", "interval_ms"],
            load.rate_limit.interval_ms.map_or(1, |m| m.get()),
            1,
            86_400_000,
            "ms (at most a day)",
        ),
        (
            &["load", "rate_limit", "max_wait_secs"],
            load.rate_limit.max_wait_secs.get(),
            1,
            86_400,
            "s (at most a day)",
        ),
        (
            &["load", "retry", "max_attempts"],
            load.retry.max_attempts.get().into(),
            1,
            100,
            "attempts",
        ),
        (
            &["load", "retry", "base_delay_ms"],
            load.retry.base_delay_ms,
            0,
            600_000,
            "ms (at most 10 minutes)",
        ),
        (
            &["load", "retry", "max_delay_ms"],
            load.retry.max_delay_ms,
            0,
            3_600_000,
            "ms (at most an hour)",
        ),
        (
            &["load", "timeout_secs"],
            load.timeout_secs.get(),
            1,
            3_600,
            "s (at most an hour)",
        ),
        (
            &["load", "connect_timeout_secs"],
            load.connect_timeout_secs.get(),
            1,
            300,
            "s (at most 5 minutes)",
        ),
        (
            &["load", "daily_floor"],
            load.daily_floor,
            0,
            10_000_000,
            "requests",
        ),
    ];
    for (keys, value, min, max, unit) in bounds {
        if value < min || value > max {
            c.err(
                keys,
                format!("{value} is out of range: use {min}..={max} {unit}"),
            );
        }
    }
}

/// The error for a `*_env` key whose value is not a variable name. The value is shown only when
/// it reads as a mistyped name — upper-case letters, digits, `-`, `.` or spaces, as `GHL-TOKEN`
/// — never when it could be the secret itself pasted in the wrong place (a token, a webhook URL).
pub(super) fn not_a_variable_name(value: &str, example: &str, secret: &str) -> String {
    let shown = value.len() <= 40
        && value.chars().any(|c| c.is_ascii_uppercase())
        && value.chars().all(|c| {
            c.is_ascii_uppercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.' | ' ')
        });
    let what = match shown {
        true => format!("`{value}` is not an environment variable name"),
        false => format!(
            "holds a value that is not an environment variable name and may be {secret} itself, so \
             it is not shown"
        ),
    };
    format!(
        "{what}; write the variable's name (letters, digits and `_`, e.g. {example}) and put {secret} \
         in that variable, never in the pipeline"
    )
}
