//! Typed client of the GHL Contacts API v2: request bodies per operation, response shapes,
//! errors, rate-limit headers. Used by load (and later extract).

pub mod agent;
mod attempt;
pub mod auth;
pub mod client;
pub mod error;
pub mod fields;
pub mod inflight;
pub mod ratelimit;
pub mod retry;
pub mod types;
pub mod wire;

/// The `Version` header value every contacts operation requires.
pub const API_VERSION: &str = "2021-07-28";
