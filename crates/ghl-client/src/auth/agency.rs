//! An agency's grant at work (GHL-API.md §9): the company token, kept fresh by a
//! [`TokenManager`] like a location's, mints a location token for each sub-account a run
//! touches (`POST /oauth/locationToken`, form `companyId` + `locationId`, `Version` header) and
//! lists the locations the app is installed on (`GET /oauth/installedLocations`).
//!
//! Minted tokens have no refresh token: they are kept in memory only, until a minute before
//! they expire or until the API refuses one (401), and then minted again. Minting is
//! single-flight per location, at most [`MINTS_IN_FLIGHT`] at a time, and paced by the
//! company's own rate window (the documented 100 / 10 s until the API advertises another), so a
//! run over hundreds of locations never bursts it. One [`Agency`] per grant is shared by
//! everything in the process ([`Agency::open`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::manager::TokenManager;
use super::oauth::AuthError;
use super::tokens::{agency_key, now, TokenVault, UserType};
use crate::client::{ClientConfig, Credentials, GhlClient};
use crate::error::ApiError;
use crate::ratelimit::Throttle;
use crate::retry::RetryPolicy;

/// Mints in flight at once for one agency.
pub const MINTS_IN_FLIGHT: usize = 4;

/// Attempts of one agency call (429, 5xx and transport errors are tried again).
const RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 5,
    base: Duration::from_millis(250),
    cap: Duration::from_secs(8),
};

/// One location the app is installed on (`installedLocations`' `locations[]`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InstalledLocation {
    /// The location id.
    #[serde(rename = "_id")]
    pub id: String,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// Its address, as one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Whether the app is installed there.
    #[serde(rename = "isInstalled", default)]
    pub is_installed: bool,
}

#[derive(Deserialize)]
struct InstalledPage {
    #[serde(default)]
    locations: Vec<InstalledLocation>,
    #[serde(default)]
    count: Option<usize>,
}

#[derive(Deserialize)]
struct MintAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(rename = "locationId", default)]
    location_id: Option<String>,
}

/// A minted location token.
#[derive(Clone)]
struct Minted {
    token: SecretString,
    scopes: Vec<String>,
    expires_at: i64,
    obtained_at: i64,
}

impl Minted {
    fn fresh(&self) -> bool {
        let margin = super::manager::MARGIN_SECS
            .min((self.expires_at - self.obtained_at) / 4)
            .max(1);
        self.expires_at - margin > now()
    }
}

type Slot = Arc<tokio::sync::Mutex<Option<Minted>>>;

/// An agency's grant: its company token and the location tokens minted from it.
pub struct Agency {
    company_id: String,
    app_id: Option<String>,
    /// The OAuth routes, called with the company token through the project's client: paced by
    /// the company's own rate window (GHL limits per app and resource, a location or a
    /// company: the documented 100 / 10 s until the API advertises), retried with jitter on
    /// 429, 5xx and transport errors, the company token refreshed once after a 401.
    api: GhlClient,
    minted: Mutex<HashMap<String, Slot>>,
    in_flight: tokio::sync::Semaphore,
}

impl std::fmt::Debug for Agency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agency")
            .field("company_id", &self.company_id)
            .finish()
    }
}

/// The agencies open in this process, by token file.
fn registry() -> &'static Mutex<HashMap<String, Weak<Agency>>> {
    static R: OnceLock<Mutex<HashMap<String, Weak<Agency>>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

impl Agency {
    /// The agency grant of `company` in `store` (or its only one when `company` is `None`),
    /// shared with every other user in this process.
    pub fn open(
        store: &Arc<dyn TokenVault>,
        company: Option<&str>,
        client_secret: SecretString,
    ) -> anyhow::Result<Arc<Agency>> {
        let company = match company {
            Some(c) => c.to_owned(),
            None => only_agency(store.as_ref())?,
        };
        let key = agency_key(&company);
        let path = store.place(&key);
        let mut reg = registry().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(a) = reg.get(&path).and_then(Weak::upgrade) {
            return Ok(a);
        }
        let company_mgr = TokenManager::open(Arc::clone(store), &key, client_secret)?;
        let t = store
            .load(&key)?
            .ok_or_else(|| anyhow::anyhow!("the agency grant of {company} disappeared"))?;
        anyhow::ensure!(
            t.user_type == UserType::Company,
            "{path} holds a location's tokens, not an agency grant"
        );
        let api_base = t
            .token_url
            .strip_suffix("/oauth/token")
            .unwrap_or(&t.token_url);
        let api = GhlClient::new(
            ClientConfig {
                base_url: reqwest::Url::parse(api_base)?,
                timeout: Duration::from_secs(30),
                connect_timeout: Duration::from_secs(10),
                max_wait: Duration::from_secs(120),
                retry: RETRY,
            },
            Credentials::OAuth(Arc::new(Access::Stored(Box::new(company_mgr)))),
            Arc::new(Throttle::new(None)),
        )?;
        let a = Arc::new(Agency {
            company_id: company,
            app_id: t.app_id.clone(),
            api,
            minted: Mutex::new(HashMap::new()),
            in_flight: tokio::sync::Semaphore::new(MINTS_IN_FLIGHT),
        });
        reg.retain(|_, w| w.strong_count() > 0);
        reg.insert(path, Arc::downgrade(&a));
        Ok(a)
    }

    /// The agency's id.
    pub fn company_id(&self) -> &str {
        &self.company_id
    }

    fn slot(&self, location: &str) -> Slot {
        let mut m = self.minted.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(m.entry(location.to_owned()).or_default())
    }

    /// A current token of `location` and its scopes: the cached one, or a new one minted.
    pub async fn location_token(
        &self,
        location: &str,
    ) -> Result<(SecretString, Vec<String>), AuthError> {
        let slot = self.slot(location);
        let mut cur = slot.lock().await;
        if let Some(m) = cur.as_ref().filter(|m| m.fresh()) {
            return Ok((m.token.clone(), m.scopes.clone()));
        }
        let m = Box::pin(self.mint(location)).await?;
        let out = (m.token.clone(), m.scopes.clone());
        *cur = Some(m);
        Ok(out)
    }

    /// After the API refused `used` for `location` with 401: a newly minted token (unless
    /// another request has minted one since).
    pub async fn after_unauthorized(
        &self,
        location: &str,
        used: &SecretString,
    ) -> Result<SecretString, AuthError> {
        let slot = self.slot(location);
        let mut cur = slot.lock().await;
        if let Some(m) = cur.as_ref() {
            if m.token.expose_secret() != used.expose_secret() {
                return Ok(m.token.clone());
            }
        }
        let m = Box::pin(self.mint(location)).await?;
        let token = m.token.clone();
        *cur = Some(m);
        Ok(token)
    }

    /// `POST /oauth/locationToken` for `location` (boxed where it is called: the company's
    /// client authorizes through `Access` too, so the future's type would contain itself).
    async fn mint(&self, location: &str) -> Result<Minted, AuthError> {
        let _permit = self
            .in_flight
            .acquire()
            .await
            .map_err(|e| AuthError::Other(e.to_string()))?;
        let form = [
            ("companyId", self.company_id.as_str()),
            ("locationId", location),
        ];
        let obtained_at = now();
        let answer: MintAnswer = self
            .api
            .send_form("/oauth/locationToken", "POST /oauth/locationToken", &form)
            .await
            .map_err(|e| match e {
                ApiError::Auth { .. } | ApiError::Rejected { .. } => AuthError::Other(format!(
                    "the agency grant of {} cannot act for location {location}: {e} \
                     (is the app installed there? `ghl-import auth status` lists where it is)",
                    self.company_id
                )),
                other => AuthError::Transport(other.to_string()),
            })?;
        if let Some(l) = answer.location_id.as_deref().filter(|l| *l != location) {
            return Err(AuthError::Other(format!(
                "asked for a token of location {location}, the API answered one of {l}"
            )));
        }
        tracing::info!(location, company = %self.company_id, "Minted a location token from the agency grant.");
        Ok(Minted {
            token: SecretString::from(answer.access_token),
            scopes: answer
                .scope
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            expires_at: obtained_at + answer.expires_in.unwrap_or(86_399),
            obtained_at,
        })
    }

    /// Every location the app is installed on (`isInstalled=true`), all pages, with `query`
    /// (GHL matches it against the name) when given.
    pub async fn installed_locations(
        &self,
        query: Option<&str>,
    ) -> Result<Vec<InstalledLocation>, AuthError> {
        let app_id = self.app_id.clone().ok_or_else(|| {
            AuthError::Other(format!(
                "the agency grant of {} names no app id: log in again with `auth login --agency --app-id …`",
                self.company_id
            ))
        })?;
        const PAGE: usize = 100;
        let mut out: Vec<InstalledLocation> = Vec::new();
        loop {
            let mut q = vec![
                ("companyId", self.company_id.clone()),
                ("appId", app_id.clone()),
                ("isInstalled", "true".to_owned()),
                ("skip", out.len().to_string()),
                ("limit", PAGE.to_string()),
            ];
            if let Some(s) = query {
                q.push(("query", s.to_owned()));
            }
            let page: InstalledPage = self
                .api
                .get_query(
                    "/oauth/installedLocations",
                    "GET /oauth/installedLocations",
                    &q,
                )
                .await
                .map_err(|e| AuthError::Transport(format!("listing installed locations: {e}")))?;
            let n = page.locations.len();
            out.extend(page.locations.into_iter().filter(|l| l.is_installed));
            let total = page.count.unwrap_or(usize::MAX);
            if n < PAGE || out.len() >= total {
                break;
            }
        }
        Ok(out)
    }
}

/// The store's one agency grant, or an error naming the choice.
fn only_agency(store: &dyn TokenVault) -> anyhow::Result<String> {
    let mut all = store.agencies();
    match all.len() {
        1 => Ok(all.remove(0)),
        0 => anyhow::bail!(
            "no agency grant in {}: run `ghl-import auth login --agency` (with the same --state-dir)",
            store.describe()
        ),
        _ => anyhow::bail!(
            "{} holds grants of several agencies ({}): name one with `auth.agency.company_id`",
            store.describe(),
            all.join(", ")
        ),
    }
}

/// OAuth credentials of one location: its own stored grant, or a token minted from an agency's.
#[derive(Debug)]
pub enum Access {
    /// The location's own grant (`auth login --location`).
    Stored(Box<TokenManager>),
    /// Minted from an agency grant for this location.
    Minted {
        /// The agency.
        agency: Arc<Agency>,
        /// The location.
        location: String,
    },
}

impl Access {
    /// The scopes the location's token carries (minting one first when it is minted).
    pub async fn scopes(&self) -> Result<Vec<String>, AuthError> {
        match self {
            Access::Stored(m) => Ok(m.scopes().await),
            Access::Minted { agency, location } => Ok(agency.location_token(location).await?.1),
        }
    }

    /// A current access token.
    pub async fn access_token(&self) -> Result<SecretString, AuthError> {
        match self {
            Access::Stored(m) => m.access_token().await,
            Access::Minted { agency, location } => Ok(agency.location_token(location).await?.0),
        }
    }

    /// A new access token after the API refused `used` with 401.
    pub async fn after_unauthorized(&self, used: &SecretString) -> Result<SecretString, AuthError> {
        match self {
            Access::Stored(m) => m.after_unauthorized(used).await,
            Access::Minted { agency, location } => agency.after_unauthorized(location, used).await,
        }
    }

    /// Where the grant comes from, for messages (never a token).
    pub fn describe(&self) -> String {
        match self {
            Access::Stored(_) => "OAuth tokens".to_owned(),
            Access::Minted { agency, .. } => {
                format!("a token minted from agency {}'s grant", agency.company_id())
            }
        }
    }
}
