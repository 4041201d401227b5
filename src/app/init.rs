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
            "streetaddress1",
            "street1",
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
    /// The column (the best one, for a field several columns hold).
    pub column: String,
    /// Why (for the YAML comment).
    pub reason: String,
    /// Further columns of the same field (a second phone or email), best first: mapped with
    /// `first_of`, their other values kept in a note.
    pub also: Vec<String>,
}

/// Parts of headers that say a column is about an email or phone but holds something else: its
/// type or label, a display name, consent and bounce flags, a domain, or someone else's number
/// (CRM export reference: false friends).
const NOT_A_KEY: &[&str] = &[
    "type",
    "label",
    "displayname",
    "optout",
    "optedout",
    "bounce",
    "unsubscrib",
    "quarantin",
    "invalid",
    "domain",
    "donotallow",
    "donotcall",
    "assistant",
    "asst",
    "fax",
    "pager",
    "calculated",
    "extension",
];

/// The field a header names: a synonym, else a telling part of it.
fn header_field(name: &str) -> Option<ContactField> {
    let n = norm(name);
    let key_like = n.contains("mail") || n.contains("phone") || n.contains("mobile");
    if key_like && (NOT_A_KEY.iter().any(|x| n.contains(x)) || n.ends_with("ext")) {
        return None;
    }
    SYNONYMS
        .iter()
        .find(|(_, names)| names.contains(&n.as_str()))
        .or_else(|| {
            CONTAINS
                .iter()
                .find(|(_, parts)| parts.iter().any(|x| n.contains(x)))
        })
        .map(|(f, _)| *f)
}

/// The share of a column's values that are of `field`'s kind (emails, phones), when it has any.
fn content_share(p: &ColumnProfile, field: ContactField) -> f64 {
    match field {
        ContactField::Email => p.share(p.emails),
        _ => p.share(p.phones),
    }
}

/// Whether a column named like an email or phone holds values that try to be one (an `@`; five
/// digits), valid or not: a column of labels or flags (`Phone 1 - Type: Mobile`, `Email Opt
/// Out: true`) does not.
fn plausible(p: &ColumnProfile, field: ContactField) -> bool {
    match field {
        ContactField::Email => p.share(p.at_signs) >= 0.5,
        _ => p.share(p.digity) >= 0.5,
    }
}

/// Every email or phone column: named so (and holding values that try to be one) or holding
/// them (80 %), best first — named columns before the others, the fullest first, then in file
/// order.
fn key_columns(profiles: &[ColumnProfile], field: ContactField) -> Vec<(&ColumnProfile, String)> {
    let mut found: Vec<(&ColumnProfile, String)> = Vec::new();
    for p in profiles.iter().filter(|p| p.filled > 0) {
        let share = content_share(p, field);
        let named = header_field(&p.name) == Some(field);
        if named && (plausible(p, field) || share >= 0.5) {
            found.push((p, "header".into()));
        } else if !named && share >= 0.8 && (field != ContactField::Phone || p.share(p.dates) < 0.5)
        {
            let what = if field == ContactField::Email {
                "emails"
            } else {
                "phone numbers"
            };
            found.push((p, format!("{:.0} % of values are {what}", share * 100.0)));
        }
    }
    // Named columns first (a header says more than values do), each group the fullest first.
    found.sort_by_key(|(p, reason)| (reason != "header", std::cmp::Reverse(p.filled)));
    found
}

/// Guesses a mapping. Email and phone: every column that holds them (by header and content;
/// never an IP address, a date or an order number), the fullest first and the others with
/// `first_of`. Other fields: header synonyms first, then telling parts; one column per field,
/// the fuller one winning.
pub fn guess(profiles: &[ColumnProfile]) -> Vec<Guess> {
    let mut out: Vec<Guess> = Vec::new();
    for field in [ContactField::Email, ContactField::Phone] {
        let taken: Vec<String> = out.iter().flat_map(|g| g.columns()).collect();
        let cols: Vec<(&ColumnProfile, String)> = key_columns(profiles, field)
            .into_iter()
            .filter(|(p, _)| !taken.contains(&p.name))
            .collect();
        if let Some(((first, reason), rest)) = cols.split_first() {
            out.push(Guess {
                field,
                column: first.name.clone(),
                reason: reason.clone(),
                also: rest.iter().map(|(p, _)| p.name.clone()).collect(),
            });
        }
    }
    let keys: Vec<String> = out.iter().flat_map(|g| g.columns()).collect();
    let consider = |field: ContactField, p: &ColumnProfile, out: &mut Vec<Guess>| {
        if p.filled == 0 || keys.contains(&p.name) || out.iter().any(|g| g.column == p.name) {
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
                    out[i].column = p.name.clone();
                }
            }
            None => out.push(Guess {
                field,
                column: p.name.clone(),
                reason: "header".into(),
                also: Vec::new(),
            }),
        }
    };
    let key = |f: ContactField| matches!(f, ContactField::Email | ContactField::Phone);
    for p in profiles {
        let n = norm(&p.name);
        if let Some((field, _)) = SYNONYMS
            .iter()
            .find(|(f, names)| !key(*f) && names.contains(&n.as_str()))
        {
            consider(*field, p, &mut out);
        }
    }
    for p in profiles {
        let n = norm(&p.name);
        if let Some((field, _)) = CONTAINS
            .iter()
            .find(|(f, parts)| !key(*f) && parts.iter().any(|x| n.contains(x)))
        {
            if !out.iter().any(|g| g.field == *field) {
                consider(*field, p, &mut out);
            }
        }
    }
    out.sort_by_key(|g| g.field);
    out
}

impl Guess {
    /// Every column the guess maps.
    fn columns(&self) -> impl Iterator<Item = String> + '_ {
        std::iter::once(self.column.clone()).chain(self.also.iter().cloned())
    }
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

/// Text made safe for a one-line YAML comment: line breaks and other control characters become
/// spaces.
fn comment(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// What the values of a guessed column need the user to know, for its comment and the printed
/// summary: yearless dates, empty markers, mixed date orders, Google multi-values.
fn cautions(g: &Guess, p: &ColumnProfile) -> Vec<String> {
    let mut out = Vec::new();
    if g.field == ContactField::DateOfBirth {
        if p.yearless > 0 {
            out.push(format!(
                "{} values have no year (e.g. 03/14): kept in a note (invalid: note)",
                p.yearless
            ));
        }
        if p.day_first > 0 && p.month_first > 0 {
            out.push("MIXED day/month order: check date_format".into());
        }
    }
    if p.markers > 0 {
        out.push(format!(
            "{} empty markers (N/A, 0/0/00, -…) read as blanks",
            p.markers
        ));
    }
    if p.multi > 0 {
        out.push(format!(
            "{} cells hold several values joined with ` ::: `",
            p.multi
        ));
    }
    out
}

/// What `init` found out about reading the file, written into the pipeline's `source`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SourceKeys<'a> {
    /// A workbook, not a CSV file.
    pub is_excel: bool,
    /// The CSV file's encoding when it is not UTF-8.
    pub encoding: Option<&'a str>,
    /// Column names repeat (read as `Name`, `Name_2`…).
    pub repeated: bool,
}

/// Renders the pipeline.
pub fn render(
    input_rel: &str,
    source: SourceKeys<'_>,
    profiles: &[ColumnProfile],
    guesses: &[Guess],
    sampled: usize,
) -> String {
    let SourceKeys {
        is_excel,
        encoding,
        repeated,
    } = source;
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
            comment(&p.name),
            p.fill_rate() * 100.0,
            kinds.join(", "),
            comment(&p.examples.join(" | "))
        );
    }
    let _ = writeln!(y, "version: 1\n\nsource:");
    let _ = writeln!(y, "  type: {}", if is_excel { "excel" } else { "csv" });
    let _ = writeln!(y, "  path: {}", yaml_str(input_rel));
    if let Some(e) = encoding {
        let _ = writeln!(y, "  encoding: {e}    # detected: the file is not UTF-8");
    }
    if repeated {
        let _ = writeln!(
            y,
            "  duplicate_headers: suffix    # column names repeat: the later ones are read as Name_2, Name_3…"
        );
    }
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
        if !g.also.is_empty() {
            let cols: Vec<String> = std::iter::once(&g.column)
                .chain(&g.also)
                .map(|c| yaml_str(c))
                .collect();
            value = format!("{{first_of: [{}], others: note}}", cols.join(", "));
            note = format!(
                "{note}; the first valid of {} columns, the others' values kept in a note",
                cols.len()
            );
        }
        if g.field == ContactField::DateOfBirth {
            if let Some(p) = p {
                // ISO dates are read beside any date_format: the order is read from the others.
                let fmt = if p.iso_dates == p.dates {
                    None
                } else if p.day_first > 0 && p.month_first == 0 {
                    Some("%d/%m/%Y")
                } else if p.month_first > 0 && p.day_first == 0 {
                    Some("%m/%d/%Y")
                } else {
                    note.push_str("; AMBIGUOUS day/month order: set date_format");
                    None
                };
                let mut keys = Vec::new();
                if let Some(f) = fmt {
                    keys.push(format!("date_format: \"{f}\""));
                    note.push_str("; date order read from values over 12");
                }
                if p.yearless > 0 {
                    keys.push("invalid: note".to_owned());
                }
                if !keys.is_empty() {
                    value = format!("{{column: {value}, {}}}", keys.join(", "));
                }
            }
        }
        if g.field == ContactField::Tags && p.is_some_and(|p| p.multi > 0) {
            // Google Contacts: `* myContacts ::: Roofing` — its system labels start with `* `.
            value = format!(
                "{{column: {value}, split: [\" ::: \", \",\"], replace: [{{pattern: '(^|::: )\\* [^:]*', with: ''}}]}}"
            );
            note.push_str("; Google labels split on ` ::: `, its `* …` system labels left out");
        }
        if let Some(p) = p {
            for c in cautions(g, p) {
                note.push_str("; ");
                note.push_str(&c);
            }
        }
        if g.field == ContactField::Dnd {
            value = format!("{{column: {value}, map: {{Yes: \"true\", No: \"false\", Y: \"true\", N: \"false\"}}}}");
        }
        let _ = writeln!(
            y,
            "  {}: {value}    # {}",
            g.field.api_name(),
            comment(&note)
        );
    }
    let unmapped = left_out(profiles, guesses);
    if !unmapped.is_empty() {
        let _ = writeln!(
            y,
            "  # Not mapped, with data (map them to a field, to custom_fields by fieldKey, or to a note\n  \
             # with load.notes; a run lists them in its summary as columns nothing maps):"
        );
        for p in unmapped {
            let _ = writeln!(
                y,
                "  #   {} ({:.0} % filled)",
                comment(&p.name),
                p.fill_rate() * 100.0
            );
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

/// The columns with data that no guess maps.
fn left_out<'a>(profiles: &'a [ColumnProfile], guesses: &[Guess]) -> Vec<&'a ColumnProfile> {
    profiles
        .iter()
        .filter(|p| p.filled > 0 && !guesses.iter().any(|g| g.columns().any(|c| c == p.name)))
        .collect()
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
    // A CSV file that is not UTF-8 (Windows-1252, Shift-JIS…): read it in the encoding it
    // appears to use, and say so in the pipeline.
    crate::extract::regular_file(&opts.input)?;
    let encoding = match is_excel {
        true => None,
        false => crate::extract::csv::detect_encoding(&opts.input)
            .map_err(|e| ConfigError::new(format!("{}: {e}", opts.input.display())))?,
    };
    let source = |duplicate_headers| {
        if is_excel {
            Source::Excel(ExcelSource {
                path: opts.input.clone(),
                sheet: None,
                header_row: HeaderRow::Auto,
                date_columns: vec![],
                duplicate_headers,
                hold_duplicates: false,
            })
        } else {
            Source::Csv(CsvSource {
                duplicate_headers,
                encoding,
                ..CsvSource::new(&opts.input)
            })
        }
    };
    // Repeated column names are renamed `Name_2`… (and the pipeline says so) only when the file
    // has them.
    let (reader, repeated) = match SourceReader::open(&source(DuplicateHeaders::Error)) {
        Ok(r) => (r, false),
        Err(_) => (SourceReader::open(&source(DuplicateHeaders::Suffix))?, true),
    };
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
    if !guesses
        .iter()
        .any(|g| matches!(g.field, ContactField::Email | ContactField::Phone))
    {
        return Err(no_contact_key(&opts.input, &profiles, rows.len()).into());
    }
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
    let yaml = render(
        &input_rel,
        SourceKeys {
            is_excel,
            encoding: encoding.map(encoding_rs::Encoding::name),
            repeated,
        },
        &profiles,
        &guesses,
        rows.len(),
    );
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
    if let Some(e) = encoding {
        println!("  the file is not UTF-8: it is read as {}", e.name());
    }
    for g in &guesses {
        let cols = std::iter::once(&g.column)
            .chain(&g.also)
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" | ");
        println!("  {:<12} ← {:<28} ({})", g.field.api_name(), cols, g.reason);
        if let Some(p) = profiles.iter().find(|p| p.name == g.column) {
            for c in cautions(g, p) {
                println!("  {:<12}   ! {c}", "");
            }
        }
    }
    let left = left_out(&profiles, &guesses);
    if !left.is_empty() {
        println!("  not mapped, with data (nothing of them will be sent unless you map them):");
        for p in left {
            println!(
                "    {:<28} {:>5.1} % filled",
                comment(&p.name),
                p.fill_rate() * 100.0
            );
        }
    }
    println!(
        "check the guesses, then: ghl-import validate {}",
        out.display()
    );
    Ok(Exit::Ok)
}

/// The refusal when no column holds an email or a phone: a contact needs one, and a pipeline
/// without either would not validate.
fn no_contact_key(input: &Path, profiles: &[ColumnProfile], rows: usize) -> ConfigError {
    let cols: Vec<String> = profiles
        .iter()
        .map(|p| {
            format!(
                "`{}` ({:.0} % filled)",
                comment(&p.name),
                p.fill_rate() * 100.0
            )
        })
        .collect();
    let why = if rows == 0 {
        "it has no data row to judge the values by, and no column is named like an email or phone"
    } else {
        "no column is named like an email or phone and holds such values"
    };
    ConfigError::new(format!(
        "{}: no pipeline written: {why}; a contact needs an email or a phone. Columns: {}. \
         Write the pipeline by hand (docs/PIPELINE.md), mapping `email:` or `phone:` to the right column",
        input.display(),
        if cols.is_empty() { "none".to_owned() } else { cols.join(", ") }
    ))
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
            // Every column holds values shaped like its header says (an `@`, digits), but for
            // the opt-out flags, which hold yes/no.
            let ps: Vec<ColumnProfile> = headers
                .iter()
                .map(|h| {
                    let flag = h.to_lowercase().contains("opt out");
                    let n = if flag { 0 } else { 10 };
                    ColumnProfile {
                        at_signs: n,
                        digity: n,
                        ..prof(h, 10, 0, 0)
                    }
                })
                .collect();
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
    fn every_phone_and_email_column_is_mapped_and_look_alikes_are_not() {
        let col = |name: &str, f: fn(&mut ColumnProfile)| {
            let mut p = prof(name, 10, 0, 0);
            f(&mut p);
            p
        };
        let ps = [
            col("Email", |p| (p.emails, p.at_signs) = (10, 10)),
            col("Work Email", |p| {
                (p.emails, p.at_signs, p.filled) = (4, 4, 4)
            }),
            col("Email Opt Out", |p| p.booleans = 10),
            col("Mobile", |p| (p.phones, p.digity, p.filled) = (6, 6, 6)),
            col("Phone", |p| (p.phones, p.digity) = (9, 9)),
            col("Phone 1 - Type", |_| {}),
            col("ip_address", |p| p.digity = 10),
            col("Contact", |p| (p.phones, p.digity) = (10, 10)),
        ];
        let g = guess(&ps);
        let get = |f: ContactField| g.iter().find(|x| x.field == f).unwrap();
        let email = get(ContactField::Email);
        assert_eq!(
            (email.column.as_str(), email.also.clone()),
            ("Email", vec!["Work Email".to_owned()])
        );
        let phone = get(ContactField::Phone);
        assert_eq!(
            phone.column, "Phone",
            "named columns first, the fullest first"
        );
        assert_eq!(phone.also, ["Mobile", "Contact"]);
        let all: Vec<String> = g.iter().flat_map(|x| x.columns()).collect();
        for never in ["Email Opt Out", "Phone 1 - Type", "ip_address"] {
            assert!(!all.iter().any(|c| c == never), "{never}: {g:?}");
        }
    }

    #[test]
    fn yaml_strings_are_quoted_when_needed() {
        assert_eq!(yaml_str("First Name"), "First Name");
        assert_eq!(yaml_str("Yes"), "\"Yes\"");
        assert_eq!(yaml_str("E-mail: work"), "\"E-mail: work\"");
        assert_eq!(yaml_str("# id"), "\"# id\"");
    }
}
