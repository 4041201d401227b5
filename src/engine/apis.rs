//! The API side of `run`: one client per location, with the credentials the command needs
//! (checked for scope up front), or an embedded sandbox.

use std::collections::HashMap;

use secrecy::SecretString;

use crate::config::{Pipeline, Target};
use crate::options::RunOptions;
use crate::report;
use ghl_client::client::{Credentials, GhlClient};
use std::sync::atomic::Ordering;

/// The API side of a run: a client per location (sharing a throttle per location) and the
/// embedded API of a rehearsal when there is one.
pub(super) struct Apis {
    pub sandbox: Option<Box<dyn crate::options::Rehearsal>>,
    pub clients: HashMap<String, GhlClient>,
}

impl Apis {
    pub async fn build(p: &Pipeline, opts: &RunOptions) -> anyhow::Result<Apis> {
        let targets = super::apis(p);
        let mut sandbox = None;
        let mut tokens: HashMap<String, (reqwest::Url, Credentials)> = HashMap::new();
        let shared = opts.part_of.as_ref().and_then(|p| p.api.as_ref());
        if let (Some(api), true) = (shared, opts.sandbox) {
            // One location's part of a multi-location rehearsal: the parent's sandbox.
            for (_, t) in &targets {
                let creds = Credentials::Static(SecretString::from(api.token.clone()));
                tokens.insert(t.location_id.clone(), (api.base_url.clone(), creds));
            }
        } else if opts.sandbox && !targets.is_empty() {
            let mut locations: Vec<String> =
                targets.iter().map(|(_, t)| t.location_id.clone()).collect();
            locations.dedup();
            let sb = super::rehearse(opts, locations).await?;
            let api = sb.api();
            for (_, t) in &targets {
                let creds = Credentials::Static(SecretString::from(api.token.clone()));
                tokens.insert(t.location_id.clone(), (api.base_url.clone(), creds));
            }
            sandbox = Some(sb);
        } else {
            for (section, t) in &targets {
                let creds = super::credentials(p, section, t, opts.state_dir.as_deref())?;
                // Least privilege: reading (a source, a dry run) needs contacts.readonly only.
                let (need, what) = match (*section, opts.dry_run) {
                    ("target", false) => (ghl_client::auth::SCOPE_WRITE, "`run`"),
                    ("target", true) => (ghl_client::auth::SCOPE_READ, "`run --dry-run`"),
                    _ => (ghl_client::auth::SCOPE_READ, "reading a GHL source"),
                };
                super::check_scope(&creds, &t.location_id, need, what).await?;
                tokens.insert(t.location_id.clone(), (t.base_url.clone(), creds));
            }
        }
        let mut clients = HashMap::new();
        for (location, (url, creds)) in tokens {
            let client = super::client_for(p, url, creds)?;
            clients.insert(location, client);
        }
        Ok(Apis { sandbox, clients })
    }

    pub fn client(&self, t: &Target) -> &GhlClient {
        self.clients
            .get(&t.location_id)
            .expect("a client per location of the pipeline")
    }

    /// Every client's counters (for the run's timeline).
    pub fn stats(&self) -> Vec<std::sync::Arc<ghl_client::client::ClientStats>> {
        self.clients
            .values()
            .map(|c| std::sync::Arc::clone(c.stats()))
            .collect()
    }

    /// The run's request figures: the clients' counters summed, the daily allowance and the
    /// rate limit of the tightest location.
    pub fn totals(&self) -> report::summary::RequestCounts {
        let mut r = counts(&self.stats());
        for c in self.clients.values() {
            let limit = c.throttle().limit();
            let this = report::summary::RateLimitInForce {
                max: u64::from(limit.max.get()),
                interval_ms: limit.interval.as_millis() as u64,
            };
            let per_s = |l: &report::summary::RateLimitInForce| {
                l.max as f64 / (l.interval_ms.max(1) as f64)
            };
            if r.rate_limit.is_none_or(|old| per_s(&this) < per_s(&old)) {
                r.rate_limit = Some(this);
            }
        }
        r
    }
}

/// Clients' counters summed (the lowest daily allowance seen): for the summary, and each second
/// for the run's timeline.
pub(super) fn counts(
    stats: &[std::sync::Arc<ghl_client::client::ClientStats>],
) -> report::summary::RequestCounts {
    let mut r = report::summary::RequestCounts::default();
    for s in stats {
        r.sent += s.requests.load(Ordering::Relaxed);
        r.retries += s.retries.load(Ordering::Relaxed);
        r.rate_limited_429 += s.throttled_429.load(Ordering::Relaxed);
        r.server_errors += s.server_errors.load(Ordering::Relaxed);
        r.transport_errors += s.transport_errors.load(Ordering::Relaxed);
        let d = s.daily_remaining.load(Ordering::Relaxed);
        if d != u64::MAX {
            r.daily_remaining = Some(r.daily_remaining.map_or(d, |x| x.min(d)));
        }
        let l = s.daily_limit.load(Ordering::Relaxed);
        if l > 0 {
            r.daily_limit = Some(r.daily_limit.map_or(l, |x| x.min(l)));
        }
    }
    r
}
