//! Workbook source on calamine (.xlsx, .xlsm, .xlsb, .xls, .ods). The sheet is read whole (a
//! workbook is at most about a million rows) within a memory budget ([`super::sheet`]), then
//! yielded row by row with spreadsheet row numbers.
//!
//! Cells keep their meaning: whole numbers print as digits (a phone stored as a number never
//! becomes `4.155552671E9` or `4155552671.0`), date cells become ISO dates under the workbook's
//! 1900 or 1904 date system, numbers in `date_columns` are read as date serials, formulas give
//! their cached value, booleans print as `true`/`false`, error cells as their text (`#N/A`).

use std::sync::Arc;

use calamine::{open_workbook_auto, Data, ExcelDateTime, ExcelDateTimeType, Reader};

use crate::config::{ExcelSource, HeaderRow, SheetRef};
use crate::error::ConfigError;
use crate::outcome::{codes, RowError, Stage};
use crate::record::{Headers, Record};

use super::{clean_headers, find_column, SourceItem};

/// How many leading rows `header_row: auto` examines.
const HEADER_SCAN_ROWS: usize = 30;

/// An open sheet positioned after its header.
pub struct ExcelReader {
    rows: std::vec::IntoIter<(u64, Vec<Data>)>,
    headers: Headers,
    date_cols: Vec<usize>,
    is_1904: bool,
    width: usize,
    /// Rows skipped because every cell was blank.
    blank: u64,
    /// A rejected.xlsx read back by `retry-rejects`: the column of `_code`, whose
    /// `duplicate_in_file` rows are held back.
    held_code: Option<usize>,
}

impl ExcelReader {
    /// Opens the workbook, picks the sheet, finds the header.
    pub fn open(src: &ExcelSource) -> Result<ExcelReader, ConfigError> {
        let shown = src.path.display().to_string();
        super::regular_file(&src.path)?;
        // calamine lays out every sheet of an .xls or .ods when it opens it: measure them first.
        super::xls_scan::check(&src.path, &shown, super::sheet::SHEET_BUDGET)?;
        super::ods_scan::check(&src.path, &shown, super::sheet::SHEET_BUDGET)?;
        let mut wb = open_workbook_auto(&src.path).map_err(|e| {
            let why = match &e {
                calamine::Error::Xlsx(calamine::XlsxError::Password) => {
                    "the workbook is password-protected; save an unprotected copy".to_owned()
                }
                calamine::Error::Xlsx(calamine::XlsxError::Zip(_))
                | calamine::Error::Xlsb(calamine::XlsbError::Zip(_))
                | calamine::Error::Ods(calamine::OdsError::Zip(_)) => {
                    let csv = std::fs::read(&src.path)
                        .map(|b| b.iter().take(4096).all(|c| *c != 0))
                        .unwrap_or(false);
                    format!(
                        "it is not a workbook (an .xlsx, .xlsb or .ods file is a zip archive, and this one is not{}); \
                         save it again from the spreadsheet program{}",
                        if csv { ": it looks like text" } else { " or is damaged" },
                        if csv { ", or if it is a CSV file, use source.type: csv" } else { "" }
                    )
                }
                other => format!("{other} (is it a valid .xlsx, .xlsm, .xlsb, .xls or .ods file?)"),
            };
            ConfigError::new(format!("cannot read workbook {shown}: {why}"))
        })?;
        let names = wb.sheet_names();
        let listed = || {
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let name = match &src.sheet {
            None => names.first().cloned().ok_or_else(|| {
                ConfigError::new(format!("workbook {shown} has no sheets"))
            })?,
            Some(SheetRef::Name(n)) => names
                .iter()
                .find(|s| *s == n)
                .or_else(|| names.iter().find(|s| s.trim().eq_ignore_ascii_case(n.trim())))
                .cloned()
                .ok_or_else(|| {
                    ConfigError::new(format!("workbook {shown} has no sheet `{n}`; its sheets: {}", listed()))
                })?,
            Some(SheetRef::Index(i)) => names.get(*i).cloned().ok_or_else(|| {
                ConfigError::new(format!(
                    "workbook {shown} has {} sheet(s), so there is no sheet index {i} (indexes count from 0); its sheets: {}",
                    names.len(),
                    listed()
                ))
            })?,
        };
        let grid = super::sheet::read(&mut wb, &name, &shown)?;
        Self::from_grid(src, &shown, &name, grid)
    }

    fn from_grid(
        src: &ExcelSource,
        shown: &str,
        sheet: &str,
        mut grid: super::sheet::Grid,
    ) -> Result<Self, ConfigError> {
        // Rows with spreadsheet row numbers, from the first used column; trailing blank rows dropped.
        while grid.last().is_some_and(|(_, r)| r.iter().all(is_blank)) {
            grid.pop();
        }
        let width = grid
            .iter()
            .map(|(_, r)| r.iter().rposition(|c| !is_blank(c)).map_or(0, |p| p + 1))
            .max()
            .unwrap_or(0);
        if grid.is_empty() || width == 0 {
            return Err(ConfigError::new(format!(
                "sheet `{sheet}` of {shown} is empty"
            )));
        }
        let is_1904 = detect_1904(&grid);
        let header_idx = match src.header_row {
            HeaderRow::Row(n) => grid.iter().position(|(r, _)| *r == u64::from(n)).ok_or_else(|| {
                ConfigError::new(format!(
                    "row {n} of sheet `{sheet}` of {shown} is empty (its data spans rows {}..={})",
                    grid[0].0,
                    grid[grid.len() - 1].0
                ))
            })?,
            HeaderRow::Auto => find_header(&grid, width).ok_or_else(|| {
                ConfigError::new(format!(
                    "no header row found in the first {HEADER_SCAN_ROWS} rows of sheet `{sheet}` of {shown}; \
                     set source.header_row to its row number"
                ))
            })?,
        };
        let raw_headers: Vec<String> = (0..width)
            .map(|i| {
                grid[header_idx]
                    .1
                    .get(i)
                    .map(|c| cell_text(c, false, is_1904))
                    .unwrap_or_default()
            })
            .collect();
        let mut raw_headers = raw_headers;
        // One of our rejected.xlsx read back: its reason columns are left out.
        let reinput = super::reason_columns(&raw_headers);
        raw_headers.truncate(raw_headers.len() - reinput);
        let width = width - reinput;
        let headers: Headers = Arc::from(clean_headers(raw_headers, src.duplicate_headers, shown)?);
        let mut date_cols = Vec::new();
        for c in &src.date_columns {
            match find_column(&headers, c) {
                Some(i) => date_cols.push(i),
                None => {
                    return Err(ConfigError::new(format!(
                        "source.date_columns: column `{c}` is not in sheet `{sheet}` of {shown}; columns: {}",
                        headers.iter().map(|h| format!("`{h}`")).collect::<Vec<_>>().join(", ")
                    )))
                }
            }
        }
        let data: Vec<(u64, Vec<Data>)> = grid.split_off(header_idx + 1);
        Ok(ExcelReader {
            rows: data.into_iter(),
            headers,
            date_cols,
            is_1904,
            width,
            blank: 0,
            held_code: (reinput > 0 && src.hold_duplicates).then_some(width + 2),
        })
    }

    /// Column names.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// Rows left to yield.
    pub fn remaining_rows(&self) -> u64 {
        self.rows.len() as u64
    }
}

impl ExcelReader {
    /// Rows skipped so far because every cell was blank.
    pub fn blank_records(&self) -> u64 {
        self.blank
    }
}

impl Iterator for ExcelReader {
    type Item = SourceItem;

    fn next(&mut self) -> Option<SourceItem> {
        loop {
            let (row, cells) = self.rows.next()?;
            if cells.iter().all(is_blank) {
                self.blank += 1;
                continue; // blank rows inside the data are skipped, as in CSV
            }
            let mut out = Vec::with_capacity(self.width);
            let mut problem = None;
            let mut numeric = 0u64;
            for i in 0..self.width {
                let c = cells.get(i).unwrap_or(&Data::Empty);
                if i < 64 && matches!(c, Data::Int(_) | Data::Float(_)) {
                    numeric |= 1 << i;
                }
                let as_date = self.date_cols.contains(&i);
                if as_date && problem.is_none() {
                    if let Data::String(s) = c {
                        if !s.trim().is_empty() {
                            problem = Some(RowError::new(
                                Stage::Extract,
                                codes::INVALID_DATE,
                                format!(
                                    "column `{}` is declared a date column but holds text `{s}`",
                                    self.headers[i]
                                ),
                                "enter a date cell, or write the date as YYYY-MM-DD",
                            ));
                        }
                    }
                }
                out.push(cell_text(c, as_date, self.is_1904));
            }
            let mut raw = Record::new(row, out);
            raw.numeric = numeric;
            let held = self
                .held_code
                .and_then(|i| cells.get(i))
                .is_some_and(|c| matches!(c, Data::String(s) if s == codes::DUPLICATE_IN_FILE));
            if held && problem.is_none() {
                let first = self
                    .held_code
                    .and_then(|i| cells.get(i - 2))
                    .map(|c| cell_text(c, false, self.is_1904))
                    .unwrap_or_default();
                problem = Some(super::held_duplicate(&first));
            }
            return Some(match problem {
                Some(error) => SourceItem::Malformed { raw, error },
                None => SourceItem::Row(raw),
            });
        }
    }
}

fn is_blank(c: &Data) -> bool {
    match c {
        Data::Empty => true,
        Data::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// The header is the first row (of the first few) that has at least two non-blank cells (one in
/// a single-column sheet), all of them text, and at least half as many filled cells as the
/// fullest row near it. Titles and merged banners (one filled cell) and notes are skipped.
fn find_header(grid: &[(u64, Vec<Data>)], width: usize) -> Option<usize> {
    let scan = &grid[..grid.len().min(HEADER_SCAN_ROWS)];
    let filled = |r: &[Data]| r.iter().filter(|c| !is_blank(c)).count();
    let fullest = scan
        .iter()
        .map(|(_, r)| filled(r))
        .max()
        .unwrap_or(0)
        .min(width);
    scan.iter().position(|(_, r)| {
        let n = filled(r);
        n >= 2.min(fullest)
            && n * 2 >= fullest
            && r.iter()
                .filter(|c| !is_blank(c))
                .all(|c| matches!(c, Data::String(_)))
    })
}

/// Whether the workbook uses the 1904 date system, read off its date cells (calamine carries
/// the flag in each date value but does not expose it on the workbook).
fn detect_1904(grid: &[(u64, Vec<Data>)]) -> bool {
    grid.iter()
        .flat_map(|(_, r)| r.iter())
        .find_map(|c| match c {
            Data::DateTime(dt) if dt.is_datetime() => {
                let as_1900 = ExcelDateTime::new(dt.as_f64(), ExcelDateTimeType::DateTime, false);
                Some(as_1900.to_ymd_hms_milli() != dt.to_ymd_hms_milli())
            }
            _ => None,
        })
        == Some(true)
}

fn iso(dt: &ExcelDateTime) -> String {
    let (y, m, d, hh, mm, ss, _ms) = dt.to_ymd_hms_milli();
    if (hh, mm, ss) == (0, 0, 0) {
        format!("{y:04}-{m:02}-{d:02}")
    } else {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}")
    }
}

/// Renders a number without float artefacts: integers as digits, others in shortest form.
fn number_text(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

/// The text of a cell.
pub fn cell_text(c: &Data, as_date: bool, is_1904: bool) -> String {
    match c {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Int(i) if as_date => iso(&ExcelDateTime::new(
            *i as f64,
            ExcelDateTimeType::DateTime,
            is_1904,
        )),
        Data::Float(f) if as_date => iso(&ExcelDateTime::new(
            *f,
            ExcelDateTimeType::DateTime,
            is_1904,
        )),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => number_text(*f),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(dt) if dt.is_duration() => {
            let secs = (dt.as_f64() * 86_400.0).round() as i64;
            format!(
                "{:02}:{:02}:{:02}",
                secs / 3600,
                secs % 3600 / 60,
                secs % 60
            )
        }
        Data::DateTime(dt) => iso(dt),
        Data::DateTimeIso(s) => s.strip_suffix("T00:00:00").unwrap_or(s).to_owned(),
        Data::DurationIso(s) => s.clone(),
        Data::Error(e) => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_digits() {
        assert_eq!(
            cell_text(&Data::Float(4155552671.0), false, false),
            "4155552671"
        );
        assert_eq!(
            cell_text(&Data::Float(14155552671.0), false, false),
            "14155552671"
        );
        assert_eq!(cell_text(&Data::Float(12.5), false, false), "12.5");
        assert_eq!(cell_text(&Data::Int(42), false, false), "42");
        assert_eq!(cell_text(&Data::Bool(true), false, false), "true");
    }

    #[test]
    fn serials_in_date_columns_use_the_date_system() {
        // 45943 is 2025-10-13 in the 1900 system and 2029-10-14 in the 1904 system.
        assert_eq!(cell_text(&Data::Float(45943.0), true, false), "2025-10-13");
        assert_eq!(cell_text(&Data::Float(45943.0), true, true), "2029-10-14");
        let dt = ExcelDateTime::new(45943.5, ExcelDateTimeType::DateTime, false);
        assert_eq!(
            cell_text(&Data::DateTime(dt), false, false),
            "2025-10-13T12:00:00"
        );
    }

    #[test]
    fn header_detection_skips_titles_and_banners() {
        let s = |v: &str| Data::String(v.into());
        let grid = vec![
            (1, vec![s("Contacts export"), Data::Empty, Data::Empty]),
            (2, vec![Data::Empty, Data::Empty, Data::Empty]),
            (3, vec![s("Name"), s("Email"), s("Phone")]),
            (4, vec![s("Ann"), s("a@x.co"), Data::Float(4155552671.0)]),
        ];
        assert_eq!(find_header(&grid, 3), Some(2));
    }
}
