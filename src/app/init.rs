//! `ghl-import init <file>`: guess a pipeline from a file's headers and a profile of its values,
//! and write it as commented YAML for the user to check.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::config::{CsvSource, DuplicateHeaders, ExcelSource, HeaderRow, Source};
use crate::error::{ConfigError, Exit};
use crate::extract::{SourceItem, SourceReader};
use crate::ghl::fields::ContactField;
use crate::record::Record;
use crate::transform::profile::{profile, ColumnProfile};

/// Options of `init`.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The input file (CSV or workbook).
    pub input: PathBuf,
    /// Where to write the pipeline (default `pipelines/<stem>.yaml`).
    pub out: Option<PathBuf>,
    /// Rows to sample.
    pub sample: usize,
    /// Overwrite an existing file.
    pub force: bool,
}

/// Header names (normalised: lower-case letters and digits only) that name each field.
const SYNONYMS: &[(ContactField, &[&str])] = &[
    (
        ContactField::Email,
        &[
            "email",
            "emailaddress",
            "mail",
            "primaryemail",
            "email1",
            "workemail",
            "emailaddr",
            "email1value",
            "personemailwork",
            "personemailhome",
            "personemailother",
            "emailaddress1",
        ],
    ),
    (
        ContactField::Phone,
        &[
            "phone",
            "phonenumber",
            "mobile",
            "mobilephone",
            "mobilephonenumber",
            "cell",
            "cellphone",
            "telephone",
            "tel",
            "phone1",
            "primaryphone",
            "workphone",
            "businessphone",
            "homephone",
            "phone1value",
            "personphonemobile",
            "personphonework",
            "personphonehome",
            "telephone1",
        ],
    ),
    (
        ContactField::FirstName,
        &[
            "firstname",
            "first",
            "givenname",
            "fname",
            "forename",
            "personfirstname",
        ],
    ),
    (
        ContactField::LastName,
        &[
            "lastname",
            "last",
            "surname",
            "familyname",
            "lname",
            "personlastname",
        ],
    ),
    (
        ContactField::Name,
        &[
            "name",
            "fullname",
            "contactname",
            "displayname",
            "personname",
        ],
    ),
    (
        ContactField::CompanyName,
        &[
            "company",
            "companyname",
            "organization",
            "organisation",
            "business",
            "account",
            "accountname",
            "companyaccount",
            "organizationname",
            "organization1name",
            "personorganization",
            "businessname",
        ],
    ),
    (
        ContactField::Address1,
        &[
            "address",
            "address1",
            "street",
            "streetaddress",
            "addressline1",
            "homeaddress",
            "mailingstreet",
            "mailingaddressline1",
            "address1street1",
            "address1street",
            "businessstreet",
            "homestreet",
            "personfullcombinedaddressofpostaladdress",
            "personpostaladdress",
        ],
    ),
    (
        ContactField::City,
        &[
            "city",
            "town",
            "homecity",
            "workcity",
            "mailingcity",
            "address1city",
            "businesscity",
            "personcitytownvillagelocalityofpostaladdress",
        ],
    ),
    (
        ContactField::State,
        &[
            "state",
            "province",
            "stateregion",
            "region",
            "county",
            "homestate",
            "mailingstateprovince",
            "mailingstate",
            "stateprovince",
            "address1stateprovince",
            "address1region",
            "businessstate",
            "personstatecountyofpostaladdress",
        ],
    ),
    (
        ContactField::PostalCode,
        &[
            "zip",
            "zipcode",
            "postcode",
            "postalcode",
            "homezipcode",
            "mailingzippostalcode",
            "mailingzip",
            "zippostalcode",
            "address1zippostalcode",
            "address1postalcode",
            "businesspostalcode",
            "personzippostalcodeofpostaladdress",
        ],
    ),
    (
        ContactField::Country,
        &[
            "country",
            "countryregion",
            "countrycode",
            "homecountry",
            "mailingcountry",
            "address1countryregion",
            "address1country",
            "businesscountryregion",
            "mailingcountrycode",
            "countryregioncode",
            "cc",
            "personcountryofpostaladdress",
        ],
    ),
    (
        ContactField::Website,
        &[
            "website",
            "url",
            "web",
            "webpage",
            "homepage",
            "site",
            "websiteurl",
            "website1value",
            "webpage1",
        ],
    ),
    (ContactField::Timezone, &["timezone", "tz", "timezonename"]),
    (
        ContactField::Source,
        &["source", "leadsource", "originaltrafficsource"],
    ),
    (
        ContactField::Tags,
        &[
            "tags",
            "tag",
            "labels",
            "segments",
            "lists",
            "personlabels",
            "personlabel",
            "groupmembership",
            "categories",
        ],
    ),
    (
        ContactField::DateOfBirth,
        &["dob", "dateofbirth", "birthday", "birthdate"],
    ),
    (ContactField::Dnd, &["dnd", "donotdisturb"]),
];

fn norm(h: &str) -> String {
    h.chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_lowercase()
}

/// Substrings of normalised headers that name a field when no synonym matches exactly.
/// Opt-out columns (`Email Opt Out`, `Do Not Call`, `Unsubscribed…`) are consent flags of one
/// channel, not GHL's `dnd` (all channels): they are mapped only by the user's explicit choice
/// (CRM export reference: false friends).
const CONTAINS: &[(ContactField, &[&str])] = &[
    (ContactField::Email, &["email"]),
    (ContactField::Phone, &["phone", "mobile"]),
    (ContactField::Tags, &["tags"]),
    (ContactField::DateOfBirth, &["birth"]),
];

/// A guessed field for a column, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Guess {
    /// The field.
    pub field: ContactField,
    /// The column.
    pub column: String,
    /// Why (for the YAML comment).
    pub reason: String,
}

/// Guesses a mapping: header synonyms first, then content (≥ 80 % emails / phones); one column
/// per field, the fuller one winning.
pub fn guess(profiles: &[ColumnProfile]) -> Vec<Guess> {
    let mut out: Vec<Guess> = Vec::new();
    let consider =
        |field: ContactField, p: &ColumnProfile, reason: String, out: &mut Vec<Guess>| {
            if p.filled == 0 {
                return;
            }
            if out.iter().any(|g| g.column == p.name) {
                return;
            }
            match out.iter().position(|g| g.field == field) {
                Some(i) => {
                    let cur = profiles
                        .iter()
                        .find(|c| c.name == out[i].column)
                        .map(|c| c.filled)
                        .unwrap_or(0);
                    if p.filled > cur {
                        out[i] = Guess {
                            field,
                            column: p.name.clone(),
                            reason,
                        };
                    }
                }
                None => out.push(Guess {
                    field,
                    column: p.name.clone(),
                    reason,
                }),
            }
        };
    for p in profiles {
        let n = norm(&p.name);
        if let Some((field, _)) = SYNONYMS
            .iter()
            .find(|(_, names)| names.contains(&n.as_str()))
        {
            consider(*field, p, "header".into(), &mut out);
        }
    }
    for p in profiles {
        let n = norm(&p.name);
        if let Some((field, _)) = CONTAINS
            .iter()
            .find(|(_, parts)| parts.iter().any(|x| n.contains(x)))
        {
            if !out.iter().any(|g| g.field == *field) {
                consider(*field, p, "header".into(), &mut out);
            }
        }
    }
    for p in profiles {
        if p.share(p.emails) >= 0.8 && !out.iter().any(|g| g.field == ContactField::Email) {
            consider(
                ContactField::Email,
                p,
                format!("{:.0} % of values are emails", p.share(p.emails) * 100.0),
                &mut out,
            );
        } else if p.share(p.phones) >= 0.8
            && p.share(p.dates) < 0.5
            && !out.iter().any(|g| g.field == ContactField::Phone)
        {
            consider(
                ContactField::Phone,
                p,
                format!(
                    "{:.0} % of values are phone numbers",
                    p.share(p.phones) * 100.0
                ),
                &mut out,
            );
        }
    }
    out.sort_by_key(|g| g.field);
    out
}

fn yaml_str(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || " _-./".contains(c))
        && !s.starts_with(['-', ' ', '.'])
        && !s.ends_with(' ')
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "yes" | "no" | "true" | "false" | "null" | "on" | "off" | "y" | "n"
        );
    if plain {
        s.to_owned()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

/// Renders the pipeline.
pub fn render(
    input_rel: &str,
    is_excel: bool,
    profiles: &[ColumnProfile],
    guesses: &[Guess],
    sampled: usize,
) -> String {
    let mut y = String::new();
    let _ = writeln!(
        y,
        "# Generated by `ghl-import init` from {input_rel} ({sampled} rows sampled)."
    );
    let _ = writeln!(y, "# Check every guess, then: ghl-import validate <this file>; ghl-import run <this file> --sandbox");
    let _ = writeln!(
        y,
        "#\n# Columns (fill rate, what the values look like, examples):"
    );
    for p in profiles {
        let mut kinds = Vec::new();
        for (n, what) in [
            (p.emails, "emails"),
            (p.phones, "phones"),
            (p.dates, "dates"),
            (p.numbers, "numbers"),
            (p.booleans, "yes/no"),
        ] {
            if p.share(n) >= 0.5 {
                kinds.push(format!("{:.0}% {what}", p.share(n) * 100.0));
            }
        }
        let _ = writeln!(
            y,
            "#   {:<28} {:>5.1}% filled  {:<28} {}",
            p.name,
            p.fill_rate() * 100.0,
            kinds.join(", "),
            p.examples.join(" | ")
        );
    }
    let _ = writeln!(y, "version: 1\n\nsource:");
    let _ = writeln!(y, "  type: {}", if is_excel { "excel" } else { "csv" });
    let _ = writeln!(y, "  path: {}", yaml_str(input_rel));
    let serial_dates: Vec<String> = guesses
        .iter()
        .filter(|g| g.field == ContactField::DateOfBirth)
        .filter(|g| {
            profiles
                .iter()
                .any(|p| p.name == g.column && p.share(p.numbers) >= 0.8)
        })
        .map(|g| yaml_str(&g.column))
        .collect();
    if is_excel && !serial_dates.is_empty() {
        let _ = writeln!(
            y,
            "  date_columns: [{}]    # numbers in a date field: Excel date serials",
            serial_dates.join(", ")
        );
    }
    let _ = writeln!(
        y,
        "\ntarget:\n  location_id: ${{GHL_LOCATION_ID:-your-location-id}}\n  auth:\n    \
         token_env: GHL_TOKEN    # the variable holding a Private Integration Token\n    \
         # or, after `ghl-import auth login`: oauth: {{client_secret_env: GHL_CLIENT_SECRET}}\n\nmapping:"
    );
    for g in guesses {
        let p = profiles.iter().find(|p| p.name == g.column);
        let mut value = yaml_str(&g.column);
        let mut note = g.reason.clone();
        if g.field == ContactField::DateOfBirth {
            if let Some(p) = p {
                let fmt = if p.iso_dates * 2 >= p.dates {
                    None
                } else if p.day_first > 0 && p.month_first == 0 {
                    Some("%d/%m/%Y")
                } else if p.month_first > 0 && p.day_first == 0 {
                    Some("%m/%d/%Y")
                } else {
                    note.push_str("; AMBIGUOUS day/month order: set date_format");
                    None
                };
                if let Some(f) = fmt {
                    value = format!("{{column: {value}, date_format: \"{f}\"}}");
                    note.push_str("; date order read from values over 12");
                }
            }
        }
        if g.field == ContactField::Dnd {
            value = format!("{{column: {value}, map: {{Yes: \"true\", No: \"false\", Y: \"true\", N: \"false\"}}}}");
        }
        let _ = writeln!(y, "  {}: {value}    # {note}", g.field.api_name());
    }
    let unmapped: Vec<&ColumnProfile> = profiles
        .iter()
        .filter(|p| !guesses.iter().any(|g| g.column == p.name) && p.filled > 0)
        .collect();
    if !unmapped.is_empty() {
        let _ = writeln!(
            y,
            "  # Not mapped (map them to a field, or to custom_fields by fieldKey):"
        );
        for p in unmapped {
            let _ = writeln!(y, "  #   {}", p.name);
        }
    }
    let has_email = guesses.iter().any(|g| g.field == ContactField::Email);
    let has_phone = guesses.iter().find(|g| g.field == ContactField::Phone);
    let _ = writeln!(
        y,
        "\ndedup:\n  by: {}\n  keep: first",
        if has_email { "email" } else { "none" }
    );
    let _ = writeln!(y, "\nvalidate:");
    let require: Vec<&str> = [has_email.then_some("email"), has_phone.map(|_| "phone")]
        .into_iter()
        .flatten()
        .collect();
    let _ = writeln!(y, "  require_any: [{}]", require.join(", "));
    if let Some(g) = has_phone {
        let national = profiles
            .iter()
            .find(|p| p.name == g.column)
            .is_some_and(|p| p.phones_international * 2 < p.phones);
        if national {
            let _ = writeln!(y, "  phone_default_region: US     # most numbers lack a +country code: check the region");
        }
    }
    let _ = writeln!(y, "\nload:\n  mode: upsert\n  concurrency: 4");
    y
}

/// Runs `init`.
pub fn init(opts: &InitOptions) -> anyhow::Result<Exit> {
    let ext = opts
        .input
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let is_excel = matches!(ext.as_str(), "xlsx" | "xlsm" | "xlsb" | "xls" | "ods");
    let src = if is_excel {
        Source::Excel(ExcelSource {
            path: opts.input.clone(),
            sheet: None,
            header_row: HeaderRow::Auto,
            date_columns: vec![],
            duplicate_headers: DuplicateHeaders::Suffix,
            hold_duplicates: false,
        })
    } else {
        Source::Csv(CsvSource {
            duplicate_headers: DuplicateHeaders::Suffix,
            ..CsvSource::new(&opts.input)
        })
    };
    let reader = SourceReader::open(&src)?;
    let headers = reader.headers().to_vec();
    let rows: Vec<Record> = reader
        .take(opts.sample)
        .filter_map(|i| match i {
            SourceItem::Row(r) => Some(r),
            SourceItem::Malformed { .. } => None,
        })
        .collect();
    let profiles = profile(&headers, &rows);
    let guesses = guess(&profiles);
    let out = opts.out.clone().unwrap_or_else(|| {
        let stem = opts
            .input
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("import");
        Path::new("pipelines").join(format!("{stem}.yaml"))
    });
    if out.exists() && !opts.force {
        return Err(ConfigError::new(format!(
            "{} exists; use --force to overwrite it",
            out.display()
        ))
        .into());
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let input_rel = relative_to(&opts.input, out.parent().unwrap_or(Path::new(".")));
    let yaml = render(&input_rel, is_excel, &profiles, &guesses, rows.len());
    // The generated file must itself be a valid pipeline (with the variables it references).
    crate::config::parse_str(&out, &yaml, |_| None).map_err(|e| {
        anyhow::anyhow!("internal: the generated pipeline does not validate:\n{e}\n{yaml}")
    })?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, &yaml)?;
    println!(
        "wrote {} ({} of {} columns mapped, {} rows sampled)",
        out.display(),
        guesses.len(),
        headers.len(),
        rows.len()
    );
    for g in &guesses {
        println!(
            "  {:<12} ← {:<28} ({})",
            g.field.api_name(),
            g.column,
            g.reason
        );
    }
    println!(
        "check the guesses, then: ghl-import validate {}",
        out.display()
    );
    Ok(Exit::Ok)
}

/// `path` relative to `dir` when both are relative or share a prefix; else absolute.
fn relative_to(path: &Path, dir: &Path) -> String {
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (p, d) = (abs(path), abs(dir));
    let pc: Vec<_> = p.components().collect();
    let dc: Vec<_> = d.components().collect();
    let common = pc.iter().zip(&dc).take_while(|(a, b)| a == b).count();
    if common <= 1 {
        return p.display().to_string(); // only the root in common: keep it absolute
    }
    let mut rel = PathBuf::new();
    for _ in common..dc.len() {
        rel.push("..");
    }
    for c in &pc[common..] {
        rel.push(c);
    }
    rel.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prof(name: &str, filled: usize, emails: usize, phones: usize) -> ColumnProfile {
        ColumnProfile {
            name: name.into(),
            rows: 10,
            filled,
            emails,
            phones,
            ..Default::default()
        }
    }

    #[test]
    fn real_crm_export_headers_are_recognised() {
        // Header sets of real exports, written out here (from the CRM export reference the issue cites): Salesforce contacts
        // report, Zoho, Pipedrive, Mailchimp, Dynamics, Google.
        use ContactField as F;
        type Case<'a> = (&'a [&'a str], &'a [(F, &'a str)]);
        let cases: &[Case] = &[
            (
                &[
                    "Contact ID",
                    "First Name",
                    "Last Name",
                    "Account Name",
                    "Email",
                    "Mobile",
                    "Mailing Street",
                    "Mailing City",
                    "Mailing State/Province",
                    "Mailing Zip/Postal Code",
                    "Mailing Country",
                    "Birthdate",
                    "Lead Source",
                    "Email Opt Out",
                    "Other Street",
                ],
                &[
                    (F::CompanyName, "Account Name"),
                    (F::Address1, "Mailing Street"),
                    (F::City, "Mailing City"),
                    (F::State, "Mailing State/Province"),
                    (F::PostalCode, "Mailing Zip/Postal Code"),
                    (F::Country, "Mailing Country"),
                    (F::DateOfBirth, "Birthdate"),
                    (F::Source, "Lead Source"),
                ],
            ),
            (
                &[
                    "Person - Name",
                    "Person - Email - Work",
                    "Person - Phone - Mobile",
                    "Person - Organization",
                    "Person - City/town/village/locality of Postal address",
                    "Person - Country of Postal address",
                    "Person - Labels",
                ],
                &[
                    (F::Name, "Person - Name"),
                    (F::Email, "Person - Email - Work"),
                    (F::Phone, "Person - Phone - Mobile"),
                    (F::CompanyName, "Person - Organization"),
                    (F::Tags, "Person - Labels"),
                    (
                        F::City,
                        "Person - City/town/village/locality of Postal address",
                    ),
                    (F::Country, "Person - Country of Postal address"),
                ],
            ),
            (
                &[
                    "Email Address",
                    "First Name",
                    "Last Name",
                    "Phone Number",
                    "TAGS",
                    "CC",
                    "MEMBER_RATING",
                ],
                &[
                    (F::Email, "Email Address"),
                    (F::Tags, "TAGS"),
                    (F::Country, "CC"),
                ],
            ),
            (
                &[
                    "Full Name",
                    "Email",
                    "Business Phone",
                    "Company Name",
                    "Address 1: Street 1",
                    "Address 1: City",
                    "Address 1: ZIP/Postal Code",
                    "Address 1: Country/Region",
                ],
                &[
                    (F::Address1, "Address 1: Street 1"),
                    (F::City, "Address 1: City"),
                    (F::PostalCode, "Address 1: ZIP/Postal Code"),
                    (F::Country, "Address 1: Country/Region"),
                ],
            ),
            (
                &[
                    "Name",
                    "E-mail 1 - Value",
                    "Phone 1 - Value",
                    "Organization 1 - Name",
                    "Group Membership",
                ],
                &[
                    (F::Email, "E-mail 1 - Value"),
                    (F::Phone, "Phone 1 - Value"),
                    (F::CompanyName, "Organization 1 - Name"),
                    (F::Tags, "Group Membership"),
                ],
            ),
        ];
        for (headers, expected) in cases {
            let ps: Vec<ColumnProfile> = headers.iter().map(|h| prof(h, 10, 0, 0)).collect();
            let g = guess(&ps);
            for (field, column) in *expected {
                let got = g
                    .iter()
                    .find(|x| x.field == *field)
                    .map(|x| x.column.as_str());
                assert_eq!(got, Some(*column), "{field:?} in {headers:?}");
            }
            // False friends: consent flags and a second address are never guessed.
            assert!(
                !g.iter()
                    .any(|x| x.column == "Email Opt Out" || x.column == "Other Street"),
                "{g:?}"
            );
        }
    }

    #[test]
    fn guesses_by_header_then_content() {
        let ps = [
            prof("E-mail Address", 10, 10, 0),
            prof("Mobile Phone Number", 8, 0, 8),
            prof("Contact", 9, 0, 9),
            prof("Notes", 5, 0, 0),
            prof("First Name", 10, 0, 0),
            prof("Given name", 3, 0, 0),
        ];
        let g = guess(&ps);
        let f = |field: ContactField| {
            g.iter()
                .find(|x| x.field == field)
                .map(|x| x.column.as_str())
        };
        assert_eq!(f(ContactField::Email), Some("E-mail Address"));
        assert_eq!(
            f(ContactField::Phone),
            Some("Mobile Phone Number"),
            "header wins over content"
        );
        assert_eq!(
            f(ContactField::FirstName),
            Some("First Name"),
            "the fuller column wins"
        );
        assert!(!g.iter().any(|x| x.column == "Notes"));
    }

    #[test]
    fn yaml_strings_are_quoted_when_needed() {
        assert_eq!(yaml_str("First Name"), "First Name");
        assert_eq!(yaml_str("Yes"), "\"Yes\"");
        assert_eq!(yaml_str("E-mail: work"), "\"E-mail: work\"");
        assert_eq!(yaml_str("# id"), "\"# id\"");
    }
}
