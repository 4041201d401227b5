//! report.html as a person sees it: each kind of run (import, dry run, export, migration, several
//! locations)
//! rendered in headless Chromium at 1280×800 — every figure on the page equals summary.json,
//! nothing is cut off, no console errors, no request beyond the file itself. Screenshots go to
//! `target/report-screenshots/` (and to `docs/` with `UPDATE_SCREENSHOTS=1`).

use std::path::Path;

use crate::browser::Browser;
use crate::util::*;

/// The value at a `.`-separated path of `v`, as the page shows it.
fn shown(v: &serde_json::Value, path: &str) -> String {
    let v = path.split('.').fold(v, |v, k| match k.parse::<usize>() {
        Ok(i) if v.is_array() => &v[i],
        _ => &v[k],
    });
    match v {
        serde_json::Value::Null => "–".into(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Renders `dir/report.html` and checks it against `dir/summary.json`; returns the figures
/// checked.
fn check_report(b: &mut Browser, dir: &Path, kind: &str) -> Vec<String> {
    let page = dir.join("report.html");
    let html = std::fs::read_to_string(&page).expect("report.html");
    assert!(!html.contains("<script"), "no scripts");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external address"
    );
    b.open(&format!("file://{}", page.display()));
    let s = summary(dir);
    let figures = b.eval(
        "[...document.querySelectorAll('[data-k]')].map(e => [e.dataset.k, e.dataset.v ?? e.textContent])",
    );
    let figures = figures.as_array().unwrap();
    assert!(figures.len() >= 8, "{kind}: {figures:?}");
    let mut checked = Vec::new();
    for f in figures {
        let (k, text) = (f[0].as_str().unwrap(), f[1].as_str().unwrap());
        assert_eq!(
            text,
            shown(&s, k),
            "{kind}: {k} on the page vs summary.json"
        );
        checked.push(k.to_owned());
    }
    for k in ["rows.read", "duration_ms"] {
        assert!(checked.iter().any(|c| c == k), "{kind}: {k} shown");
    }
    for code in s["rejected_by_code"].as_object().unwrap().keys() {
        let k = format!("rejected_by_code.{code}");
        assert!(checked.contains(&k), "{kind}: {k} shown");
    }
    // Nothing wider than the window, nothing cut off.
    let overflow = b.eval(
        "(() => { const w = document.documentElement.clientWidth;
           const wide = [...document.querySelectorAll('body *')]
             .filter(e => e.getBoundingClientRect().right > w + 0.5)
             .map(e => e.tagName + '.' + e.className);
           return [document.documentElement.scrollWidth, w, wide.slice(0, 5)]; })()",
    );
    assert!(
        overflow[0].as_f64() <= overflow[1].as_f64() && overflow[2].as_array().unwrap().is_empty(),
        "{kind}: wider than 1280 px: {overflow}"
    );
    assert!(b.problems().is_empty(), "{kind}: {:?}", b.problems());
    let requests = b.requests();
    assert!(
        requests.iter().all(|u| u.starts_with("file://")) && requests.len() == 1,
        "{kind}: only the file itself: {requests:?}"
    );
    let png = b.screenshot();
    assert!(png.starts_with(b"\x89PNG"), "{kind}: a PNG");
    let shots = repo().join("target/report-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    std::fs::write(shots.join(format!("report-{kind}.png")), &png).unwrap();
    if std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
        std::fs::write(repo().join(format!("docs/report-{kind}.png")), &png).unwrap();
    }
    checked
}

fn sandbox_run(dir: &Path, pipeline: &str, out: &str, extra: &[&str]) -> std::path::PathBuf {
    let out = dir.join(out);
    let o = run_shipped(pipeline, &out, &[&["-q"], extra].concat());
    assert!(matches!(o.status.code(), Some(0 | 3)), "{}", text(&o).1);
    out
}

#[test]
fn each_kind_of_report_shows_what_summary_json_says_without_overflow_errors_or_requests() {
    let dir = workdir();
    let mut b = Browser::start();
    let import = sandbox_run(dir.path(), "quickstart", "import", &[]);
    let checked = check_report(&mut b, &import, "import");
    assert!(checked.contains(&"rejected_by_code.missing_contact_key".to_owned()));
    assert!(
        checked.contains(&"values.by_code.invalid_email".to_owned()),
        "the values not loaded, by reason: {checked:?}"
    );
    // The examples: the bad value from its column, with the hint.
    let text = b
        .eval("document.body.innerText")
        .as_str()
        .unwrap()
        .to_owned();
    assert!(text.contains("By source column"), "{text}");

    let dry = sandbox_run(
        dir.path(),
        "quickstart",
        "dry",
        &["--dry-run", "--seed-contacts", "5"],
    );
    let checked = check_report(&mut b, &dry, "dry-run");
    assert!(
        checked.iter().any(|k| k.starts_with("plan.")),
        "{checked:?}"
    );
    assert!(checked.contains(&"forecast.write_requests".to_owned()));

    let export = sandbox_run(
        dir.path(),
        "ghl-export-csv",
        "export",
        &["--seed-contacts", "120"],
    );
    check_report(&mut b, &export, "export");

    let migration = sandbox_run(
        dir.path(),
        "ghl-to-ghl-migration",
        "migration",
        &["--seed-contacts", "60"],
    );
    check_report(&mut b, &migration, "migration");

    // Four locations in one run: a row per location, linking each location's own page.
    let agency = sandbox_run(dir.path(), "agency-rollout", "agency", &[]);
    let checked = check_report(&mut b, &agency, "agency");
    assert!(
        checked.contains(&"locations.3.rows.created".to_owned()),
        "{checked:?}"
    );
    let links =
        b.eval("[...document.querySelectorAll('table.loc a')].map(a => a.getAttribute('href'))");
    assert_eq!(links.as_array().unwrap().len(), 4, "{links}");
    for l in links.as_array().unwrap() {
        assert!(agency.join(l.as_str().unwrap()).is_file(), "{l}");
    }
    // The request chart of a multi-location run: a line per location (the busiest few), with
    // a y-axis.
    let lines = b.eval(
        "[...document.querySelectorAll('svg[aria-label=\"requests per second by location\"] polyline')].length",
    );
    assert!(lines.as_u64().unwrap_or(0) >= 2, "{lines}");
    let axis = b.eval(
        "[...document.querySelectorAll('svg.chart text')].some(t => t.textContent.endsWith('/s'))",
    );
    assert_eq!(axis, true);
}

/// A run that spans seconds (here 10 requests a second) charts its requests per second
/// against the limit, with a y-axis.
#[test]
fn a_run_of_several_seconds_charts_its_requests_per_second_against_the_limit() {
    let sb = SandboxProc::start(
        "loc-it",
        &["--rate-max", "10", "--rate-interval-ms", "1000"],
    );
    let dir = workdir();
    let p = pipeline(dir.path(), &sb.base_url, &many_rows(40), "");
    let out = dir.path().join("o");
    assert_eq!(sb.run_pipeline(&p, &out).status.code(), Some(0));
    let mut b = Browser::start();
    b.open(&format!("file://{}", out.join("report.html").display()));
    let text = b
        .eval("document.body.innerText")
        .as_str()
        .unwrap()
        .to_owned();
    assert!(text.contains("Requests per second"), "{text}");
    let axis = b.eval(
        "[...document.querySelectorAll('svg[aria-label=\"requests per second\"] text')].map(t => t.textContent)",
    );
    assert!(
        axis.as_array()
            .unwrap()
            .iter()
            .any(|t| t.as_str().unwrap().ends_with("/s")),
        "{axis}"
    );
    assert!(b.problems().is_empty(), "{:?}", b.problems());
}

#[test]
fn the_report_command_rebuilds_the_page_and_escapes_what_the_rows_hold() {
    let sb = SandboxProc::fast("loc-it");
    let dir = workdir();
    let p = pipeline(
        dir.path(),
        &sb.base_url,
        "First Name,Email,Phone\nX,<script>alert(1)</script>,\n=HYPERLINK(\"x\"),ok@example.com,\n",
        "",
    );
    let out = dir.path().join("o");
    assert_eq!(sb.run_pipeline(&p, &out).status.code(), Some(3));
    std::fs::remove_file(out.join("report.html")).unwrap();
    let o = run(bin().arg("report").arg(&out));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    assert_eq!(
        text(&o).0.trim(),
        out.join("report.html").display().to_string()
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(!html.contains("<script>alert"), "escaped");
    let mut b = Browser::start();
    b.open(&format!("file://{}", out.join("report.html").display()));
    let text = b
        .eval("document.body.innerText")
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        text.contains("<script>alert(1)</script>"),
        "shown as text: {text}"
    );
    assert!(b.problems().is_empty(), "{:?}", b.problems());
    // Not a run folder: a clear error.
    let o = run(bin().arg("report").arg(dir.path()));
    assert_eq!(o.status.code(), Some(2));
    assert!(text_of(&o).contains("not a run folder"), "{}", text_of(&o));
}

fn text_of(o: &std::process::Output) -> String {
    text(o).1
}
