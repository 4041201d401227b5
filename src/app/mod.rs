//! Commands: the build and run phases that connect config, extract, transform, load and report.

mod init;
mod output;
mod rollback;
mod run;
mod sandbox_cmd;
mod validate;

pub use init::{init, InitOptions};
pub use rollback::rollback;
pub use run::{run, RunOptions};
pub use sandbox_cmd::sandbox;
pub use validate::validate;

use secrecy::SecretString;

use crate::config::{Pipeline, Target};
use crate::error::ConfigError;

/// Reads the token from the variable a target (or GHL source, `section`) names. A missing
/// variable is a configuration error naming the variable and the key that references it; the
/// value is never printed.
pub(crate) fn token_from_env(
    p: &Pipeline,
    section: &str,
    t: &Target,
) -> Result<SecretString, ConfigError> {
    match std::env::var(&t.token_env) {
        Ok(v) if !v.trim().is_empty() => Ok(SecretString::from(v.trim().to_owned())),
        _ => Err(ConfigError::new(format!(
            "{}: {section}.auth.token_env: environment variable `{}` is not set; export it with a \
             Private Integration Token of location {} (Settings → Private Integrations), or run with --sandbox",
            p.file.display(),
            t.token_env,
            t.location_id
        ))),
    }
}

/// Run options that re-run a finished run's pipeline on its rejected.csv.
pub fn retry_rejects_options(run_dir: &std::path::Path) -> anyhow::Result<RunOptions> {
    let summary_path = run_dir.join(crate::report::SUMMARY_JSON);
    let text = std::fs::read_to_string(&summary_path).map_err(|e| {
        ConfigError::new(format!(
            "cannot read {}: {e} (is {} a run's output folder?)",
            summary_path.display(),
            run_dir.display()
        ))
    })?;
    let summary: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| ConfigError::new(format!("{}: {e}", summary_path.display())))?;
    let pipeline = summary["pipeline_file"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ConfigError::new(format!("{} names no pipeline_file", summary_path.display()))
        })?;
    let rejected = run_dir.join(crate::report::REJECTED_CSV);
    if !rejected.exists() {
        return Err(ConfigError::new(format!("{} does not exist", rejected.display())).into());
    }
    Ok(RunOptions {
        pipeline: pipeline.into(),
        source_override: Some(rejected),
        ..Default::default()
    })
}

/// A client for one location with the pipeline's rate limit, retry policy and timeout, and a
/// throttle of its own.
pub(crate) fn client_for(
    p: &Pipeline,
    base_url: reqwest::Url,
    token: &SecretString,
) -> anyhow::Result<crate::ghl::client::GhlClient> {
    use crate::ghl::client::{ClientConfig, GhlClient};
    use crate::ghl::ratelimit::{Limit, Throttle};
    use crate::ghl::retry::RetryPolicy;
    use std::time::Duration;
    let throttle = std::sync::Arc::new(Throttle::new(Limit {
        max: p.load.rate_limit.max_requests,
        interval: Duration::from_millis(p.load.rate_limit.interval_ms.get()),
    }));
    GhlClient::new(
        ClientConfig {
            base_url,
            timeout: Duration::from_secs(p.load.timeout_secs.get()),
            retry: RetryPolicy {
                max_attempts: p.load.retry.max_attempts.get(),
                base: Duration::from_millis(p.load.retry.base_delay_ms),
                cap: Duration::from_millis(p.load.retry.max_delay_ms),
            },
        },
        token,
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
