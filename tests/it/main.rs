//! Integration tests: the real binary against the embedded sandbox over real HTTP on 127.0.0.1.

// Helpers: work dirs, running the binary, a standalone sandbox process, admin queries.
mod util;
// Headless Chromium over the DevTools protocol: rendered DOM, console, network, screenshots.
mod browser;

// The quickstart pipeline end to end, with its exact expected outcome per row.
mod quickstart;
// Re-runs, retries on 429/5xx, API rejects, bad tokens.
mod load;
// Rate limits: the advertised window, the user's cap, a shared budget, a run right after another.
mod pace;
// Configuration errors: positions, env vars, missing files; exit code 2, never a panic.
mod config_errors;
// GHL as a source: big exports, list paging, incremental, migration.
mod ghl_source;
// Custom fields by fieldKey or name: resolution, coercion, rejects.
mod custom_fields;
// `init`: guessed pipelines validate and run.
mod init;
// `run --dry-run`: plans against the location, no writes.
mod dry_run;
// Sources on real-world files: Excel, encodings, delimiters, malformed rows.
mod extract;
// Request bodies and sandbox rules checked against the official OpenAPI spec.
mod spec;
// OAuth: login, token store, refresh with rotation, least privilege.
mod auth;
// Trust on every path: recovery commands, signals, unreachable APIs, spent allowances.
mod trust;
// Converging with the API as it answers: sync that settles, values in other forms.
mod converge;
// Unattended operation: one writer per location.
mod unattended;
// Inbox folders: each dropped file once, moved with its reports, resumed after a kill.
mod inbox;
// The shipped integration pipelines (field service, delivery, read-only apps) on a fast clock.
mod integrations;
// Deployment files: the Dockerfile, deploy/kubernetes and deploy/systemd.
mod deploy;
// report.html rendered in Chromium: figures equal summary.json, no overflow, no requests.
mod report_html;
// Agency scale: rows routed to several locations, one stopping alone, per-location resume.
mod agency;
// Real CRM exports: values never lost, identities never merged silently.
mod identity;
// Real-shaped exports of eleven CRMs: init → validate → run, every cell sent or reported.
mod corpus;
// Bounded on any input: workbooks that claim huge sheets, damaged references.
mod bounded;
// A flaky network: dropped connections through a proxy; settled outcomes, the breaker's probe.
mod flaky;
// Undo after any stop: kill -9, SIGTERM under a hung API, a breaker stop, a 422 after an update.
mod undo;
// Operable: no secret echoed, safe in pipes, errors once and without colour in files.
mod operable;
// The store reads a state folder written by an earlier release; runs carry on in it.
mod store_compat;
// The shape of the code: no circle between modules, the engine apart from the commands.
mod shape;
// SQL sources: an SQLite query into the sandbox; order, types, errors.
mod sql_source;
// A throwaway PostgreSQL cluster (initdb in a temp folder) for the SQL source tests.
mod pg;
