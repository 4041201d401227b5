//! `run`: a pipeline, with its options; the engine does the rest.

use crate::cli::Command;
use crate::error::Exit;

/// `run PIPELINE`.
pub async fn cmd(c: Command) -> anyhow::Result<Exit> {
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
    crate::engine::run(crate::options::RunOptions {
        pipeline,
        sandbox,
        rehearsal: sandbox.then_some(super::sandbox::rehearsal as crate::options::StartRehearsal),
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
        json: format == crate::options::Format::Json,
        part_of: None,
        source_shown: None,
        only_location: None,
        shard: None,
    })
    .await
}
