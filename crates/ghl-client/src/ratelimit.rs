//! Client-side throttle per location, and parsing of the `X-RateLimit-*` headers the API sends.
//!
//! A request may go when the server's window has room for it, by this client's own count:
//!
//! - **The window.** `X-RateLimit-Remaining` says how much of the window is left, counting every
//!   client of the same app and location: a run started right after another (or killed and
//!   re-run), or another integration, has spent part of it. A request goes while the freshest
//!   answer's `remaining`, plus the requests that have left the window since, less this client's
//!   requests the answer did not count (sent after it, or still unanswered when it came), leaves
//!   room. One of this client's requests has left the window one interval after the server
//!   counted it: after its *answer* in the first window, where a queue before the server may
//!   hold the burst's requests as long as their answers took (so no clock or network jitter
//!   can make the server see more than `max` in a window), and after it went plus the transit
//!   once paced (an answer slow *at* the server was counted when the request arrived: taking
//!   its answer instead held back a fifth of the window at 100 / 1 s when every other answer
//!   was 0.5 s late); another client's requests are assumed spread
//!   over the window, until a 429 shows that client is still sending (then only this client's
//!   own requests count, until the other's share shrinks). So a run spends at once what the
//!   window has free — a run of fewer rows than the burst is not paced at all — reaches full
//!   pace as soon as an earlier run's requests have left the window, and leaves a live client
//!   its share. Before the first answer, requests are spaced evenly (`interval / max`).
//! - **The pace.** A governor GCRA limiter keeps the rate at the limit the server advertises, in
//!   both directions, never above the cap the user configured (`load.rate_limit`); before the
//!   first answer it is the documented 100 / 10 s (or the cap when stricter). In the first
//!   window it allows the whole burst at once; after it, requests are spaced evenly, so the
//!   window frees room one request at a time and the number in flight stays small.
//!
//! The throttle also measures answer times, from which [`Throttle::in_flight`] sizes how many
//! requests to keep in flight (Little's law, `inflight.rs`).

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

    /// The least time `n` requests take from an empty window: a full window at once, the next
    /// as the first leave it, one interval later (a sliding window).
    pub fn seconds_for(&self, n: u64) -> f64 {
        (n.saturating_sub(1) / u64::from(self.max.get())) as f64 * self.interval.as_secs_f64()
    }

    /// `max` per interval, evenly spaced; with `burst`, the whole window at once first, else a
    /// few (so that a wake-up a little late is caught up, not lost).
    fn quota(&self, burst: bool) -> Quota {
        let period = self.interval / self.max.get();
        let few = NonZeroU32::new(3).expect("not zero").min(self.max);
        Quota::with_period(period.max(Duration::from_micros(1)))
            .expect("period is not zero")
            .allow_burst(if burst { self.max } else { few })
    }

    /// The even spacing of `max` requests over the interval.
    fn step(&self) -> Duration {
        self.interval / self.max.get()
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
    /// The requests waiting to go, in the order they asked: only the first of them looks at
    /// the window and the pace (hundreds of locations × their rows in flight would otherwise
    /// wake at every step, for nothing).
    queue: tokio::sync::Mutex<()>,
}

/// How long an answer saying the day's allowance is spent is believed.
const DAILY_RECHECK: Duration = Duration::from_secs(60);

/// The day's allowance is spent: no request may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailySpent;

/// A request still unanswered after this long was given up on (its call dropped): forgotten.
const ABANDONED: Duration = Duration::from_secs(600);

/// One request this throttle let go: [`Throttle::observe`] (an answer) or
/// [`Throttle::unanswered`] (none) must follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    seq: u64,
    /// When it was let go.
    pub at: Instant,
}

/// One of the process's connections ([`super::wire`]), held by a request until its answer.
#[derive(Debug)]
pub struct Connection(#[allow(dead_code)] tokio::sync::SemaphorePermit<'static>);

/// One of this client's requests, in the window or possibly so.
#[derive(Debug, Clone, Copy)]
struct Slot {
    seq: u64,
    at: Instant,
    /// When its answer (or its failure) came.
    answered: Option<Instant>,
    /// What its answer said of the window (`X-RateLimit-Remaining`).
    remaining: Option<u32>,
    /// The latest the server may have counted it.
    counted: Option<Instant>,
    /// It went after the first window, paced.
    paced: bool,
}

impl Slot {
    /// Whether it has left the window of `interval` by `now`: one interval after the latest
    /// the server may have counted it. That is its answer for a request of the first window
    /// (the burst on a saturated machine may wait in a queue before the server: taking it as
    /// counted at `at` + the transit made 7–37 × 429 at 500 locations, bench_agency), and
    /// `at` + the transit for a paced one, answered slowly or not.
    fn left(&self, now: Instant, interval: Duration) -> bool {
        self.counted.is_some_and(|a| a + interval <= now)
    }
}

#[derive(Debug)]
struct ThrottleState {
    /// The most the user allows (`load.rate_limit`), if anything.
    cap: Option<Limit>,
    /// The limit paced at: the advertised one, or the cap when stricter.
    limit: Limit,
    limiter: Arc<DefaultDirectRateLimiter>,
    /// This client's requests that may still be in the window, in the order they went.
    sent: VecDeque<Slot>,
    next_seq: u64,
    /// Whether any answer came yet.
    answered: bool,
    /// The freshest answer's `remaining` less this client's requests it may not have counted,
    /// and when the request it answered went.
    budget: Option<(Instant, u32)>,
    /// Requests of another client in the window at the freshest answer.
    foreign: u32,
    /// A 429 showed that another client still sends: its share when that was seen. Its
    /// requests are not expected to leave the window until the share shrinks.
    foreign_live: Option<u32>,
    /// Answer times, for the requests to keep in flight.
    sizing: super::inflight::Sizing,
    /// The limit in force is the user's cap (stricter than the server's).
    capped: bool,
    /// Still in the first window: what it has free goes at once.
    bursting: bool,
    /// The freshest answer's `X-RateLimit-Daily-Remaining`.
    daily: Option<Daily>,
}

/// What the freshest answer (by request number) said of the day's allowance.
#[derive(Debug, Clone, Copy)]
struct Daily {
    /// Its request's number.
    seq: u64,
    /// When its request was sent.
    sent: Instant,
    /// `X-RateLimit-Daily-Remaining`.
    remaining: u64,
    /// When the answer came.
    at: Instant,
}

impl ThrottleState {
    fn set_limit(&mut self, limit: Limit) {
        self.limit = limit;
        self.capped = self.cap == Some(limit);
        self.limiter = Arc::new(RateLimiter::direct(limit.quota(self.bursting)));
    }

    /// Once the first window has passed, requests are spaced evenly: the window frees room as
    /// its requests leave it, one by one, and the number in flight stays what Little's law
    /// sizes instead of a window's worth at every interval.
    fn end_burst(&mut self, now: Instant) {
        let first = self.sent.front().map(|s| s.at);
        if self.bursting && first.is_some_and(|f| now.duration_since(f) >= self.limit.interval) {
            self.bursting = false;
            self.limiter = Arc::new(RateLimiter::direct(self.limit.quota(false)));
        }
    }

    /// The stricter of `advertised` and the cap.
    fn capped(&self, advertised: Limit) -> Limit {
        match self.cap {
            Some(c) if c.per_second() < advertised.per_second() => c,
            _ => advertised,
        }
    }

    /// The index of the first slot that went after `t` (`None`: the first of all). `sent` is
    /// in time order, so this is a binary search, not a scan.
    fn after(&self, t: Option<Instant>) -> usize {
        t.map_or(0, |t| self.sent.partition_point(|s| s.at <= t))
    }

    /// `None` when a request may go now, else when to look again.
    fn must_wait(&self, now: Instant) -> Option<Instant> {
        let limit = self.limit;
        let interval = limit.interval;
        if !self.answered {
            // Nothing is known of the window yet: spaced evenly until the first answer.
            return self
                .sent
                .back()
                .map(|s| s.at + limit.step())
                .filter(|t| *t > now);
        }
        if let Some(wait) = self.daily_wait(now) {
            return Some(wait);
        }
        let share = |d: Duration| d.as_secs_f64() / interval.as_secs_f64();
        let (mut room, from, theirs_next) = match self.budget {
            Some((at, remaining)) if now.saturating_duration_since(at) < interval => {
                // The answer's window is (at − interval, at]: this client's requests of it that
                // have left since are room again, as is the other client's share that left.
                let (lo, hi) = (self.after(at.checked_sub(interval)), self.after(Some(at)));
                let ours_left = (lo..hi)
                    .filter(|i| self.sent[*i].left(now, interval))
                    .count() as u32;
                let spread = self.foreign > 0 && self.foreign_live.is_none();
                let theirs_left = if spread {
                    (f64::from(self.foreign) * share(now - at)).floor() as u32
                } else {
                    0
                };
                let sent_after = (self.sent.len() - hi) as u32;
                // Headroom against what cannot be known exactly — a request still on its way
                // when the answer came, the other client's estimated spread: one request per 50
                // of the window (and one more against the spread), from a window of 10 up.
                let reserve = if limit.max.get() >= 10 {
                    limit.max.get() / 50 + u32::from(spread)
                } else {
                    0
                };
                let room =
                    (remaining + ours_left + theirs_left).saturating_sub(sent_after + reserve);
                let theirs_next = (spread && theirs_left < self.foreign).then(|| {
                    at + interval.mul_f64(f64::from(theirs_left + 1) / f64::from(self.foreign))
                });
                (room, lo, theirs_next)
            }
            // No fresh answer: this client's own requests still in the window are all it knows.
            _ => (self.own_room(now), 0, None),
        };
        // This client's own requests still in the window by its own count (`Slot::left`) are a
        // hard bound, whatever order a queue before the server took them in and whatever the
        // answers said; the user's cap counts them too.
        room = room.min(self.own_room(now));
        if room > 0 {
            return None;
        }
        // The first of this client's requests to leave, or the other client's next one.
        let ours_next = self
            .sent
            .iter()
            .skip(from)
            .filter_map(|s| s.counted.map(|a| a + interval))
            .filter(|t| *t > now)
            .min();
        Some(
            [ours_next, theirs_next]
                .into_iter()
                .flatten()
                .fold(now + interval, Instant::min),
        )
    }

    /// The budget from the freshest answer (by when its request went) that said what is left
    /// of the window. This client's requests that went shortly before it (within the transit
    /// time) and were still unanswered when it went may have reached the server after it, so
    /// they may not be counted in its `remaining` (one sent longer ago has arrived: a slow answer
    /// is slow at the server, which counted the request when it came). Those since answered are
    /// counted by the smallest `remaining` among their answers and its own — the last of them the
    /// server took saw all the others — and those still unanswered are subtracted.
    fn rebudget(&mut self, now: Instant) {
        let interval = self.limit.interval;
        let Some(x) = (0..self.sent.len())
            .rev()
            .find(|i| self.sent[*i].remaining.is_some())
        else {
            return;
        };
        let (at, said) = (self.sent[x].at, self.sent[x].remaining.unwrap_or(0));
        if now.saturating_duration_since(at) >= interval {
            return;
        }
        let from = self.after(at.checked_sub(self.sizing.transit()));
        let mut least = said;
        let mut flying = 0u32;
        for s in self.sent.range(from..x) {
            if s.answered.is_some_and(|a| a <= at) {
                continue;
            }
            match (s.answered, s.remaining) {
                (Some(_), Some(r)) => least = least.min(r),
                _ => flying += 1,
            }
        }
        self.budget = Some((at, least.saturating_sub(flying)));
    }

    /// This client's requests still unanswered long after the others' answers came (slow at
    /// the server: they do not hold back the rest), and when the next one becomes one (`None`:
    /// every unanswered one is already) — one pass, one age.
    fn stragglers(&self) -> (usize, Option<Instant>) {
        let (now, age) = (Instant::now(), self.straggler_age());
        let (mut count, mut next) = (0, None::<Instant>);
        for s in self.sent.iter().filter(|s| s.answered.is_none()) {
            let due = s.at + age;
            if due < now {
                count += 1;
            } else {
                next = Some(next.map_or(due, |n| n.min(due)));
            }
        }
        (count, next)
    }

    /// How long a request is unanswered before it is a straggler.
    fn straggler_age(&self) -> Duration {
        let limit = self.limit;
        self.sizing
            .straggler_age(limit.per_second(), limit.max.get())
    }

    /// Room for this client's own requests in the window of the limit in force: `max` less
    /// those that may still be in it (unanswered, or answered less than an interval ago).
    fn own_room(&self, now: Instant) -> u32 {
        let interval = self.limit.interval;
        let lo = self.after(now.checked_sub(interval * 2));
        let inside = self
            .sent
            .iter()
            .skip(lo)
            .filter(|s| !s.left(now, interval))
            .count() as u32;
        self.limit.max.get().saturating_sub(inside)
    }

    /// When the day's allowance is taken up by requests still unanswered: look again soon (their
    /// answers say whether it is spent, and a spent allowance stops the run). `None` while it
    /// has room, or when nothing is in flight (the next answer says it is spent).
    ///
    /// Taken are the requests sent after that answer's, and those sent before it that may
    /// have reached the server after it (answered after it was sent): requests on several
    /// connections arrive in any order, and the answer's count holds only those that came
    /// first.
    fn daily_wait(&self, now: Instant) -> Option<Instant> {
        let d = self.daily?;
        let unseen =
            |s: &&Slot| s.seq > d.seq || (s.seq < d.seq && s.answered.is_none_or(|a| a > d.sent));
        let taken = self.sent.iter().filter(unseen).count() as u64;
        let flying = self.sent.iter().any(|s| s.answered.is_none());
        (taken >= d.remaining && flying).then(|| now + self.limit.step())
    }

    /// Whether an answer said the day's allowance is spent (for [`DAILY_RECHECK`]: a long-lived
    /// client then tries again, in case the day turned).
    fn daily_spent(&self, now: Instant) -> bool {
        matches!(self.daily, Some(d) if d.remaining == 0 && now.duration_since(d.at) < DAILY_RECHECK)
    }

    /// Forgets requests that can no longer matter: answered ones that left the window more than
    /// an interval ago, and unanswered ones after [`ABANDONED`] (a call given up on).
    fn forget(&mut self, now: Instant) {
        let keep = self.limit.interval * 2;
        while self.sent.front().is_some_and(|s| {
            let age = now.duration_since(s.at);
            (s.answered.is_some() && age >= keep) || age >= ABANDONED.max(keep)
        }) {
            self.sent.pop_front();
        }
    }

    /// Records a request let go `now`.
    fn send(&mut self, now: Instant) -> Sent {
        self.forget(now);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.sent.push_back(Slot {
            seq,
            at: now,
            answered: None,
            remaining: None,
            counted: None,
            paced: !self.bursting,
        });
        Sent { seq, at: now }
    }

    /// The slot of `sent`, if still remembered.
    fn slot(&mut self, sent: Sent) -> Option<&mut Slot> {
        let i = self.sent.partition_point(|s| s.seq < sent.seq);
        self.sent.get_mut(i).filter(|s| s.seq == sent.seq)
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
        let limiter = Arc::new(RateLimiter::direct(limit.quota(true)));
        Throttle {
            state: Mutex::new(ThrottleState {
                cap,
                limit,
                limiter,
                sent: VecDeque::new(),
                next_seq: 0,
                answered: false,
                budget: None,
                foreign: 0,
                foreign_live: None,
                sizing: super::inflight::Sizing::default(),
                capped: cap == Some(limit),
                bursting: true,
                daily: None,
            }),
            queue: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ThrottleState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The limit in force.
    pub fn limit(&self) -> Limit {
        self.lock().limit
    }

    /// How many requests to keep in flight for this location now: enough for its rate limit at
    /// the answer times measured so far (Little's law with headroom), within its burst, never
    /// above `cap` (`load.concurrency`) nor the location's share of the process's connections
    /// ([`super::wire::share`]), at least one.
    pub fn in_flight(&self, cap: Option<usize>) -> usize {
        self.width(cap).0
    }

    /// [`Throttle::in_flight`], and when it grows with nothing answered: the moment one more
    /// request in flight becomes a straggler (`None`: no such moment ahead).
    pub fn width(&self, cap: Option<usize>) -> (usize, Option<Instant>) {
        let g = self.lock();
        let (stragglers, next) = g.stragglers();
        let n = g
            .sizing
            .target(g.limit.per_second(), g.limit.max.get(), stragglers)
            .min(super::wire::share());
        (cap.map_or(n, |c| n.min(c)).max(1), next)
    }

    /// What the answer to the latest request that said so gave as the day's allowance left
    /// (`X-RateLimit-Daily-Remaining`): answers that overtake each other do not turn it back.
    pub fn daily_remaining(&self) -> Option<u64> {
        self.lock().daily.map(|d| d.remaining)
    }

    /// The mean answer time measured so far.
    pub fn answer_time(&self) -> Duration {
        self.lock().sizing.mean()
    }

    /// Waits until the window has room for one more request, the pace allows it and the
    /// process has a connection free (kept until the answer); the request must then be
    /// reported to [`Throttle::observe`] or [`Throttle::unanswered`]. None goes once an answer
    /// said the day's allowance is spent.
    ///
    /// Requests go in the order they asked (a fair queue: only its head waits on the rules).
    /// Both rules are decided under one lock, the window first: the pacer's cell is taken only
    /// by the request that goes, so requests waiting side by side never spend cells for
    /// nothing. Waits sleep on the runtime's timer (a millisecond late at most, which the
    /// pacer's small burst absorbs).
    pub async fn acquire(&self) -> Result<(Sent, Connection), DailySpent> {
        use governor::clock::Clock as _;
        let _first = self.queue.lock().await;
        loop {
            // A connection of the process's budget first (held only while the rules are looked
            // at, unless the request goes): a request that must wait for its window holds none.
            let wire = super::wire::connections()
                .acquire()
                .await
                .expect("the connections are never closed");
            let wait = {
                let mut g = self.lock();
                let now = Instant::now();
                g.end_burst(now);
                if g.daily_spent(now) {
                    return Err(DailySpent);
                }
                match g.must_wait(now) {
                    // Looked at again after one even step at most: a fresher answer may have
                    // freed room meanwhile.
                    Some(until) => until.min(now + g.limit.step()),
                    None => match g.limiter.check() {
                        Ok(()) => return Ok((g.send(now), Connection(wire))),
                        Err(not_until) => now + not_until.wait_time_from(g.limiter.clock().now()),
                    },
                }
            };
            drop(wire);
            tokio::time::sleep_until(wait.into()).await;
        }
    }

    /// A request that got no answer (refused connection, timeout, dropped): it leaves the
    /// window one interval from now.
    pub fn unanswered(&self, sent: Sent) {
        let mut g = self.lock();
        let now = Instant::now();
        if let Some(s) = g.slot(sent) {
            s.answered = Some(now);
            s.counted = Some(now);
        }
        g.rebudget(now);
    }

    /// Adapts to the rate-limit headers of the answer to `sent` (`refused`: it was a 429):
    /// - an advertised `max`/interval becomes the pace, looser or stricter, within the cap;
    /// - `remaining`, less this client's requests it may not have counted, becomes the budget
    ///   when it is the freshest answer;
    /// - `max − remaining − this client's requests of the window` is what another client of the
    ///   same app and location has in the window;
    /// - the answer time is measured for [`Throttle::in_flight`].
    pub fn observe(&self, info: &RateLimitInfo, sent: Sent, refused: bool) -> Option<Adjustment> {
        let mut g = self.lock();
        let now = Instant::now();
        let at = sent.at;
        g.answered = true;
        g.sizing.answered(now.saturating_duration_since(at));
        let transit = g.sizing.transit();
        if let Some(s) = g.slot(sent) {
            s.answered = Some(now);
            s.counted = Some(if s.paced { now.min(at + transit) } else { now });
            s.remaining = info.remaining.filter(|_| info.max.is_some());
        }
        if let Some(d) = info.daily_remaining {
            // The server's count only falls within a day, whatever order the answers come in:
            // a lower one is fresher; a higher one counts only from a request sent after the
            // last was known (the day turned), not from one that crossed it on the way.
            if g.daily
                .is_none_or(|old| d < old.remaining || sent.at > old.at)
            {
                g.daily = Some(Daily {
                    seq: sent.seq,
                    sent: sent.at,
                    remaining: d,
                    at: now,
                });
            }
        }
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
        let freshest = g.budget.is_none_or(|(b, _)| b <= at);
        g.rebudget(now);
        // An answer that took longer than an interval speaks of a window that has passed (and
        // of sends this client no longer remembers).
        if now.saturating_duration_since(at) >= interval || !freshest {
            return change;
        }
        // What another client holds of the window: the answer's count less this client's
        // requests that may be in it — those sent after it too, which may have reached the
        // server first (taking them for another client's would free room that is not there).
        let lo = g.after(at.checked_sub(interval));
        let window = &g.sent;
        let ours = (lo..window.len())
            .filter(|i| !window[*i].left(at, interval))
            .count() as u32;
        let foreign = max.saturating_sub(remaining).saturating_sub(ours);
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
#[path = "ratelimit_tests.rs"]
mod tests;
