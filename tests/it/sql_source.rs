//! SQL sources: the rows of a query on an SQLite database, into the sandbox as a user runs them.

use std::path::Path;

use crate::util::{bin, kill9_after, run, summary, workdir, SandboxProc, FAST};

/// A small CRM's table: types, NULLs, non-ASCII, a BLOB, and text that is not UTF-8.
fn crm(path: &Path) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch(
        "create table people (id integer primary key, first text, last text, email text,
                              phone text, tags text, born text, score real, photo blob);
         insert into people values
           (1, 'Zoë', 'Ångström', 'zoe@example.com', '+1 415 555 0101', 'vip, lead', '1990-02-03', 4.5, x'0001'),
           (2, 'Li', 'Wei', 'li@example.cn', null, null, null, null, null),
           (3, null, 'Nobody', null, null, null, null, 3.0, null),
           (4, cast(x'fffe41' as text), 'Bytes', 'bytes@example.com', null, null, null, null, null),
           (5, 'Ann', 'Lee', 'ann@example.com', '415-555-0199', 'lead', null, 12, null);",
    )
    .unwrap();
}

fn pipeline(dir: &Path, base_url: &str, source: &str) -> std::path::PathBuf {
    let p = dir.join("p.yaml");
    std::fs::write(
        &p,
        format!(
            "version: 1
source:
{source}
target:
  location_id: loc-it
  base_url: {base_url}
  auth:
    token_env: IT_TOKEN
mapping:
  firstName: first
  lastName: last
  email: email
  phone: phone
  tags: tags
  dateOfBirth: born
validate:
  phone_default_region: US
"
        ),
    )
    .unwrap();
    p
}

/// A work folder with the CRM's database, a fast sandbox, and a pipeline on `query`
/// (`key`: a `source.key` line).
fn crm_run(query: &str, key: Option<&str>) -> (tempfile::TempDir, SandboxProc, std::path::PathBuf) {
    let dir = workdir();
    crm(&dir.path().join("crm.db"));
    let sb = SandboxProc::start("loc-it", FAST);
    let key = key.map_or(String::new(), |k| format!("  key: {k}\n"));
    let source = format!("  type: sqlite\n  path: crm.db\n{key}  query: {query}");
    let p = pipeline(dir.path(), &sb.base_url, &source);
    (dir, sb, p)
}

#[test]
fn a_query_is_imported_with_its_types_nulls_and_non_ascii_and_every_row_has_one_outcome() {
    let (dir, sb, p) = crm_run("select * from people where id > 0 order by id desc", None);
    let o = sb.run_pipeline(&p, &dir.path().join("o"));
    assert_eq!(o.status.code(), Some(3), "two rows rejected");
    let s = summary(&dir.path().join("o"));
    assert_eq!(s["rows"]["read"], 5);
    assert_eq!(s["rows"]["created"], 3);
    assert_eq!(s["rejected_by_code"]["missing_contact_key"], 1);
    assert_eq!(s["rejected_by_code"]["malformed_row"], 1);
    let zoe = sb.contact_by_email("loc-it", "zoe@example.com");
    assert_eq!(zoe["firstName"], "Zoë");
    assert_eq!(zoe["lastName"], "Ångström");
    assert_eq!(zoe["phone"], "+14155550101");
    assert_eq!(zoe["tags"], serde_json::json!(["vip", "lead"]));
    assert_eq!(zoe["dateOfBirth"], "1990-02-03");
    let li = sb.contact_by_email("loc-it", "li@example.cn");
    assert!(li.get("phone").is_none_or(|v| v.is_null()), "{li}");
    // Rows are numbered in the query's order (descending ids): id 4 is the second row.
    let rejected = std::fs::read_to_string(dir.path().join("o/rejected.csv")).unwrap();
    let bytes_line = rejected
        .lines()
        .find(|l| l.contains("Bytes"))
        .expect("the row with bytes that are not UTF-8");
    assert!(
        bytes_line.contains(",2,extract,malformed_row,") && bytes_line.contains("`first`"),
        "{rejected}"
    );
    // The columns nothing maps are named, with the rows that had data in them.
    let unmapped = s["unmapped_columns"].to_string();
    assert!(
        unmapped.contains("score") && unmapped.contains("photo"),
        "{unmapped}"
    );
}

#[test]
fn a_query_without_a_stable_order_is_refused_and_a_key_gives_it_one() {
    let (dir, sb, p) = crm_run("select * from people where email is not null", None);
    let o = sb.run_pipeline(&p, &dir.path().join("o"));
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("p.yaml:5:3") && err.contains("ORDER BY") && err.contains("source.key"),
        "{err}"
    );
    assert_eq!(sb.contacts("loc-it").len(), 0, "nothing sent");
    let p = pipeline(
        dir.path(),
        &sb.base_url,
        "  type: sqlite\n  path: crm.db\n  key: id\n  query: select * from people where email is not null",
    );
    let o = sb.run_pipeline(&p, &dir.path().join("o2"));
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(summary(&dir.path().join("o2"))["rows"]["created"], 3);
}

#[test]
fn a_missing_database_or_a_query_sqlite_refuses_is_a_clear_error() {
    let dir = workdir();
    crm(&dir.path().join("crm.db"));
    std::fs::write(dir.path().join("junk.db"), "not a database").unwrap();
    for (source, says) in [
        (
            "path: nope.db\n  query: select * from people order by id",
            "cannot open it as an SQLite database",
        ),
        (
            "path: crm.db\n  query: select * from peeple order by id",
            "no such table: peeple",
        ),
        (
            "path: junk.db\n  query: select * from people order by id",
            "not a database",
        ),
        (
            "path: crm.db\n  query: select p.email, q.email from people p join people q order by 1",
            "two columns named `email`",
        ),
    ] {
        let p = pipeline(
            dir.path(),
            "http://127.0.0.1:9",
            &format!("  type: sqlite\n  {source}"),
        );
        let o = run(bin()
            .args(["run", "-q", "--sandbox", "--out"])
            .arg(dir.path().join("o"))
            .arg(&p));
        assert_eq!(o.status.code(), Some(2), "{source}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says), "{source}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn init_writes_a_pipeline_from_a_query_that_runs_and_refuses_one_without_order() {
    let dir = workdir();
    crm(&dir.path().join("crm.db"));
    let init = |extra: &[&str]| {
        run(bin()
            .current_dir(dir.path())
            .args(["init", "crm.db", "--force"])
            .args(extra))
    };
    let o = init(&[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--query"));
    let o = init(&["--query", "select * from people"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("ORDER BY"));
    assert!(!dir.path().join("pipelines/crm.yaml").exists());
    let query = r#"select id, first as "First Name", last as "Last Name", email, phone from people order by id"#;
    let o = init(&["--query", query]);
    assert_eq!(o.status.code(), Some(0));
    let yaml = std::fs::read_to_string(dir.path().join("pipelines/crm.yaml")).unwrap();
    assert!(
        yaml.contains("type: sqlite") && yaml.contains("firstName: First Name"),
        "{yaml}"
    );
    let o = run(bin().current_dir(dir.path()).args([
        "run",
        "-q",
        "--sandbox",
        "--out",
        "o",
        "pipelines/crm.yaml",
    ]));
    assert_eq!(
        o.status.code(),
        Some(3),
        "rows without email or phone, or not UTF-8"
    );
    let s = summary(&dir.path().join("o"));
    assert_eq!(s["rows"]["read"], 5);
    assert_eq!(s["rows"]["created"], 3);
}

#[test]
fn a_run_killed_mid_query_then_run_again_writes_every_row_once() {
    let dir = workdir();
    let db = dir.path().join("big.db");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch(
        "create table people (id integer primary key, first text, email text);
         with recursive n(i) as (select 1 union all select i + 1 from n where i < 300)
         insert into people select i, 'P' || i, 'p' || i || '@example.com' from n;",
    )
    .unwrap();
    drop(c);
    // 100 requests a second: the kill lands mid-query, with rows in flight.
    let sb = SandboxProc::start(
        "loc-it",
        &["--rate-max", "100", "--rate-interval-ms", "1000"],
    );
    let p = dir.path().join("p.yaml");
    std::fs::write(
        &p,
        format!(
            "version: 1\nsource: {{type: sqlite, path: big.db, query: \"select first, email from people order by id\"}}\n\
             target: {{location_id: loc-it, base_url: {}, auth: {{token_env: IT_TOKEN}}}}\n\
             mapping: {{firstName: first, email: email}}\n",
            sb.base_url
        ),
    )
    .unwrap();
    kill9_after(
        bin()
            .args(["run", "-q", "--out"])
            .arg(dir.path().join("killed"))
            .arg(&p)
            .env("IT_TOKEN", &sb.token),
        &sb,
        "loc-it",
        60,
    );
    let before = sb.contacts("loc-it").len();
    assert!(
        (60..300).contains(&before),
        "killed mid-run: {before} contacts"
    );
    let o = sb.run_pipeline(&p, &dir.path().join("again"));
    assert_eq!(o.status.code(), Some(0));
    let contacts = sb.contacts("loc-it");
    let emails: std::collections::BTreeSet<_> = contacts
        .iter()
        .map(|c| c["email"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!((contacts.len(), emails.len()), (300, 300), "each row once");
    let s = summary(&dir.path().join("again"));
    assert_eq!(s["rows"]["read"], 300);
    assert!(
        s["rows"]["created"].as_u64().unwrap() <= 300 - before as u64 + 8,
        "{s}"
    );
}

/// A pipeline reading `query` from the database in `$CRM_URL`.
fn pg_pipeline(dir: &Path, base_url: &str, query: &str) -> std::path::PathBuf {
    pipeline(
        dir,
        base_url,
        &format!("  type: postgres\n  url_env: CRM_URL\n  query: \"{query}\""),
    )
}

#[test]
fn a_postgres_query_is_imported_with_types_nulls_arrays_and_non_ascii() {
    let pg = crate::pg::Pg::start();
    pg.sql(
        "ghl",
        "create table people (id serial primary key, first text, last text, email text, phone text,
                              tags text[], born date, vip boolean, seen timestamptz, score numeric(6,2));
         insert into people (first, last, email, phone, tags, born, vip, seen, score) values
           ('Zoë', 'Ångström', 'zoe@example.com', '+1 415 555 0101', '{vip,\"lead, warm\"}', '1990-02-03', true, '2026-01-31 09:30:00+00', 4.5),
           ('Li', 'Wei', 'li@example.cn', null, null, null, false, null, null),
           (null, 'Nobody', null, null, '{}', null, null, null, 3);",
    );
    let dir = workdir();
    let sb = SandboxProc::start("loc-it", FAST);
    let p = pg_pipeline(dir.path(), &sb.base_url, "select * from people order by id");
    let o = run(bin()
        .args(["run", "-q", "--out"])
        .arg(dir.path().join("o"))
        .arg(&p)
        .env("IT_TOKEN", &sb.token)
        .env("CRM_URL", pg.url()));
    assert_eq!(o.status.code(), Some(3), "one row without email or phone");
    let s = summary(&dir.path().join("o"));
    assert_eq!(s["rows"]["read"], 3);
    assert_eq!(s["rows"]["created"], 2);
    assert_eq!(s["rejected_by_code"]["missing_contact_key"], 1);
    let zoe = sb.contact_by_email("loc-it", "zoe@example.com");
    assert_eq!(zoe["firstName"], "Zoë");
    assert_eq!(zoe["lastName"], "Ångström");
    assert_eq!(zoe["tags"], serde_json::json!(["vip", "lead, warm"]));
    assert_eq!(zoe["dateOfBirth"], "1990-02-03");
    let li = sb.contact_by_email("loc-it", "li@example.cn");
    assert_eq!(li["tags"], serde_json::json!([]), "{li}");
    // The columns nothing maps, with their typed values as cells, are named in the summary.
    let unmapped = s["unmapped_columns"].to_string();
    assert!(
        unmapped.contains("vip") && unmapped.contains("score"),
        "{unmapped}"
    );
    let rejected = std::fs::read_to_string(dir.path().join("o/rejected.csv")).unwrap();
    assert!(
        rejected.contains(",Nobody,") && rejected.contains(",3.00,"),
        "{rejected}"
    );
}

#[test]
fn a_wrong_password_or_a_url_in_the_wrong_key_is_exit_2_and_no_password_is_shown() {
    let pg = crate::pg::Pg::start();
    let dir = workdir();
    let sb = SandboxProc::start("loc-it", FAST);
    let p = pg_pipeline(dir.path(), &sb.base_url, "select 1 as email order by 1");
    let wrong = pg.url_of("ghl", "Wrong-Pass-123");
    let o = run(bin()
        .args(["run", "--out"])
        .arg(dir.path().join("o"))
        .arg(&p)
        .env("IT_TOKEN", &sb.token)
        .env("CRM_URL", &wrong));
    assert_eq!(o.status.code(), Some(2));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(all.contains("password authentication failed"), "{all}");
    assert!(
        !all.contains("Wrong-Pass-123") && !all.contains(&wrong),
        "{all}"
    );
    // The URL pasted where its variable's name belongs.
    let yaml = std::fs::read_to_string(&p)
        .unwrap()
        .replace("url_env: CRM_URL", &format!("url_env: {}", pg.url()));
    std::fs::write(&p, yaml).unwrap();
    let o = run(bin().args(["validate"]).arg(&p));
    assert_eq!(o.status.code(), Some(2));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(all.contains("url_env"), "{all}");
    assert!(!all.contains(crate::pg::PASSWORD), "{all}");
}
