//! Access tokens for a run: refreshed shortly before expiry and once after a 401, single-flight
//! within the process (an async mutex) and across processes (the store's lock file). After taking
//! the lock the store is read again: another run may have refreshed already, and its new tokens
//! are adopted instead of presenting a used refresh token. A new refresh token is persisted
//! before the new access token is used.

use secrecy::{ExposeSecret, SecretString};

use super::oauth::{AuthError, OAuthApp};
use std::sync::Arc;

use super::tokens::{crash_point, now, TokenVault, Tokens};

/// Refresh when the access token expires within this many seconds (or a quarter of its
/// lifetime, if shorter).
pub const MARGIN_SECS: i64 = 60;

fn margin(t: &Tokens) -> i64 {
    // At least a second: expiry times are whole seconds.
    MARGIN_SECS.min((t.expires_at - t.obtained_at) / 4).max(1)
}

/// The OAuth tokens of one location (or one agency), kept fresh.
pub struct TokenManager {
    app: OAuthApp,
    store: Arc<dyn TokenVault>,
    /// The store key: a location id, or `agency-<companyId>`.
    key: String,
    current: tokio::sync::Mutex<Tokens>,
}

impl std::fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenManager")
            .field("key", &self.key)
            .field("store", &self.store.describe())
            .finish()
    }
}

impl TokenManager {
    /// The stored tokens under `key` (a location id, or [`super::tokens::agency_key`]),
    /// refreshed with the app's `client_secret`.
    pub fn open(
        store: Arc<dyn TokenVault>,
        key: &str,
        client_secret: SecretString,
    ) -> anyhow::Result<TokenManager> {
        let tokens = store.load(key)?.ok_or_else(|| match key.strip_prefix("agency-") {
            Some(company) => anyhow::anyhow!(
                "no agency grant of company {company} in {}: run `ghl-import auth login --agency` \
                 (with the same --state-dir)",
                store.describe()
            ),
            None => anyhow::anyhow!(
                "no OAuth tokens for location {key} in {}: run `ghl-import auth login --location {key}` \
                 (with the same --state-dir), or use a Private Integration Token (auth.token_env)",
                store.describe()
            ),
        })?;
        let app = OAuthApp {
            client_id: tokens.client_id.clone(),
            client_secret,
            // Not used to refresh; the token URL stands in.
            authorize_url: tokens.token_url.clone(),
            token_url: tokens.token_url.clone(),
        };
        Ok(TokenManager {
            app,
            store,
            key: key.to_owned(),
            current: tokio::sync::Mutex::new(tokens),
        })
    }

    /// The tokens as they are now (ids, scopes, expiry).
    pub async fn snapshot(&self) -> Tokens {
        self.current.lock().await.clone()
    }

    /// The granted scopes.
    pub async fn scopes(&self) -> Vec<String> {
        self.current.lock().await.scopes.clone()
    }

    /// A current access token, refreshed first when it expires within a minute.
    pub async fn access_token(&self) -> Result<SecretString, AuthError> {
        let mut cur = self.current.lock().await;
        if cur.expiring(now(), margin(&cur)) {
            self.refresh(&mut cur).await?;
        }
        Ok(cur.access_token.clone())
    }

    /// After the API refused `used` with 401: a new access token (refreshed unless another
    /// request has done so since).
    pub async fn after_unauthorized(&self, used: &SecretString) -> Result<SecretString, AuthError> {
        let mut cur = self.current.lock().await;
        if cur.access_token.expose_secret() == used.expose_secret() {
            // Expire it locally so that the refresh cannot be skipped.
            cur.expires_at = 0;
            self.refresh(&mut cur).await?;
        }
        Ok(cur.access_token.clone())
    }

    async fn refresh(&self, cur: &mut Tokens) -> Result<(), AuthError> {
        let _lock = self.store.lock(&self.key).await?;
        // Another run may have refreshed while this one waited: adopt its tokens.
        if let Some(disk) = self.store.load(&self.key)? {
            if !disk.same_refresh(cur) {
                *cur = disk;
                if !cur.expiring(now(), margin(cur)) {
                    tracing::debug!(key = %self.key, "Adopted tokens refreshed by another process.");
                    return Ok(());
                }
            }
        }
        let new = match self.app.refresh(cur).await {
            Ok(t) => t,
            // The refresh token is dead: used by a run that crashed before saving the new one,
            // or revoked. Recover through the reconnect call, else the user must log in again.
            Err(AuthError::Refused {
                grant,
                error,
                description,
            }) if error == "invalid_grant" => {
                tracing::warn!(key = %self.key, "The refresh token was refused; trying the reconnect endpoint.");
                self.app
                    .reconnect(cur)
                    .await
                    .map_err(|_| AuthError::Refused {
                        grant,
                        error,
                        description,
                    })?
            }
            Err(e) => return Err(e),
        };
        crash_point("after-refresh");
        self.store.save(&new)?;
        crash_point("after-persist");
        tracing::info!(key = %self.key, "Refreshed the OAuth access token.");
        *cur = new;
        Ok(())
    }
}
