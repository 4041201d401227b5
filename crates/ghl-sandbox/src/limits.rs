//! The sandbox's rate limits, as GHL documents them (GHL-API.md §7): a burst allowance of `max`
//! requests per sliding `interval` and a daily allowance, each **per app and per location** —
//! every installed location has its own budget, and one location's traffic never costs another's.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Whose budget a request spends: the app (the static sandbox token is one app, OAuth tokens
/// another) and the location the request is about (`""` when it names none).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct WindowKey {
    /// The app.
    pub app: String,
    /// The location id.
    pub location: String,
}

/// One budget: the accepted requests of the last interval and the day's count.
#[derive(Debug, Default)]
struct Window {
    recent: VecDeque<Instant>,
    daily_used: u64,
}

/// Every budget the sandbox keeps, with the limits they share.
#[derive(Debug)]
pub struct Windows {
    /// Requests per interval.
    pub max: u32,
    /// Interval (sliding).
    pub interval: Duration,
    /// Daily allowance.
    pub daily_limit: u64,
    /// Requests another client of the same app spends steadily in every location's window
    /// (they count against `max` and show in `X-RateLimit-Remaining`, not in the statistics).
    pub other_app: u32,
    windows: HashMap<WindowKey, Window>,
    /// Most requests accepted within any interval by one budget.
    pub max_in_any_window: u64,
}

/// What the limiter decided for one request, with the header values to send.
#[derive(Debug, Clone, Copy)]
pub struct LimitDecision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// `X-RateLimit-Remaining`.
    pub remaining: u32,
    /// `X-RateLimit-Daily-Remaining`.
    pub daily_remaining: u64,
}

impl Windows {
    /// Budgets of `max` per `interval` and `daily_limit` a day.
    pub fn new(max: u32, interval: Duration, daily_limit: u64) -> Self {
        Windows {
            max,
            interval,
            daily_limit,
            other_app: 0,
            windows: HashMap::new(),
            max_in_any_window: 0,
        }
    }

    fn window(&mut self, key: &WindowKey, now: Instant) -> &mut Window {
        let interval = self.interval;
        let w = self.windows.entry(key.clone()).or_default();
        while w
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= interval)
        {
            w.recent.pop_front();
        }
        w
    }

    /// Spends one request of `key`'s budget if both allowances have room.
    pub fn admit(&mut self, key: &WindowKey, now: Instant) -> LimitDecision {
        let (max, daily_limit) = (self.max, self.daily_limit);
        let taken = self.other_app.min(max);
        let w = self.window(key, now);
        let allowed = (w.recent.len() as u32) + taken < max && w.daily_used < daily_limit;
        if allowed {
            w.recent.push_back(now);
            w.daily_used += 1;
        }
        let in_window = w.recent.len() as u64;
        let d = LimitDecision {
            allowed,
            remaining: max.saturating_sub(in_window as u32 + taken),
            daily_remaining: daily_limit.saturating_sub(w.daily_used),
        };
        self.max_in_any_window = self.max_in_any_window.max(in_window);
        d
    }

    /// `key`'s budget as it stands, without spending any (for answers that do not count, such
    /// as a refused token or an unknown route).
    pub fn peek(&mut self, key: &WindowKey, now: Instant) -> LimitDecision {
        let (max, daily_limit) = (self.max, self.daily_limit);
        let taken = self.other_app.min(max);
        let w = self.window(key, now);
        LimitDecision {
            allowed: true,
            remaining: max.saturating_sub(w.recent.len() as u32 + taken),
            daily_remaining: daily_limit.saturating_sub(w.daily_used),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(location: &str) -> WindowKey {
        WindowKey {
            app: "app".into(),
            location: location.into(),
        }
    }

    #[test]
    fn the_window_slides() {
        let mut w = Windows::new(3, Duration::from_millis(100), 1000);
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let a = key("A");
        assert!(w.admit(&a, at(0)).allowed);
        assert!(w.admit(&a, at(40)).allowed);
        let third = w.admit(&a, at(80));
        assert!(third.allowed);
        assert_eq!(third.remaining, 0);
        assert!(!w.admit(&a, at(90)).allowed, "3 in the last 100 ms");
        // At 100 ms the request of 0 ms has left the window, not those of 40 and 80 ms: a fixed
        // window would allow 3 here.
        assert!(w.admit(&a, at(100)).allowed);
        assert!(!w.admit(&a, at(110)).allowed);
        assert!(w.admit(&a, at(140)).allowed);
        assert_eq!(w.max_in_any_window, 3);
    }

    #[test]
    fn locations_and_apps_have_their_own_budgets() {
        let mut w = Windows::new(2, Duration::from_secs(10), 3);
        let now = Instant::now();
        for _ in 0..2 {
            assert!(w.admit(&key("A"), now).allowed);
        }
        assert!(!w.admit(&key("A"), now).allowed);
        assert!(w.admit(&key("B"), now).allowed, "B has its own window");
        let other_app = WindowKey {
            app: "other".into(),
            location: "A".into(),
        };
        assert!(w.admit(&other_app, now).allowed, "another app has its own");
        assert_eq!(w.peek(&key("A"), now).remaining, 0);
        assert_eq!(w.peek(&key("B"), now).remaining, 1);
        // The daily allowance is per location too.
        let later = now + Duration::from_secs(11);
        assert!(w.admit(&key("A"), later).allowed);
        let d = w.admit(&key("A"), later + Duration::from_secs(11));
        assert!(!d.allowed, "3 a day");
        assert_eq!(d.daily_remaining, 0);
        assert_eq!(w.peek(&key("B"), later).daily_remaining, 2);
    }

    #[test]
    fn another_client_spends_part_of_every_window() {
        let mut w = Windows::new(10, Duration::from_secs(10), 100);
        w.other_app = 4;
        let now = Instant::now();
        let got: Vec<bool> = (0..8).map(|_| w.admit(&key("A"), now).allowed).collect();
        assert_eq!(got, [true, true, true, true, true, true, false, false]);
    }
}
