//! Unit tests of mapping and row validation.

use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::config::parse_str;

fn pipeline(extra: &str) -> Pipeline {
    let text = format!(
        "version: 1\nsource:\n  type: csv\n  path: x.csv\ntarget:\n  location_id: L\n  auth:\n    token_env: T\n\
         mapping:\n  email: Email\n  phone: Phone\n  firstName: first name\n  country: Country\n  tags: Tags\n  dnd: DND\n{extra}"
    );
    parse_str(Path::new("p.yaml"), &text, |_| None).unwrap()
}

fn headers() -> Headers {
    Arc::from(
        ["Email", "Phone", "First Name", "Country", "Tags", "DND"]
            .map(String::from)
            .to_vec(),
    )
}

fn rec(cells: [&str; 6]) -> Record {
    Record::new(2, cells.map(String::from).to_vec())
}

#[test]
fn maps_and_normalises_a_good_row() {
    let t = Transformer::new(
        &pipeline("validate:\n  phone_default_region: US\n"),
        &headers(),
    )
    .unwrap();
    let p = t
        .apply(&rec([
            " Ann@X.COM ",
            "(415) 555-2671",
            " Ann ",
            "",
            "a;b",
            "no",
        ]))
        .unwrap();
    assert_eq!(p.body.location_id, "L");
    assert_eq!(p.body.email.as_deref(), Some("ann@x.com"));
    assert_eq!(p.body.phone.as_deref(), Some("+14155552671"));
    assert_eq!(p.body.first_name.as_deref(), Some("Ann"));
    assert_eq!(p.body.tags, Some(vec!["a".into(), "b".into()]));
    assert_eq!(p.body.dnd, Some(false));
    assert_eq!(p.body.country, None);
}

#[test]
fn row_country_sets_the_phone_region() {
    let t = Transformer::new(
        &pipeline("validate:\n  phone_default_region: US\n"),
        &headers(),
    )
    .unwrap();
    let p = t
        .apply(&rec(["", "020 7946 0958", "", "gb", "", ""]))
        .unwrap();
    assert_eq!(p.body.phone.as_deref(), Some("+442079460958"));
    assert_eq!(p.body.country.as_deref(), Some("GB"));
}

#[test]
fn all_problems_of_a_row_are_reported_with_the_first_code() {
    let t = Transformer::new(
        &pipeline("validate:\n  phone_default_region: US\n"),
        &headers(),
    )
    .unwrap();
    let e = t
        .apply(&rec(["not-an-email", "n/a", "", "", "", ""]))
        .unwrap_err();
    assert_eq!(e.code, codes::INVALID_EMAIL);
    assert!(
        e.message.contains("not-an-email") && e.message.contains("n/a"),
        "{}",
        e.message
    );
}

#[test]
fn neither_email_nor_phone_is_missing_contact_key() {
    let t = Transformer::new(&pipeline(""), &headers()).unwrap();
    let e = t.apply(&rec(["", " ", "Ann", "", "", ""])).unwrap_err();
    assert_eq!(e.code, codes::MISSING_CONTACT_KEY);
    assert_eq!(e.stage, Stage::Validate);
}

#[test]
fn unknown_column_is_a_config_error_with_suggestion() {
    let p = pipeline("");
    let h: Headers = Arc::from(
        ["Email", "Phon", "First Name", "Country", "Tags", "DND"]
            .map(String::from)
            .to_vec(),
    );
    let e = Transformer::new(&p, &h).unwrap_err().to_string();
    assert!(e.contains("mapping.phone: column `Phone` is not in"), "{e}");
    assert!(e.contains("did you mean `Phon`?"), "{e}");
}
