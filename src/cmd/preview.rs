//! `ghl-import preview <pipeline>`: for the first rows (or given ones) of the source, the cells
//! read, the exact upsert body the transform builds, the notes and task operations, and the
//! reject or warnings — with no network: nothing is read from or sent to the location.
//! (In-file duplicates are found by `run` and `run --dry-run`, which see the whole file;
//! custom fields are resolved against the location's definitions at run time.)

use crate::cli::Command;
use std::path::Path;

use serde_json::{json, Value};

use crate::config::{self, Source};
use crate::error::{ConfigError, Exit};
use crate::extract::{SourceItem, SourceReader};
use crate::outcome::RowError;
use crate::transform::Transformer;

/// Which rows.
#[derive(Debug, Clone, Copy)]
pub enum Rows {
    /// The first N data rows.
    First(usize),
    /// One row by its source row number (the header is row 1).
    Number(u64),
}

/// The preview's format version.
pub const PREVIEW_VERSION: u32 = 1;

/// How `preview` runs.
#[derive(Debug, Clone, Copy)]
pub struct PreviewOptions<'a> {
    /// Which rows.
    pub rows: Rows,
    /// JSON on stdout.
    pub json: bool,
    /// Also ask the target location what each row would do (read requests only).
    pub live: bool,
    /// The state folder (OAuth token store).
    pub state_dir: Option<&'a Path>,
}

/// Prints the preview of some rows of `path`'s source.
pub async fn preview(path: &Path, o: PreviewOptions<'_>) -> anyhow::Result<Exit> {
    let (rows, json) = (o.rows, o.json);
    let p = config::load(path)?;
    let p = match &p.inbox {
        Some(inbox) => match crate::engine::inbox::sample(inbox) {
            Some(f) => crate::engine::inbox::with_file(&p, &f),
            None => {
                return Err(ConfigError::new(format!(
                    "the inbox {} has no file ready to preview",
                    inbox.dir.display()
                ))
                .into())
            }
        },
        None => p,
    };
    if let Source::Ghl(g) = &p.source {
        return Err(ConfigError::new(format!(
            "preview reads a file source without the network; {} is GHL location {} (run it with --dry-run, or --sandbox)",
            p.file.display(),
            g.api.location_id
        ))
        .into());
    }
    let reader = SourceReader::open(&p.source)?;
    let headers = reader.headers().clone();
    let transformer = Transformer::new(&p, &headers)?;
    let router = crate::engine::fanout::Router::of(&p, &headers)?;
    if o.live && p.fanout.is_some() {
        return Err(ConfigError::new(
            "preview --live asks one location; this pipeline targets several (run --dry-run plans each)",
        )
        .into());
    }
    let live = match o.live {
        true => Some(Live::open(&p, o.state_dir).await?),
        false => None,
    };
    let mut out = Vec::new();
    for item in reader {
        let (rec, problem) = match item {
            SourceItem::Row(r) => (r, None),
            SourceItem::Malformed { raw, error } => (raw, Some(error)),
        };
        match rows {
            Rows::Number(n) if rec.row < n => continue,
            Rows::Number(n) if rec.row > n => break,
            _ => {}
        }
        // In the source's column order.
        let cells: Vec<Value> = headers
            .iter()
            .zip(rec.cells())
            .map(|(h, c)| json!({"column": h, "value": c}))
            .collect();
        let mut entry = json!({"row": rec.row, "cells": cells});
        let routed = match &router {
            Some(r) => r.locate(&rec).map(Some),
            None => Ok(None),
        };
        let applied = problem
            .map_or(Ok(()), Err)
            .and(routed)
            .and_then(|to| transformer.apply(&rec).map(|p| (p, to)));
        match applied {
            Ok((mut prep, to)) => {
                if let Some(l) = to {
                    prep.body.location_id = l;
                }
                if let Some(l) = &live {
                    entry["live"] = l.plan(&prep.body).await?;
                }
                entry["body"] = serde_json::to_value(&prep.body)?;
                entry["notes"] = json!(prep
                    .notes
                    .iter()
                    .map(|(title, body)| json!({"title": title, "body": body}))
                    .collect::<Vec<_>>());
                entry["tasks"] = serde_json::to_value(&prep.tasks)?;
                entry["warnings"] = json!(prep.warnings);
                entry["values_not_loaded"] = json!(prep
                    .dropped
                    .iter()
                    .map(|d| json!({
                        "column": d.column, "value": d.value, "field": d.field, "code": d.code,
                        "message": d.message, "hint": d.hint, "kept_in": d.kept_in,
                    }))
                    .collect::<Vec<_>>());
            }
            Err(e) => entry["reject"] = reject(&e),
        }
        out.push(entry);
        if let Rows::First(n) = rows {
            if out.len() >= n {
                break;
            }
        }
    }
    if let (Rows::Number(n), true) = (rows, out.is_empty()) {
        return Err(ConfigError::new(format!(
            "--row {n}: {} has no such data row (the header is row 1)",
            p.source.describe()
        ))
        .into());
    }
    let notes = [
        match &live {
            Some(l) => format!(
                "read requests only ({} sent); custom fields are resolved against the location by run",
                l.client.stats().requests.load(std::sync::atomic::Ordering::Relaxed)
            ),
            None => "no request was sent: custom fields are resolved against the location by run"
                .to_owned(),
        },
        "in-file duplicates are found by run and run --dry-run, which read the whole file".to_owned(),
    ];
    let notes: Vec<String> = match (&p.fanout, &router) {
        (Some(_), None) => notes
            .into_iter()
            .chain([
                "every location of the run gets each row (locationId is set per location)"
                    .to_owned(),
            ])
            .collect(),
        _ => notes.to_vec(),
    };
    if json {
        let doc = json!({
            "version": PREVIEW_VERSION,
            "pipeline": p.name,
            "source": p.source.describe(),
            "rows": out,
            "notes": notes,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print_table(&p, &out, &notes);
    }
    Ok(Exit::Ok)
}

fn reject(e: &RowError) -> Value {
    json!({
        "stage": e.stage.as_str(),
        "code": e.code,
        "message": e.message,
        "hint": e.hint,
        "column": e.column,
    })
}

fn print_table(p: &config::Pipeline, rows: &[Value], notes: &[String]) {
    println!("{}: {}", p.name, p.source.describe());
    for r in rows {
        println!();
        let row = &r["row"];
        match r.get("reject") {
            Some(e) => println!(
                "row {row}  ✗ rejected: {} ({}{})",
                e["code"].as_str().unwrap_or(""),
                e["stage"].as_str().unwrap_or(""),
                e["column"]
                    .as_str()
                    .map(|c| format!(", column {c}"))
                    .unwrap_or_default()
            ),
            None => println!("row {row}  ✓"),
        }
        for c in r["cells"].as_array().into_iter().flatten() {
            println!(
                "  {:>20} │ {}",
                c["column"].as_str().unwrap_or(""),
                c["value"].as_str().unwrap_or("")
            );
        }
        if let Some(e) = r.get("reject") {
            println!("  {}", e["message"].as_str().unwrap_or(""));
            println!("  hint: {}", e["hint"].as_str().unwrap_or(""));
            continue;
        }
        if let Some(l) = r.get("live") {
            let action = l["action"].as_str().unwrap_or("");
            let id = l["contact_id"]
                .as_str()
                .map(|c| format!(" {c}"))
                .unwrap_or_default();
            println!("  in the location: {action}{id}");
            for c in l["changes"].as_array().into_iter().flatten() {
                println!(
                    "    {}: `{}` → `{}`",
                    c["field"].as_str().unwrap_or(""),
                    c["from"].as_str().unwrap_or(""),
                    c["to"].as_str().unwrap_or("")
                );
            }
        }
        println!("  POST /contacts/upsert");
        let body = serde_json::to_string_pretty(&r["body"]).unwrap_or_default();
        for l in body.lines() {
            println!("    {l}");
        }
        for n in r["notes"].as_array().into_iter().flatten() {
            println!("  + note: {}", n["body"].as_str().unwrap_or(""));
        }
        for t in r["tasks"].as_array().into_iter().flatten() {
            println!("  + task: {t}");
        }
        for w in r["warnings"].as_array().into_iter().flatten() {
            println!("  ! {}", w.as_str().unwrap_or(""));
        }
        for d in r["values_not_loaded"].as_array().into_iter().flatten() {
            let s = |k: &str| d[k].as_str().unwrap_or("").to_owned();
            let kept = match d["kept_in"].as_str() {
                Some(k) => format!(", kept in a {k}"),
                None => String::new(),
            };
            println!(
                "  ✗ not loaded: {} `{}` → {}: {} ({}{kept})",
                s("column"),
                s("value"),
                s("field"),
                s("message"),
                s("code")
            );
            println!("      hint: {}", s("hint"));
        }
    }
    println!();
    for n in notes {
        println!("({n})");
    }
}

/// `--live`: the target location asked, row by row, with lookups by email and phone.
struct Live {
    client: ghl_client::client::GhlClient,
    planning: crate::load::plan::Planning,
}

impl Live {
    async fn open(p: &config::Pipeline, state_dir: Option<&Path>) -> anyhow::Result<Live> {
        let Some(t) = &p.target else {
            return Err(ConfigError::new(
                "--live asks the target location what each row would do; this pipeline has no GHL target",
            )
            .into());
        };
        let creds = crate::engine::credentials(p, "target", t, state_dir)?;
        crate::engine::check_scope(
            &creds,
            &t.location_id,
            ghl_client::auth::SCOPE_READ,
            "`preview --live`",
        )
        .await?;
        let client = crate::engine::client_for(p, t.base_url.clone(), creds)?;
        let (planning, _) = crate::load::plan::Planning::choose(
            &client,
            &t.location_id,
            crate::config::LookupStrategy::PerRow,
            (None, 2),
            None,
        )
        .await
        .map_err(|e| anyhow::anyhow!("reading location {}: {e}", t.location_id))?;
        Ok(Live { client, planning })
    }

    /// What the row would do: create, update (with the changes), unchanged, or conflict.
    async fn plan(&self, body: &ghl_client::types::UpsertContact) -> anyhow::Result<Value> {
        use crate::load::plan::Action;
        let idx = self
            .planning
            .index_for(body)
            .await
            .map_err(|e| anyhow::anyhow!("looking the row up: {e}"))?;
        Ok(match crate::load::plan::plan(&idx, body) {
            Action::Create => json!({"action": "create"}),
            Action::Unchanged { contact_id } => {
                json!({"action": "unchanged", "contact_id": contact_id})
            }
            Action::Update {
                contact_id,
                changes,
            } => json!({
                "action": "update",
                "contact_id": contact_id,
                "changes": changes
                    .iter()
                    .map(|(f, from, to)| json!({"field": f, "from": from, "to": to}))
                    .collect::<Vec<_>>(),
            }),
            Action::Conflict {
                email_contact,
                phone_contact,
            } => json!({
                "action": "conflict",
                "email_contact": email_contact,
                "phone_contact": phone_contact,
            }),
        })
    }
}

/// `preview` from its arguments.
pub async fn cmd(c: Command) -> anyhow::Result<Exit> {
    let Command::Preview {
        pipeline,
        rows,
        row,
        format,
        live,
        state_dir,
    } = c
    else {
        unreachable!("dispatch passes preview only")
    };
    let o = PreviewOptions {
        rows: match row {
            Some(n) => Rows::Number(n),
            None => Rows::First(rows),
        },
        json: format == crate::options::Format::Json,
        live,
        state_dir: state_dir.as_deref(),
    };
    preview(&pipeline, o).await
}
