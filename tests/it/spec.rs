//! Conformance with the official OpenAPI spec (spec/ghl-openapi/apps/contacts.json, CC0).

use std::collections::BTreeSet;

use ghl_import::ghl::types::UpsertContact;
use ghl_import::sandbox::contacts::{CREATE_FIELDS, UPDATE_FIELDS, UPSERT_FIELDS};

fn dto_properties(name: &str) -> BTreeSet<String> {
    let spec: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(crate::util::repo().join("spec/ghl-openapi/apps/contacts.json"))
            .unwrap(),
    )
    .unwrap();
    spec["components"]["schemas"][name]["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("{name} in spec"))
        .keys()
        .cloned()
        .collect()
}

#[test]
fn upsert_body_only_uses_properties_the_spec_allows() {
    // Every optional field set, so every property we can send appears.
    let full = UpsertContact {
        location_id: "L".into(),
        first_name: Some("a".into()),
        last_name: Some("a".into()),
        name: Some("a".into()),
        email: Some("a@b.co".into()),
        phone: Some("+14155552671".into()),
        company_name: Some("a".into()),
        address1: Some("a".into()),
        city: Some("a".into()),
        state: Some("a".into()),
        postal_code: Some("a".into()),
        country: Some("US".into()),
        website: Some("a".into()),
        timezone: Some("a".into()),
        source: Some("a".into()),
        tags: Some(vec!["a".into()]),
        date_of_birth: Some("1990-01-01".into()),
        dnd: Some(true),
        custom_fields: Some(vec![ghl_import::ghl::types::CustomFieldInput {
            id: "cf".into(),
            field_value: serde_json::json!("x"),
        }]),
    };
    let v = serde_json::to_value(&full).unwrap();
    let sent: BTreeSet<String> = v.as_object().unwrap().keys().cloned().collect();
    let allowed = dto_properties("UpsertContactDto");
    let extra: Vec<_> = sent.difference(&allowed).collect();
    assert!(
        extra.is_empty(),
        "properties not in UpsertContactDto: {extra:?}"
    );
    assert_eq!(sent.len(), 19);
}

#[test]
fn sandbox_accepts_exactly_the_spec_properties() {
    let set = |f: &[&str]| f.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(set(UPSERT_FIELDS), dto_properties("UpsertContactDto"));
    assert_eq!(set(CREATE_FIELDS), dto_properties("CreateContactDto"));
    assert_eq!(set(UPDATE_FIELDS), dto_properties("UpdateContactDto"));
    // Tasks: create and update take the same properties; the completed endpoint one.
    let task = set(ghl_import::sandbox::followups::TASK_FIELDS);
    assert_eq!(task, dto_properties("CreateTaskParams"));
    assert_eq!(task, dto_properties("UpdateTaskBody"));
    assert_eq!(
        set(&["completed"]),
        dto_properties("UpdateTaskStatusParams")
    );
}

#[test]
fn custom_field_items_use_the_spec_write_shape() {
    // TextField etc.: {id (required), key?, field_value}.
    let spec: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(crate::util::repo().join("spec/ghl-openapi/apps/contacts.json"))
            .unwrap(),
    )
    .unwrap();
    let text = &spec["components"]["schemas"]["TextField"];
    let allowed: BTreeSet<String> = text["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let item = serde_json::to_value(ghl_import::ghl::types::CustomFieldInput {
        id: "cf".into(),
        field_value: serde_json::json!("x"),
    })
    .unwrap();
    let sent: BTreeSet<String> = item.as_object().unwrap().keys().cloned().collect();
    assert!(sent.is_subset(&allowed), "{sent:?} ⊄ {allowed:?}");
    assert!(sent.contains("id") && text["required"][0] == "id");
}

#[test]
fn update_body_only_uses_properties_the_spec_allows() {
    let mut full = ghl_import::ghl::types::UpdateContact::default();
    for f in [
        "firstName",
        "lastName",
        "name",
        "email",
        "phone",
        "address1",
        "city",
        "state",
        "postalCode",
        "website",
        "timezone",
        "source",
        "dateOfBirth",
        "country",
        "dnd",
    ] {
        assert!(full.restore(f, &"x".into()), "{f}");
    }
    assert!(full.restore("tags", &serde_json::json!(["a"])));
    assert!(full.restore("customField:f-1", &serde_json::json!(12.5)));
    assert!(
        !full.restore("companyName", &"x".into()),
        "PUT cannot write companyName"
    );
    let v = serde_json::to_value(&full).unwrap();
    let sent: BTreeSet<String> = v.as_object().unwrap().keys().cloned().collect();
    let allowed = dto_properties("UpdateContactDto");
    assert!(
        sent.is_subset(&allowed),
        "not in UpdateContactDto: {:?}",
        sent.difference(&allowed).collect::<Vec<_>>()
    );
    assert_eq!(sent.len(), 17);
}

#[test]
fn sandbox_token_endpoint_accepts_exactly_the_spec_form_fields() {
    let spec: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(crate::util::repo().join("spec/ghl-openapi/apps/oauth.json"))
            .unwrap(),
    )
    .unwrap();
    let props: BTreeSet<String> = spec["components"]["schemas"]["GetAccessCodebodyDto"]
        ["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let ours: BTreeSet<String> = ghl_import::sandbox::oauth::TOKEN_FIELDS
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(ours, props);
}
