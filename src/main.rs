//! The `ghl-import` binary: parse the command line, call into the library, map the result to
//! a documented exit code (0 ok, 3 rows rejected, 2 configuration error, 1 fatal).

use std::process::ExitCode;

use clap::Parser;
use ghl_import::cli::{Cli, Command, LogFormat};
use ghl_import::error::{exit_code_for, Exit};

/// mimalloc: rows are allocated on the transform threads and freed on the writer's, the case
/// where glibc's allocator spends most (a fifth of a CSV sink run's instructions went to it).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Reports, journals, exports and tokens hold customer data: whatever this process creates is
    // readable by its owner only (0600 files, 0700 folders).
    #[cfg(unix)]
    // SAFETY: umask only sets the process's file-creation mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
    let cli = Cli::parse();
    let serving = matches!(cli.command, Command::Serve { .. });
    // A closed stdout (`ghl-import runs | head -1`) ends a command quietly, as for any Unix
    // tool, instead of a panic on the broken pipe. `serve` keeps running whatever its output.
    #[cfg(unix)]
    if !serving {
        // SAFETY: resetting a signal's disposition to its default has no other effect.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    init_tracing(cli.verbose, cli.log_format);
    ghl_import::progress::set_json_logs(cli.log_format == LogFormat::Json);
    // Outside `serve`, a failed command's error is printed once, by `report_error` below.
    ghl_import::progress::set_errors_printed_by_caller(!serving);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Exit::Fatal.into();
        }
    };
    match rt.block_on(ghl_import::cmd::dispatch(cli.command)) {
        Ok(code) => code.into(),
        Err(e) => {
            report_error(&e);
            exit_code_for(&e).into()
        }
    }
}

/// A failed command's error on stderr: `{:#}` prints the whole context chain; a JSON log line
/// with `--log-format json`.
fn report_error(e: &anyhow::Error) {
    if ghl_import::progress::json_logs() {
        tracing::error!(error = %ghl_import::error::in_words(e), "The command failed.");
    } else {
        eprintln!("error: {}", ghl_import::error::in_words(e));
    }
}

fn init_tracing(verbose: u8, format: LogFormat) {
    let json = format == LogFormat::Json;
    // JSON logs are for unattended runs: the run's start and end (info) are what they are for.
    let default = match (verbose, json) {
        (0, false) => "warn",
        (0, true) | (1, _) => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colour only for a person at a terminal who has not asked for none.
    use std::io::IsTerminal as _;
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.try_init()
    };
}
