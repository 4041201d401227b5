//! `ghl-import sandbox`: the embedded emulator as a standalone server, for rehearsals and tests.

use ghl_sandbox::{Sandbox, SandboxConfig};

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
