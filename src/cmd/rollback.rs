//! `ghl-import rollback <run-dir>`: undo a run (`engine::undo`), then say what was done.

use std::path::Path;

use crate::engine::undo::{undo_run, Undone};
use crate::error::Exit;

/// Undoes the run in `run_dir`; exit 3 when some undo failed (a later rollback retries those).
pub async fn rollback(
    run_dir: &Path,
    state_dir: Option<&Path>,
    created_only: bool,
) -> anyhow::Result<Exit> {
    let Some(u) = undo_run(run_dir, state_dir, created_only).await? else {
        return Ok(Exit::Ok);
    };
    print_tally(run_dir, &u);
    Ok(if u.tally.failed > 0 {
        Exit::Rejects
    } else {
        Exit::Ok
    })
}

/// Prints only what rollback did: one phrase per count that is not zero.
fn print_tally(run_dir: &Path, u: &Undone) {
    let tally = &u.tally;
    let did: Vec<String> = [
        (tally.deleted, "created contacts deleted"),
        (
            tally.already_gone,
            "contacts were already gone (deleted since)",
        ),
        (tally.restored, "updated contacts restored"),
        (
            tally.not_applied,
            "writes the run left unsettled were found not applied",
        ),
        (
            tally.left,
            "writes the run left unsettled had updated a contact whose previous values it never read (left as they are)",
        ),
        (
            tally.failed,
            "failed (see above; run rollback again to retry only those)",
        ),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    println!("rollback of {}: {}", run_dir.display(), did.join(", "));
    if u.updated_left > 0 {
        println!(
            "  {} updated contacts were left as they are (--created-only)",
            u.updated_left
        );
    }
}
