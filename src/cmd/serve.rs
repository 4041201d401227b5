//! `serve DIR`: a folder of pipelines run on their schedules and inboxes (`crate::serve`).

use crate::cli::Command;
use crate::error::Exit;

/// `serve`.
pub async fn cmd(c: Command) -> anyhow::Result<Exit> {
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
    crate::serve::serve(crate::options::ServeOptions {
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
