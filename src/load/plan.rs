//! The planner: what each row would do to the target location — `create`, `update` (with the
//! per-field diff), `unchanged`, or `conflict` (the email matches one contact and the phone
//! another: GHL's upsert would silently merge into the first and drop the phone) — decided
//! against an index of the location's existing contacts, read with search pages of 500 (one
//! read per 500 contacts). `run --dry-run` plans every row with read requests only.

use std::collections::HashMap;

use ghl_client::client::GhlClient;
use ghl_client::error::ApiError;
use ghl_client::fields::ContactField;
use ghl_client::types::{Contact, SearchRequest, UpsertContact};

mod lag;
use lag::lookups;
pub use lag::Settle;

/// The location's contacts, by normalised email and E.164 phone.
#[derive(Debug, Default)]
pub struct Index {
    contacts: Vec<Contact>,
    by_email: HashMap<String, usize>,
    by_phone: HashMap<String, usize>,
    /// Lower-cased additional emails (search hits carry them) → contact.
    by_additional: HashMap<String, usize>,
    /// Search requests spent building it.
    pub pages: u64,
    /// The location's announced contact count, when the index stopped early.
    total: Option<u64>,
}

/// How rows are matched against the location's contacts.
#[derive(Debug)]
pub enum Planning {
    /// Every contact read up front: one read per 500 contacts.
    Prefetched(std::sync::Arc<Index>),
    /// An index that may lag writes made shortly before it was read (search results lag writes
    /// by seconds): rows are confirmed with the duplicate lookups until the lag has passed, then
    /// against what changed since the index was read (one filtered search), then the index.
    Lagging {
        /// The index as read.
        idx: std::sync::Arc<Index>,
        /// How to catch up with it.
        settle: Box<Settle>,
    },
    /// Duplicate lookups per row (`GET /contacts/search/duplicate`): one per key (email, phone)
    /// of each row, cheaper than indexing a large location for a small file.
    PerRow {
        /// The client.
        client: Box<GhlClient>,
        /// The location.
        location: String,
        /// The location's contacts (announced), when the first index page was read.
        contacts: Option<u64>,
        /// Reads spent: the first index page and the lookups.
        reads: std::sync::atomic::AtomicU64,
    },
}

impl Planning {
    /// Chooses and prepares the strategy. With `auto`, the first index page tells the location's
    /// size: indexing the rest costs `ceil(contacts / 500) − 1` reads, per-row lookups
    /// `rows × keys` (`rows` estimated from the source, `keys` = 1 or 2 lookups per row); the
    /// cheaper wins (an unknown row count indexes). Returns the strategy and a sentence saying
    /// which and why.
    ///
    /// `lag`: when the plan must be right about contacts written just before (modes and
    /// policies that treat a missing contact differently, dry runs), how long search may lag
    /// writes; an index is then [`Planning::Lagging`].
    pub async fn choose(
        client: &GhlClient,
        location: &str,
        strategy: crate::config::LookupStrategy,
        (rows, keys): (Option<u64>, u64),
        lag: Option<std::time::Duration>,
    ) -> Result<(Planning, String), ApiError> {
        let (started, read_wall) = (std::time::Instant::now(), time::OffsetDateTime::now_utc());
        let per_row = rows.map(|r| r * keys.max(1));
        use crate::config::LookupStrategy;
        let (idx, stopped) = match strategy {
            LookupStrategy::Index => Index::fetch_until(client, location, |_| false).await?,
            LookupStrategy::PerRow => {
                let why = "planning: per-row lookups (load.lookup: per_row)".to_owned();
                return Ok((
                    Planning::PerRow {
                        client: Box::new(client.clone()),
                        location: location.to_owned(),
                        contacts: None,
                        reads: std::sync::atomic::AtomicU64::new(0),
                    },
                    why,
                ));
            }
            LookupStrategy::Auto => {
                Index::fetch_until(client, location, |total| {
                    let rest = total.div_ceil(PAGE).saturating_sub(1);
                    per_row.is_some_and(|p| p < rest)
                })
                .await?
            }
        };
        if stopped {
            let contacts = idx.total.unwrap_or(idx.len() as u64);
            let contacts_known = Some(contacts);
            let why = format!(
                "planning: per-row lookups (≈ {} reads for ≈ {} rows) instead of indexing the location's {contacts} contacts ({} reads)",
                per_row.map_or("?".into(), |p| p.to_string()),
                rows.map_or("?".into(), |r| r.to_string()),
                contacts.div_ceil(PAGE)
            );
            return Ok((
                Planning::PerRow {
                    client: Box::new(client.clone()),
                    location: location.to_owned(),
                    contacts: contacts_known,
                    reads: std::sync::atomic::AtomicU64::new(idx.pages),
                },
                why,
            ));
        }
        let why = format!(
            "planning: indexed the location's {} contacts with {} reads{}",
            idx.len(),
            idx.pages,
            per_row
                .filter(|_| idx.pages > 1)
                .map(|p| format!(" (per-row lookups: ≈ {p})"))
                .unwrap_or_default()
        );
        let idx = std::sync::Arc::new(idx);
        match lag.filter(|l| !l.is_zero()) {
            None => Ok((Planning::Prefetched(idx), why)),
            Some(lag) => {
                let why = format!(
                    "{why}; rows are confirmed with duplicate lookups for the first {:.1} s (search lags writes), \
                     then against one read of what changed since",
                    lag.as_secs_f64()
                );
                let settle = Box::new(Settle::new(
                    client.clone(),
                    location,
                    (started, read_wall),
                    lag,
                ));
                Ok((Planning::Lagging { idx, settle }, why))
            }
        }
    }

    /// The contacts a row can match: the whole index, or what the row's lookups found.
    pub async fn index_for(&self, body: &UpsertContact) -> Result<std::sync::Arc<Index>, ApiError> {
        match self {
            Planning::Prefetched(idx) => Ok(std::sync::Arc::clone(idx)),
            Planning::Lagging { idx, settle } => settle.index_for(idx, body).await,
            Planning::PerRow {
                client,
                location,
                reads,
                ..
            } => lookups(client, location, body, reads)
                .await
                .map(std::sync::Arc::new),
        }
    }

    /// Read requests spent on planning so far.
    pub fn reads(&self) -> u64 {
        match self {
            Planning::Prefetched(idx) => idx.pages,
            Planning::Lagging { idx, settle } => idx.pages + settle.reads(),
            Planning::PerRow { reads, .. } => reads.load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// The location's contacts, when known.
    pub fn contacts(&self) -> Option<u64> {
        match self {
            Planning::Prefetched(idx) | Planning::Lagging { idx, .. } => Some(idx.len() as u64),
            Planning::PerRow { contacts, .. } => *contacts,
        }
    }
}

/// Contacts per search page while indexing.
pub const PAGE: u64 = 500;

impl Index {
    /// Reads every contact of `location` (pages of 500, `searchAfter` cursor).
    pub async fn fetch(client: &GhlClient, location: &str) -> Result<Index, ApiError> {
        Self::fetch_until(client, location, |_| false)
            .await
            .map(|(idx, _)| idx)
    }

    /// Like [`Index::fetch`], but after the first page asks `stop(total)` (the location's
    /// announced contact count) whether to give up; then returns the partial index and `true`.
    pub async fn fetch_until(
        client: &GhlClient,
        location: &str,
        stop: impl FnMut(u64) -> bool,
    ) -> Result<(Index, bool), ApiError> {
        Self::fetch_pages(client, location, Vec::new(), stop).await
    }

    /// The contacts search answers for `filters`, paged as [`Index::fetch_until`] pages.
    pub(super) async fn fetch_pages(
        client: &GhlClient,
        location: &str,
        filters: Vec<serde_json::Value>,
        mut stop: impl FnMut(u64) -> bool,
    ) -> Result<(Index, bool), ApiError> {
        let mut idx = Index::default();
        let mut after: Option<Vec<serde_json::Value>> = None;
        loop {
            let req = SearchRequest {
                location_id: location.to_owned(),
                page_limit: 500,
                page: None,
                search_after: after.clone(),
                filters: filters.clone(),
                query: None,
            };
            let page = client.search_contacts(&req).await?;
            idx.pages += 1;
            let n = page.contacts.len();
            after = page.contacts.last().and_then(|c| c.search_after.clone());
            for c in page.contacts {
                idx.add(c.contact);
            }
            // The announced total saves the empty page that would otherwise prove the end. A
            // contact created meanwhile and missed is harmless: its row plans `create`, and the
            // upsert matches it.
            let complete = page.total.is_some_and(|t| idx.len() as u64 >= t);
            if n < 500 || after.is_none() || complete {
                return Ok((idx, false));
            }
            if idx.pages == 1 && stop(page.total.unwrap_or(u64::MAX)) {
                idx.total = page.total;
                return Ok((idx, true));
            }
        }
    }

    /// Adds a contact (first one wins for a repeated key, as the API's matching would).
    pub fn add(&mut self, c: Contact) {
        let i = self.contacts.len();
        if let Some(e) = c.email.as_deref().filter(|e| !e.is_empty()) {
            self.by_email.entry(e.to_lowercase()).or_insert(i);
        }
        if let Some(p) = c.phone.as_deref().filter(|p| !p.is_empty()) {
            self.by_phone.entry(p.to_owned()).or_insert(i);
        }
        for a in c.additional_emails.iter().filter(|a| !a.trim().is_empty()) {
            self.by_additional
                .entry(a.trim().to_lowercase())
                .or_insert(i);
        }
        self.contacts.push(c);
    }

    /// The contact that holds the row's email as an *additional* email while no contact has
    /// it as its primary one: the API's upsert would replace that contact's primary email with
    /// it (#337). Returns its id and primary email.
    pub fn additional_taken(&self, body: &UpsertContact) -> Option<(&str, &str)> {
        let e = body.email.as_deref()?.to_lowercase();
        if self.by_email.contains_key(&e) {
            return None;
        }
        let c = &self.contacts[*self.by_additional.get(&e)?];
        Some((
            c.id.as_str(),
            c.email.as_deref().unwrap_or("no primary email"),
        ))
    }

    /// The contact with this email (case-insensitive), if any.
    pub fn contact_by_email(&self, email: &str) -> Option<&Contact> {
        self.by_email
            .get(&email.to_lowercase())
            .map(|i| &self.contacts[*i])
    }

    /// Contacts indexed.
    pub fn len(&self) -> usize {
        self.contacts.len()
    }

    /// Whether the location has no contacts.
    pub fn is_empty(&self) -> bool {
        self.contacts.is_empty()
    }
}

/// One field that would change: name, current value, new value.
pub type Change = (&'static str, String, String);

pub use super::compare::{diff, same_custom_value};

/// What `body` would overwrite on the contact it matches (`None` when it matches none): the
/// previous values `rollback` writes back. Standard fields as text (empty = was blank), `tags`
/// as the whole previous list, custom fields as `customField:<id>` with their previous JSON
/// value (null = had none).
pub fn pre_image(
    idx: &Index,
    body: &UpsertContact,
) -> Option<std::collections::BTreeMap<String, serde_json::Value>> {
    use serde_json::Value;
    let c = &idx.contacts[matched(idx, body)?];
    let mut out = std::collections::BTreeMap::new();
    for (name, old, _) in diff(c, body) {
        match name {
            "customField" => {}
            "tags" => {
                out.insert(
                    name.to_owned(),
                    Value::Array(c.tags.iter().cloned().map(Value::String).collect()),
                );
            }
            _ => {
                out.insert(name.to_owned(), Value::String(old));
            }
        }
    }
    for cf in body.custom_fields.iter().flatten() {
        let old = c
            .custom_fields
            .iter()
            .find(|v| v.id == cf.id)
            .map(|v| &v.value);
        if old != Some(&cf.field_value) {
            out.insert(
                format!("customField:{}", cf.id),
                old.cloned().unwrap_or(Value::Null),
            );
        }
    }
    Some(out)
}

/// What a row would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// No contact matches: one would be created.
    Create,
    /// The matched contact would change.
    Update {
        /// Its id.
        contact_id: String,
        /// The fields that change.
        changes: Vec<Change>,
    },
    /// The matched contact already holds these values.
    Unchanged {
        /// Its id.
        contact_id: String,
    },
    /// The email matches one contact and the phone another.
    Conflict {
        /// The contact the email matches (the one an upsert would update).
        email_contact: String,
        /// The contact the phone matches (whose phone the upsert would drop silently).
        phone_contact: String,
    },
}

impl Action {
    /// Name in plan.csv and results.csv.
    pub fn label(&self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update { .. } => "update",
            Action::Unchanged { .. } => "unchanged",
            Action::Conflict { .. } => "conflict",
        }
    }
}

/// Field write policies, applied to a row against the contact it matches.
pub type Policies = [(ghl_client::fields::ContactField, crate::config::FieldPolicy)];

/// Plans one row with write policies: `fill_empty` fields the contact already has, and `never`
/// fields, are left out of the body for an existing contact. Returns the action and the body
/// to send.
pub fn plan_with(
    idx: &Index,
    body: &UpsertContact,
    policies: &Policies,
    tags: crate::config::TagMode,
) -> (Action, UpsertContact) {
    let mut b = body.clone();
    if let Some(i) = matched(idx, body) {
        let c = &idx.contacts[i];
        // Additive/subtractive tags: only the tags that would change anything count.
        let has = |t: &String| c.tags.iter().any(|x| x.eq_ignore_ascii_case(t));
        b.tags = match tags {
            crate::config::TagMode::Replace => b.tags,
            crate::config::TagMode::Add => b
                .tags
                .map(|t| t.into_iter().filter(|x| !has(x)).collect::<Vec<_>>()),
            crate::config::TagMode::Remove => b
                .tags
                .map(|t| t.into_iter().filter(has).collect::<Vec<_>>()),
        }
        .filter(|t| !t.is_empty());
        // The key the row matched by addresses the upsert: a policy never takes it out of the
        // body (the upsert would then match by the other key, or create a new contact).
        let by_email = body
            .email
            .as_deref()
            .is_some_and(|e| idx.by_email.contains_key(&e.to_lowercase()));
        for (f, pol) in policies {
            let key = match f {
                ContactField::Email => by_email,
                ContactField::Phone => !by_email,
                _ => false,
            };
            if key {
                continue;
            }
            match pol {
                crate::config::FieldPolicy::Overwrite => {}
                crate::config::FieldPolicy::FillEmpty if c.has(*f) => b.clear(*f),
                crate::config::FieldPolicy::FillEmpty => {}
                crate::config::FieldPolicy::Never => b.clear(*f),
            }
        }
    }
    let action = plan(idx, &b);
    (action, b)
}

fn matched(idx: &Index, body: &UpsertContact) -> Option<usize> {
    body.email
        .as_deref()
        .and_then(|e| idx.by_email.get(&e.to_lowercase()))
        .or_else(|| body.phone.as_deref().and_then(|p| idx.by_phone.get(p)))
        .copied()
}

/// The contact of the location that holds the row's phone and is another person, whom the API's
/// upsert (email, then phone) would overwrite: the row's email is new and that contact has
/// another; or the row has no email and that contact has another name (both named), or an email
/// the row does not carry and no name to tell them apart.
pub fn phone_taken<'a>(idx: &'a Index, body: &UpsertContact) -> Option<Taken<'a>> {
    let c = &idx.contacts[*idx.by_phone.get(body.phone.as_deref()?)?];
    let other_email = c.email.as_deref().filter(|e| !e.trim().is_empty());
    let taken = |by_name: bool, other: String| Taken {
        id: c.id.as_str(),
        other,
        by_name,
    };
    if let Some(email) = body.email.as_deref() {
        if idx.by_email.contains_key(&email.to_lowercase()) {
            return None;
        }
        let other = other_email?;
        return (!other.eq_ignore_ascii_case(email)).then(|| taken(false, other.to_owned()));
    }
    let mine = crate::transform::dedup::name_key(body);
    let theirs = crate::transform::dedup::name_key_of(
        c.first_name.as_deref(),
        c.last_name.as_deref(),
        c.name.as_deref(),
    );
    match (mine, theirs) {
        (Some(a), Some(b)) if a == b => None,
        (Some(_), Some(_)) => {
            let shown = [&c.first_name, &c.last_name]
                .into_iter()
                .flatten()
                .map(|s| s.trim())
                .collect::<Vec<_>>()
                .join(" ");
            let shown = if shown.is_empty() {
                c.name.clone().unwrap_or_default()
            } else {
                shown
            };
            Some(taken(true, shown))
        }
        _ => other_email.map(|e| taken(false, e.to_owned())),
    }
}

/// Another person's contact that holds a row's phone ([`phone_taken`]).
#[derive(Debug)]
pub struct Taken<'a> {
    /// Its id.
    pub id: &'a str,
    /// Its email, or its name when the names tell them apart.
    pub other: String,
    /// Whether its name (rather than its email) makes it another person.
    pub by_name: bool,
}

/// Plans one row against the index (matching as the API's upsert does: email, then phone).
pub fn plan(idx: &Index, body: &UpsertContact) -> Action {
    let e = body
        .email
        .as_deref()
        .and_then(|e| idx.by_email.get(&e.to_lowercase()))
        .copied();
    let p = body
        .phone
        .as_deref()
        .and_then(|p| idx.by_phone.get(p))
        .copied();
    let target = match (e, p) {
        (Some(a), Some(b)) if a != b => {
            return Action::Conflict {
                email_contact: idx.contacts[a].id.clone(),
                phone_contact: idx.contacts[b].id.clone(),
            }
        }
        (Some(a), _) => a,
        (None, Some(b)) => b,
        (None, None) => return Action::Create,
    };
    let c = &idx.contacts[target];
    let changes = diff(c, body);
    if changes.is_empty() {
        Action::Unchanged {
            contact_id: c.id.clone(),
        }
    } else {
        Action::Update {
            contact_id: c.id.clone(),
            changes,
        }
    }
}

/// What a run in `mode` does with a planned action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Send the upsert.
    Write,
    /// Send nothing; the row is unchanged.
    Skip {
        /// The existing contact.
        contact_id: String,
    },
    /// Reject the row with this code and message.
    Reject {
        /// Reject code.
        code: &'static str,
        /// Why.
        message: String,
        /// How to fix it.
        hint: &'static str,
    },
}

/// The decision for `action` under `mode`.
pub fn decide(mode: crate::config::LoadMode, action: &Action) -> Decision {
    use crate::config::LoadMode as M;
    use crate::outcome::codes;
    match (mode, action) {
        (_, Action::Conflict { email_contact, phone_contact }) => Decision::Reject {
            code: codes::CONFLICT,
            message: format!(
                "the email matches contact {email_contact} and the phone contact {phone_contact}; an upsert would \
                 update {email_contact} and silently drop the phone"
            ),
            hint: "fix the email or the phone so both name the same person, or merge the two contacts in GHL",
        },
        (M::Update, Action::Create) => Decision::Reject {
            code: codes::NOT_FOUND,
            message: "no existing contact has this email or phone".into(),
            hint: "load.mode update only changes existing contacts; use upsert or sync to create",
        },
        (M::Create, Action::Update { contact_id, .. } | Action::Unchanged { contact_id }) => {
            Decision::Skip { contact_id: contact_id.clone() }
        }
        (M::Sync, Action::Unchanged { contact_id }) => Decision::Skip { contact_id: contact_id.clone() },
        _ => Decision::Write,
    }
}

#[cfg(test)]
mod tests;
