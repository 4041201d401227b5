//! The `ghl-import` binary: parse the command line, call into the library, map the result to
//! a documented exit code (0 ok, 3 rows rejected, 2 configuration error, 1 fatal).

use std::process::ExitCode;

use clap::Parser;
use ghl_import::app::{self, RunOptions};
use ghl_import::cli::{Cli, Command};
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
    init_tracing(cli.verbose, cli.log_format);
    ghl_import::progress::set_json_logs(cli.log_format == ghl_import::cli::LogFormat::Json);
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
    let result: anyhow::Result<Exit> = rt.block_on(async {
        match cli.command {
            Command::Run {
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
            } => {
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
                    force,
                    json: format == ghl_import::cli::Format::Json,
                })
                .await
            }
            Command::Validate {
                pipeline,
                sandbox,
                state_dir,
                live,
                format,
            } => Ok(app::validate(
                &pipeline,
                app::ValidateOptions {
                    sandbox,
                    state_dir: state_dir.as_deref(),
                    live,
                    json: format == ghl_import::cli::Format::Json,
                },
            )
            .await),
            Command::Serve {
                dir,
                state_dir,
                listen,
                allow_remote,
                max_runs,
                shard,
                once,
            } => {
                app::serve(app::ServeOptions {
                    dir,
                    state_dir,
                    listen,
                    allow_remote,
                    max_runs: max_runs as usize,
                    shard,
                    once,
                })
                .await
            }
            Command::Preview {
                pipeline,
                rows,
                row,
                format,
                live,
                state_dir,
            } => {
                app::preview(
                    &pipeline,
                    app::PreviewOptions {
                        rows: match row {
                            Some(n) => app::PreviewRows::Number(n),
                            None => app::PreviewRows::First(rows),
                        },
                        json: format == ghl_import::cli::Format::Json,
                        live,
                        state_dir: state_dir.as_deref(),
                    },
                )
                .await
            }
            Command::Completions { shell } => {
                let mut cmd = <Cli as clap::CommandFactory>::command();
                clap_complete::generate(shell, &mut cmd, "ghl-import", &mut std::io::stdout());
                Ok(ghl_import::error::Exit::Ok)
            }
            Command::Man => {
                let cmd = <Cli as clap::CommandFactory>::command();
                match clap_mangen::Man::new(cmd).render(&mut std::io::stdout()) {
                    Ok(()) => Ok(ghl_import::error::Exit::Ok),
                    Err(e) => Err(anyhow::anyhow!("writing the man page: {e}")),
                }
            }
            Command::Report { run } => match ghl_import::report::html::write(&run) {
                Ok(path) => {
                    println!("{}", path.display());
                    Ok(ghl_import::error::Exit::Ok)
                }
                Err(e) => Err(ghl_import::error::ConfigError::new(format!("{e:#}")).into()),
            },
            Command::Runs {
                pipeline,
                last,
                state_dir,
                format,
                json,
            } => {
                let format = if json {
                    ghl_import::cli::Format::Json
                } else {
                    format
                };
                app::runs(pipeline.as_deref(), last, state_dir.as_deref(), format)
            }
            Command::Rollback {
                run,
                state_dir,
                created_only,
            } => app::rollback(&run, state_dir.as_deref(), created_only).await,
            Command::Auth(cmd) => app::auth(cmd).await,
            Command::RetryRejects {
                run,
                sandbox,
                out,
                force,
                quiet,
                include,
            } => match app::retry_rejects_options(
                &run,
                sandbox,
                app::RetryScope {
                    duplicates: include.iter().any(|i| i == "duplicates"),
                },
            ) {
                Ok(mut opts) => {
                    opts.out = out;
                    opts.force = force;
                    opts.quiet = quiet;
                    app::run(opts).await
                }
                Err(e) => Err(e),
            },
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
            Command::Sandbox(args) => match args.try_into() {
                Ok(cfg) => app::sandbox(cfg).await.map(|()| Exit::Ok),
                Err(e) => Err(e),
            },
        }
    });
    match result {
        Ok(code) => code.into(),
        Err(e) => {
            // `{:#}` prints the whole context chain on one line per cause.
            if ghl_import::progress::json_logs() {
                tracing::error!(error = %format!("{e:#}"), "The command failed.");
            } else {
                eprintln!("error: {e:#}");
            }
            exit_code_for(&e).into()
        }
    }
}

fn init_tracing(verbose: u8, format: ghl_import::cli::LogFormat) {
    let json = format == ghl_import::cli::LogFormat::Json;
    // JSON logs are for unattended runs: the run's start and end (info) are what they are for.
    let default = match (verbose, json) {
        (0, false) => "warn",
        (0, true) | (1, _) => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
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
