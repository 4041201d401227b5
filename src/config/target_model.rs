//! The pipeline keys of the target (and of a GHL source's API): one location or several
//! (`locations`, `location_from`, `parallel`), the base URL, and how to authenticate.

use serde::Deserialize;

use super::model::default_base_url;

/// `target:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// The sub-account (location) id. Leave it out for several locations (`locations`,
    /// `location_from`).
    #[serde(default)]
    pub location_id: Option<String>,
    /// Several locations in one run: a list of ids, or `{installed: true, query: …}` for every
    /// location an agency grant is installed on (whose name contains `query`).
    #[serde(default)]
    pub locations: Option<LocationsConfig>,
    /// Route each row to the location named by a column (`location_from: Location Id`), or by
    /// a map from that column's values (`{column: Store, map: {North: loc1, …}}`). Without
    /// it, every location gets every row.
    #[serde(default)]
    pub location_from: Option<RouteConfig>,
    /// Locations loaded at the same time (default 16).
    #[serde(default)]
    pub parallel: Option<u32>,
    /// API base URL.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// How to authenticate.
    pub auth: AuthConfig,
}

/// `target.locations:`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum LocationsConfig {
    /// Location ids.
    List(Vec<String>),
    /// Every installed location.
    Installed(InstalledConfig),
}

/// `target.locations: {installed: true, query: …}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstalledConfig {
    /// Must be `true`.
    pub installed: bool,
    /// Only locations whose name contains this (GHL's `query` filter).
    #[serde(default)]
    pub query: Option<String>,
}

/// `target.location_from:`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RouteConfig {
    /// The column holding location ids.
    Column(String),
    /// A column and a map from its values to location ids.
    Map(RouteMapConfig),
}

/// `target.location_from: {column, map}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteMapConfig {
    /// The column.
    pub column: String,
    /// Cell value (trimmed, any case) → location id; values not in it are rejected.
    #[serde(default)]
    pub map: std::collections::BTreeMap<String, String>,
}

/// `target.auth:`. Secrets are never written in the YAML; only the name of the variable is.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Environment variable holding a Private Integration Token (or an access token).
    #[serde(default)]
    pub token_env: Option<String>,
    /// OAuth tokens from the token store (`ghl-import auth login`), refreshed unattended.
    #[serde(default)]
    pub oauth: Option<OAuthAuthConfig>,
    /// Location tokens minted from an agency's grant (`ghl-import auth login --agency`).
    #[serde(default)]
    pub agency: Option<AgencyAuthConfig>,
}

/// `auth.agency:`: an agency grant mints each location's token.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgencyAuthConfig {
    /// Environment variable holding the OAuth app's client secret.
    pub client_secret_env: String,
    /// The agency (company id); needed only when the store holds grants of several.
    #[serde(default)]
    pub company_id: Option<String>,
}

/// `auth.oauth:`: the app's client secret is read from an environment variable at refresh time.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthAuthConfig {
    /// Environment variable holding the OAuth app's client secret.
    pub client_secret_env: String,
}
