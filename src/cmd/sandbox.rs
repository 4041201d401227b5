//! `ghl-import sandbox`: the embedded emulator as a standalone server, for rehearsals and tests.

use std::time::Duration;

use ghl_sandbox::{Sandbox, SandboxConfig};

use crate::cli::SandboxArgs;
use crate::error::Exit;
use crate::options::{Rehearsal, SharedApi};
use anyhow::Context;

/// `sandbox` from its arguments.
pub async fn cmd(args: SandboxArgs) -> anyhow::Result<Exit> {
    sandbox(args.try_into()?).await.map(|()| Exit::Ok)
}

/// The embedded sandbox as a run's [`Rehearsal`] (`run --sandbox`, `retry-rejects` of a
/// rehearsal).
pub fn rehearsal(
    locations: Vec<String>,
    seed: usize,
) -> futures::future::BoxFuture<'static, anyhow::Result<Box<dyn Rehearsal>>> {
    Box::pin(async move {
        let sb = Sandbox::start(SandboxConfig {
            seed: match seed {
                0 => Vec::new(),
                n => ghl_sandbox::synthetic_seed(&locations, n),
            },
            locations,
            ..SandboxConfig::default()
        })
        .await
        .context("starting the embedded sandbox")?;
        let api = SharedApi {
            base_url: reqwest::Url::parse(&sb.base_url()).context("the sandbox's URL")?,
            token: sb.token().to_owned(),
        };
        Ok(Box::new(Embedded { sb, api }) as Box<dyn Rehearsal>)
    })
}

/// A started sandbox and its address.
struct Embedded {
    sb: Sandbox,
    api: SharedApi,
}

impl Rehearsal for Embedded {
    fn api(&self) -> SharedApi {
        self.api.clone()
    }

    fn contacts(&self, location: &str) -> Vec<ghl_client::types::Contact> {
        self.sb.contacts(location)
    }
}

/// Runs the sandbox until Ctrl-C. Prints its URL, token and locations on stdout (one `key=value`
/// per line, so scripts can read them), flushed before serving.
pub async fn sandbox(cfg: SandboxConfig) -> anyhow::Result<()> {
    let (port, locations, max, interval) = (
        cfg.port,
        cfg.locations.join(","),
        cfg.rate_max,
        cfg.rate_interval,
    );
    let sb = Sandbox::start(cfg)
        .await
        .map_err(|e| anyhow::anyhow!("cannot start the sandbox on 127.0.0.1:{port}: {e}"))?;
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(out, "base_url={}", sb.base_url())?;
        writeln!(out, "token={}", sb.token())?;
        writeln!(out, "locations={locations}")?;
        out.flush()?;
    }
    eprintln!(
        "GHL sandbox listening on {} (rate limit {max} / {} ms). Point a pipeline's target.base_url at it, \
         export the token above in its token_env variable, and press Ctrl-C to stop.",
        sb.base_url(),
        interval.as_millis()
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}

impl TryFrom<SandboxArgs> for SandboxConfig {
    type Error = anyhow::Error;

    fn try_from(a: SandboxArgs) -> anyhow::Result<Self> {
        let mut seed = match &a.seed {
            Some(path) => ghl_sandbox::read_seed_file(path)
                .map_err(|e| crate::error::ConfigError::new(e.to_string()))?,
            None => Vec::new(),
        };
        if a.seed_contacts > 0 {
            seed.extend(ghl_sandbox::synthetic_seed(&a.locations, a.seed_contacts));
        }
        Ok(SandboxConfig {
            port: a.port,
            locations: a.locations,
            token: a.token,
            allow_duplicates: a.allow_duplicates,
            rate_max: a.rate_max,
            rate_interval: Duration::from_millis(a.rate_interval_ms),
            daily_limit: a.daily_limit,
            other_app_requests: a.other_app_requests,
            search_lag: Duration::from_millis(a.search_lag_ms),
            oauth: ghl_sandbox::oauth::OAuthConfig {
                client_id: a.oauth_client_id,
                client_secret: a.oauth_client_secret,
                access_ttl: Duration::from_secs(a.access_token_ttl_secs),
            },
            faults: a.faults,
            seed,
        })
    }
}
