//! The planner: what each row would do to the target location — `create`, `update` (with the
//! per-field diff), `unchanged`, or `conflict` (the email matches one contact and the phone
//! another: GHL's upsert would silently merge into the first and drop the phone) — decided
//! against an index of the location's existing contacts, read with search pages of 500 (one
//! read per 500 contacts). `run --dry-run` plans every row with read requests only.

use std::collections::HashMap;

use crate::ghl::client::GhlClient;
use crate::ghl::error::ApiError;
use crate::ghl::fields::ContactField;
use crate::ghl::types::{Contact, SearchRequest, UpsertContact};

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
                let settle = Box::new(Settle {
                    client: client.clone(),
                    location: location.to_owned(),
                    read_at: started,
                    read_wall,
                    lag,
                    delta: tokio::sync::OnceCell::new(),
                    reads: std::sync::atomic::AtomicU64::new(0),
                });
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
            Planning::Lagging { idx, settle } => {
                idx.pages + settle.reads.load(std::sync::atomic::Ordering::Relaxed)
            }
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

/// The duplicate lookups of a row (by email, by phone; not lagged like search): an index of what
/// they found.
async fn lookups(
    client: &GhlClient,
    location: &str,
    body: &UpsertContact,
    reads: &std::sync::atomic::AtomicU64,
) -> Result<Index, ApiError> {
    use std::sync::atomic::Ordering;
    let mut idx = Index::default();
    if let Some(e) = body.email.as_deref() {
        reads.fetch_add(1, Ordering::Relaxed);
        if let Some(c) = client.duplicate(location, Some(e), None).await? {
            idx.add(c);
        }
    }
    if let Some(p) = body.phone.as_deref() {
        reads.fetch_add(1, Ordering::Relaxed);
        if let Some(c) = client.duplicate(location, None, Some(p)).await? {
            if !idx.contacts.iter().any(|x| x.id == c.id) {
                idx.add(c);
            }
        }
    }
    Ok(idx)
}

/// How a lagging index catches up ([`Planning::Lagging`]).
#[derive(Debug)]
pub struct Settle {
    client: GhlClient,
    location: String,
    /// When the index read began.
    read_at: std::time::Instant,
    read_wall: time::OffsetDateTime,
    lag: std::time::Duration,
    /// The contacts changed since shortly before the index was read (read once, after the lag).
    delta: tokio::sync::OnceCell<Index>,
    reads: std::sync::atomic::AtomicU64,
}

/// Extra time the read of what changed reaches back, for the clocks of this machine and the
/// API's to disagree.
const CLOCK_SKEW: time::Duration = time::Duration::seconds(120);

impl Settle {
    async fn index_for(
        &self,
        base: &std::sync::Arc<Index>,
        body: &UpsertContact,
    ) -> Result<std::sync::Arc<Index>, ApiError> {
        if self.read_at.elapsed() < self.lag {
            // The index may miss this row's contact, or show it as it was: ask the lookups.
            return lookups(&self.client, &self.location, body, &self.reads)
                .await
                .map(std::sync::Arc::new);
        }
        let delta = self.delta.get_or_try_init(|| self.changed_since()).await?;
        let found = |idx: &Index| -> Vec<Contact> {
            let by_email = body
                .email
                .as_deref()
                .and_then(|e| idx.by_email.get(&e.to_lowercase()));
            let by_phone = body.phone.as_deref().and_then(|p| idx.by_phone.get(p));
            let mut out: Vec<Contact> = Vec::new();
            for i in by_email.into_iter().chain(by_phone) {
                if !out.iter().any(|c| c.id == idx.contacts[*i].id) {
                    out.push(idx.contacts[*i].clone());
                }
            }
            out
        };
        let fresh = found(delta);
        if fresh.is_empty() {
            return Ok(std::sync::Arc::clone(base));
        }
        // What changed wins; the index fills in the key the changes do not hold.
        let mut idx = Index::default();
        for c in fresh.into_iter().chain(found(base)) {
            if !idx.contacts.iter().any(|x| x.id == c.id) {
                idx.add(c);
            }
        }
        Ok(std::sync::Arc::new(idx))
    }

    /// Every contact updated since the lag (and the clock skew) before the index was read.
    async fn changed_since(&self) -> Result<Index, ApiError> {
        let lag = time::Duration::try_from(self.lag).unwrap_or(time::Duration::ZERO);
        let since = crate::state::rfc3339(self.read_wall - lag - CLOCK_SKEW);
        let filter = serde_json::json!({
            "field": "dateUpdated", "operator": "range", "value": {"gte": since}
        });
        let mut idx = Index::default();
        let mut after: Option<Vec<serde_json::Value>> = None;
        loop {
            let req = SearchRequest {
                location_id: self.location.clone(),
                page_limit: 500,
                page: None,
                search_after: after.clone(),
                filters: vec![filter.clone()],
                query: None,
            };
            let page = self.client.search_contacts(&req).await?;
            self.reads
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let n = page.contacts.len();
            after = page.contacts.last().and_then(|c| c.search_after.clone());
            for c in page.contacts {
                idx.add(c.contact);
            }
            if n < 500 || after.is_none() {
                return Ok(idx);
            }
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
                filters: Vec::new(),
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
pub type Policies = [(crate::ghl::fields::ContactField, crate::config::FieldPolicy)];

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
mod tests {
    use super::*;

    fn contact(id: &str, email: Option<&str>, phone: Option<&str>, first: Option<&str>) -> Contact {
        Contact {
            id: id.into(),
            email: email.map(str::to_owned),
            phone: phone.map(str::to_owned),
            first_name: first.map(str::to_owned),
            tags: vec!["vip".into()],
            ..Default::default()
        }
    }

    fn body(email: Option<&str>, phone: Option<&str>, first: Option<&str>) -> UpsertContact {
        UpsertContact {
            email: email.map(str::to_owned),
            phone: phone.map(str::to_owned),
            first_name: first.map(str::to_owned),
            ..Default::default()
        }
    }

    #[test]
    fn actions() {
        let mut idx = Index::default();
        idx.add(contact(
            "A",
            Some("ann@x.co"),
            Some("+14155552671"),
            Some("Ann"),
        ));
        idx.add(contact("B", Some("ben@x.co"), Some("+14155550100"), None));
        assert_eq!(
            plan(&idx, &body(Some("new@x.co"), None, None)),
            Action::Create
        );
        assert_eq!(
            plan(&idx, &body(Some("ANN@x.co"), None, Some("Ann"))),
            Action::Unchanged {
                contact_id: "A".into()
            }
        );
        assert_eq!(
            plan(&idx, &body(Some("ann@x.co"), None, Some("Annie"))),
            Action::Update {
                contact_id: "A".into(),
                changes: vec![("firstName", "Ann".into(), "Annie".into())]
            }
        );
        assert_eq!(
            plan(&idx, &body(None, Some("+14155550100"), None)),
            Action::Unchanged {
                contact_id: "B".into()
            }
        );
        assert_eq!(
            plan(&idx, &body(Some("ann@x.co"), Some("+14155550100"), None)),
            Action::Conflict {
                email_contact: "A".into(),
                phone_contact: "B".into()
            }
        );
    }

    #[test]
    fn modes_and_policies() {
        use crate::config::{FieldPolicy, LoadMode};
        use crate::ghl::fields::ContactField;
        let mut idx = Index::default();
        idx.add(contact("A", Some("ann@x.co"), None, Some("Ann")));
        let b = body(Some("ann@x.co"), Some("+14155552671"), Some("Annie"));
        let rep = crate::config::TagMode::Replace;
        let (a, sent) = plan_with(
            &idx,
            &b,
            &[(ContactField::FirstName, FieldPolicy::FillEmpty)],
            rep,
        );
        assert_eq!(
            sent.first_name, None,
            "fill_empty keeps the existing first name"
        );
        assert_eq!(
            a,
            Action::Update {
                contact_id: "A".into(),
                changes: vec![("phone", String::new(), "+14155552671".into())]
            }
        );
        let (a, _) = plan_with(
            &idx,
            &body(Some("ann@x.co"), None, Some("Bob")),
            &[(ContactField::FirstName, FieldPolicy::Never)],
            rep,
        );
        let mut t = body(Some("ann@x.co"), None, None);
        t.tags = Some(vec!["VIP".into()]);
        let (a2, sent) = plan_with(&idx, &t, &[], crate::config::TagMode::Add);
        assert_eq!(
            (a2, sent.tags),
            (
                Action::Unchanged {
                    contact_id: "A".into()
                },
                None
            ),
            "adding a tag it has changes nothing"
        );
        assert_eq!(
            a,
            Action::Unchanged {
                contact_id: "A".into()
            }
        );
        assert_eq!(
            decide(LoadMode::Sync, &a),
            Decision::Skip {
                contact_id: "A".into()
            }
        );
        assert_eq!(decide(LoadMode::Upsert, &a), Decision::Write);
        assert_eq!(
            decide(LoadMode::Create, &a),
            Decision::Skip {
                contact_id: "A".into()
            }
        );
        assert!(matches!(
            decide(LoadMode::Update, &Action::Create),
            Decision::Reject {
                code: "not_found",
                ..
            }
        ));
        assert_eq!(decide(LoadMode::Create, &Action::Create), Decision::Write);
    }

    #[test]
    fn a_new_email_with_a_phone_of_another_person_is_found() {
        let mut idx = Index::default();
        idx.add(contact("A", Some("ann@x.co"), Some("+14155552671"), None));
        idx.add(contact("B", None, Some("+14155550100"), None));
        let taken = |e: &str, p: &str| {
            phone_taken(&idx, &body(Some(e), Some(p), None)).map(|t| t.id.to_owned())
        };
        assert_eq!(taken("bob@x.co", "+14155552671").as_deref(), Some("A"));
        assert_eq!(taken("ANN@x.co", "+14155552671"), None, "same person");
        assert_eq!(
            taken("bob@x.co", "+14155550100"),
            None,
            "that contact has no email to lose"
        );
        assert_eq!(taken("bob@x.co", "+14155559999"), None);
    }

    #[test]
    fn a_row_without_email_on_another_persons_phone_is_found() {
        let mut idx = Index::default();
        idx.add(contact(
            "A",
            Some("ann@x.co"),
            Some("+14155552671"),
            Some("Ann"),
        ));
        idx.add(contact("B", None, Some("+14155550100"), Some("Bob")));
        idx.add(contact("C", Some("cy@x.co"), Some("+14155550101"), None));
        let taken = |p: &str, first: Option<&str>| {
            phone_taken(&idx, &body(None, Some(p), first)).map(|t| (t.id.to_owned(), t.by_name))
        };
        assert_eq!(taken("+14155552671", Some("Zed")), Some(("A".into(), true)));
        assert_eq!(
            taken("+14155552671", Some(" ANN ")),
            None,
            "the names agree"
        );
        assert_eq!(
            taken("+14155552671", None),
            Some(("A".into(), false)),
            "an email the row does not carry, and no name to say it is Ann"
        );
        assert_eq!(taken("+14155550100", Some("Zed")), Some(("B".into(), true)));
        assert_eq!(
            taken("+14155550100", None),
            None,
            "nothing tells them apart"
        );
        assert_eq!(taken("+14155550101", Some("Cy")), Some(("C".into(), false)));
    }

    #[test]
    fn a_policy_never_removes_the_key_a_row_matched_by() {
        use crate::config::FieldPolicy;
        let mut idx = Index::default();
        idx.add(contact("A", Some("ann@x.co"), None, Some("Ann")));
        idx.add(contact("B", None, Some("+14155550100"), None));
        let all = [
            (ContactField::Email, FieldPolicy::FillEmpty),
            (ContactField::Phone, FieldPolicy::Never),
            (ContactField::FirstName, FieldPolicy::FillEmpty),
        ];
        let rep = crate::config::TagMode::Replace;
        // Matched by email: the email stays, so the upsert still lands on A.
        let (_, sent) = plan_with(
            &idx,
            &body(Some("ann@x.co"), Some("+14155552671"), Some("Annie")),
            &all,
            rep,
        );
        assert_eq!(sent.email.as_deref(), Some("ann@x.co"));
        assert_eq!((sent.phone, sent.first_name), (None, None));
        // Matched by phone: the phone stays.
        let (a, sent) = plan_with(
            &idx,
            &body(None, Some("+14155550100"), Some("Bo")),
            &all,
            rep,
        );
        assert_eq!(sent.phone.as_deref(), Some("+14155550100"));
        assert!(matches!(a, Action::Update { contact_id, .. } if contact_id == "B"));
    }

    #[test]
    fn values_the_api_hands_back_in_other_forms_are_the_same() {
        use serde_json::json;
        assert!(same_custom_value(&json!(42), &json!("42")));
        assert!(same_custom_value(&json!(42.5), &json!("42.50")));
        assert!(!same_custom_value(&json!(42), &json!("43")));
        assert!(same_custom_value(&json!(["b", "a"]), &json!("a, b")));
        assert!(same_custom_value(&json!(["a", "b"]), &json!(["b", "a"])));
        assert!(!same_custom_value(&json!(["a"]), &json!("a, b")));
        assert!(same_custom_value(&json!("x "), &json!("x")));
        let mut c = contact("A", Some("Ann@X.co"), None, None);
        c.tags = vec!["vip".into(), "lead".into()];
        let mut b = body(Some("ann@x.co"), None, None);
        b.tags = Some(vec![" VIP".into(), "Lead ".into()]);
        assert!(diff(&c, &b).is_empty(), "{:?}", diff(&c, &b));
        // Dates of birth as GET and search answer them.
        for raw in [
            r#"{"id":"A","dateOfBirth":"1990-05-17T00:00:00.000Z","address":"1 Main St"}"#,
            r#"{"id":"A","dateOfBirth":642902400000,"address1":"1 Main St"}"#,
            r#"{"id":"A","dateOfBirth":"1990-05-17","address1":"1 Main St"}"#,
        ] {
            let c: Contact = serde_json::from_str(raw).unwrap();
            assert_eq!(c.date_of_birth.as_deref(), Some("1990-05-17"), "{raw}");
            assert_eq!(c.address1.as_deref(), Some("1 Main St"), "{raw}");
        }
    }

    #[test]
    fn blanks_never_count_as_changes_and_tags_compare_as_sets() {
        let c = contact("A", Some("ann@x.co"), None, Some("Ann"));
        assert!(diff(&c, &body(Some("ann@x.co"), None, None)).is_empty());
        let mut b = body(Some("ann@x.co"), None, None);
        b.tags = Some(vec!["VIP".into()]);
        assert!(diff(&c, &b).is_empty());
        b.tags = Some(vec!["vip".into(), "lead".into()]);
        assert_eq!(diff(&c, &b)[0].0, "tags");
    }
}
