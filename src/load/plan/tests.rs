//! Unit tests of the planner.

use super::*;

fn contact(id: &str, email: Option<&str>, phone: Option<&str>, first: Option<&str>) -> Contact {
    Contact {
        id: id.into(),
        email: email.map(str::to_owned),
        phone: phone.map(str::to_owned),
        first_name: first.map(str::to_owned),
        tags: vec!["vip".into()],
        ..Default::default()
    }
}

fn body(email: Option<&str>, phone: Option<&str>, first: Option<&str>) -> UpsertContact {
    UpsertContact {
        email: email.map(str::to_owned),
        phone: phone.map(str::to_owned),
        first_name: first.map(str::to_owned),
        ..Default::default()
    }
}

#[test]
fn actions() {
    let mut idx = Index::default();
    idx.add(contact(
        "A",
        Some("ann@x.co"),
        Some("+14155552671"),
        Some("Ann"),
    ));
    idx.add(contact("B", Some("ben@x.co"), Some("+14155550100"), None));
    assert_eq!(
        plan(&idx, &body(Some("new@x.co"), None, None)),
        Action::Create
    );
    assert_eq!(
        plan(&idx, &body(Some("ANN@x.co"), None, Some("Ann"))),
        Action::Unchanged {
            contact_id: "A".into()
        }
    );
    assert_eq!(
        plan(&idx, &body(Some("ann@x.co"), None, Some("Annie"))),
        Action::Update {
            contact_id: "A".into(),
            changes: vec![("firstName", "Ann".into(), "Annie".into())]
        }
    );
    assert_eq!(
        plan(&idx, &body(None, Some("+14155550100"), None)),
        Action::Unchanged {
            contact_id: "B".into()
        }
    );
    assert_eq!(
        plan(&idx, &body(Some("ann@x.co"), Some("+14155550100"), None)),
        Action::Conflict {
            email_contact: "A".into(),
            phone_contact: "B".into()
        }
    );
}

#[test]
fn modes_and_policies() {
    use crate::config::{FieldPolicy, LoadMode};
    use ghl_client::fields::ContactField;
    let mut idx = Index::default();
    idx.add(contact("A", Some("ann@x.co"), None, Some("Ann")));
    let b = body(Some("ann@x.co"), Some("+14155552671"), Some("Annie"));
    let rep = crate::config::TagMode::Replace;
    let (a, sent) = plan_with(
        &idx,
        &b,
        &[(ContactField::FirstName, FieldPolicy::FillEmpty)],
        rep,
    );
    assert_eq!(
        sent.first_name, None,
        "fill_empty keeps the existing first name"
    );
    assert_eq!(
        a,
        Action::Update {
            contact_id: "A".into(),
            changes: vec![("phone", String::new(), "+14155552671".into())]
        }
    );
    let (a, _) = plan_with(
        &idx,
        &body(Some("ann@x.co"), None, Some("Bob")),
        &[(ContactField::FirstName, FieldPolicy::Never)],
        rep,
    );
    let mut t = body(Some("ann@x.co"), None, None);
    t.tags = Some(vec!["VIP".into()]);
    let (a2, sent) = plan_with(&idx, &t, &[], crate::config::TagMode::Add);
    assert_eq!(
        (a2, sent.tags),
        (
            Action::Unchanged {
                contact_id: "A".into()
            },
            None
        ),
        "adding a tag it has changes nothing"
    );
    assert_eq!(
        a,
        Action::Unchanged {
            contact_id: "A".into()
        }
    );
    assert_eq!(
        decide(LoadMode::Sync, &a),
        Decision::Skip {
            contact_id: "A".into()
        }
    );
    assert_eq!(decide(LoadMode::Upsert, &a), Decision::Write);
    assert_eq!(
        decide(LoadMode::Create, &a),
        Decision::Skip {
            contact_id: "A".into()
        }
    );
    assert!(matches!(
        decide(LoadMode::Update, &Action::Create),
        Decision::Reject {
            code: "not_found",
            ..
        }
    ));
    assert_eq!(decide(LoadMode::Create, &Action::Create), Decision::Write);
}

#[test]
fn a_new_email_with_a_phone_of_another_person_is_found() {
    let mut idx = Index::default();
    idx.add(contact("A", Some("ann@x.co"), Some("+14155552671"), None));
    idx.add(contact("B", None, Some("+14155550100"), None));
    let taken = |e: &str, p: &str| {
        phone_taken(&idx, &body(Some(e), Some(p), None)).map(|t| t.id.to_owned())
    };
    assert_eq!(taken("bob@x.co", "+14155552671").as_deref(), Some("A"));
    assert_eq!(taken("ANN@x.co", "+14155552671"), None, "same person");
    assert_eq!(
        taken("bob@x.co", "+14155550100"),
        None,
        "that contact has no email to lose"
    );
    assert_eq!(taken("bob@x.co", "+14155559999"), None);
}

#[test]
fn a_row_without_email_on_another_persons_phone_is_found() {
    let mut idx = Index::default();
    idx.add(contact(
        "A",
        Some("ann@x.co"),
        Some("+14155552671"),
        Some("Ann"),
    ));
    idx.add(contact("B", None, Some("+14155550100"), Some("Bob")));
    idx.add(contact("C", Some("cy@x.co"), Some("+14155550101"), None));
    let taken = |p: &str, first: Option<&str>| {
        phone_taken(&idx, &body(None, Some(p), first)).map(|t| (t.id.to_owned(), t.by_name))
    };
    assert_eq!(taken("+14155552671", Some("Zed")), Some(("A".into(), true)));
    assert_eq!(
        taken("+14155552671", Some(" ANN ")),
        None,
        "the names agree"
    );
    assert_eq!(
        taken("+14155552671", None),
        Some(("A".into(), false)),
        "an email the row does not carry, and no name to say it is Ann"
    );
    assert_eq!(taken("+14155550100", Some("Zed")), Some(("B".into(), true)));
    assert_eq!(
        taken("+14155550100", None),
        None,
        "nothing tells them apart"
    );
    assert_eq!(taken("+14155550101", Some("Cy")), Some(("C".into(), false)));
}

#[test]
fn a_policy_never_removes_the_key_a_row_matched_by() {
    use crate::config::FieldPolicy;
    let mut idx = Index::default();
    idx.add(contact("A", Some("ann@x.co"), None, Some("Ann")));
    idx.add(contact("B", None, Some("+14155550100"), None));
    let all = [
        (ContactField::Email, FieldPolicy::FillEmpty),
        (ContactField::Phone, FieldPolicy::Never),
        (ContactField::FirstName, FieldPolicy::FillEmpty),
    ];
    let rep = crate::config::TagMode::Replace;
    // Matched by email: the email stays, so the upsert still lands on A.
    let (_, sent) = plan_with(
        &idx,
        &body(Some("ann@x.co"), Some("+14155552671"), Some("Annie")),
        &all,
        rep,
    );
    assert_eq!(sent.email.as_deref(), Some("ann@x.co"));
    assert_eq!((sent.phone, sent.first_name), (None, None));
    // Matched by phone: the phone stays.
    let (a, sent) = plan_with(
        &idx,
        &body(None, Some("+14155550100"), Some("Bo")),
        &all,
        rep,
    );
    assert_eq!(sent.phone.as_deref(), Some("+14155550100"));
    assert!(matches!(a, Action::Update { contact_id, .. } if contact_id == "B"));
}

#[test]
fn values_the_api_hands_back_in_other_forms_are_the_same() {
    use serde_json::json;
    assert!(same_custom_value(&json!(42), &json!("42")));
    assert!(same_custom_value(&json!(42.5), &json!("42.50")));
    assert!(!same_custom_value(&json!(42), &json!("43")));
    assert!(same_custom_value(&json!(["b", "a"]), &json!("a, b")));
    assert!(same_custom_value(&json!(["a", "b"]), &json!(["b", "a"])));
    assert!(!same_custom_value(&json!(["a"]), &json!("a, b")));
    assert!(same_custom_value(&json!("x "), &json!("x")));
    let mut c = contact("A", Some("Ann@X.co"), None, None);
    c.tags = vec!["vip".into(), "lead".into()];
    let mut b = body(Some("ann@x.co"), None, None);
    b.tags = Some(vec![" VIP".into(), "Lead ".into()]);
    assert!(diff(&c, &b).is_empty(), "{:?}", diff(&c, &b));
    // Dates of birth as GET and search answer them.
    for raw in [
        r#"{"id":"A","dateOfBirth":"1990-05-17T00:00:00.000Z","address":"1 Main St"}"#,
        r#"{"id":"A","dateOfBirth":642902400000,"address1":"1 Main St"}"#,
        r#"{"id":"A","dateOfBirth":"1990-05-17","address1":"1 Main St"}"#,
    ] {
        let c: Contact = serde_json::from_str(raw).unwrap();
        assert_eq!(c.date_of_birth.as_deref(), Some("1990-05-17"), "{raw}");
        assert_eq!(c.address1.as_deref(), Some("1 Main St"), "{raw}");
    }
}

#[test]
fn blanks_never_count_as_changes_and_tags_compare_as_sets() {
    let c = contact("A", Some("ann@x.co"), None, Some("Ann"));
    assert!(diff(&c, &body(Some("ann@x.co"), None, None)).is_empty());
    let mut b = body(Some("ann@x.co"), None, None);
    b.tags = Some(vec!["VIP".into()]);
    assert!(diff(&c, &b).is_empty());
    b.tags = Some(vec!["vip".into(), "lead".into()]);
    assert_eq!(diff(&c, &b)[0].0, "tags");
}
