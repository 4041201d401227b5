//! Custom fields: resolving a pipeline's `custom_fields` keys (a `fieldKey` such as
//! `contact.membership_level`, the key without `contact.`, or the field's name) to the target
//! location's field ids, and coercing each value to the field's type.

use serde_json::Value;

use crate::config::mapping::FieldRule;
use crate::error::{ConfigError, ConfigErrors};
use crate::outcome::{codes, RowError, Stage};
use ghl_client::fields::did_you_mean;
use ghl_client::types::CustomFieldDef;

/// Field types the importer can write.
pub const SUPPORTED_TYPES: [&str; 12] = [
    "TEXT",
    "LARGE_TEXT",
    "PHONE",
    "EMAIL",
    "TEXTBOX_LIST",
    "NUMERICAL",
    "MONETORY",
    "DATE",
    "CHECKBOX",
    "SINGLE_OPTIONS",
    "MULTIPLE_OPTIONS",
    "RADIO",
];

/// A custom field of the target location that a pipeline writes.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomTarget {
    /// Field id (what the API wants).
    pub id: String,
    /// `contact.…` key.
    pub field_key: String,
    /// Display name.
    pub name: String,
    /// Data type.
    pub data_type: String,
    /// Allowed options (option types).
    pub options: Vec<String>,
}

/// Resolves every key against the location's definitions; unknown keys and unsupported types
/// are configuration errors listing what exists.
pub fn resolve(
    wanted: &[(String, FieldRule)],
    defs: &[CustomFieldDef],
    shown: &str,
    location: &str,
) -> Result<Vec<(CustomTarget, FieldRule)>, ConfigErrors> {
    let mut out = Vec::new();
    let mut errs = Vec::new();
    let norm = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    for (key, rule) in wanted {
        let k = key.trim();
        let found = defs
            .iter()
            .find(|d| d.field_key == k)
            .or_else(|| defs.iter().find(|d| d.field_key == format!("contact.{k}")))
            .or_else(|| defs.iter().find(|d| norm(&d.name) == norm(k)));
        match found {
            Some(d) if SUPPORTED_TYPES.contains(&d.data_type.as_str()) => out.push((
                CustomTarget {
                    id: d.id.clone(),
                    field_key: d.field_key.clone(),
                    name: d.name.clone(),
                    data_type: d.data_type.clone(),
                    options: d.picklist_options.clone(),
                },
                rule.clone(),
            )),
            Some(d) => errs.push(ConfigError::new(format!(
                "{shown}: custom_fields.{key}: field `{}` has type {}, which the importer cannot write (supported: {})",
                d.field_key,
                d.data_type,
                SUPPORTED_TYPES.join(", ")
            ))),
            None => {
                let candidates = defs.iter().flat_map(|d| [d.field_key.as_str(), d.name.as_str()]);
                let hint = did_you_mean(k, candidates).map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default();
                let list = defs.iter().map(|d| format!("`{}` ({})", d.field_key, d.name)).collect::<Vec<_>>();
                errs.push(ConfigError::new(format!(
                    "{shown}: custom_fields.{key}: location {location} has no custom field with this fieldKey or name{hint}; \
                     its custom fields: {}",
                    if list.is_empty() { "none".to_owned() } else { list.join(", ") }
                )));
            }
        }
    }
    if errs.is_empty() {
        Ok(out)
    } else {
        Err(ConfigErrors(errs))
    }
}

fn reject(code: &'static str, message: String, hint: String) -> RowError {
    RowError::new(Stage::Validate, code, message, hint)
}

/// Parses a number as people write it: spaces, currency symbols and thousands separators
/// (`1,234.50`, `$ 99`, `1 000`) are allowed; a comma alone is a decimal separator (`12,5`).
pub fn parse_number(s: &str) -> Option<f64> {
    let t: String = s
        .trim()
        .chars()
        .filter(|c| !matches!(c, '$' | '€' | '£' | '¥' | ' ' | '\u{a0}' | '_'))
        .collect();
    let t = if t.contains('.') {
        t.replace(',', "")
    } else if t.matches(',').count() == 1 && t.split(',').nth(1).is_some_and(|d| d.len() != 3) {
        t.replace(',', ".")
    } else {
        t.replace(',', "")
    };
    t.parse::<f64>().ok().filter(|f| f.is_finite())
}

fn option_of(target: &CustomTarget, v: &str) -> Result<String, RowError> {
    if target.options.is_empty() {
        return Ok(v.to_owned());
    }
    let want = v.trim().to_lowercase();
    target
        .options
        .iter()
        .find(|o| o.trim().to_lowercase() == want)
        .cloned()
        .ok_or_else(|| {
            reject(
                codes::INVALID_OPTION,
                format!(
                    "`{}` is not an option of custom field `{}`",
                    v.trim(),
                    target.field_key
                ),
                format!("use one of: {}", target.options.join(", ")),
            )
        })
}

/// Coerces one value to the field's type; empty values are `None` (not sent).
pub fn coerce(
    target: &CustomTarget,
    raw: &str,
    date_format: Option<&str>,
) -> Result<Option<Value>, RowError> {
    let v = raw.trim();
    if v.is_empty() {
        return Ok(None);
    }
    Ok(Some(match target.data_type.as_str() {
        "NUMERICAL" | "MONETORY" => match parse_number(v) {
            Some(n) if n.fract() == 0.0 && n.abs() < 9e15 => Value::from(n as i64),
            Some(n) => Value::from(n),
            None => {
                return Err(reject(
                    codes::INVALID_NUMBER,
                    format!(
                        "`{v}` is not a number (custom field `{}`)",
                        target.field_key
                    ),
                    "write a number such as 1234.50".into(),
                ))
            }
        },
        "DATE" => match super::normalize::date(v, date_format)? {
            Some(d) => Value::from(d),
            None => return Ok(None),
        },
        "SINGLE_OPTIONS" | "RADIO" => Value::from(option_of(target, v)?),
        "CHECKBOX" | "MULTIPLE_OPTIONS" => {
            let mut items = Vec::new();
            for part in v.split([',', ';']).map(str::trim).filter(|p| !p.is_empty()) {
                let o = option_of(target, part)?;
                if !items.contains(&o) {
                    items.push(o);
                }
            }
            Value::from(items)
        }
        _ => Value::from(v),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::mapping::FieldRule;

    fn def(id: &str, key: &str, name: &str, ty: &str, options: &[&str]) -> CustomFieldDef {
        CustomFieldDef {
            id: id.into(),
            name: name.into(),
            field_key: key.into(),
            data_type: ty.into(),
            picklist_options: options.iter().map(|s| s.to_string()).collect(),
            model: None,
        }
    }

    #[test]
    fn keys_resolve_by_field_key_short_key_or_name() {
        let defs = [
            def(
                "1",
                "contact.level",
                "Membership Level",
                "SINGLE_OPTIONS",
                &["Gold", "Silver"],
            ),
            def("2", "contact.file", "Doc", "FILE_UPLOAD", &[]),
        ];
        let rule = FieldRule::column("X");
        let w = |k: &str| vec![(k.to_owned(), rule.clone())];
        for k in ["contact.level", "level", "membership  level"] {
            assert_eq!(
                resolve(&w(k), &defs, "p.yaml", "L").unwrap()[0].0.id,
                "1",
                "{k}"
            );
        }
        let e = resolve(&w("levle"), &defs, "p.yaml", "L")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("has no custom field") && e.contains("`contact.level` (Membership Level)"),
            "{e}"
        );
        let e = resolve(&w("contact.file"), &defs, "p.yaml", "L")
            .unwrap_err()
            .to_string();
        assert!(e.contains("type FILE_UPLOAD"), "{e}");
    }

    #[test]
    fn values_are_coerced_by_type() {
        let t = |ty: &str, opts: &[&str]| CustomTarget {
            id: "1".into(),
            field_key: "contact.x".into(),
            name: "X".into(),
            data_type: ty.into(),
            options: opts.iter().map(|s| s.to_string()).collect(),
        };
        assert_eq!(
            coerce(&t("TEXT", &[]), " hi ", None).unwrap(),
            Some(Value::from("hi"))
        );
        assert_eq!(
            coerce(&t("NUMERICAL", &[]), "1,234", None).unwrap(),
            Some(Value::from(1234))
        );
        assert_eq!(
            coerce(&t("MONETORY", &[]), "$ 1,234.50", None).unwrap(),
            Some(Value::from(1234.5))
        );
        assert_eq!(
            coerce(&t("MONETORY", &[]), "12,5", None).unwrap(),
            Some(Value::from(12.5))
        );
        assert_eq!(
            coerce(&t("NUMERICAL", &[]), "ten", None).unwrap_err().code,
            codes::INVALID_NUMBER
        );
        assert_eq!(
            coerce(&t("DATE", &[]), "03/11/1979", Some("%d/%m/%Y")).unwrap(),
            Some(Value::from("1979-11-03"))
        );
        assert_eq!(
            coerce(&t("SINGLE_OPTIONS", &["Gold", "Silver"]), "gold", None).unwrap(),
            Some(Value::from("Gold"))
        );
        let e = coerce(&t("SINGLE_OPTIONS", &["Gold", "Silver"]), "Bronze", None).unwrap_err();
        assert_eq!(e.code, codes::INVALID_OPTION);
        assert!(e.hint.contains("Gold, Silver"));
        assert_eq!(
            coerce(&t("MULTIPLE_OPTIONS", &["A", "B", "C"]), "a; c, A", None).unwrap(),
            Some(serde_json::json!(["A", "C"]))
        );
        assert_eq!(coerce(&t("TEXT", &[]), "  ", None).unwrap(), None);
    }
}
