//! Client-side throttle per location, and parsing of the `X-RateLimit-*` headers the API sends.
//!
//! The throttle is a governor GCRA limiter that spaces requests evenly at `(max − 1) / interval`
//! (one request of headroom from `max` = 10 up) with a burst of one, so that no window of
//! `interval` — aligned with the server's or not, with some jitter on the way — ever holds more
//! than `max` requests. When the server advertises a stricter limit than configured, the
//! limiter is replaced by a stricter one (never loosened beyond the configuration). When
//! `X-RateLimit-Remaining` shows that another client (another run, another integration of the
//! same app) spends part of the budget, the pace drops to the share left over until that stops.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    state: Mutex<ThrottleState>,
}

#[derive(Debug)]
struct ThrottleState {
    /// The configured limit, tightened by what the server advertises (never loosened).
    base: Limit,
    /// The limit paced at: `base`, or less while another client spends part of the budget.
    limit: Limit,
    limiter: Arc<DefaultDirectRateLimiter>,
    /// When this client's recent requests were sent (within the last interval).
    sent: VecDeque<Instant>,
    /// No request starts before this (the server said the window's budget is spent).
    hold_until: Option<Instant>,
    /// When a response last showed requests this client did not send.
    foreign_seen: Option<Instant>,
}

impl ThrottleState {
    fn set_limit(&mut self, limit: Limit) {
        self.limit = limit;
        self.limiter = Arc::new(RateLimiter::direct(limit.quota()));
    }
}

/// What [`Throttle::observe`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adjustment {
    /// The server advertises a stricter limit than the one configured.
    Stricter(Limit),
    /// Another client spends part of the budget: paced at this share of it.
    Shared(Limit),
    /// The other client stopped: back to the full limit.
    Restored(Limit),
}

impl Throttle {
    /// A throttle at `limit`.
    pub fn new(limit: Limit) -> Self {
        let limiter = Arc::new(RateLimiter::direct(limit.quota()));
        Throttle {
            state: Mutex::new(ThrottleState {
                base: limit,
                limit,
                limiter,
                sent: VecDeque::new(),
                hold_until: None,
                foreign_seen: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ThrottleState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The limit in force.
    pub fn limit(&self) -> Limit {
        self.lock().limit
    }

    /// Waits for a slot.
    pub async fn acquire(&self) {
        loop {
            let (hold, limiter) = {
                let g = self.lock();
                (g.hold_until, Arc::clone(&g.limiter))
            };
            if let Some(until) = hold.filter(|u| *u > Instant::now()) {
                tokio::time::sleep_until(until.into()).await;
                continue;
            }
            limiter.until_ready().await;
            let mut g = self.lock();
            // A hold or a new limit may have come while this request waited: wait again.
            if g.hold_until.is_some_and(|u| u > Instant::now())
                || !Arc::ptr_eq(&g.limiter, &limiter)
            {
                continue;
            }
            let now = Instant::now();
            // Kept for two intervals: a late answer is compared with the sends before it.
            let keep = g.base.interval * 2;
            while g
                .sent
                .front()
                .is_some_and(|t| now.duration_since(*t) >= keep)
            {
                g.sent.pop_front();
            }
            g.sent.push_back(now);
            return;
        }
    }

    /// Adapts to the rate-limit headers of the response to a request sent at `at`:
    /// - a stricter advertised `max`/interval replaces the limit (a looser one is ignored);
    /// - `max − remaining` is what the server counted in its window; what this client sent in
    ///   the last interval is subtracted, and the rest was spent by another client of the same
    ///   app and location. While that happens the pace drops to the share left over (one
    ///   request of headroom); a full interval without it restores the limit;
    /// - `remaining = 0` with another client present holds every request for one interval
    ///   (the window has certainly turned by then).
    pub fn observe(&self, info: &RateLimitInfo, at: Instant) -> Option<Adjustment> {
        let mut g = self.lock();
        let mut change = None;
        if let (Some(max), Some(interval_ms)) =
            (info.max.and_then(NonZeroU32::new), info.interval_ms)
        {
            if interval_ms > 0 {
                let advertised = Limit {
                    max,
                    interval: Duration::from_millis(interval_ms),
                };
                if advertised.per_second() < g.base.per_second() {
                    g.base = advertised;
                    g.set_limit(advertised);
                    change = Some(Adjustment::Stricter(advertised));
                }
            }
        }
        let (Some(max), Some(remaining)) = (info.max, info.remaining) else {
            return change;
        };
        let interval = g.base.interval;
        // An answer that took longer than an interval speaks of a window that has passed (and
        // of sends this client no longer remembers): it says nothing about other clients now.
        if at.elapsed() >= interval {
            return change;
        }
        let ours = g
            .sent
            .iter()
            .filter(|t| **t <= at && at.duration_since(**t) < interval)
            .count() as u32;
        let foreign = max.saturating_sub(remaining).saturating_sub(ours);
        if foreign > 0 {
            g.foreign_seen = Some(at);
            if remaining == 0 {
                let until = at + interval;
                g.hold_until = Some(g.hold_until.map_or(until, |h| h.max(until)));
            }
            let share = g
                .base
                .max
                .get()
                .saturating_sub(foreign)
                .saturating_sub(1)
                .max(1);
            if share < g.limit.max.get() {
                let shared = Limit {
                    max: NonZeroU32::new(share).unwrap_or(NonZeroU32::MIN),
                    interval,
                };
                g.set_limit(shared);
                change = change.or(Some(Adjustment::Shared(shared)));
            }
        } else if g.limit != g.base
            && g.foreign_seen
                .is_none_or(|t| at.saturating_duration_since(t) >= interval)
        {
            let base = g.base;
            g.set_limit(base);
            change = change.or(Some(Adjustment::Restored(base)));
        }
        change
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
        assert_eq!(t.observe(&looser, Instant::now()), None);
        let stricter = RateLimitInfo {
            max: Some(50),
            interval_ms: Some(10_000),
            ..Default::default()
        };
        assert!(matches!(
            t.observe(&stricter, Instant::now()),
            Some(Adjustment::Stricter(l)) if l.max.get() == 50
        ));
        assert_eq!(t.limit().max.get(), 50);
    }

    #[tokio::test]
    async fn a_late_answer_is_not_taken_for_another_client() {
        // Answered after more than an interval: its `remaining` speaks of a window long gone.
        let t = Throttle::new(Limit {
            max: NonZeroU32::new(20).unwrap(),
            interval: Duration::from_millis(200),
        });
        t.acquire().await;
        let at = Instant::now();
        for _ in 0..5 {
            t.acquire().await;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        let late = RateLimitInfo {
            max: Some(20),
            remaining: Some(3),
            interval_ms: Some(200),
            ..Default::default()
        };
        assert_eq!(t.observe(&late, at), None);
        assert_eq!(t.limit().max.get(), 20, "still the full pace");
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
