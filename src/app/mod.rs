//! Commands: the build and run phases that connect config, extract, transform, load and report.

mod run;
mod sandbox_cmd;
mod validate;

pub use run::{run, RunOptions};
pub use sandbox_cmd::sandbox;
pub use validate::validate;

use secrecy::SecretString;

use crate::config::Pipeline;
use crate::error::ConfigError;

/// Reads the token from the variable the pipeline names. A missing variable is a configuration
/// error naming the variable and the key that references it; the value is never printed.
pub(crate) fn token_from_env(p: &Pipeline) -> Result<SecretString, ConfigError> {
    match std::env::var(&p.target.token_env) {
        Ok(v) if !v.trim().is_empty() => Ok(SecretString::from(v.trim().to_owned())),
        _ => Err(ConfigError::new(format!(
            "{}: target.auth.token_env: environment variable `{}` is not set; export it with your \
             Private Integration Token (Settings → Private Integrations), or run with --sandbox",
            p.file.display(),
            p.target.token_env
        ))),
    }
}
