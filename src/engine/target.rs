//! One target resolution for every command that writes: `run` records where it writes in the run
//! folder (`run.json`, before anything is sent), and `retry-rejects` and `rollback` act on that
//! recorded target — the same location at the same address, with the same journal — or refuse.
//! A run into the embedded sandbox can therefore never lead a later command to a real API.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{Pipeline, Target};
use crate::error::ConfigError;

/// File name of the run record inside a run folder.
pub const RUN_JSON: &str = "run.json";
/// Format version of `run.json`.
pub const RUN_RECORD_VERSION: u32 = 1;

/// Where a run wrote: `run.json`, written when the run starts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RunRecord {
    /// Format version.
    pub version: u32,
    /// Pipeline name.
    pub pipeline: String,
    /// The pipeline file (absolute).
    pub pipeline_file: String,
    /// RFC 3339 start time.
    pub started_at: String,
    /// Whether the run was a dry run (nothing written).
    pub dry_run: bool,
    /// The GHL target, when the pipeline has one (a CSV sink has none).
    pub target: Option<TargetRecord>,
}

/// The API a run wrote to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TargetRecord {
    /// `embedded_sandbox` (an emulator that ended with the run) or `api` (the pipeline's base URL).
    pub kind: TargetKind,
    /// The base URL requests went to.
    pub base_url: String,
    /// The location written to.
    pub location_id: String,
    /// The run journal (absolute path), for real targets.
    pub journal: Option<String>,
}

/// What kind of server a run wrote to.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// The embedded sandbox of `run --sandbox`: gone when the run ended.
    EmbeddedSandbox,
    /// The API at the pipeline's base URL (GHL, or a `ghl-import sandbox` process).
    Api,
}

/// The journal's name for a target: location and API address, so that two APIs (or a real
/// location and a rehearsal server) never share journal entries.
pub fn journal_where(t: &Target) -> String {
    let host = format!(
        "{}@{}",
        t.location_id,
        t.base_url.host_str().unwrap_or_default()
    );
    match t.base_url.port() {
        Some(port) => format!("{host}_{port}"),
        None => host,
    }
}

/// Writes `run.json` into `dir`.
pub fn write_record(dir: &Path, r: &RunRecord) -> anyhow::Result<()> {
    crate::disk::write_atomically(
        &dir.join(RUN_JSON),
        &serde_json::to_vec_pretty(r).unwrap_or_default(),
    )
}

/// Reads the record of the run in `dir`. Folders of runs made before `run.json` existed are read
/// from their summary.json (which names the same facts, without the journal).
pub fn read_record(dir: &Path) -> anyhow::Result<RunRecord> {
    let path = dir.join(RUN_JSON);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| ConfigError::new(format!("{}: {e}", path.display())).into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => from_summary(dir),
        Err(e) => Err(ConfigError::new(format!("cannot read {}: {e}", path.display())).into()),
    }
}

fn from_summary(dir: &Path) -> anyhow::Result<RunRecord> {
    let path = dir.join(crate::report::SUMMARY_JSON);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        ConfigError::new(format!(
            "cannot read {} nor {}: {e} (is {} a run's output folder?)",
            dir.join(RUN_JSON).display(),
            path.display(),
            dir.display()
        ))
    })?;
    let s: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| ConfigError::new(format!("{}: {e}", path.display())))?;
    let text_of = |k: &str| s[k].as_str().unwrap_or_default().to_owned();
    let location_id = text_of("location_id");
    Ok(RunRecord {
        version: 0,
        pipeline: text_of("pipeline"),
        pipeline_file: text_of("pipeline_file"),
        started_at: text_of("started_at"),
        dry_run: s["forecast"].is_object(),
        target: (!location_id.is_empty()).then(|| TargetRecord {
            kind: if s["sandbox"].as_bool().unwrap_or(false) {
                TargetKind::EmbeddedSandbox
            } else {
                TargetKind::Api
            },
            base_url: text_of("base_url"),
            location_id,
            journal: None,
        }),
    })
}

impl RunRecord {
    /// The pipeline file of the run, which must still exist.
    pub fn pipeline_path(&self, dir: &Path) -> Result<PathBuf, ConfigError> {
        if self.pipeline_file.is_empty() {
            return Err(ConfigError::new(format!(
                "{} names no pipeline file",
                dir.display()
            )));
        }
        Ok(PathBuf::from(&self.pipeline_file))
    }

    /// The recorded target, checked against the pipeline as it is now: the pipeline's
    /// credentials belong to its target, so they are used only if it still names the recorded
    /// location at the recorded address. `what` names the command for the messages.
    pub fn check_target<'p>(
        &self,
        dir: &Path,
        p: &'p Pipeline,
        what: &str,
    ) -> Result<&'p Target, ConfigError> {
        let Some(rec) = &self.target else {
            return Err(ConfigError::new(format!(
                "{what}: the run in {} wrote no GHL location (its pipeline has a CSV sink)",
                dir.display()
            )));
        };
        let t = p.target.as_ref().ok_or_else(|| {
            ConfigError::new(format!(
                "{what}: {} has no GHL target any more, but the run in {} wrote to location {} at {}",
                p.file.display(),
                dir.display(),
                rec.location_id,
                rec.base_url
            ))
        })?;
        let same_url =
            t.base_url.as_str().trim_end_matches('/') == rec.base_url.trim_end_matches('/');
        if t.location_id != rec.location_id || !same_url {
            return Err(ConfigError::new(format!(
                "{what}: the run in {} wrote to location {} at {}, but {} now targets location {} at {}; \
                 {what} acts only on the run's own target — restore target.location_id and target.base_url \
                 in the pipeline (its credentials belong to its target)",
                dir.display(),
                rec.location_id,
                rec.base_url,
                p.file.display(),
                t.location_id,
                t.base_url.as_str().trim_end_matches('/')
            )));
        }
        Ok(t)
    }

    /// The run's pipeline as loaded now; for one location's run of a multi-location
    /// pipeline, that location's view of it.
    pub fn pipeline(&self, dir: &Path) -> anyhow::Result<Pipeline> {
        let p = crate::config::load(&self.pipeline_path(dir)?)?;
        Ok(match self.part_location() {
            Some(l) => p.for_location(&l),
            None => p,
        })
    }

    /// The location of a run that wrote to one location (for a multi-location pipeline: one
    /// location's part).
    pub fn part_location(&self) -> Option<String> {
        self.target
            .as_ref()
            .map(|t| t.location_id.clone())
            .filter(|l| l != crate::config::Fanout::PLACEHOLDER)
    }

    /// Whether the run wrote into the embedded sandbox.
    pub fn was_embedded_sandbox(&self) -> bool {
        self.target
            .as_ref()
            .is_some_and(|t| t.kind == TargetKind::EmbeddedSandbox)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_and_old_folders_read_their_summary() {
        let dir = tempfile::tempdir().unwrap();
        let r = RunRecord {
            version: RUN_RECORD_VERSION,
            pipeline: "p".into(),
            pipeline_file: "/x/p.yaml".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            dry_run: false,
            target: Some(TargetRecord {
                kind: TargetKind::Api,
                base_url: "http://127.0.0.1:9".into(),
                location_id: "L".into(),
                journal: Some("/s/j.sqlite".into()),
            }),
        };
        write_record(dir.path(), &r).unwrap();
        assert_eq!(read_record(dir.path()).unwrap(), r);

        let old = tempfile::tempdir().unwrap();
        std::fs::write(
            old.path().join("summary.json"),
            r#"{"pipeline":"p","pipeline_file":"/x/p.yaml","location_id":"L","base_url":"http://127.0.0.1:5","sandbox":true}"#,
        )
        .unwrap();
        let o = read_record(old.path()).unwrap();
        assert!(o.was_embedded_sandbox());
        assert_eq!(o.target.unwrap().location_id, "L");
        let none = tempfile::tempdir().unwrap();
        let e = read_record(none.path()).unwrap_err().to_string();
        assert!(e.contains("is") && e.contains("output folder"), "{e}");
    }
}
