//! Unit tests of parsing and validation: positions, did-you-mean, interpolation errors.

use super::*;

const GOOD: &str = "\
version: 1
source:
  type: csv
  path: contacts.csv
target:
  location_id: ${LOC:-loc-1}
  auth:
    token_env: GHL_TOKEN
mapping:
  email: Email
  phone: Phone
  firstName: First Name
validate:
  phone_default_region: us
";

fn parse(text: &str) -> Result<Pipeline, ConfigErrors> {
    parse_str(Path::new("dir/p.yaml"), text, |_| None)
}

fn err(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn good_pipeline_validates_with_defaults() {
    let p = parse(GOOD).unwrap();
    assert_eq!(p.name, "p");
    assert_eq!(p.source.describe(), "dir/contacts.csv");
    let t = p.target.as_ref().unwrap();
    assert_eq!(t.location_id, "loc-1");
    assert_eq!(t.base_url.as_str(), "https://services.leadconnectorhq.com/");
    assert_eq!(p.load.concurrency, None, "sized during the run");
    assert_eq!(p.load.rate_limit.cap(), None, "the server's limit, no cap");
    assert_eq!(
        p.validate.phone_default_region,
        Some(phonenumber::country::Id::US)
    );
    assert_eq!(p.mapping[0].0, ContactField::FirstName);
    assert_eq!(
        p.mapping[0].1.input,
        mapping::Input::Column("First Name".to_owned())
    );
    assert!(p.report.escape_formulas);
}

#[test]
fn unknown_key_has_line_col_and_suggestion() {
    let e = err(&GOOD.replace("validate:", "validat:"));
    assert!(
        e.starts_with("dir/p.yaml:13:1: unknown field `validat`"),
        "{e}"
    );
    assert!(e.contains("did you mean `validate`?"), "{e}");
}

#[test]
fn unknown_key_inside_tagged_source_points_at_the_key() {
    let e = err(&GOOD.replace("  path: contacts.csv", "  pth: contacts.csv"));
    assert!(e.starts_with("dir/p.yaml:4:3: unknown field `pth`"), "{e}");
    assert!(e.contains("did you mean `path`?"), "{e}");
}

#[test]
fn bad_enum_value_lists_choices() {
    let e = err(&format!("{GOOD}load:\n  mode: insert\n"));
    assert!(
        e.starts_with("dir/p.yaml:16:9: unknown variant `insert`"),
        "{e}"
    );
    assert!(e.contains("upsert"), "{e}");
}

#[test]
fn syntax_error_has_position() {
    let e = err("version: 1\nsource: [\n");
    assert!(e.starts_with("dir/p.yaml:2:9:"), "{e}");
}

#[test]
fn missing_env_var_names_variable_and_place() {
    let e = err(&GOOD.replace("${LOC:-loc-1}", "${GHL_LOCATION_ID}"));
    assert!(
        e.starts_with("dir/p.yaml:6:16: environment variable `GHL_LOCATION_ID` is not set"),
        "{e}"
    );
    assert!(e.contains("location_id: ${GHL_LOCATION_ID}"), "{e}");
}

#[test]
fn semantic_errors_are_collected_with_positions() {
    let text = GOOD
        .replace("  firstName: First Name", "  frstName: First Name")
        .replace("phone_default_region: us", "phone_default_region: XX");
    let e = err(&text);
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 2, "{e}");
    assert!(
        lines[0].starts_with("dir/p.yaml:12:3: mapping.frstName: `frstName` is not a standard"),
        "{e}"
    );
    assert!(lines[0].contains("did you mean `firstName`?"), "{e}");
    assert!(
        lines[1].starts_with("dir/p.yaml:14:3: validate.phone_default_region"),
        "{e}"
    );
}

#[test]
fn zero_concurrency_and_wrong_version_are_rejected() {
    let e = err(&format!("{GOOD}load:\n  concurrency: 0\n"));
    assert!(e.starts_with("dir/p.yaml:16:3:"), "{e}");
    assert!(
        e.contains("`concurrency`: expected a whole number of at least 1"),
        "{e}"
    );
    let e = err(&GOOD.replace("version: 1", "version: 2"));
    assert!(
        e.starts_with("dir/p.yaml:1:1: version: unsupported version 2"),
        "{e}"
    );
}

#[test]
fn token_value_instead_of_name_is_refused_and_never_shown() {
    let token = "pit-1234abcd-5678-ef90-1234-567890abcdef";
    let e = err(&GOOD.replace("token_env: GHL_TOKEN", &format!("token_env: {token}")));
    assert!(e.contains("not an environment variable name"), "{e}");
    assert!(!e.contains("pit-"), "the token is echoed: {e}");
    // A short typo is shown, so that it can be found.
    let e = err(&GOOD.replace("token_env: GHL_TOKEN", "token_env: GHL-TOKEN"));
    assert!(e.contains("`GHL-TOKEN`"), "{e}");
}

#[test]
fn auth_is_a_token_variable_or_oauth_never_both_nor_neither() {
    let oauth = parse(&GOOD.replace(
        "token_env: GHL_TOKEN",
        "oauth: {client_secret_env: GHL_CLIENT_SECRET}",
    ))
    .unwrap();
    assert_eq!(
        oauth.target.unwrap().auth,
        TargetAuth::OAuth {
            client_secret_env: "GHL_CLIENT_SECRET".into()
        }
    );
    let both = err(&GOOD.replace(
        "token_env: GHL_TOKEN",
        "token_env: GHL_TOKEN\n    oauth: {client_secret_env: S}",
    ));
    assert!(
        both.contains(
            "dir/p.yaml:7:3: target.auth: has more than one of token_env, oauth and agency"
        ),
        "{both}"
    );
    let neither = err(&GOOD.replace("    token_env: GHL_TOKEN\n", "    {}\n"));
    assert!(neither.contains("needs token_env"), "{neither}");
    let secret = err(&GOOD.replace(
        "token_env: GHL_TOKEN",
        "oauth: {client_secret_env: \"s3cr3t value\"}",
    ));
    assert!(secret.contains("never in the pipeline"), "{secret}");
    assert!(!secret.contains("s3cr3t"), "{secret}");
    assert!(
        err(&GOOD.replace("token_env: GHL_TOKEN", "oauth: {client_id: x}"))
            .contains("unknown field")
    );
}

#[test]
fn require_any_needs_at_least_one_of_its_fields_mapped() {
    // Email only: fine with the default [email, phone].
    assert!(parse(&GOOD.replace("  phone: Phone\n", "")).is_ok());
    // Neither: an error saying how to fix it.
    let text = GOOD
        .replace("  phone: Phone\n", "")
        .replace("  email: Email\n", "")
        .replace("\nvalidate:", "\ndedup:\n  by: none\nvalidate:");
    let e = err(&text);
    assert!(
        e.contains("validate.require_any: every row needs one of email, phone"),
        "{e}"
    );
}

#[test]
fn mapping_rules_parse_and_report_problems_at_their_keys() {
    let ok = GOOD.replace(
        "  firstName: First Name\n",
        "  firstName: {split_name: Full Name, part: first}\n  name: {template: \"{First} {Last}\"}\n  source: {value: import}\n",
    );
    let p = parse(&ok).unwrap();
    assert!(p
        .mapping
        .iter()
        .any(|(f, r)| *f == ContactField::Source
            && r.input == mapping::Input::Value("import".into())));

    let bad = GOOD.replace(
        "  firstName: First Name\n",
        "  firstName: {column: A, value: x}\n  name: {template: \"{First\"}\n",
    );
    let e = err(&bad);
    assert!(
        e.contains("dir/p.yaml:12:3: mapping.firstName: needs exactly one input"),
        "{e}"
    );
    let e2 = err(&GOOD.replace(
        "  firstName: First Name\n",
        "  name: {template: \"{First\"}\n",
    ));
    assert!(
        e2.contains("mapping.name.template: `{First` has no closing `}`"),
        "{e2}"
    );
    let e3 = err(&GOOD.replace("  firstName: First Name\n", "  city: {colum: City}\n"));
    assert!(
        e3.contains("unknown field `colum`") && e3.contains("did you mean `column`?"),
        "{e3}"
    );
}

#[test]
fn empty_and_non_mapping_files_are_clear_errors() {
    assert!(err("").contains("the pipeline file is empty"));
    assert!(err("  \n# only a comment\n").starts_with("dir/p.yaml:"));
    let e = err("- a\n- b\n");
    assert!(e.starts_with("dir/p.yaml:1:1:"), "{e}");
    let e = err("version: 1\n");
    assert!(e.contains("`source` is required"), "{e}");
}

#[test]
fn quoted_lines_and_values_never_show_a_pasted_token() {
    let token = "pit-1234abcd-5678-ef90-1234-567890abcdef";
    // A YAML error on the line holding it, and a type error quoting it.
    for yaml in [
        GOOD.replace("token_env: GHL_TOKEN", &format!("token_env: [{token}")),
        format!("{GOOD}\nload: {{concurrency: \"{token}\"}}\n"),
    ] {
        let e = err(&yaml);
        assert!(!e.contains("1234abcd"), "{e}");
        assert!(e.contains("[hidden]"), "{e}");
    }
    assert_eq!(super::redact_secrets("email: Email"), "email: Email");
    assert_eq!(super::redact_secrets("date 2024-01-01"), "date 2024-01-01");
}
