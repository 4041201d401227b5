//! Command-line interface (clap derive). Flags say how this run behaves; the pipeline YAML says
//! what the pipeline is.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use ghl_sandbox::Fault;

pub use crate::options::Format;

const EXAMPLES: &str = "\
Examples:
  # Import the quickstart sample into an embedded sandbox (no account needed)
  ghl-import run pipelines/quickstart.yaml --sandbox

  # Guess a pipeline from a file's headers, then check it
  ghl-import init exports/contacts.csv -o pipelines/contacts.yaml

  # Check a pipeline without sending anything
  ghl-import validate pipelines/quickstart.yaml

  # Import for real (token from the variable named by target.auth.token_env)
  GHL_TOKEN=pit-... ghl-import run pipelines/my-import.yaml --out reports/today

  # A standalone sandbox for rehearsals, with two 429s injected
  ghl-import sandbox --port 8787 --fault 429x2

Exit codes: 0 all rows ok · 3 some rows rejected · 2 configuration error · 1 fatal error";

/// Move contact data into GoHighLevel (LeadConnector) through its Contacts API v2.
#[derive(Debug, Parser)]
#[command(name = "ghl-import", version, about, after_help = EXAMPLES)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Log lines on stderr as `text`, or as `json` (one object per line, with the run, pipeline
    /// and location of the run they belong to; info level by default) for log collectors.
    #[arg(long, value_enum, global = true, default_value_t = LogFormat::Text, env = "GHL_IMPORT_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a pipeline: extract → transform → load → report.
    #[command(after_help = EXAMPLES)]
    Run {
        /// The pipeline YAML file.
        pipeline: PathBuf,
        /// Load into an embedded sandbox (started on 127.0.0.1) instead of target.base_url.
        #[arg(long)]
        sandbox: bool,
        /// Output folder for the reports; it must not exist or be empty, unless --force (default:
        /// a new folder <name>-<timestamp> under report.dir, else under out/).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Write into a non-empty --out folder (its earlier reports are replaced).
        #[arg(long)]
        force: bool,
        /// No progress display.
        #[arg(short, long)]
        quiet: bool,
        /// Plan every row (create / update with diff / unchanged / conflict / reject) with read
        /// requests only, write plan.csv and a quota forecast; nothing is written to the location.
        #[arg(long)]
        dry_run: bool,
        /// Read a GHL source in full, ignoring its incremental high-water mark.
        #[arg(long)]
        full_refresh: bool,
        /// Folder for state kept between runs: the run journal and incremental marks
        /// (default: .ghl-import/ next to the pipeline file).
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
        /// `table`: the summary for people; `json`: summary.json on stdout, one line per run (an
        /// inbox run makes one per file), for scripts.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// With --sandbox: start it with N synthetic contacts in the source (or target) location.
        #[arg(long, value_name = "N", default_value_t = 0, requires = "sandbox")]
        seed_contacts: usize,
    },
    /// Check a pipeline, its source header, mapping and credentials; sends nothing.
    #[command(
        after_help = "Examples:\n  ghl-import validate --sandbox pipelines/quickstart.yaml\n  GHL_TOKEN=… ghl-import validate --live pipelines/contacts.yaml\n  ghl-import validate pipelines/contacts.yaml --format json"
    )]
    Validate {
        /// The pipeline YAML file.
        pipeline: PathBuf,
        /// Skip the credentials check (for pipelines meant for --sandbox).
        #[arg(long)]
        sandbox: bool,
        /// Folder holding the OAuth token store (`tokens/`; default: the XDG data dir).
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
        /// Also ask the location, with read requests only: the token is accepted, the scopes
        /// the run needs, the location exists, the custom fields named exist with a usable
        /// type, today's allowance covers the run.
        #[arg(long, conflicts_with = "sandbox")]
        live: bool,
        /// `table` (✓/✗ lines) or `json` (`{"version": 1, "ok", "phases": [...]}`) for CI.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Run the pipelines of a folder on their schedules (`schedule:` in each) until SIGINT or
    /// SIGTERM; the folder is read again when it changes.
    #[command(
        after_help = "Example:\n  ghl-import serve pipelines/ --state-dir /var/lib/ghl-import"
    )]
    Serve {
        /// The folder of pipeline files.
        dir: PathBuf,
        /// State folder for every run (default: .ghl-import/ next to each pipeline file).
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
        /// Address of `/healthz` and Prometheus `/metrics` (port 0: any free port, printed).
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9464")]
        listen: std::net::SocketAddr,
        /// Allow --listen on an address other than loopback (the metrics name pipelines and
        /// locations).
        #[arg(long)]
        allow_remote: bool,
        /// Runs at once, at most: pipelines on different locations run side by side, one
        /// location's runs one after another.
        #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
        max_runs: u16,
        /// Only the pipelines of shard INDEX of COUNT (by location: a location's pipelines are
        /// all in one shard), e.g. `--shard $(JOB_COMPLETION_INDEX)/4` in a Kubernetes Indexed Job.
        #[arg(long, value_name = "INDEX/COUNT")]
        shard: Option<crate::options::Shard>,
        /// Run every pipeline (of the shard) once, side by side, and exit with the worst exit
        /// code; schedules are not read and no endpoint is served.
        #[arg(long)]
        once: bool,
    },
    /// List past runs from the run history: status, counts, requests, 429s, report folder.
    #[command(
        after_help = "Examples:\n  ghl-import runs\n  ghl-import runs --pipeline pipelines/quickstart.yaml --last 5\n  ghl-import runs --state-dir /var/lib/ghl-import --format json"
    )]
    Runs {
        /// `prune`: remove old report folders instead of listing runs.
        #[command(subcommand)]
        action: Option<RunsAction>,
        /// Only this pipeline's runs: its file (then its state folder is read) or its name.
        #[arg(long, value_name = "FILE|NAME", global = true)]
        pipeline: Option<String>,
        /// How many runs, newest first.
        #[arg(long, value_name = "N", default_value_t = 20)]
        last: usize,
        /// Only real runs (`real`), only rehearsals into an embedded sandbox (`rehearsal`), or
        /// both (`all`, the default; rehearsals are kind `rehearsal_*`).
        #[arg(long, value_enum, default_value_t = RunsKind::All)]
        kind: RunsKind,
        /// The state folder holding runs.sqlite (default: beside --pipeline, else
        /// pipelines/.ghl-import, else .ghl-import).
        #[arg(long, value_name = "DIR", global = true)]
        state_dir: Option<PathBuf>,
        /// `table` for people, `json` for scripts (`{"version": 1, "runs": [...]}`).
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Same as `--format json`.
        #[arg(long)]
        json: bool,
    },
    /// Undo a run: delete the contacts it created, restore the fields it changed.
    #[command(
        after_help = "Examples:\n  ghl-import rollback out/contacts-20261207T101500Z\n  ghl-import rollback --created-only --state-dir /var/lib/ghl-import out/contacts-20261207T101500Z"
    )]
    Rollback {
        /// The run's output folder (holding run.json and rollback.jsonl).
        run: PathBuf,
        /// The state folder the runs use (leases, run journal; default `.ghl-import` beside the
        /// pipeline): rollback takes the location's lease there, as runs do. Also holds the
        /// OAuth token store (`tokens/`; default: the XDG data dir).
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
        /// Delete only the contacts the run created; leave the contacts it updated as they are
        /// (for runs that did not record previous values).
        #[arg(long)]
        created_only: bool,
    },
    /// OAuth: log in to a location, show or remove stored tokens.
    #[command(subcommand)]
    Auth(AuthCommand),
    /// Re-run a finished run's pipeline on its rejected.csv (after fixing the cells).
    #[command(
        after_help = "Examples:\n  ghl-import retry-rejects out/contacts-20261207T101500Z\n  ghl-import retry-rejects --include duplicates out/contacts-20261207T101500Z"
    )]
    RetryRejects {
        /// The run's output folder (holding summary.json and rejected.csv).
        run: PathBuf,
        /// Load into an embedded sandbox instead of the run's target (a rehearsal).
        #[arg(long)]
        sandbox: bool,
        /// Output folder for this run's reports (must not exist or be empty, unless --force).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Write into a non-empty --out folder.
        #[arg(long)]
        force: bool,
        /// No progress display.
        #[arg(short, long)]
        quiet: bool,
        /// Also replay rows rejected as `duplicate_in_file`, merged into the contact their kept
        /// row went to (only fields it has no value for are written).
        #[arg(long, value_name = "WHAT", value_parser = ["duplicates"])]
        include: Vec<String>,
        /// The state folder the runs use (leases, run journal, token store; default
        /// `.ghl-import` beside the pipeline): the retry takes the location's lease there.
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
    },
    /// Guess a pipeline from a file's headers and values; writes commented YAML to check.
    #[command(
        after_help = "Examples:\n  ghl-import init contacts.csv -o pipelines/contacts.yaml\n  ghl-import init export.xlsx --sample 5000 -o pipelines/export.yaml"
    )]
    Init {
        /// The CSV or workbook to import, or an SQLite database with --query.
        input: PathBuf,
        /// With an SQLite database: the query whose rows to import (with ORDER BY).
        #[arg(long, value_name = "SQL")]
        query: Option<String>,
        /// Where to write the pipeline (default pipelines/<file stem>.yaml).
        #[arg(short, long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Rows to sample for the value profile.
        #[arg(long, default_value_t = 10_000)]
        sample: usize,
        /// Overwrite an existing pipeline file.
        #[arg(long)]
        force: bool,
    },
    /// Show what the first rows of a pipeline's source become: the cells, the exact upsert
    /// body, notes and tasks, and rejects or warnings. Sends nothing.
    #[command(
        after_help = "Examples:\n  ghl-import preview pipelines/quickstart.yaml\n  ghl-import preview pipelines/quickstart.yaml --row 17 --format json"
    )]
    Preview {
        /// The pipeline YAML file.
        pipeline: PathBuf,
        /// How many data rows, from the first.
        #[arg(long, value_name = "N", default_value_t = 5)]
        rows: usize,
        /// Only this source row (the header is row 1).
        #[arg(long, value_name = "ROW", conflicts_with = "rows")]
        row: Option<u64>,
        /// `table` for people, `json` for scripts.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Also ask the target location what each row would do (create, update with the
        /// changes, unchanged, conflict), with read requests only.
        #[arg(long)]
        live: bool,
        /// Folder holding the OAuth token store (with --live).
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
    },
    /// Build report.html for a run folder from its files (runs write one themselves; this
    /// rebuilds it, for older runs too).
    #[command(after_help = "Example:\n  ghl-import report out/quickstart-20261207T101500Z")]
    Report {
        /// The run's output folder (holding summary.json).
        run: PathBuf,
    },
    /// Print a shell completion script (e.g. `ghl-import completions bash >
    /// ~/.local/share/bash-completion/completions/ghl-import`).
    #[command(
        after_help = "Examples:\n  ghl-import completions bash > ~/.local/share/bash-completion/completions/ghl-import\n  ghl-import completions zsh > ~/.zfunc/_ghl-import"
    )]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff; `ghl-import man > ghl-import.1 && man ./ghl-import.1`).
    #[command(after_help = "Example:\n  ghl-import man > ~/.local/share/man/man1/ghl-import.1")]
    Man,
    /// Serve the embedded GHL sandbox on 127.0.0.1 until Ctrl-C.
    Sandbox(SandboxArgs),
}

/// `ghl-import auth …`.
#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Authorize the app for a location, or with --agency for an agency (authorization-code
    /// flow), and store its tokens.
    #[command(
        after_help = "Examples:\n  ghl-import auth login --client-id $GHL_CLIENT_ID\n  ghl-import auth login --agency --client-id $GHL_CLIENT_ID"
    )]
    Login {
        /// The OAuth app's client id (GHL Marketplace → your app → Auth).
        #[arg(long)]
        client_id: String,
        /// Environment variable holding the app's client secret.
        #[arg(long, value_name = "VAR")]
        client_secret_env: String,
        /// Scope to ask for (repeatable; default contacts.readonly and contacts.write, and
        /// with --agency also oauth.readonly and oauth.write).
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// The location to authorize (checked against the approval).
        #[arg(long, conflicts_with = "agency")]
        location: Option<String>,
        /// Authorize the agency (`user_type=Company`): one grant that mints each installed
        /// location's token (pipelines use `auth.agency`).
        #[arg(long)]
        agency: bool,
        /// With --agency: the marketplace app's id, for listing installed locations (default:
        /// the client id up to its first `-`, GHL's form `<appId>-<suffix>`).
        #[arg(long, requires = "agency")]
        app_id: Option<String>,
        /// API base URL (the token endpoint is BASE/oauth/token).
        #[arg(long, default_value = crate::config::DEFAULT_BASE_URL)]
        base_url: String,
        /// Authorize page (default: GHL's location chooser; BASE/oauth/chooselocation for any
        /// other base URL, such as a sandbox).
        #[arg(long)]
        authorize_url: Option<String>,
        /// Loopback port of the redirect URI http://127.0.0.1:PORT/callback (register that URI in
        /// the app; 0 picks a free port).
        #[arg(long, default_value_t = 8765)]
        port: u16,
        /// Do not listen: print the URL and read the redirect URL pasted on stdin.
        #[arg(long)]
        no_browser: bool,
        /// Folder for the token store (`tokens/`; default: the XDG data dir).
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
    },
    /// Show the stored grants' location or agency, scopes and expiry (never the tokens), and
    /// the locations each agency grant covers.
    #[command(
        after_help = "Examples:\n  ghl-import auth status\n  ghl-import auth status --format json"
    )]
    Status {
        /// Only this location.
        #[arg(long)]
        location: Option<String>,
        /// Environment variable holding the app's client secret: lets an agency's expired token
        /// be refreshed to list its locations.
        #[arg(long, value_name = "VAR", default_value = "GHL_CLIENT_SECRET")]
        client_secret_env: String,
        /// Folder for the token store.
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
        /// `table` for people, `json` (`{"version": 1, "grants": [...]}`, never a token) for
        /// scripts.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Delete a location's stored tokens, or an agency's grant.
    #[command(after_help = "Example:\n  ghl-import auth logout --location loc-123")]
    Logout {
        /// The location.
        #[arg(long, required_unless_present = "agency", conflicts_with = "agency")]
        location: Option<String>,
        /// The agency (company id).
        #[arg(long, value_name = "COMPANY_ID")]
        agency: Option<String>,
        /// Folder for the token store.
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
    },
}

/// Flags of `ghl-import sandbox`.
#[derive(Debug, clap::Args)]
pub struct SandboxArgs {
    /// Port; 0 picks a free one (printed on stdout).
    #[arg(long, default_value_t = 8787)]
    pub port: u16,
    /// Location id the token may access (repeatable).
    #[arg(long = "location", value_name = "ID", default_value = ghl_sandbox::DEFAULT_LOCATION)]
    pub locations: Vec<String>,
    /// Token to accept (default: a random one, printed on stdout).
    #[arg(long)]
    pub token: Option<String>,
    /// Burst limit: requests per interval.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_max: u32,
    /// Burst interval in milliseconds.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub rate_interval_ms: u64,
    /// Daily request allowance.
    #[arg(long, default_value_t = 200_000)]
    pub daily_limit: u64,
    /// Simulate another app of the location spending N requests at the start of every window.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub other_app_requests: u32,
    /// Search results lag writes by this many milliseconds, as GHL's do ("a few seconds"): a
    /// contact written within the lag is found by `POST /contacts/search` as it was before.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub search_lag_ms: u64,
    /// OAuth: the client id of the one app the sandbox knows.
    #[arg(long, default_value = "sandbox-client")]
    pub oauth_client_id: String,
    /// OAuth: that app's client secret.
    #[arg(long, default_value = "sandbox-secret")]
    pub oauth_client_secret: String,
    /// OAuth: lifetime of access tokens, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 86_399)]
    pub access_token_ttl_secs: u64,
    /// Scripted fault: STATUS[xCOUNT][@AFTER][:retry-after=SECS], e.g. 429x3@10 (repeatable).
    #[arg(long = "fault", value_name = "SPEC", value_parser = parse_fault)]
    pub faults: Vec<Fault>,
    /// Let contacts share an email or phone (the location's "Allow Duplicate Contact").
    #[arg(long)]
    pub allow_duplicates: bool,
    /// Start with these contacts: a JSON object mapping location ids to arrays of contacts.
    #[arg(long, value_name = "FILE")]
    pub seed: Option<std::path::PathBuf>,
    /// Start with N synthetic contacts in the first location.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed_contacts: usize,
}

fn parse_fault(s: &str) -> Result<Fault, String> {
    s.parse()
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// JSON lines (tracing-subscriber's json layer).
    Json,
}

/// `ghl-import runs prune`.
#[derive(Debug, Subcommand)]
pub enum RunsAction {
    /// Remove the report folders (customer data) of old runs: those that ended more than
    /// --keep-days ago, and those beyond the newest --keep-runs of each pipeline. Runs that have
    /// not ended are never touched; a removed run can no longer be rolled back.
    #[command(
        after_help = "Examples:\n  ghl-import runs prune --keep-days 30 --state-dir /var/lib/ghl-import\n  ghl-import runs prune --pipeline pipelines/contacts.yaml --keep-runs 20 --dry-run"
    )]
    Prune {
        /// Keep the folders of runs that ended within this many days.
        #[arg(long, value_name = "DAYS")]
        keep_days: Option<u32>,
        /// Keep the folders of this many newest runs of each pipeline.
        #[arg(long, value_name = "N")]
        keep_runs: Option<u32>,
        /// Say what would be removed; remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Which runs `ghl-import runs` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RunsKind {
    /// Real runs and rehearsals.
    All,
    /// Runs that wrote to (or read from) a real location.
    Real,
    /// Runs into an embedded sandbox (`--sandbox`).
    Rehearsal,
}
