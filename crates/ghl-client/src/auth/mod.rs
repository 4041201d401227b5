//! OAuth 2.0: the app's grants (`oauth.rs`), refresh with rotating single-use refresh tokens
//! kept in a [`tokens::TokenVault`] (`manager.rs`), and an agency grant that mints location
//! tokens (`agency.rs`).

pub mod agency;
pub mod manager;
pub mod oauth;
pub mod tokens;

/// Scope to read contacts (`validate`, `run --dry-run`).
pub const SCOPE_READ: &str = "contacts.readonly";
/// Scope to write contacts (`run`).
pub const SCOPE_WRITE: &str = "contacts.write";
