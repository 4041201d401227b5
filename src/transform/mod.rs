//! Transform: map source columns to contact fields, normalise and validate each value, and dedup
//! within the file. Produces, per row, either the typed upsert body or a reject.

pub mod custom;
pub mod dedup;
pub mod followup;
pub mod map;
pub mod normalize;
pub mod phone;
pub mod profile;

use map::Resolved;

use crate::config::{Pipeline, RequiredKey};
use crate::error::{ConfigError, ConfigErrors};
use crate::extract::find_column;
use crate::ghl::fields::{did_you_mean, ContactField};
use crate::ghl::types::{CustomFieldInput, UpsertContact};
use crate::outcome::{codes, RowError, Stage};
use crate::record::{Headers, Record};

/// Resolves a rule's columns against the headers, collecting errors that name the key.
pub(crate) fn resolve_columns(
    p: &Pipeline,
    headers: &Headers,
    key: &str,
    rule: &crate::config::mapping::FieldRule,
    errs: &mut Vec<ConfigError>,
) -> Resolved {
    let mut cols = Vec::new();
    for col in rule.input.columns() {
        match find_column(headers, col) {
            Some(i) => cols.push(i),
            None => {
                let hint = did_you_mean(col, headers.iter().map(|h| h.trim()))
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                errs.push(ConfigError::new(format!(
                    "{}: {key}: column `{col}` is not in {}{hint}; columns: {}",
                    p.file.display(),
                    p.source.describe(),
                    headers
                        .iter()
                        .map(|h| format!("`{}`", h.trim()))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
    }
    let names = cols
        .iter()
        .filter_map(|i| headers.get(*i))
        .map(|h| h.trim())
        .collect::<Vec<_>>()
        .join(", ");
    Resolved {
        rule: rule.clone(),
        cols,
        names: std::sync::Arc::from(names),
    }
}

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

/// Adds `e`, naming `r`'s source column(s) when it names none.
fn push_in(errors: &mut Vec<RowError>, e: RowError, r: &Resolved) {
    errors.push(e);
    let last = errors.len() - 1;
    in_columns(errors, last, r);
}

/// Names the source column(s) of the errors from `from` on that have none yet.
fn in_columns(errors: &mut [RowError], from: usize, r: &Resolved) {
    if r.names.is_empty() {
        return;
    }
    for e in errors.iter_mut().skip(from) {
        e.column.get_or_insert_with(|| r.names.to_string());
    }
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
        })
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

    /// Builds the row's upsert body, follow-ups and warnings, or its reject (every problem of
    /// the row in one message, the first one's code). Steps: evaluate every rule, take the
    /// phone region from the country, normalise each field, custom values, lengths and
    /// required fields, then the contact key (email or phone).
    pub fn apply(&self, rec: &Record) -> Result<Prepared, RowError> {
        let mut body = UpsertContact {
            location_id: self.location_id.clone(),
            ..Default::default()
        };
        let mut errors: Vec<RowError> = Vec::new();
        let mut warnings: Vec<String> = Vec::new();
        let values = self.evaluate(rec, &mut errors);
        let region = self.region_of(&values, &mut body, &mut errors);
        for (field, r, owned) in values {
            let before = errors.len();
            self.set_field(
                &mut body,
                (field, r, owned),
                region,
                rec,
                &mut errors,
                &mut warnings,
            );
            in_columns(&mut errors, before, r);
        }
        body.custom_fields = self.custom_values(rec, &mut errors);
        self.check_lengths_and_required(&body, &mut errors);
        if let Some(e) = combined(errors) {
            return Err(e);
        }
        self.check_contact_key(&body)?;
        if let Some(e) = &body.email {
            if let Some(d) = normalize::email_domain_typo(e) {
                warnings.push(format!(
                    "{}: `{e}`: did you mean `{d}`?",
                    codes::EMAIL_DOMAIN_TYPO
                ));
            }
        }
        let (notes, tasks) = self.follow_ups.extract(rec)?;
        Ok(Prepared {
            body,
            warnings,
            notes,
            tasks,
        })
    }

    /// Every rule's value for the row (before any field is normalised: the country decides the
    /// phone region).
    fn evaluate<'a, 'r>(
        &'a self,
        rec: &'r Record,
        errors: &mut Vec<RowError>,
    ) -> Vec<(ContactField, &'a Resolved, std::borrow::Cow<'r, str>)> {
        let mut values = Vec::with_capacity(self.fields.len());
        for (field, r) in &self.fields {
            match r.eval(rec) {
                Ok(v) => values.push((*field, r, v)),
                Err(e) => push_in(errors, e, r),
            }
        }
        values
    }

    /// The country (set on the body) and the phone region it implies, else the default.
    fn region_of(
        &self,
        values: &[(ContactField, &Resolved, std::borrow::Cow<'_, str>)],
        body: &mut UpsertContact,
        errors: &mut Vec<RowError>,
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
                push_in(errors, e, res);
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
    fn custom_values(
        &self,
        rec: &Record,
        errors: &mut Vec<RowError>,
    ) -> Option<Vec<CustomFieldInput>> {
        let mut out = Vec::new();
        for (target, r) in &self.custom {
            let value = r
                .eval(rec)
                .and_then(|raw| custom::coerce(target, &raw, r.rule.date_format.as_deref()));
            match value {
                Ok(Some(v)) => out.push(CustomFieldInput {
                    id: target.id.clone(),
                    field_value: v,
                }),
                Ok(None) => {}
                Err(e) => push_in(errors, e, r),
            }
        }
        (!out.is_empty()).then_some(out)
    }

    /// `validate.max_length` and `validate.required`.
    fn check_lengths_and_required(&self, body: &UpsertContact, errors: &mut Vec<RowError>) {
        for (field, max) in &self.max_length {
            if let Some(v) = body.field_text(*field) {
                let n = v.chars().count();
                if n > *max {
                    errors.push(RowError::new(
                        Stage::Validate,
                        codes::TOO_LONG,
                        format!("{field} has {n} characters, more than the {max} allowed"),
                        format!("shorten {field} to {max} characters"),
                    ));
                }
            }
        }
        for field in &self.required {
            if body.field_text(*field).is_none_or(|v| v.trim().is_empty()) {
                errors.push(RowError::new(
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
