//! Alerts: after a run, a short JSON summary posted to a webhook (`notify:` in the pipeline),
//! with a `text` line that Slack and Microsoft Teams incoming webhooks show as it is, and the
//! run's figures as fields for anything else. Sent after the run's reports are written, retried
//! (3 attempts within about 20 s), never changing the run's exit code, never carrying a token —
//! and the webhook URL, a secret itself, never appears in a log line or error.

use std::time::Duration;

use serde_json::{json, Value};

use crate::config::{NotifyConfig, NotifyOn};
use crate::error::{ConfigError, Exit};

/// Version of the posted JSON.
pub const VERSION: u32 = 1;

/// The webhook's URL from its environment variable; a clear error before the run when it is
/// missing or not an http(s) URL.
pub fn webhook_url(cfg: &NotifyConfig) -> Result<reqwest::Url, ConfigError> {
    let var = &cfg.webhook_url_env;
    let raw = std::env::var(var).ok().filter(|v| !v.trim().is_empty()).ok_or_else(|| {
        ConfigError::new(format!(
            "notify.webhook_url_env: environment variable `{var}` is not set; export it with the webhook's URL \
             (Slack or Teams incoming webhook, or any endpoint taking a JSON POST)"
        ))
    })?;
    reqwest::Url::parse(raw.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| {
            ConfigError::new(format!(
                "notify.webhook_url_env: `{var}` does not hold an http(s) URL"
            ))
        })
}

/// The pipeline's webhook URL, if it has `notify:` (checked before a run sends anything).
pub fn webhook_of(p: &crate::config::Pipeline) -> Result<Option<reqwest::Url>, ConfigError> {
    p.notify.as_ref().map(webhook_url).transpose()
}

/// Which of `on` this ending is, if any: `summary` is the run's summary.json (absent when the
/// run did not get that far).
pub fn event(on: &[NotifyOn], exit: Exit, summary: Option<&Value>) -> Option<NotifyOn> {
    let floor = summary.is_some_and(|s| !s["resume"].is_null());
    let ending = match exit {
        _ if floor => NotifyOn::DailyFloor,
        Exit::Ok => NotifyOn::Success,
        Exit::Rejects => NotifyOn::Rejects,
        Exit::Fatal | Exit::Config | Exit::NothingLoaded => NotifyOn::Failure,
    };
    if on.contains(&ending) {
        return Some(ending);
    }
    // A run stopped at the floor is also a failure for those who only asked for failures.
    (ending == NotifyOn::DailyFloor && exit == Exit::Fatal && on.contains(&NotifyOn::Failure))
        .then_some(NotifyOn::Failure)
}

/// What is known of the run for the message.
#[derive(Debug, Clone)]
pub struct RunInfo<'a> {
    /// The run's id.
    pub run: &'a str,
    /// The pipeline's name.
    pub pipeline: &'a str,
    /// The location, if any.
    pub location: Option<&'a str>,
    /// How it ended.
    pub exit: Exit,
    /// Its summary.json, when written.
    pub summary: Option<&'a Value>,
    /// Its report folder, when it has one.
    pub report_dir: Option<&'a std::path::Path>,
    /// The error that ended it, if one did.
    pub error: Option<String>,
}

/// The JSON posted for `event`.
pub fn payload(event: NotifyOn, r: &RunInfo<'_>) -> Value {
    let rows = r.summary.map(|s| s["rows"].clone()).unwrap_or(Value::Null);
    let n = |k: &str| rows[k].as_u64().unwrap_or(0);
    let status = match event {
        NotifyOn::Success => "succeeded",
        NotifyOn::Rejects => "finished with rejected rows",
        NotifyOn::DailyFloor => "stopped at the daily allowance",
        NotifyOn::Failure => "failed",
    };
    let target = r.location.map(|l| format!(" → {l}")).unwrap_or_default();
    let mut text = format!(
        "ghl-import: {}{target} {status} (exit {})",
        r.pipeline, r.exit as i32
    );
    if !rows.is_null() {
        text.push_str(&format!(
            ": {} created, {} updated, {} unchanged, {} exported, {} rejected of {} rows",
            n("created"),
            n("updated"),
            n("unchanged"),
            n("exported"),
            n("rejected"),
            n("read")
        ));
    }
    let aborted = r
        .summary
        .and_then(|s| s["aborted"].as_str().map(str::to_owned))
        .or_else(|| r.error.clone());
    if let Some(a) = &aborted {
        text.push_str(&format!(" — {a}"));
    }
    if let Some(d) = r.report_dir {
        text.push_str(&format!(" — reports: {}", d.display()));
    }
    json!({
        "text": text,
        "version": VERSION,
        "event": event,
        "run": r.run,
        "pipeline": r.pipeline,
        "location": r.location,
        "exit_code": r.exit as i32,
        "rows": rows,
        "rejected_by_code": r.summary.map(|s| s["rejected_by_code"].clone()),
        "requests": r.summary.map(|s| s["requests"].clone()),
        "aborted": aborted,
        "report_dir": r.report_dir.map(|d| d.display().to_string()),
    })
}

/// Posts `body` to `url`: up to 3 attempts (a 2xx ends them), 5 s each, 1 s and 3 s apart.
/// The error names the status or the kind of failure, never the URL.
pub async fn post(url: &reqwest::Url, body: &Value) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .connect_timeout(Duration::from_secs(3))
        .build()
        .map_err(|e| e.without_url().to_string())?;
    let mut last = String::new();
    for (attempt, pause) in [0u64, 1, 3].into_iter().enumerate() {
        if pause > 0 {
            tokio::time::sleep(Duration::from_secs(pause)).await;
        }
        match client.post(url.clone()).json(body).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => last = format!("attempt {}: HTTP {}", attempt + 1, r.status().as_u16()),
            Err(e) => last = format!("attempt {}: {}", attempt + 1, e.without_url()),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endings_map_to_events() {
        let all = [
            NotifyOn::Success,
            NotifyOn::Failure,
            NotifyOn::Rejects,
            NotifyOn::DailyFloor,
        ];
        let floor = json!({"resume": {"rows_left": 3}});
        assert_eq!(event(&all, Exit::Ok, None), Some(NotifyOn::Success));
        assert_eq!(event(&all, Exit::Rejects, None), Some(NotifyOn::Rejects));
        assert_eq!(event(&all, Exit::Config, None), Some(NotifyOn::Failure));
        assert_eq!(
            event(&all, Exit::Fatal, Some(&floor)),
            Some(NotifyOn::DailyFloor)
        );
        let failures = [NotifyOn::Failure];
        assert_eq!(event(&failures, Exit::Ok, None), None);
        assert_eq!(event(&failures, Exit::Rejects, None), None);
        assert_eq!(
            event(&failures, Exit::Fatal, Some(&floor)),
            Some(NotifyOn::Failure)
        );
    }

    #[test]
    fn the_text_says_what_happened_and_where_the_reports_are() {
        let summary = json!({"rows": {"read": 50, "created": 39, "updated": 0, "unchanged": 0,
                                      "exported": 0, "rejected": 11}, "aborted": null});
        let dir = std::path::Path::new("out/q-1");
        let v = payload(
            NotifyOn::Rejects,
            &RunInfo {
                run: "q-20261129T000000Z",
                pipeline: "q",
                location: Some("loc"),
                exit: Exit::Rejects,
                summary: Some(&summary),
                report_dir: Some(dir),
                error: None,
            },
        );
        let text = v["text"].as_str().unwrap();
        assert!(
            text.starts_with(
                "ghl-import: q → loc finished with rejected rows (exit 3): 39 created"
            ),
            "{text}"
        );
        assert!(text.contains("11 rejected of 50 rows"), "{text}");
        assert!(text.ends_with("reports: out/q-1"), "{text}");
        assert_eq!(v["event"], "rejects");
        assert_eq!(v["version"], 1);
    }
}
