//! The per-row step of `run`: what one transformed row comes to — a reject passed through, a
//! journal hit (already applied), a planned action (dry run), a skip, a write, or a row for the
//! CSV sink — and the run-wide stop (a fatal error, Ctrl-C, the daily floor) that turns rows not
//! yet sent into `not_attempted`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::manifest::Expect;
use crate::config::{FieldPolicy, LoadMode, TagMode};
use crate::load::plan::{self as planner, Action, Decision, Planning};
use crate::load::{Fatal, Loader};
use crate::outcome::{codes, Outcome, RowError, Stage};
use crate::record::Record;
use crate::store::journal::{self, Journal};
use crate::transform::Prepared;
use ghl_client::fields::ContactField;

/// What the producer thread hands to the writer.
pub(super) enum Step {
    Reject(RowError),
    Load(Box<Prepared>),
}

/// What one row came to before the report: done, or a row for the CSV sink.
pub(super) enum Done {
    Outcome(Outcome),
    Export(Box<Prepared>),
}

/// Previous values of what a write changed, for rollback.jsonl.
pub(super) type PreImage = BTreeMap<String, serde_json::Value>;

/// A row with what became of it.
pub(super) struct RowResult {
    pub rec: Record,
    pub done: Done,
    pub warnings: Vec<String>,
    /// The row's email, when the run keeps the ids of the contacts it wrote (follow-ups).
    pub email: Option<String>,
    /// Values of the row that are not in its contact (reported when the row is loaded).
    pub dropped: Vec<crate::transform::DroppedValue>,
}

/// How long requests in flight may go on after the run stopped (a signal, a fatal error): then
/// they are abandoned and their rows reported `outcome_unknown`.
pub(super) const GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Why the run stopped, if it did. The first reason is kept; once stopped, rows not yet sent
/// become `not_attempted`.
#[derive(Debug, Default)]
pub(super) struct Stop {
    reason: Mutex<Option<String>>,
    stopped: AtomicBool,
    notify: tokio::sync::Notify,
}

impl Stop {
    /// Stops the run for `why` (unless it already stopped for another reason).
    pub fn stop(&self, why: String) {
        self.reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert(why);
        self.stopped.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Completes when the run stops.
    pub async fn stopped(&self) {
        loop {
            let stopped = self.notify.notified();
            if self.is_stopped() {
                return;
            }
            stopped.await;
        }
    }

    /// Completes [`GRACE`] after the run stopped.
    async fn grace_over(&self) {
        self.stopped().await;
        tokio::time::sleep(GRACE).await;
    }

    /// Whether the run stopped.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// Why the run stopped.
    pub fn reason(&self) -> Option<String> {
        self.reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The outcome of a row not sent because the run stopped.
    pub fn not_attempted(&self) -> Outcome {
        let why = self.reason().unwrap_or_default();
        Outcome::Rejected(RowError::new(
            Stage::Load,
            codes::NOT_ATTEMPTED,
            format!("not sent: the run stopped after a fatal error ({why})"),
            "fix the error, then re-run; rows already written are matched, not duplicated",
        ))
    }

    /// The outcome of a write; a fatal error stops the run.
    fn written(&self, r: Result<Outcome, Fatal>) -> Outcome {
        r.unwrap_or_else(|f| {
            self.stop(f.0);
            self.not_attempted()
        })
    }

    /// The outcome of a row whose write was still unanswered [`GRACE`] after the run stopped.
    fn abandoned() -> Outcome {
        Outcome::Rejected(RowError::new(
            Stage::Load,
            codes::OUTCOME_UNKNOWN,
            format!(
                "the run stopped and this row's request was still unanswered after {} s: it may or may not \
                 have been applied",
                GRACE.as_secs()
            ),
            "re-run the pipeline: the upsert matches the contact if it was created, never duplicating it, and \
             the re-run (or a rollback) settles it by looking it up",
        ))
    }
}

/// Rows processed at once when no location's throttle sizes it (a dry run planned from an index
/// read up front: the rows make no requests).
const UNTHROTTLED: usize = 8;

/// Everything a row needs, shared by the rows in flight.
pub(super) struct RowCtx {
    pub loader: Option<Loader>,
    pub planning: Option<Arc<Planning>>,
    pub journal: Option<Mutex<Journal>>,
    /// rollback.jsonl: each write's intent before it is sent, its outcome after.
    pub manifest: Option<Arc<super::manifest::Manifest>>,
    pub policies: Vec<(ContactField, FieldPolicy)>,
    pub stop: Arc<Stop>,
    /// Set when the daily floor stopped the run.
    pub floor_hit: AtomicBool,
    pub mode: LoadMode,
    pub tags: TagMode,
    pub dry_run: bool,
    pub full_refresh: bool,
    pub daily_floor: u64,
    /// Keep each written row's email (follow-ups address those contacts by id).
    pub keep_emails: bool,
    /// Rows whose phone belongs to another person's contact: reject or let the upsert merge.
    pub phone_conflicts: crate::config::PhoneConflicts,
}

impl RowCtx {
    /// What `step` comes to.
    /// Whether rows need no network at all (a CSV sink): nothing to overlap, so they are
    /// processed one after the other.
    pub fn offline(&self) -> bool {
        self.loader.is_none() && self.planning.is_none()
    }

    /// Rows to process at once: as many as the location's requests to keep in flight (sized
    /// from its rate limit and answer times), never above `cap` (`load.concurrency`).
    /// Also when that may grow with no row finished (a request in flight becomes a
    /// straggler).
    pub fn in_flight(&self, cap: Option<usize>) -> (usize, Option<std::time::Instant>) {
        let client = self
            .loader
            .as_ref()
            .map(Loader::client)
            .or(match self.planning.as_deref() {
                Some(crate::load::plan::Planning::PerRow { client, .. }) => Some(&**client),
                _ => None,
            });
        match client {
            Some(c) => c.throttle().width(cap),
            None => (cap.unwrap_or(UNTHROTTLED).max(1), None),
        }
    }

    pub async fn process(&self, rec: Record, step: Step) -> RowResult {
        let prepared = match step {
            Step::Reject(e) => {
                return self.result(rec, Done::Outcome(Outcome::Rejected(e)), Vec::new())
            }
            Step::Load(p) => p,
        };
        let mut prepared = prepared;
        let dropped = std::mem::take(&mut prepared.dropped);
        let email = match self.keep_emails {
            true => prepared.body.email.clone(),
            false => None,
        };
        let mut r = self.load_row(rec, prepared).await;
        r.email = email;
        r.dropped = dropped;
        r
    }

    /// The floor, the journal, then the planned write of a row that passed transform and dedup.
    async fn load_row(&self, rec: Record, mut prepared: Box<Prepared>) -> RowResult {
        let mut warnings = std::mem::take(&mut prepared.warnings);
        if let Some(left) = self
            .loader
            .as_ref()
            .and_then(|l| l.below_floor(self.daily_floor))
        {
            self.floor_hit.store(true, Ordering::SeqCst);
            self.stop.stop(if left == 0 {
                "the location's daily request allowance is spent; re-run after the daily window resets (rows \
                 already written will not be duplicated)"
                    .to_owned()
            } else {
                format!(
                    "the location's daily allowance left ({left}) reached load.daily_floor ({}); re-run after the \
                     daily window resets (rows already written will not be duplicated)",
                    self.daily_floor
                )
            });
        }
        // Journal: rows already applied with the same payload send nothing.
        let journaled = self.journal.as_ref().and_then(|_| {
            let hash = journal::payload_hash(&prepared.body, &(&prepared.notes, &prepared.tasks));
            journal::key(&prepared.body).map(|k| (k, hash))
        });
        let mut unsettled = None;
        if let (Some((k, h)), Some(j)) = (&journaled, &self.journal) {
            let j = j.lock().unwrap_or_else(|p| p.into_inner());
            if !self.full_refresh {
                if let Ok(Some(contact_id)) = j.applied(k, h) {
                    let done = Done::Outcome(Outcome::Unchanged { contact_id });
                    return self.result(rec, done, warnings);
                }
            }
            unsettled = j.unsettled_since(k).ok().flatten();
        }
        let mut before = None;
        let done = if self.stop.is_stopped() {
            Done::Outcome(self.stop.not_attempted())
        } else {
            // Kept only for a row an earlier run left unsettled (rare): no clone per row.
            let body = unsettled.map(|_| prepared.body.clone());
            let done = self
                .load(
                    (rec.row, journaled.as_ref()),
                    prepared,
                    &mut before,
                    &mut warnings,
                )
                .await;
            match (unsettled, body) {
                (Some(at), Some(body)) => {
                    self.earlier_create(rec.row, &body, at, done, &mut warnings)
                        .await
                }
                _ => done,
            }
        };
        if let (
            Some((k, h)),
            Some(j),
            Done::Outcome(Outcome::Created { contact_id } | Outcome::Updated { contact_id }),
        ) = (&journaled, &self.journal, &done)
        {
            if let Err(e) = j
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .done(k, h, contact_id)
            {
                tracing::warn!(error = %e, "Could not record the result in the run journal.");
            }
        }
        self.result(rec, done, warnings)
    }

    /// A row whose write an earlier run sent without recording the outcome (killed, stopped)
    /// and that this run finds `updated` or `unchanged`: when the contact was added after that
    /// write was sent, the earlier write created it — reported `created` (with a warning) and
    /// recorded so in the manifest, so that rolling back the runs removes it.
    async fn earlier_create(
        &self,
        row: u64,
        body: &ghl_client::types::UpsertContact,
        at: std::time::SystemTime,
        done: Done,
        warnings: &mut Vec<String>,
    ) -> Done {
        let (
            Some(l),
            Done::Outcome(Outcome::Updated { contact_id } | Outcome::Unchanged { contact_id }),
        ) = (&self.loader, &done)
        else {
            return done;
        };
        let Ok(c) = l.client().get_contact(contact_id).await else {
            return done;
        };
        if !l.client().added_since(&c, at) {
            return done;
        }
        let created = Outcome::Created { contact_id: c.id };
        if let Some(m) = &self.manifest {
            let sent = Sent {
                row,
                journaled: None,
                expect: Expect::Create,
                contact_id: None,
                before: None,
            };
            if let Ok(n) = self.record_intent(m, body, &sent) {
                self.record_settlement(m, n, row, Some(&created), None);
            }
        }
        warnings.push(format!(
            "{}: an earlier run sent this row's write and stopped before its answer; the contact it created is \
             recorded as created by this run",
            codes::CREATED_BY_EARLIER_RUN
        ));
        Done::Outcome(created)
    }

    fn result(&self, rec: Record, done: Done, warnings: Vec<String>) -> RowResult {
        RowResult {
            rec,
            done,
            warnings,
            email: None,
            dropped: Vec::new(),
        }
    }

    /// Plans (when the location is indexed or looked up) and writes, exports or reports a row.
    async fn load(
        &self,
        (row, journaled): (u64, Option<&(String, String)>),
        prepared: Box<Prepared>,
        before: &mut Option<PreImage>,
        warnings: &mut Vec<String>,
    ) -> Done {
        let Some(planning) = &self.planning else {
            return match &self.loader {
                Some(l) => {
                    let sent = Sent {
                        row,
                        journaled,
                        expect: Expect::Upsert,
                        contact_id: None,
                        before: None,
                    };
                    Done::Outcome(
                        self.stop.written(
                            self.write(l, &prepared, &prepared.body, sent, warnings)
                                .await,
                        ),
                    )
                }
                None => Done::Export(prepared),
            };
        };
        let idx = match Box::pin(planning.index_for(&prepared.body)).await {
            Ok(idx) => idx,
            Err(e) => {
                return Done::Outcome(match crate::load::outcome_of_error(e) {
                    Ok(rej) => Outcome::Rejected(rej),
                    Err(f) => self.stop.written(Err(f)),
                })
            }
        };
        if self.phone_conflicts == crate::config::PhoneConflicts::Reject {
            if let Some(e) = self.phone_conflict(&idx, &prepared.body) {
                return Done::Outcome(Outcome::Rejected(e));
            }
        }
        let (action, body) = planner::plan_with(&idx, &prepared.body, &self.policies, self.tags);
        if matches!(action, Action::Update { .. } | Action::Unchanged { .. }) {
            *before = planner::pre_image(&idx, &body);
        }
        Done::Outcome(match planner::decide(self.mode, &action) {
            Decision::Reject {
                code,
                message,
                hint,
            } => Outcome::Rejected(RowError::new(Stage::Load, code, message, hint)),
            Decision::Skip { contact_id } if self.dry_run => Outcome::Planned {
                action: "unchanged",
                contact_id,
                detail: String::new(),
            },
            Decision::Skip { contact_id } => Outcome::Unchanged { contact_id },
            Decision::Write if self.dry_run => planned(action),
            Decision::Write => match &self.loader {
                Some(l) => {
                    let sent = Sent::of(&action, (row, journaled), before.as_ref());
                    self.stop
                        .written(self.write(l, &prepared, &body, sent, warnings).await)
                }
                None => return Done::Export(prepared),
            },
        })
    }

    /// A `phone_conflict` when the row's phone belongs to another person's contact
    /// ([`planner::phone_taken`]) — unless the journal knows that contact as this row's (an
    /// earlier run of the pipeline wrote it from this row's key).
    fn phone_conflict(
        &self,
        idx: &planner::Index,
        body: &ghl_client::types::UpsertContact,
    ) -> Option<RowError> {
        if let Some((id, primary)) = idx.additional_taken(body) {
            return Some(RowError::new(
                Stage::Load,
                codes::CONFLICT,
                format!(
                    "email {} is an additional email of contact {id} ({primary}): the API's upsert would update \
                     that contact and replace its primary email with this one",
                    body.email.as_deref().unwrap_or_default()
                ),
                "if it is that person, put their primary email in the row; if not, fix the email; or set \
                 load.phone_conflicts: merge to let the upsert update that contact",
            ));
        }
        let t = planner::phone_taken(idx, body)?;
        let ours = body.email.is_none()
            && self.journal.as_ref().is_some_and(|j| {
                let j = j.lock().unwrap_or_else(|p| p.into_inner());
                journal::key(body)
                    .and_then(|k| j.lookup(&k).ok().flatten())
                    .and_then(|e| e.contact_id)
                    .is_some_and(|id| id == t.id)
            });
        if ours {
            return None;
        }
        let phone = body.phone.as_deref().unwrap_or_default();
        let (message, hint) = match (&body.email, t.by_name) {
            (Some(_), _) => (
                format!(
                    "phone {phone} belongs to contact {} ({}) and the email to no contact: the API's upsert would \
                     update that contact and replace its email",
                    t.id, t.other
                ),
                "if it is the same person, put that email in the row; if not, fix the phone; or set \
                 load.phone_conflicts: merge to update that contact",
            ),
            (None, true) => (
                format!(
                    "phone {phone} belongs to contact {} ({}), another name, and the row has no email: the API's \
                     upsert would overwrite that person's contact",
                    t.id, t.other
                ),
                "if it is the same person, use the contact's name or add its email to the row; if not, fix the \
                 phone; or set load.phone_conflicts: merge to update that contact",
            ),
            (None, false) => (
                format!(
                    "phone {phone} belongs to contact {} ({}), and the row has no email or name to show it is that \
                     person: the API's upsert would overwrite that contact",
                    t.id, t.other
                ),
                "if it is the same person, add that email (or the name) to the row; if not, fix the phone; or \
                 set load.phone_conflicts: merge to update that contact",
            ),
        };
        Some(RowError::new(
            Stage::Load,
            codes::PHONE_CONFLICT,
            message,
            hint,
        ))
    }

    /// Writes a row (adding the warning of a settled outcome to `warnings`): its intent in
    /// the manifest first, then the request, then what it came to. A write still going [`GRACE`]
    /// after the run stopped is abandoned, its intent left unsettled (unknown).
    async fn write(
        &self,
        loader: &Loader,
        prepared: &Prepared,
        body: &ghl_client::types::UpsertContact,
        sent: Sent<'_>,
        warnings: &mut Vec<String>,
    ) -> Result<Outcome, Fatal> {
        let intent = match &self.manifest {
            Some(m) => Some((m, self.record_intent(m, body, &sent)?)),
            None => None,
        };
        self.journal_step(&sent, JournalStep::Sending);
        // Boxed: the write's state is large, and every row's future would carry it inline (a
        // CSV sink run, which never writes to the API, copied kilobytes per row).
        let write = Box::pin(loader.write(
            body,
            self.tags,
            &prepared.notes,
            &prepared.tasks,
            sent.contact_id,
        ));
        let w = tokio::select! {
            r = write => r,
            () = self.stop.grace_over() => return Ok(Stop::abandoned()),
        };
        let w = match w {
            Ok(w) => w,
            Err(f) => {
                // Refused before it was sent (the breaker was open, the allowance spent).
                if let Some((m, n)) = intent {
                    self.record_settlement(m, n, sent.row, None, None);
                }
                self.journal_step(&sent, JournalStep::NotApplied);
                return Err(f);
            }
        };
        if let (Some((m, n)), false) = (intent, w.unknown) {
            self.record_settlement(m, n, sent.row, w.applied.as_ref(), sent.before);
        }
        // A row created or updated is recorded done (with its contact) by the caller; only a
        // write that reached its contact without the row being done (a follow-up failed) needs
        // the contact recorded here.
        let done = matches!(w.outcome, Outcome::Created { .. } | Outcome::Updated { .. });
        match (&w.applied, w.unknown) {
            (Some(Outcome::Created { contact_id } | Outcome::Updated { contact_id }), _)
                if !done =>
            {
                self.journal_step(&sent, JournalStep::Reached(contact_id))
            }
            (Some(_), _) => {}
            (None, false) => self.journal_step(&sent, JournalStep::NotApplied),
            (None, true) => {}
        }
        warnings.extend(w.warning);
        if let Some(f) = w.fatal {
            self.stop.stop(f.0);
        }
        Ok(w.outcome)
    }

    /// Writes a write's intent; a manifest that cannot be written stops the run before the
    /// write is sent (rollback could not find what it did).
    fn record_intent(
        &self,
        m: &super::manifest::Manifest,
        body: &ghl_client::types::UpsertContact,
        sent: &Sent<'_>,
    ) -> Result<u64, Fatal> {
        let intent = super::manifest::Intent {
            row: sent.row,
            body,
            expect: sent.expect,
            contact_id: sent.contact_id,
            before: sent.before,
        };
        m.intent(&intent).map_err(|e| {
            Fatal(format!(
                "cannot write rollback.jsonl ({e:#}): stopped before sending a write rollback could not find"
            ))
        })
    }

    /// Keeps the journal in step with a write: its intent before it is sent, the contact it
    /// reached, or that it was not applied (a later run then owes it nothing).
    fn journal_step(&self, sent: &Sent<'_>, step: JournalStep<'_>) {
        let (Some((k, h)), Some(j)) = (sent.journaled, &self.journal) else {
            return;
        };
        let j = j.lock().unwrap_or_else(|p| p.into_inner());
        let r = match step {
            JournalStep::Sending => j.intent(k, h),
            JournalStep::Reached(id) => j.reached(k, id),
            JournalStep::NotApplied => j.not_applied(k),
        };
        if let Err(e) = r {
            tracing::warn!(error = %e, "Could not update the run journal.");
        }
    }

    fn record_settlement(
        &self,
        m: &super::manifest::Manifest,
        n: u64,
        row: u64,
        applied: Option<&Outcome>,
        before: Option<&PreImage>,
    ) {
        if let Err(e) = m.settle(n, row, applied, before) {
            // The intent is there: rollback settles it by looking the contact up.
            tracing::warn!(error = %e, row, "Could not record a write's outcome in rollback.jsonl.");
        }
    }
}

/// A write's step, as the journal records it.
enum JournalStep<'a> {
    Sending,
    Reached(&'a str),
    NotApplied,
}

/// What a write was sent as, for its intent in the manifest and the journal.
struct Sent<'a> {
    row: u64,
    /// The row's key and payload hash in the journal.
    journaled: Option<&'a (String, String)>,
    expect: Expect,
    contact_id: Option<&'a str>,
    before: Option<&'a PreImage>,
}

impl<'a> Sent<'a> {
    fn of(
        action: &'a Action,
        (row, journaled): (u64, Option<&'a (String, String)>),
        before: Option<&'a PreImage>,
    ) -> Sent<'a> {
        let (expect, contact_id) = match action {
            Action::Create => (Expect::Create, None),
            Action::Update { contact_id, .. } | Action::Unchanged { contact_id } => {
                (Expect::Update, Some(contact_id.as_str()))
            }
            Action::Conflict { email_contact, .. } => {
                (Expect::Update, Some(email_contact.as_str()))
            }
        };
        Sent {
            row,
            journaled,
            expect,
            contact_id,
            before,
        }
    }
}

/// A planned action as an outcome for the reports.
fn planned(a: Action) -> Outcome {
    let label = a.label();
    match a {
        Action::Create => Outcome::Planned { action: label, contact_id: String::new(), detail: String::new() },
        Action::Unchanged { contact_id } => Outcome::Planned { action: label, contact_id, detail: String::new() },
        Action::Update { contact_id, changes } => Outcome::Planned {
            action: label,
            contact_id,
            detail: changes
                .iter()
                .map(|(f, old, new)| format!("{f}: `{old}` → `{new}`"))
                .collect::<Vec<_>>()
                .join("; "),
        },
        Action::Conflict { email_contact, phone_contact } => Outcome::Planned {
            action: label,
            contact_id: email_contact.clone(),
            detail: format!(
                "the email matches contact {email_contact} and the phone contact {phone_contact}: an upsert would \
                 update {email_contact} and drop the phone"
            ),
        },
    }
}
