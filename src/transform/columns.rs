//! A rule's columns resolved against the source's header, with errors that say what to do
//! (a close name, or the delimiter a header read as one column holds).

use super::map::Resolved;
use crate::config::Pipeline;
use crate::error::ConfigError;
use crate::extract::find_column;
use crate::record::Headers;
use ghl_client::fields::did_you_mean;

/// The delimiter a file seems to use when one header cell holds `col` between delimiters other
/// than the one the header was split on (a `;` file read with `,`).
fn one_column_header(headers: &Headers, col: &str) -> Option<char> {
    headers.iter().find_map(|h| {
        [';', '\t', '|', ','].into_iter().find(|d| {
            h.split(*d).count() > 1
                && h.split(*d)
                    .any(|c| c.trim().eq_ignore_ascii_case(col.trim()))
        })
    })
}

/// Resolves a rule's columns against the headers, collecting errors that name the key.
pub(crate) fn resolve_columns(
    p: &Pipeline,
    headers: &Headers,
    key: &str,
    rule: &crate::config::mapping::FieldRule,
    errs: &mut Vec<ConfigError>,
) -> Resolved {
    let mut cols = Vec::new();
    for col in rule.input.columns() {
        match find_column(headers, col) {
            Some(i) => cols.push(i),
            None => {
                let hint = match one_column_header(headers, col) {
                    Some(d) => format!(
                        " (the header was read as one column: the file seems to use `{}` between \
                         its columns; set source.delimiter: \"{}\", or leave source.delimiter out to \
                         detect it)",
                        d.escape_default(),
                        d.escape_default()
                    ),
                    None => did_you_mean(col, headers.iter().map(|h| h.trim()))
                        .map(|s| format!(" (did you mean `{s}`?)"))
                        .unwrap_or_default(),
                };
                errs.push(ConfigError::new(format!(
                    "{}: {key}: column `{col}` is not in {}{hint}; columns: {}",
                    p.file.display(),
                    p.source.describe(),
                    headers
                        .iter()
                        .map(|h| format!("`{}`", h.trim()))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
    }
    let each: Vec<std::sync::Arc<str>> = cols
        .iter()
        .filter_map(|i| headers.get(*i))
        .map(|h| std::sync::Arc::from(h.trim()))
        .collect();
    Resolved {
        rule: rule.clone(),
        cols,
        names: std::sync::Arc::from(each.join(", ")),
        each,
    }
}
