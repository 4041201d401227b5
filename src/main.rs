//! The `ghl-import` binary: parse the command line, call into the library, map the result to
//! a documented exit code (0 ok, 3 rows rejected, 2 configuration error, 1 fatal).

use std::process::ExitCode;

use clap::Parser;
use ghl_import::app::{self, RunOptions};
use ghl_import::cli::{Cli, Command, Format, LogFormat};
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
    match rt.block_on(dispatch(cli.command)) {
        Ok(code) => code.into(),
        Err(e) => {
            report_error(&e);
            exit_code_for(&e).into()
        }
    }
}

/// Runs one command.
async fn dispatch(command: Command) -> anyhow::Result<Exit> {
    match command {
        c @ Command::Run { .. } => run_cmd(c).await,
        c @ Command::RetryRejects { .. } => retry_rejects_cmd(c).await,
        c @ Command::Validate { .. } => validate_cmd(c).await,
        c @ Command::Preview { .. } => preview_cmd(c).await,
        c @ Command::Serve { .. } => serve_cmd(c).await,
        c @ (Command::Completions { .. } | Command::Man) => generated_docs(c),
        Command::Report { run } => report_cmd(&run),
        Command::Runs {
            action:
                Some(ghl_import::cli::RunsAction::Prune {
                    keep_days,
                    keep_runs,
                    dry_run,
                }),
            pipeline,
            state_dir,
            ..
        } => app::runs_prune(
            pipeline.as_deref(),
            state_dir.as_deref(),
            ghl_import::config::model::Retention {
                days: keep_days,
                runs: keep_runs,
            },
            dry_run,
        ),
        Command::Runs {
            action: None,
            pipeline,
            last,
            kind,
            state_dir,
            format,
            json,
        } => {
            let format = if json { Format::Json } else { format };
            let rehearsals = match kind {
                ghl_import::cli::RunsKind::All => None,
                ghl_import::cli::RunsKind::Real => Some(false),
                ghl_import::cli::RunsKind::Rehearsal => Some(true),
            };
            app::runs(
                pipeline.as_deref(),
                (last, rehearsals),
                state_dir.as_deref(),
                format,
            )
        }
        Command::Rollback {
            run,
            state_dir,
            created_only,
        } => app::rollback(&run, state_dir.as_deref(), created_only).await,
        Command::Auth(cmd) => app::auth(cmd).await,
        Command::Init {
            input,
            out,
            sample,
            force,
        } => app::init(&app::InitOptions {
            input,
            out,
            sample,
            force,
        }),
        Command::Sandbox(args) => app::sandbox(args.try_into()?).await.map(|()| Exit::Ok),
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

async fn run_cmd(c: Command) -> anyhow::Result<Exit> {
    let Command::Run {
        pipeline,
        sandbox,
        out,
        force,
        quiet,
        dry_run,
        full_refresh,
        state_dir,
        seed_contacts,
        format,
    } = c
    else {
        unreachable!("dispatch passes run only")
    };
    app::run(RunOptions {
        pipeline,
        sandbox,
        seed_contacts,
        out,
        quiet,
        full_refresh,
        state_dir,
        dry_run,
        source_override: None,
        retry_scope: None,
        retry_of: None,
        force,
        json: format == Format::Json,
        part_of: None,
        source_shown: None,
        only_location: None,
        shard: None,
    })
    .await
}

async fn retry_rejects_cmd(c: Command) -> anyhow::Result<Exit> {
    let Command::RetryRejects {
        run,
        sandbox,
        out,
        force,
        quiet,
        include,
        state_dir,
    } = c
    else {
        unreachable!("dispatch passes retry-rejects only")
    };
    let scope = app::RetryScope {
        duplicates: include.iter().any(|i| i == "duplicates"),
    };
    let mut opts = app::retry_rejects_options(&run, sandbox, scope)?;
    opts.out = out;
    opts.force = force;
    opts.quiet = quiet;
    opts.state_dir = state_dir;
    app::run(opts).await
}

async fn validate_cmd(c: Command) -> anyhow::Result<Exit> {
    let Command::Validate {
        pipeline,
        sandbox,
        state_dir,
        live,
        format,
    } = c
    else {
        unreachable!("dispatch passes validate only")
    };
    let o = app::ValidateOptions {
        sandbox,
        state_dir: state_dir.as_deref(),
        live,
        json: format == Format::Json,
    };
    Ok(app::validate(&pipeline, o).await)
}

async fn preview_cmd(c: Command) -> anyhow::Result<Exit> {
    let Command::Preview {
        pipeline,
        rows,
        row,
        format,
        live,
        state_dir,
    } = c
    else {
        unreachable!("dispatch passes preview only")
    };
    let o = app::PreviewOptions {
        rows: match row {
            Some(n) => app::PreviewRows::Number(n),
            None => app::PreviewRows::First(rows),
        },
        json: format == Format::Json,
        live,
        state_dir: state_dir.as_deref(),
    };
    app::preview(&pipeline, o).await
}

async fn serve_cmd(c: Command) -> anyhow::Result<Exit> {
    let Command::Serve {
        dir,
        state_dir,
        listen,
        allow_remote,
        max_runs,
        shard,
        once,
    } = c
    else {
        unreachable!("dispatch passes serve only")
    };
    app::serve(app::ServeOptions {
        dir,
        state_dir,
        listen,
        allow_remote,
        max_runs: usize::from(max_runs),
        shard,
        once,
    })
    .await
}

/// `completions <shell>` and `man`, from the argument parser.
fn generated_docs(c: Command) -> anyhow::Result<Exit> {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    match c {
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut cmd, "ghl-import", &mut std::io::stdout())
        }
        _ => clap_mangen::Man::new(cmd)
            .render(&mut std::io::stdout())
            .map_err(|e| anyhow::anyhow!("writing the man page: {e}"))?,
    }
    Ok(Exit::Ok)
}

/// `report <run-dir>`: report.html built again; its path on stdout.
fn report_cmd(run: &std::path::Path) -> anyhow::Result<Exit> {
    let path = ghl_import::report::html::write(run)
        .map_err(|e| ghl_import::error::ConfigError::new(format!("{e:#}")))?;
    println!("{}", path.display());
    Ok(Exit::Ok)
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
