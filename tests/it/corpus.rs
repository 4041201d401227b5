//! Real CRM exports end to end, as a new user goes: `init` guesses the pipeline, `validate`
//! passes, `run --sandbox` loads every row that has a usable email or phone — and every
//! non-empty cell of the file is sent or reported (tests/fixtures/crm, written by its make.py
//! from the headers of the CRM export reference).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use ghl_client::fields::ContactField;
use ghl_import::extract::{SourceItem, SourceReader};

use crate::util::*;

fn expected() -> serde_json::Value {
    let path = repo().join("tests/fixtures/crm/expected.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The cells of the file as the pipeline reads them (its encoding, the workbook's cells).
fn rows_of(p: &ghl_import::config::Pipeline) -> (Vec<String>, Vec<Vec<String>>) {
    let reader = SourceReader::open(&p.source).unwrap();
    let headers = reader.headers().to_vec();
    let rows = reader
        .map(|i| match i {
            SourceItem::Row(r) => r.to_vec(),
            SourceItem::Malformed { raw, .. } => raw.to_vec(),
        })
        .collect();
    (headers, rows)
}

fn blank(c: &str) -> bool {
    c.trim().is_empty() || ghl_import::transform::normalize::is_empty_marker(c)
}

/// The values a cell holds for a field: an email or phone cell may hold several (` ::: `).
fn values_in(field: ContactField, cell: &str) -> usize {
    match field {
        ContactField::Email | ContactField::Phone => {
            cell.split(" ::: ").filter(|v| !blank(v)).count()
        }
        _ => usize::from(!blank(cell)),
    }
}

fn has(contact: &serde_json::Value, field: ContactField) -> bool {
    match &contact[field.api_name()] {
        serde_json::Value::Null => false,
        serde_json::Value::String(s) => !s.is_empty(),
        serde_json::Value::Array(a) => !a.is_empty(),
        _ => true,
    }
}

fn check(file: &str) {
    let want = &expected()[file];
    let dir = workdir();
    let yaml = dir.path().join("p.yaml");
    let src = repo().join("tests/fixtures/crm").join(file);

    // init, then validate, then run: exit codes as a new user sees them.
    let o = run(bin().arg("init").arg(&src).arg("-o").arg(&yaml));
    assert_eq!(o.status.code(), Some(0), "init {file}: {}", text(&o).1);
    let v = run(bin().arg("validate").arg(&yaml).arg("--sandbox"));
    assert_eq!(v.status.code(), Some(0), "validate {file}: {}", text(&v).0);
    let out = dir.path().join("o");
    let r = run(bin()
        .args(["run", "-q", "--sandbox", "--out"])
        .arg(&out)
        .arg(&yaml));
    assert_eq!(r.status.code(), Some(3), "run {file}: {}", text(&r).1);

    let text_yaml = std::fs::read_to_string(&yaml).unwrap();
    if let Some(enc) = want["encoding"].as_str() {
        assert!(
            text_yaml.contains(&format!("encoding: {enc}")),
            "{text_yaml}"
        );
    }
    let p = ghl_import::config::parse_str(&yaml, &text_yaml, |_| None).unwrap();
    let mapped: BTreeMap<ContactField, Vec<String>> = p
        .mapping
        .iter()
        .map(|(f, r)| {
            // Matched as the pipeline matches them: ignoring surrounding whitespace.
            let cols = r
                .input
                .columns()
                .iter()
                .map(|c| c.trim().to_owned())
                .collect();
            (*f, cols)
        })
        .collect();
    // Every email and phone column of the export is mapped, and nothing else to those fields.
    for (field, name) in [
        (ContactField::Email, "email"),
        (ContactField::Phone, "phone"),
    ] {
        let got: BTreeSet<&str> = mapped[&field].iter().map(|s| s.as_str()).collect();
        let wanted: BTreeSet<&str> = want["recognised"][name]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(got, wanted, "{file}: {name} columns");
    }

    // Each row's fate: loaded when it has a usable identity, else the reason.
    let results = read_csv(&out.join("results.csv"));
    let fates: Vec<&str> = want["fates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(results.len() - 1, fates.len(), "{file}: one result per row");
    for (res, fate) in results[1..].iter().zip(&fates) {
        let (outcome, code) = (res[1].as_str(), res[4].as_str());
        let ok = match *fate {
            "load" => outcome == "created",
            "dup" => code == "duplicate_in_file",
            "conflict" => code == "phone_conflict",
            _ => ["missing_contact_key", "invalid_email", "invalid_phone"].contains(&code),
        };
        assert!(ok, "{file}: row {} should be {fate}: {res:?}", res[0]);
    }
    let s = summary(&out);
    let loads = fates.iter().filter(|f| **f == "load").count();
    assert_eq!(s["rows"]["created"], loads as u64, "{file}");

    // Every non-empty cell is sent or reported: a column with data is mapped or listed as
    // unmapped; a mapped cell of a loaded row is in its contact or in rejected_values.csv.
    let (headers, rows) = rows_of(&p);
    let unmapped: BTreeSet<&str> = s["unmapped_columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["column"].as_str().unwrap())
        .collect();
    let mapped_cols: BTreeSet<&str> = mapped.values().flatten().map(|s| s.as_str()).collect();
    for (i, h) in headers.iter().enumerate() {
        let filled = rows.iter().any(|r| r.get(i).is_some_and(|c| !blank(c)));
        if filled {
            assert!(
                mapped_cols.contains(h.trim()) || unmapped.contains(h.trim()),
                "{file}: column `{h}` has data but is neither mapped nor listed as unmapped"
            );
        }
    }
    let contacts: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(out.join("sandbox-contacts.json")).unwrap())
            .unwrap();
    let by_id: BTreeMap<&str, &serde_json::Value> = contacts
        .iter()
        .map(|c| (c["id"].as_str().unwrap(), c))
        .collect();
    let mut reported: BTreeMap<(String, String), usize> = BTreeMap::new();
    for v in &read_csv(&out.join("rejected_values.csv"))[1..] {
        *reported.entry((v[0].clone(), v[3].clone())).or_default() += 1;
    }
    let col = |name: &str| headers.iter().position(|h| h.trim() == name).unwrap();
    let (mut cells, mut sent, mut listed) = (0, 0, 0);
    for (res, row) in results[1..].iter().zip(&rows) {
        if res[1] != "created" {
            continue; // a rejected row is whole in rejected.csv
        }
        let contact = by_id[res[2].as_str()];
        for (field, cols) in &mapped {
            let n: usize = cols.iter().map(|c| values_in(*field, &row[col(c)])).sum();
            if n == 0 {
                continue;
            }
            let here = usize::from(has(contact, *field));
            let told = reported
                .get(&(res[0].clone(), field.api_name().to_owned()))
                .copied()
                .unwrap_or(0);
            assert_eq!(
                n,
                here + told,
                "{file}: row {} {field:?}: {n} values, {here} sent, {told} reported",
                res[0]
            );
            (cells, sent, listed) = (cells + n, sent + here, listed + told);
        }
    }
    assert!(cells > 0 && cells == sent + listed, "{file}");
}

macro_rules! exports {
    ($($name:ident: $file:literal,)*) => {$(
        #[test]
        fn $name() {
            check($file);
        }
    )*};
}

exports! {
    hubspot_contacts: "hubspot-contacts.csv",
    salesforce_contacts: "salesforce-contacts.csv",
    zoho_contacts: "zoho-contacts.csv",
    pipedrive_people: "pipedrive-people.csv",
    mailchimp_audience: "mailchimp-subscribed.csv",
    outlook_windows_1252: "outlook-contacts-cp1252.csv",
    google_contacts: "google-contacts.csv",
    google_contacts_shift_jis: "google-contacts-shiftjis.csv",
    ghl_own_export: "ghl-contacts.csv",
    keap_contacts: "keap-contacts.csv",
    dynamics_workbook: "dynamics-contacts.xlsx",
}

#[test]
fn the_corpus_has_every_crm_the_issue_names() {
    let e = expected();
    assert!(e.as_object().unwrap().len() >= 10);
    assert!(Path::new(&repo().join("tests/fixtures/crm/dynamics-contacts.xlsx")).exists());
}
