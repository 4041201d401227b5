//! `ghl-import rollback <run-dir>`: undo a run from its rollback.jsonl — delete the contacts it
//! created and put back the previous values of the fields it changed (known when the run indexed
//! the location: sync/create/update modes or field policies). Newest first.

use std::io::BufRead;
use std::path::Path;

use anyhow::Context;

use crate::error::{ConfigError, Exit};
use crate::ghl::types::UpdateContact;

/// Puts back a contact's company name, which `PUT /contacts/{id}` cannot write: with an upsert
/// keyed by the contact's email (or phone), sent only after a search shows that key matches this
/// contact and no other, and checked against the contact the upsert answers with.
async fn restore_company(
    client: &crate::ghl::client::GhlClient,
    location: &str,
    id: &str,
    old: &str,
) -> anyhow::Result<()> {
    use crate::ghl::types::{SearchRequest, UpsertContact};
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

/// Undoes the run in `run_dir` against its pipeline's target (token from the pipeline's variable).
pub async fn rollback(run_dir: &Path, state_dir: Option<&Path>) -> anyhow::Result<Exit> {
    let manifest = run_dir.join(crate::report::ROLLBACK_JSONL);
    let file = std::fs::File::open(&manifest).map_err(|e| {
        ConfigError::new(format!(
            "cannot read {}: {e} (is {} a run's output folder?)",
            manifest.display(),
            run_dir.display()
        ))
    })?;
    let opts = super::retry_rejects_options(run_dir)?;
    let p = crate::config::load(&opts.pipeline)?;
    let t = p
        .target
        .as_ref()
        .ok_or_else(|| ConfigError::new("the run's pipeline has no GHL target"))?;
    let creds = super::credentials(&p, "target", t, state_dir)?;
    super::check_scope(
        &creds,
        &t.location_id,
        crate::auth::SCOPE_WRITE,
        "`rollback`",
    )
    .await?;
    let client = super::client_for(&p, t.base_url.clone(), creds)?;
    let mut entries: Vec<serde_json::Value> = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line.with_context(|| format!("reading {}", manifest.display()))?;
        if !line.trim().is_empty() {
            entries.push(
                serde_json::from_str(&line)
                    .with_context(|| format!("{}: bad line", manifest.display()))?,
            );
        }
    }
    let (mut deleted, mut restored, mut skipped, mut failed) = (0u64, 0u64, 0u64, 0u64);
    for e in entries.iter().rev() {
        let id = e["contact_id"].as_str().unwrap_or_default();
        match e["action"].as_str() {
            Some("created") => match client.delete_contact(id).await {
                Ok(()) => deleted += 1,
                Err(err) => {
                    failed += 1;
                    eprintln!("row {}: deleting contact {id}: {err}", e["row"]);
                }
            },
            Some("updated") => {
                let Some(before) = e["before"].as_object() else {
                    skipped += 1;
                    eprintln!(
                        "row {}: contact {id} was updated without a record of its previous values",
                        e["row"]
                    );
                    continue;
                };
                let mut body = UpdateContact::default();
                for (field, old) in before {
                    if field == "companyName" {
                        continue; // below: PUT cannot write it
                    }
                    if !body.restore(field, old) {
                        eprintln!(
                            "row {}: {field} of contact {id} cannot be restored with an update",
                            e["row"]
                        );
                    }
                }
                let company = before
                    .get("companyName")
                    .map(|v| v.as_str().unwrap_or_default());
                let put = if body == UpdateContact::default() {
                    Ok(())
                } else {
                    client.update_contact(id, &body).await
                };
                let done = match (put, company) {
                    (Ok(()), Some(old)) => restore_company(&client, &t.location_id, id, old).await,
                    (r, _) => r.map_err(anyhow::Error::from),
                };
                match done {
                    Ok(()) => restored += 1,
                    Err(err) => {
                        failed += 1;
                        eprintln!("row {}: restoring contact {id}: {err:#}", e["row"]);
                    }
                }
            }
            _ => {}
        }
    }
    println!(
        "rollback of {}: {deleted} created contacts deleted, {restored} updated contacts restored, {skipped} without previous values, {failed} failed",
        run_dir.display()
    );
    Ok(if failed + skipped > 0 {
        Exit::Rejects
    } else {
        Exit::Ok
    })
}
