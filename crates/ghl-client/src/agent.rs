//! Who is calling: the User-Agent every request carries, naming the run when one is under way.

tokio::task_local! {
    /// The id of the run the current task belongs to (set by `run`), named in the User-Agent.
    pub static RUN_ID: String;
}

/// `ghl-import/<version>`, with the run and the process when a run is under way: support (and
/// the sandbox's request log) can tell which run sent a request.
pub fn user_agent() -> String {
    let base = concat!("ghl-import/", env!("CARGO_PKG_VERSION"));
    match RUN_ID.try_with(Clone::clone) {
        Ok(run) => format!("{base} (run {run}; pid {})", std::process::id()),
        Err(_) => base.to_owned(),
    }
}
