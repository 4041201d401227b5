//! Routing a multi-location run's rows: the locations a routing column names, the source
//! read once into each location's part (`parts/<id>.csv`), and each row's location or its
//! `unknown_location` reject (for the run, `preview` and `validate`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::part::folder;
use super::{listed_locations, Input};
use crate::config::{self, LocationSet, Pipeline, Route, Source};
use crate::error::ConfigError;
use crate::extract::{SourceItem, SourceReader};
use crate::options::RunOptions;
use crate::outcome::{codes, Outcome, RowError, Stage};
use crate::record::Record;
use crate::report::{ReportWriter, Summary};

/// The locations `validate` checks: the run's list, the agency's installed ones (`live` only:
/// that is a request), or the distinct values of the routing column (mapped). `None` when
/// they are known only at run time.
pub(crate) async fn locations_to_check(
    p: &Pipeline,
    state_dir: Option<&Path>,
    sandbox: bool,
    live: bool,
) -> anyhow::Result<Option<Vec<String>>> {
    let fan = p.fanout.as_ref().context("a multi-location pipeline")?;
    if matches!(fan.locations, LocationSet::Installed { .. }) && !live {
        return Ok(None);
    }
    let opts = RunOptions {
        state_dir: state_dir.map(Path::to_path_buf),
        sandbox,
        ..RunOptions::default()
    };
    if let Some(ids) = listed_locations(p, fan, &opts).await? {
        return Ok(Some(ids));
    }
    let mut reader = SourceReader::open(&p.source)?;
    let router = Router::of(p, reader.headers())?.context("a routed pipeline")?;
    let mut ids = std::collections::BTreeSet::new();
    for item in reader.by_ref() {
        if let SourceItem::Row(rec) = item {
            if let Ok(l) = router.locate(&rec) {
                ids.insert(l);
            }
        }
    }
    Ok(Some(ids.into_iter().collect()))
}

/// Reads the source once and writes each row to its location's part; rows without a known
/// location are rejected into the run folder's own reports (and counted in `summary`).
pub(super) fn partition(
    p: &Pipeline,
    router: &Router,
    shard: Option<crate::options::Shard>,
    out_dir: &Path,
    summary: &mut Summary,
) -> anyhow::Result<BTreeMap<String, Input>> {
    // With shards, another shard's rows are that shard's to load and report, and the rows with
    // no location are reported by shard 0 alone.
    let reports_unrouted = shard.is_none_or(|s| s.index == 0);
    let mut reader = SourceReader::open(&p.source)?;
    let headers = reader.headers().clone();
    let parts_dir = out_dir.join("parts");
    crate::disk::create_private_dir(&parts_dir)?;
    let mut rejects = ReportWriter::create(out_dir, &headers, p.report.escape_formulas)?;
    let mut writers: BTreeMap<String, (PathBuf, csv::Writer<std::fs::File>)> = BTreeMap::new();
    let mut counted: BTreeMap<String, u64> = BTreeMap::new();
    let new_part = |location: &str| -> anyhow::Result<(PathBuf, csv::Writer<std::fs::File>)> {
        let path = parts_dir.join(format!("{}.csv", folder(location)));
        let mut w = csv::Writer::from_path(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        let mut head: Vec<&str> = headers.iter().map(String::as_str).collect();
        head.push(config::SOURCE_ROW_COLUMN);
        w.write_record(&head)?;
        Ok((path, w))
    };
    let mut line: Vec<String> = Vec::with_capacity(headers.len() + 1);
    for item in reader.by_ref() {
        let (rec, outcome) = match item {
            SourceItem::Row(rec) => match router.locate_in(&rec, shard) {
                Ok(None) => continue,
                Ok(Some(location)) => {
                    let (_, w) = match writers.get_mut(&location) {
                        Some(w) => w,
                        None => {
                            let part = new_part(&location)?;
                            writers.entry(location.clone()).or_insert(part)
                        }
                    };
                    line.clear();
                    // A part is a file of the run folder a person may open in a spreadsheet:
                    // formulas are escaped as in every CSV the tool writes (and unescaped when
                    // the location's run reads the part).
                    line.extend(
                        rec.cells()
                            .map(|c| crate::report::escape_formula(c).into_owned()),
                    );
                    line.push(config::source_row_cell(&rec));
                    w.write_record(&line)?;
                    *counted.entry(location).or_default() += 1;
                    continue;
                }
                Err(mut e) => {
                    e.column = Some(headers[router.column].clone());
                    (rec, Outcome::Rejected(e))
                }
            },
            SourceItem::Malformed { raw, error } => (raw, Outcome::Rejected(error)),
        };
        if !reports_unrouted {
            continue;
        }
        rejects.write(&rec, &outcome, &[])?;
        summary.count(&outcome);
    }
    rejects.finish()?;
    summary.blank_records = reader.blank_records();
    let mut inputs = BTreeMap::new();
    // A listed location with no rows still gets its (empty) run: its reports say so.
    for l in router.allowed.as_deref().unwrap_or_default() {
        if !writers.contains_key(l) && shard.is_none_or(|s| s.owns(l)) {
            writers.insert(l.clone(), new_part(l)?);
        }
    }
    for (location, (path, mut w)) in writers {
        w.flush()?;
        let source = Source::Csv(config::CsvSource {
            delimiter: Some(b','),
            source_rows: true,
            duplicate_headers: config::DuplicateHeaders::Suffix,
            // The cells were read under the source's limit already (a workbook has none).
            max_field_bytes: match &p.source {
                Source::Csv(c) => c.max_field_bytes,
                _ => u64::from(u32::MAX),
            },
            ..config::CsvSource::new(path)
        });
        let rows = counted.get(&location).copied().unwrap_or(0);
        inputs.insert(location, Input { source, rows });
    }
    Ok(inputs)
}

/// A routed pipeline's routing, for `preview`: each row's location, or its reject.
pub(crate) struct Router {
    column: usize,
    route: Route,
    allowed: Option<Vec<String>>,
}

impl Router {
    /// The routing of `p` over these columns; `None` when rows are not routed.
    pub fn of(p: &Pipeline, headers: &[String]) -> anyhow::Result<Option<Router>> {
        let Some(fan) = &p.fanout else {
            return Ok(None);
        };
        let Some(route) = &fan.route else {
            return Ok(None);
        };
        let column = headers
            .iter()
            .position(|h| h == &route.column)
            .or_else(|| {
                headers
                    .iter()
                    .position(|h| h.trim().eq_ignore_ascii_case(route.column.trim()))
            })
            .ok_or_else(|| {
                ConfigError::new(format!(
                    "{}: target.location_from: the source has no column `{}` (its columns: {})",
                    p.file.display(),
                    route.column,
                    headers.join(", ")
                ))
            })?;
        let allowed = match &fan.locations {
            LocationSet::List(ids) => Some(ids.clone()),
            _ => None,
        };
        Ok(Some(Router {
            column,
            route: route.clone(),
            allowed,
        }))
    }

    /// Only these locations (the run's, once listed), when known.
    pub(super) fn within(mut self, listed: Option<Vec<String>>) -> Router {
        if listed.is_some() {
            self.allowed = listed;
        }
        self
    }

    /// The location `rec` goes to, or its `unknown_location` reject.
    pub fn locate(&self, rec: &Record) -> Result<String, RowError> {
        self.locate_in(rec, None).map(|l| l.unwrap_or_default())
    }

    /// The location `rec` goes to (`None`: another shard's), or its reject.
    fn locate_in(
        &self,
        rec: &Record,
        shard: Option<crate::options::Shard>,
    ) -> Result<Option<String>, RowError> {
        locate(
            rec,
            self.column,
            &self.route,
            self.allowed.as_deref(),
            shard,
        )
    }
}

/// The location a row goes to (`None`: another shard's), or why it has none.
pub(super) fn locate(
    rec: &Record,
    column: usize,
    route: &Route,
    allowed: Option<&[String]>,
    shard: Option<crate::options::Shard>,
) -> Result<Option<String>, RowError> {
    let cell = rec.get(column).trim();
    let unknown = |message: String, hint: &str| {
        let mut e = RowError::new(Stage::Validate, codes::UNKNOWN_LOCATION, message, hint);
        e.column = Some(route.column.clone());
        e
    };
    if cell.is_empty() {
        return Err(unknown(
            format!("`{}` is empty: the row names no location", route.column),
            "fill in the location for this row, then retry-rejects",
        ));
    }
    let location = match route.map.is_empty() {
        true => cell.to_owned(),
        false => route
            .map
            .get(&cell.to_lowercase())
            .cloned()
            .ok_or_else(|| {
                unknown(
                    format!("`{cell}` is not in target.location_from.map"),
                    "add the value to the map, or correct the cell",
                )
            })?,
    };
    if !location
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(unknown(
            format!("`{location}` is not a location id"),
            "location ids are letters and digits; map names to ids with location_from.map",
        ));
    }
    if let Some(ids) = allowed {
        if !ids.iter().any(|i| i == &location) {
            return Err(unknown(
                format!("location `{location}` is not one of the run's locations"),
                "add it to target.locations (or install the app there), or correct the cell",
            ));
        }
    }
    if shard.is_some_and(|s| !s.owns(&location)) {
        return Ok(None);
    }
    Ok(Some(location))
}
