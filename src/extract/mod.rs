//! Sources: turn an input into a stream of [`Record`]s with source row numbers, or per-row
//! extraction errors (which become rejects; the run goes on).

pub mod csv;

use crate::outcome::RowError;
use crate::record::{Headers, Record};

/// One item read from a source.
#[derive(Debug)]
pub enum SourceItem {
    /// A well-formed row.
    Row(Record),
    /// A row that could not be read as a record; `raw` keeps its cells as far as they were read.
    Malformed {
        /// The raw cells (lossily decoded for the report).
        raw: Record,
        /// Why.
        error: RowError,
    },
}

/// Column lookup with the header's original text kept: exact match first, then a case- and
/// whitespace-insensitive one.
pub fn find_column(headers: &Headers, name: &str) -> Option<usize> {
    headers.iter().position(|h| h == name).or_else(|| {
        let norm = |s: &str| {
            s.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase()
        };
        let want = norm(name);
        headers.iter().position(|h| norm(h) == want)
    })
}
