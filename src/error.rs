//! Top-level error kinds and the documented exit codes of the binary.

use std::process::ExitCode;

/// Exit codes, documented in the README. A run that finished with some rows rejected is not a
/// failure of the tool, but a script must be able to tell it apart from a clean run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every row was created, updated or unchanged.
    Ok = 0,
    /// A fatal error: network, authentication, an unexpected server answer, I/O.
    Fatal = 1,
    /// The pipeline or the command line is invalid (nothing was written).
    Config = 2,
    /// The run finished but some rows were rejected (see rejected.csv).
    Rejects = 3,
    /// The run finished and read rows, but not one of them was loaded: every row was rejected.
    NothingLoaded = 4,
}

impl Exit {
    /// Of two exit codes (several runs in one command), the one that says more is wrong: a run
    /// that did not finish, then a configuration problem, then rejects, then success.
    pub fn worse(self, other: Exit) -> Exit {
        let rank = |e: Exit| match e {
            Exit::Ok => 0,
            Exit::Rejects => 1,
            Exit::NothingLoaded => 2,
            Exit::Config => 3,
            Exit::Fatal => 4,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// An error in the pipeline definition or in what it points to (input file, env vars).
/// These map to exit code 2: nothing was sent to the API.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl ConfigError {
    /// Builds a config error from anything printable.
    pub fn new(msg: impl Into<String>) -> Self {
        ConfigError(msg.into())
    }
}

/// Several configuration problems found at once; each line is one problem.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.iter().map(|e| e.0.as_str()).collect::<Vec<_>>().join("\n"))]
pub struct ConfigErrors(pub Vec<ConfigError>);

/// Maps an error chain to an exit code: configuration problems are 2, everything else 1.
pub fn exit_code_for(err: &anyhow::Error) -> Exit {
    if err
        .chain()
        .any(|c| c.is::<ConfigError>() || c.is::<ConfigErrors>())
    {
        Exit::Config
    } else {
        Exit::Fatal
    }
}

/// An error chain as the user reads it (`context: cause: …`), library messages that mean
/// nothing to a user replaced by what happened: a SQLite file busy or locked ("Error code 5:
/// database is locked") is a state file another ghl-import process is using.
pub fn in_words(err: &anyhow::Error) -> String {
    let busy = err.chain().any(|c| {
        matches!(
            c.downcast_ref::<rusqlite::Error>(),
            Some(rusqlite::Error::SqliteFailure(f, _))
                if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        )
    });
    if !busy {
        return format!("{err:#}");
    }
    let context: Vec<String> = err
        .chain()
        .filter(|c| {
            c.downcast_ref::<rusqlite::Error>().is_none()
                && c.downcast_ref::<rusqlite::ffi::Error>().is_none()
        })
        .map(|c| c.to_string())
        .collect();
    let mut out = context.join(": ");
    if !out.is_empty() {
        out.push_str(": ");
    }
    out.push_str(
        "another ghl-import process is using this state file (a run, `serve`, or a rollback of the same \
         pipeline and location); wait for it to finish, or give separate work its own --state-dir",
    );
    out
}

/// An I/O error as words for a person: the system's description, lower-cased, without the
/// "(os error N)" code.
pub fn io_words(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = match text.rfind(" (os error ") {
        Some(i) if text.ends_with(')') => &text[..i],
        _ => &text,
    };
    let mut c = text.chars();
    c.next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_io_error_is_said_without_its_code() {
        let e = std::io::Error::from_raw_os_error(13);
        assert_eq!(io_words(&e), "permission denied");
        let custom = std::io::Error::other("Odd thing (os error 5) here");
        assert_eq!(io_words(&custom), "odd thing (os error 5) here");
    }

    #[test]
    fn a_locked_state_file_is_said_in_words() {
        let locked = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            Some("database is locked".into()),
        );
        let e = anyhow::Error::from(locked).context("opening the run journal /s/j.sqlite");
        let said = in_words(&e);
        assert!(
            said.starts_with("opening the run journal /s/j.sqlite: another ghl-import process"),
            "{said}"
        );
        assert!(!said.contains("Error code"), "{said}");
        let other = anyhow::anyhow!("plain");
        assert_eq!(in_words(&other), "plain");
    }
}
