//! Load: write prepared rows to the location and turn each answer into an [`Outcome`]. Rows are
//! written with `POST /contacts/upsert` (no 400-duplicate path, and a retry after a lost answer
//! matches the contact the first attempt created). Throttle and retries live in the client.

mod compare;
pub mod csv_sink;
pub mod followups;
pub mod plan;
mod settle;
mod width;

use crate::outcome::{codes, Outcome, RowError, Stage};
use crate::transform::followup::{NoteOp, TaskAction, TaskOp};
use crate::transform::Prepared;
use ghl_client::client::GhlClient;
use ghl_client::error::ApiError;
use ghl_client::types::Task;

pub use settle::Written;

/// Writes rows through one client.
#[derive(Debug, Clone)]
pub struct Loader {
    client: GhlClient,
}

/// An error that stops the whole run (bad token, no access to the location).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Fatal(pub String);

impl Loader {
    /// A loader on `client`.
    pub fn new(client: GhlClient) -> Self {
        Loader { client }
    }

    /// The client (for its stats).
    pub fn client(&self) -> &GhlClient {
        &self.client
    }

    /// Requests to keep in flight for this location now: sized from its rate limit and the
    /// answer times measured so far (Little's law), never above `cap` (`load.concurrency`).
    pub fn in_flight(&self, cap: Option<usize>) -> usize {
        self.client.throttle().in_flight(cap)
    }

    /// Upserts one row.
    pub async fn upsert(&self, row: &Prepared) -> Result<Written, Fatal> {
        self.write(
            &row.body,
            crate::config::TagMode::Replace,
            &row.notes,
            &row.tasks,
            None,
        )
        .await
    }

    /// Whether the location's daily allowance left is at or below `floor` (as last advertised):
    /// with a floor of 0, whether it is spent.
    pub fn below_floor(&self, floor: u64) -> Option<u64> {
        self.client.daily_remaining().filter(|d| *d <= floor)
    }

    /// Writes a row: the upsert, then — with `add`/`remove` tag modes — the tags follow-up.
    /// `existing` is the contact the location was read to hold for the row, if any (a write to
    /// it is never taken for a create when its answer has to be settled).
    pub async fn write(
        &self,
        body: &ghl_client::types::UpsertContact,
        tags: crate::config::TagMode,
        notes: &[NoteOp],
        tasks: &[TaskOp],
        existing: Option<&str>,
    ) -> Result<Written, Fatal> {
        use crate::config::TagMode;
        let follow = match tags {
            TagMode::Replace => None,
            mode => body
                .tags
                .clone()
                .filter(|t| !t.is_empty())
                .map(|t| (t, mode == TagMode::Add)),
        };
        let upsert_body;
        let body = if follow.is_some() || tags != TagMode::Replace {
            let mut b = body.clone();
            b.tags = None;
            upsert_body = b;
            &upsert_body
        } else {
            body
        };
        let (outcome, warning) = match self.settled_upsert(body, existing).await {
            Ok(o) => o,
            Err(unsettled) => return unsettled.into_written(),
        };
        let id = match &outcome {
            Outcome::Created { contact_id } | Outcome::Updated { contact_id } => contact_id.clone(),
            _ => return Ok(Written::from(outcome)),
        };
        // A contact this very request created (the API said `new`, nothing uncertain) has no
        // notes or tasks yet: none are listed before adding them.
        let mut known = match (&outcome, &warning) {
            (Outcome::Created { .. }, None) => Known::fresh(),
            _ => Known::default(),
        };
        let mut w = Written::from(outcome);
        w.warning = warning;
        if !notes.is_empty() || !tasks.is_empty() {
            if let Err(e) = self.follow_ups(&id, notes, tasks, &mut known).await {
                w.follow_up_failed(&id, "adding its notes or tasks", e);
                return Ok(w);
            }
        }
        if let Some((tag_list, add)) = follow {
            if let Err(e) = self.client.change_tags(&id, &tag_list, add).await {
                let what = if add {
                    "adding its tags"
                } else {
                    "removing its tags"
                };
                w.follow_up_failed(&id, what, e);
            }
        }
        Ok(w)
    }
}

/// What is known of a contact's notes and tasks: listed on first need, then kept up to date by
/// the writes, so that several rows for one contact list them once.
#[derive(Debug, Default)]
pub struct Known {
    /// Trimmed note bodies.
    notes: Option<Vec<String>>,
    tasks: Option<Vec<Task>>,
}

impl Known {
    /// A contact created a moment ago: it has neither notes nor tasks.
    fn fresh() -> Known {
        Known {
            notes: Some(Vec::new()),
            tasks: Some(Vec::new()),
        }
    }
}

impl Loader {
    /// Applies the task operations the contact needs, in order. Returns the number of writes
    /// made: 0 when everything was already so.
    async fn apply_tasks(
        &self,
        id: &str,
        tasks: &[TaskOp],
        known: &mut Known,
    ) -> Result<u64, ApiError> {
        if tasks.is_empty() {
            return Ok(0);
        }
        let existing = match &mut known.tasks {
            Some(t) => t,
            None => known.tasks.insert(self.client.tasks(id).await?),
        };
        let mut writes = 0;
        let same_title = |a: &str, b: &str| a.trim().eq_ignore_ascii_case(b.trim());
        let same = |t: &Task, title: &str| same_title(&t.title, title);
        for (k, op) in tasks.iter().enumerate() {
            let due = op.due.as_deref();
            // A task the same row also completes is created completed: one write, not two.
            let done = tasks[k + 1..]
                .iter()
                .any(|o| o.action == TaskAction::Complete && same_title(&o.title, &op.title));
            match op.action {
                TaskAction::Create => {
                    let has = existing
                        .iter()
                        .any(|t| same(t, &op.title) && t.due_date.as_deref() == due);
                    if !has {
                        self.create_task(id, op, done, existing).await?;
                        writes += 1;
                    }
                }
                TaskAction::Update => match existing.iter_mut().find(|t| same(t, &op.title)) {
                    Some(t) => {
                        let new_due = due.filter(|d| t.due_date.as_deref() != Some(*d));
                        let new_body = op.body.as_deref().filter(|b| t.body.as_deref() != Some(*b));
                        if new_due.is_some() || new_body.is_some() {
                            self.client
                                .update_task(id, &t.id, new_due, new_body)
                                .await?;
                            if let Some(d) = new_due {
                                t.due_date = Some(d.to_owned());
                            }
                            if let Some(b) = new_body {
                                t.body = Some(b.to_owned());
                            }
                            writes += 1;
                        }
                    }
                    None => {
                        self.create_task(id, op, done, existing).await?;
                        writes += 1;
                    }
                },
                TaskAction::Complete => {
                    for t in existing
                        .iter_mut()
                        .filter(|t| same(t, &op.title) && !t.completed)
                    {
                        self.client.complete_task(id, &t.id).await?;
                        t.completed = true;
                        writes += 1;
                    }
                }
                TaskAction::Delete => {
                    while let Some(i) = existing.iter().position(|t| same(t, &op.title)) {
                        self.client.delete_task(id, &existing[i].id).await?;
                        existing.remove(i);
                        writes += 1;
                    }
                }
            }
        }
        Ok(writes)
    }

    /// Creates the task of `op` (`completed` already when the row also completes it) and adds
    /// it to the contact's known tasks.
    async fn create_task(
        &self,
        id: &str,
        op: &TaskOp,
        completed: bool,
        existing: &mut Vec<Task>,
    ) -> Result<(), ApiError> {
        let due = op.due.as_deref().unwrap_or_default();
        let created = self
            .client
            .create_task(id, &op.title, due, op.body.as_deref(), completed)
            .await?;
        // Kept with its id, so that a later operation of the same row (complete) can address it.
        existing.push(Task {
            id: created.id,
            title: op.title.clone(),
            due_date: Some(due.to_owned()),
            body: op.body.clone(),
            completed,
            ..Task::default()
        });
        Ok(())
    }

    /// Adds the notes the contact does not have yet (compared by trimmed text). Returns the
    /// number of notes added.
    async fn add_notes(
        &self,
        id: &str,
        notes: &[NoteOp],
        known: &mut Known,
    ) -> Result<u64, ApiError> {
        if notes.is_empty() {
            return Ok(0);
        }
        let existing = match &mut known.notes {
            Some(n) => n,
            None => {
                let listed = self.client.notes(id).await?;
                known
                    .notes
                    .insert(listed.iter().map(|n| n.body.trim().to_owned()).collect())
            }
        };
        let mut added = 0;
        for (title, body) in notes {
            if !existing.iter().any(|b| b == body.trim()) {
                self.client.create_note(id, title.as_deref(), body).await?;
                existing.push(body.trim().to_owned());
                added += 1;
            }
        }
        Ok(added)
    }

    /// Notes and task operations for an existing contact; the number of writes made. `known`
    /// carries what earlier rows for the same contact listed.
    pub async fn follow_ups(
        &self,
        id: &str,
        notes: &[NoteOp],
        tasks: &[TaskOp],
        known: &mut Known,
    ) -> Result<u64, ApiError> {
        Ok(self.add_notes(id, notes, known).await? + self.apply_tasks(id, tasks, known).await?)
    }
}

/// What a 401 or 403 means and what to do about it: the run stops on it, `validate --live` shows it.
/// `renew` says how to get a valid token, in the pipeline's words.
pub fn refused_credentials(status: u16, message: &str, renew: &str) -> String {
    match status {
        401 if message.starts_with("OAuth:") => format!("the API could not be authorized: {message}"),
        401 => format!(
            "the API refused the token (HTTP 401: {message}): it is not a valid token, or it expired or was \
             revoked; {renew}"
        ),
        _ => format!(
            "the token has no access (HTTP {status}: {message}); check target.location_id (a token \
             works for its own location only) and that the token has the contacts.write scope"
        ),
    }
}

/// Maps a failed call to a row reject, or to a fatal error for auth problems.
pub fn outcome_of_error(e: ApiError) -> Result<RowError, Fatal> {
    match e {
        ApiError::Auth { status, message } => Err(Fatal(refused_credentials(
            status,
            &message,
            "check that the variable named by target.auth.token_env holds a current Private Integration \
             Token of this location (with auth.oauth: run `ghl-import auth login` again)",
        ))),
        ApiError::Rejected { status, messages, trace_id, meta } => {
            let mut message = format!("HTTP {status}: {}", messages.join("; "));
            if let Some(t) = trace_id {
                message.push_str(&format!(" (traceId {t})"));
            }
            let hint = match (&meta, status) {
                (Some(m), _) if m.contact_id.is_some() => format!(
                    "contact {} already has this {}; the location does not allow duplicates",
                    m.contact_id.as_deref().unwrap_or_default(),
                    m.matching_field.as_deref().unwrap_or("value")
                ),
                (_, 422) => "fix the values the API names, then re-run".to_owned(),
                _ => "check the row against the API's message, then re-run".to_owned(),
            };
            Ok(RowError::new(Stage::Load, codes::API_REJECTED, message, hint))
        }
        e @ (ApiError::Unavailable { .. } | ApiError::RateLimitedTooLong { .. }) => Err(Fatal(format!(
            "api_unavailable: {e}; stopped instead of retrying every row — check the base URL and the \
             network (load.timeout_secs, load.connect_timeout_secs), then re-run: rows already written are \
             matched, not duplicated"
        ))),
        e @ ApiError::DailyExhausted { .. } => Err(Fatal(format!(
            "{e}; re-run after the daily window resets (rows already written will not be duplicated)"
        ))),
        ApiError::Exhausted { attempts, last } => Ok(RowError::new(
            Stage::Load,
            codes::API_UNAVAILABLE,
            format!("not written after {attempts} attempts: {last}"),
            "re-run the pipeline later; upserts do not create duplicates",
        )),
        e @ ApiError::Decode { .. } => Ok(RowError::new(
            Stage::Load,
            codes::API_UNAVAILABLE,
            e.to_string(),
            "the write may have happened; re-run the pipeline (upserts do not create duplicates)",
        )),
    }
}
