//! Real CRM exports, nothing lost: two people never become one contact, whatever keys their rows
//! carry, and the outcome is the same on every run.

use crate::util::*;

/// Each row's (outcome, code), in row order.
fn outcomes(out: &std::path::Path) -> Vec<(String, String)> {
    read_csv(&out.join("results.csv"))[1..]
        .iter()
        .map(|r| (r[1].clone(), r[4].clone()))
        .collect()
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.to_owned(), b.to_owned())
}

#[test]
fn rows_without_email_sharing_a_phone_are_a_conflict_or_a_duplicate_and_sync_never_flips() {
    let dir = workdir();
    let sb = SandboxProc::fast("loc-it");
    // Ann and Bob share a phone and have no email; Ann's row comes twice.
    let csv =
        "First Name,Email,Phone\nAnn,,(415) 555-2671\nBob,,(415) 555-2671\nann ,,415.555.2671\n";
    let p = pipeline(dir.path(), &sb.base_url, csv, "load:\n  mode: sync\n");
    let mut runs = Vec::new();
    for (i, flags) in [&[][..], &[], &["--full-refresh"]].iter().enumerate() {
        let out = dir.path().join(format!("o{i}"));
        let o = sb.run_with(&p, &out, flags);
        assert_eq!(o.status.code(), Some(3), "{}", text(&o).1);
        runs.push(outcomes(&out));
    }
    assert_eq!(runs[0][0], pair("created", ""));
    assert_eq!(runs[0][1], pair("rejected", "phone_conflict"));
    assert_eq!(runs[0][2], pair("rejected", "duplicate_in_file"));
    let why = &read_csv(&dir.path().join("o0/rejected.csv"))[1];
    assert!(why[6].contains("row 2 (another name)"), "{why:?}");
    for r in &runs[1..] {
        assert_eq!(r[0].1, "", "Ann's row stays loaded: {r:?}");
        assert_eq!(r[1..], runs[0][1..], "the same outcome every run");
    }
    let contacts = sb.contacts("loc-it");
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0]["firstName"], "Ann", "never overwritten by Bob");
    assert_eq!(
        sb.stats()["requests_by_endpoint"]["POST /contacts/upsert"],
        1,
        "one write in three runs: no flip"
    );
}

#[test]
fn a_row_without_email_never_renames_the_contact_of_an_earlier_row_with_one() {
    let dir = workdir();
    let sb = SandboxProc::fast("loc-it");
    let csv = "First Name,Email,Phone\nAnn,ann@example.com,(415) 555-2671\nBob,,(415) 555-2671\nCy,,(415) 555-0100\n";
    let p = pipeline(dir.path(), &sb.base_url, csv, "");
    let o = sb.run_pipeline(&p, &dir.path().join("o"));
    assert_eq!(o.status.code(), Some(3), "{}", text(&o).1);
    assert_eq!(
        outcomes(&dir.path().join("o")),
        [
            pair("created", ""),
            pair("rejected", "phone_conflict"),
            pair("created", "")
        ]
    );
    assert_eq!(
        sb.contact_by_email("loc-it", "ann@example.com")["firstName"],
        "Ann"
    );
    assert_eq!(sb.contacts("loc-it").len(), 2);
}

#[test]
fn a_row_without_email_on_the_phone_of_another_persons_contact_is_a_conflict() {
    let dir = workdir();
    let seed = r#"{"loc-it": {"contacts": [
        {"email": "ann@example.com", "phone": "+14155552671", "firstName": "Ann"},
        {"phone": "+14155550100", "firstName": "Cy"}
    ]}}"#;
    let sb = SandboxProc::seeded("loc-it", dir.path(), seed);
    // Another name on Ann's phone, nothing but a phone on Ann's, and Cy's own name on his.
    let csv = "First Name,Email,Phone\nBob,,(415) 555-2671\n,,(415) 555-0100\n";
    let p = pipeline(dir.path(), &sb.base_url, csv, "");
    let o = sb.run_pipeline(&p, &dir.path().join("o"));
    assert_eq!(o.status.code(), Some(3), "{}", text(&o).1);
    let got = outcomes(&dir.path().join("o"));
    assert_eq!(got[0], pair("rejected", "phone_conflict"));
    assert_eq!(
        got[1].0, "updated",
        "nothing tells them apart: Cy's contact"
    );
    let why = &read_csv(&dir.path().join("o/rejected.csv"))[1];
    assert!(why[6].contains("(Ann), another name"), "{why:?}");
    let ann = sb.contact_by_email("loc-it", "ann@example.com");
    assert_eq!(ann["firstName"], "Ann");

    // The same person (the names agree, in any case) is an update as before.
    let csv = "First Name,Email,Phone,City\nANN,,(415) 555-2671,Austin\n";
    let p = pipeline(dir.path(), &sb.base_url, csv, "");
    let o = sb.run_pipeline(&p, &dir.path().join("o2"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    assert_eq!(outcomes(&dir.path().join("o2"))[0].0, "updated");
    assert_eq!(
        sb.contact_by_email("loc-it", "ann@example.com")["email"],
        "ann@example.com"
    );
}

/// A pipeline on `csv` with `load` settings, into the sandbox.
fn lag_pipeline(
    dir: &std::path::Path,
    sb: &SandboxProc,
    name: &str,
    csv: &str,
    load: &str,
) -> std::path::PathBuf {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    let p = pipeline(&d, &sb.base_url, csv, "");
    let yaml = std::fs::read_to_string(&p)
        .unwrap()
        .replace("mapping:\n", "mapping:\n  companyName: Company\n");
    std::fs::write(&p, format!("{yaml}load:\n{load}")).unwrap();
    p
}

#[test]
fn inside_the_search_lag_fill_empty_create_and_update_see_the_contacts_just_written() {
    let dir = workdir();
    let sb = SandboxProc::start("loc-it", &[FAST, &["--search-lag-ms", "3000"]].concat());
    let csv = "First Name,Email,Phone,Company\nAnn,ann@example.com,,Acme\nBen,ben@example.com,,Acme\nCy,cy@example.com,,Acme\n";
    let first = lag_pipeline(dir.path(), &sb, "a", csv, "  concurrency: 1\n");
    let o = sb.run_pipeline(&first, &dir.path().join("oa"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);

    // Within the lag, with state folders of their own (nothing journaled): the index shows none
    // of the three, yet each pipeline must treat them as existing.
    let cases = [
        (
            "fill",
            "First Name,Email,Phone,Company\nAnn,ann@example.com,,Other\n",
            "  fields: {companyName: fill_empty}\n",
        ),
        (
            "create",
            "First Name,Email,Phone,Company\nBen,ben@example.com,,Other\n",
            "  mode: create\n",
        ),
        (
            "update",
            "First Name,Email,Phone,Company\nCy,cy@example.com,,Newco\n",
            "  mode: update\n",
        ),
    ];
    let mut outcomes_seen = Vec::new();
    let mut notes = Vec::new();
    for (name, csv, load) in cases {
        let p = lag_pipeline(dir.path(), &sb, name, csv, load);
        let state = dir.path().join(format!("state-{name}"));
        let out = dir.path().join(format!("o-{name}"));
        let o = sb.run_with(&p, &out, &["--state-dir", state.to_str().unwrap()]);
        outcomes_seen.push((o.status.code(), outcomes(&out)[0].clone()));
        notes.push(summary(&out)["planning"].as_str().unwrap_or("").to_owned());
    }
    let company = |e: &str| sb.contact_by_email("loc-it", e)["companyName"].clone();
    assert_eq!(
        company("ann@example.com"),
        "Acme",
        "fill_empty keeps Ann's company"
    );
    assert_eq!(
        outcomes_seen[1],
        (Some(0), pair("unchanged", "")),
        "create mode leaves Ben alone"
    );
    assert_eq!(company("ben@example.com"), "Acme");
    assert_eq!(
        outcomes_seen[2],
        (Some(0), pair("updated", "")),
        "update mode finds Cy"
    );
    assert_eq!(company("cy@example.com"), "Newco");
    assert_eq!(sb.contacts("loc-it").len(), 3, "nothing created twice");
    for n in notes {
        assert!(n.contains("confirmed with duplicate lookups"), "{n}");
    }
}

#[test]
fn an_email_that_is_another_contacts_additional_email_is_a_conflict_not_an_upsert() {
    let dir = workdir();
    let seed = r#"{"loc-it": {"contacts": [
        {"email": "ann@primary.com", "additionalEmails": ["ann@old-job.com"], "firstName": "Ann"}
    ]}}"#;
    let sb = SandboxProc::seeded("loc-it", dir.path(), seed);
    let csv = "First Name,Email,Phone\nAnnie,ann@old-job.com,\nBo,bo@example.com,\n";
    let p = pipeline(dir.path(), &sb.base_url, csv, "");
    let o = sb.run_pipeline(&p, &dir.path().join("o"));
    assert_eq!(o.status.code(), Some(3), "{}", text(&o).1);
    let got = outcomes(&dir.path().join("o"));
    assert_eq!(got, [pair("rejected", "conflict"), pair("created", "")]);
    let why = &read_csv(&dir.path().join("o/rejected.csv"))[1];
    assert!(why[6].contains("additional email of contact"), "{why:?}");
    assert_eq!(
        sb.contact_by_email("loc-it", "ann@primary.com")["firstName"],
        "Ann",
        "the primary email is kept"
    );

    // The trap as GHL springs it (#337), asked for explicitly: the upsert replaces the primary.
    let p = pipeline(
        dir.path(),
        &sb.base_url,
        csv,
        "load:\n  phone_conflicts: merge\n",
    );
    let o = sb.run_pipeline(&p, &dir.path().join("o2"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let emails: Vec<String> = sb
        .contacts("loc-it")
        .iter()
        .filter_map(|c| c["email"].as_str().map(str::to_owned))
        .collect();
    assert!(emails.contains(&"ann@old-job.com".to_owned()), "{emails:?}");
    assert!(
        !emails.contains(&"ann@primary.com".to_owned()),
        "{emails:?}"
    );
}

#[test]
fn retry_rejects_patches_fixed_values_into_the_loaded_contacts_and_nothing_else() {
    let dir = workdir();
    let sb = SandboxProc::fast("loc-it");
    let csv = "First Name,Email,Phone,Birthday\nAnn,ann@example.com,,31/12/1985\nBen,ben@,(415) 555-2671,\nCy,cy@example.com,,12/31/1990\n";
    let p = csv_pipeline(
        dir.path(),
        &sb.base_url,
        csv,
        "mapping: {firstName: First Name, email: Email, phone: Phone, dateOfBirth: Birthday}\n\
         validate: {phone_default_region: US}\n",
    );
    let o = sb.run_pipeline(&p, &dir.path().join("o"));
    assert_eq!(o.status.code(), Some(0), "every row loads: {}", text(&o).1);
    let values_path = dir.path().join("o/rejected_values.csv");
    let values = read_csv(&values_path);
    let listed: Vec<(&str, &str)> = values[1..]
        .iter()
        .map(|v| (v[0].as_str(), v[4].as_str()))
        .collect();
    assert_eq!(
        listed,
        [
            ("2", "invalid_date"),
            ("3", "invalid_email"),
            ("4", "invalid_date")
        ]
    );

    // The user fixes two of the three; meanwhile someone renames Ann in GHL.
    let fixed = std::fs::read_to_string(&values_path)
        .unwrap()
        .replace("31/12/1985", "1985-12-31")
        .replace("3,Email,ben@,", "3,Email,ben@example.com,");
    std::fs::write(&values_path, fixed).unwrap();
    let ann = sb.contact_by_email("loc-it", "ann@example.com");
    let auth = format!("Bearer {}", sb.token);
    let (status, _) = sb.raw(
        "PUT",
        &format!("/contacts/{}", ann["id"].as_str().unwrap()),
        &[
            ("Authorization", &auth),
            ("Version", "2021-07-28"),
            ("Content-Type", "application/json"),
        ],
        r#"{"firstName": "Annabel"}"#,
    );
    assert_eq!(status, 200);

    let r = run(bin()
        .args(["retry-rejects", "-q", "--out"])
        .arg(dir.path().join("r"))
        .arg(dir.path().join("o"))
        .env("IT_TOKEN", &sb.token));
    assert_eq!(r.status.code(), Some(0), "{}", text(&r).1);
    let ann = sb.contact_by_email("loc-it", "ann@example.com");
    assert_eq!(ann["dateOfBirth"], "1985-12-31", "{ann}");
    assert_eq!(ann["firstName"], "Annabel", "no other field touched");
    let ben = sb.contact_by_email("loc-it", "ben@example.com");
    assert_eq!(
        ben["phone"], "+14155552671",
        "the email went into the contact loaded by phone"
    );
    let s = summary(&dir.path().join("r"));
    assert_eq!(s["values"]["patched"], 2);
    let again = read_csv(&dir.path().join("r/rejected_values.csv"));
    assert_eq!(
        again.len(),
        2,
        "the unfixed value is listed again: {again:?}"
    );
    assert_eq!(
        (again[1][0].as_str(), again[1][4].as_str()),
        ("4", "invalid_date")
    );
    let manifest = std::fs::read_to_string(dir.path().join("r/rollback.jsonl")).unwrap();
    assert_eq!(settled(&dir.path().join("r")).len(), 2, "{manifest}");
    assert!(
        manifest.contains(r#""before":{"dateOfBirth":""}"#),
        "{manifest}"
    );
}
