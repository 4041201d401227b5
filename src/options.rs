//! What a command asks of the engine and of `serve`: the options of a run, of `serve` and of
//! the listing commands. Imports nothing above it (only the pipeline's model and the report
//! types a run shares), so the commands, the engine and `serve` all build on it.

use std::path::PathBuf;
use std::sync::Arc;

use crate::config::Pipeline;
use crate::outcome::Outcome;
use crate::report;

/// Options of the `run` command (how this run behaves; the YAML says what the pipeline is).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The pipeline file.
    pub pipeline: PathBuf,
    /// Target an embedded sandbox instead of the pipeline's base URLs.
    pub sandbox: bool,
    /// With `sandbox`: how to start it (the command's; the engine never names the sandbox).
    pub rehearsal: Option<StartRehearsal>,
    /// With `sandbox`: start it with this many synthetic contacts in the GHL source's location
    /// (or the target's when the source is a file).
    pub seed_contacts: usize,
    /// Output folder (overrides `report.dir`).
    pub out: Option<PathBuf>,
    /// Write into a non-empty `out` folder.
    pub force: bool,
    /// No progress display.
    pub quiet: bool,
    /// Ignore the incremental high-water mark and read everything.
    pub full_refresh: bool,
    /// Where incremental state lives (default `.ghl-import`).
    pub state_dir: Option<PathBuf>,
    /// Plan every row against the target with read requests only; write nothing.
    pub dry_run: bool,
    /// Read this file (a run's rejected.csv) instead of the pipeline's source.
    pub source_override: Option<PathBuf>,
    /// With `source_override` (`retry-rejects`): what is replayed besides fixable rows.
    pub retry_scope: Option<RetryScope>,
    /// `retry-rejects`: the run folder retried, whose rejected_values.csv values are patched
    /// into their contacts.
    pub retry_of: Option<PathBuf>,
    /// Print summary.json on stdout (one line) instead of the summary for people.
    pub json: bool,
    /// With a multi-location pipeline: run on this location only (`retry-rejects` and
    /// `rollback` on one location's run folder).
    pub only_location: Option<String>,
    /// `serve --shard`: a multi-location pipeline runs on this shard's locations only.
    pub shard: Option<Shard>,
    /// This run is one location's part of a multi-location run: it prints no summary and
    /// talks to the API the parent gives it when there is one (its shared sandbox).
    pub part_of: Option<Part>,
    /// How the reports name the source, when not as the pipeline's source (a routed part is
    /// named by the file it came from, not by the part file).
    pub source_shown: Option<String>,
}

/// What `retry-rejects` replays besides the rows a user can fix.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryScope {
    /// Replay `duplicate_in_file` rows too, merged into the contact their kept row went to:
    /// every field at `fill_empty`, so nothing the location holds is overwritten.
    pub duplicates: bool,
}

/// What one location's part gets from its multi-location run.
#[derive(Debug, Clone)]
pub struct Part {
    /// Rows done across every location so far (the run's progress display).
    pub live: Arc<std::sync::Mutex<report::summary::RowCounts>>,
    /// The API every part talks to (the run's embedded sandbox), when shared.
    pub api: Option<SharedApi>,
}

impl Part {
    /// Counts one row's outcome in the run's progress.
    pub fn live_count(&self, o: &Outcome) {
        self.live.lock().unwrap_or_else(|e| e.into_inner()).count(o);
    }
}

/// An embedded API a rehearsal (`--sandbox`) runs against instead of the pipeline's, shared by
/// every location of the run. The command that rehearses starts it; the engine only talks to it.
pub trait Rehearsal: Send + Sync {
    /// Its address and token.
    fn api(&self) -> SharedApi;
    /// The contacts it holds for `location` now (`sandbox-contacts.json`).
    fn contacts(&self, location: &str) -> Vec<ghl_client::types::Contact>;
}

/// Starts a [`Rehearsal`] holding `locations`, each seeded with `seed` synthetic contacts.
pub type StartRehearsal =
    fn(
        locations: Vec<String>,
        seed: usize,
    ) -> futures::future::BoxFuture<'static, anyhow::Result<Box<dyn Rehearsal>>>;

/// An API address and token shared by every part (a rehearsal's one sandbox).
#[derive(Debug, Clone)]
pub struct SharedApi {
    /// Its base URL.
    pub base_url: reqwest::Url,
    /// Its token (the sandbox's; not a user's secret).
    pub token: String,
}

/// How `serve` runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The folder of pipelines.
    pub dir: PathBuf,
    /// The state folder of every run (default: beside each pipeline).
    pub state_dir: Option<PathBuf>,
    /// Where `/healthz` and `/metrics` listen.
    pub listen: std::net::SocketAddr,
    /// Allow a `listen` address other than loopback.
    pub allow_remote: bool,
    /// Runs at once, at most.
    pub max_runs: usize,
    /// Only the pipelines of this shard (by location), for one pod of several.
    pub shard: Option<Shard>,
    /// Run every pipeline (of the shard) once, side by side, then exit with the worst exit code
    /// (a Kubernetes Indexed Job's pod); no schedules, no endpoint.
    pub once: bool,
}

/// One of `count` disjoint parts of a folder's pipelines: a pipeline belongs to shard
/// `hash(location) % count`, so all pipelines of a location are in one shard and a location has
/// one writer across machines without any shared state (its rate limit is its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard, 0-based.
    pub index: u32,
    /// How many.
    pub count: u32,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Shard, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}`: write INDEX/COUNT, e.g. 0/4"))?;
        let parse = |x: &str| {
            x.trim()
                .parse::<u32>()
                .map_err(|_| format!("`{s}`: INDEX and COUNT are whole numbers, e.g. 0/4"))
        };
        let (index, count) = (parse(i)?, parse(n)?);
        if count == 0 || index >= count {
            return Err(format!("`{s}`: INDEX must be 0 to COUNT - 1"));
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// Whether `location` is this shard's.
    pub fn owns(&self, location: &str) -> bool {
        Self::of_key(location, self.count) == self.index
    }

    fn of_key(key: &str, count: u32) -> u32 {
        (xxhash_rust::xxh3::xxh3_64(key.as_bytes()) % u64::from(count)) as u32
    }

    /// The shard a pipeline belongs to: by the location it writes to (else the one it reads,
    /// else its name). A multi-location pipeline runs in every shard, on the shard's locations.
    pub fn of(p: &Pipeline, count: u32) -> u32 {
        let key = p
            .target
            .as_ref()
            .map(|t| t.location_id.as_str())
            .or(match &p.source {
                crate::config::Source::Ghl(g) => Some(g.api.location_id.as_str()),
                _ => None,
            })
            .unwrap_or(&p.name);
        Self::of_key(key, count)
    }
}

/// Output format of listing commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns.
    Table,
    /// One JSON document with a `version`.
    Json,
}
