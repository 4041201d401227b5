//! The request chart of a multi-location run: requests per second of its busiest locations,
//! each a line on one time axis (each location's timeline.csv shifted by when it started).

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use super::esc;
use super::files::{timeline, Tick};

/// Lines drawn at most (the busiest locations).
const LINES: usize = 5;
const COLOURS: [&str; LINES] = ["#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f"];

/// Each location's ticks on the run's clock, busiest first (at most [`LINES`]).
pub(super) fn series(dir: &Path, s: &Value) -> Vec<(String, Vec<Tick>)> {
    let parse = |v: &Value| v.as_str().and_then(crate::disk::parse_rfc3339);
    let Some(start) = parse(&s["started_at"]) else {
        return Vec::new();
    };
    let mut all: Vec<(String, Vec<Tick>, u64)> = Vec::new();
    for part in s["locations"].as_array().into_iter().flatten() {
        let folder = dir.join(part["report_dir"].as_str().unwrap_or_default());
        let Ok(ticks) = timeline(&folder.join(super::TIMELINE_CSV)) else {
            continue;
        };
        let sub: Option<Value> = std::fs::read(folder.join(crate::report::SUMMARY_JSON))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let shift = sub
            .as_ref()
            .and_then(|v| parse(&v["started_at"]))
            .map_or(0, |t| (t - start).whole_seconds().max(0) as u64);
        let sent: u64 = ticks.iter().map(|t| t.requests).sum();
        let ticks = ticks
            .into_iter()
            .map(|t| Tick {
                second: t.second + shift,
                ..t
            })
            .collect();
        let name = part["location_id"].as_str().unwrap_or_default().to_owned();
        all.push((name, ticks, sent));
    }
    all.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    all.into_iter()
        .take(LINES)
        .map(|(n, t, _)| (n, t))
        .collect()
}

/// The chart: one line per location, a y-axis in requests per second, a legend.
pub(super) fn draw(out: &mut String, series: &[(String, Vec<Tick>)]) {
    let ticks = || series.iter().flat_map(|(_, t)| t.iter());
    if ticks().count() < 3 {
        return;
    }
    let (w, h) = (1000.0, 220.0);
    let last = ticks().map(|t| t.second).max().unwrap_or(1).max(1) as f64;
    let top = ticks().map(|t| t.requests as f64).fold(1.0, f64::max) * 1.15;
    let x = |sec: u64| sec as f64 / last * w;
    let y = |v: f64| h - v / top * h;
    let _ = write!(
        out,
        "<h3>Requests per second, busiest locations</h3><svg class=\"chart\" viewBox=\"0 -10 {w} {}\" role=\"img\" aria-label=\"requests per second by location\">",
        h + 30.0
    );
    for v in [0.0, top / 2.0, top / 1.15] {
        let _ = write!(
            out,
            "<line x1=\"0\" x2=\"{w}\" y1=\"{0:.1}\" y2=\"{0:.1}\" stroke=\"#d0d7de\"/><text x=\"{w}\" y=\"{1:.1}\" text-anchor=\"end\" class=\"lbl\">{v:.0}/s</text>",
            y(v),
            y(v) - 3.0
        );
    }
    for ((_, t), colour) in series.iter().zip(COLOURS) {
        let step = (t.len() / 1000).max(1);
        let points: String = t
            .chunks(step)
            .map(|c| {
                let n = c.iter().map(|t| t.requests).sum::<u64>() as f64 / c.len() as f64;
                format!("{:.1},{:.1} ", x(c[0].second), y(n))
            })
            .collect();
        let _ = write!(
            out,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{points}\"/>"
        );
    }
    let _ = write!(
        out,
        "<text x=\"{w}\" y=\"{}\" text-anchor=\"end\" class=\"lbl\">{} s</text></svg><ul class=\"legend\">",
        h + 14.0,
        last as u64
    );
    for ((name, _), colour) in series.iter().zip(COLOURS) {
        let _ = write!(
            out,
            "<li><i style=\"background:{colour}\"></i>{}</li>",
            esc(name)
        );
    }
    out.push_str("</ul>");
}
