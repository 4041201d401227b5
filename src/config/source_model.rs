//! The pipeline keys of `source:`: a CSV file, a workbook, a GHL location, or an SQL query.

use std::num::{NonZeroU32, NonZeroU64};
use std::path::PathBuf;

use serde::Deserialize;

use super::model::*;

/// The source of rows. Internally tagged by `type`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SourceConfig {
    /// A delimited text file.
    Csv(CsvSourceConfig),
    /// An Excel or OpenDocument workbook.
    Excel(ExcelSourceConfig),
    /// The contacts of a GHL location.
    Ghl(GhlSourceConfig),
    /// The rows of a query on an SQLite database.
    Sqlite(SqliteSourceConfig),
    /// The rows of a query on a PostgreSQL database.
    Postgres(PostgresSourceConfig),
}

/// `source: {type: postgres, ...}`: the rows of a query, in the query's order.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresSourceConfig {
    /// The environment variable holding the connection URL
    /// (`postgres://user:password@host:port/db`): never the URL itself.
    pub url_env: String,
    /// The query; its column names are the mapping's columns.
    pub query: String,
    /// A column that orders the rows (unique), when the query has no `ORDER BY`.
    #[serde(default)]
    pub key: Option<String>,
}

/// `source: {type: sqlite, ...}`: the rows of a query, in the query's order.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqliteSourceConfig {
    /// The database file, relative to the pipeline file's folder unless absolute.
    pub path: PathBuf,
    /// The query; its column names are the mapping's columns.
    pub query: String,
    /// A column that orders the rows (unique), when the query has no `ORDER BY`.
    #[serde(default)]
    pub key: Option<String>,
}

/// `source: {type: ghl, ...}`: read a location's contacts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GhlSourceConfig {
    /// The location to read.
    pub location_id: String,
    /// API base URL.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// How to authenticate (a token with `contacts.readonly` is enough).
    pub auth: AuthConfig,
    /// `search` (`POST /contacts/search`, preferred) or `list` (the deprecated `GET /contacts/`).
    #[serde(default)]
    pub method: ReadMethod,
    /// Contacts per request: ≤ 500 for search, ≤ 100 for list.
    #[serde(default)]
    pub page_size: Option<NonZeroU32>,
    /// Search filters passed through: `[{field, operator, value}]` or `{group, filters}`.
    #[serde(default)]
    pub filters: Vec<serde_json::Value>,
    /// Free-text search (≤ 75 characters).
    #[serde(default)]
    pub query: Option<String>,
    /// Only contacts updated at or after this time (`YYYY-MM-DD` or RFC 3339).
    #[serde(default)]
    pub since: Option<String>,
    /// Read only what changed since the last successful run.
    #[serde(default)]
    pub incremental: Option<IncrementalConfig>,
    /// Per-contact extras to fetch (one request per contact and item).
    #[serde(default)]
    pub include: Vec<Include>,
    /// Add a column per custom field, named by its `fieldKey` (needs the
    /// `locations/customFields.readonly` scope).
    #[serde(default = "default_true")]
    pub custom_fields: bool,
}

/// Per-contact extras of a GHL source.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Include {
    /// `GET /contacts/{id}/notes`.
    Notes,
    /// `GET /contacts/{id}/tasks`.
    Tasks,
    /// `GET /contacts/{id}/appointments`.
    Appointments,
}

/// How contacts are read.
#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ReadMethod {
    /// `POST /contacts/search` with `searchAfter` paging.
    #[default]
    Search,
    /// Deprecated `GET /contacts/` with `startAfter`/`startAfterId` paging.
    List,
}

/// `incremental:`.
#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct IncrementalConfig {
    /// The field whose high-water mark is kept.
    pub cursor: CursorField,
}

/// Incremental cursor fields.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum CursorField {
    /// Last update time.
    DateUpdated,
}

/// `source: {type: csv, ...}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvSourceConfig {
    /// Path to the file, relative to the pipeline file's folder unless absolute.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// A folder files are dropped into, instead of `path`: each new file is imported once.
    #[serde(default)]
    pub inbox: Option<InboxConfig>,
    /// Field delimiter, one ASCII character; sniffed from `, ; TAB |` when absent.
    #[serde(default)]
    pub delimiter: Option<char>,
    /// Whether row 1 names the columns. Without a header, columns are named `1`, `2`, ….
    #[serde(default = "default_true")]
    pub has_header: bool,
    /// `auto` (BOM, else UTF-8) or an encoding label (`windows-1252`, `shift_jis`, `utf-16le`, …).
    #[serde(default)]
    pub encoding: Option<String>,
    /// With `encoding: auto`, the encoding for rows that are not valid UTF-8 (else they are rejected).
    #[serde(default)]
    pub fallback_encoding: Option<String>,
    /// A field longer than this many bytes makes its row `malformed_row`.
    #[serde(default = "default_max_field_bytes")]
    pub max_field_bytes: NonZeroU64,
    /// What to do when two columns have the same name.
    #[serde(default)]
    pub duplicate_headers: DuplicateHeaders,
}

/// Handling of repeated column names.
#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DuplicateHeaders {
    /// A configuration error naming both columns.
    #[default]
    Error,
    /// Rename the later ones `Name_2`, `Name_3`, … with a warning.
    Suffix,
}

/// `source: {type: excel, ...}` for .xlsx, .xlsm, .xlsb, .xls and .ods.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExcelSourceConfig {
    /// Path to the workbook, relative to the pipeline file's folder unless absolute.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// A folder workbooks are dropped into, instead of `path`.
    #[serde(default)]
    pub inbox: Option<InboxConfig>,
    /// Sheet name, or 0-based index; the first sheet when absent.
    #[serde(default)]
    pub sheet: Option<SheetRef>,
    /// 1-based row of the header, or `auto` to skip title rows and banners.
    #[serde(default)]
    pub header_row: HeaderRow,
    /// Columns whose numbers are date serials (converted to `YYYY-MM-DD`).
    #[serde(default)]
    pub date_columns: Vec<String>,
    /// What to do when two columns have the same name.
    #[serde(default)]
    pub duplicate_headers: DuplicateHeaders,
}

/// A sheet by name or 0-based index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SheetRef {
    /// By name.
    Name(String),
    /// By 0-based position.
    Index(usize),
}

impl<'de> Deserialize<'de> for SheetRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = SheetRef;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a sheet name or a 0-based sheet index")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SheetRef, E> {
                Ok(SheetRef::Name(v.to_owned()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<SheetRef, E> {
                Ok(SheetRef::Index(v as usize))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<SheetRef, E> {
                usize::try_from(v)
                    .map(SheetRef::Index)
                    .map_err(|_| E::custom("a sheet index cannot be negative"))
            }
        }
        d.deserialize_any(V)
    }
}

/// Where the header is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HeaderRow {
    /// The first row that looks like a header (skips titles and banners).
    #[default]
    Auto,
    /// This 1-based row.
    Row(u32),
}

impl<'de> Deserialize<'de> for HeaderRow {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = HeaderRow;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("`auto` or a 1-based row number")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<HeaderRow, E> {
                match v {
                    "auto" => Ok(HeaderRow::Auto),
                    _ => Err(E::custom(format!("`{v}` is not `auto` or a row number"))),
                }
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<HeaderRow, E> {
                u32::try_from(v)
                    .ok()
                    .filter(|n| *n >= 1)
                    .map(HeaderRow::Row)
                    .ok_or_else(|| E::custom("header_row counts from 1"))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<HeaderRow, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom("header_row counts from 1"))
                    .and_then(|v| self.visit_u64(v))
            }
        }
        d.deserialize_any(V)
    }
}
