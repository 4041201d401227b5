//! What happened to a row: the one outcome every input row ends in.

use std::fmt;

/// The stage that refused a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// Reading the source.
    Extract,
    /// Mapping, normalisation and validation.
    Validate,
    /// In-file dedup.
    Dedup,
    /// Writing to the API.
    Load,
}

impl Stage {
    /// Name used in reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            Stage::Extract => "extract",
            Stage::Validate => "validate",
            Stage::Dedup => "dedup",
            Stage::Load => "load",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Stable reject codes (documented in docs/REPORTS.md).
pub mod codes {
    /// The row has a different number of fields than the header.
    pub const MALFORMED_ROW: &str = "malformed_row";
    /// The row is not valid UTF-8.
    pub const INVALID_ENCODING: &str = "invalid_encoding";
    /// The email cell is not an email address.
    pub const INVALID_EMAIL: &str = "invalid_email";
    /// The phone cell is not a phone number.
    pub const INVALID_PHONE: &str = "invalid_phone";
    /// The date cell is not a date in an accepted form.
    pub const INVALID_DATE: &str = "invalid_date";
    /// A boolean cell (dnd) is not yes/no.
    pub const INVALID_BOOLEAN: &str = "invalid_boolean";
    /// The country cell is not a 2-letter code.
    pub const INVALID_COUNTRY: &str = "invalid_country";
    /// A custom field value is not a number.
    pub const INVALID_NUMBER: &str = "invalid_number";
    /// A custom field value is not one of the field's options.
    pub const INVALID_OPTION: &str = "invalid_option";
    /// A value is not in the rule's `map` and the map is strict.
    pub const VALUE_NOT_ALLOWED: &str = "value_not_allowed";
    /// A field listed in `validate.required` is empty.
    pub const MISSING_REQUIRED: &str = "missing_required";
    /// A value is longer than `validate.max_length` allows.
    pub const TOO_LONG: &str = "too_long";
    /// None of the required keys (email/phone) is present.
    pub const MISSING_CONTACT_KEY: &str = "missing_contact_key";
    /// Same normalised email as another row of the file.
    pub const DUPLICATE_IN_FILE: &str = "duplicate_in_file";
    /// The phone has an extension and `validate.phone_extension` is `reject`.
    pub const PHONE_EXTENSION: &str = "phone_extension";
    /// Warning (the row is loaded): the phone's extension was dropped.
    pub const PHONE_EXTENSION_DROPPED: &str = "phone_extension_dropped";
    /// Warning (the row is loaded): the email's domain looks like a typo of a common one.
    pub const EMAIL_DOMAIN_TYPO: &str = "email_domain_typo";
    /// Update mode: no existing contact matches the row.
    pub const NOT_FOUND: &str = "not_found";
    /// The email matches one contact and the phone another (an upsert would merge silently).
    pub const CONFLICT: &str = "conflict";
    /// A task's due date is not a date.
    pub const INVALID_TASK: &str = "invalid_task";
    /// A notes cell declared `format: json` is not a JSON array of notes.
    pub const INVALID_NOTES: &str = "invalid_notes";
    /// The contact was written but a follow-up (tags) failed; re-running repeats both safely.
    pub const FOLLOWUP_FAILED: &str = "followup_failed";
    /// The row's email is new but its phone belongs to a contact or an earlier row with another
    /// email (`load.phone_conflicts: reject`).
    pub const PHONE_CONFLICT: &str = "phone_conflict";
    /// The API refused the row (4xx).
    pub const API_REJECTED: &str = "api_rejected";
    /// The API kept failing (429/5xx/transport) until retries ran out.
    pub const API_UNAVAILABLE: &str = "api_unavailable";
    /// The run stopped (fatal error) before this row was sent.
    pub const NOT_ATTEMPTED: &str = "not_attempted";
    /// A multi-location run could not tell which location the row goes to.
    pub const UNKNOWN_LOCATION: &str = "unknown_location";
    /// Warning: the API answered with an error (or its answer was lost), but the contact was
    /// created; the row is reported and recorded as created.
    pub const CREATED_AFTER_ERROR: &str = "created_after_error";
    /// Warning: the API answered with an error (or its answer was lost), but the contact was
    /// updated (its `dateUpdated` is after the request left); recorded as updated.
    pub const UPDATED_AFTER_ERROR: &str = "updated_after_error";
    /// Warning: an earlier run's write of this row was left unsettled (killed, stopped), and the
    /// contact it created is recorded by this run as created.
    pub const CREATED_BY_EARLIER_RUN: &str = "created_by_earlier_run";
    /// A value of a loaded row: another value for a field that already has one (a `first_of`
    /// field's later column), which the API has no field for.
    pub const EXTRA_VALUE: &str = "extra_value";
    /// rejected_values.csv: a value an earlier version reported with a code this one does not know.
    pub const INVALID_VALUE: &str = "invalid_value";
    /// The codes a line of rejected_values.csv can carry.
    pub const VALUE_CODES: &[&str] = &[
        INVALID_EMAIL,
        INVALID_PHONE,
        INVALID_DATE,
        INVALID_BOOLEAN,
        INVALID_COUNTRY,
        INVALID_NUMBER,
        INVALID_OPTION,
        VALUE_NOT_ALLOWED,
        TOO_LONG,
        EXTRA_VALUE,
        API_REJECTED,
        API_UNAVAILABLE,
        NOT_ATTEMPTED,
        INVALID_VALUE,
    ];
    /// The run stopped while this row's request was unanswered; re-running matches it.
    pub const OUTCOME_UNKNOWN: &str = "outcome_unknown";
}

/// Why a row was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// Which stage.
    pub stage: Stage,
    /// Stable machine code.
    pub code: &'static str,
    /// What is wrong, naming the value.
    pub message: String,
    /// How to fix it.
    pub hint: String,
    /// For a duplicate in the file: the row kept in its place.
    pub kept_row: Option<u64>,
    /// The source column(s) the problem is in, when it is in one (`, `-separated).
    pub column: Option<String>,
}

impl RowError {
    /// Builds a row error.
    pub fn new(
        stage: Stage,
        code: &'static str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        RowError {
            stage,
            code,
            message: message.into(),
            hint: hint.into(),
            kept_row: None,
            column: None,
        }
    }
}

/// The final outcome of a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A new contact was created.
    Created {
        /// Contact id.
        contact_id: String,
    },
    /// An existing contact was updated.
    Updated {
        /// Contact id.
        contact_id: String,
    },
    /// The contact already holds the row's values (sync mode), or exists and the mode leaves
    /// existing contacts alone (create mode): nothing was sent.
    Unchanged {
        /// Contact id.
        contact_id: String,
    },
    /// The row was written to a file sink (CSV export).
    Exported,
    /// Dry run: what the row would do.
    Planned {
        /// `create`, `update`, `unchanged` or `conflict`.
        action: &'static str,
        /// The matched contact (the email's, for a conflict).
        contact_id: String,
        /// `field: old → new; …` for an update; the other contact for a conflict.
        detail: String,
    },
    /// The row was refused.
    Rejected(RowError),
}

impl Outcome {
    /// Name used in reports.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Created { .. } => "created",
            Outcome::Updated { .. } => "updated",
            Outcome::Unchanged { .. } => "unchanged",
            Outcome::Exported => "exported",
            Outcome::Planned { action, .. } => action,
            Outcome::Rejected(_) => "rejected",
        }
    }
}

/// A value of a loaded row that is not in its field: invalid (and the policy drops it) or a
/// `first_of` field's other value. Reported in rejected_values.csv.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedValue {
    /// The field it was for (`dateOfBirth`, `custom_fields.<key>`).
    pub field: String,
    /// The source column(s).
    pub column: String,
    /// The value as the rule produced it (the cell, for a plain column).
    pub value: String,
    /// Why: a reject code (`invalid_date`…) or `extra_value`.
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: String,
    /// Where it was kept instead (`note`), if anywhere.
    pub kept_in: Option<&'static str>,
}
