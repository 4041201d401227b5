//! ghl-import: move contact data into GoHighLevel (LeadConnector) through its Contacts API v2.
//!
//! The crate is a library with a thin binary (`src/main.rs`). A run flows through the stages
//! config → extract → transform → load → report; `ghl` is the typed API client used by load,
//! and `sandbox` is the embedded emulator of the API that the quickstart and the tests target.
//! See ARCHITECTURE.md for the map.

pub mod cli;
pub mod cmd;
pub mod config;
pub mod disk;
pub mod engine;
pub mod error;
pub mod extract;
pub mod inbox;
pub mod load;
pub mod notify;
pub mod options;
pub mod outcome;
pub mod progress;
pub mod record;
pub mod report;
pub mod schedule;
pub mod serve;
pub mod store;
pub mod transform;
