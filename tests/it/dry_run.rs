//! `run --dry-run`: every row planned against the location with read requests only.

use crate::util::*;

const SEED: &str = r#"{"loc-it": {"contacts": [
  {"email": "ann@example.com", "phone": "+14155552671", "firstName": "Ann"},
  {"email": "ben@example.com", "phone": "+14155550100", "firstName": "Ben"}
]}}"#;

#[test]
fn dry_run_plans_every_row_and_writes_nothing() {
    let dir = workdir();
    let seed = dir.path().join("seed.json");
    std::fs::write(&seed, SEED).unwrap();
    let sb = SandboxProc::start(
        "loc-it",
        &[FAST, &["--seed", seed.to_str().unwrap()]].concat(),
    );
    let csv = "First Name,Email,Phone
Cy,cy@example.com,
Ann,ANN@example.com,
Benjamin,ben@example.com,
Ann,ann@example.com,415-555-0100
Bad,not-an-email,
";
    let p = pipeline(dir.path(), &sb.base_url, csv, "dedup:\n  by: none\n");

    let o = run(bin()
        .args(["run", "-q", "--dry-run", "--out"])
        .arg(dir.path().join("o"))
        .arg(&p)
        .env("IT_TOKEN", &sb.token));

    assert_eq!(o.status.code(), Some(3), "one row is rejected");
    let plan = read_csv(&dir.path().join("o/plan.csv"));
    let actions: Vec<(&str, &str)> = plan[1..]
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("2", "create"),
            ("3", "unchanged"),
            ("4", "update"),
            ("5", "conflict"),
            ("6", "reject")
        ]
    );
    assert_eq!(plan[3][3], "firstName: `Ben` → `Benjamin`");
    assert!(plan[4][3].contains("drop the phone"), "{:?}", plan[4]);
    let stats = sb.stats();
    assert_eq!(
        stats["requests_by_endpoint"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["POST /contacts/search"]
    );
    assert_eq!(sb.contacts("loc-it").len(), 2, "nothing written");
    let s = summary(&dir.path().join("o"));
    assert_eq!(s["forecast"]["write_requests"], 3);
    assert_eq!(s["forecast"]["read_requests"], 1);
    assert_eq!(s["forecast"]["existing_contacts"], 2);
    assert!(text(&o).0.contains("dry run: nothing was written"));
}
