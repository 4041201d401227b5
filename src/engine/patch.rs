//! `retry-rejects`, second half: the values a run listed in its rejected_values.csv — fixed there
//! by the user — written into the contacts their rows were loaded into, one `PUT` per value with
//! that field only, nothing else of the contact touched. Each write is recorded in this run's
//! rollback.jsonl with the field's previous value; a value still wrong (or refused by the API) is
//! listed again in this run's rejected_values.csv.

use std::path::Path;

use anyhow::Context;

use crate::outcome::codes;
use crate::report::{self, unescape_formula};
use crate::transform::{DroppedValue, Transformer};
use ghl_client::client::GhlClient;

/// What the patching did.
#[derive(Debug, Default)]
pub(super) struct Patched {
    /// Values written into their contacts.
    pub written: u64,
    /// Values listed again (still wrong, refused, or no longer mapped): row, value, contact.
    pub again: Vec<(u64, DroppedValue, String)>,
}

/// One line of a run's rejected_values.csv.
struct Line {
    row: u64,
    value: DroppedValue,
    contact_id: String,
}

fn lines(run_dir: &Path) -> anyhow::Result<Vec<Line>> {
    let path = run_dir.join(report::REJECTED_VALUES_CSV);
    let mut r = match csv::Reader::from_path(&path) {
        Ok(r) => r,
        Err(_) => return Ok(Vec::new()),
    };
    let head = r.headers()?.clone();
    let at = |name: &str| head.iter().position(|h| h == name);
    // Every column but `kept_in` (what was kept in a note stays there).
    let Some(cols) = report::csvfiles::VALUE_COLUMNS
        .iter()
        .filter(|c| **c != "kept_in")
        .map(|c| at(c))
        .collect::<Option<Vec<usize>>>()
    else {
        return Ok(Vec::new()); // written before values could be patched: no contact ids
    };
    let mut out = Vec::new();
    for rec in r.records() {
        let rec = rec.with_context(|| format!("reading {}", path.display()))?;
        let cell = |i: usize| rec.get(cols[i]).unwrap_or("").to_owned();
        let code = codes::VALUE_CODES
            .iter()
            .find(|c| **c == cell(4))
            .copied()
            .unwrap_or(codes::INVALID_VALUE);
        out.push(Line {
            row: cell(0).parse().unwrap_or(0),
            value: DroppedValue {
                column: cell(1),
                value: unescape_formula(&cell(2)).to_owned(),
                field: cell(3),
                code,
                message: cell(5),
                hint: cell(6),
                kept_in: None,
            },
            contact_id: cell(7),
        });
    }
    Ok(out)
}

/// Patches the values of `run_dir`'s rejected_values.csv into their contacts, each recorded in
/// this run's rollback.jsonl (`manifest`) before it is sent.
pub(super) async fn patch_values(
    run_dir: &Path,
    manifest: Option<&super::manifest::Manifest>,
    t: &Transformer,
    client: &GhlClient,
    stop: &super::rows::Stop,
) -> anyhow::Result<Patched> {
    let mut done = Patched::default();
    for line in lines(run_dir)? {
        // A second phone or email has no field to go to; a dry run's rows have no contact.
        if line.value.code == codes::EXTRA_VALUE || line.contact_id.is_empty() {
            continue;
        }
        let Line {
            row,
            value,
            contact_id,
        } = line;
        if stop.is_stopped() {
            done.again.push((row, value, contact_id));
            continue;
        }
        let body = match t.patch_for(&value.field, &value.value) {
            None => {
                done.again.push((row, value, contact_id));
                continue;
            }
            Some(Err(e)) => {
                done.again.push((row, still(value, e), contact_id));
                continue;
            }
            Some(Ok(body)) => body,
        };
        let written = async {
            let before = client.get_contact(&contact_id).await?;
            let pre = previous(&before, &value.field, &body);
            let keys = ghl_client::types::UpsertContact {
                email: before.email.clone(),
                phone: before.phone.clone(),
                ..Default::default()
            };
            let intent = super::manifest::Intent {
                row,
                body: &keys,
                expect: super::manifest::Expect::Update,
                contact_id: Some(&contact_id),
                before: Some(&pre),
            };
            // Recorded before it is sent; a manifest that cannot be written sends nothing.
            let n = match manifest {
                Some(m) => Some(m.intent(&intent).map_err(Unwritten::Manifest)?),
                None => None,
            };
            let r = client.update_contact(&contact_id, &body).await;
            if let (Some(m), Some(n)) = (manifest, n) {
                let updated = crate::outcome::Outcome::Updated {
                    contact_id: contact_id.clone(),
                };
                match &r {
                    Ok(_) => m.settle(n, row, Some(&updated), Some(&pre)),
                    // Refused: not applied. Otherwise it stays unsettled for rollback to restore.
                    Err(ghl_client::error::ApiError::Rejected { .. }) => {
                        m.settle(n, row, None, None)
                    }
                    Err(_) => Ok(()),
                }
                .map_err(Unwritten::Manifest)?;
            }
            r.map_err(Unwritten::Api)
        }
        .await;
        match written {
            Ok(_) => done.written += 1,
            Err(Unwritten::Manifest(e)) => return Err(e.context("writing rollback.jsonl")),
            Err(Unwritten::Api(e)) => {
                let rej = match crate::load::outcome_of_error(e) {
                    Ok(rej) => rej,
                    Err(fatal) => {
                        stop.stop(fatal.0);
                        crate::outcome::RowError::new(
                            crate::outcome::Stage::Load,
                            codes::NOT_ATTEMPTED,
                            "not written: the run stopped",
                            "re-run retry-rejects",
                        )
                    }
                };
                done.again.push((row, still(value, rej), contact_id));
            }
        }
    }
    Ok(done)
}

/// A value listed again, with why it is still not in its contact.
fn still(value: DroppedValue, why: crate::outcome::RowError) -> DroppedValue {
    DroppedValue {
        code: why.code,
        message: why.message,
        hint: why.hint,
        ..value
    }
}

/// Why a patch was not written.
enum Unwritten {
    Api(ghl_client::error::ApiError),
    Manifest(anyhow::Error),
}

impl From<ghl_client::error::ApiError> for Unwritten {
    fn from(e: ghl_client::error::ApiError) -> Self {
        Unwritten::Api(e)
    }
}

/// The field's value in `contact` before the patch, as rollback.jsonl records it.
fn previous(
    contact: &ghl_client::types::Contact,
    field: &str,
    body: &ghl_client::types::UpdateContact,
) -> super::rows::PreImage {
    if let Some(cf) = body.custom_fields.iter().flatten().next() {
        let old = contact
            .custom_fields
            .iter()
            .find(|v| v.id == cf.id)
            .map(|v| v.value.clone())
            .unwrap_or(serde_json::Value::Null);
        return [(format!("customField:{}", cf.id), old)].into();
    }
    let v = serde_json::to_value(contact).unwrap_or_default();
    let old = match &v[field] {
        serde_json::Value::Null => serde_json::Value::String(String::new()),
        other => other.clone(),
    };
    [(field.to_owned(), old)].into()
}

/// Appends the values listed again to this run's rejected_values.csv.
pub(super) fn list_again(
    out_dir: &Path,
    again: &[(u64, DroppedValue, String)],
    escape: bool,
) -> anyhow::Result<()> {
    let f = std::fs::OpenOptions::new()
        .append(true)
        .open(out_dir.join(report::REJECTED_VALUES_CSV))?;
    let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(f);
    for (row, d, id) in again {
        report::csvfiles::write_value_lines(&mut w, escape, *row, std::slice::from_ref(d), id)?;
    }
    w.flush()?;
    Ok(())
}
