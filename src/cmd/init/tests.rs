//! Unit tests of the guesses and the YAML they are written as.

use super::render::yaml_str;
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
