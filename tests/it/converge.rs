//! Converging with the API as it really answers (issue 12): values come back in other forms
//! than they were sent (dates of birth as date-times or epoch ms, `address` for `address1`,
//! tags trimmed and lower-cased, custom values as numbers and lists), and a sync run right after
//! another must still find every contact unchanged.

use crate::util::*;

const SEED: &str = r#"{"loc-it": {"customFields": [
  {"id": "f-ltv", "name": "Lifetime value", "fieldKey": "contact.lifetime_value", "dataType": "MONETORY"},
  {"id": "f-int", "name": "Interests", "fieldKey": "contact.interests", "dataType": "MULTIPLE_OPTIONS", "picklistOptions": ["Yoga", "Running", "Chess"]}
], "contacts": []}}"#;

const CSV: &str = "First Name,Email,Phone,Birthday,Street,Tags,LTV,Interests
Ann,Ann.Lee@Example.com,(415) 555-2671,1990-05-17,1 Main St, VIP ;Lead ,\"1,200.50\",\"yoga; chess\"
Ben,ben@example.com,,1985-04-05,2 Side Rd,customer,10,Running
";

#[test]
fn a_second_sync_right_after_the_first_writes_nothing() {
    let dir = workdir();
    let sb = SandboxProc::seeded("loc-it", dir.path(), SEED);
    let p = csv_pipeline(
        dir.path(),
        &sb.base_url,
        CSV,
        "mapping:\n  firstName: First Name\n  email: Email\n  phone: Phone\n  dateOfBirth: Birthday\n  \
         address1: Street\n  tags: Tags\ncustom_fields:\n  contact.lifetime_value: LTV\n  \
         contact.interests: Interests\nvalidate:\n  phone_default_region: US\nload:\n  mode: sync\n",
    );
    let first = sb.run_pipeline(&p, &dir.path().join("o1"));
    assert_eq!(first.status.code(), Some(0));
    assert_eq!(created_updated(&summary(&dir.path().join("o1"))), (2, 0));

    // The sandbox answers like GHL: the same contact in other forms.
    let ann = sb.contact_by_email("loc-it", "ann.lee@example.com");
    let id = ann["id"].as_str().unwrap();
    let got = sb.api_get(&format!("/contacts/{id}"))["contact"].clone();
    assert_eq!(got["dateOfBirth"], "1990-05-17T00:00:00.000Z");
    assert_eq!(got["tags"], serde_json::json!(["vip", "lead"]));

    // Journal ignored: the planner alone must see that nothing changed.
    let writes_before = sb.stats()["requests_by_endpoint"]["POST /contacts/upsert"].clone();
    let second = sb.run_with(&p, &dir.path().join("o2"), &["--full-refresh"]);
    assert_eq!(second.status.code(), Some(0));
    let s = summary(&dir.path().join("o2"));
    assert_eq!(s["rows"]["unchanged"], 2, "{s}");
    assert_eq!(
        sb.stats()["requests_by_endpoint"]["POST /contacts/upsert"],
        writes_before,
        "0 writes"
    );
    let plan = sb.run_with(&p, &dir.path().join("o3"), &["--dry-run"]);
    assert_eq!(plan.status.code(), Some(0));
    assert_eq!(summary(&dir.path().join("o3"))["plan"]["unchanged"], 2);
}
