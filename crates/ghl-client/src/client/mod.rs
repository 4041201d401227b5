//! The HTTP client: one pooled reqwest client per process, the two required headers, the per-location
//! throttle before every attempt, and bounded retries with jittered backoff.

mod followups;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use reqwest::{Method, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use super::attempt::Trace;
use super::attempt::{describe_transport, status_text, Answer, Breaker, Tries, Wait};
use super::error::ApiError;
use super::ratelimit::{RateLimitInfo, Sent, Throttle};
use super::retry::{classify_status, parse_retry_after, RetryAction, RetryPolicy};
use super::types::{
    ApiErrorBody, Appointment, AppointmentsResponse, Contact, CustomFieldDef, CustomFieldsResponse,
    ListResponse, Note, NotesResponse, SearchRequest, SearchResponse, Task, TasksResponse,
    UpsertContact, UpsertResponse,
};
use super::API_VERSION;

/// Path of the upsert endpoint.
pub const PATH_UPSERT: &str = "/contacts/upsert";
/// Path of the search endpoint.
pub const PATH_SEARCH: &str = "/contacts/search";
/// Path of the deprecated list endpoint.
pub const PATH_LIST: &str = "/contacts/";

/// Percent-encodes one path segment.
fn enc(segment: &str) -> String {
    let mut u = reqwest::Url::parse("http://x/").expect("static URL");
    u.path_segments_mut()
        .expect("http URLs have paths")
        .push(segment);
    u.path().trim_start_matches('/').to_owned()
}

/// `k=v&…` with both sides percent-encoded (a `+` in a value must become `%2B`).
fn serde_urlencoded_pairs(pairs: &[(&str, String)]) -> String {
    let mut ser = reqwest::Url::parse("http://x/").expect("static URL");
    ser.query_pairs_mut()
        .extend_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())));
    ser.query().unwrap_or_default().to_owned()
}

/// Counters of what the client sent and received, for the run summary.
#[derive(Debug, Default)]
pub struct ClientStats {
    /// HTTP requests sent (every attempt).
    pub requests: AtomicU64,
    /// Attempts that were retries.
    pub retries: AtomicU64,
    /// 429 answers received.
    pub throttled_429: AtomicU64,
    /// 5xx answers received.
    pub server_errors: AtomicU64,
    /// Transport errors (connect, timeout, reset).
    pub transport_errors: AtomicU64,
    /// The last `X-RateLimit-Daily-Remaining` seen (`u64::MAX` when never seen).
    pub daily_remaining: AtomicU64,
    /// The last `X-RateLimit-Limit-Daily` seen (0 when never seen).
    pub daily_limit: AtomicU64,
    /// The server's clock minus ours, in ms, from the last `Date` header (second precision).
    pub server_offset_ms: std::sync::atomic::AtomicI64,
}

impl ClientStats {
    fn new() -> Self {
        ClientStats {
            daily_remaining: AtomicU64::new(u64::MAX),
            ..Default::default()
        }
    }
}

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// API base URL.
    pub base_url: Url,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Timeout of establishing a connection.
    pub connect_timeout: Duration,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// How long one call may keep waiting on 429 answers.
    pub max_wait: Duration,
}

pub use super::agent::{user_agent, RUN_ID};

/// How requests authenticate.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// A Private Integration Token (or any fixed bearer token).
    Static(SecretString),
    /// OAuth tokens from the token store (or minted from an agency's grant), refreshed before
    /// expiry and once after a 401.
    OAuth(Arc<crate::auth::agency::Access>),
}

impl Credentials {
    /// Whether the token is minted from an agency grant (finding its scopes is a request).
    pub fn is_minted(&self) -> bool {
        matches!(self, Credentials::OAuth(a) if matches!(**a, crate::auth::agency::Access::Minted { .. }))
    }
}

#[derive(Debug, Clone)]
enum Auth {
    Static(HeaderValue),
    OAuth(Arc<crate::auth::agency::Access>),
}

fn bearer(token: &SecretString) -> Result<HeaderValue, ApiError> {
    let mut v =
        HeaderValue::from_str(&format!("Bearer {}", token.expose_secret())).map_err(|_| {
            ApiError::Auth {
                status: 401,
                message: "the token contains characters not allowed in an HTTP header".into(),
            }
        })?;
    v.set_sensitive(true);
    Ok(v)
}

/// The process's HTTP clients, one per pair of timeouts: every location of a run (and every
/// run of `serve`) shares its connection pool and TLS set-up instead of building its own
/// (hundreds of locations would otherwise each parse the root certificates and keep idle
/// connections of their own).
fn shared_http(timeout: Duration, connect: Duration) -> anyhow::Result<reqwest::Client> {
    static CLIENTS: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<(Duration, Duration), reqwest::Client>>,
    > = std::sync::OnceLock::new();
    let mut m = CLIENTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(c) = m.get(&(timeout, connect)) {
        return Ok(c.clone());
    }
    let mut headers = HeaderMap::new();
    headers.insert("Version", HeaderValue::from_static(API_VERSION));
    headers.insert(
        reqwest::header::ACCEPT,
        HeaderValue::from_static("application/json"),
    );
    let c = reqwest::Client::builder()
        .default_headers(headers)
        .timeout(timeout)
        .connect_timeout(connect)
        .pool_idle_timeout(Duration::from_secs(60))
        .build()?;
    m.insert((timeout, connect), c.clone());
    Ok(c)
}

/// A request body: JSON (the contacts routes) or a form (the OAuth routes).
enum Payload<'a, B: ?Sized> {
    Json(&'a B),
    Form(&'a B),
}

/// A typed client of the Contacts API for one location.
#[derive(Debug, Clone)]
pub struct GhlClient {
    http: reqwest::Client,
    /// Names the run that built this client (the HTTP client itself is shared).
    agent: HeaderValue,
    base: String,
    auth: Auth,
    throttle: Arc<Throttle>,
    retry: RetryPolicy,
    max_wait: Duration,
    stats: Arc<ClientStats>,
    breaker: Arc<Breaker>,
}

impl GhlClient {
    /// Builds the client. A static token is held only in a sensitive header value.
    pub fn new(
        cfg: ClientConfig,
        credentials: Credentials,
        throttle: Arc<Throttle>,
    ) -> anyhow::Result<Self> {
        let auth = match credentials {
            Credentials::Static(t) => Auth::Static(bearer(&t)?),
            Credentials::OAuth(m) => Auth::OAuth(m),
        };
        let http = shared_http(cfg.timeout, cfg.connect_timeout)?;
        let agent = HeaderValue::from_str(&user_agent())
            .unwrap_or_else(|_| HeaderValue::from_static("ghl-import"));
        Ok(GhlClient {
            http,
            agent,
            base: cfg.base_url.as_str().trim_end_matches('/').to_owned(),
            auth,
            throttle,
            retry: cfg.retry,
            max_wait: cfg.max_wait,
            stats: Arc::new(ClientStats::new()),
            breaker: Arc::new(Breaker::default()),
        })
    }

    /// The client's counters.
    pub fn stats(&self) -> &Arc<ClientStats> {
        &self.stats
    }

    /// The last advertised daily allowance left, if the API has sent one.
    pub fn daily_remaining(&self) -> Option<u64> {
        Some(self.stats.daily_remaining.load(Ordering::Relaxed)).filter(|d| *d != u64::MAX)
    }

    /// The throttle shared by this client's requests.
    pub fn throttle(&self) -> &Arc<Throttle> {
        &self.throttle
    }

    /// `POST /contacts/upsert`. Idempotent by the location's matching rules, so retried freely.
    pub async fn upsert_contact(&self, body: &UpsertContact) -> Result<UpsertResponse, ApiError> {
        self.upsert_traced(body).await.0
    }

    /// `POST /contacts/upsert`, with what its attempts leave uncertain: whether an attempt
    /// whose answer was lost (a timeout, a dropped connection, a 5xx) may have written, and when
    /// the first attempt left — so that a retry answered "updated" can still be known as this
    /// call's create.
    pub async fn upsert_traced(
        &self,
        body: &UpsertContact,
    ) -> (Result<UpsertResponse, ApiError>, Trace) {
        let mut tries = Tries::default();
        let r = self
            .send_with(Method::POST, PATH_UPSERT, "upsert", Some(body), &mut tries)
            .await;
        (r, tries.trace)
    }

    /// Whether `c` was added at or after `since` (local clock), by the server's `dateAdded`,
    /// corrected by the server clock's offset seen in `Date` headers, with 2 s of tolerance.
    pub fn added_since(&self, c: &Contact, since: std::time::SystemTime) -> bool {
        self.at_or_after(c.date_added.as_deref(), since)
    }

    /// Whether `c` was changed at or after `since`, by its `dateUpdated` (as [`Self::added_since`]).
    pub fn changed_since(&self, c: &Contact, since: std::time::SystemTime) -> bool {
        self.at_or_after(c.date_updated.as_deref(), since)
    }

    fn at_or_after(&self, stamp: Option<&str>, since: std::time::SystemTime) -> bool {
        let Some(at) = stamp.and_then(|d| {
            time::OffsetDateTime::parse(d, &time::format_description::well_known::Rfc3339).ok()
        }) else {
            return false;
        };
        let offset_ms = self.stats.server_offset_ms.load(Ordering::Relaxed);
        let since = time::OffsetDateTime::from(since) + time::Duration::milliseconds(offset_ms)
            - time::Duration::seconds(2);
        at >= since
    }

    /// `POST /contacts/search`, one page.
    pub async fn search_contacts(&self, req: &SearchRequest) -> Result<SearchResponse, ApiError> {
        self.send(Method::POST, PATH_SEARCH, "search", Some(req))
            .await
    }

    /// `GET /contacts/search/duplicate`: the contact an email or a phone number matches under the
    /// location's duplicate rules, if any (the answer has no documented schema: `{contact}`, null
    /// or absent when none).
    pub async fn duplicate(
        &self,
        location_id: &str,
        email: Option<&str>,
        number: Option<&str>,
    ) -> Result<Option<Contact>, ApiError> {
        #[derive(serde::Deserialize)]
        struct Dup {
            #[serde(default)]
            contact: Option<Contact>,
        }
        let mut q: Vec<(&str, String)> = vec![("locationId", location_id.to_owned())];
        if let Some(e) = email {
            q.push(("email", e.to_owned()));
        }
        if let Some(n) = number {
            q.push(("number", n.to_owned()));
        }
        let path = format!("/contacts/search/duplicate?{}", serde_urlencoded_pairs(&q));
        let d: Dup = self
            .send::<(), _>(Method::GET, &path, "duplicate", None)
            .await?;
        Ok(d.contact.filter(|c| !c.id.is_empty()))
    }

    /// `PUT /contacts/{id}`.
    pub async fn update_contact(
        &self,
        id: &str,
        body: &super::types::UpdateContact,
    ) -> Result<(), ApiError> {
        let path = format!("/contacts/{}", enc(id));
        let _: serde_json::Value = self.send(Method::PUT, &path, "update", Some(body)).await?;
        Ok(())
    }

    /// `GET /contacts/{id}`.
    pub async fn get_contact(&self, id: &str) -> Result<Contact, ApiError> {
        #[derive(serde::Deserialize)]
        struct One {
            contact: Contact,
        }
        let path = format!("/contacts/{}", enc(id));
        let one: One = self.send::<(), _>(Method::GET, &path, "get", None).await?;
        Ok(one.contact)
    }

    /// `DELETE /contacts/{id}`.
    pub async fn delete_contact(&self, id: &str) -> Result<(), ApiError> {
        let path = format!("/contacts/{}", enc(id));
        let _: serde_json::Value = self
            .send::<(), _>(Method::DELETE, &path, "delete", None)
            .await?;
        Ok(())
    }

    /// `GET /locations/{locationId}/customFields?model=contact`.
    pub async fn custom_fields(&self, location_id: &str) -> Result<Vec<CustomFieldDef>, ApiError> {
        let path = format!("/locations/{}/customFields?model=contact", enc(location_id));
        let r: CustomFieldsResponse = self
            .send::<(), _>(Method::GET, &path, "custom fields", None)
            .await?;
        Ok(r.custom_fields)
    }

    /// `POST /contacts/{id}/tags` (add) or `DELETE /contacts/{id}/tags` (remove): the contact's
    /// tags afterwards.
    pub async fn change_tags(
        &self,
        contact_id: &str,
        tags: &[String],
        add: bool,
    ) -> Result<Vec<String>, ApiError> {
        #[derive(serde::Serialize)]
        struct Body<'a> {
            tags: &'a [String],
        }
        #[derive(serde::Deserialize, Default)]
        #[serde(default)]
        struct Answer {
            tags: Vec<String>,
        }
        let path = format!("/contacts/{}/tags", enc(contact_id));
        let method = if add { Method::POST } else { Method::DELETE };
        let a: Answer = self
            .send(method, &path, "tags", Some(&Body { tags }))
            .await?;
        Ok(a.tags)
    }

    /// Deprecated `GET /contacts/`, one page (`limit` ≤ 100); `start_after` is the previous
    /// page's `meta.startAfter` and `meta.startAfterId`.
    pub async fn list_contacts(
        &self,
        location_id: &str,
        limit: u32,
        start_after: Option<(&serde_json::Value, &str)>,
    ) -> Result<ListResponse, ApiError> {
        let mut q: Vec<(&str, String)> = vec![
            ("locationId", location_id.to_owned()),
            ("limit", limit.to_string()),
        ];
        if let Some((ms, id)) = start_after {
            let ms = ms
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| ms.to_string());
            q.push(("startAfter", ms));
            q.push(("startAfterId", id.to_owned()));
        }
        let path = format!("{PATH_LIST}?{}", serde_urlencoded_pairs(&q));
        self.send::<(), _>(Method::GET, &path, "list", None).await
    }

    /// One API call: authorize, wait for the throttle, send, and then — by what came back —
    /// decode the answer, refresh an OAuth token once after a 401, wait on a 429 as long as the
    /// server asks (not a failure, bounded by `max_wait`), or retry 5xx and transport errors with
    /// backoff up to `max_attempts`. An exhausted daily allowance and an unreachable API (the
    /// breaker) end the call at once.
    async fn send<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        endpoint: &'static str,
        body: Option<&B>,
    ) -> Result<R, ApiError> {
        self.send_with(method, path, endpoint, body, &mut Tries::default())
            .await
    }

    /// [`GhlClient::send`], keeping what the attempts were in `tries`.
    async fn send_with<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        endpoint: &'static str,
        body: Option<&B>,
        tries: &mut Tries,
    ) -> Result<R, ApiError> {
        self.send_payload(method, path, endpoint, body.map(Payload::Json), tries)
            .await
    }

    /// [`GhlClient::send`] with a form-urlencoded body (the OAuth routes take forms).
    pub(crate) async fn send_form<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        path: &str,
        endpoint: &'static str,
        form: &B,
    ) -> Result<R, ApiError> {
        let mut tries = Tries::default();
        self.send_payload(
            Method::POST,
            path,
            endpoint,
            Some(Payload::Form(form)),
            &mut tries,
        )
        .await
    }

    /// A GET with query parameters.
    pub(crate) async fn get_query<R: DeserializeOwned>(
        &self,
        path: &str,
        endpoint: &'static str,
        query: &[(&str, String)],
    ) -> Result<R, ApiError> {
        let path = format!("{path}?{}", serde_urlencoded_pairs(query));
        self.send::<(), R>(Method::GET, &path, endpoint, None).await
    }

    async fn send_payload<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        endpoint: &'static str,
        body: Option<Payload<'_, B>>,
        tries: &mut Tries,
    ) -> Result<R, ApiError> {
        let url = format!("{}{}", self.base, path);
        loop {
            self.breaker.check(&self.base)?;
            // The token first, then the slot: a request holds a connection of the process's
            // budget from its slot to its answer, so none may wait for a token then (minting
            // one is a request too). A token that expires during the wait for the slot is
            // refused, renewed and sent again below.
            let (auth, used) = self.authorization().await?;
            let Ok((sent, connection)) = self.throttle.acquire().await else {
                // An answer said none is left (whatever answer came in last).
                self.stats.daily_remaining.store(0, Ordering::Relaxed);
                let limit = self.stats.daily_limit.load(Ordering::Relaxed);
                return Err(ApiError::DailyExhausted {
                    limit: (limit > 0).then_some(limit),
                });
            };
            if tries.trace.first_sent.is_some() {
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
            }
            tries
                .trace
                .first_sent
                .get_or_insert_with(std::time::SystemTime::now);
            let answer = self
                .attempt(&method, &url, auth, body.as_ref(), endpoint, sent)
                .await;
            drop(connection);
            let (failure, wait) = match answer {
                Answer::Body { status, bytes } => {
                    return serde_json::from_slice(&bytes).map_err(|e| ApiError::Decode {
                        endpoint,
                        status,
                        detail: super::attempt::undecodable(&bytes, &e),
                    })
                }
                Answer::Final(e) => return Err(e),
                Answer::Unauthorized(e) => match (&self.auth, used, tries.reauthorized) {
                    // The access token was refused before its expiry (revoked, or rotated by
                    // another run): refresh once and send again.
                    (Auth::OAuth(m), Some(used), false) => {
                        tries.reauthorized = true;
                        m.after_unauthorized(&used).await.map_err(oauth_failure)?;
                        continue;
                    }
                    _ => return Err(e),
                },
                Answer::Retry {
                    failure,
                    wait,
                    maybe_applied,
                } => {
                    tries.trace.uncertain |= maybe_applied;
                    (failure, wait)
                }
            };
            let delay = self.next_delay(tries, failure, wait)?;
            tokio::time::sleep(delay).await;
        }
    }

    /// Whether the API answers at all: a GET of its root (no credentials, no rate-limit window
    /// spent by any documented route), any HTTP status within [`PROBE_TIMEOUT`].
    async fn probe(&self) -> bool {
        let root = format!("{}/", self.base);
        // Up to three tries, the first answer decides: one dropped connection on a flaky
        // network is not a dead API (with many requests in flight the API is probed often, and
        // one lost probe in ten would stop the run). A try that times out is not repeated: a
        // silent listener is noticed after one probe's wait.
        for _ in 0..3 {
            let sent = self
                .http
                .get(&root)
                .header(reqwest::header::USER_AGENT, self.agent.clone())
                .timeout(super::attempt::PROBE_TIMEOUT)
                .send()
                .await;
            tracing::debug!(
                answered = sent.is_ok(),
                "Probed the API after transport failures."
            );
            match sent {
                Ok(_) => return true,
                Err(e) if e.is_timeout() => return false,
                Err(_) => {}
            }
        }
        false
    }

    /// The Authorization header, and the OAuth access token it carries.
    async fn authorization(&self) -> Result<(HeaderValue, Option<SecretString>), ApiError> {
        match &self.auth {
            Auth::Static(h) => Ok((h.clone(), None)),
            Auth::OAuth(m) => {
                let t = m.access_token().await.map_err(oauth_failure)?;
                Ok((bearer(&t)?, Some(t)))
            }
        }
    }

    /// Sends one request and classifies what came back.
    async fn attempt<B: Serialize + ?Sized>(
        &self,
        method: &Method,
        url: &str,
        auth: HeaderValue,
        body: Option<&Payload<'_, B>>,
        endpoint: &'static str,
        sent: Sent,
    ) -> Answer {
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let mut rb = self
            .http
            .request(method.clone(), url)
            .header(reqwest::header::USER_AGENT, self.agent.clone())
            .header(AUTHORIZATION, auth);
        match body {
            Some(Payload::Json(b)) => rb = rb.json(b),
            Some(Payload::Form(b)) => rb = rb.form(b),
            None => {}
        }
        let resp = match rb.send().await {
            Ok(r) => r,
            Err(e) => {
                // No answer at all: connection refused, or a timeout.
                self.throttle.unanswered(sent);
                self.stats.transport_errors.fetch_add(1, Ordering::Relaxed);
                if self.breaker.failure(e.is_timeout()) {
                    let answered = self.probe().await;
                    self.breaker.probed(answered);
                }
                return Answer::Retry {
                    failure: format!("{endpoint}: {}", describe_transport(&e)),
                    wait: Wait::Backoff(None),
                    // A request that timed out may have been sent and applied.
                    maybe_applied: !e.is_connect(),
                };
            }
        };
        self.breaker.success();
        self.observe_clock(resp.headers());
        let status = resp.status().as_u16();
        let info = RateLimitInfo::from_headers(resp.headers());
        self.observe(&info, sent, status == 429);
        let retry_after = parse_retry_after(
            resp.headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
        );
        let bytes = match resp.bytes().await {
            Ok(b) => b,
            // The connection dropped while the answer was read: the request may or may not have
            // been applied. Every call here is idempotent (upsert, reads, tag changes), so it is
            // retried like any transport error.
            Err(e) => {
                self.stats.transport_errors.fetch_add(1, Ordering::Relaxed);
                return Answer::Retry {
                    failure: format!("{endpoint}: HTTP {status}, then {}", describe_transport(&e)),
                    wait: Wait::Backoff(None),
                    maybe_applied: true,
                };
            }
        };
        if (200..300).contains(&status) {
            return Answer::Body { status, bytes };
        }
        self.failure_answer(status, &bytes, retry_after, &info, endpoint)
    }

    /// What a non-2xx answer means for the call.
    fn failure_answer(
        &self,
        status: u16,
        bytes: &[u8],
        retry_after: Option<Duration>,
        info: &RateLimitInfo,
        endpoint: &'static str,
    ) -> Answer {
        let parsed: ApiErrorBody = serde_json::from_slice(bytes).unwrap_or_default();
        let messages = parsed
            .message
            .map(|m| m.into_vec())
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| vec![parsed.error.clone().unwrap_or_else(|| status_text(status))]);
        if status == 429 {
            self.stats.throttled_429.fetch_add(1, Ordering::Relaxed);
            if info.daily_remaining == Some(0) {
                return Answer::Final(ApiError::DailyExhausted {
                    limit: info.limit_daily,
                });
            }
            return Answer::Retry {
                failure: format!("{endpoint}: HTTP 429: {}", messages.join("; ")),
                wait: Wait::RateLimited {
                    retry_after,
                    interval: info.interval_ms.map(Duration::from_millis),
                },
                maybe_applied: false,
            };
        }
        if status >= 500 {
            self.stats.server_errors.fetch_add(1, Ordering::Relaxed);
        }
        match (status, classify_status(status)) {
            (401, _) => Answer::Unauthorized(ApiError::Auth {
                status,
                message: messages.join("; "),
            }),
            (403, _) => Answer::Final(ApiError::Auth {
                status,
                message: messages.join("; "),
            }),
            (_, RetryAction::DontRetry) => Answer::Final(ApiError::Rejected {
                status,
                messages,
                trace_id: parsed.trace_id,
                meta: parsed.meta,
            }),
            (_, RetryAction::Retry) => Answer::Retry {
                failure: format!("{endpoint}: HTTP {status}: {}", messages.join("; ")),
                wait: Wait::Backoff(retry_after),
                // A 500, 502 or 504 can come after the write was committed (a 503 says the
                // request was not taken).
                maybe_applied: status >= 500 && status != 503,
            },
        }
    }

    /// The sleep before the next attempt, or the error that ends the call: failures count
    /// against `max_attempts`; 429 waits count against `max_wait` only.
    fn next_delay(
        &self,
        tries: &mut Tries,
        failure: String,
        wait: Wait,
    ) -> Result<Duration, ApiError> {
        let rng = &mut rand::rng();
        let delay = match wait {
            Wait::RateLimited {
                retry_after,
                interval,
            } => {
                tries.rate_limited += 1;
                // Without Retry-After, the window resets within one interval: back off up to it.
                let cap = interval
                    .unwrap_or(self.retry.cap)
                    .min(self.retry.cap)
                    .max(Duration::from_millis(100));
                let policy = RetryPolicy { cap, ..self.retry };
                let d = match retry_after {
                    Some(ra) if !ra.is_zero() => ra,
                    _ => policy.delay(tries.rate_limited, None, rng),
                };
                if tries.waited + d > self.max_wait {
                    return Err(ApiError::RateLimitedTooLong {
                        waited: tries.waited,
                        last: failure,
                    });
                }
                tries.waited += d;
                d
            }
            Wait::Backoff(retry_after) => {
                tries.failures += 1;
                if tries.failures >= self.retry.max_attempts {
                    return Err(ApiError::Exhausted {
                        attempts: tries.failures,
                        last: failure,
                    });
                }
                self.retry.delay(tries.failures, retry_after, rng)
            }
        };
        tracing::debug!(delay_ms = delay.as_millis() as u64, %failure, "Retrying request.");
        Ok(delay)
    }

    /// Notes how far the server's clock is from ours (its `Date` header).
    fn observe_clock(&self, headers: &HeaderMap) {
        let Some(date) = headers
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|d| {
                time::OffsetDateTime::parse(d, &time::format_description::well_known::Rfc2822).ok()
            })
        else {
            return;
        };
        let now = time::OffsetDateTime::now_utc();
        // The header has whole seconds: the offset is only counted beyond that.
        let ms = (date - now).whole_milliseconds();
        let ms = if ms.abs() <= 1_000 { 0 } else { ms as i64 };
        self.stats.server_offset_ms.store(ms, Ordering::Relaxed);
    }

    fn observe(&self, info: &RateLimitInfo, sent: Sent, refused: bool) {
        if let Some(d) = info.limit_daily {
            self.stats.daily_limit.store(d, Ordering::Relaxed);
        }
        if let Some(change) = self.throttle.observe(info, sent, refused) {
            change.log();
        }
        // The freshest request's answer, not the last to come: answers overtake each other.
        if let Some(d) = self.throttle.daily_remaining() {
            self.stats.daily_remaining.store(d, Ordering::Relaxed);
        }
    }
}

fn oauth_failure(e: crate::auth::oauth::AuthError) -> ApiError {
    ApiError::Auth {
        status: 401,
        message: format!("OAuth: {e}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn http_dates_parse_for_the_clock_offset() {
        let d = time::OffsetDateTime::parse(
            "Sun, 29 Nov 2026 18:00:39 GMT",
            &time::format_description::well_known::Rfc2822,
        )
        .unwrap();
        assert_eq!(d.unix_timestamp(), 1_795_975_239);
    }
}
