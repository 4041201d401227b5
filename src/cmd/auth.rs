//! `ghl-import auth login | status | logout`.

use secrecy::SecretString;

mod login;

use self::login::{login, LoginOptions};
use crate::cli::AuthCommand;
use crate::error::{ConfigError, Exit};
use crate::store::tokens::{TokenStore, Tokens, UserType};
use ghl_client::auth::agency::{Agency, InstalledLocation};
use ghl_client::auth::oauth::{OAuthApp, AUTHORIZE_URL};
use ghl_client::auth::tokens::{agency_key, now};

/// Runs an auth subcommand.
pub async fn auth(cmd: AuthCommand) -> anyhow::Result<Exit> {
    match cmd {
        c @ AuthCommand::Login { .. } => login_cmd(c).await,
        c @ AuthCommand::Status { .. } => status_cmd(c).await,
        c @ AuthCommand::Logout { .. } => logout_cmd(c),
    }
}

/// `auth login`: the code flow for a location or (`--agency`) an agency, then the store.
async fn login_cmd(c: AuthCommand) -> anyhow::Result<Exit> {
    let AuthCommand::Login {
        client_id,
        client_secret_env,
        scopes,
        location,
        agency,
        app_id,
        base_url,
        authorize_url,
        port,
        no_browser,
        state_dir,
    } = c
    else {
        unreachable!("auth passes login only")
    };
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
    let kind = if agency {
        UserType::Company
    } else {
        UserType::Location
    };
    let scopes = if scopes.is_empty() {
        let mut v = vec![
            ghl_client::auth::SCOPE_READ.to_owned(),
            ghl_client::auth::SCOPE_WRITE.to_owned(),
        ];
        if agency {
            v.extend(["oauth.readonly".to_owned(), "oauth.write".to_owned()]);
        }
        v
    } else {
        scopes
    };
    let app_id = match (agency, app_id) {
        (false, _) => None,
        (true, Some(a)) => Some(a),
        (true, None) => Some(
            client_id
                .split_once('-')
                .map_or(client_id.as_str(), |(a, _)| a)
                .to_owned(),
        ),
    };
    let store = crate::store::Store::tokens_of(state_dir.as_deref());
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
        kind,
        app_id,
    })
    .await?;
    println!(
        "logged in: {}, scopes {}, access token valid for {} min; tokens in {}",
        subject(&t),
        t.scopes.join(" "),
        (t.expires_at - now()).max(0) / 60,
        store.path(&t.key()).display()
    );
    if agency {
        println!(
            "pipelines use it with `target.auth.agency: {{client_secret_env: {client_secret_env}}}`; \
             `ghl-import auth status` lists the locations it covers"
        );
    }
    Ok(Exit::Ok)
}

/// `auth status`: each stored grant, and the locations each agency grant covers.
async fn status_cmd(c: AuthCommand) -> anyhow::Result<Exit> {
    let AuthCommand::Status {
        location,
        client_secret_env,
        state_dir,
        format,
    } = c
    else {
        unreachable!("auth passes status only")
    };
    let store = crate::store::Store::tokens_of(state_dir.as_deref());
    let (locations, agencies) = match location {
        Some(l) => (vec![l], Vec::new()),
        None => (store.locations(), store.agencies()),
    };
    let secret = std::env::var(&client_secret_env).unwrap_or_default();
    let mut covered = Vec::new();
    for company in &agencies {
        covered.push(agency_locations(&store, company, &secret).await);
    }
    if format == crate::cli::Format::Json {
        return status_json(&store, &locations, &agencies, &covered);
    }
    if locations.is_empty() && agencies.is_empty() {
        println!("no stored tokens in {}", store.dir().display());
        return Ok(Exit::Ok);
    }
    let mut missing = false;
    for (company, listed) in agencies.iter().zip(&covered) {
        if let Some(t) = store.load(&agency_key(company))? {
            println!("{}", grant_line(&t, &store));
            match listed {
                Ok(ls) => {
                    println!("  covers {} installed location(s):", ls.len());
                    for l in ls {
                        println!("    {}  {}", l.id, l.name);
                    }
                }
                Err(e) => println!("  installed locations unknown: {e}"),
            }
        }
    }
    for l in locations {
        match store.load(&l)? {
            Some(t) => println!("{}", grant_line(&t, &store)),
            None => {
                missing = true;
                println!("{l}: no stored tokens in {}", store.dir().display());
            }
        }
    }
    Ok(if missing { Exit::Config } else { Exit::Ok })
}

/// `auth logout`: a location's tokens, or an agency's grant, removed from the store.
fn logout_cmd(c: AuthCommand) -> anyhow::Result<Exit> {
    let AuthCommand::Logout {
        location,
        agency,
        state_dir,
    } = c
    else {
        unreachable!("auth passes logout only")
    };
    let store = crate::store::Store::tokens_of(state_dir.as_deref());
    let (key, what) = match (location, agency) {
        (_, Some(c)) => (agency_key(&c), format!("agency {c}")),
        (Some(l), None) => (l.clone(), l),
        (None, None) => unreachable!("clap requires --location or --agency"),
    };
    if store.remove(&key)? {
        println!(
            "removed the tokens of {what} (revoke the app's access in GHL to end the grant itself)"
        );
        Ok(Exit::Ok)
    } else {
        println!("{what}: no stored tokens in {}", store.dir().display());
        Ok(Exit::Config)
    }
}

/// "location L" or "agency C".
fn subject(t: &Tokens) -> String {
    match t.user_type {
        UserType::Location => format!("location {}", t.location_id),
        UserType::Company => format!(
            "agency {} (app {})",
            t.company_id.as_deref().unwrap_or("?"),
            t.app_id.as_deref().unwrap_or("?")
        ),
    }
}

/// One stored grant for people: whose, client, scopes, expiry, file.
fn grant_line(t: &Tokens, store: &TokenStore) -> String {
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
    format!(
        "{}: client {}, scopes {}; {expiry}; file {}",
        subject(t),
        t.client_id,
        t.scopes.join(" "),
        store.path(&t.key()).display()
    )
}

/// The locations an agency grant covers, asked of the API (its token refreshed with the
/// client secret when there is one).
async fn agency_locations(
    store: &TokenStore,
    company: &str,
    secret: &str,
) -> Result<Vec<InstalledLocation>, String> {
    let agency = Agency::open(
        &store.vault(),
        Some(company),
        SecretString::from(secret.to_owned()),
    )
    .map_err(|e| format!("{e:#}"))?;
    agency
        .installed_locations(None)
        .await
        .map_err(|e| e.to_string())
}

/// `auth status --format json`: each location's grant (client, scopes, expiry, file), never a
/// token; a location asked for and not stored is `{"location", "stored": false}` (exit 2).
fn status_json(
    store: &TokenStore,
    locations: &[String],
    agencies: &[String],
    covered: &[Result<Vec<InstalledLocation>, String>],
) -> anyhow::Result<Exit> {
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
    let mut agency_docs = Vec::new();
    for (company, listed) in agencies.iter().zip(covered) {
        let Some(t) = store.load(&agency_key(company))? else {
            continue;
        };
        agency_docs.push(serde_json::json!({
            "company_id": company,
            "app_id": t.app_id,
            "client_id": t.client_id,
            "scopes": t.scopes,
            "expires_at": t.expires_at,
            "expired": t.expires_at <= now(),
            "file": store.path(&t.key()).display().to_string(),
            "locations": listed.as_ref().ok(),
            "locations_error": listed.as_ref().err(),
        }));
    }
    let doc = serde_json::json!({
        "version": 1,
        "store": store.dir().display().to_string(),
        "grants": grants,
        "agencies": agency_docs,
    });
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(if missing { Exit::Config } else { Exit::Ok })
}
