//! Evaluates a mapping rule against a row: input (column, columns, constant, template, part of a
//! name) → regex replacements → text operations → value map → default. Field-specific
//! normalisation (email, phone, dates, …) happens after, in transform/mod.rs.

use crate::config::mapping::{map_key, FieldRule, Input, NamePart, TemplatePart, TextOp};
use crate::outcome::{codes, RowError, Stage};
use crate::record::Record;

/// A rule with its columns resolved to indices (in the order of `Input::columns`).
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The rule.
    pub rule: FieldRule,
    /// Column indices.
    pub cols: Vec<usize>,
    /// The columns' names, `, `-separated (for reports: which column a reject is in).
    pub names: std::sync::Arc<str>,
    /// Each column's name, in the order of `cols`.
    pub each: Vec<std::sync::Arc<str>>,
}

impl Resolved {
    /// Whether the rule takes the first usable of several columns.
    pub fn is_first_of(&self) -> bool {
        matches!(self.rule.input, Input::FirstOf(_))
    }

    /// The rule's non-blank cells, `, `-separated (what a report shows when the rule failed
    /// before it had a value).
    pub fn cells_text(&self, rec: &Record) -> String {
        self.cols
            .iter()
            .map(|i| rec.get(*i).trim())
            .filter(|c| !c.is_empty())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The index of the single column the value comes from, if there is one (for hints).
    pub fn single_column(&self) -> Option<usize> {
        match self.rule.input {
            Input::Column(_) => self.cols.first().copied(),
            _ => None,
        }
    }

    /// Computes the field's text for `rec`. Empty results are `""`.
    /// The rule's value for `rec`, in Unicode NFC: text written decomposed (`e` + a combining
    /// accent, as some Mac exports do) is sent composed, like everything typed into GHL.
    pub fn eval<'r>(&self, rec: &'r Record) -> Result<std::borrow::Cow<'r, str>, RowError> {
        self.eval_raw(rec).map(nfc)
    }

    fn eval_raw<'r>(&self, rec: &'r Record) -> Result<std::borrow::Cow<'r, str>, RowError> {
        // The common case — a plain column — borrows the cell: no allocation.
        if let Input::Column(_) = self.rule.input {
            if self.rule.replace.is_empty() && self.rule.ops.is_empty() && self.rule.map.is_empty()
            {
                let cell = cell(rec, self.cols[0]);
                if self.rule.default.is_none() || !cell.trim().is_empty() {
                    return Ok(std::borrow::Cow::Borrowed(cell));
                }
            }
        }
        self.eval_owned(rec).map(std::borrow::Cow::Owned)
    }

    /// The rule's input for `rec`, before any step.
    fn input(&self, rec: &Record) -> String {
        match &self.rule.input {
            Input::Column(_) => cell(rec, self.cols[0]).to_owned(),
            Input::Value(v) => v.clone(),
            Input::Columns(_, sep) => self
                .cols
                .iter()
                .map(|i| cell(rec, *i).trim())
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(sep),
            Input::FirstOf(_) => self
                .cols
                .iter()
                .map(|i| cell(rec, *i).trim())
                .find(|s| !s.is_empty())
                .unwrap_or_default()
                .to_owned(),
            Input::Template(parts) => {
                let mut out = String::new();
                let mut k = 0;
                for p in parts {
                    match p {
                        TemplatePart::Lit(l) => out.push_str(l),
                        TemplatePart::Col(_) => {
                            out.push_str(cell(rec, self.cols[k]).trim());
                            k += 1;
                        }
                    }
                }
                // Blank placeholders leave doubled or dangling spaces: tidy them.
                out.split_whitespace().collect::<Vec<_>>().join(" ")
            }
            Input::SplitName(_, part) => split_name(cell(rec, self.cols[0]), *part),
        }
    }

    fn eval_owned(&self, rec: &Record) -> Result<String, RowError> {
        let v = self.input(rec);
        self.steps(v)
    }

    /// Replacements, text operations, value map, default.
    fn steps(&self, mut v: String) -> Result<String, RowError> {
        for (re, with) in &self.rule.replace {
            if re.is_match(&v) {
                v = re.replace_all(&v, with.as_str()).into_owned();
            }
        }
        for op in &self.rule.ops {
            v = apply_op(&v, *op);
        }
        if !self.rule.map.is_empty() && !v.trim().is_empty() {
            let key = map_key(&v);
            match self.rule.map.iter().find(|(k, _)| *k == key) {
                Some((_, to)) => v = to.clone(),
                None if self.rule.strict_map => {
                    let allowed: Vec<&str> =
                        self.rule.map.iter().map(|(k, _)| k.as_str()).collect();
                    return Err(RowError::new(
                        Stage::Validate,
                        codes::VALUE_NOT_ALLOWED,
                        format!("`{}` is not one of the mapped values", v.trim()),
                        format!("use one of: {}", allowed.join(", ")),
                    ));
                }
                None => {}
            }
        }
        if v.trim().is_empty() {
            if let Some(d) = &self.rule.default {
                v = d.clone();
            }
        }
        Ok(v)
    }

    /// The values a rule offers for a field that takes one of several: a `first_of` rule's
    /// non-blank columns in the rule's order (the rule's steps applied to each), else the rule's
    /// value; a cell holding several values joined with ` ::: ` (Google Contacts exports) offers
    /// each. Each with its column index (`usize::MAX` when the value is not one column's).
    pub fn candidates(&self, rec: &Record) -> Vec<(usize, Result<String, RowError>)> {
        let whole: Vec<(usize, Result<String, RowError>)> = match self.rule.input {
            Input::FirstOf(_) => self
                .cols
                .iter()
                .filter_map(|&i| {
                    let c = cell(rec, i).trim();
                    (!c.is_empty()).then(|| {
                        let v = self.steps(c.to_owned());
                        (i, v.map(|v| nfc(v.into()).into_owned()))
                    })
                })
                .collect(),
            _ => vec![(
                self.single_column().unwrap_or(usize::MAX),
                self.eval(rec).map(std::borrow::Cow::into_owned),
            )],
        };
        whole
            .into_iter()
            .flat_map(|(i, v)| match v {
                Ok(v) if v.contains(MULTI_SEP) => v
                    .split(MULTI_SEP)
                    .map(|p| (i, Ok(p.trim().to_owned())))
                    .collect::<Vec<_>>(),
                other => vec![(i, other)],
            })
            .collect()
    }
}

/// What joins several values in one cell of a Google Contacts export (`a@x.co ::: b@y.co`).
pub const MULTI_SEP: &str = " ::: ";

/// Cell `i` of `rec`, blank when it holds a known empty marker (`N/A`, `0/0/00`, …).
fn cell(rec: &Record, i: usize) -> &str {
    let c = rec.get(i);
    if crate::transform::normalize::is_empty_marker(c) {
        ""
    } else {
        c
    }
}

/// Splits a full name: `Last, First Middle` → (First Middle, Last); otherwise the first word is
/// the given name and the rest the family name (`Anna van der Berg` → Anna / van der Berg).
pub fn split_name(full: &str, part: NamePart) -> String {
    let full = full.trim();
    let (first, last) = match full.split_once(',') {
        Some((last, first)) => (first.trim().to_owned(), last.trim().to_owned()),
        None => {
            let mut words = full.split_whitespace();
            let first = words.next().unwrap_or_default().to_owned();
            (first, words.collect::<Vec<_>>().join(" "))
        }
    };
    match part {
        NamePart::First => first,
        NamePart::Last => last,
    }
}

fn apply_op(v: &str, op: TextOp) -> String {
    match op {
        TextOp::Trim => v.trim().to_owned(),
        TextOp::Lower => v.to_lowercase(),
        TextOp::Upper => v.to_uppercase(),
        TextOp::Collapse => v.split_whitespace().collect::<Vec<_>>().join(" "),
        TextOp::Digits => {
            let plus = v.trim_start().starts_with('+');
            let digits: String = v.chars().filter(char::is_ascii_digit).collect();
            if plus && !digits.is_empty() {
                format!("+{digits}")
            } else {
                digits
            }
        }
        TextOp::Title => {
            let mut out = String::with_capacity(v.len());
            let mut start = true;
            for c in v.chars() {
                if c.is_alphanumeric() || c == '\'' {
                    if start {
                        out.extend(c.to_uppercase());
                    } else {
                        out.extend(c.to_lowercase());
                    }
                    start = false;
                } else {
                    out.push(c);
                    start = true;
                }
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::mapping::{compile, FieldSpec, ReplaceSpec, RuleSpec};

    fn rule(spec: RuleSpec, cols: Vec<usize>) -> Resolved {
        Resolved {
            rule: compile(&FieldSpec::Rule(Box::new(spec)), false).unwrap(),
            cols,
            names: std::sync::Arc::from(""),
            each: Vec::new(),
        }
    }

    fn rec(cells: &[&str]) -> Record {
        Record::new(2, cells)
    }

    #[test]
    fn inputs() {
        let r = rec(&["Ann", "", "Lee", "Smith, John Paul"]);
        let t = rule(
            RuleSpec {
                template: Some("{A} {B} {C}".into()),
                ..Default::default()
            },
            vec![0, 1, 2],
        );
        assert_eq!(t.eval(&r).unwrap(), "Ann Lee");
        let j = rule(
            RuleSpec {
                columns: Some(vec!["A".into(), "B".into(), "C".into()]),
                sep: Some(" / ".into()),
                ..Default::default()
            },
            vec![0, 1, 2],
        );
        assert_eq!(j.eval(&r).unwrap(), "Ann / Lee");
        let v = rule(
            RuleSpec {
                value: Some("import".into()),
                ..Default::default()
            },
            vec![],
        );
        assert_eq!(v.eval(&r).unwrap(), "import");
        let first = |n| {
            rule(
                RuleSpec {
                    split_name: Some("N".into()),
                    part: Some(n),
                    ..Default::default()
                },
                vec![3],
            )
        };
        assert_eq!(first(NamePart::First).eval(&r).unwrap(), "John Paul");
        assert_eq!(first(NamePart::Last).eval(&r).unwrap(), "Smith");
        assert_eq!(
            split_name("Anna van der Berg", NamePart::Last),
            "van der Berg"
        );
        assert_eq!(split_name("Cher", NamePart::Last), "");
    }

    #[test]
    fn steps_apply_in_order() {
        let r = rec(&["  mR.  JOHN   o'neil  ext. 12"]);
        let s = rule(
            RuleSpec {
                column: Some("A".into()),
                replace: vec![ReplaceSpec {
                    pattern: r"\s*ext\.?\s*\d+$".into(),
                    with: String::new(),
                }],
                transform: vec![TextOp::Collapse, TextOp::Title],
                ..Default::default()
            },
            vec![0],
        );
        assert_eq!(s.eval(&r).unwrap(), "Mr. John O'neil");
        assert_eq!(
            apply_op(" +1 (415) 555-2671 ", TextOp::Digits),
            "+14155552671"
        );
        assert_eq!(apply_op("ÉCOLE", TextOp::Lower), "école");
    }

    #[test]
    fn value_maps_defaults_and_strict_maps() {
        let spec = |strict| RuleSpec {
            column: Some("A".into()),
            map: [("Yes".into(), "true".into()), ("No".into(), "false".into())].into(),
            strict_map: strict,
            default: Some("false".into()),
            ..Default::default()
        };
        let lax = rule(spec(false), vec![0]);
        assert_eq!(lax.eval(&rec(&[" YES "])).unwrap(), "true");
        assert_eq!(lax.eval(&rec(&[""])).unwrap(), "false");
        assert_eq!(lax.eval(&rec(&["maybe"])).unwrap(), "maybe");
        let strict = rule(spec(true), vec![0]);
        let e = strict.eval(&rec(&["maybe"])).unwrap_err();
        assert_eq!(e.code, codes::VALUE_NOT_ALLOWED);
        assert!(e.hint.contains("yes"), "{}", e.hint);
    }
}

/// `v` in Unicode NFC, borrowed as it is when it already is (ASCII always is).
pub fn nfc(v: std::borrow::Cow<'_, str>) -> std::borrow::Cow<'_, str> {
    use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};
    if v.is_ascii() || is_nfc_quick(v.chars()) == IsNormalized::Yes {
        return v;
    }
    std::borrow::Cow::Owned(v.nfc().collect())
}

#[cfg(test)]
mod nfc_tests {
    #[test]
    fn decomposed_text_is_composed_and_composed_text_is_borrowed() {
        let decomposed = "Jose\u{301} Mun\u{303}oz";
        let out = super::nfc(std::borrow::Cow::Borrowed(decomposed));
        assert_eq!(out, "Jos\u{e9} Mu\u{f1}oz");
        let composed = "Jos\u{e9}";
        assert!(matches!(
            super::nfc(std::borrow::Cow::Borrowed(composed)),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
