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
