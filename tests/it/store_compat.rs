//! The store opens a state folder written by release 0.1.0 (`tests/fixtures/state-0.1.0`, made
//! by its `make.sh` with that build): every record reads back as that release wrote it, and a
//! run of today's binary carries on in the same folder.

use std::path::{Path, PathBuf};

use ghl_import::store::inbox::{FileState, Key};
use ghl_import::store::Store;

use crate::util::{bin, repo, run, SandboxProc};

/// A copy of the fixture's state folder (the tests write to it).
fn old_state() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let from = repo().join("tests/fixtures/state-0.1.0/state");
    copy_dir(&from, &tmp.path().join("state"));
    let dir = tmp.path().join("state");
    (tmp, dir)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn every_record_written_by_0_1_0_reads_back() {
    let (_tmp, dir) = old_state();
    let store = Store::at(&dir);

    let runs = store.history().unwrap().list(None, 10).unwrap();
    let mut seen: Vec<_> = runs
        .iter()
        .map(|r| (r.pipeline.as_str(), r.created, r.updated, r.exported))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("fx-export", Some(0), Some(0), Some(3)),
            ("fx-import", Some(3), Some(0), Some(0)),
            ("fx-inbox", Some(0), Some(3), Some(0)),
        ]
    );

    // The journal of the import: each row applied, with the contact it reached.
    let file = only_file(&dir.join("journal"), "fx-import--fx-location");
    let j = ghl_import::store::journal::Journal::open_file(&file).unwrap();
    for email in ["ada@example.com", "emile@example.fr", "grace@example.com"] {
        let e = j
            .lookup(email)
            .unwrap()
            .unwrap_or_else(|| panic!("{email}"));
        assert_eq!(e.state, "done", "{email}");
        assert!(e.contact_id.is_some_and(|c| c.len() == 20), "{email}");
    }
    assert_eq!(j.lookup("nobody@example.com").unwrap(), None);

    let sha =
        ghl_import::inbox::sha256(&repo().join("tests/fixtures/state-0.1.0/contacts.csv")).unwrap();
    let key = Key {
        pipeline: "fx-inbox",
        location: "fx-location",
        sha256: &sha,
    };
    let taken = store.inbox().unwrap().latest(key, FileState::Done).unwrap();
    assert_eq!(taken.map(|e| e.name).as_deref(), Some("drop-1.csv"));

    let mark = store
        .marks()
        .load_watermark("fx-export", "fx-location")
        .unwrap()
        .expect("the export's mark");
    assert!(mark.mark.starts_with("2026-12-08T"), "{mark:?}");
    assert_eq!(mark.ids_at_mark.len(), 1);

    let t = store.tokens().load("fx-location").unwrap().expect("tokens");
    assert_eq!(t.client_id, "fx-client");
    assert!(t.has_scope("contacts.write"), "{:?}", t.scopes);
}

#[test]
fn a_run_of_today_carries_on_in_a_0_1_0_state_folder() {
    let (tmp, dir) = old_state();
    let sb = SandboxProc::fast("fx-location");
    let p = tmp.path().join("import.yaml");
    std::fs::copy(
        repo().join("tests/fixtures/state-0.1.0/contacts.csv"),
        tmp.path().join("contacts.csv"),
    )
    .unwrap();
    let yaml = std::fs::read_to_string(repo().join("tests/fixtures/state-0.1.0/import.yaml"))
        .unwrap()
        .replace("${GHL_BASE_URL}", &sb.base_url)
        .replace("GHL_TOKEN", "IT_TOKEN");
    std::fs::write(&p, yaml).unwrap();
    let out = run(bin()
        .args(["run", "-q", "--state-dir"])
        .arg(&dir)
        .arg("--out")
        .arg(tmp.path().join("out"))
        .arg(&p)
        .env("IT_TOKEN", &sb.token));
    assert_eq!(out.status.code(), Some(0));
    // The 0.1.0 lease file now names today's run; the history has a fourth row.
    let lease = std::fs::read_to_string(dir.join("leases/fx-location.lock")).unwrap();
    assert!(lease.contains(&p.display().to_string()), "{lease}");
    let out = run(bin()
        .args(["runs", "--format", "json", "--state-dir"])
        .arg(&dir));
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 4, "{v}");
    assert!(
        runs.iter().any(|r| r["pipeline"] == "fx-import"
            && r["created"] == 3
            && r["exit_code"] == 0
            && r["id"] == 4),
        "{v}"
    );
}

/// The one file in `dir` whose name starts with `prefix`.
fn only_file(dir: &Path, prefix: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name().is_some_and(|n| {
                let n = n.to_string_lossy();
                n.starts_with(prefix) && n.ends_with(".sqlite")
            })
        })
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found.into_iter().next().unwrap()
}
