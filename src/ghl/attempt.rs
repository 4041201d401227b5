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

/// Notices an API that does not answer at all: three connection failures in a row, or two
/// timeouts (each a full request timeout), with no answer of any kind in between, open it; then
/// every call fails at once with [`ApiError::Unavailable`] and the run stops instead of retrying
/// every row. It stays open: the run is over.
#[derive(Debug, Default)]
pub(super) struct Breaker {
    /// Failure points in a row (a connection failure 2, a timeout 3); 6 opens the breaker.
    points: std::sync::atomic::AtomicU32,
    /// What the last failure was.
    last: std::sync::Mutex<String>,
}

impl Breaker {
    const OPEN_AT: u32 = 6;

    pub(super) fn check(&self, base: &str) -> Result<(), ApiError> {
        if self.points.load(Ordering::SeqCst) >= Self::OPEN_AT {
            let last = self.last.lock().unwrap_or_else(|p| p.into_inner()).clone();
            return Err(ApiError::Unavailable {
                base: base.to_owned(),
                detail: last,
            });
        }
        Ok(())
    }

    pub(super) fn failure(&self, timeout: bool) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = if timeout {
            "requests time out".into()
        } else {
            "connections fail".into()
        };
        self.points
            .fetch_add(if timeout { 3 } else { 2 }, Ordering::SeqCst);
    }

    pub(super) fn success(&self) {
        if self.points.load(Ordering::SeqCst) < Self::OPEN_AT {
            self.points.store(0, Ordering::SeqCst);
        }
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
