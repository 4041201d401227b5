//! The one row type shared by every stage: the cells of one input row, in their original order,
//! with the row's position in the source.

use std::sync::Arc;

/// Column names of a source, shared by all of its records.
pub type Headers = Arc<[String]>;

/// One input row as read, before any mapping. `row` is the 1-based line-oriented row number in
/// the source where the header is row 1 (so the first data row is row 2), matching what a
/// spreadsheet shows.
#[derive(Debug, Clone)]
pub struct Record {
    /// 1-based source row number (header = 1).
    pub row: u64,
    /// The cells, verbatim, in source order. May differ in length from the headers when the
    /// row is malformed; such rows never reach the transform.
    pub cells: Vec<String>,
    /// Bit `i` is set when cell `i` (< 64) was a number in a spreadsheet: such a cell may have
    /// lost a leading `0` or `+` (phone numbers), which transform hints at.
    pub numeric: u64,
}

impl Record {
    /// A record of text cells.
    pub fn new(row: u64, cells: Vec<String>) -> Self {
        Record {
            row,
            cells,
            numeric: 0,
        }
    }

    /// Whether cell `idx` was a spreadsheet number.
    pub fn is_numeric(&self, idx: usize) -> bool {
        idx < 64 && self.numeric & (1 << idx) != 0
    }

    /// The cell at column index `idx`, or "" if the row is short.
    pub fn get(&self, idx: usize) -> &str {
        self.cells.get(idx).map(String::as_str).unwrap_or("")
    }
}
