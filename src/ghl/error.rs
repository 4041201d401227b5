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
    /// Whether this error should stop the whole run rather than reject one row.
    pub fn is_fatal(&self) -> bool {
        matches!(self, ApiError::Auth { .. })
    }
}
