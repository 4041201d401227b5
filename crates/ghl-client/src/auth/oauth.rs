//! GHL's OAuth 2.0 endpoints through the oauth2 crate: the authorize URL (location chooser, CSRF
//! `state`), the code exchange and the refresh grant — form bodies with the client credentials in
//! the body and `user_type` (`Location`, or `Company` for an agency grant), as GHL expects.

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, ExtraTokenFields, RedirectUrl, RefreshToken, RequestTokenError, Scope,
    StandardRevocableToken, StandardTokenResponse, TokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::tokens::{now, Tokens, UserType};

/// The production authorize page (location chooser).
pub const AUTHORIZE_URL: &str = "https://marketplace.gohighlevel.com/v2/oauth/chooselocation";

/// What GHL adds to a token response.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GhlExtra {
    /// The location a Location token is for.
    #[serde(
        rename = "locationId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub location_id: Option<String>,
    /// `Location` or `Company`.
    #[serde(rename = "userType", default, skip_serializing_if = "Option::is_none")]
    pub user_type: Option<String>,
    /// The agency.
    #[serde(rename = "companyId", default, skip_serializing_if = "Option::is_none")]
    pub company_id: Option<String>,
}

impl ExtraTokenFields for GhlExtra {}

type GhlTokenResponse = StandardTokenResponse<GhlExtra, BasicTokenType>;

type Client = oauth2::Client<
    BasicErrorResponse,
    GhlTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// An auth failure. Messages never contain a token or the client secret.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The token endpoint refused the grant (`invalid_grant`, `invalid_client`, …).
    #[error("the token endpoint refused the {grant}: {error}{}; run `ghl-import auth login` again", .description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Refused {
        /// `authorization code` or `refresh token`.
        grant: &'static str,
        /// OAuth error code.
        error: String,
        /// Its description.
        description: Option<String>,
    },
    /// The token endpoint could not be reached or answered something unreadable.
    #[error("the token endpoint failed: {0}")]
    Transport(String),
    /// Anything else (store, lock, missing tokens).
    #[error("{0}")]
    Other(String),
}

impl From<anyhow::Error> for AuthError {
    fn from(e: anyhow::Error) -> Self {
        AuthError::Other(format!("{e:#}"))
    }
}

/// An OAuth app registered in the GHL marketplace.
#[derive(Clone)]
pub struct OAuthApp {
    /// Client id.
    pub client_id: String,
    /// Client secret (from an environment variable).
    pub client_secret: SecretString,
    /// Authorize page.
    pub authorize_url: String,
    /// Token endpoint.
    pub token_url: String,
}

impl std::fmt::Debug for OAuthApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthApp")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("token_url", &self.token_url)
            .finish()
    }
}

/// The HTTP client for the token endpoint: no redirects (they would open SSRF paths).
fn http() -> Result<reqwest::Client, AuthError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| AuthError::Transport(e.to_string()))
}

impl OAuthApp {
    fn client(&self) -> Result<Client, AuthError> {
        let bad = |what: &str, e: oauth2::url::ParseError| AuthError::Other(format!("{what}: {e}"));
        Ok(oauth2::Client::new(ClientId::new(self.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                self.client_secret.expose_secret().to_owned(),
            ))
            .set_auth_uri(
                AuthUrl::new(self.authorize_url.clone()).map_err(|e| bad("authorize URL", e))?,
            )
            .set_token_uri(TokenUrl::new(self.token_url.clone()).map_err(|e| bad("token URL", e))?)
            .set_auth_type(AuthType::RequestBody))
    }

    /// The URL that asks the user to choose a location and approve `scopes`, and the `state`
    /// value the redirect must bring back.
    pub fn authorize(
        &self,
        redirect_uri: &str,
        scopes: &[String],
        extra: &[(&'static str, String)],
    ) -> Result<(String, String), AuthError> {
        let redirect = RedirectUrl::new(redirect_uri.to_owned())
            .map_err(|e| AuthError::Other(format!("redirect URL: {e}")))?;
        let client = self.client()?.set_redirect_uri(redirect);
        let mut req = client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(scopes.iter().cloned().map(Scope::new));
        for (k, v) in extra {
            req = req.add_extra_param(*k, v.clone());
        }
        let (url, state) = req.url();
        Ok((url.to_string(), state.secret().clone()))
    }

    /// Exchanges an authorization code for tokens of `kind`.
    pub async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: &str,
        requested: &[String],
        kind: UserType,
    ) -> Result<Tokens, AuthError> {
        let redirect = RedirectUrl::new(redirect_uri.to_owned())
            .map_err(|e| AuthError::Other(format!("redirect URL: {e}")))?;
        let resp = self
            .client()?
            .set_redirect_uri(redirect)
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .add_extra_param("user_type", kind.as_str())
            .request_async(&http()?)
            .await
            .map_err(|e| token_error("authorization code", e))?;
        self.tokens(resp, &Subject::fresh(kind), requested)
    }

    /// Recovery when the refresh token is lost or already used (GHL help center:
    /// `POST /oauth/reconnect` with the app's credentials and the location or company): mints
    /// an authorization code without the user, which is exchanged for new tokens.
    pub async fn reconnect(&self, old: &Tokens) -> Result<Tokens, AuthError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Reconnect {
            authorization_code: String,
        }
        let url = match self.token_url.strip_suffix("/oauth/token") {
            Some(base) => format!("{base}/oauth/reconnect"),
            None => {
                return Err(AuthError::Other(
                    "no reconnect endpoint for this token URL".into(),
                ))
            }
        };
        let mut body = serde_json::json!({
            "clientKey": self.client_id,
            "clientSecret": self.client_secret.expose_secret(),
        });
        match old.user_type {
            UserType::Location => body["locationId"] = old.location_id.clone().into(),
            UserType::Company => body["companyId"] = old.company_id.clone().into(),
        }
        let resp = http()?
            .post(&url)
            .json(&body)
            .send()
            .await
            .map_err(|e| AuthError::Transport(e.without_url().to_string()))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(AuthError::Refused {
                grant: "reconnect",
                error: format!("HTTP {}", status.as_u16()),
                description: None,
            });
        }
        let r: Reconnect = resp
            .json()
            .await
            .map_err(|e| AuthError::Transport(format!("unreadable reconnect answer: {e}")))?;
        let tok = self
            .client()?
            .exchange_code(AuthorizationCode::new(r.authorization_code))
            .add_extra_param("user_type", old.user_type.as_str())
            .request_async(&http()?)
            .await
            .map_err(|e| token_error("authorization code", e))?;
        self.tokens(tok, &Subject::of(old), &old.scopes)
    }

    /// Uses the refresh token once: the answer carries a new one, which replaces it.
    pub async fn refresh(&self, t: &Tokens) -> Result<Tokens, AuthError> {
        let resp = self
            .client()?
            .exchange_refresh_token(&RefreshToken::new(
                t.refresh_token.expose_secret().to_owned(),
            ))
            .add_extra_param("user_type", t.user_type.as_str())
            .request_async(&http()?)
            .await
            .map_err(|e| token_error("refresh token", e))?;
        self.tokens(resp, &Subject::of(t), &t.scopes)
    }

    fn tokens(
        &self,
        resp: GhlTokenResponse,
        known: &Subject,
        requested: &[String],
    ) -> Result<Tokens, AuthError> {
        let extra = resp.extra_fields();
        let company_id = extra
            .company_id
            .clone()
            .or_else(|| known.company_id.clone());
        let location_id = match known.kind {
            UserType::Location => extra
                .location_id
                .clone()
                .or_else(|| known.location_id.clone())
                .ok_or_else(|| {
                    AuthError::Other(
                        "the token answer names no location (an agency token?); log in choosing a location, \
                         or use `auth login --agency`"
                            .into(),
                    )
                })?,
            UserType::Company => {
                if company_id.is_none() {
                    return Err(AuthError::Other(
                        "the token answer names no company (a location token?); log in choosing the agency"
                            .into(),
                    ));
                }
                String::new()
            }
        };
        let refresh = resp
            .refresh_token()
            .ok_or_else(|| AuthError::Other("the token answer carries no refresh token".into()))?;
        let scopes = match resp.scopes() {
            Some(s) if !s.is_empty() => s.iter().map(|s| s.to_string()).collect(),
            _ => requested.to_vec(),
        };
        let t = now();
        Ok(Tokens {
            user_type: known.kind,
            location_id,
            company_id,
            app_id: known.app_id.clone(),
            client_id: self.client_id.clone(),
            token_url: self.token_url.clone(),
            scopes,
            access_token: SecretString::from(resp.access_token().secret().clone()),
            refresh_token: SecretString::from(refresh.secret().clone()),
            expires_at: t + resp.expires_in().map_or(86_399, |d| d.as_secs() as i64),
            obtained_at: t,
        })
    }
}

/// What is known of a grant before the token endpoint answers (it may leave ids out).
struct Subject {
    kind: UserType,
    location_id: Option<String>,
    company_id: Option<String>,
    app_id: Option<String>,
}

impl Subject {
    fn fresh(kind: UserType) -> Subject {
        Subject {
            kind,
            location_id: None,
            company_id: None,
            app_id: None,
        }
    }

    fn of(t: &Tokens) -> Subject {
        Subject {
            kind: t.user_type,
            location_id: Some(t.location_id.clone()).filter(|l| !l.is_empty()),
            company_id: t.company_id.clone(),
            app_id: t.app_id.clone(),
        }
    }
}

fn token_error<RE: std::error::Error + 'static>(
    grant: &'static str,
    e: RequestTokenError<RE, BasicErrorResponse>,
) -> AuthError {
    match e {
        RequestTokenError::ServerResponse(r) => AuthError::Refused {
            grant,
            error: r.error().to_string(),
            description: r.error_description().cloned(),
        },
        RequestTokenError::Request(e) => AuthError::Transport(e.to_string()),
        RequestTokenError::Parse(e, _) => AuthError::Transport(format!("unreadable answer: {e}")),
        RequestTokenError::Other(m) => AuthError::Transport(m),
    }
}
