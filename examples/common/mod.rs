//! What the benchmarks share.

use std::path::{Path, PathBuf};

/// The `ghl-import` binary built beside this example (`cargo build --release` first).
pub fn release_binary() -> anyhow::Result<PathBuf> {
    std::env::current_exe()?
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("ghl-import"))
        .filter(|p| p.exists())
        .ok_or_else(|| anyhow::anyhow!("build the binary first: cargo build --release"))
}
