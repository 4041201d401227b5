//! The one row type shared by every stage: the cells of one input row, in their original order,
//! with the row's position in the source.

use std::sync::Arc;

/// Column names of a source, shared by all of its records.
pub type Headers = Arc<[String]>;

/// One input row as read, before any mapping. `row` is the 1-based line-oriented row number in
/// the source where the header is row 1 (so the first data row is row 2), matching what a
/// spreadsheet shows.
///
/// The cells live in one buffer (one allocation per row instead of one per cell: a million-row
/// file is read and transformed without tens of millions of small allocations).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// 1-based source row number (header = 1).
    pub row: u64,
    /// The cells, verbatim, concatenated in source order.
    buf: String,
    /// End offset of each cell in `buf`. May differ in length from the headers when the row is
    /// malformed; such rows never reach the transform.
    ends: Vec<usize>,
    /// Bit `i` is set when cell `i` (< 64) was a number in a spreadsheet: such a cell may have
    /// lost a leading `0` or `+` (phone numbers), which transform hints at.
    pub numeric: u64,
}

impl Record {
    /// A record of text cells.
    pub fn new<S: AsRef<str>>(row: u64, cells: impl IntoIterator<Item = S>) -> Self {
        let mut r = Record::with_capacity(row, 0, 0);
        for c in cells {
            r.push(c.as_ref());
        }
        r
    }

    /// An empty record with room for `bytes` of cell text in `cells` cells.
    pub fn with_capacity(row: u64, bytes: usize, cells: usize) -> Self {
        Record {
            row,
            buf: String::with_capacity(bytes),
            ends: Vec::with_capacity(cells),
            numeric: 0,
        }
    }

    /// Appends a cell.
    pub fn push(&mut self, cell: &str) {
        self.buf.push_str(cell);
        self.ends.push(self.buf.len());
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the row has no cells.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The cells, in source order.
    pub fn cells(&self) -> impl ExactSizeIterator<Item = &str> + DoubleEndedIterator + Clone {
        (0..self.ends.len()).map(move |i| self.cell(i))
    }

    /// The cells as owned strings.
    pub fn to_vec(&self) -> Vec<String> {
        self.cells().map(str::to_owned).collect()
    }

    fn cell(&self, idx: usize) -> &str {
        let start = if idx == 0 { 0 } else { self.ends[idx - 1] };
        &self.buf[start..self.ends[idx]]
    }

    /// Whether cell `idx` was a spreadsheet number.
    pub fn is_numeric(&self, idx: usize) -> bool {
        idx < 64 && self.numeric & (1 << idx) != 0
    }

    /// The cell at column index `idx`, or "" if the row is short.
    pub fn get(&self, idx: usize) -> &str {
        if idx < self.ends.len() {
            self.cell(idx)
        } else {
            ""
        }
    }
}
