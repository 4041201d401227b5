//! The README's main job: the quickstart pipeline against the embedded sandbox.

use std::collections::{BTreeMap, BTreeSet};

use crate::util::*;

/// Row → reject code, as the sample was written (see samples/quickstart/README.md): rows with no
/// usable email or phone, duplicates, and a ragged row.
const EXPECTED_REJECTS: [(u64, &str); 5] = [
    (17, "missing_contact_key"),
    (22, "duplicate_in_file"),
    (33, "duplicate_in_file"),
    (47, "malformed_row"),
    (48, "duplicate_in_file"),
];

/// Row, column, code of the values loaded rows held that are not in their contact
/// (rejected_values.csv): each contact was loaded without that value.
const EXPECTED_VALUES: [(u64, &str, &str); 5] = [
    (12, "Email", "invalid_email"),
    (13, "Email", "invalid_email"),
    (14, "Email", "invalid_email"),
    (16, "Phone", "invalid_phone"),
    (18, "Birthday", "invalid_date"),
];

#[test]
fn quickstart_end_to_end() {
    // Arrange
    let dir = workdir();
    let out = dir.path().join("out");

    // Act
    let o = run_shipped("quickstart", &out, &["--quiet"]);

    // Assert: exit 3 (some rows rejected), exact counts.
    assert_eq!(o.status.code(), Some(3));
    let (stdout, _) = text(&o);
    assert!(
        stdout.contains(&format!("reports: {}", out.display())),
        "{stdout}"
    );
    let s = summary(&out);
    assert_eq!(s["rows"]["read"], 50);
    assert_eq!(s["rows"]["created"], 45);
    assert_eq!(s["rows"]["updated"], 0);
    assert_eq!(s["rows"]["rejected"], 5);
    assert_eq!(
        s["requests"]["sent"], 46,
        "one read of the location (phone conflicts), then one request per loaded row"
    );
    let by_code: BTreeMap<String, u64> =
        serde_json::from_value(s["rejected_by_code"].clone()).unwrap();
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for (_, c) in EXPECTED_REJECTS {
        *want.entry(c.to_owned()).or_default() += 1;
    }
    assert_eq!(by_code, want);

    // rejected.csv: original header then the reason columns; each expected row with its code.
    let rejected = read_csv(&out.join("rejected.csv"));
    let header_in = read_csv(&repo().join("samples/quickstart/contacts.csv"))[0].clone();
    let mut want_header = header_in.clone();
    want_header
        .extend(["_row", "_stage", "_code", "_message", "_hint", "_column"].map(String::from));
    assert_eq!(rejected[0], want_header);
    let got: Vec<(u64, String)> = rejected[1..]
        .iter()
        .map(|r| (r[r.len() - 6].parse().unwrap(), r[r.len() - 4].clone()))
        .collect();
    let want: Vec<(u64, String)> = EXPECTED_REJECTS
        .iter()
        .map(|(r, c)| (*r, c.to_string()))
        .collect();
    assert_eq!(got, want);
    for r in &rejected[1..] {
        assert_eq!(r.len(), want_header.len(), "reason columns aligned: {r:?}");
        assert!(
            !r[r.len() - 3].is_empty() && !r[r.len() - 2].is_empty(),
            "message and hint: {r:?}"
        );
        // The column a value problem is in (a duplicate or a ragged row names none).
        let column = r[r.len() - 1].as_str();
        assert_eq!(
            column, "",
            "a duplicate or a ragged row names no column: {r:?}"
        );
    }
    // The duplicate names the row it duplicates.
    let dup = rejected.iter().find(|r| r[r.len() - 6] == "22").unwrap();
    assert!(dup[dup.len() - 3].contains("duplicates row 2"), "{dup:?}");

    // rejected_values.csv: a bad value costs the value, not the contact; each is listed with
    // its row, column, value and reason; `n/a` (row 15) is a blank, not a bad phone.
    let values = read_csv(&out.join("rejected_values.csv"));
    assert_eq!(
        values[0],
        [
            "row",
            "column",
            "value",
            "field",
            "code",
            "message",
            "hint",
            "kept_in",
            "contact_id"
        ]
    );
    let got: Vec<(u64, &str, &str)> = values[1..]
        .iter()
        .map(|r| (r[0].parse().unwrap(), r[1].as_str(), r[4].as_str()))
        .collect();
    assert_eq!(got, EXPECTED_VALUES);
    assert!(values.iter().any(|r| r[2] == "31/12/1985"), "{values:?}");
    assert_eq!(s["values"]["reported"], 5);
    assert_eq!(s["values"]["by_code"]["invalid_email"], 3);

    // results.csv: every input row exactly once, in order.
    let results = read_csv(&out.join("results.csv"));
    let rows: Vec<u64> = results[1..].iter().map(|r| r[0].parse().unwrap()).collect();
    assert_eq!(rows, (2..=51).collect::<Vec<u64>>());
    // A likely domain typo is a warning on a loaded row, never a silent rewrite.
    let saul = results
        .iter()
        .find(|r| r[6].contains("saul.ng@gmial.com"))
        .expect("warning for the typo");
    assert_eq!(saul[1], "created");
    assert!(saul[6].contains("did you mean `gmail.com`?"), "{saul:?}");
    assert_eq!(s["warnings_by_code"]["email_domain_typo"], 1);

    // What landed in the sandbox: 45 contacts, distinct emails and phones, E.164 phones.
    let landed: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(out.join("sandbox-contacts.json")).unwrap())
            .unwrap();
    assert_eq!(landed.len(), 45);
    let emails: BTreeSet<&str> = landed.iter().filter_map(|c| c["email"].as_str()).collect();
    let with_email = landed.iter().filter(|c| c["email"].is_string()).count();
    assert_eq!(emails.len(), with_email);
    for c in &landed {
        if let Some(p) = c["phone"].as_str() {
            assert!(
                p.starts_with('+') && p[1..].chars().all(|d| d.is_ascii_digit()),
                "{p}"
            );
        }
    }
    let farid = landed
        .iter()
        .find(|c| c["email"] == "farid.haddad@example.com")
        .unwrap();
    assert_eq!(
        farid["phone"], "+442079460958",
        "GB number parsed with the row's country"
    );
}

#[test]
fn quickstart_validates() {
    let o =
        run(bin()
            .current_dir(repo())
            .args(["validate", "pipelines/quickstart.yaml", "--sandbox"]));
    assert_eq!(o.status.code(), Some(0));
    let (stdout, _) = text(&o);
    assert_eq!(stdout.matches('✓').count(), 5, "{stdout}");
    assert!(stdout.contains("✓ sample (the first 50 rows"), "{stdout}");
}

#[test]
fn every_shipped_pipeline_validates() {
    let mut n = 0;
    for entry in std::fs::read_dir(repo().join("pipelines")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            n += 1;
            let o = run(bin()
                .current_dir(repo())
                .arg("validate")
                .arg(&path)
                .arg("--sandbox"));
            assert_eq!(o.status.code(), Some(0), "{}", path.display());
        }
    }
    assert!(n >= 2);
}

#[test]
fn excel_pipeline_end_to_end() {
    let dir = workdir();
    let out = dir.path().join("out");

    let o = run(bin()
        .current_dir(repo())
        .args([
            "run",
            "pipelines/excel-import.yaml",
            "--sandbox",
            "--quiet",
            "--out",
        ])
        .arg(&out));

    assert_eq!(o.status.code(), Some(0));
    let s = summary(&out);
    assert_eq!(
        (
            s["rows"]["created"].as_u64(),
            s["rows"]["rejected"].as_u64()
        ),
        (Some(6), Some(0)),
        "a bad email or phone costs the value when the other key is good"
    );
    let values = read_csv(&out.join("rejected_values.csv"));
    let got: Vec<(&str, &str, &str)> = values[1..]
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str(), r[4].as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("9", "Email", "invalid_email"),
            ("10", "Phone", "invalid_phone")
        ],
        "spreadsheet row numbers"
    );
    let landed: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(out.join("sandbox-contacts.json")).unwrap())
            .unwrap();
    let ann = landed
        .iter()
        .find(|c| c["email"] == "ann.lee@example.com")
        .unwrap();
    assert_eq!(
        ann["phone"], "+14155552671",
        "numeric cell → digits → E.164"
    );
    assert_eq!(ann["dateOfBirth"], "1990-01-01", "serial in a date column");
    assert_eq!(ann["name"], "Ann Lee", "formula's cached value");
    let ben = landed
        .iter()
        .find(|c| c["email"] == "ben.okafor@example.com")
        .unwrap();
    assert_eq!(ben["dnd"], true, "boolean cell");
    // Eve's phone was stored as the number 415555: the hint says why it may be wrong.
    assert!(
        values[2][6].contains("stored this phone as a number"),
        "{:?}",
        values[2]
    );
}

#[test]
fn mapping_language_pipeline_end_to_end() {
    let dir = workdir();
    let out = dir.path().join("out");

    let o = run(bin()
        .current_dir(repo())
        .args([
            "run",
            "pipelines/hubspot-import.yaml",
            "--sandbox",
            "--quiet",
            "--out",
        ])
        .arg(&out));

    assert_eq!(o.status.code(), Some(0));
    let values = read_csv(&out.join("rejected_values.csv"));
    let got: Vec<(&str, &str, &str)> = values[1..]
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str(), r[4].as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("5", "State/Region", "value_not_allowed"),
            ("6", "Date of birth", "invalid_date")
        ],
        "an ISO date beside the pipeline's date_format is read (row 5); 31/04 is no date"
    );
    assert!(
        values[1][6].contains("use one of: california, new york, texas"),
        "{:?}",
        values[1]
    );
    let landed: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(out.join("sandbox-contacts.json")).unwrap())
            .unwrap();
    assert_eq!(landed.len(), 5, "every row loaded, without its bad values");
    // The one column with data that nothing maps is named, with its fill rate.
    let s = summary(&out);
    assert_eq!(
        s["unmapped_columns"],
        serde_json::json!([{"column": "Record ID", "filled": 5, "fill_percent": 100.0}])
    );
    assert!(
        text(&o)
            .0
            .contains("Record ID                        5 rows (100.0 %)"),
        "{}",
        text(&o).0
    );
    let by = |email: &str| landed.iter().find(|c| c["email"] == email).unwrap().clone();
    let chidi = by("chidi.okafor@example.com");
    assert_eq!(
        (chidi["firstName"].as_str(), chidi["lastName"].as_str()),
        (Some("Chidi"), Some("Okafor")),
        "Last, First"
    );
    assert_eq!(chidi["country"], "GB");
    assert_eq!(
        chidi["phone"], "+447911123456",
        "GB number with the mapped country"
    );
    assert_eq!(
        chidi["dateOfBirth"], "1988-02-14",
        "day-first with date_format"
    );
    assert_eq!(chidi["tags"], serde_json::json!(["customer", "open"]));
    assert_eq!(chidi["source"], "hubspot-migration");
    let tom = by("tom.obrien@example.com");
    assert_eq!(
        tom["phone"], "+15125550199",
        "extension stripped by the replace rule"
    );
    assert_eq!(tom["state"], "TX", "map keys ignore case");
    assert_eq!(tom["dnd"], false);
    assert_eq!(by("mj.garcia@example.com")["dnd"], true);
}

#[test]
fn format_json_prints_summary_json_on_stdout_and_nothing_else() {
    let dir = workdir();
    let out = dir.path().join("out");
    let o = run_shipped("quickstart", &out, &["--format", "json"]);
    assert_eq!(o.status.code(), Some(3));
    let stdout = text(&o).0;
    assert_eq!(stdout.lines().count(), 1, "one line: {stdout}");
    let printed: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(printed, summary(&out));
    assert_eq!(printed["version"], 1);
}

#[test]
fn preview_shows_cells_the_exact_body_and_rejects_without_the_network() {
    // The token variable is not set and the API address is closed: nothing is needed.
    let o = run(bin().current_dir(repo()).args([
        "preview",
        "pipelines/quickstart.yaml",
        "--rows",
        "11",
        "--format",
        "json",
    ]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let v: serde_json::Value = serde_json::from_str(&text(&o).0).unwrap();
    assert_eq!(v["version"], 1);
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 11);
    assert_eq!(rows[0]["row"], 2);
    assert_eq!(
        rows[0]["cells"][0]["column"], "First Name",
        "source column order"
    );
    assert_eq!(rows[0]["body"]["phone"], "+15125550110");
    assert_eq!(rows[0]["body"]["email"], "alice.wong@example.com");
    assert_eq!(rows[0]["body"]["locationId"], "quickstart-location");
    assert!(rows[0].get("reject").is_none());
    // Row 12's email is bad but its phone is good: the contact is loaded without the email,
    // which is shown with its reason and hint.
    assert_eq!(rows[10]["body"]["phone"], "+15125550120");
    assert!(rows[10]["body"].get("email").is_none(), "{}", rows[10]);
    assert_eq!(rows[10]["values_not_loaded"][0]["code"], "invalid_email");
    assert_eq!(rows[10]["values_not_loaded"][0]["value"], "jane.doe@");
    let o = run(bin().current_dir(repo()).args([
        "preview",
        "pipelines/quickstart.yaml",
        "--row",
        "12",
    ]));
    assert_eq!(o.status.code(), Some(0));
    let t = text(&o).0;
    assert!(
        t.contains("✗ not loaded: Email `jane.doe@` → email: `jane.doe@` is not a valid email address (invalid_email)"),
        "{t}"
    );
    assert!(t.contains("hint: write one address"), "{t}");
    assert!(t.contains("POST /contacts/upsert"), "{t}");
    // Row 17 has neither: it is the first reject, with its code, message and hint.
    let o = run(bin().current_dir(repo()).args([
        "preview",
        "pipelines/quickstart.yaml",
        "--row",
        "17",
    ]));
    let t = text(&o).0;
    assert!(
        t.contains("row 17  ✗ rejected: missing_contact_key (validate)"),
        "{t}"
    );
    assert!(!t.contains("POST /contacts/upsert"), "{t}");
    let o = run(bin().current_dir(repo()).args([
        "preview",
        "pipelines/quickstart.yaml",
        "--row",
        "999",
    ]));
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("no such data row"), "{}", text(&o).1);
}
