//! The standard contact fields a pipeline can map to, named as in the official spec
//! (`UpsertContactDto` of contacts.json).

use std::fmt;

/// A standard (non-custom) contact field that the importer can write with an upsert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ContactField {
    FirstName,
    LastName,
    Name,
    Email,
    Phone,
    CompanyName,
    Address1,
    City,
    State,
    PostalCode,
    Country,
    Website,
    Timezone,
    Source,
    Tags,
    DateOfBirth,
    Dnd,
}

impl ContactField {
    /// Every field, in the order reports list them.
    pub const ALL: [ContactField; 17] = [
        ContactField::FirstName,
        ContactField::LastName,
        ContactField::Name,
        ContactField::Email,
        ContactField::Phone,
        ContactField::CompanyName,
        ContactField::Address1,
        ContactField::City,
        ContactField::State,
        ContactField::PostalCode,
        ContactField::Country,
        ContactField::Website,
        ContactField::Timezone,
        ContactField::Source,
        ContactField::Tags,
        ContactField::DateOfBirth,
        ContactField::Dnd,
    ];

    /// The API's property name.
    pub const fn api_name(self) -> &'static str {
        match self {
            ContactField::FirstName => "firstName",
            ContactField::LastName => "lastName",
            ContactField::Name => "name",
            ContactField::Email => "email",
            ContactField::Phone => "phone",
            ContactField::CompanyName => "companyName",
            ContactField::Address1 => "address1",
            ContactField::City => "city",
            ContactField::State => "state",
            ContactField::PostalCode => "postalCode",
            ContactField::Country => "country",
            ContactField::Website => "website",
            ContactField::Timezone => "timezone",
            ContactField::Source => "source",
            ContactField::Tags => "tags",
            ContactField::DateOfBirth => "dateOfBirth",
            ContactField::Dnd => "dnd",
        }
    }

    /// Parses an API property name (exact, case-sensitive as in the spec).
    pub fn from_api_name(s: &str) -> Option<ContactField> {
        Self::ALL.into_iter().find(|f| f.api_name() == s)
    }
}

impl fmt::Display for ContactField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.api_name())
    }
}

/// The closest candidate to `input` among `candidates`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = input.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&lower, &c.to_lowercase()), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_names_round_trip() {
        for f in ContactField::ALL {
            assert_eq!(ContactField::from_api_name(f.api_name()), Some(f));
        }
        assert_eq!(ContactField::from_api_name("gender"), None);
    }

    #[test]
    fn did_you_mean_finds_typos_only() {
        let names = ContactField::ALL.map(ContactField::api_name);
        assert_eq!(did_you_mean("firstname", names), Some("firstName"));
        assert_eq!(did_you_mean("emial", names), Some("email"));
        assert_eq!(did_you_mean("zzzzqq", names), None);
    }
}
