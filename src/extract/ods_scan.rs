//! A look through an `.ods` file before calamine opens it. calamine reads every table of an
//! OpenDocument spreadsheet when it opens it, writing out each repeated cell
//! (`table:number-columns-repeated`) and then each repeated row (`table:number-rows-repeated`)
//! of the rectangle the data spans, twice (values and formulas) — so a file of a few kilobytes
//! that repeats one cell across 16,384 columns and 6,000 rows takes gigabytes (or aborts). Here
//! `content.xml` is streamed (a few kilobytes of memory) and each table's cells are counted the
//! way calamine lays them out, against the sheet budget, first.

use std::io::BufRead;
use std::path::Path;

use quick_xml::events::{BytesStart, Event};

use crate::error::ConfigError;

/// Bytes calamine spends per cell of an .ods table: a `Data` value and a formula `String`.
const BYTES_PER_CELL: u64 = 56;

/// The most rows and columns calamine keeps of a table (the .xlsx bounds).
const MAX_ROWS: u64 = 1_048_576;
const MAX_COLUMNS: u64 = 16_384;

/// One table's cells as calamine lays them out.
#[derive(Debug, Default)]
struct Table {
    name: String,
    /// Cells written while rows are read (column repeats expanded, rows not).
    read: u64,
    /// Rows so far, repeats included (capped as calamine caps them).
    rows: u64,
    /// First and last row (repeats included) holding a value, and the widest such row.
    first: Option<u64>,
    last: u64,
    width: u64,
}

impl Table {
    /// The cells calamine holds for this table at its peak.
    fn cells(&self) -> u64 {
        let spanned = self
            .first
            .map_or(0, |f| (self.last + 1 - f).saturating_mul(self.width));
        self.read.saturating_add(spanned)
    }
}

/// Refuses an `.ods` workbook one of whose tables calamine would lay out in more than `budget`
/// bytes. Anything else (not an .ods, not a zip, no `content.xml`, XML calamine will refuse) is
/// left for calamine to report.
pub fn check(path: &Path, shown: &str, budget: u64) -> Result<(), ConfigError> {
    let ods = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("ods"));
    let Some(file) = ods.then(|| std::fs::File::open(path).ok()).flatten() else {
        return Ok(());
    };
    let Ok(mut zip) = zip::ZipArchive::new(std::io::BufReader::new(file)) else {
        return Ok(());
    };
    let Ok(content) = zip.by_name("content.xml") else {
        return Ok(());
    };
    let limit = budget / BYTES_PER_CELL;
    match over(std::io::BufReader::new(content), limit) {
        None => Ok(()),
        Some(t) => Err(ConfigError::new(format!(
            "workbook {shown} cannot be read safely: its sheet `{}` repeats cells into {} cells or \
             more, more than {} MiB of memory; the file holds formatting or stray values repeated \
             across whole rows and columns: open it in a spreadsheet program, delete the rows and \
             columns past the data, and save it as .xlsx or CSV",
            t.name,
            t.cells(),
            budget >> 20
        ))),
    }
}

/// The first table whose cells pass `limit`, as soon as they do.
fn over(r: impl BufRead, limit: u64) -> Option<Table> {
    let mut xml = quick_xml::Reader::from_reader(r);
    let mut buf = Vec::with_capacity(4096);
    let mut table: Option<Table> = None;
    // The row being read: its repeats, its cells so far, the empty cells pending before the next
    // value, and its last value's column.
    let mut row: Option<(u64, u64, u64, Option<u64>)> = None;
    loop {
        let ev = xml.read_event_into(&mut buf).ok()?;
        let (start, empty) = match &ev {
            Event::Start(e) => (Some(e), false),
            Event::Empty(e) => (Some(e), true),
            _ => (None, false),
        };
        match (start.map(|e| e.name().as_ref().to_vec()), &ev) {
            (Some(n), _) if n == b"table:table" => {
                table = Some(Table {
                    name: attr(start?, b"table:name").unwrap_or_default(),
                    ..Table::default()
                });
            }
            (Some(n), _) if n == b"table:table-row" => {
                let t = table.as_mut()?;
                let repeats = count(start?, b"table:number-rows-repeated");
                let repeats = repeats.min(MAX_ROWS.saturating_sub(t.rows));
                row = Some((repeats, 0, 0, None));
                if empty {
                    t.rows += repeats;
                    row = None;
                }
            }
            (Some(n), _) if n == b"table:table-cell" || n == b"table:covered-table-cell" => {
                let (_, cells, pending, last) = row.as_mut()?;
                let e = start?;
                let repeats = count(e, b"table:number-columns-repeated");
                let valued = e
                    .attributes()
                    .flatten()
                    .any(|a| matches!(a.key.as_ref(), b"office:value-type" | b"table:formula"))
                    || !empty;
                if valued {
                    let room = MAX_COLUMNS.saturating_sub(*cells);
                    *cells += (*pending).min(room);
                    let room = MAX_COLUMNS.saturating_sub(*cells);
                    *cells += repeats.min(room);
                    *pending = 0;
                    *last = Some(*cells);
                } else {
                    *pending = repeats;
                }
            }
            (None, Event::End(e)) if e.name().as_ref() == b"table:table-row" => {
                let t = table.as_mut()?;
                if let Some((repeats, cells, _, last)) = row.take() {
                    t.read = t.read.saturating_add(cells);
                    if let Some(w) = last.filter(|_| repeats > 0) {
                        t.first.get_or_insert(t.rows);
                        t.last = t.rows + repeats - 1;
                        t.width = t.width.max(w);
                    }
                    t.rows += repeats;
                }
                if t.cells() > limit {
                    return table;
                }
            }
            (None, Event::End(e)) if e.name().as_ref() == b"table:table" => table = None,
            (None, Event::Eof) => return None,
            _ => {}
        }
        buf.clear();
    }
}

/// An attribute's value.
fn attr(e: &BytesStart<'_>, key: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == key)
        .map(|a| String::from_utf8_lossy(&a.value).into_owned())
}

/// A repeat count (1 when absent; a count calamine cannot parse is left for it to report).
fn count(e: &BytesStart<'_>, key: &[u8]) -> u64 {
    attr(e, key).and_then(|v| v.parse().ok()).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(rows: &str) -> String {
        format!(
            "<office:document-content><office:body><office:spreadsheet>\
             <table:table table:name=\"Contacts\">{rows}</table:table>\
             </office:spreadsheet></office:body></office:document-content>"
        )
    }

    const CELL: &str =
        "<table:table-cell office:value-type=\"string\"><text:p>x</text:p></table:table-cell>";

    #[test]
    fn a_small_table_is_counted_as_laid_out() {
        let rows = format!(
            "<table:table-row>{CELL}{CELL}</table:table-row>\
             <table:table-row table:number-rows-repeated=\"3\">\
             <table:table-cell table:number-columns-repeated=\"2\"/>{CELL}\
             <table:table-cell table:number-columns-repeated=\"1000\"/></table:table-row>"
        );
        // Read: 2 + 3 cells; spanned: 4 rows × 3 columns.
        assert!(over(content(&rows).as_bytes(), 17).is_none());
        let t = over(content(&rows).as_bytes(), 16).expect("over 16 cells");
        assert_eq!((t.name.as_str(), t.cells()), ("Contacts", 17));
    }

    #[test]
    fn repeated_rows_and_columns_are_refused_early() {
        let rows = format!(
            "<table:table-row>{CELL}</table:table-row>\
             <table:table-row table:number-rows-repeated=\"6000\">\
             <table:table-cell table:number-columns-repeated=\"16000\" office:value-type=\"string\">\
             <text:p>x</text:p></table:table-cell></table:table-row>"
        );
        let t = over(content(&rows).as_bytes(), 1 << 25).expect("refused");
        assert!(t.cells() > 90_000_000, "{}", t.cells());
        // Trailing empty columns and empty rows after the data cost nothing.
        let blank = format!(
            "<table:table-row>{CELL}<table:table-cell table:number-columns-repeated=\"16383\"/>\
             </table:table-row><table:table-row table:number-rows-repeated=\"1048575\">\
             <table:table-cell table:number-columns-repeated=\"16384\"/></table:table-row>"
        );
        assert!(over(content(&blank).as_bytes(), 10).is_none());
    }
}
