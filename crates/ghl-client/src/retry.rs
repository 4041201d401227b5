//! Retry classification and backoff, as pure functions.

use std::time::Duration;

use rand::Rng;

/// What to do with an attempt's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAction {
    /// Worth another attempt (429, 408, 5xx other than 501, transport errors).
    Retry,
    /// A definitive answer.
    DontRetry,
}

/// Classifies an HTTP status.
pub fn classify_status(status: u16) -> RetryAction {
    match status {
        408 | 429 => RetryAction::Retry,
        501 => RetryAction::DontRetry,
        500..=599 => RetryAction::Retry,
        _ => RetryAction::DontRetry,
    }
}

/// Retry policy: bounded attempts, exponential backoff with full jitter.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts including the first.
    pub max_attempts: u32,
    /// Backoff base.
    pub base: Duration,
    /// Cap of one sleep.
    pub cap: Duration,
}

impl RetryPolicy {
    /// The sleep before attempt `attempt + 1`, given `attempt` (1-based) just failed.
    /// Full jitter: uniform in `[0, min(cap, base · 2^(attempt-1))]`. A `Retry-After` from the
    /// server is a floor (it is what the server asked for), still capped at 10 × cap.
    pub fn delay(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        rng: &mut impl Rng,
    ) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        let ceiling = exp.min(self.cap);
        let jittered = if ceiling.is_zero() {
            Duration::ZERO
        } else {
            Duration::from_nanos(rng.random_range(0..=ceiling.as_nanos() as u64))
        };
        match retry_after {
            Some(ra) if !ra.is_zero() => ra.min(self.cap.saturating_mul(10)).max(jittered),
            _ => jittered,
        }
    }
}

/// Parses `Retry-After` given in seconds (the HTTP-date form is not used by this API).
pub fn parse_retry_after(value: Option<&str>) -> Option<Duration> {
    let secs: f64 = value?.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn classification() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert_eq!(classify_status(s), RetryAction::Retry, "{s}");
        }
        for s in [200, 400, 401, 403, 404, 422, 501] {
            assert_eq!(classify_status(s), RetryAction::DontRetry, "{s}");
        }
    }

    #[test]
    fn delays_grow_and_stay_capped() {
        let p = RetryPolicy {
            max_attempts: 8,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for attempt in 1..10 {
            let ceiling =
                Duration::from_millis(100 * (1 << (attempt - 1))).min(Duration::from_secs(1));
            for _ in 0..50 {
                let d = p.delay(attempt, None, &mut rng);
                assert!(d <= ceiling, "attempt {attempt}: {d:?} > {ceiling:?}");
            }
        }
        // Jitter actually varies.
        let samples: Vec<_> = (0..20).map(|_| p.delay(4, None, &mut rng)).collect();
        assert!(samples.iter().any(|d| *d != samples[0]));
    }

    #[test]
    fn retry_after_is_a_floor() {
        let p = RetryPolicy {
            max_attempts: 3,
            base: Duration::from_millis(1),
            cap: Duration::from_secs(1),
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let d = p.delay(1, Some(Duration::from_secs(2)), &mut rng);
        assert_eq!(d, Duration::from_secs(2));
        assert_eq!(parse_retry_after(Some(" 3 ")), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(Some("Wed, 21 Oct 2015")), None);
        assert_eq!(parse_retry_after(Some("-1")), None);
    }
}
