//! `serve`'s Prometheus metrics (prometheus-client, OpenMetrics text) and `/healthz`, on
//! 127.0.0.1 unless told otherwise: rows by outcome, requests and 429s by location, the daily
//! allowance left and the rate limit in force, run duration, runs by status and the last successful run per pipeline.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

/// A run `serve` made, for its `/runs` page.
#[derive(Debug, Clone)]
pub struct RunLink {
    /// The pipeline's name.
    pub pipeline: String,
    /// RFC 3339.
    pub started_at: String,
    /// The run history's status.
    pub status: String,
    /// Rows created, updated, unchanged, rejected (as the history has them).
    pub counts: String,
    /// The run's report folder.
    pub report_dir: std::path::PathBuf,
}

/// One pipeline file of the folder `serve` runs, for `/status` and the `pipeline_loaded` gauge.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PipelineState {
    /// The file.
    pub file: String,
    /// The pipeline's name (the file's stem when it does not load).
    pub pipeline: String,
    /// Whether it loads; when not, why (`reason`), and it never runs until it is fixed.
    pub loaded: bool,
    /// Why it does not load.
    pub reason: Option<String>,
    /// The location it writes to.
    pub location: Option<String>,
    /// Its next scheduled run (RFC 3339), if scheduled.
    pub next_run: Option<String>,
    /// Its inbox folder, if it has one.
    pub inbox: Option<String>,
    /// Files of its inbox moved to `failed/`.
    pub failed_files: u64,
    /// Why its state folder (journal, history, leases) cannot be written, if it cannot.
    pub state_error: Option<String>,
}

/// Runs kept for `/runs` (the newest).
const RUNS_KEPT: usize = 500;

/// The metrics `serve` keeps.
#[derive(Debug)]
pub struct Metrics {
    /// The runs made, oldest first, numbered from `runs_dropped`.
    runs_made: std::sync::Mutex<(usize, std::collections::VecDeque<RunLink>)>,
    registry: Registry,
    rows: Family<Labels, Counter>,
    runs: Family<Labels, Counter>,
    requests: Family<Labels, Counter>,
    rate_limited: Family<Labels, Counter>,
    daily_remaining: Family<Labels, Gauge>,
    rate_limit: Family<Labels, Gauge<f64, AtomicU64>>,
    duration: Family<Labels, Gauge<f64, AtomicU64>>,
    last_success: Family<Labels, Gauge>,
    loaded: Family<Labels, Gauge>,
    failed_files: Family<Labels, Gauge>,
    /// The folder's pipelines as last scanned (`None` before the first scan: not ready).
    pipelines: std::sync::Mutex<Option<Vec<PipelineState>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("ghl_import");
        let m = Metrics {
            rows: Family::default(),
            runs: Family::default(),
            requests: Family::default(),
            rate_limited: Family::default(),
            daily_remaining: Family::default(),
            rate_limit: Family::default(),
            duration: Family::default(),
            last_success: Family::default(),
            loaded: Family::default(),
            failed_files: Family::default(),
            registry: Registry::default(),
            runs_made: Default::default(),
            pipelines: Default::default(),
        };
        registry.register(
            "pipeline_loaded",
            "1 when the pipeline file loads, 0 when it does not (it never runs; /status says why)",
            m.loaded.clone(),
        );
        registry.register(
            "inbox_failed_files",
            "Files of the pipeline's inbox moved to failed/",
            m.failed_files.clone(),
        );
        registry.register("rows", "Rows by pipeline and outcome", m.rows.clone());
        registry.register("runs", "Runs by pipeline and status", m.runs.clone());
        registry.register(
            "requests",
            "API requests sent, by location",
            m.requests.clone(),
        );
        registry.register(
            "rate_limited",
            "429 answers, by location",
            m.rate_limited.clone(),
        );
        registry.register(
            "daily_allowance_remaining",
            "The location's daily request allowance left, as last advertised",
            m.daily_remaining.clone(),
        );
        registry.register(
            "rate_limit_per_second",
            "The location's request limit in force (advertised, else documented, under the pipeline's cap), per second",
            m.rate_limit.clone(),
        );
        registry.register(
            "run_duration_seconds",
            "Duration of the pipeline's last run",
            m.duration.clone(),
        );
        registry.register(
            "last_success_timestamp_seconds",
            "When the pipeline's last successful run (exit 0 or 3) ended, Unix time",
            m.last_success.clone(),
        );
        Metrics { registry, ..m }
    }
}

impl Metrics {
    /// Counts a run of `pipeline` into `location` that ended with `exit`, from its summary.json.
    pub fn record(
        &self,
        pipeline: &str,
        location: Option<&str>,
        exit: i32,
        status: &str,
        summary: Option<&serde_json::Value>,
    ) {
        let p = || vec![("pipeline", pipeline.to_owned())];
        self.runs
            .get_or_create(&vec![
                ("pipeline", pipeline.to_owned()),
                ("status", status.to_owned()),
            ])
            .inc();
        if exit == 0 || exit == 3 {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            self.last_success.get_or_create(&p()).set(now);
        }
        let Some(s) = summary else { return };
        for outcome in ["created", "updated", "unchanged", "exported", "rejected"] {
            if let Some(n) = s["rows"][outcome].as_u64() {
                self.rows
                    .get_or_create(&vec![
                        ("pipeline", pipeline.to_owned()),
                        ("outcome", outcome.to_owned()),
                    ])
                    .inc_by(n);
            }
        }
        if let Some(ms) = s["duration_ms"].as_u64() {
            self.duration.get_or_create(&p()).set(ms as f64 / 1000.0);
        }
        let Some(loc) = location else { return };
        let l = || vec![("location", loc.to_owned())];
        let req = &s["requests"];
        self.requests
            .get_or_create(&l())
            .inc_by(req["sent"].as_u64().unwrap_or(0));
        self.rate_limited
            .get_or_create(&l())
            .inc_by(req["rate_limited_429"].as_u64().unwrap_or(0));
        if let Some(d) = req["daily_remaining"].as_i64() {
            self.daily_remaining.get_or_create(&l()).set(d);
        }
        let limit = &req["rate_limit"];
        if let (Some(max), Some(ms)) = (limit["max"].as_f64(), limit["interval_ms"].as_f64()) {
            if ms > 0.0 {
                self.rate_limit.get_or_create(&l()).set(max * 1000.0 / ms);
            }
        }
    }

    /// Takes the folder's pipelines as scanned: the `pipeline_loaded` and `inbox_failed_files`
    /// gauges, and every series a loaded pipeline can have, at 0 until its first run (so that an
    /// alert has a series to start from).
    pub fn publish(&self, states: Vec<PipelineState>) {
        for st in &states {
            let p = || vec![("pipeline", st.pipeline.clone())];
            self.loaded.get_or_create(&p()).set(i64::from(st.loaded));
            self.failed_files
                .get_or_create(&p())
                .set(st.failed_files as i64);
            if !st.loaded {
                continue;
            }
            for status in crate::store::history::STATUSES {
                let _ = self.runs.get_or_create(&vec![
                    ("pipeline", st.pipeline.clone()),
                    ("status", status.to_owned()),
                ]);
            }
            for outcome in ["created", "updated", "unchanged", "exported", "rejected"] {
                let _ = self.rows.get_or_create(&vec![
                    ("pipeline", st.pipeline.clone()),
                    ("outcome", outcome.to_owned()),
                ]);
            }
            if let Some(loc) = &st.location {
                let l = vec![("location", loc.clone())];
                let _ = self.requests.get_or_create(&l);
                let _ = self.rate_limited.get_or_create(&l);
            }
        }
        *self.pipelines.lock().unwrap_or_else(|e| e.into_inner()) = Some(states);
    }

    /// `/status`: each pipeline of the folder — loaded or why not, next run, failed inbox
    /// files — with its last run; `ready` once the folder was scanned.
    fn status(&self) -> serde_json::Value {
        let pipelines = self
            .pipelines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let runs = self.runs_made.lock().unwrap_or_else(|e| e.into_inner());
        let list: Vec<serde_json::Value> = pipelines
            .iter()
            .flatten()
            .map(|p| {
                let last = runs.1.iter().rev().find(|r| r.pipeline == p.pipeline).map(|r| {
                    serde_json::json!({"status": r.status, "started_at": r.started_at, "counts": r.counts,
                        "report_dir": r.report_dir})
                });
                let mut v = serde_json::to_value(p).unwrap_or_default();
                v["last_run"] = last.unwrap_or(serde_json::Value::Null);
                v
            })
            .collect();
        let ready = pipelines
            .as_ref()
            .is_some_and(|ps| ps.iter().all(|p| p.state_error.is_none()));
        serde_json::json!({"version": 1, "ready": ready, "pipelines": list})
    }

    /// Whether the folder was scanned and every state folder can be written (`/readyz`).
    fn ready(&self) -> bool {
        self.pipelines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|ps| ps.iter().all(|p| p.state_error.is_none()))
    }

    /// Remembers a run for `/runs`.
    pub fn remember(&self, link: RunLink) {
        let mut g = self.runs_made.lock().unwrap_or_else(|e| e.into_inner());
        g.1.push_back(link);
        if g.1.len() > RUNS_KEPT {
            g.1.pop_front();
            g.0 += 1;
        }
    }

    /// The run numbered `n`.
    fn run(&self, n: usize) -> Option<RunLink> {
        let g = self.runs_made.lock().unwrap_or_else(|e| e.into_inner());
        n.checked_sub(g.0).and_then(|i| g.1.get(i)).cloned()
    }

    /// `/runs`: the runs this server made (after the last runs of its pipelines' history, recalled
    /// when it started), newest first, each linking its report.
    fn runs_page(&self) -> String {
        use crate::report::html::esc;
        let g = self.runs_made.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::from(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>ghl-import serve: runs</title>\
             <style>body{font:15px system-ui,sans-serif;margin:24px}table{border-collapse:collapse}\
             td,th{border:1px solid #d0d7de;padding:4px 8px;text-align:left}</style></head><body>\
             <h1>Runs</h1><table><thead><tr><th>started</th><th>pipeline</th><th>status</th>\
             <th>created / updated / unchanged / rejected</th><th>report</th></tr></thead><tbody>",
        );
        for (i, r) in g.1.iter().enumerate().rev() {
            let n = g.0 + i;
            let has = r
                .report_dir
                .join(crate::report::html::REPORT_HTML)
                .is_file();
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&r.started_at),
                esc(&r.pipeline),
                esc(&r.status),
                esc(&r.counts),
                if has {
                    format!("<a href=\"/runs/{n}/report.html\">report.html</a>")
                } else {
                    "–".to_owned()
                }
            ));
        }
        out.push_str("</tbody></table></body></html>\n");
        out
    }

    /// The OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Serves `/healthz` and `/metrics` on `listener` in the background.
pub fn spawn_endpoint(listener: tokio::net::TcpListener, metrics: Arc<Metrics>) {
    use axum::routing::get;
    let (pages, reports) = (Arc::clone(&metrics), Arc::clone(&metrics));
    let (status, ready) = (Arc::clone(&metrics), Arc::clone(&metrics));
    let app = axum::Router::new()
        // Liveness only: a bad file never restarts the process.
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(move || {
                let m = Arc::clone(&ready);
                async move {
                    match m.ready() {
                        true => (axum::http::StatusCode::OK, "ready\n"),
                        false => (
                            axum::http::StatusCode::SERVICE_UNAVAILABLE,
                            "the folder is not scanned yet\n",
                        ),
                    }
                }
            }),
        )
        .route(
            "/status",
            get(move || {
                let m = Arc::clone(&status);
                async move { axum::Json(m.status()) }
            }),
        )
        .route(
            "/runs",
            get(move || {
                let m = Arc::clone(&pages);
                async move { axum::response::Html(m.runs_page()) }
            }),
        )
        .route(
            "/runs/{n}/report.html",
            get(move |axum::extract::Path(n): axum::extract::Path<usize>| {
                let m = Arc::clone(&reports);
                async move {
                    // Only the report of a run this server made.
                    let page = m.run(n).and_then(|r| {
                        std::fs::read_to_string(r.report_dir.join(crate::report::html::REPORT_HTML))
                            .ok()
                    });
                    match page {
                        Some(p) => Ok(axum::response::Html(p)),
                        None => Err(axum::http::StatusCode::NOT_FOUND),
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let m = Arc::clone(&metrics);
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        m.encode(),
                    )
                }
            }),
        );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "The metrics endpoint stopped.");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_shows_in_the_text() {
        let m = Metrics::default();
        let s = serde_json::json!({
            "rows": {"created": 3, "updated": 1, "unchanged": 0, "exported": 0, "rejected": 2},
            "requests": {"sent": 4, "rate_limited_429": 1, "daily_remaining": 199_996},
            "duration_ms": 1500
        });
        m.record("q", Some("loc"), 3, "rejects", Some(&s));
        let t = m.encode();
        assert!(
            t.contains(r#"ghl_import_rows_total{pipeline="q",outcome="created"} 3"#),
            "{t}"
        );
        assert!(
            t.contains(r#"ghl_import_rate_limited_total{location="loc"} 1"#),
            "{t}"
        );
        assert!(
            t.contains(r#"ghl_import_daily_allowance_remaining{location="loc"} 199996"#),
            "{t}"
        );
        assert!(
            t.contains(r#"ghl_import_runs_total{pipeline="q",status="rejects"} 1"#),
            "{t}"
        );
        assert!(
            t.contains("ghl_import_run_duration_seconds{pipeline=\"q\"} 1.5"),
            "{t}"
        );
        assert!(
            t.contains("ghl_import_last_success_timestamp_seconds{pipeline=\"q\"}"),
            "{t}"
        );
    }
}
