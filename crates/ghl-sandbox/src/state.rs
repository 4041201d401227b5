//! The sandbox's in-memory state: locations and their contacts, the duplicate rule, the rate-limit
//! windows, scripted faults and request statistics. Guarded by one `std` mutex that is never held
//! across an `.await`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use rand::distr::Alphanumeric;
use rand::Rng;
use serde::Serialize;

pub use super::limits::{LimitDecision, WindowKey, Windows};
use ghl_client::types::{Appointment, Contact, CustomFieldDef, Note, Task};

/// Kinds of scripted faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer `status` without doing anything.
    Status,
    /// Do the operation, then answer `status` (e.g. a create that answers 422 but created).
    AfterWrite,
    /// Send headers, then drop the connection before the body.
    Drop,
    /// Do the operation, then drop the connection before the answer's body.
    DropAfterWrite,
    /// Do the operation, then wait this many milliseconds before answering (a client that
    /// times out meanwhile never learns that it was applied).
    SlowAfterWrite(u64),
    /// Wait this many milliseconds, then handle the request normally.
    Slow(u64),
}

/// A scripted fault: the next `count` API requests (after the first `after`) answer `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// What happens to the request.
    pub kind: FaultKind,
    /// HTTP status to answer (429, 500, 502, 503, …; for `AfterWrite` the status sent after
    /// the write was made).
    pub status: u16,
    /// How many requests get it.
    pub count: u32,
    /// How many requests pass before the fault starts.
    pub after: u64,
    /// `Retry-After` seconds to send with it, if any.
    pub retry_after: Option<u32>,
}

impl std::str::FromStr for Fault {
    type Err = String;

    /// `KIND[xCOUNT][@AFTER][:retry-after=SECS]` where KIND is an HTTP status (`429`, `503`, `401`),
    /// `drop`, `slow=MS`, `STATUScreated` (do the write, then answer STATUS, e.g. `422created`) or
    /// `dropcreated` (do the write, then drop the connection) or `slowcreated=MS` (do the write,
    /// then answer after MS milliseconds).
    /// Examples: `429x3@10`, `dropx2`, `slow=3000x1`, `422createdx1@5`, `dropcreatedx1@7`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!(
                "bad fault `{s}`: expected KIND[xCOUNT][@AFTER][:retry-after=SECS] with KIND an HTTP status, \
                 drop, slow=MS, STATUScreated, dropcreated or slowcreated=MS, e.g. 429x3@10, dropx1, slow=2000x2, 422createdx1"
            )
        };
        let (main, ra) = match s.split_once(":retry-after=") {
            Some((m, r)) => (m, Some(r.parse().map_err(|_| bad())?)),
            None => (s, None),
        };
        let (main, after) = match main.split_once('@') {
            Some((m, a)) => (m, a.parse().map_err(|_| bad())?),
            None => (main, 0),
        };
        let (kind_txt, count) = match main.rsplit_once('x') {
            Some((k, c)) if c.bytes().all(|b| b.is_ascii_digit()) && !c.is_empty() => {
                (k, c.parse().map_err(|_| bad())?)
            }
            _ => (main, 1),
        };
        let (kind, status) = if kind_txt == "drop" {
            (FaultKind::Drop, 0)
        } else if kind_txt == "dropcreated" {
            (FaultKind::DropAfterWrite, 0)
        } else if let Some(ms) = kind_txt.strip_prefix("slowcreated=") {
            (FaultKind::SlowAfterWrite(ms.parse().map_err(|_| bad())?), 0)
        } else if let Some(ms) = kind_txt.strip_prefix("slow=") {
            (FaultKind::Slow(ms.parse().map_err(|_| bad())?), 0)
        } else if let Some(st) = kind_txt.strip_suffix("created") {
            (FaultKind::AfterWrite, st.parse().map_err(|_| bad())?)
        } else {
            (FaultKind::Status, kind_txt.parse().map_err(|_| bad())?)
        };
        if matches!(kind, FaultKind::Status | FaultKind::AfterWrite)
            && !(400..=599).contains(&status)
        {
            return Err(bad());
        }
        Ok(Fault {
            kind,
            status,
            count,
            after,
            retry_after: ra,
        })
    }
}

/// What a location starts with (the `--seed` file maps location ids to these).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SeedLocation {
    /// Custom field definitions.
    pub custom_fields: Vec<CustomFieldDef>,
    /// Contacts, each with optional notes, tasks and appointments.
    pub contacts: Vec<SeedContact>,
}

/// A seeded contact.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedContact {
    /// The contact, in the API's shape.
    #[serde(flatten)]
    pub contact: Contact,
    /// Its notes.
    #[serde(default)]
    pub notes: Vec<Note>,
    /// Its tasks.
    #[serde(default)]
    pub tasks: Vec<Task>,
    /// Its appointments.
    #[serde(default)]
    pub appointments: Vec<Appointment>,
}

/// Request statistics exposed at `/_sandbox/stats`.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Stats {
    /// Requests per `METHOD /route`, admin routes excluded.
    pub requests_by_endpoint: BTreeMap<String, u64>,
    /// Requests answered 429 because the rate limit was exceeded.
    pub rate_limited_429: u64,
    /// Requests answered with a scripted fault.
    pub faults_injected: u64,
    /// Most requests accepted within any sliding window of the rate-limit interval, by one
    /// (app, location) budget.
    pub max_in_any_window: u64,
    /// Requests rejected with 401.
    pub unauthorized_401: u64,
    /// Tokens issued by `POST /oauth/token` (both grants).
    pub oauth_tokens_issued: u64,
    /// Refresh grants answered with new tokens.
    pub oauth_refreshes: u64,
    /// Location tokens minted by `POST /oauth/locationToken`.
    pub oauth_location_tokens: u64,
    /// Refresh tokens presented again after they were used (refused).
    pub refresh_token_reuse: u64,
    /// Authorization codes minted by `POST /oauth/reconnect`.
    pub oauth_reconnects: u64,
}

/// One API request as the sandbox's log keeps it (`GET /_sandbox/log`).
#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    /// Order of arrival.
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// `METHOD /route`.
    pub endpoint: String,
    /// The location whose budget it spent (`""` when it names none).
    pub location: String,
    /// The client's User-Agent.
    pub user_agent: String,
    /// Whether the rate limit let it through.
    pub admitted: bool,
}

/// Requests the log keeps (the oldest are dropped beyond).
pub const LOG_CAP: usize = 100_000;

/// Everything the sandbox knows.
#[derive(Debug)]
pub struct State {
    /// Contacts per location id, in creation order.
    pub locations: HashMap<String, Vec<Contact>>,
    /// Custom field definitions per location id.
    pub custom_fields: HashMap<String, Vec<CustomFieldDef>>,
    /// Notes per contact id.
    pub notes: HashMap<String, Vec<Note>>,
    /// Tasks per contact id.
    pub tasks: HashMap<String, Vec<Task>>,
    /// Appointments per contact id.
    pub appointments: HashMap<String, Vec<Appointment>>,
    /// Followers (user ids) per contact id.
    pub followers: HashMap<String, BTreeSet<String>>,
    /// Campaigns per contact id.
    pub campaigns: HashMap<String, BTreeSet<String>>,
    /// Workflows per contact id.
    pub workflows: HashMap<String, BTreeSet<String>>,
    /// Whether a location lets two contacts share an email or phone.
    pub allow_duplicates: bool,
    /// Rate limiting.
    pub windows: Windows,
    /// Scripted faults still to fire.
    pub faults: Vec<Fault>,
    /// API requests seen (for fault `after`).
    pub api_requests_seen: u64,
    /// Statistics.
    pub stats: Stats,
    /// OAuth codes and tokens.
    pub oauth: super::oauth::OAuthState,
    /// How long search results lag writes.
    pub search_lag: Duration,
    /// Contacts written within the lag: when, and the version search still shows (`None`:
    /// created, not yet visible).
    pub search_view: HashMap<String, (Instant, Option<Contact>)>,
    /// The last API requests, oldest first (at most [`LOG_CAP`]).
    pub log: std::collections::VecDeque<LogEntry>,
    /// Last timestamp handed out (ms).
    seq: u64,
}

impl State {
    /// A state with empty `locations`.
    pub fn new(
        locations: &[String],
        allow_duplicates: bool,
        max: u32,
        interval: Duration,
        daily_limit: u64,
        faults: Vec<Fault>,
    ) -> Self {
        State {
            locations: locations.iter().map(|l| (l.clone(), Vec::new())).collect(),
            custom_fields: HashMap::new(),
            notes: HashMap::new(),
            tasks: HashMap::new(),
            appointments: HashMap::new(),
            followers: HashMap::new(),
            campaigns: HashMap::new(),
            workflows: HashMap::new(),
            allow_duplicates,
            windows: Windows::new(max, interval, daily_limit),
            faults,
            api_requests_seen: 0,
            stats: Stats::default(),
            oauth: super::oauth::OAuthState::new(super::oauth::OAuthConfig::default()),
            search_lag: Duration::ZERO,
            search_view: HashMap::new(),
            log: std::collections::VecDeque::new(),
            seq: 0,
        }
    }

    /// Notes a write of contact `id` for search lag: `before` is the contact as it was (`None`
    /// when it was just created). Within the lag, search keeps showing the oldest version it
    /// had.
    pub fn note_write(&mut self, id: &str, before: Option<Contact>) {
        if self.search_lag.is_zero() {
            return;
        }
        let now = Instant::now();
        let lag = self.search_lag;
        self.search_view
            .retain(|_, (at, _)| now.duration_since(*at) < lag);
        match self.search_view.get_mut(id) {
            Some((at, _)) => *at = now,
            None => {
                self.search_view.insert(id.to_owned(), (now, before));
            }
        }
    }

    /// The version of `c` that search shows now: `None` while a new contact is not visible yet.
    pub fn searchable<'a>(&'a self, c: &'a Contact) -> Option<&'a Contact> {
        match self.search_view.get(&c.id) {
            Some((at, before)) if at.elapsed() < self.search_lag => before.as_ref(),
            _ => Some(c),
        }
    }

    /// A state for unit tests: location `L`, duplicates refused, 100 requests per 10 s, 1,000 a
    /// day, no faults.
    #[cfg(test)]
    pub fn for_tests() -> Self {
        State::new(
            &["L".into()],
            false,
            100,
            Duration::from_secs(10),
            1000,
            vec![],
        )
    }

    /// Adds a request to the log.
    pub fn log_request(
        &mut self,
        endpoint: &str,
        key: &WindowKey,
        user_agent: &str,
        admitted: bool,
    ) {
        if self.log.len() == LOG_CAP {
            self.log.pop_front();
        }
        let at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        self.log.push_back(LogEntry {
            seq: self.api_requests_seen,
            at_ms,
            endpoint: endpoint.to_owned(),
            location: key.location.clone(),
            user_agent: user_agent.to_owned(),
            admitted,
        });
    }

    /// Counts an API request, applies the rate limit, and returns a scripted fault if one fires.
    pub fn admit(&mut self, endpoint: &str, key: &WindowKey) -> (LimitDecision, Option<Fault>) {
        *self
            .stats
            .requests_by_endpoint
            .entry(endpoint.to_owned())
            .or_default() += 1;
        self.api_requests_seen += 1;
        let decision = self.windows.admit(key, Instant::now());
        self.stats.max_in_any_window = self.windows.max_in_any_window;
        if !decision.allowed {
            self.stats.rate_limited_429 += 1;
            return (decision, None);
        }
        let seen = self.api_requests_seen;
        // Faults that make the write first only hit writes (a read has nothing to commit).
        let write = !endpoint.starts_with("GET") && !endpoint.contains("/search");
        let fault = self
            .faults
            .iter_mut()
            .find(|f| {
                f.count > 0
                    && seen > f.after
                    && (write
                        || !matches!(
                            f.kind,
                            FaultKind::AfterWrite
                                | FaultKind::DropAfterWrite
                                | FaultKind::SlowAfterWrite(_)
                        ))
            })
            .map(|f| {
                f.count -= 1;
                f.clone()
            });
        if fault.is_some() {
            self.stats.faults_injected += 1;
        }
        (decision, fault)
    }

    /// Adds a seeded location: its custom fields, then its contacts as if created now, in order
    /// (ids and timestamps assigned where missing, tags lower-cased), with their notes, tasks
    /// and appointments.
    pub fn seed(&mut self, location: &str, seed: SeedLocation) {
        self.custom_fields
            .entry(location.to_owned())
            .or_default()
            .extend(seed.custom_fields);
        for s in seed.contacts {
            let mut c = s.contact;
            let (id, ms) = self.next_id_and_time();
            if c.id.is_empty() {
                c.id = id;
            }
            let ts = super::contacts::now_iso(ms);
            c.location_id = Some(location.to_owned());
            c.date_added.get_or_insert_with(|| ts.clone());
            c.date_updated.get_or_insert(ts);
            // Stored as the API stores them: emails as given, tags lower-cased.
            for t in &mut c.tags {
                *t = t.to_lowercase();
            }
            let cid = c.id.clone();
            let stamp = |mut n: Note, st: &mut State| {
                let (id, ms) = st.next_id_and_time();
                if n.id.is_empty() {
                    n.id = id;
                }
                n.contact_id = Some(cid.clone());
                n.date_added
                    .get_or_insert_with(|| super::contacts::now_iso(ms));
                n
            };
            let notes: Vec<Note> = s.notes.into_iter().map(|n| stamp(n, self)).collect();
            self.notes.entry(cid.clone()).or_default().extend(notes);
            for mut t in s.tasks {
                if t.id.is_empty() {
                    t.id = self.next_id_and_time().0;
                }
                t.contact_id = Some(cid.clone());
                self.tasks.entry(cid.clone()).or_default().push(t);
            }
            for mut a in s.appointments {
                if a.id.is_empty() {
                    a.id = self.next_id_and_time().0;
                }
                a.contact_id = Some(cid.clone());
                self.appointments.entry(cid.clone()).or_default().push(a);
            }
            self.locations
                .entry(location.to_owned())
                .or_default()
                .push(c);
        }
    }

    /// A new contact id (20 alphanumerics, like the API's) and a timestamp in ms that is
    /// strictly greater than any handed out before, so that `dateUpdated` orders all writes.
    pub fn next_id_and_time(&mut self) -> (String, u64) {
        let id: String = rand::rng()
            .sample_iter(&Alphanumeric)
            .take(20)
            .map(char::from)
            .collect();
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        self.seq = now_ms.max(self.seq + 1);
        (id, self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_faults() {
        assert_eq!(
            "429x3@10".parse::<Fault>().unwrap(),
            Fault {
                kind: FaultKind::Status,
                status: 429,
                count: 3,
                after: 10,
                retry_after: None
            }
        );
        assert_eq!(
            "503".parse::<Fault>().unwrap(),
            Fault {
                kind: FaultKind::Status,
                status: 503,
                count: 1,
                after: 0,
                retry_after: None
            }
        );
        assert_eq!(
            "429x1:retry-after=2".parse::<Fault>().unwrap().retry_after,
            Some(2)
        );
        assert!("42x".parse::<Fault>().is_err());
        assert_eq!("dropx2@1".parse::<Fault>().unwrap().kind, FaultKind::Drop);
        assert_eq!(
            "slow=1500".parse::<Fault>().unwrap().kind,
            FaultKind::Slow(1500)
        );
        let c = "422createdx1".parse::<Fault>().unwrap();
        assert_eq!((c.kind, c.status), (FaultKind::AfterWrite, 422));
        assert!("200x1".parse::<Fault>().is_err());
    }

    #[test]
    fn faults_fire_in_order_after_offset() {
        let f = vec!["500x2@1".parse().unwrap()];
        let mut st = State::new(&["L".into()], false, 100, Duration::from_secs(1), 1000, f);
        let got: Vec<Option<u16>> = (0..4)
            .map(|_| st.admit("x", &WindowKey::default()).1.map(|f| f.status))
            .collect();
        assert_eq!(got, [None, Some(500), Some(500), None]);
    }
}
