//! GHL as a source: exports past the 10,000-record search window, the deprecated list, incremental
//! runs, and location-to-location migration — against standalone sandbox processes.

use std::collections::BTreeSet;
use std::path::Path;

use crate::util::*;

fn export_pipeline(dir: &Path, base_url: &str, extra_source: &str) -> std::path::PathBuf {
    let yaml = format!(
        "version: 1
source:
  type: ghl
  location_id: src-loc
  base_url: {base_url}
  auth:
    token_env: IT_TOKEN
{extra_source}
validate:
  require_any: []
load:
  type: csv
  path: export.csv
  if_exists: merge
  rate_limit:
    max_requests: 1000
    interval_ms: 1000
"
    );
    let p = dir.join("export.yaml");
    std::fs::write(&p, yaml).unwrap();
    p
}

fn run_export(
    sb: &SandboxProc,
    dir: &Path,
    p: &Path,
    out: &str,
    extra: &[&str],
) -> std::process::Output {
    run(bin()
        .args(["run", "-q", "--state-dir"])
        .arg(dir.join("state"))
        .arg("--out")
        .arg(dir.join(out))
        .args(extra)
        .arg(p)
        .env("IT_TOKEN", &sb.token))
}

fn exported_ids(dir: &Path) -> Vec<String> {
    read_csv(&dir.join("export.csv"))[1..]
        .iter()
        .map(|r| r[0].clone())
        .collect()
}

#[test]
fn export_past_the_search_window_is_exact() {
    let sb = SandboxProc::start("src-loc", &[FAST, &["--seed-contacts", "10500"]].concat());
    let dir = workdir();
    let p = export_pipeline(dir.path(), &sb.base_url, "");

    let o = run_export(&sb, dir.path(), &p, "o", &[]);

    assert_eq!(o.status.code(), Some(0));
    let ids = exported_ids(dir.path());
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!((ids.len(), unique.len()), (10_500, 10_500), "no duplicates");
    let all: BTreeSet<String> = sb
        .contacts("src-loc")
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        unique.into_iter().cloned().collect::<BTreeSet<_>>(),
        all,
        "no gaps"
    );
    let s = summary(&dir.path().join("o"));
    assert_eq!(s["rows"]["exported"], 10_500);
    // The custom-fields listing, 21 full pages of 500, then one empty page (a full page cannot
    // prove it is the last).
    assert_eq!(s["requests"]["sent"], 23);
    assert_eq!(
        sb.stats()["requests_by_endpoint"]["POST /contacts/search"],
        22
    );
}

#[test]
fn deprecated_list_reads_everything_in_pages_of_100() {
    let sb = SandboxProc::start("src-loc", &[FAST, &["--seed-contacts", "450"]].concat());
    let dir = workdir();
    let p = export_pipeline(
        dir.path(),
        &sb.base_url,
        "  method: list\n  page_size: 100\n",
    );

    let o = run_export(&sb, dir.path(), &p, "o", &[]);

    assert_eq!(o.status.code(), Some(0));
    let ids = exported_ids(dir.path());
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 450);
    assert_eq!(ids.len(), 450);
    assert_eq!(sb.stats()["requests_by_endpoint"]["GET /contacts/"], 5);
}

#[test]
fn incremental_runs_read_only_what_changed() {
    let sb = SandboxProc::start("src-loc", &[FAST, &["--seed-contacts", "300"]].concat());
    let dir = workdir();
    let p = export_pipeline(
        dir.path(),
        &sb.base_url,
        "  incremental:\n    cursor: dateUpdated\n",
    );

    // Run 1: everything.
    assert_eq!(
        run_export(&sb, dir.path(), &p, "o1", &[]).status.code(),
        Some(0)
    );
    assert_eq!(exported_ids(dir.path()).len(), 300);

    // Change 3 contacts and add 2.
    let auth = format!("Bearer {}", sb.token);
    let h = [("Authorization", auth.as_str()), ("Version", "2021-07-28")];
    let contacts = sb.contacts("src-loc");
    let mut changed = BTreeSet::new();
    for c in [&contacts[5], &contacts[150], &contacts[299]] {
        let id = c["id"].as_str().unwrap();
        let (s, body) = sb.raw("PUT", &format!("/contacts/{id}"), &h, r#"{"city":"Paris"}"#);
        assert_eq!(s, 200, "{body}");
        changed.insert(id.to_owned());
    }
    for i in 0..2 {
        let body = format!(r#"{{"locationId":"src-loc","email":"new{i}@example.com"}}"#);
        let (s, answer) = sb.raw("POST", "/contacts/upsert", &h, &body);
        assert_eq!(s, 200);
        let v: serde_json::Value = serde_json::from_str(&answer).unwrap();
        changed.insert(v["contact"]["id"].as_str().unwrap().to_owned());
    }

    // Run 2: exactly the 5 changes are read, and merged into the snapshot: 302 rows, the 3
    // changed ones updated in place, nothing dropped.
    let before = std::fs::read_to_string(dir.path().join("export.csv")).unwrap();
    assert_eq!(
        run_export(&sb, dir.path(), &p, "o2", &[]).status.code(),
        Some(0)
    );
    assert_eq!(summary(&dir.path().join("o2"))["rows"]["exported"], 5);
    let ids = exported_ids(dir.path());
    assert_eq!(ids.len(), 302);
    assert!(changed.iter().all(|c| ids.contains(c)));
    let rows = read_csv(&dir.path().join("export.csv"));
    let city = rows[0].iter().position(|h| h == "city").unwrap();
    let paris: BTreeSet<String> = rows[1..]
        .iter()
        .filter(|r| r[city] == "Paris")
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(paris.len(), 3, "updated in place");
    assert_eq!(
        before.lines().nth(1),
        std::fs::read_to_string(dir.path().join("export.csv"))
            .unwrap()
            .lines()
            .nth(1),
        "unchanged rows keep their place"
    );

    // Run 3: nothing new, the snapshot stays whole. Full refresh: everything again.
    assert_eq!(
        run_export(&sb, dir.path(), &p, "o3", &[]).status.code(),
        Some(0)
    );
    assert_eq!(summary(&dir.path().join("o3"))["rows"]["exported"], 0);
    assert_eq!(exported_ids(dir.path()).len(), 302);
    assert_eq!(
        run_export(&sb, dir.path(), &p, "o4", &["--full-refresh"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(exported_ids(dir.path()).len(), 302);
}

#[test]
fn migration_between_two_locations_copies_then_updates() {
    let sb = SandboxProc::start(
        "loc-a",
        &[FAST, &["--location", "loc-b", "--seed-contacts", "60"]].concat(),
    );
    let dir = workdir();
    let yaml = std::fs::read_to_string(repo().join("pipelines/ghl-to-ghl-migration.yaml"))
        .unwrap()
        .replace(
            "    token_env: GHL_SOURCE_TOKEN",
            &format!("    token_env: IT_TOKEN\n  base_url: {}", sb.base_url),
        )
        .replace(
            "    token_env: GHL_TARGET_TOKEN",
            &format!("    token_env: IT_TOKEN\n  base_url: {}", sb.base_url),
        )
        + "  rate_limit:\n    max_requests: 1000\n    interval_ms: 1000\n";
    let p = dir.path().join("migrate.yaml");
    std::fs::write(&p, yaml).unwrap();
    let go = |out: &str| {
        run(bin()
            .args(["run", "-q", "--out"])
            .arg(dir.path().join(out))
            .arg(&p)
            .env("IT_TOKEN", &sb.token)
            .env("GHL_SOURCE_LOCATION_ID", "loc-a")
            .env("GHL_TARGET_LOCATION_ID", "loc-b"))
    };

    assert_eq!(go("o1").status.code(), Some(0));
    let a = sb.contacts("loc-a");
    let b = sb.contacts("loc-b");
    assert_eq!(b.len(), 60);
    let key = |c: &serde_json::Value| {
        (
            c["email"].clone(),
            c["phone"].clone(),
            c["tags"].clone(),
            c["name"].clone(),
        )
    };
    let mut ka: Vec<_> = a.iter().map(key).collect();
    let mut kb: Vec<_> = b.iter().map(key).collect();
    ka.sort_by_key(|k| k.0.to_string());
    kb.sort_by_key(|k| k.0.to_string());
    assert_eq!(ka, kb, "fields and tags carried over");
    // Custom fields: same values in B, under B's own field ids (translated by fieldKey).
    let cf = |c: &serde_json::Value, id: &str| {
        c["customFields"]
            .as_array()
            .and_then(|a| a.iter().find(|v| v["id"] == id))
            .map(|v| v["value"].clone())
    };
    for ca in &a {
        let cb = b.iter().find(|c| c["email"] == ca["email"]).unwrap();
        assert_eq!(
            cf(cb, "loc-b-cf-membership"),
            cf(ca, "cf-membership"),
            "{cb}"
        );
        assert_eq!(cf(cb, "loc-b-cf-ltv"), cf(ca, "cf-ltv"), "{cb}");
        assert!(
            cf(cb, "loc-b-cf-ltv").is_some_and(|v| v.is_number()),
            "MONETORY written as a number"
        );
        // Notes: every 5th seeded contact has one; it arrives on B's copy.
        let notes_of = |id: &str| {
            sb.api_get(&format!("/contacts/{id}/notes"))["notes"]
                .as_array()
                .unwrap()
                .len()
        };
        let (na, nb) = (
            notes_of(ca["id"].as_str().unwrap()),
            notes_of(cb["id"].as_str().unwrap()),
        );
        assert_eq!(na, nb, "{}", ca["email"]);
        // Tasks: every 10th has one (every 20th completed); title, due date and state arrive.
        let tasks_of = |id: &str| {
            let mut t: Vec<(serde_json::Value, serde_json::Value, serde_json::Value)> = sb
                .api_get(&format!("/contacts/{id}/tasks"))["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| {
                    (
                        t["title"].clone(),
                        t["dueDate"].clone(),
                        t["completed"].clone(),
                    )
                })
                .collect();
            t.sort_by_key(|x| x.0.to_string());
            t
        };
        assert_eq!(
            tasks_of(ca["id"].as_str().unwrap()),
            tasks_of(cb["id"].as_str().unwrap()),
            "{}",
            ca["email"]
        );
    }
    let with_tasks = a
        .iter()
        .filter(|c| {
            !sb.api_get(&format!("/contacts/{}/tasks", c["id"].as_str().unwrap()))["tasks"]
                .as_array()
                .unwrap()
                .is_empty()
        })
        .count();
    assert_eq!(with_tasks, 6, "the seed has tasks to carry");

    assert_eq!(go("o2").status.code(), Some(0));
    assert_eq!(
        sb.contacts("loc-b").len(),
        60,
        "re-run updates, never duplicates"
    );
    assert_eq!(
        summary(&dir.path().join("o2"))["rows"]["unchanged"],
        60,
        "the journal saw them applied"
    );
}

#[test]
fn custom_fields_by_field_key_and_includes_are_columns() {
    let sb = SandboxProc::start("src-loc", &[FAST, &["--seed-contacts", "40"]].concat());
    let dir = workdir();
    let p = export_pipeline(
        dir.path(),
        &sb.base_url,
        "  include: [notes, tasks, appointments]\n",
    );

    let o = run_export(&sb, dir.path(), &p, "o", &[]);

    assert_eq!(o.status.code(), Some(0));
    let rows = read_csv(&dir.path().join("export.csv"));
    let h = &rows[0];
    let col = |name: &str| {
        h.iter()
            .position(|c| c == name)
            .unwrap_or_else(|| panic!("{name} in {h:?}"))
    };
    let (level, ltv, notes, tasks, appts) = (
        col("contact.membership_level"),
        col("contact.lifetime_value"),
        col("notes"),
        col("tasks"),
        col("appointments"),
    );
    let seed = |n: usize| {
        rows.iter()
            .find(|r| r[4] == format!("seed{n}@example.com"))
            .unwrap()
    };
    assert_eq!(
        (seed(0)[level].as_str(), seed(3)[ltv].as_str()),
        ("gold", "30")
    );
    let note: serde_json::Value = serde_json::from_str(&seed(0)[notes]).unwrap();
    assert_eq!(note[0]["body"], "Called Seed0");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&seed(0)[tasks]).unwrap()[0]["title"],
        "Follow up Seed0"
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&seed(0)[appts]).unwrap()[0]["status"],
        "booked"
    );
    assert_eq!(seed(1)[notes], "[]");
    // One listing, one page, three requests per contact.
    assert_eq!(
        summary(&dir.path().join("o"))["requests"]["sent"],
        1 + 1 + 40 * 3
    );
    let defs: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("o/custom-fields.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(defs[0]["name"], "Membership level");
}

#[test]
fn source_read_failure_is_fatal_and_reported() {
    let sb = SandboxProc::start("src-loc", &[FAST, &["--seed-contacts", "10"]].concat());
    let dir = workdir();
    let go = |p: &Path| {
        run(bin()
            .args(["run", "-q", "--state-dir"])
            .arg(dir.path().join("state"))
            .arg("--out")
            .arg(dir.path().join("o"))
            .arg(p)
            .env("IT_TOKEN", "wrong-token"))
    };

    // Refused while listing custom fields: says which scope is needed.
    let o = go(&export_pipeline(dir.path(), &sb.base_url, ""));
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o).1;
    assert!(
        err.contains("custom fields of GHL location src-loc: HTTP 401"),
        "{err}"
    );
    assert!(err.contains("locations/customFields.readonly"), "{err}");

    // Refused while reading pages.
    let o = go(&export_pipeline(
        dir.path(),
        &sb.base_url,
        "  custom_fields: false\n",
    ));
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o).1;
    assert!(
        err.contains("reading GHL location src-loc: HTTP 401"),
        "{err}"
    );
    assert!(
        !dir.path().join("export.csv").exists(),
        "an incomplete export is not put in place"
    );
}
