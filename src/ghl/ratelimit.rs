//! Client-side throttle per location, and parsing of the `X-RateLimit-*` headers the API sends.
//!
//! The throttle is a governor GCRA limiter that spaces requests evenly at `(max − 1) / interval`
//! (one request of headroom from `max` = 10 up) with a burst of one, so that no window of
//! `interval` — aligned with the server's or not, with some jitter on the way — ever holds more
//! than `max` requests. When the server advertises a stricter limit than configured, the
//! limiter is replaced by a stricter one (never loosened beyond the configuration).

use std::num::NonZeroU32;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::HeaderMap;

/// Header names.
pub const H_MAX: &str = "x-ratelimit-max";
/// Requests left in the current interval.
pub const H_REMAINING: &str = "x-ratelimit-remaining";
/// Interval length in ms.
pub const H_INTERVAL_MS: &str = "x-ratelimit-interval-milliseconds";
/// Daily allowance.
pub const H_LIMIT_DAILY: &str = "x-ratelimit-limit-daily";
/// Daily requests left.
pub const H_DAILY_REMAINING: &str = "x-ratelimit-daily-remaining";

/// What one response's headers said about the limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimitInfo {
    pub max: Option<u32>,
    pub remaining: Option<u32>,
    pub interval_ms: Option<u64>,
    pub limit_daily: Option<u64>,
    pub daily_remaining: Option<u64>,
}

impl RateLimitInfo {
    /// Reads the headers; absent or unparsable values are `None`.
    pub fn from_headers(h: &HeaderMap) -> Self {
        fn num<T: std::str::FromStr>(h: &HeaderMap, name: &str) -> Option<T> {
            h.get(name)?.to_str().ok()?.trim().parse().ok()
        }
        RateLimitInfo {
            max: num(h, H_MAX),
            remaining: num(h, H_REMAINING),
            interval_ms: num(h, H_INTERVAL_MS),
            limit_daily: num(h, H_LIMIT_DAILY),
            daily_remaining: num(h, H_DAILY_REMAINING),
        }
    }
}

/// A limit: `max` requests per `interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: NonZeroU32,
    pub interval: Duration,
}

impl Limit {
    /// Requests per second this limit allows.
    pub fn per_second(&self) -> f64 {
        f64::from(self.max.get()) / self.interval.as_secs_f64()
    }

    /// Requests actually spaced per interval: one less than allowed (from 10 up), as headroom
    /// for network and scheduling jitter that can bunch requests sent evenly apart.
    pub fn paced_max(&self) -> u32 {
        let m = self.max.get();
        if m >= 10 {
            m - 1
        } else {
            m
        }
    }

    fn quota(&self) -> Quota {
        let period = self.interval / self.paced_max();
        Quota::with_period(period.max(Duration::from_micros(1)))
            .expect("period is not zero")
            .allow_burst(NonZeroU32::MIN)
    }
}

/// The per-location throttle shared by every request of a run.
#[derive(Debug)]
pub struct Throttle {
    current: RwLock<(Limit, Arc<DefaultDirectRateLimiter>)>,
}

impl Throttle {
    /// A throttle at `limit`.
    pub fn new(limit: Limit) -> Self {
        let limiter = Arc::new(RateLimiter::direct(limit.quota()));
        Throttle {
            current: RwLock::new((limit, limiter)),
        }
    }

    /// The limit in force.
    pub fn limit(&self) -> Limit {
        self.current
            .read()
            .map(|g| g.0)
            .unwrap_or_else(|p| p.into_inner().0)
    }

    /// Waits for a slot.
    pub async fn acquire(&self) {
        let limiter = {
            let g = self.current.read().unwrap_or_else(|p| p.into_inner());
            Arc::clone(&g.1)
        };
        limiter.until_ready().await;
    }

    /// Tightens the limit if the server advertises a slower rate than the one in force.
    /// Returns the new limit when it changed.
    pub fn observe(&self, info: &RateLimitInfo) -> Option<Limit> {
        let (Some(max), Some(interval_ms)) = (info.max, info.interval_ms) else {
            return None;
        };
        let max = NonZeroU32::new(max)?;
        if interval_ms == 0 {
            return None;
        }
        let advertised = Limit {
            max,
            interval: Duration::from_millis(interval_ms),
        };
        let mut g = self.current.write().unwrap_or_else(|p| p.into_inner());
        if advertised.per_second() < g.0.per_second() {
            *g = (
                advertised,
                Arc::new(RateLimiter::direct(advertised.quota())),
            );
            Some(advertised)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn parses_headers() {
        let mut h = HeaderMap::new();
        h.insert("X-RateLimit-Max", HeaderValue::from_static("100"));
        h.insert("X-RateLimit-Remaining", HeaderValue::from_static("97"));
        h.insert(
            "X-RateLimit-Interval-Milliseconds",
            HeaderValue::from_static("10000"),
        );
        h.insert(
            "X-RateLimit-Daily-Remaining",
            HeaderValue::from_static("199990"),
        );
        h.insert("X-RateLimit-Limit-Daily", HeaderValue::from_static("junk"));
        let i = RateLimitInfo::from_headers(&h);
        assert_eq!(i.max, Some(100));
        assert_eq!(i.remaining, Some(97));
        assert_eq!(i.interval_ms, Some(10_000));
        assert_eq!(i.daily_remaining, Some(199_990));
        assert_eq!(i.limit_daily, None);
    }

    #[test]
    fn observe_only_tightens() {
        let t = Throttle::new(Limit {
            max: NonZeroU32::new(100).unwrap(),
            interval: Duration::from_secs(10),
        });
        let looser = RateLimitInfo {
            max: Some(1000),
            interval_ms: Some(1000),
            ..Default::default()
        };
        assert_eq!(t.observe(&looser), None);
        let stricter = RateLimitInfo {
            max: Some(50),
            interval_ms: Some(10_000),
            ..Default::default()
        };
        assert_eq!(t.observe(&stricter).map(|l| l.max.get()), Some(50));
        assert_eq!(t.limit().max.get(), 50);
    }

    #[tokio::test]
    async fn spacing_never_exceeds_max_in_a_window() {
        // 20 per 200 ms, paced at 19 → one per ~10.5 ms. 30 acquisitions take at least 300 ms.
        let t = Throttle::new(Limit {
            max: NonZeroU32::new(20).unwrap(),
            interval: Duration::from_millis(200),
        });
        let start = std::time::Instant::now();
        for _ in 0..30 {
            t.acquire().await;
        }
        assert!(
            start.elapsed() >= Duration::from_millis(285),
            "{:?}",
            start.elapsed()
        );
    }
}
