//! The CSV sink (`load: {type: csv, path}`): rows that pass transform and dedup are written to a
//! file instead of a location — a location export or backup, or a cleaned copy of an input.
//! The file is written under a temporary name and renamed when the run ends, so a file at
//! `path` is always complete.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::CsvColumns;
use crate::ghl::fields::ContactField;
use crate::record::Record;
use crate::transform::Prepared;

/// An open CSV export.
pub struct CsvSink {
    w: csv::Writer<BufWriter<File>>,
    tmp: tempfile::TempPath,
    path: PathBuf,
    columns: CsvColumns,
    fields: Vec<ContactField>,
}

impl CsvSink {
    /// Creates the file (under a temporary name) and writes its header.
    pub fn create(
        path: &Path,
        columns: CsvColumns,
        source_headers: &[String],
        fields: Vec<ContactField>,
    ) -> anyhow::Result<Self> {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let tmp = tempfile::NamedTempFile::new_in(dir)
            .with_context(|| format!("writing in {}", dir.display()))?;
        let (file, tmp) = tmp.into_parts();
        let mut w = csv::Writer::from_writer(BufWriter::new(file));
        match columns {
            CsvColumns::Source => w.write_record(source_headers)?,
            CsvColumns::Mapped => w.write_record(fields.iter().map(|f| f.api_name()))?,
        }
        Ok(CsvSink {
            w,
            tmp,
            path: path.to_path_buf(),
            columns,
            fields,
        })
    }

    /// Writes one row.
    pub fn write(&mut self, rec: &Record, prepared: &Prepared) -> anyhow::Result<()> {
        match self.columns {
            CsvColumns::Source => self.w.write_record(rec.cells())?,
            CsvColumns::Mapped => {
                let cells: Vec<String> = self
                    .fields
                    .iter()
                    .map(|f| prepared.body.field_text(*f).unwrap_or_default())
                    .collect();
                self.w.write_record(&cells)?
            }
        }
        Ok(())
    }

    /// Flushes, fsyncs and moves the file into place. Returns its path.
    pub fn finish(self) -> anyhow::Result<PathBuf> {
        let inner = self
            .w
            .into_inner()
            .map_err(|e| anyhow::anyhow!("writing {}: {}", self.path.display(), e.error()))?;
        let file = inner
            .into_inner()
            .map_err(|e| anyhow::anyhow!("writing {}: {}", self.path.display(), e.error()))?;
        file.sync_all()?;
        self.tmp
            .persist(&self.path)
            .with_context(|| format!("moving the export to {}", self.path.display()))?;
        Ok(self.path)
    }
}
