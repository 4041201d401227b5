//! The shape of the code (ARCHITECTURE.md), checked on the sources: no circle between the
//! top-level modules of `src/`, the engine apart from the commands, the options below
//! everything that uses them, and the sandbox named only by the commands that start one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::util::repo;

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out
}

/// A file's code without its unit tests and comment lines.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => &text[..],
    };
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level module of a file under `src/` (`engine` for `src/engine/run/figures.rs`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_owned()
}

/// The top-level modules a piece of code names: `crate::x::…`, `crate::x;` and
/// `crate::{x::…, y}`.
fn named_modules(code: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name = ident(item.trim());
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

/// Module → the other top-level modules it names.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = repo().join("src");
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in rust_files(&src) {
        let m = module_of(&src, &f);
        let names = named_modules(&code(&f));
        let entry = g.entry(m.clone()).or_default();
        entry.extend(names.into_iter().filter(|n| *n != m));
    }
    g
}

/// A circle through `from`, if there is one (depth-first).
fn circle(
    g: &BTreeMap<String, BTreeSet<String>>,
    path: &mut Vec<String>,
    done: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    let here = path.last().unwrap().clone();
    for next in g.get(&here).into_iter().flatten() {
        if let Some(i) = path.iter().position(|p| p == next) {
            let mut c = path[i..].to_vec();
            c.push(next.clone());
            return Some(c);
        }
        if done.contains(next) {
            continue;
        }
        path.push(next.clone());
        if let Some(c) = circle(g, path, done) {
            return Some(c);
        }
        path.pop();
    }
    done.insert(here);
    None
}

#[test]
fn no_circle_between_the_top_level_modules() {
    let g = graph();
    assert!(g.len() > 15, "the modules of src/: {:?}", g.keys());
    let mut done = BTreeSet::new();
    for m in g.keys() {
        let mut path = vec![m.clone()];
        if let Some(c) = circle(&g, &mut path, &mut done) {
            panic!("a circle between modules: {}", c.join(" → "));
        }
    }
}

#[test]
fn the_engine_serve_and_options_never_reach_up() {
    let g = graph();
    let names = |m: &str| g.get(m).cloned().unwrap_or_default();
    for m in ["engine", "serve", "store", "options"] {
        assert!(
            !names(m).contains("cmd") && !names(m).contains("cli"),
            "{m} names the commands: {:?}",
            names(m)
        );
    }
    assert!(!names("engine").contains("serve"), "{:?}", names("engine"));
    let allowed: BTreeSet<String> = ["config", "outcome", "report"].map(String::from).into();
    assert!(
        names("options").is_subset(&allowed),
        "options names {:?}",
        names("options")
    );
    // The circle breaker itself must be seen: the engine does take its options from there.
    assert!(names("engine").contains("options"));
}

#[test]
fn only_the_commands_that_start_a_sandbox_name_it() {
    let src = repo().join("src");
    let mut naming: Vec<String> = rust_files(&src)
        .into_iter()
        .filter(|f| code(f).contains("ghl_sandbox"))
        .map(|f| f.strip_prefix(&src).unwrap().display().to_string())
        .collect();
    naming.sort();
    assert_eq!(naming, ["cli.rs", "cmd/sandbox.rs"]);
    let client = repo().join("crates/ghl-client/src");
    for f in rust_files(&client) {
        let c = code(&f);
        assert!(
            !c.contains("ghl_sandbox") && !c.contains("ghl_import"),
            "{} reaches out of the client crate",
            f.display()
        );
    }
}
