//! What a write came to, settled even when its answer was lost: a retry answered "updated" for
//! a contact added since the first attempt left, or an error after which a lookup finds the
//! contact added (or changed) since, is this call's create (or update), reported with a
//! warning — so that the rollback manifest settles every write the run made. What no lookup can
//! settle is *unknown*, never "not sent".

use super::{outcome_of_error, Fatal, Loader};
use crate::outcome::{codes, Outcome, RowError, Stage};
use ghl_client::error::ApiError;

/// What a write came to.
#[derive(Debug)]
pub struct Written {
    /// The row's outcome.
    pub outcome: Outcome,
    /// `code: message`, for results.csv.
    pub warning: Option<String>,
    /// What the upsert did to the contact (created or updated), also when a follow-up failed
    /// afterwards; `None` when it was not applied or it is unknown.
    pub applied: Option<Outcome>,
    /// Whether the write may or may not have been applied (its answer was lost and no lookup
    /// settled it).
    pub unknown: bool,
    /// An error met after the write was sent that stops the run.
    pub fatal: Option<Fatal>,
}

impl From<Outcome> for Written {
    fn from(outcome: Outcome) -> Self {
        let applied = matches!(outcome, Outcome::Created { .. } | Outcome::Updated { .. })
            .then(|| outcome.clone());
        Written {
            outcome,
            warning: None,
            applied,
            unknown: false,
            fatal: None,
        }
    }
}

impl Written {
    /// The contact was written but a follow-up (`what`) failed with `e`: the row is reported
    /// `followup_failed` (the contact stays recorded as written); a fatal `e` also stops the run.
    pub(super) fn follow_up_failed(&mut self, id: &str, what: &str, e: ApiError) {
        let label = self.outcome.label();
        let message = match outcome_of_error(e) {
            Ok(r) => r.message,
            Err(f) => {
                let m = f.0.clone();
                self.fatal = Some(f);
                m
            }
        };
        self.outcome = Outcome::Rejected(RowError::new(
            Stage::Load,
            codes::FOLLOWUP_FAILED,
            format!("contact {id} was {label} but {what} failed: {message}"),
            "re-run the pipeline: the upsert matches the same contact, and notes, tasks and tags it already has are not added twice",
        ));
    }
}

/// A write whose answer was an error that no lookup turned into an outcome.
pub(super) struct Unsettled {
    error: ApiError,
    /// Whether it may have been applied (an attempt's answer was lost or was a 5xx, and the
    /// lookup after it could not be made).
    maybe_applied: bool,
}

impl Unsettled {
    /// The row's outcome: the reject the error maps to, or `outcome_unknown` when the write may
    /// have been applied; a fatal error stops the run (a write already sent is then unknown, not
    /// `not_attempted`).
    pub(super) fn into_written(self) -> Result<Written, Fatal> {
        let said = self.error.to_string();
        match (outcome_of_error(self.error), self.maybe_applied) {
            (Ok(rej), false) => Ok(Written::from(Outcome::Rejected(rej))),
            (Ok(_), true) => Ok(unknown(&said, None)),
            (Err(f), true) => Ok(unknown(&f.0.clone(), Some(f))),
            (Err(f), false) => Err(f),
        }
    }
}

fn unknown(why: &str, fatal: Option<Fatal>) -> Written {
    Written {
        outcome: Outcome::Rejected(RowError::new(
            Stage::Load,
            codes::OUTCOME_UNKNOWN,
            format!(
                "the write was sent, no answer settled it ({why}) and the contact could not be looked up: it may \
                 or may not have been applied"
            ),
            "re-run the pipeline: the upsert matches the contact if it was written, and the re-run (or a \
             rollback) settles it by looking it up",
        )),
        warning: None,
        applied: None,
        unknown: true,
        fatal,
    }
}

impl Loader {
    /// Sends the upsert and settles what it did (see the module's comment).
    pub(super) async fn settled_upsert(
        &self,
        body: &ghl_client::types::UpsertContact,
        existing: Option<&str>,
    ) -> Result<(Outcome, Option<String>), Unsettled> {
        let (res, trace) = self.client.upsert_traced(body).await;
        let since = trace.first_sent.unwrap_or_else(std::time::SystemTime::now);
        // Added since the write left, and not the contact the location was read to hold.
        let added = |c: &ghl_client::types::Contact| {
            existing != Some(c.id.as_str()) && self.client.added_since(c, since)
        };
        let e = match res {
            Ok(r) if r.new => {
                let created = Outcome::Created {
                    contact_id: r.contact.id,
                };
                return Ok((created, None));
            }
            Ok(r) if trace.uncertain && added(&r.contact) => {
                let w = format!(
                    "{}: an earlier attempt's answer was lost; the contact was created by this run",
                    codes::CREATED_AFTER_ERROR
                );
                let created = Outcome::Created {
                    contact_id: r.contact.id,
                };
                return Ok((created, Some(w)));
            }
            Ok(r) => {
                let updated = Outcome::Updated {
                    contact_id: r.contact.id,
                };
                return Ok((updated, None));
            }
            Err(e) => e,
        };
        let sent = trace.first_sent.is_some();
        let may_have_written = match &e {
            ApiError::Rejected { status, .. } => *status == 422 || trace.uncertain,
            ApiError::Exhausted { .. } | ApiError::Decode { .. } => trace.uncertain,
            // The breaker opened or the daily allowance ran out after an attempt was sent.
            _ => sent && trace.uncertain,
        };
        if !may_have_written {
            return Err(Unsettled {
                error: e,
                maybe_applied: false,
            });
        }
        let found = self
            .client
            .duplicate(
                &body.location_id,
                body.email.as_deref(),
                body.phone.as_deref(),
            )
            .await;
        match found {
            Ok(Some(c)) if added(&c) => {
                let w = format!(
                    "{}: the API answered `{e}`, but had created the contact; it is recorded as created",
                    codes::CREATED_AFTER_ERROR
                );
                Ok((Outcome::Created { contact_id: c.id }, Some(w)))
            }
            Ok(Some(c)) if self.client.changed_since(&c, since) => {
                let w = format!(
                    "{}: the API answered `{e}`, but had updated the contact; it is recorded as updated",
                    codes::UPDATED_AFTER_ERROR
                );
                Ok((Outcome::Updated { contact_id: c.id }, Some(w)))
            }
            Ok(_) => Err(Unsettled {
                error: e,
                maybe_applied: false,
            }),
            Err(_) => Err(Unsettled {
                error: e,
                maybe_applied: true,
            }),
        }
    }
}
