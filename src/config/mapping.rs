//! The mapping language: how one contact field is computed from a row. A field is either a
//! column name (`email: Email`) or a rule (`name: {template: "{First} {Last}"}`). Rules are
//! parsed here into checked [`FieldRule`]s (regexes compiled, templates split, exactly one input);
//! transform/map.rs evaluates them.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A mapping entry as written in YAML.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldSpec {
    /// `field: Column Name`.
    Column(String),
    /// `field: {…}`.
    Rule(Box<RuleSpec>),
}

impl<'de> Deserialize<'de> for FieldSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = FieldSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a column name or a rule such as {template: \"{First} {Last}\"}")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<FieldSpec, E> {
                Ok(FieldSpec::Column(v.to_owned()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<FieldSpec, E> {
                Ok(FieldSpec::Column(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<FieldSpec, A::Error> {
                let rule =
                    RuleSpec::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(FieldSpec::Rule(Box::new(rule)))
            }
        }
        d.deserialize_any(V)
    }
}

/// A mapping rule (one input, then optional steps applied in the order documented).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Input: one column.
    #[serde(default)]
    pub column: Option<String>,
    /// Input: several columns, joined with `sep` (blank cells skipped).
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// Separator for `columns` (default a space; for tags a comma).
    #[serde(default)]
    pub sep: Option<String>,
    /// Input: a constant.
    #[serde(default)]
    pub value: Option<String>,
    /// Input: a template with `{Column}` placeholders (`{{` and `}}` for braces).
    #[serde(default)]
    pub template: Option<String>,
    /// Input: a full-name column to split (`Last, First` or `First Middle Last`).
    #[serde(default)]
    pub split_name: Option<String>,
    /// Input: the first of these columns that holds a usable value (for email and phone: the
    /// first valid one); the others' values go where `others` says.
    #[serde(default)]
    pub first_of: Option<Vec<String>>,
    /// With `first_of`: where the values of the other columns go (`report` lists them in
    /// rejected_values.csv, `note` adds them to a note on the contact).
    #[serde(default)]
    pub others: Option<Others>,
    /// What a value that fails its field's check comes to (default: `validate.invalid_values`).
    #[serde(default)]
    pub invalid: Option<OnInvalid>,
    /// With `split_name`: which part.
    #[serde(default)]
    pub part: Option<NamePart>,
    /// Regex replacements, in order.
    #[serde(default)]
    pub replace: Vec<ReplaceSpec>,
    /// Text operations, in order.
    #[serde(default)]
    pub transform: Vec<TextOp>,
    /// Value map (keys matched case- and whitespace-insensitively). A value not in the map is
    /// kept unless `strict_map` is set, in which case the row is rejected.
    #[serde(default)]
    pub map: BTreeMap<String, String>,
    /// With `map`: reject values the map does not list.
    #[serde(default)]
    pub strict_map: bool,
    /// Value used when the result is empty.
    #[serde(default)]
    pub default: Option<String>,
    /// For dates: the input format, strftime-style (`%d/%m/%Y`, `%m-%d-%y`, `%e %B %Y`).
    #[serde(default)]
    pub date_format: Option<String>,
    /// For tags: separators to split on (default `,` and `;`).
    #[serde(default)]
    pub split: Option<Vec<String>>,
}

/// What a value that fails its field's check (an email, a date, a custom field's number…) comes
/// to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnInvalid {
    /// Leave the value out of the contact, load the rest, and report the value
    /// (rejected_values.csv). A row is still rejected when no email or phone is left.
    #[default]
    Drop,
    /// Reject the whole row (all or nothing).
    RejectRow,
    /// As `drop`, and add the value to a note on the contact, so nothing is lost.
    Note,
}

/// Where values that are not loaded into their field are kept: the other columns of a
/// `first_of`, or a dropped value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Others {
    /// Listed in rejected_values.csv only.
    #[default]
    Report,
    /// Added to a note on the contact (and listed, `kept_in: note`).
    Note,
}

/// Which part of a full name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NamePart {
    /// Given name.
    First,
    /// Family name (everything after the first word, or before the comma).
    Last,
}

/// `{pattern, with}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplaceSpec {
    /// A regular expression (Rust `regex` syntax).
    pub pattern: String,
    /// Replacement; `$1`, `${name}` refer to groups.
    #[serde(default)]
    pub with: String,
}

/// Text operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextOp {
    /// Strip surrounding whitespace.
    Trim,
    /// lower case.
    Lower,
    /// UPPER CASE.
    Upper,
    /// Title Case (each word capitalised, the rest lower-cased).
    Title,
    /// Collapse runs of whitespace into one space.
    Collapse,
    /// Keep digits (and a leading `+`).
    Digits,
}

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplatePart {
    /// Literal text.
    Lit(String),
    /// A column's value.
    Col(String),
}

/// Where a field's raw value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// One column.
    Column(String),
    /// Several columns joined.
    Columns(Vec<String>, String),
    /// A constant.
    Value(String),
    /// A template.
    Template(Vec<TemplatePart>),
    /// Part of a full name.
    SplitName(String, NamePart),
    /// The first usable of several columns.
    FirstOf(Vec<String>),
}

impl Input {
    /// Every column the input reads.
    pub fn columns(&self) -> Vec<&str> {
        match self {
            Input::Column(c) | Input::SplitName(c, _) => vec![c.as_str()],
            Input::Columns(cs, _) | Input::FirstOf(cs) => cs.iter().map(String::as_str).collect(),
            Input::Value(_) => vec![],
            Input::Template(parts) => parts
                .iter()
                .filter_map(|p| match p {
                    TemplatePart::Col(c) => Some(c.as_str()),
                    TemplatePart::Lit(_) => None,
                })
                .collect(),
        }
    }
}

/// A checked rule.
#[derive(Debug, Clone)]
pub struct FieldRule {
    /// The input.
    pub input: Input,
    /// Compiled replacements.
    pub replace: Vec<(regex::Regex, String)>,
    /// Text operations.
    pub ops: Vec<TextOp>,
    /// Value map with normalised keys.
    pub map: Vec<(String, String)>,
    /// Reject values not in the map.
    pub strict_map: bool,
    /// Default for empty results.
    pub default: Option<String>,
    /// Date input format.
    pub date_format: Option<String>,
    /// Tag separators.
    pub split: Vec<String>,
    /// With `first_of`: where the other columns' values go.
    pub others: Others,
    /// What an invalid value comes to; `None`: the pipeline's `validate.invalid_values`.
    pub invalid: Option<OnInvalid>,
}

impl FieldRule {
    /// A plain column.
    pub fn column(name: &str) -> Self {
        FieldRule {
            input: Input::Column(name.to_owned()),
            replace: Vec::new(),
            ops: Vec::new(),
            map: Vec::new(),
            strict_map: false,
            default: None,
            date_format: None,
            split: vec![",".into(), ";".into()],
            others: Others::Report,
            invalid: None,
        }
    }
}

/// Normalises a value-map key: trimmed, whitespace collapsed, lower-cased.
pub fn map_key(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Parses `{Col} text {{literal}}` into parts.
pub fn parse_template(t: &str) -> Result<Vec<TemplatePart>, String> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                lit.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                lit.push('}');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(ch) => name.push(ch),
                        None => return Err(format!("`{{{name}` has no closing `}}`")),
                    }
                }
                if name.trim().is_empty() {
                    return Err("`{}` names no column".into());
                }
                if !lit.is_empty() {
                    parts.push(TemplatePart::Lit(std::mem::take(&mut lit)));
                }
                parts.push(TemplatePart::Col(name.trim().to_owned()));
            }
            '}' => return Err("a `}` without `{` (write `}}` for a literal brace)".into()),
            other => lit.push(other),
        }
    }
    if !lit.is_empty() {
        parts.push(TemplatePart::Lit(lit));
    }
    if !parts.iter().any(|p| matches!(p, TemplatePart::Col(_))) {
        return Err("the template names no column; use `value:` for a constant".into());
    }
    Ok(parts)
}

/// Checks a rule. Errors are messages relative to the field's key (`template: …`).
pub fn compile(
    spec: &FieldSpec,
    is_tags: bool,
) -> Result<FieldRule, Vec<(Option<&'static str>, String)>> {
    let rule = match spec {
        FieldSpec::Column(c) => {
            let mut r = FieldRule::column(c);
            if is_tags {
                r.split = vec![",".into(), ";".into()];
            }
            return Ok(r);
        }
        FieldSpec::Rule(r) => r,
    };
    let mut errs: Vec<(Option<&'static str>, String)> = Vec::new();
    let inputs = [
        rule.column.is_some(),
        rule.columns.is_some(),
        rule.value.is_some(),
        rule.template.is_some(),
        rule.split_name.is_some(),
        rule.first_of.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if inputs != 1 {
        errs.push((
            None,
            format!(
                "needs exactly one input of column, columns, first_of, value, template or split_name (found {inputs})"
            ),
        ));
    }
    let default_sep = if is_tags { "," } else { " " };
    let input = if let Some(c) = &rule.column {
        Input::Column(c.clone())
    } else if let Some(cs) = &rule.columns {
        if cs.is_empty() {
            errs.push((Some("columns"), "lists no column".into()));
        }
        Input::Columns(
            cs.clone(),
            rule.sep.clone().unwrap_or_else(|| default_sep.to_owned()),
        )
    } else if let Some(cs) = &rule.first_of {
        if cs.len() < 2 {
            errs.push((
                Some("first_of"),
                "lists fewer than two columns; use `column:` for one".into(),
            ));
        }
        if is_tags {
            errs.push((
                Some("first_of"),
                "does not apply to `tags` (use `columns:` to join several columns)".into(),
            ));
        }
        Input::FirstOf(cs.clone())
    } else if let Some(v) = &rule.value {
        Input::Value(v.clone())
    } else if let Some(t) = &rule.template {
        match parse_template(t) {
            Ok(parts) => Input::Template(parts),
            Err(e) => {
                errs.push((Some("template"), e));
                Input::Value(String::new())
            }
        }
    } else if let Some(n) = &rule.split_name {
        match rule.part {
            Some(p) => Input::SplitName(n.clone(), p),
            None => {
                errs.push((
                    Some("part"),
                    "split_name needs `part: first` or `part: last`".into(),
                ));
                Input::SplitName(n.clone(), NamePart::First)
            }
        }
    } else {
        Input::Value(String::new())
    };
    if rule.sep.is_some() && rule.columns.is_none() {
        errs.push((Some("sep"), "only applies with `columns`".into()));
    }
    if rule.others.is_some() && rule.first_of.is_none() {
        errs.push((Some("others"), "only applies with `first_of`".into()));
    }
    if rule.part.is_some() && rule.split_name.is_none() {
        errs.push((Some("part"), "only applies with `split_name`".into()));
    }
    if rule.split.is_some() && !is_tags {
        errs.push((Some("split"), "only applies to `tags`".into()));
    }
    if rule.strict_map && rule.map.is_empty() {
        errs.push((Some("strict_map"), "needs a `map`".into()));
    }
    let mut replace = Vec::new();
    for r in &rule.replace {
        match regex::Regex::new(&r.pattern) {
            Ok(re) => replace.push((re, r.with.clone())),
            Err(e) => errs.push((
                Some("replace"),
                format!("pattern `{}` is not a valid regex: {e}", r.pattern),
            )),
        }
    }
    if let Some(f) = &rule.date_format {
        // Check the format by formatting a known date with it.
        let probe = chrono::NaiveDate::from_ymd_opt(2001, 2, 3).expect("valid date");
        let mut out = String::new();
        if std::fmt::Write::write_fmt(&mut out, format_args!("{}", probe.format(f))).is_err()
            || !f.contains('%')
        {
            errs.push((
                Some("date_format"),
                format!("`{f}` is not a strftime date format such as %d/%m/%Y"),
            ));
        }
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(FieldRule {
        input,
        replace,
        ops: rule.transform.clone(),
        map: rule
            .map
            .iter()
            .map(|(k, v)| (map_key(k), v.clone()))
            .collect(),
        strict_map: rule.strict_map,
        default: rule.default.clone(),
        date_format: rule.date_format.clone(),
        split: rule
            .split
            .clone()
            .unwrap_or_else(|| vec![",".into(), ";".into()]),
        others: rule.others.unwrap_or_default(),
        invalid: rule.invalid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_with_escapes() {
        assert_eq!(
            parse_template("{First Name} {{x}} {Last}").unwrap(),
            vec![
                TemplatePart::Col("First Name".into()),
                TemplatePart::Lit(" {x} ".into()),
                TemplatePart::Col("Last".into())
            ]
        );
        assert!(parse_template("{First").is_err());
        assert!(parse_template("no columns").is_err());
        assert!(parse_template("a } b {X}").is_err());
    }

    #[test]
    fn rules_need_exactly_one_input_and_valid_parts() {
        let r = |s: RuleSpec| compile(&FieldSpec::Rule(Box::new(s)), false);
        assert!(r(RuleSpec {
            column: Some("A".into()),
            value: Some("x".into()),
            ..Default::default()
        })
        .is_err());
        assert!(r(RuleSpec::default()).is_err());
        let e = r(RuleSpec {
            column: Some("A".into()),
            replace: vec![ReplaceSpec {
                pattern: "(".into(),
                with: String::new(),
            }],
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e[0].0, Some("replace"));
        let e = r(RuleSpec {
            split_name: Some("Full".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e[0].0, Some("part"));
        let e = r(RuleSpec {
            column: Some("A".into()),
            date_format: Some("dd/mm".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e[0].0, Some("date_format"));
        let ok = r(RuleSpec {
            column: Some("A".into()),
            map: [("  Yes ".into(), "true".into())].into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(ok.map, vec![("yes".to_owned(), "true".to_owned())]);
    }
}
