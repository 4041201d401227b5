//! Stop signals: SIGINT (Ctrl-C) and SIGTERM (what cron, systemd, Docker and Kubernetes send)
//! both ask a run to stop taking rows, let requests in flight end within a grace period, and
//! write complete reports. A second signal ends the process at once.

/// Which signal arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM.
    Terminate,
}

impl Signal {
    /// The name users know it by.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "Ctrl-C (SIGINT)",
            Signal::Terminate => "SIGTERM",
        }
    }

    /// The exit code of a process killed by this signal (128 + its number).
    pub fn exit_code(self) -> i32 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }
}

/// Waits for the next SIGINT or SIGTERM. Pending forever when no handler can be installed.
pub async fn next() -> Signal {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = int.recv() => Signal::Interrupt,
            _ = term.recv() => Signal::Terminate,
        }
    }
    #[cfg(not(unix))]
    {
        match tokio::signal::ctrl_c().await {
            Ok(()) => Signal::Interrupt,
            Err(_) => std::future::pending().await,
        }
    }
}

/// Watches for stop signals for the length of a run: the first calls `on_first` (which stops
/// the run), the second exits the process. Abort the returned task when the run ends.
pub fn watch(on_first: impl FnOnce(Signal) + Send + 'static) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let first = next().await;
        crate::extract::interrupt();
        crate::progress::warning(&format!(
            "{}: no new rows are sent; finishing requests in flight (at most {} s) and writing the reports \
             (send it again to exit at once)",
            first.name(),
            super::rows::GRACE.as_secs()
        ));
        on_first(first);
        let second = next().await;
        crate::progress::warning(&format!(
            "{}: exiting now; the reports are incomplete",
            second.name()
        ));
        std::process::exit(second.exit_code());
    })
}
