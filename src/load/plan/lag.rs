//! An index that may lag writes: search answers lag writes by seconds, so an index read just
//! after writes may miss contacts or show them as they were. Until the lag has passed, rows are
//! confirmed with the duplicate lookups (not lagged); then what changed since is read once.

use super::Index;
use ghl_client::client::GhlClient;
use ghl_client::error::ApiError;
use ghl_client::types::{Contact, UpsertContact};

/// The duplicate lookups of a row (by email, by phone; not lagged like search): an index of what
/// they found.
pub(super) async fn lookups(
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
    /// A lagging index of `location`, read from `read_at` (`read_wall` on this machine's clock).
    pub(super) fn new(
        client: GhlClient,
        location: &str,
        (read_at, read_wall): (std::time::Instant, time::OffsetDateTime),
        lag: std::time::Duration,
    ) -> Settle {
        Settle {
            client,
            location: location.to_owned(),
            read_at,
            read_wall,
            lag,
            delta: tokio::sync::OnceCell::new(),
            reads: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Reads spent confirming rows and reading what changed.
    pub(super) fn reads(&self) -> u64 {
        self.reads.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(super) async fn index_for(
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
        let since = crate::disk::rfc3339(self.read_wall - lag - CLOCK_SKEW);
        let filter = serde_json::json!({
            "field": "dateUpdated", "operator": "range", "value": {"gte": since}
        });
        let (idx, _) =
            Index::fetch_pages(&self.client, &self.location, vec![filter], |_| false).await?;
        self.reads
            .fetch_add(idx.pages, std::sync::atomic::Ordering::Relaxed);
        Ok(idx)
    }
}
