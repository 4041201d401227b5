//! What `init` guesses: the field each column feeds, by header synonyms and telling parts,
//! and for email and phone also by what the values are (judged by the phone library), every such
//! column kept, the best first.

use crate::transform::profile::ColumnProfile;
use ghl_client::fields::ContactField;

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
    pub(super) fn columns(&self) -> impl Iterator<Item = String> + '_ {
        std::iter::once(self.column.clone()).chain(self.also.iter().cloned())
    }
}
