//! One worksheet read into memory it can afford. A workbook's cells carry their own positions
//! (`r="XFD1048576"`), so a file of a few kilobytes can claim a sheet of 17 billion cells;
//! calamine's `worksheet_range` allocates that rectangle before it reads a value. Here the
//! cells of `.xlsx`, `.xlsm` and `.xlsb` files are streamed one by one, each position is checked
//! against Excel's bounds, only filled cells are kept, and the memory the sheet will take is
//! counted as it grows: past [`SHEET_BUDGET`] the read stops with a message that says what to do.
//! `.xls` and `.ods` are read whole by calamine (measured first by `xls_scan.rs` and
//! `ods_scan.rs`), then go through the same checks. A stop signal ends the read within a few thousand cells.

use std::panic::AssertUnwindSafe;

use calamine::{Data, Range, Reader, Sheets};

use crate::error::ConfigError;

/// Excel's bounds: rows 1..=1,048,576 and columns A..=XFD (16,384).
pub const MAX_ROWS: u32 = 1_048_576;
/// See [`MAX_ROWS`].
pub const MAX_COLUMNS: u32 = 16_384;
/// What one sheet may take in memory: each row's cells up to its last filled one, and their text.
pub const SHEET_BUDGET: u64 = 2 << 30;

/// How often (in cells) the read looks for a stop signal.
const CHECK_EVERY: u64 = 4096;

/// A sheet's rows that hold at least one cell, in order: the spreadsheet row number (from 1)
/// and its cells from the sheet's first used column.
pub type Grid = Vec<(u64, Vec<Data>)>;

/// Reads sheet `name` of `wb` (shown to the user as `shown`) within [`SHEET_BUDGET`].
pub fn read<RS: std::io::Read + std::io::Seek>(
    wb: &mut Sheets<RS>,
    name: &str,
    shown: &str,
) -> Result<Grid, ConfigError> {
    read_within(wb, name, shown, SHEET_BUDGET)
}

/// [`read`] with a budget of `budget` bytes.
pub fn read_within<RS: std::io::Read + std::io::Seek>(
    wb: &mut Sheets<RS>,
    name: &str,
    shown: &str,
    budget: u64,
) -> Result<Grid, ConfigError> {
    let mut b = Builder::new(name, shown, budget);
    // A reference too long for a number makes calamine's position arithmetic overflow (a panic
    // in checked builds): that is a damaged file, not a crash.
    let streamed = quietly(|| stream(wb, name, &mut b));
    match streamed {
        Ok(Ok(())) => Ok(b.finish()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(ConfigError::new(format!(
            "cannot read sheet `{name}` of {shown}: a cell reference in it is damaged (it is not a \
             position Excel can have); open the file in a spreadsheet program and save it again"
        ))),
    }
}

thread_local! {
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f`, turning a panic inside it into `Err` without the panic message on stderr (the
/// caller reports it in the user's words). Other threads' panics print as before.
fn quietly<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(|q| q.get()) {
                previous(info);
            }
        }));
    });
    QUIET.with(|q| q.set(true));
    let out = std::panic::catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(false));
    out
}

fn stream<RS: std::io::Read + std::io::Seek>(
    wb: &mut Sheets<RS>,
    name: &str,
    b: &mut Builder,
) -> Result<(), ConfigError> {
    let shown = b.shown;
    let damaged = |e: &dyn std::fmt::Display| {
        ConfigError::new(format!(
            "cannot read sheet `{name}` of {shown}: the file is damaged ({e}); open it in a \
             spreadsheet program and save it again"
        ))
    };
    match wb {
        Sheets::Xlsx(x) => {
            let mut cells = x.worksheet_cells_reader(name).map_err(|e| damaged(&e))?;
            while let Some(c) = cells.next_cell().map_err(|e| damaged(&e))? {
                b.push(c.get_position(), Data::from(c.get_value().clone()))?;
            }
        }
        Sheets::Xlsb(x) => {
            let mut cells = x.worksheet_cells_reader(name).map_err(|e| damaged(&e))?;
            while let Some(c) = cells.next_cell().map_err(|e| damaged(&e))? {
                b.push(c.get_position(), Data::from(c.get_value().clone()))?;
            }
        }
        other => {
            let range: Range<Data> = other.worksheet_range(name).map_err(|e| damaged(&e))?;
            let (r0, c0) = range.start().unwrap_or((0, 0));
            for (r, c, v) in range.used_cells() {
                b.push((r0 + r as u32, c0 + c as u32), v.clone())?;
            }
        }
    }
    Ok(())
}

/// Filled cells grouped by row, with the memory they will take once laid out.
struct Builder<'a> {
    sheet: &'a str,
    shown: &'a str,
    budget: u64,
    /// (row from 0, its filled cells as (column from 0, value)).
    rows: Vec<(u32, Vec<(u32, Data)>)>,
    /// Sum over rows of their last filled column + 1: the cells of the laid-out grid.
    laid_out: u64,
    /// Bytes of text held by the cells.
    text: u64,
    /// Filled cells kept, and cells read (filled or not).
    filled: u64,
    seen: u64,
}

impl<'a> Builder<'a> {
    fn new(sheet: &'a str, shown: &'a str, budget: u64) -> Self {
        Builder {
            sheet,
            shown,
            budget,
            rows: Vec::new(),
            laid_out: 0,
            text: 0,
            filled: 0,
            seen: 0,
        }
    }

    fn push(&mut self, (row, col): (u32, u32), val: Data) -> Result<(), ConfigError> {
        self.seen += 1;
        if self.seen.is_multiple_of(CHECK_EVERY) && super::interrupted() {
            return Err(ConfigError::new(format!(
                "stopped while reading sheet `{}` of {} (a stop signal arrived)",
                self.sheet, self.shown
            )));
        }
        if row >= MAX_ROWS || col >= MAX_COLUMNS {
            return Err(ConfigError::new(format!(
                "cannot read sheet `{}` of {}: it has a cell at row {}, column {}, outside the \
                 largest sheet Excel allows (1,048,576 rows, columns A to XFD); the file is damaged \
                 or was not written by a spreadsheet program",
                self.sheet,
                self.shown,
                u64::from(row) + 1,
                u64::from(col) + 1
            )));
        }
        if matches!(val, Data::Empty) {
            return Ok(());
        }
        if let Data::String(s) = &val {
            self.text += s.len() as u64;
        }
        self.filled += 1;
        let width = u64::from(col) + 1;
        match self.rows.last_mut() {
            Some((r, cells)) if *r == row => {
                let before = cells.last().map_or(0, |(c, _)| u64::from(*c) + 1);
                self.laid_out += width.saturating_sub(before);
                cells.push((col, val));
                if before > width {
                    // Out of order within the row: keep the row's widest column last.
                    let n = cells.len();
                    cells.swap(n - 1, n - 2);
                }
            }
            _ => {
                self.laid_out += width;
                self.rows.push((row, vec![(col, val)]));
            }
        }
        self.check(row, col)
    }

    /// Estimated bytes: the laid-out grid, the filled cells while they are gathered, the text.
    fn bytes(&self) -> u64 {
        let cell = std::mem::size_of::<Data>() as u64;
        self.laid_out * cell + self.filled * (cell + 8) + self.text
    }

    fn check(&self, row: u32, col: u32) -> Result<(), ConfigError> {
        if self.bytes() <= self.budget {
            return Ok(());
        }
        Err(ConfigError::new(format!(
            "sheet `{}` of {} is too large to read: by its cell {} it needs more than {} MiB of memory{}; \
             delete stray cells outside the data (Ctrl+End in Excel goes to the last one), or save the \
             sheet as CSV, which is read as a stream",
            self.sheet,
            self.shown,
            cell_name(row, col),
            self.budget >> 20,
            if col > 1000 {
                " (cells far to the right make every row as wide as the widest)"
            } else {
                ""
            }
        )))
    }

    /// The grid: rows in order, each laid out from the first used column to its last filled cell.
    fn finish(mut self) -> Grid {
        if !self.rows.is_sorted_by_key(|(r, _)| *r) {
            self.rows.sort_by_key(|(r, _)| *r);
        }
        let col0 = self
            .rows
            .iter()
            .flat_map(|(_, c)| c.iter().map(|(c, _)| *c))
            .min()
            .unwrap_or(0);
        let mut grid: Grid = Vec::with_capacity(self.rows.len());
        for (row, cells) in self.rows {
            let width = cells.iter().map(|(c, _)| c - col0 + 1).max().unwrap_or(0) as usize;
            let number = u64::from(row) + 1;
            if grid.last().is_none_or(|(n, _)| *n != number) {
                grid.push((number, Vec::new()));
            }
            let laid = &mut grid.last_mut().expect("pushed above").1;
            if laid.len() < width {
                laid.resize(width, Data::Empty);
            }
            for (c, v) in cells {
                laid[(c - col0) as usize] = v;
            }
        }
        grid
    }
}

/// `A1`-style name of a cell (row and column from 0).
pub fn cell_name(row: u32, col: u32) -> String {
    let mut letters = Vec::new();
    let mut n = col + 1;
    while n > 0 {
        let r = ((n - 1) % 26) as u8;
        letters.push(b'A' + r);
        n = (n - 1) / 26;
    }
    letters.reverse();
    format!(
        "{}{}",
        String::from_utf8_lossy(&letters),
        u64::from(row) + 1
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_names_are_excel_names() {
        assert_eq!(cell_name(0, 0), "A1");
        assert_eq!(cell_name(9, 25), "Z10");
        assert_eq!(cell_name(0, 26), "AA1");
        assert_eq!(cell_name(MAX_ROWS - 1, MAX_COLUMNS - 1), "XFD1048576");
    }

    #[test]
    fn the_grid_keeps_filled_rows_from_the_first_used_column() {
        let mut b = Builder::new("S", "f.xlsx", SHEET_BUDGET);
        b.push((0, 2), Data::String("Name".into())).unwrap();
        b.push((0, 3), Data::String("Email".into())).unwrap();
        b.push((5, 3), Data::String("a@x.co".into())).unwrap();
        b.push((5, 2), Data::String("Ann".into())).unwrap();
        b.push((3, 2), Data::Empty).unwrap();
        let g = b.finish();
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].0, 1);
        assert_eq!(g[1].0, 6);
        assert_eq!(
            g[1].1,
            vec![Data::String("Ann".into()), Data::String("a@x.co".into())]
        );
    }

    #[test]
    fn a_sheet_past_its_budget_is_refused_before_it_is_laid_out() {
        let mut b = Builder::new("S", "f.xlsx", 1 << 20);
        let mut err = None;
        for row in 0..100 {
            if let Err(e) = b.push((row, MAX_COLUMNS - 1), Data::Int(1)) {
                err = Some(e);
                break;
            }
        }
        let e = err.expect("refused").to_string();
        assert!(e.contains("too large to read"), "{e}");
        assert!(e.contains("XFD"), "{e}");
    }

    #[test]
    fn cells_outside_excel_are_a_damaged_file() {
        let mut b = Builder::new("S", "f.xlsx", SHEET_BUDGET);
        let e = b.push((MAX_ROWS, 0), Data::Int(1)).unwrap_err().to_string();
        assert!(e.contains("row 1048577"), "{e}");
    }
}
