//! Commands: the build and run phases that connect config, extract, transform, load and report.

mod init;
mod run;
mod sandbox_cmd;
mod validate;

pub use init::{init, InitOptions};
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
