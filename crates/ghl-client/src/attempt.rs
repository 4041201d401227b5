//! The state of one API call across its attempts (what each attempt came to, why the next one
//! waits, what is left uncertain) and the breaker that notices an API that does not answer.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::error::ApiError;

/// What one attempt came to.
pub(super) enum Answer {
    /// A 2xx answer with its body.
    Body { status: u16, bytes: bytes::Bytes },
    /// A definitive failure.
    Final(ApiError),
    /// A 401: final, unless an OAuth token can be refreshed once.
    Unauthorized(ApiError),
    /// Worth another attempt after a wait.
    Retry {
        failure: String,
        wait: Wait,
        /// Whether the failed attempt may have been applied (its answer was lost or was a 5xx).
        maybe_applied: bool,
    },
}

/// What the attempts of one call leave uncertain.
#[derive(Debug, Clone, Copy, Default)]
pub struct Trace {
    /// When the first attempt was sent.
    pub first_sent: Option<std::time::SystemTime>,
    /// Whether a failed attempt may have been applied by the server.
    pub uncertain: bool,
}

/// Why the next attempt waits.
pub(super) enum Wait {
    /// A 5xx, 408 or transport failure: exponential backoff with jitter (`Retry-After` a floor).
    Backoff(Option<Duration>),
    /// A 429 on the burst window: as long as the server asks, else up to one interval.
    RateLimited {
        retry_after: Option<Duration>,
        interval: Option<Duration>,
    },
}

/// Attempts of one call so far.
#[derive(Default)]
pub(super) struct Tries {
    /// Attempts that failed (5xx, 408, transport).
    pub(super) failures: u32,
    /// 429 answers.
    pub(super) rate_limited: u32,
    /// Time spent waiting on 429s.
    pub(super) waited: Duration,
    /// Whether an OAuth token was already refreshed after a 401.
    pub(super) reauthorized: bool,
    /// What a caller may need to reconcile.
    pub(super) trace: Trace,
}

/// Notices an API that does not answer at all — and only that. A request unanswered for the
/// whole request timeout, or three transport failures in a row (refused or dropped
/// connections) with no answer of any kind in between, make it *suspect*; one probe (a request
/// to the API's root, [`PROBE_TIMEOUT`] at most, any HTTP answer counts; tried up to three
/// times unless a try times out) then decides: an
/// answer clears the suspicion (a flaky network is not a dead API), no answer opens the breaker.
/// Open, every call fails at once with [`ApiError::Unavailable`] and the run stops instead of
/// retrying every row. It stays open: the run is over. With the defaults a silent listener is
/// noticed after one request timeout and the probe (15 s + 3 s).
#[derive(Debug, Default)]
pub(super) struct Breaker {
    /// Transport failures since the last answer.
    streak: std::sync::atomic::AtomicU32,
    /// A probe is under way (one at a time; failures meanwhile only count).
    probing: std::sync::atomic::AtomicBool,
    open: std::sync::atomic::AtomicBool,
    /// What the last failure was.
    last: std::sync::Mutex<String>,
}

/// How long the probe of a suspect API waits for any answer.
pub(super) const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

impl Breaker {
    /// Transport failures in a row that make the API suspect.
    const SUSPECT_AT: u32 = 3;

    pub(super) fn check(&self, base: &str) -> Result<(), ApiError> {
        if self.open.load(Ordering::SeqCst) {
            let last = self.last.lock().unwrap_or_else(|p| p.into_inner()).clone();
            return Err(ApiError::Unavailable {
                base: base.to_owned(),
                detail: last,
            });
        }
        Ok(())
    }

    /// Counts a transport failure; true when the caller should probe the API now.
    pub(super) fn failure(&self, timeout: bool) -> bool {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = if timeout {
            "requests time out".into()
        } else {
            "connections fail".into()
        };
        let streak = self.streak.fetch_add(1, Ordering::SeqCst) + 1;
        (timeout || streak >= Self::SUSPECT_AT)
            && !self.open.load(Ordering::SeqCst)
            && !self.probing.swap(true, Ordering::SeqCst)
    }

    /// What the probe [`Breaker::failure`] asked for found.
    pub(super) fn probed(&self, answered: bool) {
        if answered {
            self.streak.store(0, Ordering::SeqCst);
        } else {
            self.open.store(true, Ordering::SeqCst);
        }
        self.probing.store(false, Ordering::SeqCst);
    }

    pub(super) fn success(&self) {
        self.streak.store(0, Ordering::SeqCst);
    }
}

pub(super) fn status_text(status: u16) -> String {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("error")
        .to_owned()
}

/// A transport error without the URL's query (never holds secrets, but stays short).
pub(super) fn describe_transport(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "connection dropped while reading the answer"
    } else {
        "transport error"
    };
    let mut src = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = src {
        detail = s.to_string();
        src = s.source();
    }
    if detail.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind} ({detail})")
    }
}

/// Why an answer could not be read, in words: not JSON at all (a web page, a proxy's notice:
/// the base URL is likely not the API's), or JSON of another shape than the API documents.
pub(super) fn undecodable(bytes: &[u8], e: &serde_json::Error) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(60)]);
    let start = text.trim_start();
    if !(start.starts_with('{') || start.starts_with('[')) {
        let shown: String = start.chars().take(40).filter(|c| !c.is_control()).collect();
        return format!(
            "the answer is not JSON (it starts with `{shown}`): is target.base_url the API's address \
             (https://services.leadconnectorhq.com), and is no proxy answering in its place?"
        );
    }
    let what = match e.classify() {
        serde_json::error::Category::Data => "JSON of another shape than the API documents",
        _ => "JSON cut short or malformed",
    };
    format!("the answer is {what} ({e})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_connections_make_the_api_suspect_and_a_probe_decides() {
        let b = Breaker::default();
        assert!(!b.failure(false));
        assert!(!b.failure(false));
        assert!(b.failure(false), "third in a row: probe");
        assert!(!b.failure(false), "one probe at a time");
        b.probed(true);
        assert!(b.check("u").is_ok(), "it answered: a flaky network");
        assert!(b.failure(true), "a timeout: probe at once");
        b.probed(false);
        assert!(b.check("u").is_err(), "no answer to the probe: open");
        assert!(!b.failure(true), "open: no more probes");
    }

    #[test]
    fn an_answer_in_between_resets_the_streak() {
        let b = Breaker::default();
        assert!(!b.failure(false));
        assert!(!b.failure(false));
        b.success();
        assert!(!b.failure(false));
        assert!(!b.failure(false));
        assert!(b.check("u").is_ok());
    }
}
