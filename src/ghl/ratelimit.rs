//! Client-side throttle per location, and parsing of the `X-RateLimit-*` headers the API sends.
//!
//! Two rules decide when a request may go:
//!
//! - **Pace.** A governor GCRA limiter spaces requests evenly at `(max − 1) / interval` (one
//!   request of headroom from `max` = 10 up) with a burst of one, so that no window of
//!   `interval` ever holds more than `max` of this client's requests. The limit paced at is the
//!   one the server advertises, in both directions, never above the cap the user configured
//!   (`load.rate_limit`); before the first answer it is the documented 100 / 10 s (or the cap
//!   when stricter).
//! - **Budget.** `X-RateLimit-Remaining` says how much of the window is left, counting every
//!   client of the same app and location: a run started right after another (or killed and
//!   re-run), or another integration, has spent part of it. A request goes only while the
//!   latest answer's `remaining`, less this client's requests sent since, leaves room. When it
//!   does not, the throttle waits for the first moment a slot frees: one of this client's own
//!   requests leaving the window, or one of the other client's — assumed spread over the
//!   window, until a 429 shows that client is still sending (then only this client's own
//!   requests count, until the other's share shrinks). A run therefore starts at the pace the
//!   window allows, reaches full pace as soon as the earlier run's requests have left it, and
//!   leaves a live client its share.

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

/// The documented burst limit (GHL-API.md §7), paced at until the server advertises its own.
pub const DOCUMENTED: Limit = Limit {
    max: NonZeroU32::new(100).expect("not zero"),
    interval: Duration::from_secs(10),
};

/// The per-location throttle shared by every request of a run.
#[derive(Debug)]
pub struct Throttle {
    state: Mutex<ThrottleState>,
}

#[derive(Debug)]
struct ThrottleState {
    /// The most the user allows (`load.rate_limit`), if anything.
    cap: Option<Limit>,
    /// The limit paced at: the advertised one, or the cap when stricter.
    limit: Limit,
    limiter: Arc<DefaultDirectRateLimiter>,
    /// When this client's recent requests were sent (within the last two intervals).
    sent: VecDeque<Instant>,
    /// The freshest answer's `remaining`, and when the request it answered was sent.
    budget: Option<(Instant, u32)>,
    /// Requests of another client in the window at the freshest answer.
    foreign: u32,
    /// A 429 showed that another client still sends: its share when that was seen. Its
    /// requests are not expected to leave the window until the share shrinks.
    foreign_live: Option<u32>,
}

impl ThrottleState {
    fn set_limit(&mut self, limit: Limit) {
        self.limit = limit;
        self.limiter = Arc::new(RateLimiter::direct(limit.quota()));
    }

    /// The stricter of `advertised` and the cap.
    fn capped(&self, advertised: Limit) -> Limit {
        match self.cap {
            Some(c) if c.per_second() < advertised.per_second() => c,
            _ => advertised,
        }
    }

    /// This client's requests sent in `(from, to]`.
    fn ours_between(&self, from: Instant, to: Instant) -> u32 {
        self.upto(Some(to)).saturating_sub(self.upto(Some(from))) as u32
    }

    /// This client's sends in the window `(at − interval, at]`.
    fn ours_between_window(&self, at: Instant, interval: Duration) -> u32 {
        self.upto(Some(at))
            .saturating_sub(self.upto(at.checked_sub(interval))) as u32
    }

    /// How many of this client's sends were at or before `t` (`None`: before them all). `sent`
    /// is in time order, so this is a binary search, not a scan of the window.
    fn upto(&self, t: Option<Instant>) -> usize {
        match t {
            Some(t) => self.sent.partition_point(|x| *x <= t),
            None => 0,
        }
    }

    /// `None` when a request may go now, else when to look again.
    ///
    /// The room at `now` is the freshest answer's `remaining`, plus the requests of its window
    /// that have left it since (this client's, known; the other client's, assumed spread over
    /// the window unless it still sends), less this client's requests sent after it.
    fn must_wait(&self, now: Instant) -> Option<Instant> {
        let (at, remaining) = self.budget?;
        let interval = self.limit.interval;
        if now.saturating_duration_since(at) >= interval {
            // The window of that answer has passed entirely.
            return None;
        }
        // That answer's window is (at − interval, at]; a send at or before now − interval has
        // left the window sliding with now.
        let window_start = at.checked_sub(interval);
        let left_by = now.checked_sub(interval);
        let ours_left = self
            .upto(left_by.map(|l| l.min(at)))
            .saturating_sub(self.upto(window_start)) as u32;
        let share = |d: Duration| d.as_secs_f64() / interval.as_secs_f64();
        let spread = self.foreign > 0 && self.foreign_live.is_none();
        let theirs_left = if spread {
            (f64::from(self.foreign) * share(now - at)).floor() as u32
        } else {
            0
        };
        let reserve = u32::from(self.limit.max.get() >= 10);
        let room = (remaining + ours_left + theirs_left).saturating_sub(reserve);
        if self.ours_between(at, now) < room {
            return None;
        }
        // The next request of that window to leave it.
        let first_still_in = self.upto(window_start.max(left_by));
        let ours_next = self
            .sent
            .get(first_still_in)
            .filter(|t| **t <= at)
            .map(|t| *t + interval);
        let theirs_next = (spread && theirs_left < self.foreign)
            .then(|| at + interval.mul_f64(f64::from(theirs_left + 1) / f64::from(self.foreign)));
        Some(
            [ours_next, theirs_next]
                .into_iter()
                .flatten()
                .fold(at + interval, Instant::min),
        )
    }
}

/// What [`Throttle::observe`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adjustment {
    /// The server advertises another limit: paced at this one now.
    Advertised(Limit),
    /// Another client spends part of the budget (this many requests of the window).
    Shared(u32),
    /// The other client's requests have left the window.
    Restored,
}

impl Adjustment {
    /// Says what changed, as a log line.
    pub fn log(self) {
        match self {
            Adjustment::Advertised(l) => tracing::info!(
                max = l.max.get(),
                interval_ms = l.interval.as_millis() as u64,
                "Pacing at the rate limit the server advertises."
            ),
            Adjustment::Shared(n) => tracing::info!(
                requests = n,
                "Another client is using this location's rate limit; sending only into the room it leaves."
            ),
            Adjustment::Restored => {
                tracing::info!("The other client's requests have left the window.")
            }
        }
    }
}

impl Throttle {
    /// A throttle that never goes above `cap` (when set), paced at the documented limit until
    /// the server advertises one.
    pub fn new(cap: Option<Limit>) -> Self {
        let limit = match cap {
            Some(c) if c.per_second() < DOCUMENTED.per_second() => c,
            _ => DOCUMENTED,
        };
        let limiter = Arc::new(RateLimiter::direct(limit.quota()));
        Throttle {
            state: Mutex::new(ThrottleState {
                cap,
                limit,
                limiter,
                sent: VecDeque::new(),
                budget: None,
                foreign: 0,
                foreign_live: None,
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

    /// Waits for the limiter's next cell. Long waits sleep on the runtime's own timer:
    /// governor's `until_ready` sleeps on a global timer thread, a cross-thread wake-up per
    /// request, which hundreds of locations at once turn into a fifth of the process's CPU.
    /// Short waits (fast paces) keep governor's sub-millisecond timer: the runtime's timer
    /// rounds up to the next millisecond, which at 100 requests per second would cost a tenth
    /// of the rate (the pace does not catch up on a late request).
    async fn paced(limiter: &DefaultDirectRateLimiter) {
        use governor::clock::Clock;
        const ON_RUNTIME_TIMER: Duration = Duration::from_millis(40);
        while let Err(not_until) = limiter.check() {
            let wait = not_until.wait_time_from(limiter.clock().now());
            if wait < ON_RUNTIME_TIMER {
                limiter.until_ready().await;
                return;
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Waits until the pace and the window's budget allow one more request.
    pub async fn acquire(&self) {
        loop {
            let limiter = Arc::clone(&self.lock().limiter);
            Self::paced(&limiter).await;
            let wait = {
                let mut g = self.lock();
                if !Arc::ptr_eq(&g.limiter, &limiter) {
                    // A new limit came while this request waited: pace by that one.
                    continue;
                }
                let now = Instant::now();
                match g.must_wait(now) {
                    None => {
                        let keep = g.limit.interval * 2;
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
                    // Looked at again after one pace step at most: a fresher answer may
                    // have freed room meanwhile.
                    Some(until) => until.min(now + g.limit.interval / g.limit.paced_max()),
                }
            };
            tokio::time::sleep_until(wait.into()).await;
        }
    }

    /// Adapts to the rate-limit headers of the answer to a request sent at `at` (`refused`:
    /// it was a 429):
    /// - an advertised `max`/interval becomes the pace, looser or stricter, within the cap;
    /// - `remaining` becomes the budget when it is the freshest answer;
    /// - `max − remaining − this client's requests of the window` is what another client of the
    ///   same app and location has in the window.
    pub fn observe(&self, info: &RateLimitInfo, at: Instant, refused: bool) -> Option<Adjustment> {
        let mut g = self.lock();
        let mut change = None;
        if let (Some(max), Some(interval_ms)) =
            (info.max.and_then(NonZeroU32::new), info.interval_ms)
        {
            if interval_ms > 0 {
                let target = g.capped(Limit {
                    max,
                    interval: Duration::from_millis(interval_ms),
                });
                if target != g.limit {
                    g.set_limit(target);
                    change = Some(Adjustment::Advertised(target));
                }
            }
        }
        let (Some(max), Some(remaining)) = (info.max, info.remaining) else {
            return change;
        };
        let interval = g.limit.interval;
        // An answer that took longer than an interval speaks of a window that has passed (and
        // of sends this client no longer remembers).
        if at.elapsed() >= interval || g.budget.is_some_and(|(b, _)| b > at) {
            return change;
        }
        let ours = g.ours_between_window(at, interval);
        let foreign = max.saturating_sub(remaining).saturating_sub(ours);
        g.budget = Some((at, remaining));
        if refused && foreign > 0 {
            g.foreign_live = Some(foreign);
        } else if g
            .foreign_live
            .is_some_and(|f| foreign + 2 <= f || foreign == 0)
        {
            g.foreign_live = None;
        }
        let before = std::mem::replace(&mut g.foreign, foreign);
        match (before, foreign) {
            (0, f) if f > 0 => change.or(Some(Adjustment::Shared(f))),
            (b, 0) if b > 0 => change.or(Some(Adjustment::Restored)),
            _ => change,
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

    fn limit(max: u32, ms: u64) -> Limit {
        Limit {
            max: NonZeroU32::new(max).unwrap(),
            interval: Duration::from_millis(ms),
        }
    }

    fn advertised(max: u32, ms: u64, remaining: Option<u32>) -> RateLimitInfo {
        RateLimitInfo {
            max: Some(max),
            interval_ms: Some(ms),
            remaining,
            ..Default::default()
        }
    }

    /// A throttle paced at `max` per `ms`, as after the server's first answer said so.
    fn throttle(max: u32, ms: u64) -> Throttle {
        let t = Throttle::new(None);
        t.observe(&advertised(max, ms, None), Instant::now(), false);
        assert_eq!(t.limit(), limit(max, ms));
        t
    }

    #[test]
    fn follows_the_advertised_limit_both_ways_within_the_cap() {
        let t = Throttle::new(None);
        assert_eq!(t.limit(), DOCUMENTED, "before any answer");
        let faster = advertised(100, 1000, None);
        assert_eq!(
            t.observe(&faster, Instant::now(), false),
            Some(Adjustment::Advertised(limit(100, 1000)))
        );
        let slower = advertised(50, 10_000, None);
        t.observe(&slower, Instant::now(), false);
        assert_eq!(t.limit(), limit(50, 10_000), "and back down");
        assert_eq!(t.observe(&slower, Instant::now(), false), None, "no change");

        let capped = Throttle::new(Some(limit(200, 10_000)));
        assert_eq!(
            capped.limit(),
            DOCUMENTED,
            "the stricter of cap and documented"
        );
        capped.observe(&faster, Instant::now(), false);
        assert_eq!(capped.limit(), limit(200, 10_000), "never above the cap");
        capped.observe(&slower, Instant::now(), false);
        assert_eq!(capped.limit(), limit(50, 10_000));
    }

    #[tokio::test]
    async fn a_window_left_full_by_an_earlier_run_is_used_as_it_empties() {
        // 20 per 400 ms. This run's first request finds the window holding 19 requests of a run
        // that has just stopped: remaining 0. They leave the window spread over the interval,
        // so the next request waits about one step (400 ms / 19 · 1), not the whole interval.
        let t = throttle(20, 400);
        t.acquire().await;
        let at = Instant::now();
        let change = t.observe(&advertised(20, 400, Some(0)), at, false);
        assert_eq!(change, Some(Adjustment::Shared(19)));
        let start = Instant::now();
        t.acquire().await;
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(15), "{waited:?}");
        assert!(waited < Duration::from_millis(150), "{waited:?}");
    }

    #[tokio::test]
    async fn a_client_that_still_sends_is_left_its_share() {
        // Same window, but a 429 shows the other client is still sending: the next request
        // waits until this client's own request leaves the window.
        let t = throttle(20, 400);
        t.acquire().await;
        let at = Instant::now();
        t.observe(&advertised(20, 400, Some(0)), at, true);
        let start = Instant::now();
        t.acquire().await;
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(300), "{waited:?}");
        // Once its requests leave the window, the budget is this client's again.
        let later = Instant::now();
        assert_eq!(
            t.observe(&advertised(20, 400, Some(19)), later, false),
            Some(Adjustment::Restored)
        );
        let start = Instant::now();
        for _ in 0..5 {
            t.acquire().await;
        }
        assert!(
            start.elapsed() < Duration::from_millis(200),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn a_late_answer_is_not_taken_for_another_client() {
        // Answered after more than an interval: its `remaining` speaks of a window long gone.
        let t = throttle(20, 200);
        t.acquire().await;
        let at = Instant::now();
        for _ in 0..5 {
            t.acquire().await;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        let late = advertised(20, 200, Some(3));
        assert_eq!(t.observe(&late, at, false), None);
        assert_eq!(t.limit().max.get(), 20, "still the full pace");
    }

    #[tokio::test]
    async fn spacing_never_exceeds_max_in_a_window() {
        // 20 per 200 ms, paced at 19 → one per ~10.5 ms. 30 acquisitions take at least 300 ms.
        let t = throttle(20, 200);
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
