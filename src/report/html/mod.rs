//! `report.html`: one self-contained page per run (no scripts, fonts or images from anywhere;
//! charts are inline SVG) built from the run folder's files, so `ghl-import report <dir>` can
//! build it for any run, old ones included. The files are read in one streaming pass each and
//! aggregated — counts per code, per column, per field, at most three examples per group — so
//! the page stays small whatever the number of rows.
//!
//! Every figure taken from summary.json is in an element with `data-k="<json path>"`, so a
//! test (or a script) can check the page against the file. HTML escaping is done here: five
//! characters, in text and in attribute values alike.

mod chart;
mod files;
use files::{timeline, Group, Groups, Tick};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use serde_json::Value;

/// The page's file name in the run folder.
pub const REPORT_HTML: &str = "report.html";

/// Per-second request figures of a run (written by the run as `timeline.csv`).
pub const TIMELINE_CSV: &str = "timeline.csv";

/// Examples kept per group.
const EXAMPLES: usize = 3;
/// Groups shown per table (the rest are summed in one line).
const GROUPS: usize = 25;
/// Characters of a cell shown in an example.
const CELL: usize = 160;

/// Builds the page from the files of `dir` and writes it there (replacing an earlier one).
pub fn write(dir: &Path) -> anyhow::Result<std::path::PathBuf> {
    let html = render(dir)?;
    let path = dir.join(REPORT_HTML);
    crate::disk::write_atomically(&path, html.as_bytes())?;
    Ok(path)
}

/// Escapes `text` and shows its `` `quoted` `` parts as code, an empty quote as *blank*.
pub fn code_spans(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for (i, part) in text.split('`').enumerate() {
        match (i % 2, part.is_empty()) {
            (0, _) => out.push_str(&esc(part)),
            (_, true) => out.push_str("<i>blank</i>"),
            (_, false) => {
                let _ = write!(out, "<code>{}</code>", esc(part));
            }
        }
    }
    out
}

/// The page for the run folder `dir`.
pub fn render(dir: &Path) -> anyhow::Result<String> {
    let s: Value = serde_json::from_slice(
        &std::fs::read(dir.join(super::SUMMARY_JSON))
            .with_context(|| format!("{} has no summary.json: not a run folder", dir.display()))?,
    )
    .with_context(|| format!("reading {}", dir.join(super::SUMMARY_JSON).display()))?;
    let rejects = Groups::of_rejects(&dir.join(super::REJECTED_CSV))?;
    let warnings = Groups::of_warnings(&dir.join(super::RESULTS_CSV))?;
    let plan = Groups::of_plan(&dir.join(super::PLAN_CSV))?;
    let values = Groups::of_values(&dir.join(super::REJECTED_VALUES_CSV))?;
    let timeline = timeline(&dir.join(TIMELINE_CSV))?;
    let mut h = Page::default();
    h.head(&s);
    h.outcomes(&s);
    h.locations(&s);
    h.rejects(&s, &rejects);
    h.values(&s, &values);
    h.unmapped(&s);
    h.warnings(&s, &warnings);
    if s["plan"].as_object().is_some_and(|p| !p.is_empty()) {
        h.plan(&s, &plan);
    }
    h.requests(&s, &timeline);
    if s["locations"].is_array() {
        chart::draw(&mut h.out, &chart::series(dir, &s));
    }
    h.out.push_str("</main></body></html>\n");
    Ok(h.out)
}

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn cut(s: &str) -> String {
    match s.char_indices().nth(CELL) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// The page being written.
#[derive(Default)]
struct Page {
    out: String,
}

/// The value at a `.`-separated path of summary.json, as shown.
fn at<'a>(s: &'a Value, path: &str) -> &'a Value {
    path.split('.')
        .fold(s, |v, k| match (v, k.parse::<usize>()) {
            (Value::Array(a), Ok(i)) => a.get(i).unwrap_or(&Value::Null),
            _ => &v[k],
        })
}

fn shown(v: &Value) -> String {
    match v {
        Value::Null => "–".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// Planned actions of a dry run in the bar, with their colours.
const PLANNED: [(&str, &str, &str); 4] = [
    ("create", "Would create", "#66bb6a"),
    ("update", "Would update", "#42a5f5"),
    ("unchanged", "Unchanged", "#b0bec5"),
    ("conflict", "Conflict", "#ef6c00"),
];

/// Outcomes in the bar, with their colours.
const OUTCOMES: [(&str, &str, &str); 5] = [
    ("created", "Created", "#2e7d32"),
    ("updated", "Updated", "#1565c0"),
    ("unchanged", "Unchanged", "#78909c"),
    ("exported", "Exported", "#6a1b9a"),
    ("rejected", "Rejected", "#c62828"),
];

impl Page {
    /// A figure of summary.json, marked with its path (fractions shown rounded, with the exact
    /// value in `data-v`).
    fn fig(&mut self, s: &Value, path: &str) {
        let v = at(s, path);
        match v.as_f64().filter(|_| v.is_f64()) {
            Some(f) => {
                let _ = write!(
                    self.out,
                    "<span data-k=\"{}\" data-v=\"{}\">{f:.2}</span>",
                    esc(path),
                    esc(&shown(v))
                );
            }
            None => {
                let _ = write!(
                    self.out,
                    "<span data-k=\"{}\">{}</span>",
                    esc(path),
                    esc(&shown(v))
                );
            }
        }
    }

    /// A timestamp shown to the second (`2026-12-07 16:44:06 UTC`), its exact value in `data-v`.
    fn fig_time(&mut self, s: &Value, path: &str) {
        let raw = shown(at(s, path));
        let nice = crate::disk::parse_rfc3339(&raw)
            .and_then(|t| {
                t.format(time::macros::format_description!(
                    "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
                ))
                .ok()
            })
            .unwrap_or_else(|| raw.clone());
        let _ = write!(
            self.out,
            "<span data-k=\"{}\" data-v=\"{}\">{}</span>",
            esc(path),
            esc(&raw),
            esc(&nice)
        );
    }

    fn head(&mut self, s: &Value) {
        let name = shown(&s["pipeline"]);
        let from_ghl = s["source"]
            .as_str()
            .is_some_and(|x| x.starts_with("GHL location"));
        let to_ghl = s["location_id"].as_str().is_some_and(|x| !x.is_empty());
        let kind = if s["plan"].as_object().is_some_and(|p| !p.is_empty()) {
            "Dry run"
        } else if !to_ghl {
            "Export"
        } else if from_ghl {
            "Migration"
        } else {
            "Import"
        };
        let _ = write!(
            self.out,
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{} — {} report</title><style>{STYLE}</style></head><body><main>\
             <h1>{} <small>{}</small></h1><p class=\"meta\">",
            esc(&name),
            kind,
            esc(&name),
            kind
        );
        self.fig(s, "source");
        self.out.push_str(" → ");
        let target = shown(&s["location_id"]);
        if let Some(parts) = s["locations"].as_array() {
            let _ = write!(self.out, "{} locations", parts.len());
            if s["sandbox"] == true {
                self.out.push_str(" (embedded sandbox)");
            }
        } else if target.is_empty() {
            self.out.push_str("a CSV file");
        } else {
            self.out.push_str("location ");
            self.fig(s, "location_id");
            if s["sandbox"] == true {
                self.out.push_str(" (embedded sandbox)");
            }
        }
        self.out.push_str("<br>started ");
        self.fig_time(s, "started_at");
        let ms = s["duration_ms"].as_u64().unwrap_or(0);
        let _ = write!(
            self.out,
            ", took <span data-k=\"duration_ms\" data-v=\"{ms}\">{}</span>",
            duration(ms)
        );
        let read = s["rows"]["read"].as_u64().unwrap_or(0);
        let planned = s["plan"].as_object().is_some_and(|p| !p.is_empty());
        if ms > 0 && read > 0 && !planned {
            let _ = write!(
                self.out,
                " ({:.0} rows/s)",
                read as f64 / (ms as f64 / 1000.0)
            );
        }
        if s["forecast_check"].is_object() {
            let eta = s["forecast_check"]["eta_seconds"].as_f64().unwrap_or(0.0);
            self.out.push_str("<br>the dry run of ");
            self.fig_time(s, "forecast_check.dry_run_started_at");
            self.out.push_str(" forecast ");
            self.fig(s, "forecast_check.eta_seconds");
            self.out.push_str(" s for ");
            self.fig(s, "forecast_check.write_requests");
            let _ = write!(self.out, " writes; this run took {}", duration(ms));
            if eta > 0.0 {
                let _ = write!(
                    self.out,
                    " ({:.0} % of the forecast)",
                    ms as f64 / 1000.0 / eta * 100.0
                );
            }
        }
        self.out.push_str("</p>");
        if !s["aborted"].is_null() {
            self.out.push_str("<p class=\"stop\">Stopped: ");
            self.fig(s, "aborted");
            self.out.push_str("</p>");
        }
    }

    fn outcomes(&mut self, s: &Value) {
        let read = s["rows"]["read"].as_u64().unwrap_or(0);
        self.out.push_str("<section><h2>Rows</h2><p><b>");
        self.fig(s, "rows.read");
        self.out.push_str("</b> rows read</p>");
        // The bar: one rect per outcome, widths in proportion.
        let total = read.max(1) as f64;
        let mut x = 0.0;
        let mut bar = String::new();
        // Dry runs: the planned actions in place of what was written.
        let segments: Vec<(String, &str, &str, u64)> = PLANNED
            .iter()
            .map(|(k, l, c)| {
                (
                    format!("plan.{k}"),
                    *l,
                    *c,
                    s["plan"][k].as_u64().unwrap_or(0),
                )
            })
            .chain(OUTCOMES.iter().map(|(k, l, c)| {
                (
                    format!("rows.{k}"),
                    *l,
                    *c,
                    s["rows"][k].as_u64().unwrap_or(0),
                )
            }))
            .collect();
        for (_, label, colour, n) in &segments {
            let n = *n;
            if n == 0 {
                continue;
            }
            let w = n as f64 / total * 1000.0;
            let _ = write!(
                bar,
                "<rect x=\"{x:.2}\" y=\"0\" width=\"{w:.2}\" height=\"28\" fill=\"{colour}\"><title>{label}: {n}</title></rect>"
            );
            x += w;
        }
        let _ = write!(
            self.out,
            "<svg class=\"bar\" viewBox=\"0 0 1000 28\" preserveAspectRatio=\"none\" role=\"img\" aria-label=\"rows by outcome\">{bar}</svg><ul class=\"legend\">"
        );
        for (path, label, colour, n) in &segments {
            let n = *n;
            if n == 0 && path != "rows.rejected" {
                continue;
            }
            let _ = write!(
                self.out,
                "<li><i style=\"background:{colour}\"></i>{label} <b>"
            );
            self.fig(s, path);
            let _ = write!(
                self.out,
                "</b> <small>({:.1} %)</small></li>",
                n as f64 * 100.0 / total
            );
        }
        self.out.push_str("</ul>");
        for (path, what) in [
            ("blank_records", "blank records skipped"),
            (
                "source_duplicates_skipped",
                "contacts the source returned twice, read once",
            ),
        ] {
            if at(s, path).as_u64().unwrap_or(0) > 0 {
                self.out.push_str("<p>");
                self.fig(s, path);
                let _ = write!(self.out, " {what}</p>");
            }
        }
        self.out.push_str("</section>");
    }

    /// A table of groups: key, count (checked against `count_path.<key>` when given), about,
    /// examples.
    fn groups(
        &mut self,
        s: &Value,
        title: &str,
        key_name: &str,
        about_name: &str,
        groups: &BTreeMap<String, Group>,
        count_path: Option<&str>,
    ) {
        let mut sorted: Vec<(&String, &Group)> = groups.iter().collect();
        sorted.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(b.0)));
        let examples = match key_name {
            "field" => "examples (row: old → new)",
            _ => "examples (row: value — message)",
        };
        let _ = write!(
            self.out,
            "<h3>{title}</h3><table><thead><tr><th>{key_name}</th><th class=\"n\">rows</th><th>{about_name}</th><th>{examples}</th></tr></thead><tbody>"
        );
        for (key, g) in sorted.iter().take(GROUPS) {
            let _ = write!(
                self.out,
                "<tr><td><code>{}</code></td><td class=\"n\">",
                esc(key)
            );
            match count_path {
                Some(p) if !at(s, p)[key.as_str()].is_null() => self.fig(s, &format!("{p}.{key}")),
                _ => {
                    let _ = write!(self.out, "{}", g.count);
                }
            }
            let _ = write!(
                self.out,
                "</td><td>{}</td><td><ul class=\"ex\">",
                code_spans(&g.about)
            );
            for (row, value, message) in &g.examples {
                let _ = write!(self.out, "<li><b>{}</b>", esc(row));
                if !value.is_empty() {
                    let _ = write!(self.out, ": <code>{}</code>", esc(value));
                }
                if !message.is_empty() {
                    let _ = write!(self.out, " — {}", code_spans(message));
                }
                self.out.push_str("</li>");
            }
            self.out.push_str("</ul></td></tr>");
        }
        if sorted.len() > GROUPS {
            let rest: u64 = sorted[GROUPS..].iter().map(|(_, g)| g.count).sum();
            let _ = write!(
                self.out,
                "<tr><td colspan=\"4\">and {} more, {rest} rows</td></tr>",
                sorted.len() - GROUPS
            );
        }
        self.out.push_str("</tbody></table>");
    }

    fn rejects(&mut self, s: &Value, g: &Groups) {
        if s["rows"]["rejected"].as_u64().unwrap_or(0) == 0 {
            return;
        }
        if s["locations"].is_array() {
            self.out.push_str("<section><h2>Rejected rows</h2><p>Rows no location could be told for are in this folder's <code>rejected.csv</code>; each location's rejects are in its own folder. Fix the cells and run <code>ghl-import retry-rejects</code> on the folder that holds them.</p>");
        } else {
            self.out.push_str("<section><h2>Rejected rows</h2><p>Every rejected row is in <code>rejected.csv</code> with its reason; fix the cells there and run <code>ghl-import retry-rejects</code> on this folder.</p>");
        }
        self.by_reason_and_column(s, g, "rejected_by_code");
        self.out.push_str("</section>");
    }

    /// The two tables of rejected rows and of values not loaded: by code (counts checked
    /// against `count_path` in summary.json) and by source column.
    fn by_reason_and_column(&mut self, s: &Value, g: &Groups, count_path: &str) {
        self.groups(
            s,
            "By reason",
            "code",
            "how to fix",
            &g.by,
            Some(count_path),
        );
        if g.by_column.keys().any(|k| !k.starts_with('(')) {
            self.groups(
                s,
                "By source column",
                "column",
                "first code",
                &g.by_column,
                None,
            );
        }
    }

    /// A multi-location run: one row per location, linking its own report; stopped locations
    /// and those with the most rejects first.
    fn locations(&mut self, s: &Value) {
        let Some(parts) = s["locations"].as_array() else {
            return;
        };
        let _ = write!(
            self.out,
            "<section><h2>Locations</h2><p>{} locations, each with its own report, journal and rate limit.</p>\
             <table class=\"loc\"><thead><tr><th>location</th><th>read</th><th>created</th><th>updated</th>\
             <th>unchanged</th><th>rejected</th><th>requests</th><th>req/s</th><th>429</th><th>status</th></tr></thead><tbody>",
            parts.len()
        );
        let mut order: Vec<usize> = (0..parts.len()).collect();
        order.sort_by_key(|&i| {
            let p = &parts[i];
            (
                p["aborted"].is_null(),
                std::cmp::Reverse(p["rows"]["rejected"].as_u64().unwrap_or(0)),
                i,
            )
        });
        for i in order {
            let p = &parts[i];
            let dir = shown(&p["report_dir"]);
            let _ = write!(self.out, "<tr><td><a href=\"{}/report.html\">", esc(&dir));
            self.fig(s, &format!("locations.{i}.location_id"));
            self.out.push_str("</a></td>");
            for k in [
                "rows.read",
                "rows.created",
                "rows.updated",
                "rows.unchanged",
                "rows.rejected",
                "requests",
                "requests_per_second",
                "rate_limited_429",
            ] {
                self.out.push_str("<td class=\"n\">");
                self.fig(s, &format!("locations.{i}.{k}"));
                self.out.push_str("</td>");
            }
            self.out.push_str("<td>");
            if p["aborted"].is_null() {
                self.out.push_str("finished");
            } else {
                self.out.push_str("stopped: ");
                self.fig(s, &format!("locations.{i}.aborted"));
            }
            self.out.push_str("</td></tr>");
        }
        self.out.push_str("</tbody></table></section>");
    }

    /// Values of loaded rows that are not in their contact (rejected_values.csv).
    fn values(&mut self, s: &Value, g: &Groups) {
        if s["values"]["reported"].as_u64().unwrap_or(0) == 0 {
            return;
        }
        self.out.push_str("<section><h2>Values not loaded</h2><p>");
        self.fig(s, "values.reported");
        self.out.push_str(
            " values of loaded rows are not in their contact: each contact was loaded without \
             that value (one bad cell never costs the contact). Each is in \
             <code>rejected_values.csv</code> with its row, column and reason",
        );
        if s["values"]["kept_in_note"].as_u64().unwrap_or(0) > 0 {
            self.out.push_str("; ");
            self.fig(s, "values.kept_in_note");
            self.out
                .push_str(" of them were kept in a note on the contact");
        }
        self.out.push_str(".</p>");
        self.by_reason_and_column(s, g, "values.by_code");
        self.out.push_str("</section>");
    }

    /// Source columns with data that nothing maps.
    fn unmapped(&mut self, s: &Value) {
        let Some(cols) = s["unmapped_columns"].as_array().filter(|c| !c.is_empty()) else {
            return;
        };
        self.out.push_str(
            "<section><h2>Columns not mapped</h2><p>These columns of the source hold data that the pipeline \
             does not map: nothing of them was sent. Map them (a field, a custom field or a note), or leave \
             them out knowingly.</p><table><thead><tr><th>column</th><th class=\"n\">rows filled</th>\
             <th class=\"n\">%</th></tr></thead><tbody>",
        );
        for (i, _) in cols.iter().enumerate().take(GROUPS) {
            self.out.push_str("<tr><td><code>");
            self.fig(s, &format!("unmapped_columns.{i}.column"));
            self.out.push_str("</code></td><td class=\"n\">");
            self.fig(s, &format!("unmapped_columns.{i}.filled"));
            self.out.push_str("</td><td class=\"n\">");
            self.fig(s, &format!("unmapped_columns.{i}.fill_percent"));
            self.out.push_str("</td></tr>");
        }
        if cols.len() > GROUPS {
            let _ = write!(
                self.out,
                "<tr><td colspan=\"3\">and {} more (summary.json lists all)</td></tr>",
                cols.len() - GROUPS
            );
        }
        self.out.push_str("</tbody></table></section>");
    }

    fn warnings(&mut self, s: &Value, g: &Groups) {
        if g.by.is_empty() {
            return;
        }
        let planned = s["plan"].as_object().is_some_and(|p| !p.is_empty());
        let _ = write!(
            self.out,
            "<section><h2>Warnings</h2><p>Rows {}, but worth a look (<code>results.csv</code>, column <code>warnings</code>).</p>",
            if planned { "that would load" } else { "loaded" }
        );
        self.groups(&Value::Null, "By code", "code", "", &g.by, None);
        self.out.push_str("</section>");
    }

    fn plan(&mut self, s: &Value, g: &Groups) {
        self.out.push_str("<section><h2>Plan</h2><p>What a real run would do (nothing was written):</p><ul class=\"legend\">");
        for action in ["create", "update", "unchanged", "conflict"] {
            if s["plan"][action].is_null() {
                continue;
            }
            let _ = write!(self.out, "<li>{action} <b>");
            self.fig(s, &format!("plan.{action}"));
            self.out.push_str("</b></li>");
        }
        self.out.push_str("</ul>");
        if !g.by.is_empty() {
            self.groups(s, "Fields updates would change", "field", "", &g.by, None);
        }
        if s["forecast"].is_object() {
            self.out.push_str("<h3>Forecast</h3><table><tbody>");
            for (path, label) in [
                ("forecast.write_requests", "write requests"),
                ("forecast.read_requests", "read requests (this dry run)"),
                ("forecast.existing_contacts", "contacts in the location"),
                ("forecast.daily_remaining", "daily allowance left"),
                (
                    "forecast.daily_share_percent",
                    "share of it the run would use, %",
                ),
                ("forecast.eta_seconds", "time the writes would take, s"),
            ] {
                let _ = write!(self.out, "<tr><th>{label}</th><td class=\"n\">");
                self.fig(s, path);
                self.out.push_str("</td></tr>");
            }
            self.out.push_str("</tbody></table>");
        }
        self.out.push_str("</section>");
    }

    fn requests(&mut self, s: &Value, ticks: &[Tick]) {
        if s["requests"]["sent"].as_u64().unwrap_or(0) == 0 {
            return;
        }
        self.out
            .push_str("<section><h2>Requests</h2><table><tbody>");
        for (path, label) in [
            ("requests.sent", "sent (retries included)"),
            ("requests.retries", "retries"),
            ("requests.rate_limited_429", "answered 429"),
            ("requests.server_errors", "answered 5xx"),
            ("requests.transport_errors", "transport errors"),
            ("requests.daily_remaining", "daily allowance left"),
            ("requests.daily_limit", "daily allowance"),
        ] {
            let _ = write!(self.out, "<tr><th>{label}</th><td class=\"n\">");
            self.fig(s, path);
            self.out.push_str("</td></tr>");
        }
        self.out.push_str("</tbody></table>");
        let limit = &s["requests"]["rate_limit"];
        let per_s = match (limit["max"].as_f64(), limit["interval_ms"].as_f64()) {
            (Some(m), Some(ms)) if ms > 0.0 => Some(m * 1000.0 / ms),
            _ => None,
        };
        if ticks.len() > 2 {
            self.rate_chart(ticks, per_s);
        }
        self.out.push_str("</section>");
    }

    /// Requests per second over the run, with the limit as a dashed line and 429s as red marks.
    fn rate_chart(&mut self, ticks: &[Tick], limit: Option<f64>) {
        let (w, h) = (1000.0, 220.0);
        let last = ticks.iter().map(|t| t.second).max().unwrap_or(1).max(1) as f64;
        let top = ticks
            .iter()
            .map(|t| t.requests as f64)
            .fold(limit.unwrap_or(1.0), f64::max)
            * 1.15;
        let x = |sec: u64| sec as f64 / last * w;
        let y = |v: f64| h - v / top * h;
        // At most 1000 points: seconds are merged into buckets on long runs.
        let step = (ticks.len() / 1000).max(1);
        let mut points = String::new();
        for chunk in ticks.chunks(step) {
            let n = chunk.iter().map(|t| t.requests).sum::<u64>() as f64 / chunk.len() as f64;
            let _ = write!(points, "{:.1},{:.1} ", x(chunk[0].second), y(n));
        }
        let _ = write!(
            self.out,
            "<h3>Requests per second</h3><svg class=\"chart\" viewBox=\"0 -10 {w} {}\" role=\"img\" aria-label=\"requests per second\"><polyline fill=\"none\" stroke=\"#1565c0\" stroke-width=\"2\" points=\"{points}\"/>",
            h + 30.0
        );
        // The y-axis: requests per second at 0, half and the top.
        for v in [0.0, top / 2.0, top / 1.15] {
            let _ = write!(
                self.out,
                "<line x1=\"0\" x2=\"{w}\" y1=\"{0:.1}\" y2=\"{0:.1}\" stroke=\"#d0d7de\"/><text x=\"{w}\" y=\"{1:.1}\" text-anchor=\"end\" class=\"lbl\">{v:.0}/s</text>",
                y(v),
                y(v) - 3.0
            );
        }
        if let Some(l) = limit {
            let _ = write!(
                self.out,
                "<line x1=\"0\" x2=\"{w}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#c62828\" stroke-dasharray=\"6 4\"/><text x=\"4\" y=\"{:.1}\" class=\"lbl\">limit {l:.1}/s per location</text>",
                y(l),
                y(l),
                y(l) - 4.0
            );
        }
        for t in ticks.iter().filter(|t| t.rate_limited > 0) {
            let _ = write!(
                self.out,
                "<rect x=\"{:.1}\" y=\"{h}\" width=\"3\" height=\"12\" fill=\"#c62828\"><title>{} × 429 at {} s</title></rect>",
                x(t.second),
                t.rate_limited,
                t.second
            );
        }
        let _ = write!(
            self.out,
            "<text x=\"{w}\" y=\"{}\" text-anchor=\"end\" class=\"lbl\">{} s</text></svg>",
            h + 14.0,
            last as u64
        );
    }
}

fn duration(ms: u64) -> String {
    match ms {
        ms if ms < 1000 => format!("{ms} ms"),
        ms if ms < 120_000 => format!("{:.1} s", ms as f64 / 1000.0),
        ms => format!("{} min {} s", ms / 60_000, ms % 60_000 / 1000),
    }
}

const STYLE: &str = "body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#1b1f23;background:#fafafa}\
main{max-width:1180px;margin:0 auto;padding:16px 24px}h1{font-size:24px;margin:8px 0}h1 small{color:#57606a;font-weight:400}\
h2{font-size:19px;border-bottom:1px solid #d0d7de;padding-bottom:4px;margin-top:28px}h3{font-size:16px;margin:18px 0 6px}\
.meta{color:#57606a;overflow-wrap:anywhere}.stop{background:#ffebe9;border:1px solid #ff8182;padding:8px 12px;border-radius:6px;overflow-wrap:anywhere}\
svg.bar{width:100%;height:28px;display:block;border-radius:4px;background:#eaeef2}svg.chart{width:100%;height:auto;display:block;background:#fff;border:1px solid #d0d7de;border-radius:6px}\
.lbl{font-size:13px;fill:#57606a}ul.legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:6px 22px}ul.legend i{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:6px;vertical-align:-1px}\
table{border-collapse:collapse;width:100%;table-layout:fixed;background:#fff}th,td{border:1px solid #d0d7de;padding:5px 8px;text-align:left;vertical-align:top;overflow-wrap:anywhere}\
th{background:#f3f5f7;font-weight:600;white-space:nowrap}td.n,th.n{text-align:right;width:90px}thead th:first-child{width:190px}thead th:nth-child(3){width:300px}\
table.loc{table-layout:auto}table.loc thead th:first-child{width:150px}table.loc thead th:nth-child(3){width:auto}table.loc thead th:last-child{width:220px}table.loc td{text-align:right}table.loc td:first-child,table.loc td:last-child{text-align:left}\
ul.ex{margin:0;padding-left:16px}code{font:13px ui-monospace,SFMono-Regular,Menlo,monospace;overflow-wrap:anywhere}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_attributes_are_escaped() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn many_codes_are_cut_to_the_largest_groups_and_the_page_stays_small() {
        let d = tempfile::tempdir().unwrap();
        let mut by_code = serde_json::Map::new();
        let mut csv = String::from("Email,_row,_stage,_code,_message,_hint,_column\n");
        let mut rejected = 0;
        for c in 0..40u64 {
            for r in 0..=c * 10 {
                csv.push_str(&format!(
                    "x{r}@,{r},validate,code_{c},bad {r},fix it,Email\n"
                ));
                rejected += 1;
            }
            by_code.insert(format!("code_{c}"), (c * 10 + 1).into());
        }
        std::fs::write(d.path().join(super::super::REJECTED_CSV), csv).unwrap();
        let summary = serde_json::json!({
            "pipeline": "p", "source": "in.csv", "location_id": "L", "sandbox": false,
            "rows": {"read": rejected, "created": 0, "updated": 0, "unchanged": 0, "exported": 0,
                     "rejected": rejected},
            "rejected_by_code": by_code, "plan": {}, "requests": {"sent": 0},
            "started_at": "2026-11-29T00:00:00Z", "duration_ms": 1500, "aborted": null
        });
        std::fs::write(
            d.path().join(super::super::SUMMARY_JSON),
            serde_json::to_vec(&summary).unwrap(),
        )
        .unwrap();
        let html = render(d.path()).unwrap();
        // The 25 largest codes, then one line for the other 15.
        assert!(html.contains("data-k=\"rejected_by_code.code_39\">391<"));
        assert!(
            !html.contains("<code>code_0</code>"),
            "the smallest is summed"
        );
        assert!(html.contains("and 15 more"), "{html}");
        // Three examples per group, whatever the group's size.
        assert_eq!(html.matches("bad 390").count(), 0);
        assert!(html.len() < 60_000, "{} bytes", html.len());
        assert!(html.contains("1.5 s"));
    }
}
