//! The run machinery: a pipeline's run built and driven through the stages (config → extract →
//! transform → load → report), one location or many, and what every run shares — credentials,
//! clients, the run record, the store. The commands (`cmd/`) and `serve` call into it;
//! it imports neither.

mod apis;
pub(crate) mod fanout;
mod files;
pub(crate) mod inbox;
pub(crate) mod manifest;
pub(crate) mod order;
pub(crate) mod output;
pub(crate) mod patch;
mod produce;
pub mod prune;
mod rows;
mod run;
pub(crate) mod signals;
pub(crate) mod target;
mod timeline;
pub mod undo;

pub use crate::options::{RetryScope, RunOptions};
pub use run::run;
pub use target::{RunRecord, TargetKind, TargetRecord, RUN_JSON};

use secrecy::SecretString;

use crate::config::{Pipeline, Target, TargetAuth};
use crate::error::ConfigError;
use ghl_client::auth::agency::Access;
use ghl_client::client::Credentials;

/// How to get a valid token for a target (or GHL source, `section`) whose token was refused, in
/// the pipeline's words (a variable's name, never its value).
pub(crate) fn renew_token(section: &str, t: &Target) -> String {
    match &t.auth {
        TargetAuth::Token { env } => format!(
            "put a current Private Integration Token of location {} (Settings → Private Integrations) \
             in `${env}`, the variable named by {section}.auth.token_env",
            t.location_id
        ),
        TargetAuth::OAuth { .. } => format!(
            "run `ghl-import auth login` again for location {} (with the same --state-dir)",
            t.location_id
        ),
        TargetAuth::Agency { .. } => {
            "run `ghl-import auth login --agency` again (with the same --state-dir)".to_owned()
        }
    }
}

/// The message for a failed API call that stops the work: a refused token in the pipeline's words
/// (naming its variable), any other error as the run reports it.
pub(crate) fn stopping_error(section: &str, t: &Target, e: ghl_client::error::ApiError) -> String {
    match e {
        ghl_client::error::ApiError::Auth { status, message } => {
            crate::load::refused_credentials(status, &message, &renew_token(section, t))
        }
        e => match crate::load::outcome_of_error(e) {
            Ok(rej) => rej.message,
            Err(f) => f.0,
        },
    }
}

/// The credentials a target (or GHL source, `section`) names: a Private Integration Token from
/// its variable, or the location's OAuth tokens from the token store (in `state_dir/tokens`, else
/// the default data directory) with the client secret from its variable. A missing variable or
/// login is a configuration error naming what to set; no secret is ever printed.
pub(crate) fn credentials(
    p: &Pipeline,
    section: &str,
    t: &Target,
    state_dir: Option<&std::path::Path>,
) -> Result<Credentials, ConfigError> {
    let var = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(|v| SecretString::from(v.trim().to_owned()))
    };
    match &t.auth {
        TargetAuth::Token { env } => var(env).map(Credentials::Static).ok_or_else(|| {
            ConfigError::new(format!(
                "{}: environment variable `{env}` is not set; export it with a Private Integration Token \
                 of location {} (Settings → Private Integrations), or run with --sandbox",
                p.at(&[section, "auth", "token_env"]),
                t.location_id
            ))
        }),
        TargetAuth::OAuth { .. } | TargetAuth::Agency { .. } => {
            let env = t.auth.client_secret_env().unwrap_or_default();
            let secret = var(env).ok_or_else(|| {
                let kind = if matches!(t.auth, TargetAuth::Agency { .. }) { "agency" } else { "oauth" };
                ConfigError::new(format!(
                    "{}: environment variable `{env}` is not set; export the OAuth app's client secret \
                     (needed to refresh tokens)",
                    p.at(&[section, "auth", kind, "client_secret_env"]),
                ))
            })?;
            let store = store_of(p, state_dir).tokens();
            let access = match &t.auth {
                TargetAuth::Agency { company_id, .. } => {
                    ghl_client::auth::agency::Agency::open(&store.vault(), company_id.as_deref(), secret).map(|agency| {
                        Access::Minted {
                            agency,
                            location: t.location_id.clone(),
                        }
                    })
                }
                _ => ghl_client::auth::manager::TokenManager::open(store.vault(), &t.location_id, secret)
                    .map(|m| Access::Stored(Box::new(m))),
            };
            access
                .map(|a| Credentials::OAuth(std::sync::Arc::new(a)))
                .map_err(|e| ConfigError::new(format!("{}: {section}.auth: {e:#}", p.file.display())))
        }
    }
}

/// Checks that OAuth credentials carry the scope a command needs (`contacts.write` to run,
/// `contacts.readonly` — or write — to validate and plan). Tokens always pass: their scopes are
/// not visible to the client.
pub(crate) async fn check_scope(
    creds: &Credentials,
    location: &str,
    need: &str,
    what: &str,
) -> anyhow::Result<()> {
    let Credentials::OAuth(m) = creds else {
        return Ok(());
    };
    // A token refused (not installed, no grant) is for the user to set up: exit 2. An API
    // that cannot be reached is not: exit 1.
    let scopes = m.scopes().await.map_err(|e| match e {
        ghl_client::auth::oauth::AuthError::Transport(_) => {
            anyhow::anyhow!("location {location}: {e}; {what} needs {need}")
        }
        _ => ConfigError::new(format!("location {location}: {e}; {what} needs {need}")).into(),
    })?;
    let ok = scopes.iter().any(|s| {
        s == need || (need == ghl_client::auth::SCOPE_READ && s == ghl_client::auth::SCOPE_WRITE)
    });
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(format!(
            "the OAuth grant of location {location} has scopes [{}]; {what} needs {need}: log in again asking \
             for it, e.g. `ghl-import auth login --location {location} --scope contacts.readonly --scope contacts.write …`",
            scopes.join(", ")
        ))
        .into())
    }
}

/// The embedded API of a rehearsal (`--sandbox`) for `locations`, started as the command says.
pub(crate) async fn rehearse(
    opts: &RunOptions,
    locations: Vec<String>,
) -> anyhow::Result<Box<dyn crate::options::Rehearsal>> {
    let start = opts
        .rehearsal
        .ok_or_else(|| anyhow::anyhow!("--sandbox: this command cannot start a rehearsal"))?;
    start(locations, opts.seed_contacts).await
}

/// The pipeline's store: `--state-dir`, else `.ghl-import` beside the pipeline file.
pub(crate) fn store_of(p: &Pipeline, state_dir: Option<&std::path::Path>) -> crate::store::Store {
    crate::store::Store::of_pipeline(state_dir, &p.file)
}

/// A client for one location with the pipeline's rate limit, retry policy and timeout, and a
/// throttle of its own.
pub(crate) fn client_for(
    p: &Pipeline,
    base_url: reqwest::Url,
    credentials: Credentials,
) -> anyhow::Result<ghl_client::client::GhlClient> {
    use ghl_client::client::{ClientConfig, GhlClient};
    use ghl_client::ratelimit::Throttle;
    use ghl_client::retry::RetryPolicy;
    use std::time::Duration;
    let throttle = std::sync::Arc::new(Throttle::new(p.load.rate_limit.cap()));
    GhlClient::new(
        ClientConfig {
            base_url,
            timeout: Duration::from_secs(p.load.timeout_secs.get()),
            connect_timeout: Duration::from_secs(p.load.connect_timeout_secs.get()),
            max_wait: Duration::from_secs(p.load.rate_limit.max_wait_secs.get()),
            retry: RetryPolicy {
                max_attempts: p.load.retry.max_attempts.get(),
                base: Duration::from_millis(p.load.retry.base_delay_ms),
                cap: Duration::from_millis(p.load.retry.max_delay_ms),
            },
        },
        credentials,
        throttle,
    )
}

/// Every API endpoint the pipeline talks to: (`section`, target) for the GHL source and target.
pub(crate) fn apis(p: &Pipeline) -> Vec<(&'static str, &Target)> {
    let mut v = Vec::new();
    if let crate::config::Source::Ghl(g) = &p.source {
        v.push(("source", &g.api));
    }
    if let Some(t) = &p.target {
        v.push(("target", t));
    }
    v
}
