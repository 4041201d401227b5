//! A look through an `.xls` file before calamine opens it. calamine reads every sheet of an
//! `.xls` workbook when it opens it, reserving room for the rectangle each sheet's DIMENSIONS
//! record claims and then laying out the rectangle its cells span — so a small damaged file
//! (a cell at column 65,535, a DIMENSIONS record claiming four billion rows) would allocate
//! gigabytes or abort. Here the BIFF records of the workbook stream are walked (streamed, a
//! few kilobytes of memory) and every sheet's claimed and spanned rectangles are checked
//! against the sheet budget first.

use std::io::Read;
use std::path::Path;

use crate::error::ConfigError;

/// Bytes calamine spends per cell of a sheet's rectangle (a reserved `Cell<Data>` or a laid-out
/// `Data`, whichever is larger).
const BYTES_PER_CELL: u64 = 40;

/// A sheet's extent as its records give it.
#[derive(Debug, Default, Clone, Copy)]
struct Extent {
    /// Rows × columns its DIMENSIONS record claims.
    claimed: u64,
    /// First and last row and column of its cells.
    rows: Option<(u32, u32)>,
    cols: Option<(u32, u32)>,
}

impl Extent {
    fn cell(&mut self, row: u32, col: u32) {
        let grow = |r: &mut Option<(u32, u32)>, v: u32| {
            *r = Some(r.map_or((v, v), |(a, b)| (a.min(v), b.max(v))));
        };
        grow(&mut self.rows, row);
        grow(&mut self.cols, col);
    }

    fn spanned(&self) -> u64 {
        match (self.rows, self.cols) {
            (Some((r0, r1)), Some((c0, c1))) => {
                (u64::from(r1 - r0) + 1).saturating_mul(u64::from(c1 - c0) + 1)
            }
            _ => 0,
        }
    }
}

/// Refuses an `.xls` workbook one of whose sheets would take more than `budget` bytes to open.
/// Files that are not compound documents (another format, or damaged) pass: calamine says
/// what is wrong with them.
pub fn check(path: &Path, shown: &str, budget: u64) -> Result<(), ConfigError> {
    let Ok(mut doc) = cfb::open(path) else {
        return Ok(());
    };
    let name = ["/Workbook", "/Book"]
        .into_iter()
        .find(|n| doc.is_stream(n));
    let Some(name) = name else {
        return Ok(());
    };
    let Ok(stream) = doc.open_stream(name) else {
        return Ok(());
    };
    let sheets = extents(std::io::BufReader::new(stream));
    for (i, e) in sheets.iter().enumerate() {
        let cells = e.claimed.max(e.spanned());
        if cells.saturating_mul(BYTES_PER_CELL) > budget {
            let (rows, cols) = (
                e.rows.map_or(0, |(_, b)| u64::from(b) + 1),
                e.cols.map_or(0, |(_, b)| u64::from(b) + 1),
            );
            return Err(ConfigError::new(format!(
                "workbook {shown} cannot be read safely: its sheet number {} claims {cells} cells \
                 (cells as far as row {rows}, column {cols}), more than {} MiB of memory; the file \
                 is damaged or holds stray cells far from the data: open it in a spreadsheet \
                 program, delete them, and save it as .xlsx or CSV",
                i + 1,
                budget >> 20
            )));
        }
    }
    Ok(())
}

/// The extent of each sheet substream (the workbook globals, which hold no cells, included).
fn extents(mut r: impl Read) -> Vec<Extent> {
    let mut sheets: Vec<Extent> = Vec::new();
    let mut head = [0u8; 4];
    let mut data = Vec::with_capacity(8224);
    while r.read_exact(&mut head).is_ok() {
        let typ = u16::from_le_bytes([head[0], head[1]]);
        let len = u16::from_le_bytes([head[2], head[3]]) as usize;
        data.resize(len, 0);
        if r.read_exact(&mut data).is_err() {
            break;
        }
        if typ == 0x0809 {
            sheets.push(Extent::default()); // BOF: a new substream
            continue;
        }
        let Some(e) = sheets.last_mut() else {
            continue;
        };
        record(e, typ, &data);
    }
    sheets
}

fn u16_at(d: &[u8], i: usize) -> Option<u32> {
    d.get(i..i + 2)
        .map(|b| u32::from(u16::from_le_bytes([b[0], b[1]])))
}

fn u32_at(d: &[u8], i: usize) -> Option<u32> {
    d.get(i..i + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// What one record says of its sheet's extent: the DIMENSIONS claim, or a cell's position.
fn record(e: &mut Extent, typ: u16, d: &[u8]) {
    match typ {
        // DIMENSIONS: BIFF8 rows are 32-bit, BIFF5 16-bit.
        0x0200 => {
            let (rows, cols) = if d.len() >= 14 {
                (
                    u32_at(d, 0).zip(u32_at(d, 4)),
                    u16_at(d, 8).zip(u16_at(d, 10)),
                )
            } else {
                (
                    u16_at(d, 0).zip(u16_at(d, 2)),
                    u16_at(d, 4).zip(u16_at(d, 6)),
                )
            };
            if let (Some((r0, r1)), Some((c0, c1))) = (rows, cols) {
                let span = |a: u32, b: u32| u64::from(b.abs_diff(a)) + 1;
                e.claimed = span(r0, r1).saturating_mul(span(c0, c1));
            }
        }
        // NUMBER, LABEL, BOOLERR, RK, LABELSST, FORMULA: row, column first.
        0x0203 | 0x0204 | 0x0205 | 0x027E | 0x00FD | 0x0006 => {
            if let (Some(row), Some(col)) = (u16_at(d, 0), u16_at(d, 2)) {
                e.cell(row, col);
            }
        }
        // MULRK: row, first column, …, last column.
        0x00BD if d.len() >= 6 => {
            if let (Some(row), Some(first), Some(last)) =
                (u16_at(d, 0), u16_at(d, 2), u16_at(d, d.len() - 2))
            {
                e.cell(row, first);
                e.cell(row, last);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(typ: u16, data: &[u8]) -> Vec<u8> {
        let mut v = typ.to_le_bytes().to_vec();
        v.extend((data.len() as u16).to_le_bytes());
        v.extend(data);
        v
    }

    fn number(row: u16, col: u16) -> Vec<u8> {
        let mut d = row.to_le_bytes().to_vec();
        d.extend(col.to_le_bytes());
        d.extend([0u8; 10]);
        rec(0x0203, &d)
    }

    #[test]
    fn sheets_are_measured_by_their_claims_and_their_cells() {
        let mut s = rec(0x0809, &[0; 16]); // globals
        s.extend(rec(0x0809, &[0; 16])); // sheet 1
        s.extend(number(0, 0));
        s.extend(number(9, 3));
        s.extend(rec(0x0809, &[0; 16])); // sheet 2: a stray cell far away
        s.extend(number(0, 0));
        s.extend(number(65_535, 65_535));
        s.extend(rec(0x0809, &[0; 16])); // sheet 3: a DIMENSIONS record claiming 4 billion rows
        let mut dims = 0u32.to_le_bytes().to_vec();
        dims.extend(u32::MAX.to_le_bytes());
        dims.extend([0, 0, 10, 0, 0, 0]);
        s.extend(rec(0x0200, &dims));
        let e = extents(&s[..]);
        assert_eq!(e.len(), 4);
        assert_eq!(e[1].spanned(), 40);
        assert_eq!(e[2].spanned(), 65_536 * 65_536);
        assert!(e[3].claimed > 4_000_000_000);
    }
}
