//! Rate limits as the client meets them: pacing within the advertised window, following the
//! advertised limit up to the user's cap, sharing the budget with another client, and a run
//! started while an earlier one's requests still fill the window.

use crate::util::*;

#[test]
fn client_paces_requests_within_the_advertised_window() {
    // 20 requests per 500 ms advertised and configured; 45 rows take > 1 s and must never put
    // more than 20 accepted requests in any sliding 500 ms window, nor draw a 429.
    let sb = SandboxProc::start("loc-it", &["--rate-max", "20", "--rate-interval-ms", "500"]);
    let dir = workdir();
    let mut csv = String::from("First Name,Email,Phone\n");
    for i in 0..45 {
        csv.push_str(&format!("P{i},p{i}@example.com,\n"));
    }
    let extra =
        "load:\n  concurrency: 8\n  rate_limit:\n    max_requests: 20\n    interval_ms: 500\n";
    let p = pipeline(dir.path(), &sb.base_url, &csv, extra);

    let o = sb.run_pipeline(&p, &dir.path().join("o"));

    assert_eq!(o.status.code(), Some(0));
    let stats = sb.stats();
    assert_eq!(stats["rate_limited_429"], 0, "{stats}");
    assert!(
        stats["max_in_any_window"].as_u64().unwrap() <= 20,
        "{stats}"
    );
    assert_eq!(sb.contacts("loc-it").len(), 45);
}

#[test]
fn client_leaves_room_for_another_app_spending_the_same_budget() {
    // Another app of the location spends 10 of the 20 requests of every 500 ms window, at its
    // start. Paced at the configured 20 per window the run would draw ~9 429s per window (about
    // 40 in all); reading X-RateLimit-Remaining, the client paces at the share left and draws
    // at most about one per window of the other app's bursts, which no answer announces.
    let sb = SandboxProc::start(
        "loc-it",
        &[
            "--rate-max",
            "20",
            "--rate-interval-ms",
            "500",
            "--other-app-requests",
            "10",
        ],
    );
    let dir = workdir();
    let extra =
        "load:\n  concurrency: 8\n  rate_limit:\n    max_requests: 20\n    interval_ms: 500\n";
    let p = pipeline(dir.path(), &sb.base_url, &many_rows(45), extra);

    let o = sb.run_pipeline(&p, &dir.path().join("o"));

    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let stats = sb.stats();
    assert!(stats["rate_limited_429"].as_u64().unwrap() <= 5, "{stats}");
    assert!(
        stats["max_in_any_window"].as_u64().unwrap() <= 11,
        "{stats}"
    );
    assert_eq!(sb.contacts("loc-it").len(), 45);
}

#[test]
fn sandbox_answers_429_above_the_burst_limit_with_headers() {
    // A client that does not pace itself: the sandbox pushes back once the window is spent.
    let sb = SandboxProc::start(
        "loc-it",
        &["--rate-max", "5", "--rate-interval-ms", "60000"],
    );
    let auth = format!("Bearer {}", sb.token);
    let headers = [("Authorization", auth.as_str()), ("Version", "2021-07-28")];
    let statuses: Vec<u16> = (0..8)
        .map(|i| {
            let body = format!(r#"{{"locationId":"loc-it","email":"p{i}@example.com"}}"#);
            sb.raw("POST", "/contacts/upsert", &headers, &body).0
        })
        .collect();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
    assert_eq!(sb.stats()["rate_limited_429"], 3);
    assert_eq!(sb.contacts("loc-it").len(), 5);
    // Missing Version header and a wrong token are refused before any work is done.
    let (s, _) = sb.raw(
        "POST",
        "/contacts/upsert",
        &[("Authorization", auth.as_str())],
        "{}",
    );
    assert_eq!(s, 400);
    let (s, body) = sb.raw(
        "POST",
        "/contacts/upsert",
        &[("Authorization", "Bearer nope")],
        "{}",
    );
    assert_eq!(s, 401, "{body}");
}

#[test]
fn client_adopts_a_stricter_advertised_limit() {
    // Configured for 1000/s, the client must slow down to what the server advertises (10 per
    // 200 ms): the run ends with every row created and only the few requests that were already
    // in flight before the first answer can exceed the window.
    let sb = SandboxProc::start("loc-it", &["--rate-max", "10", "--rate-interval-ms", "200"]);
    let dir = workdir();
    let mut csv = String::from("First Name,Email,Phone\n");
    for i in 0..40 {
        csv.push_str(&format!("P{i},p{i}@example.com,\n"));
    }
    let extra = "load:\n  concurrency: 1\n  rate_limit:\n    max_requests: 1000\n    interval_ms: 1000\n  retry:\n    base_delay_ms: 50\n    max_delay_ms: 200\n";
    let p = pipeline(dir.path(), &sb.base_url, &csv, extra);

    let o = sb.run_pipeline(&p, &dir.path().join("o"));

    assert_eq!(o.status.code(), Some(0));
    let stats = sb.stats();
    assert!(stats["rate_limited_429"].as_u64().unwrap() <= 1, "{stats}");
    assert_eq!(sb.contacts("loc-it").len(), 40);
}

#[test]
fn pace_follows_the_advertised_limit_up_to_the_users_cap() {
    // The server advertises 30 per second, three times the documented 100 / 10 s: without a cap
    // the client goes at the advertised pace; with `max_requests: 10` it never goes above 10.
    let sb = SandboxProc::start(
        "loc-it",
        &["--rate-max", "30", "--rate-interval-ms", "1000"],
    );
    let dir = workdir();
    let p = pipeline(
        dir.path(),
        &sb.base_url,
        &many_rows(60),
        "load:\n  concurrency: 8\n",
    );
    let o = sb.run_pipeline(&p, &dir.path().join("o"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let stats = sb.stats();
    let busiest = stats["max_in_any_window"].as_u64().unwrap();
    assert!((20..=30).contains(&busiest), "{stats}");
    assert_eq!(stats["rate_limited_429"], 0, "{stats}");

    let sb = SandboxProc::start(
        "loc-it",
        &["--rate-max", "30", "--rate-interval-ms", "1000"],
    );
    let dir = workdir();
    let extra = "load:\n  concurrency: 8\n  rate_limit: {max_requests: 10, interval_ms: 1000}\n";
    let p = pipeline(dir.path(), &sb.base_url, &many_rows(25), extra);
    let o = sb.run_pipeline(&p, &dir.path().join("o"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let stats = sb.stats();
    assert!(
        stats["max_in_any_window"].as_u64().unwrap() <= 10,
        "{stats}"
    );
    assert_eq!(sb.contacts("loc-it").len(), 25);
}

#[test]
fn a_run_started_right_after_another_spends_only_what_the_window_has_left() {
    // The first run leaves the sliding window nearly full; the second starts at once and must
    // fit its requests into the room X-RateLimit-Remaining shows: no 429, never more than the
    // window allows, every row created.
    let sb = SandboxProc::start(
        "loc-it",
        &["--rate-max", "20", "--rate-interval-ms", "1000"],
    );
    let first = workdir();
    let p = pipeline(
        first.path(),
        &sb.base_url,
        &many_rows(40),
        "load:\n  concurrency: 8\n",
    );
    let o = sb.run_pipeline(&p, &first.path().join("o"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);

    let second = workdir();
    let rows = many_rows(40).replace(",p", ",q").replace("\nP", "\nQ");
    let p = pipeline(
        second.path(),
        &sb.base_url,
        &rows,
        "load:\n  concurrency: 8\n",
    );
    let o = sb.run_pipeline(&p, &second.path().join("o"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);

    let stats = sb.stats();
    assert_eq!(stats["rate_limited_429"], 0, "{stats}");
    assert!(
        stats["max_in_any_window"].as_u64().unwrap() <= 20,
        "{stats}"
    );
    assert_eq!(sb.contacts("loc-it").len(), 80);
}
