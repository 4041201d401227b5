//! CSV source on the csv crate: streaming (one record buffer reused), UTF-8 with or without BOM,
//! source row numbers (header = row 1), ragged rows and invalid UTF-8 reported per row.

use std::fs::File;
use std::io::BufReader;
use std::sync::Arc;

use crate::config::CsvSource;
use crate::error::ConfigError;
use crate::outcome::{codes, RowError, Stage};
use crate::record::{Headers, Record};
use crate::report::{unescape_formula, REJECT_COLUMNS};

use super::SourceItem;

/// An open CSV file positioned after its header.
pub struct CsvReader {
    reader: csv::Reader<BufReader<File>>,
    headers: Headers,
    record: csv::ByteRecord,
    next_row: u64,
    total_bytes: u64,
    pending_first: bool,
    /// Reading back a rejected.csv of ours: drop its five trailing columns and our formula escapes.
    reinput: bool,
}

impl CsvReader {
    /// Opens the file and reads the header. Problems here are configuration errors (exit 2).
    pub fn open(src: &CsvSource) -> Result<CsvReader, ConfigError> {
        let shown = src.path.display();
        let file = File::open(&src.path)
            .map_err(|e| ConfigError::new(format!("cannot open source file {shown}: {e}")))?;
        let total_bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(src.delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(BufReader::with_capacity(256 * 1024, file));
        let mut first = csv::ByteRecord::new();
        let got = reader
            .read_byte_record(&mut first)
            .map_err(|e| ConfigError::new(format!("cannot read source file {shown}: {e}")))?;
        if !got {
            return Err(ConfigError::new(format!("source file {shown} is empty")));
        }
        let (headers, next_row): (Vec<String>, u64) = if src.has_header {
            let mut hs = Vec::with_capacity(first.len());
            for (i, cell) in first.iter().enumerate() {
                let cell = if i == 0 {
                    cell.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(cell)
                } else {
                    cell
                };
                let s = std::str::from_utf8(cell).map_err(|_| {
                    ConfigError::new(format!(
                        "{shown}: the header (row 1) is not valid UTF-8; save the file as UTF-8"
                    ))
                })?;
                hs.push(s.trim().to_owned());
            }
            for (i, h) in hs.iter().enumerate() {
                if let Some(j) = hs[..i].iter().position(|o| !h.is_empty() && o == h) {
                    return Err(ConfigError::new(format!(
                        "{shown}: columns {} and {} are both named `{h}`; rename one so the mapping is unambiguous",
                        j + 1,
                        i + 1
                    )));
                }
            }
            (hs, 2)
        } else {
            ((1..=first.len()).map(|i| i.to_string()).collect(), 1)
        };
        let mut headers = headers;
        let reinput = src.has_header
            && headers.len() >= REJECT_COLUMNS.len()
            && headers[headers.len() - REJECT_COLUMNS.len()..] == REJECT_COLUMNS;
        if reinput {
            headers.truncate(headers.len() - REJECT_COLUMNS.len());
            for h in &mut headers {
                *h = unescape_formula(h).to_owned();
            }
        }
        let mut me = CsvReader {
            reader,
            headers: Arc::from(headers),
            record: csv::ByteRecord::new(),
            next_row,
            total_bytes,
            pending_first: false,
            reinput,
        };
        if !src.has_header {
            // Without a header the first record is data: keep it as the pending record.
            me.record = first;
            me.next_row = 1;
            me.pending_first = true;
        }
        Ok(me)
    }

    /// Column names (trimmed; original order).
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// Bytes read so far, and the file size (for progress).
    pub fn progress(&self) -> (u64, u64) {
        (self.reader.position().byte(), self.total_bytes)
    }

    fn item_from_record(&self, row: u64) -> SourceItem {
        let mut cells = Vec::with_capacity(self.record.len());
        let mut bad_utf8 = None;
        for (i, c) in self.record.iter().enumerate() {
            match std::str::from_utf8(c) {
                Ok(s) => cells.push(s.to_owned()),
                Err(_) => {
                    bad_utf8.get_or_insert(i);
                    cells.push(String::from_utf8_lossy(c).into_owned());
                }
            }
        }
        if self.reinput {
            cells.truncate(cells.len().saturating_sub(REJECT_COLUMNS.len()));
            for c in &mut cells {
                if let Some(stripped) = Some(unescape_formula(c)).filter(|u| u.len() != c.len()) {
                    *c = stripped.to_owned();
                }
            }
        }
        let raw = Record { row, cells };
        if let Some(i) = bad_utf8 {
            let col = self
                .headers
                .get(i)
                .cloned()
                .unwrap_or_else(|| (i + 1).to_string());
            return SourceItem::Malformed {
                raw,
                error: RowError::new(
                    Stage::Extract,
                    codes::INVALID_ENCODING,
                    format!("column `{col}` is not valid UTF-8"),
                    "save the file as UTF-8 (Excel: Save As → CSV UTF-8)",
                ),
            };
        }
        if raw.cells.len() != self.headers.len() {
            let error = RowError::new(
                Stage::Extract,
                codes::MALFORMED_ROW,
                format!(
                    "row has {} fields, the header has {}",
                    raw.cells.len(),
                    self.headers.len()
                ),
                "check for a missing or extra delimiter or an unclosed quote on this row",
            );
            return SourceItem::Malformed { raw, error };
        }
        SourceItem::Row(raw)
    }
}

impl Iterator for CsvReader {
    type Item = SourceItem;

    fn next(&mut self) -> Option<SourceItem> {
        if self.pending_first {
            self.pending_first = false;
        } else {
            match self.reader.read_byte_record(&mut self.record) {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => {
                    let row = self.next_row;
                    self.next_row += 1;
                    return Some(SourceItem::Malformed {
                        raw: Record {
                            row,
                            cells: Vec::new(),
                        },
                        error: RowError::new(
                            Stage::Extract,
                            codes::MALFORMED_ROW,
                            format!("unreadable row: {e}"),
                            "check the quoting on this row",
                        ),
                    });
                }
            }
        }
        let row = self.next_row;
        self.next_row += 1;
        Some(self.item_from_record(row))
    }
}
