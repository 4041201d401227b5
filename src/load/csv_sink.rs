//! The CSV sink (`load: {type: csv, path}`): rows that pass transform and dedup are written to a
//! file instead of a location — a location export or backup, or a cleaned copy of an input.
//! The file is written under a temporary name and renamed when the run ends, so a file at
//! `path` is always complete. It never destroys data: it refuses to write over its own source,
//! and an existing file is refused, kept beside a new one, merged into, or replaced only as
//! `load.if_exists` says. Cells a spreadsheet would run as formulas are escaped like the reports.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::{CsvColumns, IfExists};
use crate::error::ConfigError;
use crate::record::Record;
use crate::report::escape_formula;
use crate::transform::Prepared;
use ghl_client::fields::ContactField;

/// How the sink is set up.
#[derive(Debug, Clone)]
pub struct SinkOptions<'a> {
    /// `load.path`.
    pub path: &'a Path,
    /// `load.columns`.
    pub columns: CsvColumns,
    /// `load.if_exists`.
    pub if_exists: IfExists,
    /// `report.escape_formulas`.
    pub escape_formulas: bool,
    /// Files the sink must never write over (the source, follow-up files).
    pub inputs: Vec<PathBuf>,
    /// When the run started (names `new_file` files).
    pub started_at: time::OffsetDateTime,
}

/// An open CSV export.
pub struct CsvSink {
    w: csv::Writer<BufWriter<File>>,
    tmp: tempfile::TempPath,
    path: PathBuf,
    columns: CsvColumns,
    fields: Vec<ContactField>,
    escape: bool,
    /// With `merge`: the header and the column the rows are keyed by.
    merge: Option<(Vec<String>, usize)>,
}

/// `path` made absolute with its symlinks resolved as far as it exists.
fn canonical(path: &Path) -> PathBuf {
    if let Ok(p) = std::fs::canonicalize(path) {
        return p;
    }
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            std::fs::canonicalize(dir)
                .map(|d| d.join(name))
                .unwrap_or_else(|_| path.to_owned())
        }
        _ => path.to_owned(),
    }
}

impl CsvSink {
    /// Checks the destination against `load.if_exists` and the run's inputs, then creates the
    /// file under a temporary name and writes its header.
    pub fn create(
        o: &SinkOptions<'_>,
        source_headers: &[String],
        fields: Vec<ContactField>,
    ) -> anyhow::Result<Self> {
        let dest = canonical(o.path);
        if let Some(input) = o.inputs.iter().find(|i| canonical(i) == dest) {
            return Err(ConfigError::new(format!(
                "load.path {} is the run's input {}: the export would overwrite what it reads; write it \
                 elsewhere",
                o.path.display(),
                input.display()
            ))
            .into());
        }
        let header: Vec<String> = match o.columns {
            CsvColumns::Source => source_headers.to_vec(),
            CsvColumns::Mapped => fields.iter().map(|f| f.api_name().to_owned()).collect(),
        };
        let exists = o.path.exists();
        let (path, merge) = match (exists, o.if_exists) {
            (false, _) | (true, IfExists::Replace) => (o.path.to_owned(), None),
            (true, IfExists::Error) => {
                return Err(ConfigError::new(format!(
                    "load.path {} exists; set load.if_exists to `new_file` (one file per run), `merge` (update \
                     it by id or email, never removing rows) or `replace`",
                    o.path.display()
                ))
                .into())
            }
            (true, IfExists::NewFile) => (new_file_name(o.path, o.started_at), None),
            (true, IfExists::Merge) => {
                let key = ["id", "email"]
                    .iter()
                    .find_map(|k| header.iter().position(|h| h.eq_ignore_ascii_case(k)))
                    .ok_or_else(|| {
                        ConfigError::new(format!(
                            "load.if_exists: merge keys rows by an `id` or `email` column, and the export has \
                             neither (columns: {})",
                            header.join(", ")
                        ))
                    })?;
                let previous = read_header(o.path)?;
                if previous != header {
                    return Err(ConfigError::new(format!(
                        "load.if_exists: merge: {} has other columns than this export ({} vs {}); write to a new \
                         path or use `new_file`",
                        o.path.display(),
                        previous.len(),
                        header.len()
                    ))
                    .into());
                }
                (o.path.to_owned(), Some((header.clone(), key)))
            }
        };
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        crate::disk::create_private_dir(dir)?;
        let tmp = tempfile::NamedTempFile::new_in(dir)
            .with_context(|| format!("writing in {}", dir.display()))?;
        let (file, tmp) = tmp.into_parts();
        let mut w = csv::Writer::from_writer(BufWriter::new(file));
        w.write_record(&header)?;
        Ok(CsvSink {
            w,
            tmp,
            path,
            columns: o.columns,
            fields,
            escape: o.escape_formulas,
            merge,
        })
    }

    /// Writes one row (cells borrowed unless a formula prefix is added).
    pub fn write(&mut self, rec: &Record, prepared: &Prepared) -> anyhow::Result<()> {
        let escape = self.escape;
        let esc = |c| Cell::new(c, escape);
        match self.columns {
            CsvColumns::Source => self
                .w
                .write_record(rec.cells().map(|c| esc(std::borrow::Cow::Borrowed(c))))?,
            CsvColumns::Mapped => {
                let cells: Vec<Cell<'_>> = self
                    .fields
                    .iter()
                    .map(|f| esc(prepared.body.field_text(*f).unwrap_or_default().into()))
                    .collect();
                self.w.write_record(&cells)?
            }
        }
        Ok(())
    }

    /// Flushes, fsyncs and moves the file into place (with `merge`, the previous file's rows
    /// updated by this run's, then this run's new rows). Returns its path.
    pub fn finish(self) -> anyhow::Result<PathBuf> {
        let shown = self.path.display().to_string();
        let inner = self
            .w
            .into_inner()
            .map_err(|e| anyhow::anyhow!("writing {shown}: {}", e.error()))?;
        let file = inner
            .into_inner()
            .map_err(|e| anyhow::anyhow!("writing {shown}: {}", e.error()))?;
        file.sync_all()?;
        let tmp = match &self.merge {
            Some((header, key)) => merge_into(&self.path, &self.tmp, header, *key)?,
            None => self.tmp,
        };
        tmp.persist(&self.path)
            .with_context(|| format!("moving the export to {shown}"))?;
        Ok(self.path)
    }
}

/// `contacts.csv` → `contacts-20261129T020000Z.csv` (suffixed `-2`, `-3`… when taken).
fn new_file_name(path: &Path, at: time::OffsetDateTime) -> PathBuf {
    let stamp = crate::disk::stamp(at);
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    let mut n = 1;
    loop {
        let suffix = if n == 1 {
            String::new()
        } else {
            format!("-{n}")
        };
        let p = path.with_file_name(format!("{stem}-{stamp}{suffix}{ext}"));
        if !p.exists() {
            return p;
        }
        n += 1;
    }
}

fn read_header(path: &Path) -> anyhow::Result<Vec<String>> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .with_context(|| format!("reading {}", path.display()))?;
    let mut rec = csv::StringRecord::new();
    r.read_record(&mut rec)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(rec.iter().map(str::to_owned).collect())
}

/// Writes `previous` with the rows of `fresh` (this run's file) merged in by the column `key`:
/// a previous row whose key this run wrote is replaced, other previous rows are kept, this run's
/// other rows follow. Only this run's rows are held in memory.
fn merge_into(
    previous: &Path,
    fresh: &Path,
    header: &[String],
    key: usize,
) -> anyhow::Result<tempfile::TempPath> {
    let mut fresh_rows: Vec<csv::StringRecord> = Vec::new();
    let mut by_key: HashMap<String, usize> = HashMap::new();
    let mut r = csv::Reader::from_path(fresh)?;
    for rec in r.records() {
        let rec = rec?;
        let k = rec.get(key).unwrap_or_default().to_owned();
        if !k.is_empty() {
            by_key.insert(k, fresh_rows.len());
        }
        fresh_rows.push(rec);
    }
    let dir = previous
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let (file, tmp) = tempfile::NamedTempFile::new_in(dir)?.into_parts();
    let mut w = csv::Writer::from_writer(BufWriter::new(file));
    w.write_record(header)?;
    let mut used = vec![false; fresh_rows.len()];
    let mut old = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(previous)
        .with_context(|| format!("reading {}", previous.display()))?;
    for rec in old.records() {
        let rec = rec.with_context(|| format!("reading {}", previous.display()))?;
        match rec.get(key).and_then(|k| by_key.get(k)) {
            Some(&i) => {
                w.write_record(&fresh_rows[i])?;
                used[i] = true;
            }
            None => w.write_record(&rec)?,
        }
    }
    for (rec, done) in fresh_rows.iter().zip(&used) {
        if !done {
            w.write_record(rec)?;
        }
    }
    let file = w
        .into_inner()
        .map_err(|e| anyhow::anyhow!("writing {}: {}", previous.display(), e.error()))?
        .into_inner()
        .map_err(|e| anyhow::anyhow!("writing {}: {}", previous.display(), e.error()))?;
    file.sync_all()?;
    Ok(tmp)
}

/// One cell to write, borrowed when it needs no change.
struct Cell<'a>(std::borrow::Cow<'a, str>);

impl<'a> Cell<'a> {
    /// `c`, formula-escaped when `escape`.
    fn new(c: std::borrow::Cow<'a, str>, escape: bool) -> Self {
        use std::borrow::Cow;
        Cell(match (escape, c) {
            (true, Cow::Borrowed(b)) => escape_formula(b),
            (true, Cow::Owned(o)) => Cow::Owned(escape_formula(&o).into_owned()),
            (false, c) => c,
        })
    }
}

impl AsRef<[u8]> for Cell<'_> {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_replaces_by_key_keeps_the_rest_and_appends_new_rows() {
        let dir = tempfile::tempdir().unwrap();
        let prev = dir.path().join("c.csv");
        std::fs::write(&prev, "id,name\n1,Ann\n2,Ben\n3,Cy\n").unwrap();
        let fresh = dir.path().join("fresh.csv");
        std::fs::write(&fresh, "id,name\n2,Benjamin\n4,Di\n").unwrap();
        let header = vec!["id".to_owned(), "name".to_owned()];
        let tmp = merge_into(&prev, &fresh, &header, 0).unwrap();
        assert_eq!(
            std::fs::read_to_string(&tmp).unwrap(),
            "id,name\n1,Ann\n2,Benjamin\n3,Cy\n4,Di\n"
        );
    }

    #[test]
    fn new_files_are_named_by_time_and_never_taken() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("contacts.csv");
        let at = time::macros::datetime!(2026-11-29 02:00:00 UTC);
        let a = new_file_name(&p, at);
        assert_eq!(a.file_name().unwrap(), "contacts-20261129T020000Z.csv");
        std::fs::write(&a, "x").unwrap();
        assert_eq!(
            new_file_name(&p, at).file_name().unwrap(),
            "contacts-20261129T020000Z-2.csv"
        );
    }
}
