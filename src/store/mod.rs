//! Every persistent record of the tool: OAuth tokens (`tokens.rs`).

pub mod tokens;
