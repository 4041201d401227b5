//! Agency scale: one run across several locations — rows routed by a column or a map,
//! replicated to every installed location, one location refused while the others finish, and
//! each location resumed from its own journal after kill -9.

use std::path::Path;
use std::process::Command;

use crate::auth::{login, SECRET, SECRET_VAR};
use crate::util::*;

/// A sandbox for `locs` allowing `rate` requests per second per location.
fn sandbox(locs: &[&str], rate: u32) -> SandboxProc {
    let rate = rate.to_string();
    let mut extra: Vec<&str> = vec!["--rate-max", &rate, "--rate-interval-ms", "1000"];
    for l in &locs[1..] {
        extra.extend(["--location", l]);
    }
    SandboxProc::start(locs[0], &extra)
}

/// Writes `p.yaml` (reports under `out/`) and `in.csv` into `dir`.
fn write_pipeline(dir: &Path, csv: &str, target: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("in.csv"), csv).unwrap();
    let p = dir.join("p.yaml");
    std::fs::write(
        &p,
        format!(
            "version: 1\nname: agency\nsource: {{type: csv, path: in.csv}}\n{target}\n\
             mapping: {{firstName: First Name, email: Email}}\nreport: {{dir: out}}\n"
        ),
    )
    .unwrap();
    p
}

/// A CSV of `n` people, `P{i},p{i}@example.com`.
fn people_csv(n: usize) -> String {
    let mut csv = String::from("First Name,Email\n");
    for i in 0..n {
        csv.push_str(&format!("P{i},p{i}@example.com\n"));
    }
    csv
}

/// The emails of [`people_csv`]`(n)`, sorted.
fn people_emails(n: usize) -> Vec<String> {
    let mut v: Vec<String> = (0..n).map(|i| format!("p{i}@example.com")).collect();
    v.sort();
    v
}

/// The requests the sandbox refused with a 429, as its log has them.
fn refused(sb: &SandboxProc) -> String {
    let (_, body) = sb.raw("GET", "/_sandbox/log", &[], "");
    let log: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let all = log.as_array().cloned().unwrap_or_default();
    let refused: Vec<_> = all.iter().filter(|e| e["admitted"] == false).collect();
    let around: Vec<_> = refused
        .iter()
        .flat_map(|r| {
            let l = r["location"].clone();
            all.iter()
                .filter(move |e| e["location"] == l)
                .filter(move |e| {
                    (e["at_ms"].as_i64().unwrap() - r["at_ms"].as_i64().unwrap()).abs() < 1500
                })
        })
        .collect();
    format!("refused {refused:?}\naround {around:?}")
}

/// Emails of a location's contacts, sorted.
fn emails(sb: &SandboxProc, loc: &str) -> Vec<String> {
    let mut v: Vec<String> = sb
        .contacts(loc)
        .iter()
        .map(|c| c["email"].as_str().unwrap_or_default().to_owned())
        .collect();
    v.sort();
    v
}

/// The one run folder under `dir/out`.
fn run_dir(dir: &Path) -> std::path::PathBuf {
    let mut runs: Vec<_> = std::fs::read_dir(dir.join("out"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    runs.sort();
    runs.pop().expect("a run folder")
}

#[test]
fn rows_routed_by_a_column_and_by_a_map_reach_exactly_their_locations() {
    let sb = sandbox(&["loc-a", "loc-b", "loc-c"], 1000);
    let dir = workdir();
    // Row i goes to location i % 3; row 8's cell is empty, row 12 names a location outside
    // the list, row 15 is ragged.
    let mut csv = String::from("First Name,Email,Location Id\n");
    let locs = ["loc-a", "loc-b", "loc-c"];
    let mut want: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for i in 0..30 {
        let loc = match i {
            8 => "",
            12 => "loc-z",
            _ => locs[i % 3],
        };
        if i == 15 {
            csv.push_str("Ragged,r@example.com\n");
            continue;
        }
        csv.push_str(&format!("P{i},p{i}@example.com,{loc}\n"));
        if !loc.is_empty() && loc != "loc-z" {
            want.entry(loc)
                .or_default()
                .push(format!("p{i}@example.com"));
        }
    }
    let p = write_pipeline(
        dir.path(),
        &csv,
        &format!(
            "target:\n  locations: [loc-a, loc-b, loc-c]\n  location_from: Location Id\n  parallel: 2\n  base_url: {}\n  auth: {{token_env: IT_TOKEN}}",
            sb.base_url
        ),
    );
    let out = run(bin()
        .args(["run", "--state-dir"])
        .arg(dir.path().join("state"))
        .arg(&p)
        .env("IT_TOKEN", &sb.token));
    let (so, se) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(3),
        "two rows have no location: {so}{se}"
    );
    for (loc, mut w) in want.clone() {
        w.sort();
        assert_eq!(emails(&sb, loc), w, "{loc}");
    }
    let d = run_dir(dir.path());
    let s = summary(&d);
    assert_eq!(s["location_id"], "*");
    assert_eq!(s["rows"]["read"], 30);
    assert_eq!(s["rows"]["created"], 27);
    assert_eq!(s["rows"]["rejected"], 3);
    assert_eq!(s["rejected_by_code"]["unknown_location"], 2);
    assert_eq!(s["rejected_by_code"]["malformed_row"], 1);
    let parts = s["locations"].as_array().unwrap();
    let per: Vec<(String, u64)> = parts
        .iter()
        .map(|l| {
            (
                l["location_id"].as_str().unwrap().to_owned(),
                l["rows"]["created"].as_u64().unwrap(),
            )
        })
        .collect();
    let want_per: Vec<(String, u64)> = want
        .iter()
        .map(|(l, e)| (l.to_string(), e.len() as u64))
        .collect();
    assert_eq!(per, want_per);
    assert_eq!(want_per.iter().map(|(_, n)| n).sum::<u64>(), 27);
    // The run folder's rejects name the source rows; each location's results do too.
    let rejected = read_csv(&d.join("rejected.csv"));
    let rows: Vec<&str> = rejected[1..]
        .iter()
        .map(|r| r[r.len() - 6].as_str())
        .collect();
    assert_eq!(rows, ["10", "14", "17"], "{rejected:?}");
    let b = read_csv(&d.join("locations/loc-b/results.csv"));
    let b_rows: Vec<&str> = b[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(&b_rows[..3], ["3", "6", "9"]);
    assert!(d.join("locations/loc-b/report.html").exists());
    let page = std::fs::read_to_string(d.join("report.html")).unwrap();
    assert!(
        page.contains("locations/loc-c/report.html"),
        "the page links each location"
    );

    // Rollback acts on one location's folder, never on the run folder as a whole.
    let o = run(bin()
        .args(["rollback", "--created-only", "--state-dir"])
        .arg(dir.path().join("state"))
        .arg(&d)
        .env("IT_TOKEN", &sb.token));
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("multi-location run"), "{}", text(&o).1);
    let o = run(bin()
        .args(["rollback", "--created-only", "--state-dir"])
        .arg(dir.path().join("state"))
        .arg(d.join("locations/loc-a"))
        .env("IT_TOKEN", &sb.token));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    assert!(emails(&sb, "loc-a").is_empty(), "loc-a's contacts deleted");
    assert_eq!(
        emails(&sb, "loc-b").len(),
        want["loc-b"].len(),
        "loc-b untouched"
    );

    // preview shows each row's location, or its reject, with no request.
    let o = run(bin()
        .args(["preview", "--rows", "10", "--format", "json"])
        .arg(&p));
    let v: serde_json::Value = serde_json::from_str(&text(&o).0).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows[1]["body"]["locationId"], "loc-b");
    assert_eq!(rows[8]["reject"]["code"], "unknown_location", "{}", rows[8]);
    assert_eq!(rows[8]["reject"]["column"], "Location Id");

    // The same rows routed by a map of store names; names match in any case.
    let sb = sandbox(&["loc-a", "loc-b"], 1000);
    let dir = workdir();
    let p = write_pipeline(
        dir.path(),
        "First Name,Email,Store\nA,a@example.com,North\nB,b@example.com,south \nC,c@example.com,NORTH\nD,d@example.com,West\n",
        &format!(
            "target:\n  location_from: {{column: Store, map: {{north: loc-a, South: loc-b}}}}\n  base_url: {}\n  auth: {{token_env: IT_TOKEN}}",
            sb.base_url
        ),
    );
    let out = run(bin().args(["run", "-q"]).arg(&p).env("IT_TOKEN", &sb.token));
    assert_eq!(out.status.code(), Some(3), "{:?}", text(&out));
    assert_eq!(emails(&sb, "loc-a"), ["a@example.com", "c@example.com"]);
    assert_eq!(emails(&sb, "loc-b"), ["b@example.com"]);
    let rejected = read_csv(&run_dir(dir.path()).join("rejected.csv"));
    assert_eq!(rejected.len(), 2);
    assert!(rejected[1]
        .join(",")
        .contains("`West` is not in target.location_from.map"));
}

/// Logs the agency in to `sb` with its state in `state`.
fn agency_login(sb: &SandboxProc, state: &Path) {
    let out = login(sb, state, &["--agency"]);
    assert!(out.status.success(), "{:?}", text(&out));
}

#[test]
fn a_location_that_uninstalls_the_app_mid_run_stops_alone_while_the_others_finish() {
    let sb = sandbox(&["loc-a", "loc-b", "loc-c", "loc-d"], 10);
    let dir = workdir();
    let state = dir.path().join("state");
    agency_login(&sb, &state);
    // loc-d removed the app before the run: its token cannot be minted.
    sb.raw("POST", "/_sandbox/uninstall?location=loc-d", &[], "");
    let mut csv = String::from("First Name,Email,Location Id\n");
    for i in 0..80 {
        csv.push_str(&format!(
            "P{i},p{i}@example.com,{}\n",
            ["loc-a", "loc-b", "loc-c", "loc-d"][i % 4]
        ));
    }
    let p = write_pipeline(
        dir.path(),
        &csv,
        &format!(
            "target:\n  locations: [loc-a, loc-b, loc-c, loc-d]\n  location_from: Location Id\n  base_url: {}\n  auth:\n    agency: {{client_secret_env: {SECRET_VAR}}}",
            sb.base_url
        ),
    );
    let child = bin()
        .args(["run", "-q", "--state-dir"])
        .arg(&state)
        .arg(&p)
        .env(SECRET_VAR, SECRET)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Each location writes at 10/s: loc-b is uninstalled after about half a second.
    wait_for_contacts(&sb, "loc-b", 5);
    sb.raw("POST", "/_sandbox/uninstall?location=loc-b", &[], "");
    let out = child.wait_with_output().unwrap();
    let (so, se) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "two locations stopped: {so}{se}"
    );
    assert!(
        se.contains("location loc-d") && se.contains("not installed"),
        "{se}"
    );
    assert_eq!(sb.contacts("loc-a").len(), 20, "loc-a finished");
    assert_eq!(sb.contacts("loc-c").len(), 20, "loc-c finished");
    let b = sb.contacts("loc-b").len();
    assert!((5..20).contains(&b), "loc-b stopped part-way: {b}");
    assert_eq!(sb.contacts("loc-d").len(), 0);

    // Every row has one outcome: loc-b's unsent rows and all of loc-d's are not_attempted.
    let d = run_dir(dir.path());
    let s = summary(&d);
    assert_eq!(s["rows"]["read"], 80, "{s}");
    assert_eq!(s["rows"]["outcomes"], 80, "routed: one outcome per row");
    // A location's report names the file its rows came from, not the internal part file.
    let part = summary(&d.join("locations").join("loc-a"));
    let source = part["source"].as_str().unwrap();
    assert!(
        source.contains("in.csv") && source.contains("for loc-a"),
        "{source}"
    );
    assert!(!source.contains("parts/"), "{source}");
    assert_eq!(s["rows"]["created"].as_u64().unwrap(), 40 + b as u64);
    assert_eq!(
        s["rejected_by_code"]["not_attempted"].as_u64().unwrap(),
        40 - b as u64
    );
    let part = |l: &str| {
        s["locations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["location_id"] == l)
            .unwrap()
            .clone()
    };
    assert_eq!(part("loc-a")["exit"], 0);
    assert_eq!(part("loc-b")["exit"], 1);
    assert!(part("loc-b")["aborted"].as_str().unwrap().contains("loc-b"));
    assert!(part("loc-d")["aborted"]
        .as_str()
        .unwrap()
        .contains("not installed"));
    let d_rejected = read_csv(&d.join("locations/loc-d/rejected.csv"));
    assert_eq!(d_rejected.len(), 21, "loc-d's 20 rows, each not_attempted");
    assert!(d_rejected[1].contains(&"not_attempted".to_owned()));
    assert_eq!(sb.stats()["rate_limited_429"], 0, "{}", refused(&sb));
}

#[test]
fn each_location_resumes_from_its_own_journal_after_kill_9() {
    let sb = sandbox(&["loc-a", "loc-b", "loc-c"], 10);
    let dir = workdir();
    let state = dir.path().join("state");
    let csv = people_csv(30);
    // Every location gets every row.
    let p = write_pipeline(
        dir.path(),
        &csv,
        &format!(
            "target:\n  locations: [loc-a, loc-b, loc-c]\n  base_url: {}\n  auth: {{token_env: IT_TOKEN}}",
            sb.base_url
        ),
    );
    kill9_after(
        bin()
            .args(["run", "-q", "--state-dir"])
            .arg(&state)
            .arg(&p)
            .env("IT_TOKEN", &sb.token),
        &sb,
        "loc-c",
        8,
    );
    let before: Vec<usize> = ["loc-a", "loc-b", "loc-c"]
        .iter()
        .map(|l| sb.contacts(l).len())
        .collect();
    assert!(before.iter().all(|n| (1..30).contains(n)), "{before:?}");
    let sent_before = sb.stats()["requests_by_endpoint"]["POST /contacts/upsert"]
        .as_u64()
        .unwrap();

    let out = run(bin()
        .args(["run", "-q", "--state-dir"])
        .arg(&state)
        .arg(&p)
        .env("IT_TOKEN", &sb.token));
    assert!(out.status.success(), "{:?}", text(&out));
    let want = people_emails(30);
    for l in ["loc-a", "loc-b", "loc-c"] {
        assert_eq!(emails(&sb, l), want, "{l}: every row once");
    }
    // The re-run skipped what each location's journal holds: at most the rows in flight at the
    // kill are sent again.
    let sent_after = sb.stats()["requests_by_endpoint"]["POST /contacts/upsert"]
        .as_u64()
        .unwrap();
    let resent = sent_after - sent_before;
    let missing: usize = before.iter().map(|n| 30 - n).sum();
    assert!(
        resent >= missing as u64 && resent <= missing as u64 + 6,
        "re-sent {resent}, missing {missing}"
    );
    let journals = std::fs::read_dir(state.join("journal")).unwrap().count();
    assert!(journals >= 3, "one journal per location");
}

#[test]
fn every_installed_location_matching_a_name_gets_the_list_and_a_migration_uses_the_agency_on_both_sides(
) {
    let sb = sandbox(&["north-1", "north-2", "south-1"], 1000);
    let dir = workdir();
    let state = dir.path().join("state");
    agency_login(&sb, &state);
    let p = write_pipeline(
        dir.path(),
        "First Name,Email\nA,a@example.com\nB,b@example.com\n",
        &format!(
            "target:\n  locations: {{installed: true, query: north}}\n  base_url: {}\n  auth:\n    agency: {{client_secret_env: {SECRET_VAR}}}",
            sb.base_url
        ),
    );
    let out = run(bin()
        .args(["run", "-q", "--state-dir"])
        .arg(&state)
        .arg(&p)
        .env(SECRET_VAR, SECRET));
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(emails(&sb, "north-1"), ["a@example.com", "b@example.com"]);
    assert_eq!(emails(&sb, "north-2"), ["a@example.com", "b@example.com"]);
    assert!(emails(&sb, "south-1").is_empty());
    // validate --live asks each of the run's locations, with reads only.
    let out = run(bin()
        .args(["validate", "--live", "--state-dir"])
        .arg(&state)
        .arg(&p)
        .env(SECRET_VAR, SECRET));
    let (so, se) = text(&out);
    assert!(out.status.success(), "{so}{se}");
    assert!(
        so.contains("token: passed 2 times across 2 locations"),
        "{so}"
    );
    assert!(so.contains("scopes: passed 2 times"), "{so}");

    // north-1 → south-1 with one agency grant for both sides.
    let m = dir.path().join("m.yaml");
    std::fs::write(
        &m,
        format!(
            "version: 1\nsource:\n  type: ghl\n  location_id: north-1\n  base_url: {0}\n  auth:\n    agency: {{client_secret_env: {SECRET_VAR}}}\n\
             target:\n  location_id: south-1\n  base_url: {0}\n  auth:\n    agency: {{client_secret_env: {SECRET_VAR}}}\n\
             mapping: {{firstName: firstName, email: email}}\nreport: {{dir: out-m}}\n",
            sb.base_url
        ),
    )
    .unwrap();
    let out = run(bin()
        .args(["run", "-q", "--state-dir"])
        .arg(&state)
        .arg(&m)
        .env(SECRET_VAR, SECRET));
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(emails(&sb, "south-1"), ["a@example.com", "b@example.com"]);
}

#[test]
fn shards_of_serve_once_split_one_pipelines_locations_and_load_each_row_once() {
    let locs: Vec<String> = (0..6).map(|i| format!("loc-{i}")).collect();
    let names: Vec<&str> = locs.iter().map(String::as_str).collect();
    let sb = sandbox(&names, 1000);
    let dir = workdir();
    let mut csv = String::from("First Name,Email,Location Id\n");
    for i in 0..60 {
        csv.push_str(&format!("P{i},p{i}@example.com,loc-{}\n", i % 6));
    }
    csv.push_str("Nowhere,n@example.com,\n");
    write_pipeline(
        dir.path(),
        &csv,
        &format!(
            "target:\n  location_from: Location Id\n  base_url: {}\n  auth: {{token_env: IT_TOKEN}}",
            sb.base_url
        ),
    );
    let mut unrouted = 0;
    let mut read = 0;
    for shard in 0..3 {
        let state = dir.path().join(format!("state-{shard}"));
        let o = serve_once_shard(dir.path(), &state, shard, 3, &sb.token);
        assert!(matches!(o.status.code(), Some(0 | 3)), "{}", text(&o).1);
        let d = run_dir(dir.path());
        let s = summary(&d);
        read += s["rows"]["read"].as_u64().unwrap();
        unrouted += s["rejected_by_code"]["unknown_location"]
            .as_u64()
            .unwrap_or(0);
        // This shard's folder is done with: the next shard's run gets a new one.
        std::fs::rename(&d, dir.path().join(format!("shard-{shard}"))).unwrap();
    }
    for (i, l) in locs.iter().enumerate() {
        let want: Vec<String> = {
            let mut v: Vec<String> = (0..60)
                .filter(|r| r % 6 == i)
                .map(|r| format!("p{r}@example.com"))
                .collect();
            v.sort();
            v
        };
        assert_eq!(emails(&sb, l), want, "{l}: its rows once, by one shard");
    }
    assert_eq!(
        unrouted, 1,
        "the row with no location is reported by one shard"
    );
    assert_eq!(read, 61, "every row counted once across the shards");
}

#[test]
fn sigterm_stops_every_location_with_complete_reports_and_the_webhook_hears_once() {
    let sb = sandbox(&["loc-a", "loc-b", "loc-c", "loc-d"], 10);
    let hook = crate::unattended::Webhook::start(0);
    let dir = workdir();
    let csv = people_csv(40);
    // Two at a time: loc-c and loc-d have not started when the signal comes.
    let p = write_pipeline(
        dir.path(),
        &csv,
        &format!(
            "target:\n  locations: [loc-a, loc-b, loc-c, loc-d]\n  parallel: 2\n  base_url: {}\n  auth: {{token_env: IT_TOKEN}}\n\
             notify: {{on: [failure, rejects, success], webhook_url_env: IT_WEBHOOK}}",
            sb.base_url
        ),
    );
    let child = bin()
        .args(["run", "-q", "--state-dir"])
        .arg(dir.path().join("state"))
        .arg(&p)
        .env("IT_TOKEN", &sb.token)
        .env("IT_WEBHOOK", &hook.url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_contacts(&sb, "loc-a", 5);
    signal(&child, "-TERM");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let d = run_dir(dir.path());
    let s = summary(&d);
    assert_eq!(s["rows"]["read"], 40, "a source row is read once: {s}");
    assert_eq!(
        s["rows"]["outcomes"], 160,
        "every row of every location accounted: {s}"
    );
    let written: u64 = ["loc-a", "loc-b", "loc-c", "loc-d"]
        .iter()
        .map(|l| sb.contacts(l).len() as u64)
        .sum();
    assert_eq!(s["rows"]["created"].as_u64().unwrap(), written);
    assert!(written < 160);
    for l in ["loc-a", "loc-b", "loc-c", "loc-d"] {
        let part = summary(&d.join("locations").join(l));
        assert!(part["aborted"].is_string(), "{l}: {part}");
    }
    assert!(
        sb.contacts("loc-d").is_empty(),
        "not started after the signal"
    );
    let bodies = hook.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1, "one alert for the run: {bodies:?}");
    let v: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(v["event"], "failure");
    assert_eq!(v["location"], "4 locations");
}

#[test]
fn an_inbox_file_is_routed_to_its_locations_and_moved_with_every_locations_reports() {
    let sb = sandbox(&["loc-a", "loc-b"], 1000);
    let dir = workdir();
    let inbox = dir.path().join("inbox");
    std::fs::create_dir(&inbox).unwrap();
    let file = inbox.join("drop.csv");
    std::fs::write(
        &file,
        "First Name,Email,Loc\nA,a@example.com,loc-a\nB,b@example.com,loc-b\n",
    )
    .unwrap();
    let p = dir.path().join("p.yaml");
    std::fs::write(
        &p,
        format!(
            "version: 1\nsource: {{type: csv, inbox: {{dir: inbox, settle_secs: 0}}}}\n\
             target:\n  location_from: Loc\n  base_url: {}\n  auth: {{token_env: IT_TOKEN}}\n\
             mapping: {{firstName: First Name, email: Email}}\n",
            sb.base_url
        ),
    )
    .unwrap();
    let state = dir.path().join("state");
    let o = run(bin()
        .args(["run", "-q", "--state-dir"])
        .arg(&state)
        .arg(&p)
        .env("IT_TOKEN", &sb.token));
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert_eq!(emails(&sb, "loc-a"), ["a@example.com"]);
    assert_eq!(emails(&sb, "loc-b"), ["b@example.com"]);
    let report = inbox.join("done/drop.csv.report");
    assert!(!file.exists() && inbox.join("done/drop.csv").exists());
    assert!(report.join("locations/loc-b/results.csv").exists());
    // The run history follows the move: each location's row names its folder in done/.
    let o = run(bin()
        .args(["runs", "--format", "json", "--state-dir"])
        .arg(&state));
    let v: serde_json::Value = serde_json::from_str(&text(&o).0).unwrap();
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "one per location: {v}");
    for r in runs {
        let d = r["report_dir"].as_str().unwrap();
        assert!(std::path::Path::new(d).starts_with(&report), "{d}");
        assert!(std::path::Path::new(d).join("summary.json").exists(), "{d}");
    }
}

#[test]
fn routed_parts_escape_formulas_and_the_contacts_get_the_cells_as_written() {
    let sb = sandbox(&["loc-a", "loc-b"], 1000);
    let dir = workdir();
    let csv = "First Name,Email,Location Id\n=HYPERLINK(\"http://x\"),a@example.com,loc-a\n+Bo,b@example.com,loc-b\n";
    let p = write_pipeline(
        dir.path(),
        csv,
        &format!(
            "target:\n  locations: [loc-a, loc-b]\n  location_from: Location Id\n  base_url: {}\n  auth: {{token_env: IT_TOKEN}}",
            sb.base_url
        ),
    );
    let o = run(bin().args(["run", "-q"]).arg(&p).env("IT_TOKEN", &sb.token));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let part = std::fs::read_to_string(run_dir(dir.path()).join("parts/loc-a.csv")).unwrap();
    assert!(part.contains("'=HYPERLINK"), "escaped in the part: {part}");
    let a = &sb.contacts("loc-a")[0];
    assert_eq!(
        a["firstName"], "=HYPERLINK(\"http://x\")",
        "sent as written"
    );
    assert_eq!(sb.contacts("loc-b")[0]["firstName"], "+Bo");
}

#[test]
fn slow_answers_across_locations_stay_within_the_open_file_limit() {
    // Every answer takes 600 ms and each location allows 100 / s: Little's law asks for about
    // 100 requests in flight per location, 1,200 for the 12 locations — each a connection,
    // each an open file, under a limit of 512. The process keeps a quarter of its files for
    // connections and the locations wait their turn for one: every row is written, none fails
    // for want of a file.
    let locs: Vec<String> = (0..12).map(|i| format!("loc-{i:02}")).collect();
    let names: Vec<&str> = locs.iter().map(String::as_str).collect();
    let sb = SandboxProc::start(
        names[0],
        &[
            &["--rate-max", "100", "--rate-interval-ms", "1000"][..],
            &["--fault", "slow=600x100000@0"],
            &names[1..]
                .iter()
                .flat_map(|l| ["--location", l])
                .collect::<Vec<_>>(),
        ]
        .concat(),
    );
    let dir = workdir();
    let csv = people_csv(60);
    let p = write_pipeline(
        dir.path(),
        &csv,
        &format!(
            "target:\n  locations: [{}]\n  base_url: {}\n  auth: {{token_env: IT_TOKEN}}",
            names.join(", "),
            sb.base_url
        ),
    );
    let out = run(Command::new("prlimit")
        .args(["--nofile=512:512", "--"])
        .arg(env!("CARGO_BIN_EXE_ghl-import"))
        .args(["run", "-q", "--state-dir"])
        .arg(dir.path().join("state"))
        .arg(&p)
        .env("IT_TOKEN", &sb.token)
        .stdin(std::process::Stdio::null()));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let all = format!("{stdout}{stderr}").to_lowercase();
    assert!(!all.contains("open files"), "{all}");
    let want = people_emails(60);
    for l in &names {
        assert_eq!(emails(&sb, l), want, "{l}: every row once");
    }
}
