//! Custom fields written by fieldKey or name: resolved against the target location, coerced by
//! type, bad values rejected per row, unknown fields refused before anything is sent.

use crate::util::*;

const SEED: &str = r#"{"loc-it": {"customFields": [
  {"id": "f-level", "name": "Membership Level", "fieldKey": "contact.membership_level", "dataType": "SINGLE_OPTIONS", "picklistOptions": ["Gold", "Silver"]},
  {"id": "f-ltv", "name": "Lifetime value", "fieldKey": "contact.lifetime_value", "dataType": "MONETORY"},
  {"id": "f-joined", "name": "Joined", "fieldKey": "contact.joined", "dataType": "DATE"},
  {"id": "f-int", "name": "Interests", "fieldKey": "contact.interests", "dataType": "MULTIPLE_OPTIONS", "picklistOptions": ["Yoga", "Running", "Chess"]},
  {"id": "f-note", "name": "Note", "fieldKey": "contact.note", "dataType": "LARGE_TEXT"}
], "contacts": []}}"#;

const CSV: &str = "First Name,Email,Phone,Level,LTV,Joined,Interests,Note
Ann,ann@example.com,,gold,\"$1,200.50\",03/11/2021,\"yoga; chess\",Likes calls
Ben,ben@example.com,,Bronze,10,01/01/2020,,
Cy,cy@example.com,,Silver,ten,01/01/2020,,
Di,di@example.com,,,,,,
";

fn setup(custom: &str) -> (SandboxProc, tempfile::TempDir, std::path::PathBuf) {
    let dir = workdir();
    let sb = SandboxProc::seeded("loc-it", dir.path(), SEED);
    let extra = format!("load:\n  concurrency: 1\ncustom_fields:\n{custom}");
    let p = pipeline(dir.path(), &sb.base_url, CSV, &extra);
    (sb, dir, p)
}

#[test]
fn values_are_resolved_coerced_and_checked() {
    let (sb, dir, p) = setup(
        "  contact.membership_level: Level\n  Lifetime Value: LTV\n  joined: {column: Joined, date_format: \"%d/%m/%Y\"}\n  contact.interests: Interests\n  Note: Note\n",
    );

    let o = sb.run_pipeline(&p, &dir.path().join("o"));

    // A bad custom value costs the value, not the contact: both rows load without it, and
    // each value is reported with its row, column, field and reason.
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    assert_eq!(read_csv(&dir.path().join("o/rejected.csv")).len(), 1);
    let values = read_csv(&dir.path().join("o/rejected_values.csv"));
    let got: Vec<[&str; 5]> = values[1..]
        .iter()
        .map(|r| [&*r[0], &*r[1], &*r[2], &*r[3], &*r[4]])
        .collect();
    assert_eq!(
        got,
        [
            [
                "3",
                "Level",
                "Bronze",
                "custom_fields.contact.membership_level",
                "invalid_option"
            ],
            [
                "4",
                "LTV",
                "ten",
                "custom_fields.contact.lifetime_value",
                "invalid_number"
            ],
        ]
    );
    assert!(values[1][6].contains("Gold, Silver"), "{:?}", values[1]);
    let ben = sb.contact_by_email("loc-it", "ben@example.com");
    let ids: Vec<&str> = ben["customFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert!(!ids.contains(&"f-level") && ids.contains(&"f-ltv"), "{ben}");
    let summary = summary(&dir.path().join("o"));
    assert_eq!(summary["values"]["by_code"]["invalid_option"], 1);
    assert_eq!(summary["values"]["reported"], 2);
    let ann = sb.contact_by_email("loc-it", "ann@example.com");
    let cf = |id: &str| {
        ann["customFields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["id"] == id)
            .unwrap()["value"]
            .clone()
    };
    assert_eq!(
        cf("f-level"),
        "Gold",
        "option matched case-insensitively, canonical spelling sent"
    );
    assert_eq!(cf("f-ltv"), 1200.5);
    assert_eq!(cf("f-joined"), "2021-11-03");
    assert_eq!(cf("f-int"), serde_json::json!(["Yoga", "Chess"]));
    assert_eq!(cf("f-note"), "Likes calls");
    let di = sb.contact_by_email("loc-it", "di@example.com");
    assert!(
        di.get("customFields").is_none(),
        "empty cells send nothing: {di}"
    );
}

#[test]
fn unknown_custom_field_is_a_config_error_before_any_write() {
    let (sb, dir, p) = setup("  contact.membershp_level: Level\n");

    let o = sb.run_pipeline(&p, &dir.path().join("o"));

    assert_eq!(o.status.code(), Some(2));
    let err = text(&o).1;
    assert!(
        err.contains("custom_fields.contact.membershp_level: location loc-it has no custom field"),
        "{err}"
    );
    assert!(
        err.contains("did you mean `contact.membership_level`?"),
        "{err}"
    );
    assert_eq!(
        sb.stats()["requests_by_endpoint"].get("POST /contacts/upsert"),
        None
    );
}

#[test]
fn validate_live_asks_the_location_for_the_token_the_fields_and_the_allowance() {
    let (sb, _dir, p) = setup("  contact.membership_level: Level\n  Lifetime Value: LTV\n");
    let validate = |extra: &[&str]| {
        run(bin()
            .arg("validate")
            .args(extra)
            .arg(&p)
            .env("IT_TOKEN", &sb.token))
    };
    let o = validate(&["--live", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).0);
    let v: serde_json::Value = serde_json::from_str(&text(&o).0).unwrap();
    assert_eq!(
        (v["version"].as_u64(), v["ok"].as_bool()),
        (Some(1), Some(true)),
        "{v}"
    );
    let phases: Vec<&str> = v["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    for want in [
        "pipeline",
        "source",
        "mapping",
        "environment",
        "scopes",
        "token",
        "custom_fields",
        "allowance",
    ] {
        assert!(phases.contains(&want), "{want} in {phases:?}");
    }
    let line = |phase: &str| {
        v["phases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["phase"] == phase)
            .unwrap()["message"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(line("custom_fields").contains("2 of 2 resolved"), "{v}");
    assert!(line("allowance").contains("4 rows"), "{v}");
    let upserts = sb.stats()["requests_by_endpoint"]
        .get("POST /contacts/upsert")
        .cloned();
    assert_eq!(upserts, None, "validate sends no write");

    // A field the location does not have, and a refused token: ✗ lines, exit 2.
    let bad = std::fs::read_to_string(&p)
        .unwrap()
        .replace("Lifetime Value: LTV", "Lifetime Valu: LTV");
    std::fs::write(&p, bad).unwrap();
    let o = validate(&["--live"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).0.contains("✗ custom fields"), "{}", text(&o).0);
    let o = run(bin()
        .args(["validate", "--live"])
        .arg(&p)
        .env("IT_TOKEN", "not-the-token"));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o)
            .0
            .contains("✗ target: location loc-it refused the read"),
        "{}",
        text(&o).0
    );
    assert!(
        !text(&o).1.contains("not-the-token"),
        "the token is never shown"
    );
}
