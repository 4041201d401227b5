//! Undo a run (`ghl-import rollback <run-dir>`) from its rollback.jsonl — delete the contacts it
//! created and put back the previous values of the fields it changed (known when the run indexed
//! the location: sync/create/update modes or field policies). Newest first.

use std::collections::BTreeSet;
use std::io::{BufRead, Write};
use std::path::Path;

use anyhow::Context;

use crate::error::ConfigError;
use crate::store::journal::Journal;
use ghl_client::error::ApiError;
use ghl_client::types::UpdateContact;

/// Puts back a contact's company name, which `PUT /contacts/{id}` cannot write: with an upsert
/// keyed by the contact's email (or phone), sent only after a search shows that key matches this
/// contact and no other, and checked against the contact the upsert answers with.
async fn restore_company(
    client: &ghl_client::client::GhlClient,
    location: &str,
    id: &str,
    old: &str,
) -> anyhow::Result<()> {
    use ghl_client::types::{SearchRequest, UpsertContact};
    let c = client.get_contact(id).await?;
    let (field, key) = match (c.email.as_deref(), c.phone.as_deref()) {
        (Some(e), _) if !e.is_empty() => ("email", e),
        (_, Some(p)) if !p.is_empty() => ("phone", p),
        _ => {
            anyhow::bail!("companyName: the contact has no email or phone to address an upsert to")
        }
    };
    let found = client
        .search_contacts(&SearchRequest {
            location_id: location.to_owned(),
            page_limit: 10,
            page: None,
            search_after: None,
            filters: vec![serde_json::json!({"field": field, "operator": "eq", "value": key})],
            query: None,
        })
        .await?;
    let ids: Vec<&str> = found
        .contacts
        .iter()
        .map(|h| h.contact.id.as_str())
        .collect();
    if ids != [id] {
        anyhow::bail!(
            "companyName not restored: its {field} matches {} contacts, so an upsert could land on another",
            ids.len()
        );
    }
    let mut body = UpsertContact {
        location_id: location.to_owned(),
        company_name: Some(old.to_owned()),
        ..Default::default()
    };
    if field == "email" {
        body.email = Some(key.to_owned());
    } else {
        body.phone = Some(key.to_owned());
    }
    let r = client.upsert_contact(&body).await?;
    anyhow::ensure!(
        r.contact.id == id,
        "companyName restore was applied to contact {} instead of {id}",
        r.contact.id
    );
    Ok(())
}

/// Name of the rollback log in a run folder: one JSON line per manifest entry undone, so a second
/// rollback does only what the first could not.
pub const ROLLBACK_DONE_JSONL: &str = "rollback-done.jsonl";

/// One line of rollback.jsonl, with its position (its identity in the rollback log): a
/// settled write (`created`, `updated`), or the intent of a write the run never settled
/// (`unknown`: killed, stopped, answer lost), which rollback settles by looking it up.
struct Entry {
    line: usize,
    row: serde_json::Value,
    action: String,
    contact_id: String,
    before: Option<serde_json::Map<String, serde_json::Value>>,
    /// For an unknown write: what the run expected, the row's email and phone, when it was sent.
    unknown: Option<Unsettled>,
}

/// The intent of a write that was never settled.
struct Unsettled {
    expect: String,
    email: Option<String>,
    phone: Option<String>,
    at: Option<std::time::SystemTime>,
}

impl Unsettled {
    fn of(v: &serde_json::Value) -> Unsettled {
        let text = |k: &str| v[k].as_str().filter(|s| !s.is_empty()).map(str::to_owned);
        Unsettled {
            expect: text("expect").unwrap_or_default(),
            email: text("email"),
            phone: text("phone"),
            at: text("at")
                .and_then(|t| crate::disk::parse_rfc3339(&t))
                .map(std::time::SystemTime::from),
        }
    }
}

/// Reads the manifest, and the positions of the entries an earlier rollback already undid.
fn read_manifest(run_dir: &Path) -> anyhow::Result<(Vec<Entry>, BTreeSet<usize>)> {
    let manifest = run_dir.join(crate::report::ROLLBACK_JSONL);
    let file = std::fs::File::open(&manifest).map_err(|e| {
        ConfigError::new(format!(
            "cannot read {}: {e} (is {} the output folder of a run with a GHL target?)",
            manifest.display(),
            run_dir.display()
        ))
    })?;
    let mut lines = Vec::new();
    for (line, text) in std::io::BufReader::new(file).lines().enumerate() {
        let text = text.with_context(|| format!("reading {}", manifest.display()))?;
        if text.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(v) => lines.push((line, v)),
            // A line cut short by a kill while it was written: its write was never sent.
            Err(_) if text.starts_with(r#"{"action":"intent""#) => {}
            Err(e) => {
                return Err(ConfigError::new(format!(
                    "{}:{}: this line is not a manifest entry ({e})",
                    manifest.display(),
                    line + 1
                ))
                .into())
            }
        }
    }
    // Intents whose write was settled (created, updated, not applied).
    let settled: BTreeSet<u64> = lines
        .iter()
        .filter(|(_, v)| v["action"] != "intent")
        .filter_map(|(_, v)| v["intent"].as_u64())
        .collect();
    let mut entries = Vec::new();
    for (line, v) in lines {
        let action = v["action"].as_str().unwrap_or_default().to_owned();
        let unknown = match action.as_str() {
            "intent" if v["intent"].as_u64().is_some_and(|n| settled.contains(&n)) => continue,
            "intent" => Some(Unsettled::of(&v)),
            _ => None,
        };
        entries.push(Entry {
            line,
            row: v["row"].clone(),
            action: if unknown.is_some() {
                "unknown".to_owned()
            } else {
                action
            },
            contact_id: v["contact_id"].as_str().unwrap_or_default().to_owned(),
            before: v["before"].as_object().cloned(),
            unknown,
        });
    }
    let mut done = BTreeSet::new();
    if let Ok(text) = std::fs::read_to_string(run_dir.join(ROLLBACK_DONE_JSONL)) {
        for l in text.lines() {
            if let Some(n) = serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .and_then(|v| v["line"].as_u64())
            {
                done.insert(n as usize);
            }
        }
    }
    Ok((entries, done))
}

/// What rollback did.
#[derive(Debug, Default)]
pub struct Tally {
    /// Created contacts deleted.
    pub deleted: u64,
    /// Created contacts deleted since.
    pub already_gone: u64,
    /// Updated contacts given their previous values back.
    pub restored: u64,
    /// Unsettled writes found not applied (nothing to undo).
    pub not_applied: u64,
    /// Unsettled writes that updated a contact with no record of its previous values.
    pub left: u64,
    /// Undos that failed (a later rollback retries only those).
    pub failed: u64,
}

/// What a rollback did.
#[derive(Debug)]
pub struct Undone {
    /// Its counts.
    pub tally: Tally,
    /// Updated contacts of the run, left as they are with `created_only`.
    pub updated_left: usize,
}

/// Undoes the run in `run_dir` against the target the run recorded (with the credentials of its
/// pipeline, which must still name that target). Idempotent: what an earlier rollback undid is
/// logged in the folder and not done again. Updated contacts need their previous values in the
/// manifest; when some have none, nothing is sent unless `created_only` asks to delete only the
/// contacts the run created. `None` when nothing was left to undo (said so).
pub async fn undo_run(
    run_dir: &Path,
    state_dir: Option<&Path>,
    created_only: bool,
) -> anyhow::Result<Option<Undone>> {
    if run_dir.join("locations").is_dir() && !run_dir.join(crate::report::ROLLBACK_JSONL).exists() {
        return Err(ConfigError::new(format!(
            "{} is a multi-location run: roll back each location's folder in it \
             (`ghl-import rollback {}/locations/<id>`)",
            run_dir.display(),
            run_dir.display()
        ))
        .into());
    }
    let (entries, done) = read_manifest(run_dir)?;
    let record = crate::engine::target::read_record(run_dir)?;
    refuse_runs_without_a_target(run_dir, &record)?;
    let Some(pending) = pending(run_dir, &entries, &done, created_only)? else {
        return Ok(None);
    };
    let tally = undo(run_dir, &record, &pending, state_dir).await?;
    let updated_left = match created_only {
        true => entries.iter().filter(|e| e.action == "updated").count(),
        false => 0,
    };
    Ok(Some(Undone {
        tally,
        updated_left,
    }))
}

/// Refuses runs that wrote to no location rollback could reach.
fn refuse_runs_without_a_target(
    run_dir: &Path,
    record: &crate::engine::target::RunRecord,
) -> anyhow::Result<()> {
    if record.was_embedded_sandbox() {
        return Err(ConfigError::new(format!(
            "rollback: the run in {} wrote into an embedded sandbox (`run --sandbox`), which ended with that \
             run; no other location was changed and there is nothing to roll back",
            run_dir.display()
        ))
        .into());
    }
    if record.dry_run {
        return Err(ConfigError::new(format!(
            "rollback: the run in {} was a dry run and wrote nothing",
            run_dir.display()
        ))
        .into());
    }
    Ok(())
}

/// The entries still to undo, newest last; `None` (after saying so) when there are none. Refuses,
/// before anything is sent, when an updated contact has no previous values.
fn pending<'e>(
    run_dir: &Path,
    entries: &'e [Entry],
    done: &BTreeSet<usize>,
    created_only: bool,
) -> anyhow::Result<Option<Vec<&'e Entry>>> {
    let wanted = |e: &&Entry| match (e.action.as_str(), &e.unknown) {
        ("created", _) => true,
        ("updated", _) => !created_only,
        ("unknown", Some(u)) => !created_only || u.expect != "update",
        _ => false,
    };
    let pending: Vec<&Entry> = entries
        .iter()
        .filter(|e| !done.contains(&e.line))
        .filter(wanted)
        .collect();
    if pending.is_empty() {
        println!(
            "rollback of {}: nothing to do — {}",
            run_dir.display(),
            if done.is_empty() {
                "the run created and changed no contact".to_owned()
            } else {
                format!("all {} changes were already rolled back", done.len())
            }
        );
        return Ok(None);
    }
    let blind: Vec<String> = pending
        .iter()
        .filter(|e| e.action == "updated" && e.before.is_none())
        .map(|e| e.row.to_string())
        .collect();
    if !blind.is_empty() {
        let created = pending.iter().filter(|e| e.action == "created").count();
        return Err(ConfigError::new(format!(
            "rollback: {} contacts updated by the run have no record of their previous values (rows {}{}): the \
             run did not read the location first (load.mode: upsert without field policies), so they cannot be \
             put back. Nothing was sent. `ghl-import rollback --created-only {}` deletes only the {created} \
             contacts the run created.",
            blind.len(),
            blind.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
            if blind.len() > 5 { ", …" } else { "" },
            run_dir.display()
        ))
        .into());
    }
    Ok(Some(pending))
}

/// Undoes `pending` newest first on the run's target, logging each entry undone and making the
/// journal forget it.
async fn undo(
    run_dir: &Path,
    record: &crate::engine::target::RunRecord,
    pending: &[&Entry],
    state_dir: Option<&Path>,
) -> anyhow::Result<Tally> {
    let p = record.pipeline(run_dir)?;
    let t = record.check_target(run_dir, &p, "rollback")?;
    let creds = crate::engine::credentials(&p, "target", t, state_dir)?;
    crate::engine::check_scope(
        &creds,
        &t.location_id,
        ghl_client::auth::SCOPE_WRITE,
        "`rollback`",
    )
    .await?;
    let client = crate::engine::client_for(&p, t.base_url.clone(), creds)?;
    // The same rule as runs: one writer per location.
    let run = format!(
        "rollback of {}",
        run_dir.file_name().unwrap_or_default().to_string_lossy()
    );
    let _lease = crate::engine::store_of(&p, state_dir)
        .leases()
        .take(
            &p,
            crate::store::lease::Guarded::Location(&t.location_id),
            &run,
            || false,
        )
        .await?;
    let journal = open_journal(record, &p, t, state_dir)?;
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(run_dir.join(ROLLBACK_DONE_JSONL))
        .with_context(|| format!("opening {}", run_dir.join(ROLLBACK_DONE_JSONL).display()))?;

    let mut tally = Tally::default();
    for e in pending.iter().rev() {
        let resolved;
        let (e, result) = match (e.action.as_str(), &e.unknown) {
            ("created", _) => (*e, delete(&client, &e.contact_id).await),
            ("unknown", Some(u)) => match settle(&client, &t.location_id, e, u).await {
                Ok(Settled::Undo(entry)) => {
                    resolved = entry;
                    let r = match resolved.action.as_str() {
                        "created" => delete(&client, &resolved.contact_id).await,
                        _ => undo_update(&client, &t.location_id, &resolved).await,
                    };
                    (&resolved, r)
                }
                Ok(Settled::Nothing(what)) => (*e, Ok(what)),
                Err(err) => (*e, Err(err)),
            },
            _ => (*e, undo_update(&client, &t.location_id, e).await),
        };
        match result {
            Ok(what) => {
                match what {
                    "deleted" => tally.deleted += 1,
                    "already_gone" => tally.already_gone += 1,
                    "not_applied" => tally.not_applied += 1,
                    "left" => tally.left += 1,
                    _ => tally.restored += 1,
                }
                writeln!(
                    log,
                    "{}",
                    serde_json::json!({"line": e.line, "row": e.row, "contact_id": e.contact_id, "done": what})
                )?;
                log.flush()?;
                // The row is no longer applied: a re-run sends it again.
                if let Some(j) = &journal {
                    if let Err(err) = j.forget_contact(&e.contact_id) {
                        tracing::warn!(error = %err, "Could not update the run journal.");
                    }
                }
            }
            Err(err) => {
                tally.failed += 1;
                eprintln!("row {}: contact {}: {err:#}", e.row, e.contact_id);
            }
        }
    }
    Ok(tally)
}

/// The journal the run wrote (recorded in run.json; for older runs, where `run` puts it).
fn open_journal(
    record: &crate::engine::target::RunRecord,
    p: &crate::config::Pipeline,
    t: &crate::config::Target,
    state_dir: Option<&Path>,
) -> anyhow::Result<Option<Journal>> {
    if let Some(path) = record.target.as_ref().and_then(|r| r.journal.as_deref()) {
        return Journal::open_file(Path::new(path)).map(Some);
    }
    let j = crate::engine::store_of(p, state_dir)
        .journal(&p.name, &crate::engine::target::journal_where(t))?;
    Ok(Some(j))
}

/// Deletes a contact the run created; one deleted since is already undone.
async fn delete(client: &ghl_client::client::GhlClient, id: &str) -> anyhow::Result<&'static str> {
    match client.delete_contact(id).await {
        Ok(()) => Ok("deleted"),
        Err(err) if err.is_not_found() => Ok("already_gone"),
        Err(err) => Err(anyhow::Error::from(err).context("deleting it")),
    }
}

/// Restores an updated contact. A contact deleted since (elsewhere, or by an undo whose answer
/// was lost) has nothing left to restore: already undone, not a failure.
async fn undo_update(
    client: &ghl_client::client::GhlClient,
    location: &str,
    e: &Entry,
) -> anyhow::Result<&'static str> {
    match restore(client, location, e).await {
        Ok(()) => Ok("restored"),
        Err(err)
            if err
                .downcast_ref::<ApiError>()
                .is_some_and(ApiError::is_not_found) =>
        {
            Ok("already_gone")
        }
        Err(err) => Err(err),
    }
}

/// What an unsettled write turned out to be.
enum Settled {
    /// It created or updated a contact: the entry to undo.
    Undo(Entry),
    /// Nothing to undo: `not_applied`, or `left` (an update with no previous values).
    Nothing(&'static str),
}

/// Settles a write the run never settled by looking up the contact its row's email or phone
/// matches now: none (never applied, or deleted since) → nothing to undo; added at or after the
/// write was sent → the run created it; the contact an update was sent to → restore its
/// previous values; any other contact (an upsert sent without reading the location first, or a
/// contact the read missed) → left as it is: its previous values were never read.
async fn settle(
    client: &ghl_client::client::GhlClient,
    location: &str,
    e: &Entry,
    u: &Unsettled,
) -> anyhow::Result<Settled> {
    let found = client
        .duplicate(location, u.email.as_deref(), u.phone.as_deref())
        .await
        .context("looking up the contact of a write the run left unsettled")?;
    let Some(c) = found else {
        return Ok(Settled::Nothing("not_applied"));
    };
    let entry = |action: &str| Entry {
        line: e.line,
        row: e.row.clone(),
        action: action.to_owned(),
        contact_id: c.id.clone(),
        before: e.before.clone(),
        unknown: None,
    };
    let created = u.expect != "update" && u.at.is_some_and(|at| client.added_since(&c, at));
    Ok(match u.expect.as_str() {
        _ if created => Settled::Undo(entry("created")),
        "update" if c.id == e.contact_id && e.before.is_some() => Settled::Undo(entry("updated")),
        _ => Settled::Nothing("left"),
    })
}

/// Puts back the previous values of an updated contact.
async fn restore(
    client: &ghl_client::client::GhlClient,
    location: &str,
    e: &Entry,
) -> anyhow::Result<()> {
    let before = e.before.as_ref().cloned().unwrap_or_default();
    let mut body = UpdateContact::default();
    for (field, old) in &before {
        if field == "companyName" {
            continue; // below: PUT cannot write it
        }
        if !body.restore(field, old) {
            anyhow::bail!("{field} cannot be restored with an update");
        }
    }
    if body != UpdateContact::default() {
        client.update_contact(&e.contact_id, &body).await?;
    }
    if let Some(old) = before.get("companyName") {
        restore_company(
            client,
            location,
            &e.contact_id,
            old.as_str().unwrap_or_default(),
        )
        .await?;
    }
    Ok(())
}
