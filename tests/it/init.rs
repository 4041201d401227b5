//! `ghl-import init`: a pipeline guessed from a file validates and runs.

use crate::util::*;

#[test]
fn init_guesses_a_pipeline_that_validates_and_runs() {
    let dir = workdir();
    let out = dir.path().join("pipelines/hubspot.yaml");

    let o = run(bin()
        .arg("init")
        .arg(repo().join("samples/hubspot/contacts.csv"))
        .arg("-o")
        .arg(&out));

    assert_eq!(o.status.code(), Some(0));
    let yaml = std::fs::read_to_string(&out).unwrap();
    for line in [
        "  email: E-mail Address",
        "  phone: Mobile Phone Number",
        "  name: Full Name",
        "  dateOfBirth: {column: Date of birth, date_format: \"%d/%m/%Y\"}",
    ] {
        assert!(yaml.contains(line), "missing `{line}` in\n{yaml}");
    }
    // An email opt-out is consent for one channel, not GHL's dnd (every channel): it is left
    // for the user to map, never guessed.
    assert!(!yaml.contains("\n  dnd:"), "{yaml}");
    assert!(yaml.contains("#   Marketing emails opted out"), "{yaml}");
    assert!(
        yaml.contains("#   Record ID"),
        "unmapped columns are listed"
    );
    let v = run(bin().arg("validate").arg(&out).arg("--sandbox"));
    assert_eq!(v.status.code(), Some(0));
    let r = run(bin()
        .args(["run", "-q", "--sandbox", "--out"])
        .arg(dir.path().join("o"))
        .arg(&out));
    assert_eq!(
        r.status.code(),
        Some(0),
        "runs; bad dates cost the date, not the contact"
    );
    let s = summary(&dir.path().join("o"));
    assert_eq!(s["rows"]["created"], 5, "every row has an email");
    // One date is not a date at all (31/04); the ISO one beside the day-first ones is read.
    assert_eq!(s["values"]["by_code"]["invalid_date"], 1, "{s}");

    // An existing file is not overwritten without --force.
    let again = run(bin()
        .arg("init")
        .arg(repo().join("samples/hubspot/contacts.csv"))
        .arg("-o")
        .arg(&out));
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again).1.contains("use --force"));
    let forced = run(bin()
        .arg("init")
        .arg(repo().join("samples/hubspot/contacts.csv"))
        .arg("-o")
        .arg(&out)
        .arg("--force"));
    assert_eq!(forced.status.code(), Some(0));
}

#[test]
fn init_on_a_workbook_declares_serial_date_columns() {
    let dir = workdir();
    let out = dir.path().join("xl.yaml");
    let o = run(bin()
        .arg("init")
        .arg(repo().join("samples/excel/contacts.xlsx"))
        .arg("-o")
        .arg(&out));
    assert_eq!(o.status.code(), Some(0));
    let yaml = std::fs::read_to_string(&out).unwrap();
    assert!(yaml.contains("  type: excel"), "{yaml}");
    assert!(yaml.contains("  date_columns: [Birthday]"), "{yaml}");
    let r = run(bin()
        .args(["run", "-q", "--sandbox", "--out"])
        .arg(dir.path().join("o"))
        .arg(&out));
    assert_eq!(r.status.code(), Some(0));
    let s = summary(&dir.path().join("o"));
    assert_eq!(s["rows"]["created"], 6);
    assert_eq!(
        s["values"]["reported"], 2,
        "a bad email and a bad phone: {s}"
    );
}
