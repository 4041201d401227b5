//! HTTP layer of the sandbox: routes, the auth/version/rate-limit gate, fault injection, and the
//! `/_sandbox/*` admin routes (state and statistics, no auth: loopback only).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Query, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::contacts::{self, Answer};
use super::oauth::{self, Bearer};
use super::state::{Fault, FaultKind, LimitDecision, State, WindowKey};
use ghl_client::ratelimit::{H_DAILY_REMAINING, H_INTERVAL_MS, H_LIMIT_DAILY, H_MAX, H_REMAINING};
use ghl_client::API_VERSION;

#[derive(Clone)]
pub(super) struct AppState {
    pub state: Arc<Mutex<State>>,
    pub token: String,
    pub rate_max: u32,
    pub rate_interval: Duration,
    pub daily_limit: u64,
}

pub(super) fn router(app: AppState) -> Router {
    super::handlers::api(Router::new())
        .route("/oauth/chooselocation", get(oauth_authorize))
        .route("/oauth/token", post(oauth_token))
        .route("/oauth/reconnect", post(oauth_reconnect))
        .route("/oauth/locationToken", post(oauth_location_token))
        .route("/oauth/installedLocations", get(oauth_installed_locations))
        .route("/_sandbox/contacts", get(admin_contacts))
        .route("/_sandbox/stats", get(admin_stats))
        .route("/_sandbox/log", get(admin_log))
        .route("/_sandbox/faults", post(admin_faults))
        .route("/_sandbox/uninstall", post(admin_uninstall))
        .fallback(not_found)
        .with_state(app)
}

fn respond(
    answer: Answer,
    limits: Option<(&AppState, LimitDecision)>,
    retry_after: Option<u32>,
) -> Response {
    let (status, mut body) = answer;
    // Every answer of the API carries a traceId.
    if let Value::Object(o) = &mut body {
        o.entry("traceId")
            .or_insert_with(|| Value::String(contacts::trace_id()));
    }
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        Json(body),
    )
        .into_response();
    let h = resp.headers_mut();
    if let Some((app, d)) = limits {
        let mut put = |name: &'static str, v: String| {
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert(name, v);
            }
        };
        put(H_MAX, app.rate_max.to_string());
        put(H_REMAINING, d.remaining.to_string());
        put(H_INTERVAL_MS, app.rate_interval.as_millis().to_string());
        put(H_LIMIT_DAILY, app.daily_limit.to_string());
        put(H_DAILY_REMAINING, d.daily_remaining.to_string());
    }
    if let Some(ra) = retry_after {
        if let Ok(v) = HeaderValue::from_str(&ra.to_string()) {
            h.insert(axum::http::header::RETRY_AFTER, v);
        }
    }
    resp
}

/// What a request is about, to find the location whose budget it spends.
#[derive(Clone, Copy)]
pub(super) enum Scope<'a> {
    /// `locationId` in the JSON body.
    Body(&'a [u8]),
    /// `locationId` in the query.
    Query(&'a BTreeMap<String, String>),
    /// The location of this contact.
    Contact(&'a str),
    /// This location.
    Location(&'a str),
}

impl Scope<'_> {
    fn location(self, st: &State) -> String {
        match self {
            Scope::Body(b) => {
                #[derive(serde::Deserialize)]
                struct Loc {
                    #[serde(rename = "locationId")]
                    location_id: Option<String>,
                }
                serde_json::from_slice::<Loc>(b)
                    .ok()
                    .and_then(|l| l.location_id)
                    .unwrap_or_default()
            }
            Scope::Query(q) => q.get("locationId").cloned().unwrap_or_default(),
            Scope::Contact(id) => st
                .locations
                .iter()
                .find(|(_, cs)| cs.iter().any(|c| c.id == id))
                .map(|(l, _)| l.clone())
                .unwrap_or_default(),
            Scope::Location(l) => l.to_owned(),
        }
    }
}

/// Auth, version, rate limit and faults, in the order the real API appears to apply them.
/// On success returns the locked state to run the operation with, and the limit decision.
/// Every answer carries the rate-limit headers of the (app, location) budget it concerns; a
/// refused token spends none of it.
fn gate<'a>(
    app: &'a AppState,
    headers: &HeaderMap,
    endpoint: &str,
    scope: Scope<'_>,
) -> Result<
    (
        std::sync::MutexGuard<'a, State>,
        LimitDecision,
        Option<Fault>,
    ),
    Box<Response>,
> {
    let mut st = app.state.lock().unwrap_or_else(|p| p.into_inner());
    let bearer = bearer_of(headers);
    let here = scope.location(&st);
    let (refused, app_id): (Option<(u16, &str)>, &str) = match bearer {
        Some(b) if b == app.token => (None, "sandbox-token"),
        Some(b) => match st.oauth.bearer(b) {
            // A location token works for its own location only.
            Bearer::Valid(loc, _) if !here.is_empty() && here != loc => (
                Some((403, "The token does not have access to this location.")),
                "oauth-app",
            ),
            Bearer::Valid(_, scopes) if oauth::allows(&scopes, endpoint) => (None, "oauth-app"),
            Bearer::Valid(..) => (
                Some((401, "The token is not authorized for this scope.")),
                "oauth-app",
            ),
            Bearer::Company(_) => (
                Some((
                    401,
                    "This route is not yet supported by the Company access token; mint a Location token",
                )),
                "oauth-app",
            ),
            Bearer::Expired | Bearer::Unknown => (Some((401, "Invalid JWT")), "oauth-app"),
        },
        None => (Some((401, "Invalid JWT")), "sandbox-token"),
    };
    let key = WindowKey {
        app: app_id.to_owned(),
        location: here,
    };
    if let Some((status, message)) = refused {
        let standing = st.windows.peek(&key, Instant::now());
        if status == 401 {
            st.stats.unauthorized_401 += 1;
        }
        *st.stats
            .requests_by_endpoint
            .entry(endpoint.to_owned())
            .or_default() += 1;
        let body = match status {
            401 => json!({"statusCode": 401, "message": message, "error": "Unauthorized"}),
            s => json!({"statusCode": s, "message": message}),
        };
        return Err(Box::new(respond(
            (status, body),
            Some((app, standing)),
            None,
        )));
    }
    let (decision, fault) = st.admit(endpoint, &key);
    let agent = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    st.log_request(endpoint, &key, agent, decision.allowed);
    if headers.get("version").and_then(|v| v.to_str().ok()) != Some(API_VERSION) {
        return Err(Box::new(respond(
            contacts::bad_request("version header was not found or is not 2021-07-28"),
            Some((app, decision)),
            None,
        )));
    }
    if !decision.allowed {
        return Err(Box::new(respond(
            (
                429,
                json!({"statusCode": 429, "message": "Too Many Requests"}),
            ),
            Some((app, decision)),
            None,
        )));
    }
    if let Some(f) = fault.clone().filter(|f| f.kind == FaultKind::Status) {
        return Err(Box::new(fault_response(app, decision, &f)));
    }
    Ok((st, decision, fault.filter(|f| f.kind != FaultKind::Status)))
}

/// The answer of a status fault.
fn fault_response(app: &AppState, decision: LimitDecision, f: &Fault) -> Response {
    let msg = match f.status {
        401 => "Invalid JWT",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Injected fault",
    };
    respond(
        (f.status, json!({"statusCode": f.status, "message": msg})),
        Some((app, decision)),
        f.retry_after,
    )
}

/// `resp`, sent after `ms` milliseconds.
fn delayed(ms: u64, resp: Response) -> Response {
    let (parts, body) = resp.into_parts();
    let late = futures::stream::once(async move {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        axum::body::to_bytes(body, usize::MAX)
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))
    });
    Response::from_parts(parts, axum::body::Body::from_stream(late))
}

/// A 200 whose body fails mid-stream: the client sees the connection drop.
fn dropped() -> Response {
    let body = axum::body::Body::from_stream(futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected drop",
        ))
    }));
    Response::builder()
        .status(StatusCode::OK)
        .body(body)
        .unwrap_or_else(|_| StatusCode::OK.into_response())
}

/// Runs `op` on the state if the request passes the gate, and renders the answer; applies
/// the non-status faults (drop, slow, write-then-error).
pub(super) async fn handle(
    app: &AppState,
    headers: &HeaderMap,
    (endpoint, scope): (&str, Scope<'_>),
    op: impl FnOnce(&mut State) -> Answer,
) -> Response {
    let (slow, decision) = {
        let (mut st, d, fault) = match gate(app, headers, endpoint, scope) {
            Ok(g) => g,
            Err(r) => return *r,
        };
        match fault {
            None => {
                let a = op(&mut st);
                return respond(a, Some((app, d)), None);
            }
            Some(f) if f.kind == FaultKind::Drop => return dropped(),
            Some(f) if f.kind == FaultKind::DropAfterWrite => {
                let _ = op(&mut st);
                return dropped();
            }
            Some(Fault {
                kind: FaultKind::SlowAfterWrite(ms),
                ..
            }) => {
                let a = op(&mut st);
                drop(st);
                // The write is made; the answer comes late (or to a client that gave up).
                return delayed(ms, respond(a, Some((app, d)), None));
            }
            Some(f) if f.kind == FaultKind::AfterWrite => {
                let _ = op(&mut st);
                return fault_response(app, d, &f);
            }
            Some(f) => (f, d),
        }
    };
    if let FaultKind::Slow(ms) = slow.kind {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    let a = {
        let mut st = app.state.lock().unwrap_or_else(|p| p.into_inner());
        op(&mut st)
    };
    respond(a, Some((app, decision)), None)
}

/// `GET /oauth/chooselocation`: approves at once and redirects back with a code.
async fn oauth_authorize(
    AxState(app): AxState<AppState>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let mut st = app.state.lock().unwrap_or_else(|p| p.into_inner());
    let mut locations: Vec<String> = st.locations.keys().cloned().collect();
    locations.sort();
    match st.oauth.authorize(&q, &locations) {
        Ok(to) => (StatusCode::FOUND, [(axum::http::header::LOCATION, to)]).into_response(),
        Err(a) => respond(a, None, None),
    }
}

/// `POST /oauth/token` (form-urlencoded).
async fn oauth_token(
    AxState(app): AxState<AppState>,
    axum::Form(form): axum::Form<std::collections::HashMap<String, String>>,
) -> Response {
    let mut st = app.state.lock().unwrap_or_else(|p| p.into_inner());
    let ((status, body), reuse) = st.oauth.token(&form);
    if reuse {
        st.stats.refresh_token_reuse += 1;
    }
    if status == 200 {
        st.stats.oauth_tokens_issued += 1;
        if form.get("grant_type").map(String::as_str) == Some("refresh_token") {
            st.stats.oauth_refreshes += 1;
        }
    }
    respond((status, body), None, None)
}

/// The bearer token of a request, if any.
fn bearer_of(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// The `Version` header the agency routes require (400 without it, as GHL answers).
fn version_missing(headers: &HeaderMap) -> Option<Response> {
    match headers.get("Version").and_then(|v| v.to_str().ok()) {
        Some("2021-07-28") => None,
        _ => Some(respond(
            (
                400,
                json!({"statusCode": 400, "message": "Version header is missing or not 2021-07-28"}),
            ),
            None,
            None,
        )),
    }
}

/// The sandbox's locations, sorted (all of them have the app installed).
fn installed(st: &State) -> Vec<String> {
    let mut l: Vec<String> = st
        .locations
        .keys()
        .filter(|l| st.oauth.is_installed(l))
        .cloned()
        .collect();
    l.sort();
    l
}

/// `POST /oauth/locationToken` (form, company token).
async fn oauth_location_token(
    AxState(app): AxState<AppState>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<std::collections::HashMap<String, String>>,
) -> Response {
    if let Some(r) = version_missing(&headers) {
        return r;
    }
    let mut st = app.state.lock().unwrap_or_else(|p| p.into_inner());
    let locations = installed(&st);
    let (status, body) = st
        .oauth
        .location_token(bearer_of(&headers), &form, &locations);
    if status == 200 {
        st.stats.oauth_tokens_issued += 1;
        st.stats.oauth_location_tokens += 1;
    }
    respond((status, body), None, None)
}

/// `GET /oauth/installedLocations` (company token).
async fn oauth_installed_locations(
    AxState(app): AxState<AppState>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    if let Some(r) = version_missing(&headers) {
        return r;
    }
    let st = app.state.lock().unwrap_or_else(|p| p.into_inner());
    let locations = installed(&st);
    respond(
        st.oauth
            .installed_locations(bearer_of(&headers), &q, &locations),
        None,
        None,
    )
}

/// `POST /oauth/reconnect` (JSON).
async fn oauth_reconnect(AxState(app): AxState<AppState>, body: Bytes) -> Response {
    let mut st = app.state.lock().unwrap_or_else(|p| p.into_inner());
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (status, answer) = st.oauth.reconnect(&v);
    if status == 200 {
        st.stats.oauth_reconnects += 1;
    }
    respond((status, answer), None, None)
}

async fn admin_contacts(
    AxState(app): AxState<AppState>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let st = app.state.lock().unwrap_or_else(|p| p.into_inner());
    let body: Value = match q.get("locationId") {
        Some(loc) => json!(st.locations.get(loc).cloned().unwrap_or_default()),
        None => json!(st.locations),
    };
    Json(body).into_response()
}

/// `GET /_sandbox/log`: the last API requests (endpoint, location, User-Agent, admitted), oldest
/// first.
async fn admin_log(AxState(app): AxState<AppState>) -> Response {
    let st = app.state.lock().unwrap_or_else(|p| p.into_inner());
    Json(json!(st.log)).into_response()
}

async fn admin_stats(AxState(app): AxState<AppState>) -> Response {
    let st = app.state.lock().unwrap_or_else(|p| p.into_inner());
    let contacts: usize = st.locations.values().map(Vec::len).sum();
    let mut v = serde_json::to_value(&st.stats).unwrap_or(Value::Null);
    if let Value::Object(o) = &mut v {
        o.insert("contacts".into(), json!(contacts));
    }
    Json(v).into_response()
}

/// `POST /_sandbox/uninstall?location=ID`: the app is uninstalled from a location, as when
/// a sub-account removes it: its OAuth tokens are refused from now on (401) and the agency can
/// no longer mint one (400).
async fn admin_uninstall(
    AxState(app): AxState<AppState>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let Some(location) = q.get("location") else {
        return respond(contacts::bad_request("location is required"), None, None);
    };
    let mut st = app.state.lock().unwrap_or_else(|p| p.into_inner());
    let revoked = st.oauth.uninstall(location);
    Json(json!({"location": location, "revoked_tokens": revoked})).into_response()
}

/// `POST /_sandbox/faults` with a JSON array of fault specs (the `--fault` syntax): adds them
/// while the sandbox runs; `@AFTER` counts from now. Answers the faults still pending.
async fn admin_faults(AxState(app): AxState<AppState>, body: Bytes) -> Response {
    let specs: Vec<String> = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return respond(
                contacts::bad_request(&format!("expected a JSON array of fault specs: {e}")),
                None,
                None,
            )
        }
    };
    let mut st = app.state.lock().unwrap_or_else(|p| p.into_inner());
    let mut added = Vec::new();
    for s in &specs {
        match s.parse::<Fault>() {
            Ok(mut f) => {
                f.after += st.api_requests_seen;
                added.push(f);
            }
            Err(e) => return respond(contacts::bad_request(&format!("{s}: {e}")), None, None),
        }
    }
    st.faults.extend(added);
    let pending = st.faults.iter().filter(|f| f.count > 0).count();
    Json(json!({"pending": pending})).into_response()
}

/// An unknown route: 404, with the rate-limit headers of the budget its `locationId` names
/// (nothing spent).
async fn not_found(
    AxState(app): AxState<AppState>,
    q: Result<Query<BTreeMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let standing = {
        let mut st = app.state.lock().unwrap_or_else(|p| p.into_inner());
        let key = WindowKey {
            app: "sandbox-token".into(),
            location: q
                .ok()
                .and_then(|Query(q)| q.get("locationId").cloned())
                .unwrap_or_default(),
        };
        st.windows.peek(&key, Instant::now())
    };
    respond(
        (
            404,
            json!({"statusCode": 404, "message": "Cannot find this route"}),
        ),
        Some((&app, standing)),
        None,
    )
}
