//! What the page is built from: the folder's rejected.csv, results.csv and plan.csv read in
//! one streaming pass each into groups (a count and a few examples per key), and timeline.csv.

use super::*;

/// One group of a table: how many, and a few examples.
#[derive(Debug, Default)]
pub(super) struct Group {
    pub(super) count: u64,
    /// A line about the group (a hint).
    pub(super) about: String,
    /// (row, value, message).
    pub(super) examples: Vec<(String, String, String)>,
}

/// A hint with the row numbers it names made general: "into row 2" → "into the row its message
/// names".
fn general(hint: &str) -> String {
    let mut out = String::with_capacity(hint.len());
    let mut rest = hint;
    while let Some(i) = rest.find("row ") {
        let after = &rest[i + 4..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        out.push_str(&rest[..i]);
        if digits > 0 {
            out.push_str("the row its message names");
            rest = &after[digits..];
        } else {
            out.push_str("row ");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Rows grouped by a key, in first-seen order of keys (then sorted by count when shown).
#[derive(Debug, Default)]
pub(super) struct Groups {
    pub(super) by: BTreeMap<String, Group>,
    /// A second grouping (rejects by column).
    pub(super) by_column: BTreeMap<String, Group>,
}

impl Groups {
    pub(super) fn add(
        map: &mut BTreeMap<String, Group>,
        key: &str,
        about: &str,
        ex: (String, String, String),
    ) {
        let g = map.entry(key.to_owned()).or_default();
        g.count += 1;
        if g.count == 1 {
            g.about = about.to_owned();
        } else if g.about != about {
            // Hints that name their own row ("merge this row into row 2") differ within a group:
            // the group's line says what they have in common.
            g.about = general(&g.about);
        }
        if g.examples.len() < EXAMPLES {
            g.examples.push(ex);
        }
    }

    /// rejected.csv: by `_code` (with its hint) and by `_column`.
    pub(super) fn of_rejects(path: &Path) -> anyhow::Result<Groups> {
        let mut g = Groups::default();
        let Some(mut r) = open_csv(path)? else {
            return Ok(g);
        };
        let head: Vec<String> = r.headers()?.iter().map(str::to_owned).collect();
        let at = |name: &str| head.iter().rposition(|h| h == name);
        let (Some(row), Some(code), Some(msg), Some(hint)) =
            (at("_row"), at("_code"), at("_message"), at("_hint"))
        else {
            return Ok(g);
        };
        let column = at("_column");
        let data = row;
        for rec in r.records() {
            let rec = rec?;
            let cell = |i: usize| rec.get(i).unwrap_or("");
            let col = column.map(cell).unwrap_or("");
            // The value shown: the cells of the reject's column(s), else the row's first cells.
            let value = if col.is_empty() {
                (0..data.min(3)).map(cell).collect::<Vec<_>>().join(" | ")
            } else {
                col.split(", ")
                    .filter_map(|c| head[..data].iter().position(|h| h.trim() == c))
                    .map(cell)
                    .collect::<Vec<_>>()
                    .join(" | ")
            };
            let ex = (cell(row).to_owned(), cut(&value), cut(cell(msg)));
            Self::add(&mut g.by, cell(code), cell(hint), ex.clone());
            let key = if col.is_empty() {
                "(no single column)"
            } else {
                col
            };
            Self::add(&mut g.by_column, key, cell(code), ex);
        }
        Ok(g)
    }

    /// results.csv: warnings by code.
    pub(super) fn of_warnings(path: &Path) -> anyhow::Result<Groups> {
        let mut g = Groups::default();
        let Some(mut r) = open_csv(path)? else {
            return Ok(g);
        };
        let head: Vec<String> = r.headers()?.iter().map(str::to_owned).collect();
        let (Some(row), Some(w)) = (
            head.iter().position(|h| h == "row"),
            head.iter().position(|h| h == "warnings"),
        ) else {
            return Ok(g);
        };
        for rec in r.records() {
            let rec = rec?;
            let text = rec.get(w).unwrap_or("");
            if text.is_empty() {
                continue;
            }
            for one in text.split("; ") {
                let (code, message) = one.split_once(": ").unwrap_or((one, ""));
                let ex = (
                    rec.get(row).unwrap_or("").to_owned(),
                    String::new(),
                    cut(message),
                );
                Self::add(&mut g.by, code, "", ex);
            }
        }
        Ok(g)
    }

    /// rejected_values.csv: by `code` (with its hint) and by source column.
    pub(super) fn of_values(path: &Path) -> anyhow::Result<Groups> {
        let mut g = Groups::default();
        let Some(mut r) = open_csv(path)? else {
            return Ok(g);
        };
        for rec in r.records() {
            let rec = rec?;
            let cell = |i: usize| rec.get(i).unwrap_or("");
            // row, column, value, field, code, message, hint, kept_in
            let ex = (cell(0).to_owned(), cut(cell(2)), cut(cell(5)));
            Self::add(&mut g.by, cell(4), cell(6), ex.clone());
            Self::add(&mut g.by_column, cell(1), cell(4), ex);
        }
        Ok(g)
    }

    /// plan.csv: the fields updates would change, by field.
    pub(super) fn of_plan(path: &Path) -> anyhow::Result<Groups> {
        let mut g = Groups::default();
        let Some(mut r) = open_csv(path)? else {
            return Ok(g);
        };
        for rec in r.records() {
            let rec = rec?;
            if rec.get(1) != Some("update") {
                continue;
            }
            for change in rec.get(3).unwrap_or("").split("; ") {
                let (field, what) = change.split_once(": ").unwrap_or((change, ""));
                let ex = (
                    rec.get(0).unwrap_or("").to_owned(),
                    cut(what),
                    String::new(),
                );
                Self::add(&mut g.by, field, "", ex);
            }
        }
        Ok(g)
    }
}

pub(super) fn open_csv(path: &Path) -> anyhow::Result<Option<csv::Reader<std::fs::File>>> {
    match std::fs::File::open(path) {
        Ok(f) => Ok(Some(
            csv::ReaderBuilder::new().flexible(true).from_reader(f),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// One second of a run's requests.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Tick {
    pub(super) second: u64,
    pub(super) requests: u64,
    pub(super) rate_limited: u64,
}

pub(super) fn timeline(path: &Path) -> anyhow::Result<Vec<Tick>> {
    let Some(mut r) = open_csv(path)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for rec in r.records() {
        let rec = rec?;
        let n = |i: usize| rec.get(i).and_then(|v| v.parse().ok()).unwrap_or(0);
        out.push(Tick {
            second: n(0),
            requests: n(1),
            rate_limited: n(2),
        });
    }
    Ok(out)
}
