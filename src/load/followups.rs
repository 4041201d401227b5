//! Follow-up files (`load.followups`): notes and task operations for contacts named by email,
//! read before the run (a bad file or column stops it with a config error before anything is
//! written) and applied after the rows are written, against a fresh index of the location (one
//! read per 500 contacts). Rows of one contact are applied in file order; contacts in parallel.
//! Every row of every file gets one outcome in `followups.csv`: `applied`, `unchanged` (the
//! contact already had it all) or `rejected` with a code, a message and a hint.

use std::collections::{BTreeMap, HashMap};

/// A contact's tags now (when known) and its follow-up rows in file order.
type Group = (Option<Vec<String>>, Vec<usize>);
use std::path::{Path, PathBuf};

use super::plan::Index;
use super::{outcome_of_error, Fatal, Loader};
use crate::config::{CsvSource, Pipeline, Source};
use crate::error::{ConfigError, ConfigErrors};
use crate::extract::{find_column, SourceItem, SourceReader};
use crate::outcome::{codes, RowError, Stage};
use crate::report::summary::FollowUpCounts;
use crate::transform::followup::{FollowUpColumns, NoteOp, TaskOp};
use anyhow::Context;

/// The report file.
pub const FOLLOWUPS_CSV: &str = "followups.csv";

/// What one row does to its contact.
#[derive(Debug)]
struct Ops {
    notes: Vec<NoteOp>,
    tasks: Vec<TaskOp>,
    /// Tags, and whether they are added (else removed).
    tags: Option<(Vec<String>, bool)>,
}

/// One row of a follow-up file, read and checked.
#[derive(Debug)]
struct FollowRow {
    file: usize,
    row: u64,
    email: String,
    ops: Result<Ops, RowError>,
}

/// The follow-up files of a pipeline, read.
#[derive(Debug, Default)]
pub struct FollowUps {
    files: Vec<PathBuf>,
    rows: Vec<FollowRow>,
}

impl FollowUps {
    /// Reads every follow-up file of the pipeline. Unreadable files and unknown columns are
    /// config errors; row problems (bad email, bad task) become that row's reject.
    pub fn read(p: &Pipeline) -> Result<FollowUps, ConfigErrors> {
        let mut out = FollowUps::default();
        let mut errs = Vec::new();
        for f in &p.load.followups {
            let src = Source::Csv(CsvSource::new(&f.path));
            let reader = match SourceReader::open(&src) {
                Ok(r) => r,
                Err(e) => {
                    errs.push(ConfigError::new(format!("load.followups: {e}")));
                    continue;
                }
            };
            let headers = reader.headers().clone();
            let key = format!("load.followups ({})", f.path.display());
            let email_col = find_column(&headers, &f.email);
            if email_col.is_none() {
                errs.push(ConfigError::new(format!(
                    "{key}: email column `{}` is not in the file; columns: {}",
                    f.email,
                    headers
                        .iter()
                        .map(|h| format!("`{}`", h.trim()))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            let cols = FollowUpColumns::resolve(p, &headers, &f.notes, &f.tasks, &key, &mut errs);
            let tag_col = f.tags.as_ref().and_then(|t| {
                let c = find_column(&headers, &t.column);
                if c.is_none() {
                    errs.push(ConfigError::new(format!(
                        "{key}: tags column `{}` is not in the file",
                        t.column
                    )));
                }
                c.map(|c| (c, t.mode == crate::config::TagMode::Add))
            });
            let Some(email_col) = email_col else { continue };
            out.files.push(f.path.clone());
            let file = out.files.len() - 1;
            for item in reader {
                let (row, ops, email) = match item {
                    SourceItem::Row(rec) => {
                        let raw = rec.get(email_col);
                        let ops = match crate::transform::normalize::email(raw) {
                            Ok(Some(e)) => cols.extract(&rec).map(|(notes, tasks)| {
                                let tags = tag_col.and_then(|(c, add)| {
                                    crate::transform::normalize::tags_split(
                                        rec.get(c),
                                        &[",".into(), ";".into()],
                                    )
                                    .map(|t| (t, add))
                                });
                                (e, Ops { notes, tasks, tags })
                            }),
                            Ok(None) => Err(RowError::new(
                                Stage::Validate,
                                codes::MISSING_CONTACT_KEY,
                                "the row has no email",
                                "fill in the email of the contact the notes and tasks belong to",
                            )),
                            Err(e) => Err(e),
                        };
                        match ops {
                            Ok((e, ops)) => (rec.row, Ok(ops), e),
                            Err(e) => (rec.row, Err(e), raw.trim().to_owned()),
                        }
                    }
                    SourceItem::Malformed { raw, error } => (raw.row, Err(error), String::new()),
                };
                out.rows.push(FollowRow {
                    file,
                    row,
                    email,
                    ops,
                });
            }
        }
        if errs.is_empty() {
            Ok(out)
        } else {
            Err(ConfigErrors(errs))
        }
    }

    /// Whether there is nothing to apply.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Each row's contact: by the id this run's write returned, else by email in `index`. Rows
    /// that cannot be applied get their reject in `results`; the others are grouped by contact
    /// (with its tags when known), in file order.
    fn group(
        &self,
        written: &HashMap<String, String>,
        index: Option<&Index>,
        stopped_before: Option<&str>,
        results: &mut Vec<Result<u64, RowError>>,
    ) -> BTreeMap<String, Group> {
        // Contact id per row, or the row's reject.
        // Contact id → (its tags now, when known, its rows in file order).
        let mut groups: BTreeMap<String, Group> = BTreeMap::new();
        for (i, r) in self.rows.iter().enumerate() {
            let by_id = written.get(&r.email.to_lowercase());
            let res = match (&r.ops, by_id, index) {
                (Err(e), _, _) => Err(e.clone()),
                (Ok(_), _, _) if stopped_before.is_some() => {
                    Err(not_attempted(stopped_before.unwrap_or("stopped")))
                }
                (Ok(_), Some(id), _) => {
                    groups.entry(id.clone()).or_default().1.push(i);
                    Ok(0)
                }
                (Ok(_), None, None) => Err(not_attempted("stopped")),
                (Ok(_), None, Some(idx)) => match idx.contact_by_email(&r.email) {
                    Some(c) => {
                        groups
                            .entry(c.id.clone())
                            .or_insert_with(|| (Some(c.tags.clone()), Vec::new()))
                            .1
                            .push(i);
                        Ok(0)
                    }
                    None => Err(RowError::new(
                        Stage::Load,
                        codes::NOT_FOUND,
                        format!("no contact of the location has the email {}", r.email),
                        "load the contact first (a row of the main file), or fix the email",
                    )),
                },
            };
            results.push(res);
        }
        groups
    }

    /// Applies the rows to the contacts of `location` and writes `followups.csv` into `out`.
    /// `written` maps the (lower-cased) emails of the contacts this run wrote to their ids: those
    /// are addressed by id, since search results lag writes; only the other emails are looked up
    /// in an index of the location (read only when some are left). `stopped` (the run's stop
    /// reason, asked as the rows go) turns the rows not yet sent into `not_attempted`.
    pub async fn apply(
        self,
        loader: &Loader,
        location: &str,
        cap: Option<usize>,
        written: &HashMap<String, String>,
        stopped: &(dyn Fn() -> Option<String> + Sync),
        out: &Path,
    ) -> anyhow::Result<(FollowUpCounts, Option<Fatal>)> {
        let mut results: Vec<Result<u64, RowError>> = Vec::with_capacity(self.rows.len());
        let mut fatal = None;
        let stopped_before = stopped();
        let unknown = self
            .rows
            .iter()
            .any(|r| r.ops.is_ok() && !written.contains_key(&r.email.to_lowercase()));
        let index: Option<Index> = match (&stopped_before, unknown) {
            (Some(_), _) | (None, false) => None,
            (None, true) => Some(Index::fetch(loader.client(), location).await.map_err(|e| {
                anyhow::anyhow!("follow-ups: reading the contacts of {location}: {e}")
            })?),
        };
        let groups = self.group(
            written,
            index.as_ref(),
            stopped_before.as_deref(),
            &mut results,
        );
        let rows = &self.rows;
        let groups_len = groups.len();
        let work = groups.into_iter().map(|(id, (mut tags, idxs))| async move {
            let mut out = Vec::with_capacity(idxs.len());
            let mut known = super::Known::default();
            let mut stop: Option<Fatal> = None;
            for i in idxs {
                let Ok(ops) = &rows[i].ops else {
                    continue;
                };
                // A fatal error here, or the run stopped meanwhile (a signal): no more writes.
                let why = stop.as_ref().map(|f| f.0.clone()).or_else(stopped);
                let r = match why {
                    Some(why) => Err(not_attempted(&why)),
                    None => match apply_row(loader, &id, ops, &mut tags, &mut known).await {
                        Ok(n) => Ok(n),
                        Err(e) => match outcome_of_error(e) {
                            Ok(mut rej) => {
                                rej.message = format!("contact {id}: {}", rej.message);
                                Err(rej)
                            }
                            Err(f) => {
                                let rej = not_attempted(&f.0);
                                stop = Some(f);
                                Err(rej)
                            }
                        },
                    },
                };
                out.push((i, id.clone(), r));
            }
            (out, stop)
        });
        let sent_before = loader
            .client()
            .stats()
            .requests
            .load(std::sync::atomic::Ordering::Relaxed);
        let contacts = groups_len as u64;
        let mut ids: Vec<String> = vec![String::new(); self.rows.len()];
        super::width::each_within(
            work,
            || loader.in_flight(cap),
            |(group, stop)| {
                for (i, id, r) in group {
                    ids[i] = id;
                    results[i] = r;
                }
                if fatal.is_none() {
                    fatal = stop;
                }
            },
        )
        .await;
        let requests = loader
            .client()
            .stats()
            .requests
            .load(std::sync::atomic::Ordering::Relaxed)
            - sent_before;
        let mut counts = FollowUpCounts {
            requests,
            contacts,
            requests_per_contact: if contacts > 0 {
                requests as f64 / contacts as f64
            } else {
                0.0
            },
            ..FollowUpCounts::default()
        };
        let path = out.join(FOLLOWUPS_CSV);
        let mut w = csv::Writer::from_path(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        w.write_record([
            "file",
            "row",
            "email",
            "contact_id",
            "outcome",
            "code",
            "message",
            "hint",
        ])?;
        for (i, (r, res)) in self.rows.iter().zip(results).enumerate() {
            counts.rows += 1;
            let file = self.files[r.file].display().to_string();
            let row = r.row.to_string();
            let email = crate::report::escape_formula(&r.email);
            match res {
                Ok(n) => {
                    let outcome = if n > 0 {
                        counts.applied += 1;
                        "applied"
                    } else {
                        counts.unchanged += 1;
                        "unchanged"
                    };
                    w.write_record([file.as_str(), &row, &email, &ids[i], outcome, "", "", ""])?;
                }
                Err(e) => {
                    counts.rejected += 1;
                    *counts
                        .rejected_by_code
                        .entry(e.code.to_owned())
                        .or_default() += 1;
                    w.write_record([
                        file.as_str(),
                        &row,
                        &email,
                        &ids[i],
                        "rejected",
                        e.code,
                        &crate::report::escape_formula(&e.message),
                        &e.hint,
                    ])?;
                }
            }
        }
        w.flush()?;
        Ok((counts, fatal))
    }
}

/// One row's notes, tasks and tags; the number of writes. `tags` (the contact's current list)
/// and `known` (its notes and tasks) are kept up to date across its rows: each is listed once
/// per contact, and only what changes something is sent.
async fn apply_row(
    loader: &Loader,
    id: &str,
    ops: &Ops,
    tags: &mut Option<Vec<String>>,
    known: &mut super::Known,
) -> Result<u64, ghl_client::error::ApiError> {
    let mut writes = loader.follow_ups(id, &ops.notes, &ops.tasks, known).await?;
    if let Some((list, add)) = &ops.tags {
        // A contact this run wrote: its tags are read by id (search may not show it yet).
        let tags = match tags {
            Some(t) => t,
            None => tags.insert(loader.client().get_contact(id).await?.tags),
        };
        let has = |t: &String| tags.iter().any(|x| x.eq_ignore_ascii_case(t));
        let change: Vec<String> = list.iter().filter(|t| has(t) != *add).cloned().collect();
        if !change.is_empty() {
            loader.client().change_tags(id, &change, *add).await?;
            if *add {
                tags.extend(change);
            } else {
                tags.retain(|t| !change.iter().any(|c| c.eq_ignore_ascii_case(t)));
            }
            writes += 1;
        }
    }
    Ok(writes)
}

fn not_attempted(why: &str) -> RowError {
    RowError::new(
        Stage::Load,
        codes::NOT_ATTEMPTED,
        format!("not sent: the run stopped ({why})"),
        "fix the cause and re-run: notes and tasks the contact already has are not added twice",
    )
}
