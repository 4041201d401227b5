//! OAuth tokens: what a grant holds, and the [`TokenVault`] that keeps them — the client's only
//! view of persistence. The tool keeps them in its store (one 0600 file per location today);
//! a test or another program may bring its own vault.

use std::future::Future;
use std::pin::Pin;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Whom a grant is for: one location, or an agency (GHL's `user_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum UserType {
    /// A sub-account's grant: calls the contacts routes of that location.
    #[default]
    Location,
    /// An agency's grant: mints location tokens, lists installed locations.
    Company,
}

impl UserType {
    /// The `user_type` form value.
    pub fn as_str(self) -> &'static str {
        match self {
            UserType::Location => "Location",
            UserType::Company => "Company",
        }
    }
}

/// The store key of an agency's grant.
pub fn agency_key(company_id: &str) -> String {
    format!("{AGENCY_PREFIX}{company_id}")
}

/// Tokens of one location or one agency. Debug never shows the secrets.
#[derive(Clone)]
pub struct Tokens {
    /// Location or Company.
    pub user_type: UserType,
    /// The location the tokens are for (empty for an agency grant).
    pub location_id: String,
    /// The agency (`companyId`), when the answer named it.
    pub company_id: Option<String>,
    /// The marketplace app's id (agency grants: what `installedLocations` asks about).
    pub app_id: Option<String>,
    /// The OAuth app's client id (not secret).
    pub client_id: String,
    /// The token endpoint they came from.
    pub token_url: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// The access token.
    pub access_token: SecretString,
    /// The (single-use) refresh token.
    pub refresh_token: SecretString,
    /// When the access token expires (Unix seconds).
    pub expires_at: i64,
    /// When they were obtained (Unix seconds).
    pub obtained_at: i64,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("user_type", &self.user_type)
            .field("location_id", &self.location_id)
            .field("company_id", &self.company_id)
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .field("access_token", &"[redacted]")
            .field("refresh_token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl Tokens {
    /// The key the store files them under: the location id, or `agency-<companyId>`.
    pub fn key(&self) -> String {
        match self.user_type {
            UserType::Location => self.location_id.clone(),
            UserType::Company => agency_key(self.company_id.as_deref().unwrap_or_default()),
        }
    }

    /// Whether the access token expires within `margin_secs` of `now`.
    pub fn expiring(&self, now: i64, margin_secs: i64) -> bool {
        self.expires_at - margin_secs <= now
    }

    /// Whether the grant includes `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// Whether `other` holds the same refresh token (nobody refreshed in between).
    pub fn same_refresh(&self, other: &Tokens) -> bool {
        self.refresh_token.expose_secret() == other.refresh_token.expose_secret()
    }
}

/// The current Unix time in seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A held lock on one key's tokens, released when dropped.
pub type VaultLock = Box<dyn Send + Sync>;

/// The future of [`TokenVault::lock`].
pub type LockFuture<'a> = Pin<Box<dyn Future<Output = anyhow::Result<VaultLock>> + Send + 'a>>;

/// Where tokens persist. A refresh token is single-use, so every implementation must make
/// [`TokenVault::save`] durable before it returns (the new token is used only after) and
/// [`TokenVault::lock`] exclusive across every process sharing the vault.
pub trait TokenVault: std::fmt::Debug + Send + Sync {
    /// The tokens under `key` (a location id, or [`agency_key`]); `None` when there are none.
    fn load(&self, key: &str) -> anyhow::Result<Option<Tokens>>;
    /// Replaces the tokens under their key, durably and atomically.
    fn save(&self, t: &Tokens) -> anyhow::Result<()>;
    /// Takes the exclusive lock of `key`, waiting a bounded time for another holder.
    fn lock<'a>(&'a self, key: &'a str) -> LockFuture<'a>;
    /// Every agency (company id) with a stored grant, sorted.
    fn agencies(&self) -> Vec<String>;
    /// Where the tokens under `key` are, as a user would look for them (a file path).
    fn place(&self, key: &str) -> String;
    /// Where the vault is (a folder), for messages that tell the user what to do.
    fn describe(&self) -> String;
}

/// The prefix of [`agency_key`]s.
pub const AGENCY_PREFIX: &str = "agency-";

/// Test hook: `GHL_IMPORT_CRASH_AT=<point>` aborts the process there (a crash, not an error).
pub fn crash_point(point: &str) {
    if std::env::var("GHL_IMPORT_CRASH_AT").is_ok_and(|p| p == point) {
        eprintln!("crash injected at {point}");
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(refresh: &str) -> Tokens {
        Tokens {
            user_type: UserType::Location,
            location_id: "loc/1".into(),
            company_id: None,
            app_id: None,
            client_id: "c".into(),
            token_url: "http://x/oauth/token".into(),
            scopes: vec!["contacts.readonly".into()],
            access_token: SecretString::from("at-secret"),
            refresh_token: SecretString::from(refresh.to_owned()),
            expires_at: 100,
            obtained_at: 1,
        }
    }

    #[test]
    fn debug_never_shows_secrets() {
        let s = format!("{:?}", tokens("rt-secret-value"));
        assert!(
            !s.contains("rt-secret-value") && !s.contains("at-secret"),
            "{s}"
        );
    }
}
