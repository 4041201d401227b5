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
    // Neither key is usable: the row is rejected with both problems, the first one's code.
    let e = t
        .apply(&rec(["not-an-email", "12", "", "", "", ""]))
        .unwrap_err();
    assert_eq!(e.code, codes::INVALID_EMAIL);
    assert!(
        e.message.contains("not-an-email") && e.message.contains("`12`"),
        "{}",
        e.message
    );
    assert_eq!(e.column.as_deref(), Some("Email, Phone"));
}

#[test]
fn a_bad_optional_value_is_dropped_and_reported_while_the_contact_loads() {
    let t = Transformer::new(
        &pipeline("validate:\n  phone_default_region: US\n"),
        &headers(),
    )
    .unwrap();
    // A bad email with a good phone: the phone is the identity, the email is reported.
    let p = t
        .apply(&rec([
            "ann@",
            "(415) 555-2671",
            "Ann",
            "Narnia",
            "",
            "perhaps",
        ]))
        .unwrap();
    assert_eq!(p.body.email, None);
    assert_eq!(p.body.phone.as_deref(), Some("+14155552671"));
    assert_eq!((p.body.country.as_deref(), p.body.dnd), (None, None));
    let got: Vec<(&str, &str, &str, &str)> = p
        .dropped
        .iter()
        .map(|d| {
            (
                d.field.as_str(),
                d.column.as_str(),
                d.value.as_str(),
                d.code,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("country", "Country", "Narnia", codes::INVALID_COUNTRY),
            ("email", "Email", "ann@", codes::INVALID_EMAIL),
            ("dnd", "DND", "perhaps", codes::INVALID_BOOLEAN),
        ]
    );
    // All or nothing, globally or per field.
    let strict = Transformer::new(
        &pipeline("validate:\n  phone_default_region: US\n  invalid_values: reject_row\n"),
        &headers(),
    )
    .unwrap();
    let e = strict
        .apply(&rec([
            "ann@x.co",
            "(415) 555-2671",
            "Ann",
            "",
            "",
            "perhaps",
        ]))
        .unwrap_err();
    assert_eq!(e.code, codes::INVALID_BOOLEAN);
    let text = "version: 1\nsource:\n  type: csv\n  path: x.csv\ntarget:\n  location_id: L\n  auth:\n    token_env: T\n\
         mapping:\n  email: Email\n  phone: Phone\n  firstName: first name\n  country: Country\n  tags: Tags\n  \
         dnd: {column: DND, invalid: reject_row}\n";
    let per_field = Transformer::new(
        &parse_str(Path::new("p.yaml"), text, |_| None).unwrap(),
        &headers(),
    )
    .unwrap();
    assert!(per_field
        .apply(&rec(["ann@x.co", "", "", "Narnia", "", ""]))
        .is_ok());
    assert_eq!(
        per_field
            .apply(&rec(["ann@x.co", "", "", "", "", "perhaps"]))
            .unwrap_err()
            .code,
        codes::INVALID_BOOLEAN
    );
}

#[test]
fn empty_markers_are_blanks_not_values() {
    let t = Transformer::new(
        &pipeline("validate:\n  phone_default_region: US\n"),
        &headers(),
    )
    .unwrap();
    let p = t
        .apply(&rec(["ann@x.co", "N/A", "-", "null", "", "0/0/00"]))
        .unwrap();
    assert_eq!(
        (p.body.phone, p.body.first_name, p.body.dnd),
        (None, None, None)
    );
    assert!(p.dropped.is_empty(), "{:?}", p.dropped);
}

#[test]
fn first_of_takes_the_first_valid_column_and_keeps_the_others() {
    let text = "version: 1\nsource:\n  type: csv\n  path: x.csv\ntarget:\n  location_id: L\n  auth:\n    token_env: T\n\
         mapping:\n  email: Email\n  phone: {first_of: [Phone, Mobile, Work], others: note}\n\
         validate:\n  phone_default_region: US\n";
    let h: Headers = Arc::from(
        ["Email", "Phone", "Mobile", "Work"]
            .map(String::from)
            .to_vec(),
    );
    let t = Transformer::new(&parse_str(Path::new("p.yaml"), text, |_| None).unwrap(), &h).unwrap();
    let r = |cells: [&str; 4]| t.apply(&Record::new(2, cells.map(String::from).to_vec()));
    let p = r(["a@x.co", "12", "(415) 555-2671", "415.555.2671"]).unwrap();
    assert_eq!(p.body.phone.as_deref(), Some("+14155552671"));
    assert_eq!(
        p.dropped.len(),
        1,
        "the same number twice is one: {:?}",
        p.dropped
    );
    assert_eq!(
        (p.dropped[0].code, p.dropped[0].column.as_str()),
        (codes::INVALID_PHONE, "Phone")
    );
    let p = r(["", "", "(415) 555-2671", "(212) 555-0100"]).unwrap();
    assert_eq!(p.body.phone.as_deref(), Some("+14155552671"));
    assert_eq!(p.dropped[0].code, codes::EXTRA_VALUE);
    assert_eq!(p.dropped[0].kept_in, Some(KEPT_IN_NOTE));
    assert_eq!(
        p.notes,
        vec![(
            Some(KEPT_NOTE_TITLE.to_owned()),
            "Work: (212) 555-0100".to_owned()
        )]
    );
    // No usable phone and no email: rejected with the phones' problem.
    assert_eq!(
        r(["", "12", "", ""]).unwrap_err().code,
        codes::INVALID_PHONE
    );
    // Google's ` ::: ` multi-values: each value is a candidate, in a first_of or a plain column.
    let p = r([
        "a@x.co ::: b@y.co",
        "(415) 555-2671 ::: (212) 555-0100",
        "",
        "",
    ])
    .unwrap();
    assert_eq!(p.body.email.as_deref(), Some("a@x.co"));
    assert_eq!(p.body.phone.as_deref(), Some("+14155552671"));
    let extra: Vec<(&str, &str)> = p
        .dropped
        .iter()
        .map(|d| (d.column.as_str(), d.value.as_str()))
        .collect();
    assert_eq!(extra, [("Email", "b@y.co"), ("Phone", "(212) 555-0100")]);
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

mod properties {
    use super::super::dedup::Dedup;
    use super::super::normalize;
    use crate::config::Keep;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Normalising an accepted email again changes nothing.
        #[test]
        fn email_normalisation_is_idempotent(local in "[A-Za-z0-9._%+-]{1,20}", domain in "[A-Za-z0-9-]{1,15}", tld in "[A-Za-z]{2,6}", pad in " {0,3}") {
            let raw = format!("{pad}{local}@{domain}.{tld}{pad}");
            if let Ok(Some(once)) = normalize::email(&raw) {
                prop_assert_eq!(normalize::email(&once).unwrap(), Some(once.clone()));
                prop_assert_eq!(once.clone(), once.to_lowercase());
            }
        }

        /// A number in E.164 normalises to itself, whatever the default region.
        #[test]
        fn phone_normalisation_is_idempotent(a in 200u32..1000, b in 200u32..1000, c in 0u32..10000, gb in any::<bool>()) {
            let raw = format!("({a:03}) {b:03}-{c:04}");
            let region = Some(phonenumber::country::Id::US);
            if let Ok(Some(once)) = normalize::phone(&raw, region) {
                let other = if gb { Some(phonenumber::country::Id::GB) } else { region };
                prop_assert_eq!(normalize::phone(&once, other).unwrap(), Some(once.clone()));
            }
        }

        /// Dedup (keep first) rejects exactly the repeats: every key's first row is kept, and
        /// a rejected row names the row it repeats.
        #[test]
        fn dedup_never_loses_a_non_duplicate(keys in proptest::collection::vec(0u8..20, 0..200)) {
            let mut d = Dedup::new(true, Keep::First, false, None);
            let mut first_seen = std::collections::HashMap::new();
            for (i, k) in keys.iter().enumerate() {
                let row = i as u64 + 2;
                let key = format!("user{k}@x.co");
                let body = ghl_client::types::UpsertContact { email: Some(key.clone()), ..Default::default() };
                let res = d.check(&body, row);
                match first_seen.get(k) {
                    None => {
                        prop_assert!(res.is_ok());
                        first_seen.insert(*k, row);
                    }
                    Some(first) => {
                        let e = res.unwrap_err();
                        let expected = format!("duplicates row {first}");
                        prop_assert!(e.message.contains(&expected));
                    }
                }
            }
        }
    }
}

#[test]
fn batches_keep_input_order_across_chunk_boundaries() {
    let t = Transformer::new(
        &pipeline("validate:\n  phone_default_region: US\n"),
        &headers(),
    )
    .unwrap();
    let n = super::BATCH_ROWS * 2 + 17;
    let rows: Vec<Record> = (0..n)
        .map(|i| {
            let mut r = rec([&format!("u{i}@x.co"), "", "", "", "", ""]);
            r.row = i as u64 + 2;
            r
        })
        .collect();
    let out = super::apply_batch(&t, &rows);
    assert_eq!(out.len(), n);
    for (i, r) in out.iter().enumerate() {
        assert_eq!(
            r.as_ref().unwrap().body.email.as_deref(),
            Some(format!("u{i}@x.co").as_str())
        );
    }
}

#[test]
fn required_fields_and_max_lengths_are_row_rejects() {
    let p = pipeline("validate:\n  required: [firstName]\n  max_length: {firstName: 5}\n");
    let t = Transformer::new(&p, &headers()).unwrap();
    let e = t.apply(&rec(["a@x.co", "", "", "", "", ""])).unwrap_err();
    assert_eq!(e.code, codes::MISSING_REQUIRED);
    let e = t
        .apply(&rec(["a@x.co", "", "Bartholomew", "", "", ""]))
        .unwrap_err();
    assert_eq!(e.code, codes::TOO_LONG);
    assert!(
        e.message.contains("11 characters, more than the 5 allowed"),
        "{}",
        e.message
    );
    assert!(t.apply(&rec(["a@x.co", "", "Ann", "", "", ""])).is_ok());
    let bad = parse_str(
        Path::new("p.yaml"),
        "version: 1\nsource:\n  type: csv\n  path: x.csv\ntarget:\n  location_id: L\n  auth:\n    token_env: T\n\
             mapping:\n  email: Email\nvalidate:\n  required: [firstName, frist]\n",
        |_| None,
    )
    .unwrap_err()
    .to_string();
    assert!(bad.contains("`firstName` is not mapped"), "{bad}");
    assert!(
        bad.contains("`frist` is not a standard contact field"),
        "{bad}"
    );
}

#[test]
fn phone_extensions_are_dropped_with_a_warning_or_rejected() {
    let t = Transformer::new(
        &pipeline("validate:\n  phone_default_region: US\n"),
        &headers(),
    )
    .unwrap();
    let p = t
        .apply(&rec(["", "(415) 555-2671 ext. 42", "", "", "", ""]))
        .unwrap();
    assert_eq!(p.body.phone.as_deref(), Some("+14155552671"));
    assert!(
        p.warnings[0].starts_with("phone_extension_dropped: extension 42"),
        "{:?}",
        p.warnings
    );
    let t = Transformer::new(
        &pipeline("validate:\n  phone_default_region: US\n  phone_extension: reject\n"),
        &headers(),
    )
    .unwrap();
    let e = t
        .apply(&rec(["", "(415) 555-2671 x42", "", "", "", ""]))
        .unwrap_err();
    assert_eq!(e.code, codes::PHONE_EXTENSION);
}
