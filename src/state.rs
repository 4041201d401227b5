//! Small persistent state between runs, in a state folder (default `.ghl-import/` under the
//! current directory): the incremental high-water mark of GHL sources. Files are replaced
//! atomically (temp file in the same folder, fsync, rename), so a crash never leaves half a file.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::extract::ghl::Watermark;

/// Default state folder.
pub const DEFAULT_STATE_DIR: &str = ".ghl-import";

/// The state folder.
#[derive(Debug, Clone)]
pub struct StateStore {
    dir: PathBuf,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct WatermarkFile {
    version: u32,
    cursor: String,
    #[serde(flatten)]
    watermark: Watermark,
}

impl StateStore {
    /// A store in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        StateStore { dir: dir.into() }
    }

    fn watermark_path(&self, pipeline: &str, location: &str) -> PathBuf {
        self.dir
            .join("incremental")
            .join(format!("{}.json", file_key(pipeline, location)))
    }

    /// The stored mark of a pipeline's GHL source, if any.
    pub fn load_watermark(
        &self,
        pipeline: &str,
        location: &str,
    ) -> anyhow::Result<Option<Watermark>> {
        let path = self.watermark_path(pipeline, location);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let f: WatermarkFile = serde_json::from_str(&text).with_context(|| {
                    format!(
                        "reading incremental state {} (delete it or run with --full-refresh)",
                        path.display()
                    )
                })?;
                Ok(Some(f.watermark).filter(|w| !w.mark.is_empty()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => {
                Err(e).with_context(|| format!("reading incremental state {}", path.display()))
            }
        }
    }

    /// Replaces the stored mark atomically.
    pub fn save_watermark(
        &self,
        pipeline: &str,
        location: &str,
        w: &Watermark,
    ) -> anyhow::Result<PathBuf> {
        let path = self.watermark_path(pipeline, location);
        let body = serde_json::to_vec_pretty(&WatermarkFile {
            version: 1,
            cursor: "dateUpdated".into(),
            watermark: w.clone(),
        })?;
        write_atomically(&path, &body)?;
        Ok(path)
    }
}

/// `20261129T214500Z`: the UTC second `at`, as report folders, run ids and new export files
/// name it.
pub fn stamp(at: time::OffsetDateTime) -> String {
    at.format(time::macros::format_description!(
        "[year][month][day]T[hour][minute][second]Z"
    ))
    .unwrap_or_else(|_| "run".into())
}

/// `at` in RFC 3339, as every file and log of ours writes times.
pub fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// An RFC 3339 time as our files and the API write them, if it is one.
pub fn parse_rfc3339(text: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

/// A file name for state of `pipeline` at `location`: letters, digits, `-` and `_` kept, the rest `_`.
pub fn file_key(pipeline: &str, location: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    format!("{}--{}", clean(pipeline), clean(location))
}

/// Creates `dir` (and its parents) readable by the owner only (0700 on Unix): state and reports
/// hold customer data.
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

/// Writes `body` to `path` through a temp file in the same folder, fsynced, then renamed.
pub fn write_atomically(path: &Path, body: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("writing in {}", dir.display()))?;
    tmp.write_all(body)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermark_round_trips_per_pipeline_and_location() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path());
        assert_eq!(store.load_watermark("p", "L").unwrap(), None);
        let w = Watermark {
            mark: "2026-01-01T00:00:00.5Z".into(),
            ids_at_mark: vec!["a".into()],
        };
        store.save_watermark("p", "L", &w).unwrap();
        assert_eq!(store.load_watermark("p", "L").unwrap(), Some(w));
        assert_eq!(store.load_watermark("p", "other").unwrap(), None);
        std::fs::write(store.watermark_path("p", "L"), "{oops").unwrap();
        let e = store.load_watermark("p", "L").unwrap_err();
        assert!(format!("{e:#}").contains("--full-refresh"), "{e:#}");
    }
}
