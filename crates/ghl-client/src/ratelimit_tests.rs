//! The throttle's rules, one by one.

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

/// An answer at 20 per 400 ms saying `left` requests are left today.
fn daily(left: u64) -> RateLimitInfo {
    RateLimitInfo {
        daily_remaining: Some(left),
        ..advertised(20, 400, None)
    }
}

/// A throttle at `max` per `ms`, as after the server's first answer said so with the whole
/// window free.
async fn throttle(max: u32, ms: u64) -> Throttle {
    let t = Throttle::new(None);
    let first = t.acquire().await.unwrap().0;
    t.observe(&advertised(max, ms, Some(max - 1)), first, false);
    assert_eq!(t.limit(), limit(max, ms));
    t
}

/// `n` requests, each answered at once with what a server holding them and `before` other
/// requests in its window would say; how long they took.
async fn burst(t: &Throttle, n: usize, max: u32, ms: u64, before: u32) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        let s = t.acquire().await.unwrap().0;
        let now = Instant::now();
        let window = Duration::from_millis(ms);
        let inside = t
            .lock()
            .sent
            .iter()
            .filter(|x| !x.left(now, window))
            .count() as u32;
        t.observe(
            &advertised(max, ms, Some(max.saturating_sub(before + inside))),
            s,
            false,
        );
    }
    start.elapsed()
}

#[tokio::test]
async fn follows_the_advertised_limit_both_ways_within_the_cap() {
    let t = Throttle::new(None);
    assert_eq!(t.limit(), DOCUMENTED, "before any answer");
    let s = t.acquire().await.unwrap().0;
    let faster = advertised(100, 1000, None);
    assert_eq!(
        t.observe(&faster, s, false),
        Some(Adjustment::Advertised(limit(100, 1000)))
    );
    let slower = advertised(50, 10_000, None);
    let s = t.acquire().await.unwrap().0;
    t.observe(&slower, s, false);
    assert_eq!(t.limit(), limit(50, 10_000), "and back down");
    let s = t.acquire().await.unwrap().0;
    assert_eq!(t.observe(&slower, s, false), None, "no change");

    let capped = Throttle::new(Some(limit(200, 10_000)));
    assert_eq!(
        capped.limit(),
        DOCUMENTED,
        "the stricter of cap and documented"
    );
    let s = capped.acquire().await.unwrap().0;
    capped.observe(&faster, s, false);
    assert_eq!(capped.limit(), limit(200, 10_000), "never above the cap");
    let s = capped.acquire().await.unwrap().0;
    capped.observe(&slower, s, false);
    assert_eq!(capped.limit(), limit(50, 10_000));
}

#[tokio::test]
async fn the_free_part_of_the_first_window_is_spent_at_once_then_no_more() {
    // 20 per 400 ms: after the first answer (19 left), 19 more go at once; the 21st waits
    // until the first request's answer is an interval old.
    let t = throttle(20, 400).await;
    let took = burst(&t, 19, 20, 400, 0).await;
    assert!(took < Duration::from_millis(100), "{took:?}");
    let start = Instant::now();
    let s = t.acquire().await.unwrap().0;
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    t.observe(&advertised(20, 400, Some(19)), s, false);
}

#[tokio::test]
async fn before_the_first_answer_requests_are_spaced_evenly() {
    // Nothing known of the window (another run may have spent it): 100 / 10 s → 100 ms.
    let t = Throttle::new(None);
    let _first = t.acquire().await.unwrap().0;
    let start = Instant::now();
    let _second = t.acquire().await.unwrap().0;
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(80), "{waited:?}");
}

#[tokio::test]
async fn requests_still_unanswered_are_not_taken_as_counted() {
    // Five requests in flight, then an answer to the last one that says 15 left: the four
    // others may reach the server after it, so only 11 more may go.
    let t = throttle(20, 400).await;
    let _ = burst(&t, 1, 20, 400, 0).await; // the window now holds 2
    let mut flying = Vec::new();
    for _ in 0..5 {
        flying.push(t.acquire().await.unwrap().0);
    }
    let last = flying.pop().unwrap();
    t.observe(&advertised(20, 400, Some(15)), last, false);
    let start = Instant::now();
    for _ in 0..11 {
        let s = t.acquire().await.unwrap().0;
        flying.push(s);
    }
    assert!(start.elapsed() < Duration::from_millis(100));
    let start = Instant::now();
    let s = t.acquire().await.unwrap().0;
    assert!(
        start.elapsed() >= Duration::from_millis(200),
        "{:?}",
        start.elapsed()
    );
    t.unanswered(s);
}

#[tokio::test]
async fn a_request_overtaken_on_the_way_is_not_taken_as_counted() {
    // 4 per 400 ms. The first request's answer says 3 left; A and X go, X reaches the server
    // first (2 left, A not counted), and A's answer comes before X's: A must still be
    // subtracted from X's `remaining`, so one more request may go, not two.
    let t = Throttle::new(Some(limit(4, 400)));
    let first = t.acquire().await.unwrap().0;
    t.observe(&advertised(4, 400, Some(3)), first, false);
    let a = t.acquire().await.unwrap().0;
    let x = t.acquire().await.unwrap().0;
    t.observe(&advertised(4, 400, Some(1)), a, false);
    t.observe(&advertised(4, 400, Some(2)), x, false);
    let _ = t.acquire().await.unwrap().0;
    let start = Instant::now();
    let _ = t.acquire().await.unwrap().0;
    assert!(
        start.elapsed() >= Duration::from_millis(250),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn in_the_first_window_a_request_held_in_a_queue_still_counts() {
    // 20 per 2 s. A goes, then waits in a queue before the server (a saturated machine) longer
    // than any answer took; 18 more go and are answered at once, none counting A. 20 are in the
    // window by this client's own count: the next waits for the window, whatever the answers
    // say is left.
    let t = throttle(20, 2000).await;
    let a = t.acquire().await.unwrap().0;
    tokio::time::sleep(Duration::from_millis(50)).await;
    for k in 1..=18 {
        let b = t.acquire().await.unwrap().0;
        t.observe(&advertised(20, 2000, Some(19 - k)), b, false);
    }
    let next = tokio::time::timeout(Duration::from_millis(300), t.acquire()).await;
    assert!(next.is_err(), "a 21st request went in the first window");
    t.unanswered(a);
}

#[tokio::test]
async fn a_window_left_full_by_an_earlier_run_is_used_as_it_empties() {
    // 20 per 400 ms. This run's first answer finds the window holding 19 requests of a run
    // that has just stopped: remaining 0. They leave the window spread over the interval,
    // so the next request waits about one step (400 ms / 19 · 1), not the whole interval.
    let t = Throttle::new(Some(limit(20, 400)));
    let s = t.acquire().await.unwrap().0;
    let start = Instant::now();
    t.observe(&advertised(20, 400, Some(0)), s, false);
    assert_eq!(t.lock().foreign, 19);
    let _ = t.acquire().await.unwrap().0;
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(15), "{waited:?}");
    assert!(waited < Duration::from_millis(150), "{waited:?}");
}

#[tokio::test]
async fn a_client_that_still_sends_is_left_its_share() {
    // Same window, but a 429 shows the other client is still sending: the next request
    // waits until this client's own requests leave the window.
    let t = throttle(20, 400).await;
    let s = t.acquire().await.unwrap().0;
    t.observe(&advertised(20, 400, Some(0)), s, true);
    let start = Instant::now();
    let s = t.acquire().await.unwrap().0;
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    // Once its requests leave the window, the budget is this client's again.
    assert_eq!(
        t.observe(&advertised(20, 400, Some(19)), s, false),
        Some(Adjustment::Restored)
    );
    let start = Instant::now();
    let _ = burst(&t, 5, 20, 400, 0).await;
    assert!(
        start.elapsed() < Duration::from_millis(200),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn a_late_answer_is_not_taken_for_another_client() {
    // Answered after more than an interval: its `remaining` speaks of a window long gone.
    let t = throttle(20, 200).await;
    let s = t.acquire().await.unwrap().0;
    tokio::time::sleep(Duration::from_millis(250)).await;
    let late = advertised(20, 200, Some(3));
    assert_eq!(t.observe(&late, s, false), None);
    assert_eq!(t.limit().max.get(), 20, "still the full pace");
}

#[tokio::test]
async fn no_request_goes_beyond_the_days_allowance() {
    // Two requests left today and two in flight: the third waits for their answers; once an
    // answer says none is left, nothing goes.
    let t = throttle(20, 400).await;
    let s = t.acquire().await.unwrap().0;
    t.observe(&daily(2), s, false);
    let (a, b) = (t.acquire().await.unwrap().0, t.acquire().await.unwrap().0);
    let third = tokio::time::timeout(Duration::from_millis(100), t.acquire()).await;
    assert!(third.is_err(), "waited for the answers");
    // b's answer overtakes a's: the allowance left is b's, not the last to come.
    t.observe(&daily(0), b, false);
    t.observe(&daily(1), a, false);
    assert_eq!(t.daily_remaining(), Some(0));
    assert!(matches!(t.acquire().await, Err(DailySpent)));
}

#[tokio::test]
async fn a_request_in_flight_counts_against_the_days_allowance_whichever_answer_comes_first() {
    // Three left today; a and b go on two connections and b reaches the server first: its
    // answer says one is left, and that one is a's, still on its way.
    let t = throttle(20, 400).await;
    let s = t.acquire().await.unwrap().0;
    t.observe(&daily(3), s, false);
    let (a, b) = (t.acquire().await.unwrap().0, t.acquire().await.unwrap().0);
    t.observe(&daily(1), b, false);
    let next = tokio::time::timeout(Duration::from_millis(100), t.acquire()).await;
    assert!(
        next.is_err(),
        "a request went while a took the last of the day"
    );
    t.observe(&daily(0), a, false);
    assert!(matches!(t.acquire().await, Err(DailySpent)));
}

#[tokio::test]
async fn a_higher_count_that_crossed_a_lower_one_on_the_way_is_not_believed() {
    // b was counted last (nothing left), then c's and a's answers come saying more was left
    // when the server counted them: the day's allowance is still spent.
    let t = throttle(20, 400).await;
    let s = t.acquire().await.unwrap().0;
    t.observe(&daily(3), s, false);
    let (a, b, c) = (
        t.acquire().await.unwrap().0,
        t.acquire().await.unwrap().0,
        t.acquire().await.unwrap().0,
    );
    t.observe(&daily(0), b, false);
    t.observe(&daily(1), c, false);
    t.observe(&daily(2), a, false);
    assert_eq!(t.daily_remaining(), Some(0));
    assert!(matches!(t.acquire().await, Err(DailySpent)));
}

#[tokio::test]
async fn no_window_ever_holds_more_than_max() {
    // 20 per 200 ms, 70 requests answered at once: at most 20 in any 200 ms, so they take at
    // least three intervals.
    let t = throttle(20, 200).await;
    let mut at = Vec::new();
    for _ in 0..70 {
        let s = t.acquire().await.unwrap().0;
        at.push(s.at);
        t.observe(&advertised(20, 200, None), s, false);
    }
    for (i, a) in at.iter().enumerate() {
        let inside = at[i..]
            .iter()
            .take_while(|b| b.duration_since(*a) < Duration::from_millis(200))
            .count();
        assert!(
            inside <= 20,
            "{inside} requests within 200 ms from request {i}"
        );
    }
    assert!(at[69].duration_since(at[0]) >= Duration::from_millis(600));
}

/// The slot of `sent`: when it went and the latest the server may have counted it.
fn counted(t: &Throttle, sent: Sent) -> (Instant, Instant) {
    let g = t.lock();
    let s = g
        .sent
        .iter()
        .find(|s| s.seq == sent.seq)
        .expect("remembered");
    (s.at, s.counted.expect("answered"))
}

#[tokio::test]
async fn a_paced_request_slow_at_the_server_leaves_the_window_an_interval_after_it_arrived() {
    // 10 per 100 ms, answers at once: a request reaches the server within the transit (5 ms
    // and four fast round trips). One answered 300 ms late was counted when it arrived, so it
    // leaves the window an interval after that, not after its answer (which held back a
    // quarter of the window at 100 / 1 s with every other answer 0.5 s late).
    let t = throttle(10, 100).await;
    // In the first window, a queue before the server may hold a request as long as its answer
    // took: it leaves an interval after the answer.
    let early = t.acquire().await.unwrap().0;
    tokio::time::sleep(Duration::from_millis(150)).await;
    t.observe(&advertised(10, 100, Some(8)), early, false);
    let (at, by) = counted(&t, early);
    assert!(by - at >= Duration::from_millis(150), "{:?}", by - at);
    burst(&t, 5, 10, 100, 0).await;
    let slow = t.acquire().await.unwrap().0;
    tokio::time::sleep(Duration::from_millis(300)).await;
    t.observe(&advertised(10, 100, Some(9)), slow, false);
    let (at, by) = counted(&t, slow);
    assert!(by - at < Duration::from_millis(60), "{:?}", by - at);
    assert!(t.lock().sent.iter().any(|s| s.seq == slow.seq
        && s.left(at + Duration::from_millis(170), Duration::from_millis(100))));
}

#[tokio::test]
async fn requests_slow_at_the_server_do_not_hold_back_the_rest() {
    // Fast answers: a few in flight are enough for 100 / 1 s. Five requests then stay
    // unanswered (slow at the server): each is one more in flight, so the others still go.
    let t = throttle(100, 1000).await;
    burst(&t, 50, 100, 1000, 0).await;
    let base = t.in_flight(None);
    assert!(base < 10, "{base}");
    let mut slow = Vec::new();
    for _ in 0..5 {
        slow.push(t.acquire().await.unwrap().0);
    }
    assert_eq!(t.in_flight(None), base, "not yet stragglers");
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(t.in_flight(None), base + 5);
    assert_eq!(
        t.in_flight(Some(base + 2)),
        base + 2,
        "the user's cap still holds"
    );
    for s in slow {
        t.observe(&advertised(100, 1000, Some(40)), s, false);
    }
    assert!(t.in_flight(None) <= base + 1);
}
