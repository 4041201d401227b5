//! Conformance with the official OpenAPI spec (spec/ghl-openapi/apps/contacts.json, CC0).

use std::collections::BTreeSet;

use ghl_client::types::UpsertContact;
use ghl_sandbox::contacts::{CREATE_FIELDS, UPDATE_FIELDS, UPSERT_FIELDS};

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
        custom_fields: Some(vec![ghl_client::types::CustomFieldInput {
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
    let task = set(ghl_sandbox::followups::TASK_FIELDS);
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
    let item = serde_json::to_value(ghl_client::types::CustomFieldInput {
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
    let mut full = ghl_client::types::UpdateContact::default();
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
    let ours: BTreeSet<String> = ghl_sandbox::oauth::TOKEN_FIELDS
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(ours, props);
}

/// A request body for `schema` (a `#/components/schemas/…` ref): its required properties, with
/// the ids of this test's contact, note and task where they name one, else the spec's example.
fn body_for(
    spec: &serde_json::Value,
    schema_ref: &str,
    known: &std::collections::HashMap<&str, serde_json::Value>,
) -> serde_json::Value {
    let name = schema_ref.rsplit('/').next().unwrap();
    let schema = &spec["components"]["schemas"][name];
    let mut body = serde_json::Map::new();
    for key in schema["required"].as_array().into_iter().flatten() {
        let key = key.as_str().unwrap();
        let value = known
            .get(key)
            .cloned()
            .unwrap_or_else(|| schema["properties"][key]["example"].clone());
        assert!(!value.is_null(), "{name}.{key}: no example and no value");
        body.insert(key.to_owned(), value);
    }
    serde_json::Value::Object(body)
}

#[test]
fn sandbox_serves_every_contacts_operation_the_spec_declares() {
    // Walks every path and method of the shipped spec against a running sandbox, with a real
    // contact, note and task, and checks each answers one of the success statuses the spec
    // declares for it, as JSON with a traceId and the rate-limit headers. A path the spec adds
    // and the sandbox does not serve fails here.
    use serde_json::json;
    let sb = crate::util::SandboxProc::start("loc-spec", &[]);
    let auth = format!("Bearer {}", sb.token);
    let h = [("Authorization", auth.as_str()), ("Version", "2021-07-28")];
    let call = |method: &str, path: &str, body: &str| {
        let (status, head, text) = sb.raw_with_head(method, path, &h, body);
        assert!(
            head.contains("x-ratelimit-remaining:"),
            "{method} {path}: no rate-limit headers"
        );
        (
            status,
            serde_json::from_str::<serde_json::Value>(&text).unwrap_or(json!(text)),
        )
    };
    let (s, v) = call(
        "POST",
        "/contacts/upsert",
        r#"{"locationId":"loc-spec","email":"walk@example.com","firstName":"Walk"}"#,
    );
    assert_eq!(s, 200, "{v}");
    let cid = v["contact"]["id"].as_str().unwrap().to_owned();
    let (s, v) = call("POST", &format!("/contacts/{cid}/notes"), r#"{"body":"n"}"#);
    assert_eq!(s, 201, "{v}");
    let note = v["note"]["id"].as_str().unwrap().to_owned();
    let (s, v) = call(
        "POST",
        &format!("/contacts/{cid}/tasks"),
        r#"{"title":"t","dueDate":"2030-01-01T00:00:00Z","completed":false}"#,
    );
    assert_eq!(s, 201, "{v}");
    let task = v["task"]["id"].as_str().unwrap().to_owned();

    let spec: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(crate::util::repo().join("spec/ghl-openapi/apps/contacts.json"))
            .unwrap(),
    )
    .unwrap();
    let known: std::collections::HashMap<&str, serde_json::Value> = [
        ("locationId", json!("loc-spec")),
        ("contacts", json!([cid])),
        ("ids", json!([cid])),
        ("businessId", json!("biz-1")),
        ("followers", json!(["user-1"])),
        ("tags", json!(["walk"])),
    ]
    .into_iter()
    .collect();
    let mut ops = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if ["get", "post", "put", "delete"].contains(&method.as_str()) {
                ops.push((method.to_uppercase(), path.clone(), op.clone()));
            }
        }
    }
    // Deletes last, the contact itself at the very end.
    ops.sort_by_key(|(m, p, _)| (m == "DELETE", p == "/contacts/{contactId}"));
    assert!(ops.len() >= 30, "{} operations", ops.len());
    let mut failures = Vec::new();
    for (method, path, op) in &ops {
        let mut url = path
            .replace("{contactId}", &cid)
            .replace("{taskId}", &task)
            .replace("{id}", &note)
            .replace("{campaignId}", "camp-1")
            .replace("{workflowId}", "wf-1")
            .replace("{businessId}", "biz-1")
            .replace("{type}", "add");
        let query: Vec<String> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "query" && p["required"] == true)
            .map(|p| {
                let name = p["name"].as_str().unwrap();
                let value = known.get(name).and_then(|v| v.as_str()).unwrap_or("x");
                format!("{name}={value}")
            })
            .chain(
                path.ends_with("/duplicate")
                    .then(|| "email=walk@example.com".to_owned()),
            )
            .collect();
        if !query.is_empty() {
            url = format!("{url}?{}", query.join("&"));
        }
        let body = match op["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str()
        {
            Some(_) if path == "/contacts/search" => {
                json!({"locationId": "loc-spec", "pageLimit": 10})
            }
            Some(r) => body_for(&spec, r, &known),
            None => json!({}),
        };
        let (status, answer) = call(method, &url, &body.to_string());
        let declared: Vec<u16> = op["responses"]
            .as_object()
            .unwrap()
            .keys()
            .filter_map(|k| k.parse().ok())
            .filter(|c| (200..300).contains(c))
            .collect();
        if !declared.contains(&status) || answer.get("traceId").is_none() {
            failures.push(format!(
                "{method} {path}: {status} (spec: {declared:?}) {answer}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let (s, v) = call("GET", &format!("/contacts/{cid}"), "");
    assert_eq!(
        (s, &v["contact"]),
        (400, &serde_json::Value::Null),
        "deleted at the end: {v}"
    );
}

#[test]
fn refused_tokens_and_unknown_routes_carry_rate_limit_headers_and_spend_nothing() {
    let sb = crate::util::SandboxProc::start("loc-spec", &["--rate-max", "5"]);
    let (s, head, _) = sb.raw_with_head(
        "GET",
        "/contacts/?locationId=loc-spec",
        &[("Authorization", "Bearer wrong"), ("Version", "2021-07-28")],
        "",
    );
    assert_eq!(s, 401);
    assert!(head.contains("x-ratelimit-remaining: 5"), "{head}");
    let (s, head, _) = sb.raw_with_head("GET", "/nothing-here?locationId=loc-spec", &[], "");
    assert_eq!(s, 404);
    assert!(head.contains("x-ratelimit-max: 5"), "{head}");
    assert!(head.contains("x-ratelimit-remaining: 5"), "{head}");
}

#[test]
fn search_answers_query_sort_and_refuses_what_ghl_refuses() {
    use serde_json::json;
    let sb = crate::util::SandboxProc::start("loc-s", &[]);
    let auth = format!("Bearer {}", sb.token);
    let h = [("Authorization", auth.as_str()), ("Version", "2021-07-28")];
    for (first, email, phone) in [
        ("Zoe", "zoe@example.com", "+14155550101"),
        ("adam", "Adam@Example.com", "+14155550102"),
        ("Mia", "mia@other.org", "+14155550103"),
    ] {
        let body =
            json!({"locationId": "loc-s", "firstName": first, "email": email, "phone": phone});
        assert_eq!(
            sb.raw("POST", "/contacts/upsert", &h, &body.to_string()).0,
            200
        );
    }
    let search = |body: serde_json::Value| {
        let (s, text) = sb.raw("POST", "/contacts/search", &h, &body.to_string());
        (s, serde_json::from_str::<serde_json::Value>(&text).unwrap())
    };
    let names = |v: &serde_json::Value| -> Vec<String> {
        v["contacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["firstName"].as_str().unwrap().to_owned())
            .collect()
    };
    // Free text finds by name, email or phone digits.
    let (s, v) = search(json!({"locationId": "loc-s", "pageLimit": 10, "query": "example.com"}));
    assert_eq!(s, 200, "{v}");
    assert_eq!(names(&v), ["Zoe", "adam"]);
    let (_, v) = search(json!({"locationId": "loc-s", "pageLimit": 10, "query": "555-0103"}));
    assert_eq!(names(&v), ["Mia"]);
    // Emails are stored as sent, with a lower-cased copy.
    let (_, v) = search(json!({"locationId": "loc-s", "pageLimit": 10, "query": "adam"}));
    assert_eq!(v["contacts"][0]["email"], "Adam@Example.com");
    assert_eq!(v["contacts"][0]["emailLowerCase"], "adam@example.com");
    // Sorted by first name descending, paged one at a time with the cursor of that order.
    let sort = json!([{"field": "firstNameLowerCase", "direction": "desc"}]);
    let mut seen = Vec::new();
    let mut after = serde_json::Value::Null;
    loop {
        let (s, v) = search(
            json!({"locationId": "loc-s", "pageLimit": 1, "sort": sort, "searchAfter": after}),
        );
        assert_eq!(s, 200, "{v}");
        let Some(c) = v["contacts"].as_array().unwrap().first().cloned() else {
            break;
        };
        seen.push(c["firstName"].as_str().unwrap().to_owned());
        after = c["searchAfter"].clone();
    }
    assert_eq!(seen, ["Zoe", "Mia", "adam"]);
    // What GHL refuses: a malformed cursor, an unknown filter field, an unknown sort field.
    for bad in [
        json!({"locationId": "loc-s", "pageLimit": 10, "searchAfter": "abc"}),
        json!({"locationId": "loc-s", "pageLimit": 10, "searchAfter": [1]}),
        json!({"locationId": "loc-s", "pageLimit": 10,
               "filters": [{"field": "favouriteColour", "operator": "eq", "value": "red"}]}),
        json!({"locationId": "loc-s", "pageLimit": 10, "sort": [{"field": "shoeSize", "direction": "asc"}]}),
    ] {
        let (s, v) = search(bad.clone());
        assert_eq!(s, 422, "{bad} → {v}");
    }
}

#[test]
fn nested_values_are_validated_as_ghl_does() {
    use serde_json::json;
    let seed = r#"{"loc-n": {"customFields": [
        {"id": "cf-n", "name": "Score", "fieldKey": "contact.score", "dataType": "NUMERICAL"},
        {"id": "cf-o", "name": "Tier", "fieldKey": "contact.tier", "dataType": "SINGLE_OPTIONS",
         "picklistOptions": ["Gold", "Silver"]}], "contacts": []}}"#;
    let dir = crate::util::workdir();
    let seed_file = dir.path().join("seed.json");
    std::fs::write(&seed_file, seed).unwrap();
    let sb = crate::util::SandboxProc::start("loc-n", &["--seed", seed_file.to_str().unwrap()]);
    let auth = format!("Bearer {}", sb.token);
    let h = [("Authorization", auth.as_str()), ("Version", "2021-07-28")];
    let upsert = |extra: serde_json::Value| {
        let mut body = json!({"locationId": "loc-n", "email": "n@example.com"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        sb.raw("POST", "/contacts/upsert", &h, &body.to_string())
    };
    for (bad, says) in [
        (
            json!({"customFields": [{"id": "cf-n", "field_value": "abc"}]}),
            "NUMERICAL",
        ),
        (
            json!({"customFields": [{"id": "cf-o", "field_value": "Bronze"}]}),
            "SINGLE_OPTIONS",
        ),
        (
            json!({"customFields": [{"id": "cf-n", "field_value": 3, "colour": "red"}]}),
            "property colour",
        ),
        (
            json!({"dndSettings": {"SMS": {"status": "maybe"}}}),
            "status must be one of",
        ),
        (
            json!({"dndSettings": {"Pigeon": {"status": "active"}}}),
            "property Pigeon",
        ),
    ] {
        let (s, text) = upsert(bad.clone());
        assert_eq!(s, 422, "{bad} → {text}");
        assert!(text.contains(says), "{bad} → {text}");
    }
    let good = json!({
        "customFields": [{"id": "cf-n", "field_value": 42}, {"id": "cf-o", "field_value": "gold"}],
        "dndSettings": {"SMS": {"status": "active", "message": "opted out"}}
    });
    let (s, text) = upsert(good);
    assert_eq!(s, 200, "{text}");
    assert_eq!(sb.contacts("loc-n").len(), 1);
}
