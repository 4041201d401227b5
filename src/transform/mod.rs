//! Transform: map source columns to contact fields, normalise and validate each value, and dedup
//! within the file. Produces, per row, either the typed upsert body or a reject.

mod columns;
pub mod custom;
pub mod dedup;
pub mod followup;
pub mod map;
pub mod normalize;
pub mod phone;
pub mod profile;

pub(crate) use columns::resolve_columns;
use map::Resolved;

pub use crate::outcome::DroppedValue;

use crate::config::mapping::{OnInvalid, Others};
use crate::config::{Pipeline, RequiredKey};
use crate::error::ConfigErrors;
use crate::outcome::{codes, RowError, Stage};
use crate::record::{Headers, Record};
use ghl_client::fields::ContactField;
use ghl_client::types::{CustomFieldInput, UpsertContact};

/// The row's problems as one reject: the first one's code, every message, every column.
fn combined(errors: Vec<RowError>) -> Option<RowError> {
    let mut e = errors.first()?.clone();
    if errors.len() > 1 {
        e.message = errors
            .iter()
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        let mut columns: Vec<&str> = errors.iter().filter_map(|e| e.column.as_deref()).collect();
        columns.dedup();
        if !columns.is_empty() {
            e.column = Some(columns.join(", "));
        }
    }
    Some(e)
}

/// Rows transformed together: large enough to spread over the cores, small enough to keep
/// memory flat.
pub const BATCH_ROWS: usize = 2048;

/// Transforms a batch of rows on all cores (rayon), results in input order.
pub fn apply_batch<R: std::borrow::Borrow<Record> + Sync>(
    t: &Transformer,
    rows: &[R],
) -> Vec<Result<Prepared, RowError>> {
    use rayon::prelude::*;
    rows.par_iter()
        .with_min_len(512)
        .map(|r| t.apply(r.borrow()))
        .collect()
}

/// `kept_in` of a value added to the contact's note.
pub const KEPT_IN_NOTE: &str = "note";

/// The title of the note that keeps a row's values that no field took.
pub const KEPT_NOTE_TITLE: &str = "Values not loaded into fields (ghl-import)";

/// The note that keeps the values the pipeline sends to a note (`invalid: note`, `others: note`).
fn kept_note(dropped: &[DroppedValue]) -> Option<followup::NoteOp> {
    let lines: Vec<String> = dropped
        .iter()
        .filter(|d| d.kept_in == Some(KEPT_IN_NOTE))
        .map(|d| format!("{}: {}", d.column, d.value))
        .collect();
    (!lines.is_empty()).then(|| (Some(KEPT_NOTE_TITLE.to_owned()), lines.join("\n")))
}

/// Which field a value is for.
#[derive(Clone, Copy)]
enum Target<'a> {
    Field(ContactField),
    Custom(&'a str),
}

impl Target<'_> {
    fn name(&self) -> String {
        match self {
            Target::Field(f) => f.api_name().to_owned(),
            Target::Custom(k) => format!("custom_fields.{k}"),
        }
    }
}

/// A row's problems as they are settled: row errors, dropped values, and the dropped email and
/// phone problems (the row's reason when no identity is left).
#[derive(Default)]
struct Settled {
    errors: Vec<RowError>,
    dropped: Vec<DroppedValue>,
    key_errors: Vec<RowError>,
    /// Fields whose invalid value is a row error.
    failed: Vec<ContactField>,
}

/// The name of column `col` as the rule's reports show it.
fn rec_column(r: &Resolved, col: usize) -> String {
    r.cols
        .iter()
        .position(|c| *c == col)
        .and_then(|k| r.each.get(k))
        .map_or_else(|| r.names.to_string(), |s| s.to_string())
}

/// A row ready to load.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// The request body.
    pub body: UpsertContact,
    /// Notes to add to the contact (title, body).
    pub notes: Vec<followup::NoteOp>,
    /// Task operations on the contact.
    pub tasks: Vec<followup::TaskOp>,
    /// Things worth a look that did not stop the row (`code: message`), e.g. a likely typo.
    pub warnings: Vec<String>,
    /// Values of the row that are not in the contact, each with its reason.
    pub dropped: Vec<DroppedValue>,
}

/// The built (column-resolved) transform of a pipeline.
#[derive(Debug, Clone)]
pub struct Transformer {
    location_id: String,
    fields: Vec<(ContactField, Resolved)>,
    custom: Vec<(custom::CustomTarget, Resolved)>,
    require_any: Vec<RequiredKey>,
    required: Vec<ContactField>,
    max_length: Vec<(ContactField, usize)>,
    follow_ups: followup::FollowUpColumns,
    extension: crate::config::ExtensionPolicy,
    region: Option<phonenumber::country::Id>,
    invalid: OnInvalid,
}

impl Transformer {
    /// Resolves the mapping's columns against the source headers; unknown columns are config
    /// errors listing the available ones.
    pub fn new(p: &Pipeline, headers: &Headers) -> Result<Self, ConfigErrors> {
        let mut errs = Vec::new();
        let mut fields = Vec::new();
        for (field, rule) in &p.mapping {
            let r = resolve_columns(p, headers, &format!("mapping.{field}"), rule, &mut errs);
            fields.push((*field, r));
        }
        let follow_ups = followup::FollowUpColumns::resolve(
            p,
            headers,
            &p.load.notes,
            &p.load.tasks,
            "load",
            &mut errs,
        );
        if !errs.is_empty() {
            return Err(ConfigErrors(errs));
        }
        Ok(Transformer {
            location_id: p
                .target
                .as_ref()
                .map(|t| t.location_id.clone())
                .unwrap_or_default(),
            fields,
            custom: Vec::new(),
            require_any: p.validate.require_any.clone(),
            required: p.validate.required.clone(),
            max_length: p.validate.max_length.clone(),
            follow_ups,
            extension: p.validate.phone_extension,
            region: p.validate.phone_default_region,
            invalid: p.validate.invalid_values,
        })
    }

    /// A value fixed by the user (`retry-rejects` on a run's rejected_values.csv), checked as
    /// the pipeline checks that field (its date format, the default phone region, the custom
    /// field's type), as a `PUT /contacts/{id}` body that writes that field only. `None` when
    /// the pipeline does not map the field, the value is blank, or a PUT cannot write it.
    pub fn patch_for(
        &self,
        field: &str,
        raw: &str,
    ) -> Option<Result<ghl_client::types::UpdateContact, RowError>> {
        use ghl_client::types::UpdateContact;
        if let Some(key) = field.strip_prefix("custom_fields.") {
            let (target, r) = self.custom.iter().find(|(t, _)| t.field_key == key)?;
            return match custom::coerce(target, raw, r.rule.date_format.as_deref()) {
                Ok(Some(v)) => Some(Ok(UpdateContact {
                    custom_fields: Some(vec![CustomFieldInput {
                        id: target.id.clone(),
                        field_value: v,
                    }]),
                    ..Default::default()
                })),
                Ok(None) => None,
                Err(e) => Some(Err(e)),
            };
        }
        let f = ContactField::from_api_name(field)?;
        let (_, r) = self.fields.iter().find(|(g, _)| *g == f)?;
        let text = if f == ContactField::Country {
            match normalize::country(raw) {
                Ok(Some((code, _))) => code,
                Ok(None) => return None,
                Err(e) => return Some(Err(e)),
            }
        } else {
            let (mut scratch, mut errs, mut warns) = (UpsertContact::default(), vec![], vec![]);
            let rec = Record::default();
            let value = (f, r, std::borrow::Cow::Borrowed(raw));
            self.set_field(
                &mut scratch,
                value,
                self.region,
                &rec,
                &mut errs,
                &mut warns,
            );
            if let Some(e) = errs.into_iter().next() {
                return Some(Err(e));
            }
            scratch.field_text(f)?
        };
        let mut body = UpdateContact::default();
        body.restore(f.api_name(), &serde_json::Value::String(text))
            .then_some(Ok(body))
    }

    /// Every source column the pipeline reads: fields, custom fields, notes and tasks.
    pub fn used_columns(&self) -> Vec<usize> {
        let mut out: Vec<usize> = self
            .fields
            .iter()
            .flat_map(|(_, r)| r.cols.clone())
            .collect();
        out.extend(self.custom.iter().flat_map(|(_, r)| r.cols.clone()));
        out.extend(self.follow_ups.columns());
        out
    }

    /// Adds the pipeline's custom fields, resolved against the target location.
    pub fn with_custom_fields(
        mut self,
        p: &Pipeline,
        headers: &Headers,
        resolved: Vec<(custom::CustomTarget, crate::config::mapping::FieldRule)>,
    ) -> Result<Self, ConfigErrors> {
        let mut errs = Vec::new();
        for (target, rule) in resolved {
            let r = resolve_columns(
                p,
                headers,
                &format!("custom_fields.{}", target.field_key),
                &rule,
                &mut errs,
            );
            self.custom.push((target, r));
        }
        if errs.is_empty() {
            Ok(self)
        } else {
            Err(ConfigErrors(errs))
        }
    }

    /// Builds the row's upsert body, follow-ups, warnings and dropped values, or its reject.
    /// Steps: evaluate every rule, take the phone region from the country, normalise each
    /// field (a `first_of` field from its first usable column), custom values, lengths and
    /// required fields, then the contact key (email or phone). A value that fails its check is
    /// dropped and reported, or rejects the row, as its rule (else `validate.invalid_values`)
    /// says; required fields always reject. A row whose email and phone were both dropped (or
    /// absent) is rejected with their problems, as before field-level outcomes.
    pub fn apply(&self, rec: &Record) -> Result<Prepared, RowError> {
        let mut body = UpsertContact {
            location_id: self.location_id.clone(),
            ..Default::default()
        };
        let mut out = Settled::default();
        let mut warnings: Vec<String> = Vec::new();
        let (values, multi) = self.evaluate(rec, &mut out);
        let region = self.region_of(&values, &mut body, rec, &mut out);
        for (field, r, owned) in values {
            // Only these fields can fail their check; the others' values are never reported.
            let fallible = matches!(
                field,
                ContactField::Email
                    | ContactField::Phone
                    | ContactField::DateOfBirth
                    | ContactField::Dnd
            );
            let raw = fallible.then(|| owned.clone());
            let mut errs = Vec::new();
            self.set_field(
                &mut body,
                (field, r, owned),
                region,
                rec,
                &mut errs,
                &mut warnings,
            );
            if !errs.is_empty() {
                let raw = raw.as_deref().unwrap_or_default();
                self.settle(Target::Field(field), r, &r.names, raw, errs, &mut out);
            }
        }
        for (field, r) in self.fields.iter().filter(|(f, r)| {
            r.is_first_of() || (multi && matches!(f, ContactField::Email | ContactField::Phone))
        }) {
            if r.is_first_of() || r.eval(rec).is_ok_and(|v| v.contains(map::MULTI_SEP)) {
                self.first_of(&mut body, *field, r, region, rec, &mut out, &mut warnings);
            }
        }
        body.custom_fields = self.custom_values(rec, &mut out);
        self.check_lengths(&mut body, &mut out);
        self.check_required(&body, &mut out);
        if let Some(e) = combined(std::mem::take(&mut out.errors)) {
            return Err(e);
        }
        if let Err(e) = self.check_contact_key(&body) {
            // No usable identity left: the dropped email/phone problems are the row's.
            return Err(combined(std::mem::take(&mut out.key_errors)).unwrap_or(e));
        }
        if let Some(e) = &body.email {
            if let Some(d) = normalize::email_domain_typo(e) {
                warnings.push(format!(
                    "{}: `{e}`: did you mean `{d}`?",
                    codes::EMAIL_DOMAIN_TYPO
                ));
            }
        }
        let (mut notes, tasks) = self.follow_ups.extract(rec)?;
        notes.extend(kept_note(&out.dropped));
        Ok(Prepared {
            body,
            warnings,
            notes,
            tasks,
            dropped: out.dropped,
        })
    }

    /// Every rule's value for the row (before any field is normalised: the country decides the
    /// phone region); `first_of` rules, and an email or phone cell holding several values
    /// (` ::: `, the second result), are taken value by value later.
    #[allow(clippy::type_complexity)]
    fn evaluate<'a, 'r>(
        &'a self,
        rec: &'r Record,
        out: &mut Settled,
    ) -> (
        Vec<(ContactField, &'a Resolved, std::borrow::Cow<'r, str>)>,
        bool,
    ) {
        let mut values = Vec::with_capacity(self.fields.len());
        let mut multi = false;
        for (field, r) in self.fields.iter().filter(|(_, r)| !r.is_first_of()) {
            match r.eval(rec) {
                Ok(v)
                    if matches!(field, ContactField::Email | ContactField::Phone)
                        && v.contains(map::MULTI_SEP) =>
                {
                    multi = true
                }
                Ok(v) => values.push((*field, r, v)),
                Err(e) => {
                    let raw = r.cells_text(rec);
                    self.settle(Target::Field(*field), r, &r.names, &raw, vec![e], out)
                }
            }
        }
        (values, multi)
    }

    /// What an invalid value of `r` comes to.
    fn policy(&self, r: &Resolved) -> OnInvalid {
        r.rule.invalid.unwrap_or(self.invalid)
    }

    /// Files a value's problems: row errors (the policy says `reject_row`, or the field is
    /// required), else dropped values (email and phone problems also kept as the row's reason
    /// should no identity be left).
    fn settle(
        &self,
        target: Target<'_>,
        r: &Resolved,
        column: &str,
        raw: &str,
        errs: Vec<RowError>,
        out: &mut Settled,
    ) {
        let policy = self.policy(r);
        let field = match target {
            Target::Field(f) => Some(f),
            Target::Custom(_) => None,
        };
        let required = field.is_some_and(|f| self.required.contains(&f));
        for mut e in errs {
            if e.column.is_none() && !column.is_empty() {
                e.column = Some(column.to_owned());
            }
            // `validate.phone_extension: reject` asks for the row to be rejected.
            if required || policy == OnInvalid::RejectRow || e.code == codes::PHONE_EXTENSION {
                if let Some(f) = field {
                    out.failed.push(f);
                }
                out.errors.push(e);
                continue;
            }
            if matches!(field, Some(ContactField::Email | ContactField::Phone)) {
                out.key_errors.push(e.clone());
            }
            out.dropped.push(DroppedValue {
                field: target.name(),
                column: column.to_owned(),
                value: raw.trim().to_owned(),
                code: e.code,
                message: e.message,
                hint: e.hint,
                kept_in: (policy == OnInvalid::Note).then_some(KEPT_IN_NOTE),
            });
        }
    }

    /// A `first_of` field: the first column whose value passes the field's check is the
    /// field's; invalid values are settled as any invalid value; the other usable values
    /// (distinct from the kept one) go where `others` says.
    #[allow(clippy::too_many_arguments)]
    fn first_of(
        &self,
        body: &mut UpsertContact,
        field: ContactField,
        r: &Resolved,
        region: Option<phonenumber::country::Id>,
        rec: &Record,
        out: &mut Settled,
        warnings: &mut Vec<String>,
    ) {
        let mut kept: Vec<String> = Vec::new();
        for (col, value) in r.candidates(rec) {
            let column = rec_column(r, col);
            let raw = match value {
                Ok(v) => v,
                Err(e) => {
                    self.settle(
                        Target::Field(field),
                        r,
                        &column,
                        &r.cells_text(rec),
                        vec![e],
                        out,
                    );
                    continue;
                }
            };
            let mut scratch = UpsertContact::default();
            let mut errs = Vec::new();
            let mut warns = Vec::new();
            let cow = std::borrow::Cow::Borrowed(raw.as_str());
            self.set_field(
                &mut scratch,
                (field, r, cow),
                region,
                rec,
                &mut errs,
                &mut warns,
            );
            if !errs.is_empty() {
                self.settle(Target::Field(field), r, &column, &raw, errs, out);
                continue;
            }
            let Some(v) = scratch.field_text(field) else {
                continue;
            };
            if kept.is_empty() {
                let cow = std::borrow::Cow::Borrowed(raw.as_str());
                let mut ignore = Vec::new();
                self.set_field(body, (field, r, cow), region, rec, &mut ignore, warnings);
            } else if !kept.contains(&v) {
                out.dropped.push(DroppedValue {
                    field: field.api_name().to_owned(),
                    column: column.clone(),
                    value: raw.trim().to_owned(),
                    code: codes::EXTRA_VALUE,
                    message: format!(
                        "`{}` is another {field} of the row; the contact's {field} is `{}` (from an earlier column), \
                         and the API has no field for a second one",
                        raw.trim(),
                        kept[0]
                    ),
                    hint: "keep it on the contact with `others: note`, or map this column to a custom field".into(),
                    kept_in: (r.rule.others == Others::Note).then_some(KEPT_IN_NOTE),
                });
            }
            if !kept.contains(&v) {
                kept.push(v);
            }
        }
    }

    /// The country (set on the body) and the phone region it implies, else the default.
    fn region_of(
        &self,
        values: &[(ContactField, &Resolved, std::borrow::Cow<'_, str>)],
        body: &mut UpsertContact,
        rec: &Record,
        out: &mut Settled,
    ) -> Option<phonenumber::country::Id> {
        let Some((_, res, c)) = values.iter().find(|(f, _, _)| *f == ContactField::Country) else {
            return self.region;
        };
        match normalize::country(c) {
            Ok(Some((code, r))) => {
                body.country = Some(code);
                Some(r)
            }
            Ok(None) => self.region,
            Err(e) => {
                let _ = rec;
                self.settle(
                    Target::Field(ContactField::Country),
                    res,
                    &res.names,
                    c,
                    vec![e],
                    out,
                );
                self.region
            }
        }
    }

    /// One field's value, normalised into the body (or a problem into `errors`).
    fn set_field(
        &self,
        body: &mut UpsertContact,
        (field, r, owned): (ContactField, &Resolved, std::borrow::Cow<'_, str>),
        region: Option<phonenumber::country::Id>,
        rec: &Record,
        errors: &mut Vec<RowError>,
        warnings: &mut Vec<String>,
    ) {
        fn keep<T>(errors: &mut Vec<RowError>, r: Result<Option<T>, RowError>) -> Option<T> {
            r.unwrap_or_else(|e| {
                errors.push(e);
                None
            })
        }
        let raw: &str = &owned;
        match field {
            ContactField::Email => body.email = keep(errors, normalize::email(raw)),
            ContactField::Phone => body.phone = self.phone(raw, region, r, rec, errors, warnings),
            ContactField::DateOfBirth => {
                body.date_of_birth =
                    keep(errors, normalize::date(raw, r.rule.date_format.as_deref()))
            }
            ContactField::Country => {}
            ContactField::Dnd => body.dnd = keep(errors, normalize::boolean(raw)),
            ContactField::Tags => body.tags = normalize::tags_split(raw, &r.rule.split),
            ContactField::FirstName => body.first_name = normalize::text_cow(owned),
            ContactField::LastName => body.last_name = normalize::text_cow(owned),
            ContactField::Name => body.name = normalize::text_cow(owned),
            ContactField::CompanyName => body.company_name = normalize::text_cow(owned),
            ContactField::Address1 => body.address1 = normalize::text_cow(owned),
            ContactField::City => body.city = normalize::text_cow(owned),
            ContactField::State => body.state = normalize::text_cow(owned),
            ContactField::PostalCode => body.postal_code = normalize::text_cow(owned),
            ContactField::Website => body.website = normalize::text_cow(owned),
            ContactField::Timezone => body.timezone = normalize::text_cow(owned),
            ContactField::Source => body.source = normalize::text_cow(owned),
        }
    }

    /// The phone in E.164: its extension dropped with a warning or rejected, as
    /// `validate.phone_extension` says; a hint when a spreadsheet stored it as a number.
    fn phone(
        &self,
        raw: &str,
        region: Option<phonenumber::country::Id>,
        r: &Resolved,
        rec: &Record,
        errors: &mut Vec<RowError>,
        warnings: &mut Vec<String>,
    ) -> Option<String> {
        let (number, ext) = normalize::split_extension(raw);
        if let Some(x) = ext {
            match self.extension {
                crate::config::ExtensionPolicy::Drop => warnings.push(format!(
                    "{}: extension {x} of `{}` not loaded (the API has no field for it)",
                    codes::PHONE_EXTENSION_DROPPED,
                    raw.trim()
                )),
                crate::config::ExtensionPolicy::Reject => errors.push(RowError::new(
                    Stage::Validate,
                    codes::PHONE_EXTENSION,
                    format!("`{}` has extension {x}, which the API cannot store", raw.trim()),
                    "remove the extension (or keep it in a custom field), or set validate.phone_extension: drop",
                )),
            }
        }
        match normalize::phone(number, region) {
            Ok(p) => p,
            Err(mut e) => {
                if r.single_column().is_some_and(|i| rec.is_numeric(i)) {
                    e.hint = "the spreadsheet stored this phone as a number, which drops a \
                              leading 0 or +: format the column as text and re-enter it, or \
                              add the +country code"
                        .into();
                }
                errors.push(e);
                None
            }
        }
    }

    /// The custom field values of the row, coerced to their fields' types.
    fn custom_values(&self, rec: &Record, out: &mut Settled) -> Option<Vec<CustomFieldInput>> {
        let mut values = Vec::new();
        for (target, r) in &self.custom {
            let raw = r.eval(rec);
            let value = raw
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|raw| custom::coerce(target, raw, r.rule.date_format.as_deref()));
            match value {
                Ok(Some(v)) => values.push(CustomFieldInput {
                    id: target.id.clone(),
                    field_value: v,
                }),
                Ok(None) => {}
                Err(e) => {
                    let shown = raw
                        .map(|v| v.into_owned())
                        .unwrap_or_else(|_| r.cells_text(rec));
                    self.settle(
                        Target::Custom(&target.field_key),
                        r,
                        &r.names,
                        &shown,
                        vec![e],
                        out,
                    )
                }
            }
        }
        (!values.is_empty()).then_some(values)
    }

    /// `validate.max_length`: a longer value is an invalid value of its field (dropped or the
    /// row rejected, as for any invalid value).
    fn check_lengths(&self, body: &mut UpsertContact, out: &mut Settled) {
        for (field, max) in &self.max_length {
            let Some(v) = body.field_text(*field) else {
                continue;
            };
            let n = v.chars().count();
            if n <= *max {
                continue;
            }
            let e = RowError::new(
                Stage::Validate,
                codes::TOO_LONG,
                format!("{field} has {n} characters, more than the {max} allowed"),
                format!("shorten {field} to {max} characters"),
            );
            let Some((_, r)) = self.fields.iter().find(|(f, _)| f == field) else {
                out.errors.push(e);
                continue;
            };
            let before = out.errors.len();
            self.settle(Target::Field(*field), r, &r.names, &v, vec![e], out);
            if out.errors.len() == before {
                body.clear_field(*field);
            }
        }
    }

    /// `validate.required`: every row has these (a field whose value was invalid is already
    /// the row's error).
    fn check_required(&self, body: &UpsertContact, out: &mut Settled) {
        for field in &self.required {
            if out.failed.contains(field) {
                continue;
            }
            if body.field_text(*field).is_none_or(|v| v.trim().is_empty()) {
                out.errors.push(RowError::new(
                    Stage::Validate,
                    codes::MISSING_REQUIRED,
                    format!("{field} is required but empty"),
                    format!("fill in {field}, or remove it from validate.required"),
                ));
            }
        }
    }

    /// `validate.require_any`: the row has an email or a phone, as the pipeline asks.
    fn check_contact_key(&self, body: &UpsertContact) -> Result<(), RowError> {
        let present = |k: &RequiredKey| match k {
            RequiredKey::Email => body.email.is_some(),
            RequiredKey::Phone => body.phone.is_some(),
        };
        if self.require_any.is_empty() || self.require_any.iter().any(present) {
            return Ok(());
        }
        let names: Vec<&str> = self
            .require_any
            .iter()
            .map(|k| match k {
                RequiredKey::Email => "email",
                RequiredKey::Phone => "phone",
            })
            .collect();
        Err(RowError::new(
            Stage::Validate,
            codes::MISSING_CONTACT_KEY,
            format!("the row has no {}", names.join(" and no ")),
            format!("fill in at least one of: {}", names.join(", ")),
        ))
    }
}

#[cfg(test)]
mod tests;
