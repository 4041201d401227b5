//! CSV source on the csv crate, for files as people really send them: streaming (one record
//! buffer reused), encodings (BOM detection for UTF-8/UTF-16, UTF-8 by default, a forced or
//! fallback encoding via encoding_rs), delimiter sniffing, source row numbers (header = row 1),
//! and per-row rejects for ragged rows, undecodable text, NUL bytes and oversize fields.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read};
use std::sync::Arc;

use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, UTF_8};

use crate::config::CsvSource;
use crate::error::ConfigError;
use crate::outcome::{codes, RowError, Stage};
use crate::record::{Headers, Record};
use crate::report::unescape_formula;

use super::{clean_headers, sniff::sniff_delimiter, SourceItem};

/// How many bytes are examined to sniff the delimiter and guess an encoding.
const SAMPLE_BYTES: usize = 64 * 1024;

type Input = Box<dyn Read + Send>;

/// How cells are turned into text.
#[derive(Debug, Clone, Copy)]
enum Decoding {
    /// UTF-8; cells that are not valid UTF-8 use the fallback, or are rejected.
    Utf8 { fallback: Option<&'static Encoding> },
    /// The stream was transcoded from UTF-16 to UTF-8; U+FFFD marks undecodable input.
    FromUtf16,
    /// A forced ASCII-compatible encoding, decoded cell by cell without replacement.
    Fixed(&'static Encoding),
}

/// An open CSV file positioned after its header.
pub struct CsvReader {
    reader: csv::Reader<Input>,
    headers: Headers,
    record: csv::ByteRecord,
    next_row: u64,
    pending_first: bool,
    /// When the file is one of our rejected.csv reports: how many reason columns end each row
    /// (0 otherwise); they are dropped, and so are our formula escapes.
    reinput: usize,
    decoding: Decoding,
    max_field: usize,
    /// See [`CsvSource::hold_duplicates`].
    hold_duplicates: bool,
    /// See [`CsvSource::source_rows`]: the last column holds the row number.
    source_rows: bool,
    /// Records skipped because every cell was blank after trimming.
    blank: u64,
    /// chardetng's guess for the file, computed on the first undecodable row.
    guess: Option<&'static Encoding>,
    path: std::path::PathBuf,
}

/// Opens the file as a UTF-8 (or ASCII-compatible) byte stream and says how to decode cells.
/// What a file is when its first bytes show it is not text: a workbook saved as .xlsx
/// (.xlsm, .xlsb and .ods are zip archives too) or .xls, a PDF, another zip archive.
fn not_text(start: &[u8]) -> Option<&'static str> {
    if start.starts_with(b"PK\x03\x04") {
        let head = &start[..start.len().min(4096)];
        let has = |needle: &[u8]| head.windows(needle.len()).any(|w| w == needle);
        return Some(
            if has(b"[Content_Types].xml") || has(b"xl/") || has(b"mimetypeapplication/vnd.oasis") {
                "a workbook (.xlsx, .xlsm, .xlsb or .ods)"
            } else {
                "a zip archive"
            },
        );
    }
    if start.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        return Some("an Excel 97-2003 workbook (.xls)");
    }
    if start.starts_with(b"%PDF") {
        return Some("a PDF document");
    }
    None
}

fn open_input(src: &CsvSource) -> Result<(Input, Decoding), ConfigError> {
    super::regular_file(&src.path)?;
    let shown = src.path.display();
    let file = File::open(&src.path).map_err(|e| super::cannot_open(&src.path, &e))?;
    // A buffer no larger than the file (a routed run reads hundreds of small parts at once).
    let size = file.metadata().map_or(u64::MAX, |m| m.len());
    let mut buf = BufReader::with_capacity(size.clamp(8 * 1024, 256 * 1024) as usize, file);
    let start = buf
        .fill_buf()
        .map_err(|e| ConfigError::new(format!("cannot read source file {shown}: {e}")))?;
    if let Some(what) = not_text(start) {
        return Err(ConfigError::new(format!(
            "source file {shown} is {what}, not a CSV file; {}",
            if what.contains("workbook") {
                "set source.type: excel to read it"
            } else {
                "export the contacts as CSV first"
            }
        )));
    }
    let bom = Encoding::for_bom(start).map(|(e, _)| e);
    let forced = src.encoding;
    let choice = match (forced, bom) {
        (Some(e), _) if e == UTF_16LE || e == UTF_16BE => Some(e),
        (None, Some(e)) if e == UTF_16LE || e == UTF_16BE => Some(e),
        _ => None,
    };
    if let Some(enc) = choice {
        let input: Input = Box::new(
            encoding_rs_io::DecodeReaderBytesBuilder::new()
                .encoding(Some(enc))
                .bom_override(true)
                .build(buf),
        );
        return Ok((input, Decoding::FromUtf16));
    }
    let decoding = match forced {
        Some(e) if e != UTF_8 => Decoding::Fixed(e),
        _ => Decoding::Utf8 {
            fallback: src.fallback_encoding,
        },
    };
    Ok((Box::new(buf), decoding))
}

/// The encoding of a file that is not UTF-8 (and has no BOM), as chardetng guesses it from the
/// first bytes where the UTF-8 check fails (up to 8 MiB are checked); `None` for UTF-8 (or a
/// BOM, which the reader follows). For `init`, which writes what it finds into the pipeline.
pub fn detect_encoding(path: &std::path::Path) -> std::io::Result<Option<&'static Encoding>> {
    const CHECKED: u64 = 8 << 20;
    let mut bytes = Vec::new();
    File::open(path)?.take(CHECKED).read_to_end(&mut bytes)?;
    if Encoding::for_bom(&bytes).is_some() {
        return Ok(None);
    }
    let bad = match std::str::from_utf8(&bytes) {
        Ok(_) => return Ok(None),
        // Cut off in the middle of a character at the end of what was read: UTF-8 so far.
        Err(e) if e.error_len().is_none() => return Ok(None),
        Err(e) => e.valid_up_to(),
    };
    let start = bad.saturating_sub(SAMPLE_BYTES / 2);
    let sample = &bytes[start..(start + SAMPLE_BYTES).min(bytes.len())];
    let mut det = chardetng::EncodingDetector::new();
    det.feed(sample, true);
    Ok(Some(det.guess(None, true)).filter(|g| *g != UTF_8))
}

impl CsvReader {
    /// Opens the file and reads its header. Problems here are configuration errors (exit 2).
    pub fn open(src: &CsvSource) -> Result<CsvReader, ConfigError> {
        let shown = src.path.display().to_string();
        let (mut input, decoding) = open_input(src)?;
        // Read a sample (for sniffing) and put it back in front of the stream.
        let mut sample = Vec::with_capacity(SAMPLE_BYTES);
        (&mut input)
            .take(SAMPLE_BYTES as u64)
            .read_to_end(&mut sample)
            .map_err(|e| ConfigError::new(format!("cannot read source file {shown}: {e}")))?;
        let truncated = sample.len() == SAMPLE_BYTES;
        let delimiter = match src.delimiter {
            Some(d) => d,
            None => sniff_delimiter(&sample, truncated).unwrap_or(b','),
        };
        let input: Input = Box::new(Cursor::new(sample).chain(input));
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(input);
        let mut first = csv::ByteRecord::new();
        let got = reader
            .read_byte_record(&mut first)
            .map_err(|e| ConfigError::new(format!("cannot read source file {shown}: {e}")))?;
        if !got {
            return Err(ConfigError::new(format!("source file {shown} is empty")));
        }
        let mut me = CsvReader {
            reader,
            headers: Arc::from(Vec::new()),
            record: csv::ByteRecord::new(),
            next_row: 2,
            pending_first: false,
            reinput: 0,
            decoding,
            max_field: usize::try_from(src.max_field_bytes).unwrap_or(usize::MAX),
            hold_duplicates: src.hold_duplicates,
            source_rows: false,
            blank: 0,
            guess: None,
            path: src.path.clone(),
        };
        let headers: Vec<String> = if src.has_header {
            let mut hs = Vec::with_capacity(first.len());
            for (i, cell) in first.iter().enumerate() {
                let cell = if i == 0 {
                    cell.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(cell)
                } else {
                    cell
                };
                match me.decode(cell) {
                    Some(s) => hs.push(s.into_owned()),
                    None => {
                        let guess = me.guess_encoding();
                        return Err(ConfigError::new(format!(
                            "{shown}: the header (row 1) is not valid {}; set source.encoding{}",
                            me.encoding_name(),
                            guess
                                .map(|g| format!(" (it looks like {})", g.name()))
                                .unwrap_or_default()
                        )));
                    }
                }
            }
            clean_headers(hs, src.duplicate_headers, &shown)?
        } else {
            me.record = first;
            me.next_row = 1;
            me.pending_first = true;
            (1..=me.record.len()).map(|i| i.to_string()).collect()
        };
        let mut headers = headers;
        // Ours: the reason columns at the end (reports before `_column` have five).
        let reinput = match src.has_header {
            true => super::reason_columns(&headers),
            false => 0,
        };
        if reinput > 0 {
            headers.truncate(headers.len() - reinput);
            for h in &mut headers {
                *h = unescape_formula(h).to_owned();
            }
        }
        me.reinput = reinput;
        if src.source_rows
            && headers.last().map(String::as_str) == Some(crate::config::SOURCE_ROW_COLUMN)
        {
            headers.pop();
            me.source_rows = true;
        }
        me.headers = Arc::from(headers);
        Ok(me)
    }

    /// Counts the data rows of `src` with a bare read (about 0.1 s per 100 MB), for progress.
    pub fn count_rows(src: &CsvSource) -> Result<u64, ConfigError> {
        let (input, _) = open_input(src)?;
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(src.delimiter.unwrap_or(b','))
            .has_headers(src.has_header)
            .flexible(true)
            .from_reader(input);
        let mut rec = csv::ByteRecord::new();
        let mut n: u64 = 0;
        loop {
            // A stop signal ends the count (the run then stops before its first row).
            if n.is_multiple_of(65_536) && super::interrupted() {
                break;
            }
            match reader.read_byte_record(&mut rec) {
                Ok(true) => n += 1,
                Ok(false) => break,
                // A row the csv crate cannot parse still counts (it becomes a reject).
                Err(_) if reader.is_done() => break,
                Err(_) => n += 1,
            }
        }
        Ok(n)
    }

    /// Records skipped so far because every cell was blank.
    pub fn blank_records(&self) -> u64 {
        self.blank
    }

    /// Column names (trimmed; original order).
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    fn encoding_name(&self) -> &'static str {
        match self.decoding {
            Decoding::Utf8 { .. } => "UTF-8",
            Decoding::FromUtf16 => "UTF-16",
            Decoding::Fixed(e) => e.name(),
        }
    }

    /// Decodes one cell without replacement; `None` if it is not valid in the file's encoding.
    fn decode<'c>(&self, cell: &'c [u8]) -> Option<Cow<'c, str>> {
        match self.decoding {
            Decoding::Utf8 { fallback } => match std::str::from_utf8(cell) {
                Ok(s) => Some(Cow::Borrowed(s)),
                Err(_) => fallback
                    .and_then(|e| e.decode_without_bom_handling_and_without_replacement(cell)),
            },
            Decoding::FromUtf16 => std::str::from_utf8(cell)
                .ok()
                .filter(|s| !s.contains('\u{FFFD}'))
                .map(Cow::Borrowed),
            Decoding::Fixed(e) => e.decode_without_bom_handling_and_without_replacement(cell),
        }
    }

    /// chardetng's guess from the first 64 KiB of the file (once).
    fn guess_encoding(&mut self) -> Option<&'static Encoding> {
        if self.guess.is_none() {
            let mut sample = Vec::new();
            if let Ok(f) = File::open(&self.path) {
                let _ = f.take(SAMPLE_BYTES as u64).read_to_end(&mut sample);
            }
            let mut det = chardetng::EncodingDetector::new();
            det.feed(&sample, sample.len() < SAMPLE_BYTES);
            let g = det.guess(None, true);
            self.guess = Some(g);
        }
        self.guess.filter(|g| *g != UTF_8)
    }

    fn column_name(&self, i: usize) -> String {
        self.headers
            .get(i)
            .cloned()
            .unwrap_or_else(|| (i + 1).to_string())
    }

    fn item_from_record(&mut self, row: u64) -> SourceItem {
        let record = std::mem::take(&mut self.record);
        // A re-read rejected.csv carries our report columns at the end: leave them out; a
        // location's part of a multi-location run, the original row number.
        let mut keep = record.len().saturating_sub(self.reinput);
        let (row, numeric) = match self.source_rows {
            true => {
                keep = keep.saturating_sub(1);
                let cell = record
                    .get(keep)
                    .and_then(|c| std::str::from_utf8(c).ok())
                    .unwrap_or_default();
                let (r, bits) = cell.split_once(';').unwrap_or((cell, "0"));
                (r.parse().unwrap_or(row), bits.parse().unwrap_or(0))
            }
            false => (row, 0),
        };
        let held = self.hold_duplicates
            && self.reinput > 0
            && record.get(keep + 2) == Some(codes::DUPLICATE_IN_FILE.as_bytes());
        // A re-read rejected row keeps its number in the user's file (`_row`), and a ragged row
        // whose padding is still empty is still ragged: loading it would shift its cells.
        let (row, still_ragged) = match self.reinput > 0 {
            true => reread(&record, keep, row),
            false => (row, None),
        };
        let mut raw = Record::with_capacity(row, record.as_slice().len(), keep);
        raw.numeric = numeric;
        let mut problem: Option<RowError> = None;
        for (i, c) in record.iter().take(keep).enumerate() {
            if problem.is_none() {
                if c.len() > self.max_field {
                    problem = Some(RowError::new(
                        Stage::Extract,
                        codes::MALFORMED_ROW,
                        format!(
                            "column `{}` holds {} bytes, more than source.max_field_bytes ({})",
                            self.column_name(i),
                            c.len(),
                            self.max_field
                        ),
                        "check for an unclosed quote above this cell, or raise source.max_field_bytes",
                    ));
                } else if c.contains(&0) {
                    problem = Some(RowError::new(
                        Stage::Extract,
                        codes::MALFORMED_ROW,
                        format!("column `{}` contains a NUL byte", self.column_name(i)),
                        "the file may be binary or UTF-16 without a BOM; set source.encoding if so",
                    ));
                }
            }
            match self.decode(c) {
                Some(s) if self.reinput > 0 || self.source_rows => raw.push(unescape_formula(&s)),
                Some(s) => raw.push(&s),
                None => {
                    if problem.is_none() {
                        let col = self.column_name(i);
                        let name = self.encoding_name();
                        let guess = self.guess_encoding();
                        problem = Some(RowError::new(
                            Stage::Extract,
                            codes::INVALID_ENCODING,
                            format!("column `{col}` is not valid {name}"),
                            match guess {
                                Some(g) => format!(
                                    "the file looks like {}: set source.encoding (or fallback_encoding) to it, \
                                     or save the file as UTF-8",
                                    g.name()
                                ),
                                None => "save the file as UTF-8 (Excel: Save As → CSV UTF-8) or set source.encoding".into(),
                            },
                        ));
                    }
                    raw.push(&String::from_utf8_lossy(c));
                }
            }
        }
        let first_row = record
            .get(keep)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .unwrap_or_default();
        self.record = record;
        if let Some(error) = problem {
            return SourceItem::Malformed { raw, error };
        }
        if held {
            let error = super::held_duplicate(&first_row);
            return SourceItem::Malformed { raw, error };
        }
        if let Some(error) = still_ragged {
            return SourceItem::Malformed { raw, error };
        }
        if raw.len() != self.headers.len() {
            let multiline = raw.cells().any(|c| c.contains('\n'));
            let error = RowError::new(
                Stage::Extract,
                codes::MALFORMED_ROW,
                format!(
                    "row has {} fields, the header has {}{}",
                    raw.len(),
                    self.headers.len(),
                    if multiline {
                        "; a quoted field spans several lines"
                    } else {
                        ""
                    }
                ),
                if multiline {
                    "check for an unclosed quote on this row: it swallows the lines after it"
                } else {
                    "check for a missing or extra delimiter or an unclosed quote on this row"
                },
            );
            return SourceItem::Malformed { raw, error };
        }
        SourceItem::Row(raw)
    }
}

/// A row of one of our rejected.csv files read back: its source row number (`_row`, else the
/// line), and, for a row rejected as ragged (`row has N fields, the header has M`, N < M) whose
/// padded cells are all still empty, the reject again — the user has not fixed it.
fn reread(record: &csv::ByteRecord, keep: usize, line: u64) -> (u64, Option<RowError>) {
    let text = |i: usize| record.get(i).and_then(|c| std::str::from_utf8(c).ok());
    let row = text(keep)
        .and_then(|r| r.trim().parse().ok())
        .unwrap_or(line);
    if text(keep + 2) != Some(codes::MALFORMED_ROW) {
        return (row, None);
    }
    let message = text(keep + 3).unwrap_or_default();
    let had = message
        .strip_prefix("row has ")
        .and_then(|m| m.split(' ').next())
        .and_then(|n| n.parse::<usize>().ok());
    let Some(had) = had.filter(|n| *n < keep) else {
        return (row, None);
    };
    let padding_empty =
        (had..keep).all(|i| record.get(i).is_none_or(|c| c.trim_ascii().is_empty()));
    if !padding_empty {
        return (row, None);
    }
    let error = RowError::new(
        Stage::Extract,
        codes::MALFORMED_ROW,
        format!(
            "still ragged: row {row} had {had} fields for {keep} columns, and the {} cells the report added are still empty",
            keep - had
        ),
        "put each value in its column (the report padded the row at its end), then retry",
    );
    (row, Some(error))
}

impl Iterator for CsvReader {
    type Item = SourceItem;

    fn next(&mut self) -> Option<SourceItem> {
        if self.pending_first {
            self.pending_first = false;
        } else {
            // A loop, not recursion: a file may end in tens of thousands of blank records.
            loop {
                match self.reader.read_byte_record(&mut self.record) {
                    // A record of blank cells (`,,,`, spaces) is a blank line: skipped, counted,
                    // and given no row number.
                    Ok(true) if self.record.iter().all(|c| c.trim_ascii().is_empty()) => {
                        self.blank += 1;
                        continue;
                    }
                    Ok(true) => break,
                    Ok(false) => return None,
                    Err(e) => {
                        if self.reader.is_done() {
                            return None;
                        }
                        let row = self.next_row;
                        self.next_row += 1;
                        return Some(SourceItem::Malformed {
                            raw: Record::new(row, Vec::<String>::new()),
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
        }
        let row = self.next_row;
        self.next_row += 1;
        Some(self.item_from_record(row))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn source(bytes: &[u8], has_header: bool) -> (tempfile::NamedTempFile, CsvSource) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        let src = CsvSource {
            has_header,
            ..CsvSource::new(f.path())
        };
        (f, src)
    }

    fn rows(r: CsvReader) -> Vec<(u64, Result<Vec<String>, &'static str>)> {
        r.map(|i| match i {
            SourceItem::Row(rec) => (rec.row, Ok(rec.to_vec())),
            SourceItem::Malformed { raw, error } => (raw.row, Err(error.code)),
        })
        .collect()
    }

    #[test]
    fn a_locations_part_keeps_the_source_rows_and_number_cells() {
        let (_f, src) = source(
            b"Name,Phone,_source_row\nAnn,5551234,5\nBen,5559876,7;2\n",
            true,
        );
        let src = CsvSource {
            source_rows: true,
            ..src
        };
        let r = CsvReader::open(&src).unwrap();
        assert_eq!(&r.headers()[..], ["Name", "Phone"]);
        let got: Vec<(u64, Vec<String>, bool)> = r
            .map(|i| match i {
                SourceItem::Row(rec) => (rec.row, rec.to_vec(), rec.is_numeric(1)),
                SourceItem::Malformed { error, .. } => panic!("{error:?}"),
            })
            .collect();
        assert_eq!(
            got,
            [
                (5, vec!["Ann".to_owned(), "5551234".to_owned()], false),
                (7, vec!["Ben".to_owned(), "5559876".to_owned()], true),
            ]
        );
        // In a user's own file (no `source_rows`), a column of that name is data.
        let (_g, plain) = source(b"Name,_source_row\nAnn,5\n", true);
        assert_eq!(CsvReader::open(&plain).unwrap().headers().len(), 2);
    }

    #[test]
    fn bom_is_stripped_and_rows_are_numbered_from_two() {
        let (_f, src) = source(b"\xEF\xBB\xBFEmail , Name\r\na@x.co,Ann\r\n\"b@x.co\",\"Multi\nline\"\r\nc@x.co,Cy\r\n", true);
        let r = CsvReader::open(&src).unwrap();
        assert_eq!(
            &r.headers()[..],
            ["Email ", " Name"],
            "BOM stripped, text kept"
        );
        let got = rows(r);
        assert_eq!(got.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [2, 3, 4]);
        assert_eq!(got[1].1.as_ref().unwrap()[1], "Multi\nline");
    }

    #[test]
    fn ragged_rows_and_bad_utf8_are_rejected_per_row() {
        let (_f, src) = source(b"a,b\n1,2\n1\n1,2,3\n\xff\xfe,2\n5,6\n", true);
        let got = rows(CsvReader::open(&src).unwrap());
        let codes: Vec<_> = got
            .iter()
            .map(|(n, r)| (*n, r.as_ref().err().copied()))
            .collect();
        assert_eq!(
            codes,
            [
                (2, None),
                (3, Some(codes::MALFORMED_ROW)),
                (4, Some(codes::MALFORMED_ROW)),
                (5, Some(codes::INVALID_ENCODING)),
                (6, None)
            ]
        );
    }

    #[test]
    fn count_rows_matches_the_rows_the_reader_yields() {
        let (_f, src) = source(b"a,b\n1,2\n1\n\"x\ny\",3\n\xff,2\n", true);
        let n = CsvReader::count_rows(&src).unwrap();
        assert_eq!(n, 4);
        assert_eq!(rows(CsvReader::open(&src).unwrap()).len() as u64, n);
    }

    #[test]
    fn without_header_columns_are_numbered_and_row_one_is_data() {
        let (_f, src) = source(b"a@x.co,Ann\nb@x.co,Ben\n", false);
        let r = CsvReader::open(&src).unwrap();
        assert_eq!(&r.headers()[..], ["1", "2"]);
        let got = rows(r);
        assert_eq!(got[0], (1, Ok(vec!["a@x.co".to_owned(), "Ann".to_owned()])));
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn empty_file_duplicate_headers_and_missing_file_are_config_errors() {
        let (_f, src) = source(b"", true);
        assert!(CsvReader::open(&src)
            .err()
            .unwrap()
            .to_string()
            .contains("is empty"));
        let (_f, src) = source(b"Email,Name,Email\n", true);
        let e = CsvReader::open(&src).err().unwrap().to_string();
        assert!(e.contains("columns 1 and 3 are both named `Email`"), "{e}");
        let src = CsvSource::new("/nonexistent/x.csv");
        assert!(CsvReader::open(&src)
            .err()
            .unwrap()
            .to_string()
            .contains("cannot open source file"));
    }

    #[test]
    fn reading_back_a_rejected_csv_drops_reason_columns_and_escapes() {
        let (_f, src) = source(
            b"Email,Phone,_row,_stage,_code,_message,_hint\nbad@,'+1 415 555 2671,2,validate,invalid_email,m,h\n",
            true,
        );
        let r = CsvReader::open(&src).unwrap();
        assert_eq!(&r.headers()[..], ["Email", "Phone"]);
        let got = rows(r);
        assert_eq!(
            got[0].1,
            Ok(vec!["bad@".to_owned(), "+1 415 555 2671".to_owned()])
        );
        // Today's reports end with `_column` too.
        let (_f, src) = source(
            b"Email,Phone,_row,_stage,_code,_message,_hint,_column
bad@,1,2,validate,invalid_email,m,h,Email
",
            true,
        );
        let r = CsvReader::open(&src).unwrap();
        assert_eq!(&r.headers()[..], ["Email", "Phone"]);
        assert_eq!(rows(r)[0].1, Ok(vec!["bad@".to_owned(), "1".to_owned()]));
    }
}
