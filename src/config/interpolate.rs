//! `${VAR}` and `${VAR:-default}` interpolation of the pipeline text, before YAML parsing.
//!
//! Substitution is textual (as in Vector), so positions of later YAML errors stay on the same
//! line. `$${` writes a literal `${`. Lines whose first non-blank character is `#` are comments
//! and are left alone, so a commented-out reference never demands a variable.

/// A `${VAR}` reference whose variable is not set and has no default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingVar {
    /// Variable name.
    pub name: String,
    /// 1-based line of the reference.
    pub line: usize,
    /// 1-based column of the `$`.
    pub column: usize,
    /// The source line, for context.
    pub line_text: String,
}

/// A malformed reference such as `${` without a closing brace or `${}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadReference {
    /// 1-based line.
    pub line: usize,
    /// 1-based column of the `$`.
    pub column: usize,
    /// What is wrong.
    pub reason: String,
}

/// Problems found while interpolating.
#[derive(Debug, Default)]
pub struct InterpolationErrors {
    /// Variables that are not set.
    pub missing: Vec<MissingVar>,
    /// Malformed references.
    pub malformed: Vec<BadReference>,
}

/// Replaces every `${VAR}` / `${VAR:-default}` in `text` using `lookup`.
pub fn interpolate(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, InterpolationErrors> {
    let mut out = String::with_capacity(text.len());
    let mut errs = InterpolationErrors::default();
    for (idx, line) in text.split_inclusive('\n').enumerate() {
        let line_no = idx + 1;
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            continue;
        }
        let mut rest = line;
        let mut col_base = 0usize;
        while let Some(pos) = rest.find('$') {
            out.push_str(&rest[..pos]);
            let after = &rest[pos..];
            let column = col_base + rest[..pos].chars().count() + 1;
            if let Some(tail) = after.strip_prefix("$${") {
                out.push_str("${");
                rest = tail;
                col_base = column + 2;
                continue;
            }
            if !after.starts_with("${") {
                out.push('$');
                rest = &after[1..];
                col_base = column;
                continue;
            }
            let Some(close) = after.find('}') else {
                errs.malformed.push(BadReference {
                    line: line_no,
                    column,
                    reason: "`${` has no closing `}`".into(),
                });
                out.push_str(after);
                rest = "";
                break;
            };
            let inner = &after[2..close];
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            let valid_name = !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit());
            if !valid_name {
                errs.malformed.push(BadReference {
                    line: line_no,
                    column,
                    reason: format!("`${{{inner}}}` is not a valid variable reference"),
                });
            } else {
                match lookup(name)
                    .filter(|v| !v.is_empty())
                    .or(default.map(str::to_owned))
                {
                    Some(v) => out.push_str(&v),
                    None => errs.missing.push(MissingVar {
                        name: name.to_owned(),
                        line: line_no,
                        column,
                        line_text: line.trim_end().to_owned(),
                    }),
                }
            }
            col_base = column + after[..=close].chars().count() - 1;
            rest = &after[close + 1..];
        }
        out.push_str(rest);
    }
    if errs.missing.is_empty() && errs.malformed.is_empty() {
        Ok(out)
    } else {
        Err(errs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "LOC" => Some("abc123".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn substitutes_set_vars_and_defaults() {
        let out = interpolate("a: ${LOC}\nb: ${NOPE:-dflt}\nc: x${LOC}y\n", env).unwrap();
        assert_eq!(out, "a: abc123\nb: dflt\nc: xabc123y\n");
    }

    #[test]
    fn empty_value_falls_back_to_default() {
        assert_eq!(interpolate("a: ${EMPTY:-d}", env).unwrap(), "a: d");
    }

    #[test]
    fn missing_var_reports_name_and_position() {
        let err = interpolate("x: 1\n  loc: ${MISSING_ONE}\n", env).unwrap_err();
        assert_eq!(err.missing.len(), 1);
        let m = &err.missing[0];
        assert_eq!((m.name.as_str(), m.line, m.column), ("MISSING_ONE", 2, 8));
        assert_eq!(m.line_text, "  loc: ${MISSING_ONE}");
    }

    #[test]
    fn comments_and_escapes_are_left_alone() {
        let out = interpolate("# uses ${NOPE}\na: $${LOC} costs $5\n", env).unwrap();
        assert_eq!(out, "# uses ${NOPE}\na: ${LOC} costs $5\n");
    }

    #[test]
    fn malformed_references_are_errors() {
        let err = interpolate("a: ${LOC\nb: ${}\nc: ${1X}\n", env).unwrap_err();
        assert_eq!(err.malformed.len(), 3);
        assert_eq!(err.malformed[0].line, 1);
        assert_eq!(err.malformed[1].line, 2);
    }
}
