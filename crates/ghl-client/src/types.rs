//! Request and response bodies. One typed struct per operation (the API answers 422 "property X
//! should not exist" to any property its DTO lacks); absent fields are omitted, never sent as null.
//! Responses are read leniently: unknown fields ignored, everything optional.

use serde::{Deserialize, Serialize};

/// Body of `POST /contacts/upsert` (spec: `UpsertContactDto`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpsertContact {
    /// Required: the location.
    pub location_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Not nullable in the spec: omitted when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Replaces all of the contact's tags when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// `YYYY-MM-DD`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dnd: Option<bool>,
    /// Custom field values by id (`[{id, field_value}]`, the v2 write shape).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_fields: Option<Vec<CustomFieldInput>>,
}

/// One custom field value in a write: `{id, field_value}`. `field_value` is text, a number or
/// a list of strings depending on the field's type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomFieldInput {
    pub id: String,
    pub field_value: serde_json::Value,
}

impl UpsertContact {
    /// Leaves a field out of the request.
    pub fn clear(&mut self, f: super::fields::ContactField) {
        use super::fields::ContactField as F;
        match f {
            F::FirstName => self.first_name = None,
            F::LastName => self.last_name = None,
            F::Name => self.name = None,
            F::Email => self.email = None,
            F::Phone => self.phone = None,
            F::CompanyName => self.company_name = None,
            F::Address1 => self.address1 = None,
            F::City => self.city = None,
            F::State => self.state = None,
            F::PostalCode => self.postal_code = None,
            F::Country => self.country = None,
            F::Website => self.website = None,
            F::Timezone => self.timezone = None,
            F::Source => self.source = None,
            F::Tags => self.tags = None,
            F::DateOfBirth => self.date_of_birth = None,
            F::Dnd => self.dnd = None,
        }
    }

    /// Removes a field's value from the body (it is then not sent).
    pub fn clear_field(&mut self, f: super::fields::ContactField) {
        use super::fields::ContactField as F;
        match f {
            F::FirstName => self.first_name = None,
            F::LastName => self.last_name = None,
            F::Name => self.name = None,
            F::Email => self.email = None,
            F::Phone => self.phone = None,
            F::CompanyName => self.company_name = None,
            F::Address1 => self.address1 = None,
            F::City => self.city = None,
            F::State => self.state = None,
            F::PostalCode => self.postal_code = None,
            F::Country => self.country = None,
            F::Website => self.website = None,
            F::Timezone => self.timezone = None,
            F::Source => self.source = None,
            F::Tags => self.tags = None,
            F::DateOfBirth => self.date_of_birth = None,
            F::Dnd => self.dnd = None,
        }
    }

    /// A field's value as text (tags joined with `, `), as written to a CSV export.
    pub fn field_text(&self, f: super::fields::ContactField) -> Option<String> {
        use super::fields::ContactField as F;
        match f {
            F::FirstName => self.first_name.clone(),
            F::LastName => self.last_name.clone(),
            F::Name => self.name.clone(),
            F::Email => self.email.clone(),
            F::Phone => self.phone.clone(),
            F::CompanyName => self.company_name.clone(),
            F::Address1 => self.address1.clone(),
            F::City => self.city.clone(),
            F::State => self.state.clone(),
            F::PostalCode => self.postal_code.clone(),
            F::Country => self.country.clone(),
            F::Website => self.website.clone(),
            F::Timezone => self.timezone.clone(),
            F::Source => self.source.clone(),
            F::Tags => self.tags.as_ref().map(|t| t.join(", ")),
            F::DateOfBirth => self.date_of_birth.clone(),
            F::Dnd => self.dnd.map(|d| d.to_string()),
        }
    }
}

/// Body of `PUT /contacts/{id}` (spec `UpdateContactDto`; no `locationId`, `companyName` or
/// `gender`). `Some(None)` sends `null`, which clears a nullable field.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateContact {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address1: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<Option<String>>,
    /// Not nullable: cleared with an empty string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub website: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dnd: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// `[{id, field_value}]`; an empty string clears a field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_fields: Option<Vec<CustomFieldInput>>,
}

impl UpdateContact {
    /// Sets a field back to its value in a rollback manifest (`pre_image`): a standard field by
    /// API name (text; empty = cleared), `tags` (the list), `customField:<id>` (JSON; null =
    /// cleared). Returns false for a field a PUT cannot write (companyName) or an unknown one.
    pub fn restore(&mut self, field: &str, value: &serde_json::Value) -> bool {
        if let Some(id) = field.strip_prefix("customField:") {
            let field_value = match value {
                serde_json::Value::Null => serde_json::Value::String(String::new()),
                v => v.clone(),
            };
            self.custom_fields
                .get_or_insert_with(Vec::new)
                .push(CustomFieldInput {
                    id: id.to_owned(),
                    field_value,
                });
            return true;
        }
        if field == "tags" {
            let Some(list) = value.as_array() else {
                return false;
            };
            self.tags = Some(
                list.iter()
                    .filter_map(|t| t.as_str())
                    .map(str::to_owned)
                    .collect(),
            );
            return true;
        }
        let old = value.as_str().unwrap_or_default();
        let v = || (!old.is_empty()).then(|| old.to_owned());
        match field {
            "firstName" => self.first_name = Some(v()),
            "lastName" => self.last_name = Some(v()),
            "name" => self.name = Some(v()),
            "email" => self.email = Some(v()),
            "phone" => self.phone = Some(v()),
            "address1" => self.address1 = Some(v()),
            "city" => self.city = Some(v()),
            "state" => self.state = Some(v()),
            "postalCode" => self.postal_code = Some(old.to_owned()),
            "website" => self.website = Some(v()),
            "timezone" => self.timezone = Some(v()),
            "source" => self.source = Some(v()),
            "dateOfBirth" => self.date_of_birth = Some(v()),
            "country" => self.country = Some(old.to_owned()),
            "dnd" => self.dnd = Some(old == "true"),
            _ => return false,
        }
        true
    }
}

/// A contact as the API returns it (spec: `GetContectByIdSchema`), the fields the importer reads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Contact {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    /// The street: `address1`, which search answers name `address` (highlevel-api-docs#314).
    #[serde(skip_serializing_if = "Option::is_none", alias = "address")]
    pub address1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub tags: Vec<String>,
    /// `YYYY-MM-DD`, whatever form the API answered in: `GET` gives
    /// `YYYY-MM-DDT00:00:00.000Z`, search gives epoch milliseconds.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "date_of_birth"
    )]
    pub date_of_birth: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dnd: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_added: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_updated: Option<String>,
    /// The business the contact belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub business_id: Option<String>,
    /// Custom field values, by field id (the API returns no keys here).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub custom_fields: Vec<CustomFieldValue>,
    /// The contact's other emails (read only: the API cannot write them, #262). An upsert whose
    /// email is one of them updates this contact and replaces its primary email (#337).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub additional_emails: Vec<String>,
}

/// Reads a date of birth given as `YYYY-MM-DD`, an RFC 3339 date-time, or epoch milliseconds,
/// as `YYYY-MM-DD` (UTC). Anything else is kept as given.
fn date_of_birth<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match v {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .and_then(|ms| {
                time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
            })
            .map(|t| format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())),
        Some(serde_json::Value::String(s)) => {
            let s = s.trim();
            let date = s.get(..10).filter(|d| {
                d.len() == 10
                    && d.as_bytes()[4] == b'-'
                    && d.as_bytes()[7] == b'-'
                    && (s.len() == 10 || s.as_bytes()[10] == b'T' || s.as_bytes()[10] == b' ')
            });
            match date {
                Some(d) if s.len() > 10 => {
                    // A date-time: its UTC date (GHL stores dates of birth at midnight UTC).
                    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                        .map(|t| {
                            let t = t.to_offset(time::UtcOffset::UTC);
                            format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
                        })
                        .ok()
                        .or_else(|| Some(d.to_owned()))
                }
                _ => Some(s.to_owned()),
            }
            .filter(|s| !s.is_empty())
        }
        Some(other) => Some(other.to_string()),
    })
}

impl Contact {
    /// Whether the contact has a (non-empty) value for a field.
    pub fn has(&self, f: super::fields::ContactField) -> bool {
        use super::fields::ContactField as F;
        let s = |v: &Option<String>| v.as_deref().is_some_and(|x| !x.is_empty());
        match f {
            F::FirstName => s(&self.first_name),
            F::LastName => s(&self.last_name),
            F::Name => s(&self.name),
            F::Email => s(&self.email),
            F::Phone => s(&self.phone),
            F::CompanyName => s(&self.company_name),
            F::Address1 => s(&self.address1),
            F::City => s(&self.city),
            F::State => s(&self.state),
            F::PostalCode => s(&self.postal_code),
            F::Country => s(&self.country),
            F::Website => s(&self.website),
            F::Timezone => s(&self.timezone),
            F::Source => s(&self.source),
            F::Tags => !self.tags.is_empty(),
            F::DateOfBirth => s(&self.date_of_birth),
            F::Dnd => self.dnd.is_some(),
        }
    }
}

/// `{id, value}` of a contact's custom field. `value` is text, a number or a list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CustomFieldValue {
    pub id: String,
    pub value: serde_json::Value,
}

impl CustomFieldValue {
    /// The value as text: lists joined with `, `, numbers as written.
    pub fn text(&self) -> String {
        match &self.value {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Array(a) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string())
                })
                .collect::<Vec<_>>()
                .join(", "),
            other => other.to_string(),
        }
    }
}

/// A custom field definition (`GET /locations/{locationId}/customFields?model=contact`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CustomFieldDef {
    pub id: String,
    pub name: String,
    /// e.g. `contact.membership_level`.
    pub field_key: String,
    /// TEXT, LARGE_TEXT, NUMERICAL, MONETORY, DATE, CHECKBOX, SINGLE_OPTIONS, MULTIPLE_OPTIONS, …
    pub data_type: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub picklist_options: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// Answer of the custom-fields listing.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CustomFieldsResponse {
    pub custom_fields: Vec<CustomFieldDef>,
}

/// A note (spec `GetNoteSchema`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Note {
    pub id: String,
    pub body: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_added: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned: Option<bool>,
}

/// A task (spec `TaskSchema`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Task {
    pub id: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_date: Option<String>,
    pub completed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<String>,
}

/// A calendar event of a contact (spec `GetEventSchema`), the fields the importer keeps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Appointment {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calendar_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<String>,
}

/// `{notes}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NotesResponse {
    pub notes: Vec<Note>,
}

/// `{tasks}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TasksResponse {
    pub tasks: Vec<Task>,
}

/// `{events}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AppointmentsResponse {
    pub events: Vec<Appointment>,
}

/// Answer of `POST /contacts/upsert`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpsertResponse {
    /// true when a contact was created, false when one was updated.
    #[serde(default)]
    pub new: bool,
    /// The contact after the write.
    pub contact: Contact,
    /// Server trace id.
    #[serde(default)]
    pub trace_id: Option<String>,
}

/// Body of `POST /contacts/search` (documented outside the spec; see docs/GHL-API.md §4.1).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchRequest {
    pub location_id: String,
    /// Page size, at most 500.
    pub page_limit: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    /// Cursor: the `searchAfter` of the previous page's last contact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_after: Option<Vec<serde_json::Value>>,
    /// `[{field, operator, value}]` or groups, passed through.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub filters: Vec<serde_json::Value>,
    /// Free text, at most 75 characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

/// Answer of the deprecated `GET /contacts/`.
#[derive(Debug, Clone, Deserialize)]
pub struct ListResponse {
    #[serde(default)]
    pub contacts: Vec<Contact>,
    #[serde(default)]
    pub count: Option<u64>,
    #[serde(default)]
    pub meta: Option<ListMeta>,
}

/// Paging metadata of `GET /contacts/` (real answers carry it; the spec does not use it).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ListMeta {
    pub total: Option<u64>,
    pub start_after_id: Option<String>,
    pub start_after: Option<serde_json::Value>,
}

/// A contact in a search answer, with its paging cursor.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchedContact {
    #[serde(flatten)]
    pub contact: Contact,
    #[serde(default)]
    pub search_after: Option<Vec<serde_json::Value>>,
}

/// Answer of `POST /contacts/search`. Real answers say `total`; the spec says `count`.
#[derive(Debug, Clone, Deserialize)]
pub struct SearchResponse {
    #[serde(default)]
    pub contacts: Vec<SearchedContact>,
    #[serde(default, alias = "count")]
    pub total: Option<u64>,
}

/// Error body: `message` is a string (400, 401) or an array (422).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ApiErrorBody {
    pub status_code: Option<u16>,
    pub message: Option<Messages>,
    pub error: Option<String>,
    pub meta: Option<DuplicateMeta>,
    pub trace_id: Option<String>,
}

/// String-or-array `message`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Messages {
    One(String),
    Many(Vec<String>),
}

impl Messages {
    /// All messages as a list.
    pub fn into_vec(self) -> Vec<String> {
        match self {
            Messages::One(s) => vec![s],
            Messages::Many(v) => v,
        }
    }
}

/// `meta` of the 400 duplicate error.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DuplicateMeta {
    pub contact_id: Option<String>,
    pub contact_name: Option<String>,
    pub matching_field: Option<String>,
}

/// Milliseconds since the epoch of an RFC 3339 timestamp as the API writes them (one instant,
/// whichever form it is written in).
pub fn unix_millis(text: &str) -> Option<i64> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_fields_are_omitted() {
        let body = UpsertContact {
            location_id: "L".into(),
            email: Some("a@b.co".into()),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"locationId": "L", "email": "a@b.co"})
        );
    }

    #[test]
    fn error_message_is_string_or_array() {
        let a: ApiErrorBody = serde_json::from_str(
            r#"{"statusCode":422,"message":["property foo should not exist"]}"#,
        )
        .unwrap();
        assert_eq!(
            a.message.unwrap().into_vec(),
            vec!["property foo should not exist"]
        );
        let b: ApiErrorBody = serde_json::from_str(
            r#"{"statusCode":400,"message":"This location does not allow duplicated contacts.","meta":{"contactId":"c1","matchingField":"email"}}"#,
        )
        .unwrap();
        assert_eq!(b.meta.unwrap().contact_id.as_deref(), Some("c1"));
    }

    #[test]
    fn search_total_accepts_count() {
        let r: SearchResponse = serde_json::from_str(r#"{"contacts":[],"count":3}"#).unwrap();
        assert_eq!(r.total, Some(3));
    }
}
