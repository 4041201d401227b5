//! Auth: Private Integration Tokens (an environment variable) and OAuth 2.0 — login, a token
//! store with one 0600 file per location, and refresh with rotating single-use refresh tokens;
//! an agency grant mints location tokens (`agency.rs`).

pub mod agency;
pub mod login;
pub mod manager;
pub mod oauth;
pub mod store;

/// Scope to read contacts (`validate`, `run --dry-run`).
pub const SCOPE_READ: &str = "contacts.readonly";
/// Scope to write contacts (`run`).
pub const SCOPE_WRITE: &str = "contacts.write";
