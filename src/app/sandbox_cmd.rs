//! `ghl-import sandbox`: the embedded emulator as a standalone server, for rehearsals and tests.

use std::time::Duration;

use crate::sandbox::{Fault, Sandbox, SandboxConfig};

/// Options of the `sandbox` command.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Port (0 = any free port).
    pub port: u16,
    /// Locations.
    pub locations: Vec<String>,
    /// Fixed token, or random.
    pub token: Option<String>,
    /// Requests per interval.
    pub rate_max: u32,
    /// Interval in ms.
    pub rate_interval_ms: u64,
    /// Daily allowance.
    pub daily_limit: u64,
    /// Scripted faults.
    pub faults: Vec<Fault>,
    /// Allow duplicate contacts.
    pub allow_duplicates: bool,
}

/// Runs the sandbox until Ctrl-C. Prints its URL and token on stdout (one `key=value` per line,
/// so scripts can read them), flushed before serving.
pub async fn sandbox(opts: SandboxOptions) -> anyhow::Result<()> {
    let sb = Sandbox::start(SandboxConfig {
        port: opts.port,
        locations: opts.locations.clone(),
        token: opts.token,
        allow_duplicates: opts.allow_duplicates,
        rate_max: opts.rate_max,
        rate_interval: Duration::from_millis(opts.rate_interval_ms),
        daily_limit: opts.daily_limit,
        faults: opts.faults,
    })
    .await
    .map_err(|e| anyhow::anyhow!("cannot start the sandbox on 127.0.0.1:{}: {e}", opts.port))?;
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(out, "base_url={}", sb.base_url())?;
        writeln!(out, "token={}", sb.token())?;
        writeln!(out, "locations={}", opts.locations.join(","))?;
        out.flush()?;
    }
    eprintln!(
        "GHL sandbox listening on {} (rate limit {} / {} ms). Point a pipeline's target.base_url at it, \
         export the token above in its token_env variable, and press Ctrl-C to stop.",
        sb.base_url(),
        opts.rate_max,
        opts.rate_interval_ms
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
