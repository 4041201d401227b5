//! `ghl-import auth login | status | logout`.

use secrecy::SecretString;

use crate::auth::login::{login, LoginOptions};
use crate::auth::oauth::{OAuthApp, AUTHORIZE_URL};
use crate::auth::store::{now, TokenStore};
use crate::cli::AuthCommand;
use crate::error::{ConfigError, Exit};

/// Runs an auth subcommand.
pub async fn auth(cmd: AuthCommand) -> anyhow::Result<Exit> {
    match cmd {
        AuthCommand::Login {
            client_id,
            client_secret_env,
            scopes,
            location,
            base_url,
            authorize_url,
            port,
            no_browser,
            state_dir,
        } => {
            let secret = std::env::var(&client_secret_env)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(|v| SecretString::from(v.trim().to_owned()))
                .ok_or_else(|| {
                    ConfigError::new(format!(
                        "--client-secret-env: environment variable `{client_secret_env}` is not set; export the \
                         OAuth app's client secret in it"
                    ))
                })?;
            let base = reqwest::Url::parse(&base_url)
                .map_err(|e| ConfigError::new(format!("--base-url `{base_url}`: {e}")))?;
            let base = base.as_str().trim_end_matches('/').to_owned();
            let authorize_url = authorize_url.unwrap_or_else(|| {
                if base == crate::config::DEFAULT_BASE_URL {
                    AUTHORIZE_URL.to_owned()
                } else {
                    format!("{base}/oauth/chooselocation")
                }
            });
            let scopes = if scopes.is_empty() {
                vec![
                    crate::auth::SCOPE_READ.to_owned(),
                    crate::auth::SCOPE_WRITE.to_owned(),
                ]
            } else {
                scopes
            };
            let store = TokenStore::new(state_dir.as_deref());
            let t = login(LoginOptions {
                app: OAuthApp {
                    client_id,
                    client_secret: secret,
                    authorize_url,
                    token_url: format!("{base}/oauth/token"),
                },
                scopes,
                location,
                port,
                headless: no_browser,
                store: store.clone(),
            })
            .await?;
            println!(
                "logged in: location {}, scopes {}, access token valid for {} min; tokens in {}",
                t.location_id,
                t.scopes.join(" "),
                (t.expires_at - now()).max(0) / 60,
                store.path(&t.location_id).display()
            );
            Ok(Exit::Ok)
        }
        AuthCommand::Status {
            location,
            state_dir,
            format,
        } => {
            let store = TokenStore::new(state_dir.as_deref());
            let locations = match location {
                Some(l) => vec![l],
                None => store.locations(),
            };
            if format == crate::cli::Format::Json {
                return status_json(&store, &locations);
            }
            if locations.is_empty() {
                println!("no stored tokens in {}", store.dir().display());
                return Ok(Exit::Ok);
            }
            let mut missing = false;
            for l in locations {
                match store.load(&l)? {
                    Some(t) => {
                        let left = t.expires_at - now();
                        let expiry = if left > 0 {
                            format!(
                                "access token expires in {} h {} min",
                                left / 3600,
                                left % 3600 / 60
                            )
                        } else {
                            "access token expired (the next run refreshes it)".to_owned()
                        };
                        println!(
                            "{}: client {}, scopes {}; {expiry}; file {}",
                            t.location_id,
                            t.client_id,
                            t.scopes.join(" "),
                            store.path(&l).display()
                        );
                    }
                    None => {
                        missing = true;
                        println!("{l}: no stored tokens in {}", store.dir().display());
                    }
                }
            }
            Ok(if missing { Exit::Config } else { Exit::Ok })
        }
        AuthCommand::Logout {
            location,
            state_dir,
        } => {
            let store = TokenStore::new(state_dir.as_deref());
            if store.remove(&location)? {
                println!(
                    "removed the tokens of {location} (revoke the app's access in GHL to end the grant itself)"
                );
                Ok(Exit::Ok)
            } else {
                println!("{location}: no stored tokens in {}", store.dir().display());
                Ok(Exit::Config)
            }
        }
    }
}

/// `auth status --format json`: each location's grant (client, scopes, expiry, file), never a
/// token; a location asked for and not stored is `{"location", "stored": false}` (exit 2).
fn status_json(store: &TokenStore, locations: &[String]) -> anyhow::Result<Exit> {
    let mut missing = false;
    let mut grants = Vec::new();
    for l in locations {
        match store.load(l)? {
            Some(t) => grants.push(serde_json::json!({
                "location": t.location_id,
                "stored": true,
                "client_id": t.client_id,
                "scopes": t.scopes,
                "expires_at": t.expires_at,
                "expired": t.expires_at <= now(),
                "file": store.path(l).display().to_string(),
            })),
            None => {
                missing = true;
                grants.push(serde_json::json!({"location": l, "stored": false}));
            }
        }
    }
    let doc = serde_json::json!({
        "version": 1,
        "store": store.dir().display().to_string(),
        "grants": grants,
    });
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(if missing { Exit::Config } else { Exit::Ok })
}
