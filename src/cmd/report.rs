//! `report RUN_DIR`: report.html written again from the folder's files.

use crate::error::Exit;

/// `report <run-dir>`: report.html built again; its path on stdout.
pub fn cmd(run: &std::path::Path) -> anyhow::Result<Exit> {
    let path = crate::report::html::write(run)
        .map_err(|e| crate::error::ConfigError::new(format!("{e:#}")))?;
    println!("{}", path.display());
    Ok(Exit::Ok)
}
