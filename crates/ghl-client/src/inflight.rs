//! How many requests to keep in flight for one location, from Little's law: to send `λ`
//! requests a second when an answer takes `W` seconds on average, `λ·W` requests must be in
//! flight on average. The target is that product with headroom — twice it, plus two, because
//! slow answers come in clusters and a row's requests wait for each other — so that the rate
//! limit, not the number in flight, is what holds the pace back. `λ` is the limit the server
//! advertises (or the cap), `W` a moving mean of the answer times measured during the run: the
//! target follows the API's latency both ways as it changes. It never exceeds the server's burst
//! (more in flight than the window allows could only queue) nor [`MOST`].

use std::time::Duration;

/// The most requests in flight for one location, whatever the latency.
pub const MOST: usize = 256;

/// Answer time assumed before the first answer (a round trip to a distant API).
const FIRST_GUESS: Duration = Duration::from_millis(100);

/// Answers over which the mean is taken: the first ones count equally, then each new one
/// weighs 1/`SPAN` (an exponential moving mean that forgets in a few seconds at full pace).
const SPAN: f64 = 64.0;

/// Answers over which the fastest is taken: when every recent answer is slow (a queue formed
/// before the server, or on this machine), the fastest is slow too within this many answers.
const RECENT: usize = 16;

/// The measured answer time of one location's requests.
#[derive(Debug, Clone, Copy)]
pub struct Sizing {
    /// Mean answer time, seconds.
    mean: f64,
    /// Answers measured (up to `SPAN`).
    seen: f64,
    /// The last [`RECENT`] answer times, seconds (a ring; `None` before that many came).
    recent: [Option<f64>; RECENT],
    /// Where the next answer time goes in `recent`.
    next: usize,
}

impl Default for Sizing {
    fn default() -> Self {
        Sizing {
            mean: FIRST_GUESS.as_secs_f64(),
            seen: 0.0,
            recent: [None; RECENT],
            next: 0,
        }
    }
}

impl Sizing {
    /// Counts one answer that took `took`.
    pub fn answered(&mut self, took: Duration) {
        let took = took.as_secs_f64();
        self.recent[self.next] = Some(took);
        self.next = (self.next + 1) % RECENT;
        self.seen = (self.seen + 1.0).min(SPAN);
        self.mean += (took - self.mean) / self.seen;
    }

    /// A fast recent answer time: the fourth fastest of the last [`RECENT`] answers (the round
    /// trip with no wait at the server or before it; one lucky answer in a queue does not
    /// count).
    fn fastest(&self) -> f64 {
        let mut recent = [0.0; RECENT];
        let mut n = 0;
        for took in self.recent.iter().flatten() {
            recent[n] = *took;
            n += 1;
        }
        if n == 0 {
            return FIRST_GUESS.as_secs_f64();
        }
        let recent = &mut recent[..n];
        recent.sort_unstable_by(f64::total_cmp);
        recent[(n - 1).min(3)]
    }

    /// How long a request may plausibly still be on its way to the server: four fast recent
    /// round trips (a new connection's TCP and TLS handshakes, then the request), plus 5 ms.
    /// When a queue forms before the server or on this machine every answer waits in it, the
    /// fast ones too, so the transit grows with it; answers slow *at* the server (which counted
    /// the request when it came) leave it short, so their requests are not taken as uncounted.
    pub fn transit(&self) -> Duration {
        Duration::from_secs_f64(4.0 * self.fastest()) + Duration::from_millis(5)
    }

    /// The mean answer time measured so far.
    pub fn mean(&self) -> Duration {
        Duration::from_secs_f64(self.mean)
    }

    /// Requests to keep in flight to send `per_second`, at most `burst`, with `stragglers`
    /// requests in flight unanswered past [`Sizing::straggler_age`]: each of those is one more. (The mean
    /// counts an answer once it came: a run whose every tenth answer takes 1.5 s measures 2 ms
    /// before the first of them comes, and four in flight would all be held by slow ones,
    /// sending nothing for 1.4 s.)
    pub fn target(&self, per_second: f64, burst: u32, stragglers: usize) -> usize {
        let little = (2.0 * per_second * self.mean).ceil() as usize + 2;
        (little + stragglers).min((burst as usize).max(2)).min(MOST)
    }

    /// How long a request is unanswered before it is a straggler at `per_second`: four mean
    /// answer times and the transit, and no sooner than the target (without stragglers) takes
    /// to turn over at that rate — one in flight for less holds back nothing, however the
    /// answer times jitter (a busy machine answering in 30 ms instead of 2 would otherwise
    /// widen a location at 10 / s for nothing).
    pub fn straggler_age(&self, per_second: f64, burst: u32) -> Duration {
        let turnover = self.target(per_second, burst, 0) as f64 / per_second.max(1e-3);
        (Duration::from_secs_f64(4.0 * self.mean) + self.transit())
            .max(Duration::from_secs_f64(turnover))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(ms: &[u64]) -> Sizing {
        let mut s = Sizing::default();
        for m in ms {
            s.answered(Duration::from_millis(*m));
        }
        s
    }

    #[test]
    fn in_flight_follows_the_rate_and_the_answer_time() {
        // 100 / 1 s with every tenth answer 1.5 s late: mean ≈ 0.16 s → about 16 on average,
        // 34 with the headroom (the fixed 4 of old reached a quarter of the ceiling).
        let slow: Vec<u64> = (0..200)
            .map(|i| if i % 10 == 0 { 1500 } else { 10 })
            .collect();
        let t = measured(&slow).target(100.0, 100, 0);
        assert!((25..=45).contains(&t), "{t}");
        // Fast answers at the documented 10 / s: a handful.
        assert_eq!(measured(&[10; 100]).target(10.0, 100, 0), 3);
        // Never beyond the server's burst, nor below two.
        assert_eq!(measured(&[5000; 100]).target(100.0, 100, 0), 100);
        assert_eq!(measured(&[1; 10]).target(0.1, 1, 0), 2);
    }

    #[test]
    fn transit_covers_a_new_connection_not_the_answers_slow_at_the_server() {
        // Every other answer 0.5 s late at the server, the rest 20 ms: four fast round trips
        // (a new connection's handshakes, then the request), not the slow answers — a request
        // sent 0.1 s before another has reached the server first.
        let slow: Vec<u64> = (0..200)
            .map(|i| if i % 2 == 0 { 500 } else { 20 })
            .collect();
        let t = measured(&slow).transit();
        assert_eq!(t, Duration::from_millis(85), "{t:?}");
        // One lucky fast answer among slow ones does not make the transit short.
        let mut lucky = vec![800; 15];
        lucky.push(2);
        let t = measured(&lucky).transit();
        assert!(t >= Duration::from_millis(3200), "{t:?}");
    }

    #[test]
    fn transit_covers_a_queue_that_every_answer_waits_in() {
        // Fast answers, then a queue forms (this machine or a proxy saturated): within 16
        // answers a request is assumed on its way for four of the queued round trips.
        let mut s = measured(&[2; 200]);
        assert!(
            s.transit() < Duration::from_millis(110),
            "{:?}",
            s.transit()
        );
        for _ in 0..16 {
            s.answered(Duration::from_millis(800));
        }
        assert!(
            s.transit() >= Duration::from_millis(3200),
            "{:?}",
            s.transit()
        );
        // Slow answers among fast ones (slow at the server, which counted the request when it
        // came): the fast ones set the transit, not the slow.
        let some_slow: Vec<u64> = (0..200)
            .map(|i| if i % 10 == 0 { 1500 } else { 10 })
            .collect();
        assert!(measured(&some_slow).transit() < Duration::from_millis(200));
    }

    #[test]
    fn the_mean_adapts_both_ways_during_a_run() {
        let mut s = measured(&[10; 100]);
        let fast = s.target(100.0, 100, 0);
        for _ in 0..200 {
            s.answered(Duration::from_millis(500));
        }
        let slowed = s.target(100.0, 100, 0);
        assert!(slowed > 80, "{slowed}");
        for _ in 0..400 {
            s.answered(Duration::from_millis(10));
        }
        let back = s.target(100.0, 100, 0);
        assert!(back <= fast + 1, "back down: {back} vs {fast}");
    }
}
