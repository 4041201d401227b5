//! `ghl-import validate`: the phases of a run that need no writes, each ✓ or ✗ with a line —
//! the YAML and its keys, the source, the environment, and with `--live` the location itself
//! (the token accepted, its scopes, the location, the custom fields named, today's allowance
//! against the run's requests), asked with read requests only. `--format json` for CI.
//! Exit 0 only when every phase passes.

use crate::cli::Command;
use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::config::{self, Pipeline, Source};
use crate::error::Exit;
use crate::extract::SourceReader;
use crate::transform::Transformer;
use ghl_client::client::Credentials;

/// The JSON output's format version.
pub const VALIDATE_VERSION: u32 = 1;

/// One phase's result.
#[derive(Debug, Serialize)]
struct Phase {
    /// `pipeline`, `source`, `mapping`, `environment`, `token`, `scopes`, `custom_fields`,
    /// `allowance`.
    phase: &'static str,
    ok: bool,
    /// The ✓/✗ line.
    message: String,
    /// What is wrong and how to fix it (failed phases).
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

#[derive(Default)]
struct Phases(Vec<Phase>);

impl Phases {
    fn pass(&mut self, phase: &'static str, message: impl Into<String>) {
        self.0.push(Phase {
            phase,
            ok: true,
            message: message.into(),
            detail: None,
        });
    }

    fn fail(&mut self, phase: &'static str, message: impl Into<String>, detail: impl ToString) {
        self.0.push(Phase {
            phase,
            ok: false,
            message: message.into(),
            detail: Some(detail.to_string()),
        });
    }

    fn ok(&self) -> bool {
        self.0.iter().all(|p| p.ok)
    }
}

/// How `validate` runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct ValidateOptions<'a> {
    /// The embedded sandbox issues the token: no credentials needed.
    pub sandbox: bool,
    /// The state folder (OAuth token store).
    pub state_dir: Option<&'a Path>,
    /// Ask the location (read requests only).
    pub live: bool,
    /// JSON on stdout.
    pub json: bool,
}

/// Validates a pipeline and prints each phase; returns the exit code.
pub async fn validate(path: &Path, o: ValidateOptions<'_>) -> Exit {
    let mut phases = Phases::default();
    match config::load(path) {
        Err(e) => phases.fail("pipeline", format!("pipeline {}", path.display()), e),
        Ok(p) => {
            phases.pass(
                "pipeline",
                format!(
                    "pipeline {} (version {})",
                    path.display(),
                    config::PIPELINE_VERSION
                ),
            );
            let rows = source(&p, o.live && p.fanout.is_none(), &mut phases);
            if p.fanout.is_some() {
                each_location(&p, o, &mut phases).await;
            } else {
                let creds = environment(&p, o, &mut phases).await;
                if o.live && phases.ok() {
                    live(&p, creds, rows, &mut phases).await;
                }
            }
        }
    }
    let ok = phases.ok();
    if o.json {
        let doc = serde_json::json!({
            "version": VALIDATE_VERSION,
            "pipeline": path.display().to_string(),
            "ok": ok,
            "phases": phases.0,
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        for p in &phases.0 {
            println!("{} {}", if p.ok { "✓" } else { "✗" }, p.message);
            if let Some(d) = &p.detail {
                eprintln!("{d}");
            }
        }
    }
    match ok {
        true => Exit::Ok,
        false => Exit::Config,
    }
}

/// The source and the mapping: readable, encoding, header, mapped columns. With `count` (for
/// `--live`'s allowance forecast), also the number of data rows of a file source.
fn source(p: &Pipeline, count: bool, phases: &mut Phases) -> Option<u64> {
    // An inbox is checked with its oldest ready file, when there is one.
    let sampled = match &p.inbox {
        None => p.clone(),
        Some(inbox) if !inbox.dir.is_dir() => {
            phases.fail(
                "source",
                format!("inbox {}", inbox.dir.display()),
                format!("source.inbox.dir {} is not a folder", inbox.dir.display()),
            );
            return None;
        }
        Some(inbox) => match crate::engine::inbox::sample(inbox) {
            None => {
                phases.pass(
                    "source",
                    format!(
                        "inbox {} (no file ready; a file's header is checked when one arrives)",
                        inbox.dir.display()
                    ),
                );
                return None;
            }
            Some(f) => {
                phases.pass(
                    "source",
                    format!(
                        "inbox {} (checking with {})",
                        inbox.dir.display(),
                        f.display()
                    ),
                );
                crate::engine::inbox::with_file(p, &f)
            }
        },
    };
    let headers = match SourceReader::headers_of(&sampled.source) {
        Ok(h) => h,
        Err(e) => {
            phases.fail("source", format!("source {}", sampled.source.describe()), e);
            return None;
        }
    };
    if p.inbox.is_none() {
        phases.pass(
            "source",
            format!(
                "source {} ({} columns)",
                sampled.source.describe(),
                headers.len()
            ),
        );
    }
    match Transformer::new(&sampled, &headers) {
        Ok(t) => {
            phases.pass("mapping", format!("mapping ({} fields)", p.mapping.len()));
            sample(&sampled, &t, phases);
        }
        Err(e) => phases.fail("mapping", "mapping", e),
    }
    match &sampled.source {
        Source::Ghl(_) => None,
        _ if !count => None,
        src => SourceReader::open(src).ok().map(|r| r.count() as u64),
    }
}

/// Rows of the sample: the first this many data rows go through the transform.
const SAMPLE_ROWS: usize = 200;

/// The first rows of a file source read and transformed as a run would (without the location:
/// custom fields are resolved at run time), so that a wrong encoding, delimiter or date format
/// fails here instead of rejecting every row of the run. Fails when half the sampled rows or
/// more would be rejected, or when every value a column holds in the sample would be dropped.
fn sample(p: &Pipeline, t: &Transformer, phases: &mut Phases) {
    if matches!(p.source, Source::Ghl(_)) {
        return;
    }
    let Ok(reader) = SourceReader::open(&p.source) else {
        return;
    };
    let headers = reader.headers().clone();
    let mut rejected: BTreeMap<&'static str, (u64, String)> = BTreeMap::new();
    // Column → (values seen, values dropped, an example reason).
    let mut columns: BTreeMap<String, (u64, u64, String)> = BTreeMap::new();
    let (mut read, mut refused) = (0u64, 0u64);
    for item in reader.take(SAMPLE_ROWS) {
        read += 1;
        let outcome = match item {
            crate::extract::SourceItem::Row(r) => {
                for (h, cell) in headers.iter().zip(r.cells()) {
                    if !cell.trim().is_empty() {
                        columns.entry(h.clone()).or_default().0 += 1;
                    }
                }
                t.apply(&r)
            }
            crate::extract::SourceItem::Malformed { error, .. } => Err(error),
        };
        match outcome {
            Ok(prepared) => {
                for d in prepared.dropped.iter().filter(|d| d.kept_in.is_none()) {
                    let e = columns.entry(d.column.clone()).or_default();
                    e.1 += 1;
                    e.2 = format!("{}: {} ({})", d.code, d.message, d.hint);
                }
            }
            Err(e) => {
                refused += 1;
                let entry = rejected.entry(e.code).or_insert((0, String::new()));
                entry.0 += 1;
                if entry.1.is_empty() {
                    entry.1 = format!("{} ({})", e.message, e.hint);
                }
            }
        }
    }
    let label = format!("sample (the first {read} rows through the mapping)");
    let dead: Vec<String> = columns
        .iter()
        .filter(|(_, (seen, dropped, _))| *seen >= 3 && dropped == seen)
        .map(|(c, (seen, _, why))| {
            format!("column `{c}`: all {seen} values would be dropped — {why}")
        })
        .collect();
    if read > 0 && (refused * 2 >= read || !dead.is_empty()) {
        let mut detail: Vec<String> = rejected
            .iter()
            .map(|(code, (n, why))| {
                format!("{n} of {read} rows would be rejected as {code}: {why}")
            })
            .collect();
        detail.extend(dead);
        phases.fail("sample", label, detail.join("\n"));
    } else if refused > 0 {
        phases.pass(
            "sample",
            format!("{label}: {refused} would be rejected (see them with `ghl-import preview`)"),
        );
    } else {
        phases.pass("sample", label);
    }
}

/// The environment: credentials present (a token variable set, or stored OAuth tokens with at
/// least contacts.readonly), the webhook variable. Returns the credentials per API.
async fn environment(
    p: &Pipeline,
    o: ValidateOptions<'_>,
    phases: &mut Phases,
) -> Vec<(&'static str, Credentials)> {
    let mut out = Vec::new();
    if let Some(n) = &p.notify {
        match crate::notify::webhook_url(n) {
            Ok(_) => phases.pass(
                "environment",
                format!("notify webhook (${} is set)", n.webhook_url_env),
            ),
            Err(e) => phases.fail("environment", "notify webhook", e),
        }
    }
    if o.sandbox {
        phases.pass(
            "environment",
            "credentials (the embedded sandbox issues its own token)",
        );
        return out;
    }
    for (section, t) in crate::engine::apis(p) {
        let checked = match crate::engine::credentials(p, section, t, o.state_dir) {
            // A minted token is checked by --live (minting is a request).
            Ok(c) if c.is_minted() => Ok(c),
            Ok(c) => crate::engine::check_scope(
                &c,
                &t.location_id,
                ghl_client::auth::SCOPE_READ,
                "`validate`",
            )
            .await
            .map(|()| c),
            Err(e) => Err(e.into()),
        };
        match checked {
            Ok(c) => {
                let line = match (&c, &t.auth) {
                    (Credentials::OAuth(m), _) => format!(
                        "credentials for {section} ({} of {}{})",
                        m.describe(),
                        t.location_id,
                        match m.as_ref() {
                            ghl_client::auth::agency::Access::Stored(s) =>
                                format!(", scopes: {}", s.scopes().await.join(" ")),
                            _ => String::new(),
                        }
                    ),
                    (_, config::TargetAuth::Token { env }) => {
                        format!("credentials for {section} (${env} is set)")
                    }
                    _ => format!("credentials for {section}"),
                };
                phases.pass("environment", line);
                out.push((section, c));
            }
            Err(e) => phases.fail("environment", format!("credentials for {section}"), e),
        }
    }
    out
}

/// A multi-location pipeline: the environment (and with `--live` the live checks) of each of
/// its locations, each failure on a line of its own, the passes counted per phase.
async fn each_location(p: &Pipeline, o: ValidateOptions<'_>, phases: &mut Phases) {
    let ids =
        match crate::engine::fanout::locations_to_check(p, o.state_dir, o.sandbox, o.live).await {
            Ok(Some(ids)) => ids,
            Ok(None) => {
                phases.pass(
                "environment",
                "locations: listed by the agency grant when the run starts (--live lists them now)",
            );
                return;
            }
            Err(e) => {
                phases.fail("environment", "the run's locations", format!("{e:#}"));
                return;
            }
        };
    let mut passed: Vec<(&'static str, usize)> = Vec::new();
    for l in &ids {
        let one = p.clone().for_location(l);
        let mut ph = Phases::default();
        let creds = environment(&one, o, &mut ph).await;
        if o.live && ph.ok() {
            live(&one, creds, None, &mut ph).await;
        }
        for mut r in ph.0 {
            if r.ok {
                match passed.iter_mut().find(|(k, _)| *k == r.phase) {
                    Some((_, n)) => *n += 1,
                    None => passed.push((r.phase, 1)),
                }
            } else {
                r.message = format!("location {l}: {}", r.message);
                phases.0.push(r);
            }
        }
    }
    for (phase, n) in passed {
        phases.pass(
            phase,
            format!("{phase}: passed {n} times across {} locations", ids.len()),
        );
    }
}

/// `--live`: one read per location (the token, the location, the allowance), the custom
/// field definitions when fields are named, and the scopes the run needs.
async fn live(
    p: &Pipeline,
    creds: Vec<(&'static str, Credentials)>,
    rows: Option<u64>,
    phases: &mut Phases,
) {
    if creds.is_empty() {
        phases.pass(
            "token",
            "--live: nothing to ask (the sandbox, or no GHL location)",
        );
        return;
    }
    for (section, c) in creds {
        let t = match section {
            "source" => match &p.source {
                Source::Ghl(g) => &g.api,
                _ => continue,
            },
            _ => match &p.target {
                Some(t) => t,
                None => continue,
            },
        };
        scopes(p, section, t, &c, phases).await;
        let client = match crate::engine::client_for(p, t.base_url.clone(), c) {
            Ok(c) => c,
            Err(e) => {
                phases.fail(
                    "token",
                    format!("{section}: a client for {}", t.base_url),
                    e,
                );
                continue;
            }
        };
        let req = ghl_client::types::SearchRequest {
            location_id: t.location_id.clone(),
            page_limit: 1,
            page: None,
            search_after: None,
            filters: Vec::new(),
            query: None,
        };
        match client.search_contacts(&req).await {
            Ok(r) => phases.pass(
                "token",
                format!(
                    "{section}: the token is accepted and location {} exists ({} contacts)",
                    t.location_id,
                    r.total.map_or_else(|| "?".to_owned(), |n| n.to_string())
                ),
            ),
            Err(e) => {
                phases.fail(
                    "token",
                    format!("{section}: location {} refused the read", t.location_id),
                    crate::engine::stopping_error(section, t, e),
                );
                continue;
            }
        }
        if section == "target" && !p.custom_fields.is_empty() {
            custom_fields(p, t, &client, phases).await;
        }
        if section == "target" {
            allowance(p, rows, client.daily_remaining(), phases);
        }
    }
}

/// The scopes the run needs against those granted (OAuth); a Private Integration Token's show
/// only when used.
async fn scopes(
    p: &Pipeline,
    section: &str,
    t: &config::Target,
    c: &Credentials,
    phases: &mut Phases,
) {
    let mut need = vec![match section {
        "target" => ghl_client::auth::SCOPE_WRITE,
        _ => ghl_client::auth::SCOPE_READ,
    }];
    if section == "target" && !p.custom_fields.is_empty() {
        need.push("locations/customFields.readonly");
    }
    match c {
        Credentials::OAuth(m) => {
            let granted = match m.scopes().await {
                Ok(g) => g,
                Err(e) => {
                    phases.fail(
                        "scopes",
                        format!("{section}: the location's token"),
                        e.to_string(),
                    );
                    return;
                }
            };
            let missing: Vec<&str> = need
                .iter()
                .filter(|n| !granted.iter().any(|g| g == *n))
                .copied()
                .collect();
            if missing.is_empty() {
                phases.pass(
                    "scopes",
                    format!("{section}: scopes {} granted", need.join(", ")),
                );
            } else {
                phases.fail(
                    "scopes",
                    format!("{section}: scopes missing: {}", missing.join(", ")),
                    format!(
                        "the grant of location {} has {}; log in again with --scope {}",
                        t.location_id,
                        granted.join(" "),
                        missing.join(" --scope ")
                    ),
                );
            }
        }
        _ => phases.pass(
            "scopes",
            format!(
                "{section}: a Private Integration Token's scopes show only when used (needed: {})",
                need.join(", ")
            ),
        ),
    }
}

/// Every custom field the pipeline names exists in the location with a type it can take.
async fn custom_fields(
    p: &Pipeline,
    t: &config::Target,
    client: &ghl_client::client::GhlClient,
    phases: &mut Phases,
) {
    match client.custom_fields(&t.location_id).await {
        Ok(defs) => {
            let shown = p.file.display().to_string();
            match crate::transform::custom::resolve(&p.custom_fields, &defs, &shown, &t.location_id)
            {
                Ok(r) => phases.pass(
                    "custom_fields",
                    format!(
                        "custom fields: {} of {} resolved in the location",
                        r.len(),
                        p.custom_fields.len()
                    ),
                ),
                Err(e) => phases.fail("custom_fields", "custom fields", e),
            }
        }
        Err(e) => phases.fail(
            "custom_fields",
            "custom fields: the location's definitions could not be read",
            e,
        ),
    }
}

/// Today's remaining allowance against the run's requests (one upsert per row, plus one per
/// notes, tasks and tag follow-up when the pipeline has them: at most).
fn allowance(p: &Pipeline, rows: Option<u64>, remaining: Option<u64>, phases: &mut Phases) {
    let (Some(rows), Some(remaining)) = (rows, remaining) else {
        phases.pass(
            "allowance",
            "daily allowance: not forecast (rows or allowance unknown)",
        );
        return;
    };
    let per_row = 1
        + u64::from(!p.load.notes.is_empty())
        + u64::from(!p.load.tasks.is_empty())
        + u64::from(p.load.tags != config::TagMode::Replace);
    let need = rows * per_row;
    let left = remaining.saturating_sub(p.load.daily_floor);
    if need <= left {
        phases.pass(
            "allowance",
            format!("daily allowance: {remaining} left covers the run's at most {need} requests ({rows} rows)"),
        );
    } else {
        phases.fail(
            "allowance",
            format!("daily allowance: {remaining} left, the run needs up to {need} requests"),
            format!(
                "the run would stop at the daily floor ({}) after about {} rows; split the file, or run after 00:00 UTC",
                p.load.daily_floor,
                left / per_row
            ),
        );
    }
}

/// `validate` from its arguments.
pub async fn cmd(c: Command) -> anyhow::Result<Exit> {
    let Command::Validate {
        pipeline,
        sandbox,
        state_dir,
        live,
        format,
    } = c
    else {
        unreachable!("dispatch passes validate only")
    };
    let o = ValidateOptions {
        sandbox,
        state_dir: state_dir.as_deref(),
        live,
        json: format == crate::options::Format::Json,
    };
    Ok(validate(&pipeline, o).await)
}
