//! The subcommands, one file each: a command's arguments → the engine (or `serve`) → its exit
//! code. Nothing below imports from here.

pub mod auth;
mod docs;
pub mod init;
pub mod preview;
mod report;
pub mod retry_rejects;
pub mod rollback;
pub mod run;
pub mod runs;
pub mod sandbox;
mod serve;
pub mod validate;

use crate::cli::Command;
use crate::error::Exit;

/// Runs one command.
pub async fn dispatch(command: Command) -> anyhow::Result<Exit> {
    match command {
        c @ Command::Run { .. } => run::cmd(c).await,
        c @ Command::RetryRejects { .. } => retry_rejects::cmd(c).await,
        c @ Command::Validate { .. } => validate::cmd(c).await,
        c @ Command::Preview { .. } => preview::cmd(c).await,
        c @ Command::Serve { .. } => serve::cmd(c).await,
        c @ (Command::Completions { .. } | Command::Man) => docs::cmd(c),
        Command::Report { run } => report::cmd(&run),
        c @ Command::Runs { .. } => runs::cmd(c),
        Command::Rollback {
            run,
            state_dir,
            created_only,
        } => rollback::rollback(&run, state_dir.as_deref(), created_only).await,
        Command::Auth(cmd) => auth::auth(cmd).await,
        Command::Init {
            input,
            query,
            out,
            sample,
            force,
        } => init::init(&init::InitOptions {
            input,
            query,
            out,
            sample,
            force,
        }),
        Command::Sandbox(args) => sandbox::cmd(args).await,
    }
}
