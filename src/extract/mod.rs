//! Sources: turn an input into a stream of [`Record`]s with source row numbers, or per-row
//! extraction errors (which become rejects; the run goes on). Every source yields the same
//! [`SourceItem`]s, so transform, load and reports need no special cases.

pub mod csv;
pub mod excel;
pub mod ghl;
mod ods_scan;
mod pg;
pub mod sheet;
pub mod sniff;
pub mod sql;
mod xls_scan;

use crate::config::{DuplicateHeaders, Source};
use crate::error::ConfigError;
use crate::outcome::RowError;
use crate::record::{Headers, Record};

static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Tells long reads (a workbook's sheet, counting a CSV's rows) that a stop signal arrived.
pub fn interrupt() {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Whether [`interrupt`] was called: a read that is not streamed row by row gives up.
pub fn interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::Relaxed)
}

/// A source file that cannot be opened, in words that say what to check (not a bare OS error).
pub fn cannot_open(path: &std::path::Path, e: &std::io::Error) -> ConfigError {
    use std::io::ErrorKind;
    let what = match e.kind() {
        ErrorKind::NotFound => {
            let folder = path.parent().filter(|f| !f.as_os_str().is_empty());
            match folder.map(|f| (f, f.is_dir())) {
                Some((f, false)) => {
                    format!("no such file: the folder {} does not exist", f.display())
                }
                _ => "no such file; check source.path (a relative path is read from the pipeline \
                      file's folder)"
                    .to_owned(),
            }
        }
        ErrorKind::PermissionDenied => {
            "permission denied: the user running ghl-import cannot read it".to_owned()
        }
        _ => crate::error::io_words(e),
    };
    ConfigError::new(format!(
        "cannot open source file {}: {what}",
        path.display()
    ))
}

/// A source must be a regular file: a FIFO would block every read (and `validate`) until a
/// writer comes, a device such as `/dev/zero` never ends, and a folder is not a file. Checked
/// with `stat`, which never blocks.
pub fn regular_file(path: &std::path::Path) -> Result<(), ConfigError> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| cannot_open(path, &e))?;
    if meta.is_file() {
        return Ok(());
    }
    let what = if meta.is_dir() {
        "a folder (for a folder that files are dropped into, use source.inbox)"
    } else {
        use std::os::unix::fs::FileTypeExt as _;
        let t = meta.file_type();
        if t.is_fifo() {
            "a named pipe (FIFO): it could block forever; write the data to a file first"
        } else if t.is_char_device() || t.is_block_device() {
            "a device, not a file"
        } else if t.is_socket() {
            "a socket, not a file"
        } else {
            "not a regular file"
        }
    };
    Err(ConfigError::new(format!("source file {shown} is {what}")))
}

/// How many of `headers`' last columns are the reason columns of one of our rejected files
/// (six, or five in reports written before `_column`), 0 when there are none.
pub fn reason_columns(headers: &[String]) -> usize {
    let cols: &[&str] = &crate::report::REJECT_COLUMNS;
    [cols, &cols[..5]]
        .into_iter()
        .find(|c| headers.len() >= c.len() && headers[headers.len() - c.len()..] == **c)
        .map_or(0, |c| c.len())
}

/// The reject of a `duplicate_in_file` row read back from our rejected file and held back:
/// `first_row` is its row in the first run.
pub fn held_duplicate(first_row: &str) -> RowError {
    RowError::new(
        crate::outcome::Stage::Dedup,
        crate::outcome::codes::DUPLICATE_IN_FILE,
        format!(
            "not replayed: row {first_row} of the first run duplicated a row that was loaded, and sending it \
             as it is would overwrite that contact"
        ),
        "merge what this row adds into the kept row's cells and retry that row, or run \
         `retry-rejects --include duplicates` to merge it into the kept contact (only empty fields are filled)",
    )
}

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

/// An open source of any kind.
pub enum SourceReader {
    /// CSV.
    Csv(csv::CsvReader),
    /// Workbook.
    Excel(excel::ExcelReader),
    /// GHL location.
    Ghl(Box<ghl::GhlReader>),
    /// A query's rows.
    Sql(sql::SqlReader),
}

impl SourceReader {
    /// Opens a file source and reads its header. Problems here are configuration errors (exit 2).
    /// A GHL source needs an API client: build [`ghl::GhlReader`] instead.
    pub fn open(src: &Source) -> Result<SourceReader, ConfigError> {
        Ok(match src {
            Source::Csv(c) => SourceReader::Csv(csv::CsvReader::open(c)?),
            Source::Excel(x) => SourceReader::Excel(excel::ExcelReader::open(x)?),
            Source::Sqlite(q) => SourceReader::Sql(sql::SqlReader::open(q)?),
            Source::Postgres(q) => SourceReader::Sql(sql::SqlReader::open_postgres(q)?),
            Source::Ghl(g) => {
                return Err(ConfigError::new(format!(
                    "GHL location {} is read with an API client (internal: use GhlReader)",
                    g.api.location_id
                )))
            }
        })
    }

    /// The column names a source will have, without opening it when they are fixed (GHL).
    pub fn headers_of(src: &Source) -> Result<Headers, ConfigError> {
        match src {
            // Fixed columns and includes; custom-field columns are only known once the location's
            // fields are listed at run time.
            Source::Ghl(g) => Ok(std::sync::Arc::from(
                ghl::CONTACT_COLUMNS
                    .iter()
                    .map(|c| c.to_string())
                    .chain(g.include.iter().map(|i| ghl::include_column(*i).to_owned()))
                    .collect::<Vec<_>>(),
            )),
            other => Ok(SourceReader::open(other)?.headers().clone()),
        }
    }

    /// Records skipped because every cell was blank (like empty lines).
    pub fn blank_records(&self) -> u64 {
        match self {
            SourceReader::Csv(r) => r.blank_records(),
            SourceReader::Excel(r) => r.blank_records(),
            SourceReader::Ghl(_) | SourceReader::Sql(_) => 0,
        }
    }

    /// The error that stopped a source early (GHL reads), taken once.
    pub fn take_error(&mut self) -> Option<String> {
        match self {
            SourceReader::Ghl(r) => r.take_error(),
            SourceReader::Sql(r) => r.take_error(),
            _ => None,
        }
    }

    /// Column names.
    pub fn headers(&self) -> &Headers {
        match self {
            SourceReader::Csv(r) => r.headers(),
            SourceReader::Excel(r) => r.headers(),
            SourceReader::Ghl(r) => r.headers(),
            SourceReader::Sql(r) => r.headers(),
        }
    }

    /// Data rows in the source (for progress), counted cheaply; 0 when unknown in advance.
    pub fn count_rows(src: &Source) -> Result<u64, ConfigError> {
        match src {
            Source::Csv(c) => csv::CsvReader::count_rows(c),
            Source::Excel(x) => Ok(excel::ExcelReader::open(x)?.remaining_rows()),
            Source::Ghl(_) | Source::Sqlite(_) | Source::Postgres(_) => Ok(0),
        }
    }
}

impl Iterator for SourceReader {
    type Item = SourceItem;

    fn next(&mut self) -> Option<SourceItem> {
        match self {
            SourceReader::Csv(r) => r.next(),
            SourceReader::Excel(r) => r.next(),
            SourceReader::Ghl(r) => r.next(),
            SourceReader::Sql(r) => r.next(),
        }
    }
}

/// The number of data rows of a source, estimated without reading it all (to choose a
/// planning strategy): a CSV file's size over the average line of its first 256 KiB (exact for
/// smaller files, give or take quoted line breaks). `None` when it cannot be told cheaply.
pub fn estimate_rows(src: &Source) -> Option<u64> {
    use std::io::Read;
    const SAMPLE: u64 = 256 * 1024;
    let Source::Csv(c) = src else { return None };
    let size = std::fs::metadata(&c.path).ok()?.len();
    let mut sample = Vec::new();
    std::fs::File::open(&c.path)
        .ok()?
        .take(SAMPLE)
        .read_to_end(&mut sample)
        .ok()?;
    let lines = sample.iter().filter(|b| **b == b'\n').count() as u64
        + u64::from(sample.last().is_some_and(|b| *b != b'\n'));
    if sample.is_empty() || lines == 0 {
        return Some(0);
    }
    let lines = if size <= SAMPLE {
        lines
    } else {
        size * lines / sample.len() as u64
    };
    Some(lines.saturating_sub(u64::from(c.has_header)))
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

/// Header hygiene shared by all file sources. Names keep their original text (reports show the
/// columns as the user wrote them; lookups ignore case and surrounding whitespace). Repeated
/// names — compared trimmed and case-insensitively — are refused (naming both columns) or the
/// later ones renamed `Name_2`, `Name_3`, … with a warning.
pub fn clean_headers(
    raw: Vec<String>,
    policy: DuplicateHeaders,
    shown: &str,
) -> Result<Vec<String>, ConfigError> {
    let key = |s: &str| {
        let mut k = String::with_capacity(s.len());
        for w in s.split_whitespace() {
            if !k.is_empty() {
                k.push(' ');
            }
            k.push_str(w);
        }
        k.to_lowercase()
    };
    // Each name's key → its column: one hash look-up per column, linear in the header's size.
    let mut seen: std::collections::HashMap<String, usize> =
        std::collections::HashMap::with_capacity(raw.len());
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for (i, h) in raw.into_iter().enumerate() {
        if h.trim().is_empty() {
            out.push(h);
            continue;
        }
        let k = key(&h);
        let Some(&j) = seen.get(&k) else {
            seen.insert(k, i);
            out.push(h);
            continue;
        };
        match policy {
            DuplicateHeaders::Error => {
                return Err(ConfigError::new(format!(
                    "{shown}: columns {} and {} are both named `{}`; rename one, or set \
                     source.duplicate_headers: suffix",
                    j + 1,
                    i + 1,
                    h.trim()
                )))
            }
            DuplicateHeaders::Suffix => {
                let mut n = 2;
                let (renamed, rk) = loop {
                    let c = format!("{}_{n}", h.trim());
                    let ck = key(&c);
                    if !seen.contains_key(&ck) {
                        break (c, ck);
                    }
                    n += 1;
                };
                tracing::warn!(column = i + 1, from = %h.trim(), to = %renamed, "Renamed a repeated column name.");
                seen.insert(rk, i);
                out.push(renamed);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_repeat_far_along_a_wide_header_is_found_with_both_positions() {
        let mut raw: Vec<String> = (0..100_000).map(|i| format!("Column {i}")).collect();
        raw.push(" column   7 ".into());
        let e = super::clean_headers(raw.clone(), super::DuplicateHeaders::Error, "f.csv")
            .unwrap_err()
            .to_string();
        assert!(e.contains("columns 8 and 100001"), "{e}");
        let ok = super::clean_headers(raw, super::DuplicateHeaders::Suffix, "f.csv").unwrap();
        assert_eq!(ok[100_000], "column   7_2");
        assert_eq!(ok.len(), 100_001);
    }

    use super::*;

    #[test]
    fn duplicate_headers_error_or_suffix() {
        let raw = || {
            vec![
                " Email ".to_owned(),
                "Name".into(),
                "Email".into(),
                "Email".into(),
                "".into(),
            ]
        };
        let e = clean_headers(raw(), DuplicateHeaders::Error, "f.csv")
            .unwrap_err()
            .to_string();
        assert!(e.contains("columns 1 and 3 are both named `Email`"), "{e}");
        let ok = clean_headers(raw(), DuplicateHeaders::Suffix, "f.csv").unwrap();
        assert_eq!(
            ok,
            [" Email ", "Name", "Email_2", "Email_3", ""],
            "original text kept"
        );
    }

    #[test]
    fn column_lookup_is_exact_then_loose() {
        let h: Headers = std::sync::Arc::from(vec![
            "E-mail".to_owned(),
            "First  Name".into(),
            "first name".into(),
        ]);
        assert_eq!(find_column(&h, "first name"), Some(2));
        assert_eq!(find_column(&h, "FIRST NAME"), Some(1));
        assert_eq!(find_column(&h, "Email"), None);
    }
}
