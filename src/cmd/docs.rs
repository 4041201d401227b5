//! `completions <shell>` and `man`, generated from the argument parser.

use crate::cli::{Cli, Command};
use crate::error::Exit;

/// `completions <shell>` and `man`, from the argument parser.
pub fn cmd(c: Command) -> anyhow::Result<Exit> {
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
