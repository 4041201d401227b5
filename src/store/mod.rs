//! Every persistent record of the tool, behind one [`Store`]: the run journal, run history,
//! leases, inbox records, incremental marks and OAuth tokens. Nothing else opens a state file.
//!
//! Today's backend is a state folder of SQLite and JSON files (`.ghl-import/` beside the
//! pipeline, or `--state-dir`), byte-compatible with what earlier releases wrote there:
//!
//! ```text
//! runs.sqlite                          history.rs  a row per run and per run that never started
//! inbox.sqlite                         inbox.rs    each inbox file taken, by pipeline, location, hash
//! journal/<pipeline>--<target>.sqlite  journal.rs  each row's intent, contact and result
//! incremental/<pipeline>--<loc>.json   marks.rs    where a GHL source stopped reading
//! leases/<location>.lock               lease.rs    one writer per location (flock, holder inside)
//! tokens/<location>.json               tokens.rs   OAuth grants (0600; without --state-dir in the
//!                                                  XDG data folder, shared by every pipeline)
//! ```

pub mod history;
pub mod inbox;
pub mod journal;
pub mod lease;
pub mod marks;
pub mod tokens;

use std::path::{Path, PathBuf};

/// The state folder's name beside a pipeline.
pub const DEFAULT_STATE_DIR: &str = ".ghl-import";

/// The persistent records of one state folder.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
    /// Whether the folder was named (`--state-dir`): tokens then live in it too.
    named: bool,
}

impl Store {
    /// The state folder `dir` (`--state-dir`), created when first written.
    pub fn at(dir: impl Into<PathBuf>) -> Store {
        Store {
            dir: dir.into(),
            named: true,
        }
    }

    /// `--state-dir` when given, else `.ghl-import` beside the pipeline file.
    pub fn of_pipeline(state_dir: Option<&Path>, pipeline_file: &Path) -> Store {
        match state_dir {
            Some(d) => Store::at(d),
            None => Store {
                dir: pipeline_file
                    .parent()
                    .map(|d| d.join(DEFAULT_STATE_DIR))
                    .unwrap_or_else(|| DEFAULT_STATE_DIR.into()),
                named: false,
            },
        }
    }

    /// Where `runs` looks without `--state-dir` or a pipeline: `pipelines/.ghl-import` when it
    /// exists, else `.ghl-import`.
    pub fn found() -> Store {
        let in_pipelines = Path::new("pipelines").join(DEFAULT_STATE_DIR);
        Store {
            dir: if in_pipelines.is_dir() {
                in_pipelines
            } else {
                DEFAULT_STATE_DIR.into()
            },
            named: false,
        }
    }

    /// The state folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the folder exists or can be made, and takes a file (for `/readyz`).
    pub fn writable(&self) -> Result<(), String> {
        let dir = &self.dir;
        crate::disk::create_private_dir(dir).map_err(|e| format!("{}: {e:#}", dir.display()))?;
        tempfile::NamedTempFile::new_in(dir)
            .map(drop)
            .map_err(|e| format!("{} cannot be written: {e}", dir.display()))
    }

    /// The journal of `pipeline` writing to `target` (a location, with its API when not GHL's).
    pub fn journal(&self, pipeline: &str, target: &str) -> anyhow::Result<journal::Journal> {
        journal::Journal::open(&self.dir, pipeline, target)
    }

    /// The run history (created if needed).
    pub fn history(&self) -> anyhow::Result<history::History> {
        history::History::open(&self.dir)
    }

    /// The run history when it exists; `None` (nothing created) when it does not.
    pub fn history_if_any(&self) -> Option<anyhow::Result<history::History>> {
        let file = self.dir.join(history::FILE);
        file.is_file().then(|| history::History::open_file(&file))
    }

    /// The record of the files inbox pipelines took.
    pub fn inbox(&self) -> anyhow::Result<inbox::Record> {
        inbox::Record::open(&self.dir)
    }

    /// The incremental marks of GHL sources.
    pub fn marks(&self) -> marks::Marks {
        marks::Marks::new(self.dir.clone())
    }

    /// The leases: one writer per location.
    pub fn leases(&self) -> lease::Leases {
        lease::Leases::new(&self.dir)
    }

    /// The OAuth token store: in the named state folder, else the user's data folder (one login
    /// serves every pipeline).
    pub fn tokens(&self) -> tokens::TokenStore {
        tokens::TokenStore::new(self.named.then_some(self.dir.as_path()))
    }

    /// The token store of `--state-dir` when given, else of the user's data folder (commands
    /// without a pipeline: `auth`).
    pub fn tokens_of(state_dir: Option<&Path>) -> tokens::TokenStore {
        tokens::TokenStore::new(state_dir)
    }
}
