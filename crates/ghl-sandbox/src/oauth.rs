//! The sandbox's OAuth 2.0 server, shaped like GHL's: an authorize endpoint that approves at once
//! (no browser: it redirects straight back with a code), the token endpoint with the
//! `authorization_code` and `refresh_token` grants (form body, client credentials in the body,
//! `user_type`), rotating refresh tokens (a used one is refused and counted as a reuse attempt),
//! access tokens with a configurable lifetime and scopes that the API routes check.
//!
//! Agency (Company) grants too: `user_type=Company` on the authorize URL (a sandbox hint standing
//! in for choosing the agency in GHL's chooser) gives a company token, which cannot call the
//! contacts routes but mints location tokens (`POST /oauth/locationToken`, no refresh token) and
//! lists the locations the app is installed on (`GET /oauth/installedLocations`). A location
//! token works for its own location only.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rand::distr::{Alphanumeric, SampleString};
use serde_json::json;

use super::contacts::Answer;

/// Scope that reads contacts.
pub const SCOPE_READ: &str = "contacts.readonly";
/// Scope that writes contacts.
pub const SCOPE_WRITE: &str = "contacts.write";

/// Form fields of `POST /oauth/token` (spec `GetAccessCodebodyDto`); others are refused.
pub const TOKEN_FIELDS: &[&str] = &[
    "client_id",
    "client_secret",
    "grant_type",
    "code",
    "refresh_token",
    "user_type",
    "redirect_uri",
];

/// OAuth settings of a sandbox.
#[derive(Debug, Clone)]
pub struct OAuthConfig {
    /// The one registered app's client id.
    pub client_id: String,
    /// Its client secret.
    pub client_secret: String,
    /// Lifetime of access tokens.
    pub access_ttl: Duration,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        OAuthConfig {
            client_id: "sandbox-client".into(),
            client_secret: "sandbox-secret".into(),
            access_ttl: Duration::from_secs(86_399),
        }
    }
}

#[derive(Debug, Clone)]
struct Grant {
    /// The location of a Location grant; empty for a Company grant.
    location: String,
    scopes: Vec<String>,
}

impl Grant {
    fn is_company(&self) -> bool {
        self.location.is_empty()
    }
}

/// The sandbox's one agency.
pub const COMPANY_ID: &str = "sandbox-company";
/// The sandbox's one app (what `installedLocations` is asked about).
pub const APP_ID: &str = "sandbox";

#[derive(Debug)]
struct Code {
    grant: Grant,
    redirect_uri: String,
}

#[derive(Debug)]
struct Refresh {
    grant: Grant,
    used: bool,
}

/// Issued codes and tokens.
#[derive(Debug)]
pub struct OAuthState {
    cfg: OAuthConfig,
    codes: HashMap<String, Code>,
    access: HashMap<String, (Grant, Instant)>,
    refresh: HashMap<String, Refresh>,
    /// Scopes last granted per location (what `reconnect` grants again).
    granted: HashMap<String, Vec<String>>,
    /// Locations the app was uninstalled from (`POST /_sandbox/uninstall`).
    uninstalled: std::collections::HashSet<String>,
}

/// What the gate learned from a bearer token that is not the static one.
#[derive(Debug, PartialEq, Eq)]
pub enum Bearer {
    /// A live location access token: its location and scopes.
    Valid(String, Vec<String>),
    /// A live company (agency) access token with these scopes.
    Company(Vec<String>),
    /// Expired.
    Expired,
    /// Not issued here.
    Unknown,
}

fn random(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        Alphanumeric.sample_string(&mut rand::rng(), 40)
    )
}

impl OAuthState {
    /// Empty state for `cfg`.
    pub fn new(cfg: OAuthConfig) -> Self {
        OAuthState {
            cfg,
            codes: HashMap::new(),
            access: HashMap::new(),
            refresh: HashMap::new(),
            granted: HashMap::new(),
            uninstalled: Default::default(),
        }
    }

    /// Whether the app is still installed on `location`.
    pub fn is_installed(&self, location: &str) -> bool {
        !self.uninstalled.contains(location)
    }

    /// The app is uninstalled from `location`: its access tokens stop working (401) and the
    /// agency can no longer mint one for it. Answers how many tokens were revoked.
    pub fn uninstall(&mut self, location: &str) -> usize {
        self.uninstalled.insert(location.to_owned());
        let before = self.access.len();
        self.access.retain(|_, (g, _)| g.location != location);
        before - self.access.len()
    }

    /// Looks an access token up.
    pub fn bearer(&self, token: &str) -> Bearer {
        match self.access.get(token) {
            Some((g, exp)) if *exp > Instant::now() && g.is_company() => {
                Bearer::Company(g.scopes.clone())
            }
            Some((g, exp)) if *exp > Instant::now() => {
                Bearer::Valid(g.location.clone(), g.scopes.clone())
            }
            Some(_) => Bearer::Expired,
            None => Bearer::Unknown,
        }
    }

    /// `GET /oauth/chooselocation`: approves at once. Returns the redirect target, or an error
    /// answer. `location` is the first sandbox location unless the query names one.
    pub fn authorize(
        &mut self,
        q: &HashMap<String, String>,
        locations: &[String],
    ) -> Result<String, Answer> {
        let bad = |m: &str| Err((400, json!({"statusCode": 400, "message": m})));
        if q.get("response_type").map(String::as_str) != Some("code") {
            return bad("response_type must be code");
        }
        if q.get("client_id") != Some(&self.cfg.client_id) {
            return bad("Invalid client_id");
        }
        let Some(redirect) = q.get("redirect_uri").filter(|r| !r.is_empty()) else {
            return bad("redirect_uri is required");
        };
        let company = q.get("user_type").map(String::as_str) == Some("Company");
        let location = match q.get("locationId") {
            _ if company => String::new(),
            Some(l) if locations.contains(l) => l.clone(),
            Some(_) => return bad("Unknown location"),
            None => match locations.first() {
                Some(l) => l.clone(),
                None => return bad("No location to choose"),
            },
        };
        let scopes: Vec<String> = q
            .get("scope")
            .map(|s| s.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        let code = random("code");
        self.codes.insert(
            code.clone(),
            Code {
                grant: Grant { location, scopes },
                redirect_uri: redirect.clone(),
            },
        );
        let mut url = url::Url::parse(redirect).map_err(|_| {
            (
                400,
                json!({"statusCode": 400, "message": "redirect_uri is not a URL"}),
            )
        })?;
        url.query_pairs_mut().append_pair("code", &code);
        if let Some(s) = q.get("state") {
            url.query_pairs_mut().append_pair("state", s);
        }
        Ok(url.to_string())
    }

    /// `POST /oauth/token` (form). Returns the answer and whether it was a refresh-token reuse.
    pub fn token(&mut self, form: &HashMap<String, String>) -> (Answer, bool) {
        let err = |status: u16, e: &str, d: &str| {
            (
                status,
                json!({"error": e, "error_description": d, "statusCode": status}),
            )
        };
        let mut unknown: Vec<&String> = form
            .keys()
            .filter(|k| !TOKEN_FIELDS.contains(&k.as_str()))
            .collect();
        if !unknown.is_empty() {
            unknown.sort();
            return (
                (
                    422,
                    json!({"statusCode": 422, "message": unknown.iter().map(|k| format!("property {k} should not exist")).collect::<Vec<_>>()}),
                ),
                false,
            );
        }
        let creds_ok = form.get("client_id") == Some(&self.cfg.client_id)
            && form.get("client_secret") == Some(&self.cfg.client_secret);
        if !creds_ok {
            return (
                err(401, "invalid_client", "Invalid client credentials"),
                false,
            );
        }
        let user_type = form.get("user_type").map(String::as_str);
        if !matches!(user_type, Some("Location" | "Company")) {
            return (
                err(
                    400,
                    "invalid_request",
                    "user_type must be Location or Company",
                ),
                false,
            );
        }
        // A code is for the kind of token the user chose; asking for the other kind leaves it
        // usable.
        let pending = form.get("code").and_then(|c| self.codes.get(c));
        if let Some(c) = pending.filter(|c| c.grant.is_company() != (user_type == Some("Company")))
        {
            let kind = if c.grant.is_company() {
                "Company"
            } else {
                "Location"
            };
            return (
                err(
                    400,
                    "invalid_request",
                    &format!("this grant is for user_type {kind}"),
                ),
                false,
            );
        }
        let grant = match form.get("grant_type").map(String::as_str) {
            Some("authorization_code") => {
                let code = form.get("code").and_then(|c| self.codes.remove(c));
                match code {
                    Some(c)
                        if c.redirect_uri.is_empty()
                            || form.get("redirect_uri") == Some(&c.redirect_uri) =>
                    {
                        c.grant
                    }
                    Some(_) => {
                        return (
                            err(400, "invalid_grant", "redirect_uri does not match"),
                            false,
                        )
                    }
                    None => return (err(400, "invalid_grant", "Invalid code"), false),
                }
            }
            Some("refresh_token") => {
                let Some(r) = form
                    .get("refresh_token")
                    .and_then(|t| self.refresh.get_mut(t))
                else {
                    return (err(400, "invalid_grant", "Invalid refresh token"), false);
                };
                if r.used {
                    return (
                        err(400, "invalid_grant", "Refresh token has already been used"),
                        true,
                    );
                }
                r.used = true;
                r.grant.clone()
            }
            _ => {
                return (
                    err(400, "unsupported_grant_type", "Unsupported grant_type"),
                    false,
                )
            }
        };
        // The token asked for must be the kind the user chose.
        let wanted = if grant.is_company() {
            "Company"
        } else {
            "Location"
        };
        if user_type != Some(wanted) {
            return (
                err(
                    400,
                    "invalid_request",
                    &format!("this grant is for user_type {wanted}"),
                ),
                false,
            );
        }
        if !grant.is_company() {
            self.granted
                .insert(grant.location.clone(), grant.scopes.clone());
        }
        let (access, refresh) = (random("sbx-at"), random("sbx-rt"));
        let mut answer = json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.cfg.access_ttl.as_secs(),
            "refresh_token": refresh,
            "scope": grant.scopes.join(" "),
            "userType": wanted,
            "companyId": COMPANY_ID,
            "userId": "sandbox-user",
        });
        if !grant.is_company() {
            answer["locationId"] = json!(grant.location);
        }
        self.access.insert(
            access,
            (grant.clone(), Instant::now() + self.cfg.access_ttl),
        );
        self.refresh.insert(refresh, Refresh { grant, used: false });
        ((200, answer), false)
    }
}

impl OAuthState {
    /// `POST /oauth/reconnect` (JSON `{clientKey, clientSecret, locationId}`): a new
    /// authorization code for a location the app was installed on, without the user.
    pub fn reconnect(&mut self, body: &serde_json::Value) -> Answer {
        let s = |k: &str| body.get(k).and_then(|v| v.as_str()).unwrap_or_default();
        if s("clientKey") != self.cfg.client_id || s("clientSecret") != self.cfg.client_secret {
            return (
                401,
                json!({"statusCode": 401, "message": "Invalid client credentials"}),
            );
        }
        let location = s("locationId").to_owned();
        let Some(scopes) = self.granted.get(&location).cloned() else {
            return (
                400,
                json!({"statusCode": 400, "message": "The app is not installed on this location"}),
            );
        };
        let code = random("code");
        self.codes.insert(
            code.clone(),
            Code {
                grant: Grant { location, scopes },
                redirect_uri: String::new(),
            },
        );
        (
            200,
            json!({"authorizationCode": code, "expiresAt": "2099-01-01T00:00:00.000Z", "traceId": random("trace")}),
        )
    }
}

/// Form fields of `POST /oauth/locationToken` (spec `GetLocationAccessCodeBodyDto`).
pub const LOCATION_TOKEN_FIELDS: &[&str] = &["companyId", "locationId"];

impl OAuthState {
    /// The company grant behind a bearer token, if it is a live company token with `scope`.
    fn company(&self, bearer: Option<&str>, scope: &str) -> Result<Vec<String>, Answer> {
        let unauthorized = |m: &str| Err((401, json!({"statusCode": 401, "message": m})));
        match bearer.map(|b| self.bearer(b)) {
            Some(Bearer::Company(scopes)) if scopes.iter().any(|s| s == scope) => Ok(scopes),
            Some(Bearer::Company(_)) => unauthorized("The token is not authorized for this scope."),
            Some(Bearer::Valid(..)) => {
                unauthorized("This route needs an Agency (Company) access token")
            }
            _ => unauthorized("Invalid JWT"),
        }
    }

    /// `POST /oauth/locationToken`: a company token with `oauth.write` mints an access token for
    /// one installed location (no refresh token: mint again when it expires). Its scopes are the
    /// company grant's, without the `oauth.*` ones.
    pub fn location_token(
        &mut self,
        bearer: Option<&str>,
        form: &HashMap<String, String>,
        installed: &[String],
    ) -> Answer {
        let scopes = match self.company(bearer, "oauth.write") {
            Ok(s) => s,
            Err(a) => return a,
        };
        let mut unknown: Vec<&String> = form
            .keys()
            .filter(|k| !LOCATION_TOKEN_FIELDS.contains(&k.as_str()))
            .collect();
        unknown.sort();
        let missing: Vec<&str> = LOCATION_TOKEN_FIELDS
            .iter()
            .filter(|k| form.get(**k).is_none_or(|v| v.is_empty()))
            .copied()
            .collect();
        if !unknown.is_empty() || !missing.is_empty() {
            let mut m: Vec<String> = unknown
                .iter()
                .map(|k| format!("property {k} should not exist"))
                .collect();
            m.extend(missing.iter().map(|k| format!("{k} should not be empty")));
            return (422, json!({"statusCode": 422, "message": m}));
        }
        if form["companyId"] != COMPANY_ID {
            return (
                400,
                json!({"statusCode": 400, "message": "The token does not belong to this company"}),
            );
        }
        let location = form["locationId"].clone();
        if !installed.contains(&location) {
            return (
                400,
                json!({"statusCode": 400, "message": "The app is not installed on this location"}),
            );
        }
        let grant = Grant {
            location: location.clone(),
            scopes: scopes
                .into_iter()
                .filter(|s| !s.starts_with("oauth."))
                .collect(),
        };
        let access = random("sbx-lt");
        let answer = json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.cfg.access_ttl.as_secs(),
            "scope": grant.scopes.join(" "),
            "locationId": location,
            "userId": "sandbox-user",
        });
        self.granted.insert(location, grant.scopes.clone());
        self.access
            .insert(access, (grant, Instant::now() + self.cfg.access_ttl));
        (200, answer)
    }

    /// `GET /oauth/installedLocations`: the locations the app is installed on (all the
    /// sandbox's), paged by `skip` and `limit`, filtered by `query` (in the name) and
    /// `isInstalled`. `companyId` and `appId` are required.
    pub fn installed_locations(
        &self,
        bearer: Option<&str>,
        q: &HashMap<String, String>,
        installed: &[String],
    ) -> Answer {
        if let Err(a) = self.company(bearer, "oauth.readonly") {
            return a;
        }
        let missing: Vec<String> = ["companyId", "appId"]
            .iter()
            .filter(|k| q.get(**k).is_none_or(|v| v.is_empty()))
            .map(|k| format!("{k} should not be empty"))
            .collect();
        if !missing.is_empty() {
            return (422, json!({"statusCode": 422, "message": missing}));
        }
        if q["companyId"] != COMPANY_ID || q["appId"] != APP_ID {
            return (
                400,
                json!({"statusCode": 400, "message": "Unknown company or app"}),
            );
        }
        let num = |k: &str, d: usize| match q.get(k) {
            None => Ok(d),
            Some(v) => v.parse::<usize>().map_err(|_| {
                (
                    422,
                    json!({"statusCode": 422, "message": [format!("{k} must be a number string")]}),
                )
            }),
        };
        let (skip, limit) = match (num("skip", 0), num("limit", 20)) {
            (Ok(s), Ok(l)) => (s, l),
            (Err(a), _) | (_, Err(a)) => return a,
        };
        let wanted_installed = q.get("isInstalled").map(|v| v == "true");
        let needle = q.get("query").map(|v| v.to_lowercase());
        let matching: Vec<&String> = installed
            .iter()
            .filter(|_| wanted_installed != Some(false))
            .filter(|l| needle.as_ref().is_none_or(|n| l.to_lowercase().contains(n)))
            .collect();
        let page: Vec<serde_json::Value> = matching
            .iter()
            .skip(skip)
            .take(limit)
            .map(|l| {
                json!({
                    "_id": l,
                    "name": l,
                    "address": "1 Sandbox Way, Testville",
                    "isInstalled": true,
                    "installedAt": "2026-01-01T00:00:00.000Z",
                })
            })
            .collect();
        (
            200,
            json!({"locations": page, "count": matching.len(), "installToFutureLocations": false}),
        )
    }
}

/// The scope an API endpoint (`METHOD /route`) needs: reads need `contacts.readonly` (or
/// `contacts.write`), everything else `contacts.write`.
pub fn needs(endpoint: &str) -> &'static str {
    let read = endpoint.starts_with("GET ") || endpoint == "POST /contacts/search";
    if read {
        SCOPE_READ
    } else {
        SCOPE_WRITE
    }
}

/// Whether `scopes` allow `endpoint`.
pub fn allows(scopes: &[String], endpoint: &str) -> bool {
    let need = needs(endpoint);
    scopes
        .iter()
        .any(|s| s == need || (need == SCOPE_READ && s == SCOPE_WRITE))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn code_flow_then_rotation_refuses_a_used_refresh_token() {
        let mut o = OAuthState::new(OAuthConfig::default());
        let locs = vec!["L".to_owned()];
        let to = o
            .authorize(
                &q(&[
                    ("response_type", "code"),
                    ("client_id", "sandbox-client"),
                    ("redirect_uri", "http://127.0.0.1:9/cb"),
                    ("scope", "contacts.readonly contacts.write"),
                    ("state", "xyz"),
                ]),
                &locs,
            )
            .unwrap();
        let url = url::Url::parse(&to).unwrap();
        let pairs: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(pairs["state"], "xyz");
        let base = [
            ("client_id", "sandbox-client"),
            ("client_secret", "sandbox-secret"),
            ("user_type", "Location"),
        ];
        let mut form = q(&base);
        form.extend(q(&[
            ("grant_type", "authorization_code"),
            ("code", &pairs["code"]),
            ("redirect_uri", "http://127.0.0.1:9/cb"),
        ]));
        let ((s, t), _) = o.token(&form);
        assert_eq!(s, 200, "{t}");
        assert_eq!(t["locationId"], "L");
        assert_eq!(
            o.bearer(t["access_token"].as_str().unwrap()),
            Bearer::Valid(
                "L".into(),
                vec!["contacts.readonly".into(), "contacts.write".into()]
            )
        );
        let ((s, _), _) = o.token(&form);
        assert_eq!(s, 400, "a code is single-use");
        let mut refresh = q(&base);
        refresh.insert("grant_type".into(), "refresh_token".into());
        refresh.insert(
            "refresh_token".into(),
            t["refresh_token"].as_str().unwrap().into(),
        );
        let ((s, t2), reuse) = o.token(&refresh);
        assert_eq!((s, reuse), (200, false));
        assert_ne!(t2["refresh_token"], t["refresh_token"]);
        let ((s, _), reuse) = o.token(&refresh);
        assert_eq!((s, reuse), (400, true), "rotation: the old one is dead");
    }

    #[test]
    fn scopes_gate_reads_and_writes() {
        let read = vec![SCOPE_READ.to_owned()];
        assert!(allows(&read, "POST /contacts/search"));
        assert!(allows(&read, "GET /contacts/{id}"));
        assert!(!allows(&read, "POST /contacts/upsert"));
        assert!(allows(&[SCOPE_WRITE.to_owned()], "GET /contacts/{id}"));
    }
}
