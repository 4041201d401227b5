//! Errors of API calls. None of them carries the token.

use super::types::DuplicateMeta;

/// A failed API call.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A definitive 4xx answer about this request (400, 404, 409, 422, …): the row is rejected.
    #[error("HTTP {status}: {}", messages.join("; "))]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The API's message(s).
        messages: Vec<String>,
        /// Server trace id, if sent.
        trace_id: Option<String>,
        /// Duplicate-contact details of a 400 duplicate answer.
        meta: Option<DuplicateMeta>,
    },
    /// 401 or 403: the token is not valid for this location or scope. Fatal for the run.
    #[error("HTTP {status}: {message}")]
    Auth {
        /// HTTP status.
        status: u16,
        /// The API's message.
        message: String,
    },
    /// Retries exhausted on 429, 5xx or transport errors.
    #[error("gave up after {attempts} attempts: {last}")]
    Exhausted {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// The API does not answer at all (connections refused or timing out): fatal for the run.
    #[error("the API at {base} is unreachable: {detail}")]
    Unavailable {
        /// The base URL.
        base: String,
        /// What failed.
        detail: String,
    },
    /// The location's daily allowance is spent (a 429 with `X-RateLimit-Daily-Remaining: 0`).
    #[error("the location's daily request allowance{} is spent", limit.map(|l| format!(" ({l})")).unwrap_or_default())]
    DailyExhausted {
        /// `X-RateLimit-Limit-Daily`, if sent.
        limit: Option<u64>,
    },
    /// 429s went on for longer than `load.rate_limit.max_wait_secs`.
    #[error("the API kept answering 429 for {}s: {last}", waited.as_secs())]
    RateLimitedTooLong {
        /// Time waited.
        waited: std::time::Duration,
        /// The last answer.
        last: String,
    },
    /// A 2xx answer whose body could not be read.
    #[error("unexpected answer from {endpoint} (HTTP {status}): {detail}")]
    Decode {
        /// Which operation.
        endpoint: &'static str,
        /// HTTP status.
        status: u16,
        /// What went wrong.
        detail: String,
    },
}

impl ApiError {
    /// Whether the API says the contact addressed does not exist (404, or GHL's 400 "Contact
    /// not found"): for an undo, the contact is already gone.
    pub fn is_not_found(&self) -> bool {
        match self {
            ApiError::Rejected { status: 404, .. } => true,
            ApiError::Rejected {
                status: 400,
                messages,
                ..
            } => messages
                .iter()
                .any(|m| m.to_ascii_lowercase().contains("not found")),
            _ => false,
        }
    }

    /// Whether this error should stop the whole run rather than reject one row.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            ApiError::Auth { .. }
                | ApiError::Unavailable { .. }
                | ApiError::DailyExhausted { .. }
                | ApiError::RateLimitedTooLong { .. }
        )
    }
}
