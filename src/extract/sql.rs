//! SQL sources: the rows of a query, streamed. SQLite is read through rusqlite (opened
//! read-only), PostgreSQL through a server-side cursor (`pg.rs`), each on a thread of its own that hands rows over a bounded channel, so memory stays
//! flat whatever the table's size. The query's column names are the header; rows are numbered
//! from 1 in the query's order, which must be stable (`ORDER BY`, or `source.key`) so that a
//! re-run reads the same rows in the same order and the journal resumes it.
//!
//! Values become cells the way the CSV reader's text would read: NULL is an empty cell, integers
//! and reals in their shortest decimal form (`3`, `2.5`), text as it is, a BLOB as `\x` and its
//! bytes in hex (visible in the reports if a mapped field cannot take it).

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use rusqlite::types::ValueRef;

use super::SourceItem;
use crate::config::SqliteSource;
use crate::error::ConfigError;
use crate::outcome::{codes, RowError, Stage};
use crate::record::{Headers, Record};

/// Rows handed over together (one channel message each batch).
pub(super) const BATCH: usize = 256;

/// Batches handed over at most before the query waits for the pipeline.
const IN_HAND: usize = 8;

/// What the query's thread says.
pub(super) enum Said {
    /// The column names, or why the query cannot run.
    Header(Result<Vec<String>, String>),
    /// Rows' cells, in order.
    Rows(Vec<Vec<String>>),
    /// A row with a text cell that is not UTF-8: its cells (that one decoded lossily) and the
    /// column.
    BadText(Vec<String>, String),
    /// The query failed after its first rows.
    Failed(String),
}

/// The rows of a query on an SQLite database.
pub struct SqlReader {
    headers: Headers,
    rows: Receiver<Said>,
    /// Rows received and not yet taken.
    ready: std::collections::VecDeque<Vec<String>>,
    row: u64,
    error: Option<String>,
}

impl std::fmt::Debug for SqlReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlReader")
            .field("headers", &self.headers)
            .field("row", &self.row)
            .finish()
    }
}

impl SqlReader {
    /// Opens the database read-only, starts the query and reads its column names. A missing
    /// file, a query SQLite refuses, or two columns of one name are configuration errors.
    pub fn open(src: &SqliteSource) -> Result<SqlReader, ConfigError> {
        let (path, query) = (src.path.clone(), src.ordered_query());
        let shown = src.path.display().to_string();
        Self::start(shown, move |tx| query_rows(&path, &query, tx))
    }

    /// Connects to the database the source's variable names, starts the query (through a
    /// server-side cursor) and reads its column names. An unset variable, a refused connection
    /// or a refused query are configuration errors, and never show the URL.
    pub fn open_postgres(src: &crate::config::PostgresSource) -> Result<SqlReader, ConfigError> {
        let url = std::env::var(&src.url_env).map_err(|_| {
            ConfigError::new(format!(
                "source.url_env: environment variable `{}` is not set; export the database's \
                 connection URL in it (postgres://user:password@host:5432/db)",
                src.url_env
            ))
        })?;
        let url = secrecy::SecretString::from(url);
        let query = src.ordered_query();
        let shown = format!("the PostgreSQL database in ${}", src.url_env);
        Self::start(shown, move |tx| super::pg::query_rows(&url, &query, tx))
    }

    /// Runs `work` on a thread of its own and waits for the column names it sends first.
    fn start(
        shown: String,
        work: impl FnOnce(&SyncSender<Said>) + Send + 'static,
    ) -> Result<SqlReader, ConfigError> {
        let (tx, rx) = sync_channel(IN_HAND);
        std::thread::Builder::new()
            .name("sql-source".into())
            .spawn(move || work(&tx))
            .map_err(|e| ConfigError::new(format!("cannot start the SQL reader: {e}")))?;
        let names = match rx.recv() {
            Ok(Said::Header(Ok(names))) => names,
            Ok(Said::Header(Err(why))) => {
                return Err(ConfigError::new(format!("source {shown}: {why}")))
            }
            _ => {
                return Err(ConfigError::new(format!(
                    "source {shown}: the query did not start"
                )))
            }
        };
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = names.iter().find(|n| !seen.insert(n.as_str())) {
            return Err(ConfigError::new(format!(
                "source {shown}: the query returns two columns named `{dup}`; name them apart \
                 with AS (`select a.email as email, b.email as other_email …`)"
            )));
        }
        Ok(SqlReader {
            headers: std::sync::Arc::from(names),
            rows: rx,
            ready: std::collections::VecDeque::new(),
            row: 0,
            error: None,
        })
    }

    /// The query's column names.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// Why the query stopped before its last row, taken once.
    pub fn take_error(&mut self) -> Option<String> {
        self.error.take()
    }
}

impl Iterator for SqlReader {
    type Item = SourceItem;

    fn next(&mut self) -> Option<SourceItem> {
        if let Some(cells) = self.ready.pop_front() {
            self.row += 1;
            return Some(SourceItem::Row(Record::new(self.row, cells)));
        }
        match self.rows.recv().ok()? {
            Said::Rows(batch) => {
                self.ready = batch.into();
                self.next()
            }
            Said::BadText(cells, column) => {
                self.row += 1;
                let mut error = RowError::new(
                    Stage::Extract,
                    codes::MALFORMED_ROW,
                    format!("column `{column}` holds text that is not UTF-8"),
                    "store the text as UTF-8 in the database (or CAST it to a BLOB to see its bytes)",
                );
                error.column = Some(column);
                Some(SourceItem::Malformed {
                    raw: Record::new(self.row, cells),
                    error,
                })
            }
            Said::Failed(why) => {
                self.error = Some(format!("the query stopped after row {}: {why}", self.row));
                None
            }
            Said::Header(_) => None,
        }
    }
}

/// The query's thread: column names, then each row, until the rows end or nobody reads them.
fn query_rows(path: &std::path::Path, query: &str, tx: &SyncSender<Said>) {
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = match rusqlite::Connection::open_with_flags(path, flags) {
        Ok(c) => c,
        Err(e) => {
            let _ = tx.send(Said::Header(Err(format!(
                "cannot open it as an SQLite database: {e}"
            ))));
            return;
        }
    };
    let _ = conn.busy_timeout(std::time::Duration::from_secs(10));
    let mut stmt = match conn.prepare(query) {
        Ok(s) => s,
        Err(e) => {
            let _ = tx.send(Said::Header(Err(format!("the query is refused: {e}"))));
            return;
        }
    };
    let names: Vec<String> = stmt.column_names().iter().map(|n| n.to_string()).collect();
    let width = names.len();
    if tx.send(Said::Header(Ok(names.clone()))).is_err() {
        return;
    }
    let mut rows = match stmt.query([]) {
        Ok(r) => r,
        Err(e) => {
            let _ = tx.send(Said::Failed(e.to_string()));
            return;
        }
    };
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let said = match rows.next() {
            Ok(Some(row)) => match cells_of(row, width, &names) {
                Said::Rows(mut one) => {
                    batch.append(&mut one);
                    if batch.len() < BATCH {
                        continue;
                    }
                    None
                }
                other => Some(other),
            },
            Ok(None) => {
                let _ = tx.send(Said::Rows(batch));
                return;
            }
            Err(e) => Some(Said::Failed(e.to_string())),
        };
        // A batch is full, or a row stands apart (a malformed row, a failure) after those before it.
        let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
        if !full.is_empty() && tx.send(Said::Rows(full)).is_err() {
            return;
        }
        if let Some(said) = said {
            let last = matches!(said, Said::Failed(_));
            if tx.send(said).is_err() || last {
                return;
            }
        }
    }
}

/// A row's values as cells; a text that is not UTF-8 makes it `BadText` (its cell decoded
/// lossily for the report).
fn cells_of(row: &rusqlite::Row<'_>, width: usize, names: &[String]) -> Said {
    let mut cells = Vec::with_capacity(width);
    let mut bad = None;
    for (i, name) in names.iter().enumerate().take(width) {
        let v = match row.get_ref(i) {
            Ok(v) => v,
            Err(e) => return Said::Failed(e.to_string()),
        };
        match cell(v) {
            Some(c) => cells.push(c),
            None => {
                bad.get_or_insert_with(|| name.clone());
                cells.push(String::from_utf8_lossy(v.as_bytes().unwrap_or_default()).into_owned());
            }
        }
    }
    match bad {
        Some(column) => Said::BadText(cells, column),
        None => Said::Rows(vec![cells]),
    }
}

/// One value as a cell; `None` for text that is not UTF-8.
fn cell(v: ValueRef<'_>) -> Option<String> {
    Some(match v {
        ValueRef::Null => String::new(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(f) => f.to_string(),
        ValueRef::Text(t) => std::str::from_utf8(t).ok()?.to_owned(),
        ValueRef::Blob(b) => {
            let mut s = String::with_capacity(2 + 2 * b.len());
            s.push_str("\\x");
            for byte in b {
                s.push_str(&format!("{byte:02x}"));
            }
            s
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_become_cells_as_text_would_read() {
        assert_eq!(cell(ValueRef::Null).unwrap(), "");
        assert_eq!(cell(ValueRef::Integer(-42)).unwrap(), "-42");
        assert_eq!(cell(ValueRef::Real(3.0)).unwrap(), "3");
        assert_eq!(cell(ValueRef::Real(2.5)).unwrap(), "2.5");
        assert_eq!(cell(ValueRef::Text("Zoë".as_bytes())).unwrap(), "Zoë");
        assert_eq!(cell(ValueRef::Blob(&[0, 255])).unwrap(), "\\x00ff");
        assert_eq!(cell(ValueRef::Text(&[0xff, 0xfe])), None);
    }
}
