//! Incremental marks: where each pipeline's GHL source stopped reading, per location, so the
//! next run reads only what changed since. One small JSON file each, replaced atomically.

use std::path::PathBuf;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::disk::{file_key, write_atomically};

/// Where incremental reading stands: the greatest `dateUpdated` read, and the ids read at it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watermark {
    /// RFC 3339 `dateUpdated` of the newest contact read.
    pub mark: String,
    /// Ids of the contacts read whose `dateUpdated` equals `mark`.
    pub ids_at_mark: Vec<String>,
}

/// The incremental marks of a state folder (`incremental/<pipeline>--<location>.json`).
#[derive(Debug, Clone)]
pub struct Marks {
    dir: PathBuf,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct WatermarkFile {
    version: u32,
    cursor: String,
    #[serde(flatten)]
    watermark: Watermark,
}

impl Marks {
    /// The marks of the state folder `dir` (created on first write).
    pub(super) fn new(dir: impl Into<PathBuf>) -> Self {
        Marks { dir: dir.into() }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermark_round_trips_per_pipeline_and_location() {
        let dir = tempfile::tempdir().unwrap();
        let store = Marks::new(dir.path());
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
