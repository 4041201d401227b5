//! Value normalisation and checks: email, phone (E.164), date of birth, booleans, country, tags.
//! Each function returns the normalised value or a [`RowError`] naming the value and a fix.

use phonenumber::country::Id as Region;

use crate::outcome::{codes, RowError, Stage};

fn reject(code: &'static str, message: String, hint: &str) -> RowError {
    RowError::new(Stage::Validate, code, message, hint)
}

/// Trims and lower-cases an email and checks its syntax.
///
/// Accepted: RFC 5322 addr-spec as checked by the `email_address` crate (no display names such as
/// `Ann <ann@x.com>`, no domain literals), with a domain of at least two labels (`x@localhost` is
/// refused: a CRM contact needs a deliverable address).
pub fn email(raw: &str) -> Result<Option<String>, RowError> {
    let e = raw.trim();
    if e.is_empty() {
        return Ok(None);
    }
    let lower = e.to_lowercase();
    let opts = email_address::Options::default()
        .without_display_text()
        .without_domain_literal()
        .with_required_tld();
    let ok = email_address::EmailAddress::parse_with_options(&lower, opts).is_ok()
        && lower
            .rsplit_once('@')
            .is_some_and(|(_, d)| !d.ends_with('.') && !d.contains(".."));
    if !ok {
        return Err(reject(
            codes::INVALID_EMAIL,
            format!("`{e}` is not a valid email address"),
            "write one address like name@example.com (no spaces, names or second addresses in the cell)",
        ));
    }
    match api_refuses(&lower) {
        None => Ok(Some(lower)),
        Some(why) => Err(reject(
            codes::INVALID_EMAIL,
            format!("`{e}` is an address the API refuses: {why}"),
            "GHL checks emails like class-validator's IsEmail; correct the address (a typo in the domain?) \
             or leave the cell empty",
        )),
    }
}

/// Why GHL's own check (class-validator `IsEmail`: a TLD of 2+ letters, no underscore or IP
/// address in the domain, no quoted local part; UTF-8 allowed) would refuse an address that is
/// otherwise well formed — so that it is rejected here instead of costing a request.
fn api_refuses(email: &str) -> Option<&'static str> {
    let (local, domain) = email.rsplit_once('@')?;
    if local.starts_with('"') {
        return Some("a quoted local part");
    }
    if local.chars().count() > 64 {
        return Some("more than 64 characters before the @");
    }
    if domain.contains('_') {
        return Some("an underscore in the domain");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.iter().all(|l| l.bytes().all(|b| b.is_ascii_digit())) || domain.starts_with('[') {
        return Some("an IP address as the domain");
    }
    let tld = labels.last().copied().unwrap_or_default();
    let letters = tld.chars().count() >= 2 && tld.chars().all(char::is_alphabetic);
    let punycode = tld.starts_with("xn--") && tld.len() > 4;
    if !letters && !punycode {
        return Some("the domain does not end in a top-level domain of 2 or more letters");
    }
    if labels
        .iter()
        .any(|l| l.is_empty() || l.len() > 63 || l.starts_with('-') || l.ends_with('-'))
    {
        return Some(
            "a domain label that is empty, longer than 63 characters, or starts or ends with `-`",
        );
    }
    None
}

/// Mailbox providers whose near-misses are almost always typos.
const COMMON_DOMAINS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "hotmail.com",
    "outlook.com",
    "live.com",
    "msn.com",
    "icloud.com",
    "me.com",
    "aol.com",
    "comcast.net",
    "protonmail.com",
    "proton.me",
    "gmx.com",
    "gmx.de",
    "web.de",
    "mail.com",
    "yahoo.co.uk",
    "hotmail.co.uk",
    "btinternet.com",
    "att.net",
    "verizon.net",
    "sbcglobal.net",
    "yandex.ru",
];

/// If `email`'s domain is one or two edits away from a common mailbox domain (and is not one
/// itself), that domain: a likely typo such as `gmial.com` or `gmail.con`. Never applied: it
/// becomes a warning in results.csv.
pub fn email_domain_typo(email: &str) -> Option<&'static str> {
    let domain = email.rsplit_once('@')?.1;
    if COMMON_DOMAINS.contains(&domain) {
        return None;
    }
    // Domains repeat (a file of a few companies' contacts): remember each one's answer.
    thread_local! {
        static SEEN: std::cell::RefCell<rustc_hash::FxHashMap<String, Option<&'static str>>> =
            std::cell::RefCell::new(rustc_hash::FxHashMap::default());
    }
    if let Some(hit) = SEEN.with(|m| m.borrow().get(domain).copied()) {
        return hit;
    }
    let answer = typo_of(domain);
    SEEN.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= 1 << 16 {
            m.clear();
        }
        m.insert(domain.to_owned(), answer);
    });
    answer
}

fn typo_of(domain: &str) -> Option<&'static str> {
    COMMON_DOMAINS
        .iter()
        .map(|d| (strsim::damerau_levenshtein(domain, d), *d))
        // Short domains sit one edit from many real ones (me.com / mo.com): only longer ones count.
        .filter(|(dist, d)| match d.len() {
            0..=8 => false,
            9..=10 => *dist == 1,
            _ => (1..=2).contains(dist),
        })
        .min_by_key(|(dist, _)| *dist)
        .map(|(_, d)| d)
}

/// Splits a trailing extension off a phone cell: `415 555 2671 ext. 42`, `x42`, `#42`,
/// `extension 42` → (`415 555 2671`, `42`).
pub fn split_extension(raw: &str) -> (&str, Option<&str>) {
    // Only a letter or `#` can introduce an extension: skip the regex for plain numbers.
    if !raw.bytes().any(|b| b.is_ascii_alphabetic() || b == b'#') {
        return (raw, None);
    }
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(r"(?i)[\s,;]*(?:ext(?:ension)?\.?|x|#)\s*(\d{1,7})\s*$")
            .expect("static regex")
    });
    match re.captures(raw) {
        Some(c) if c.get(0).is_some_and(|m| m.start() > 0) => {
            let whole = c.get(0).expect("group 0 exists");
            (&raw[..whole.start()], c.get(1).map(|m| m.as_str()))
        }
        _ => (raw, None),
    }
}

/// Parses a phone number to E.164, using `region` for numbers written without `+country`.
pub fn phone(raw: &str, region: Option<Region>) -> Result<Option<String>, RowError> {
    let p = raw.trim();
    if p.is_empty() {
        return Ok(None);
    }
    let international = p.starts_with('+') || p.starts_with("00");
    if is_ip_address(p) {
        return Err(reject(
            codes::INVALID_PHONE,
            format!("`{p}` is an IP address, not a phone number"),
            "map the phone column, not the IP address column",
        ));
    }
    if !international && region.is_none() {
        return Err(reject(
            codes::INVALID_PHONE,
            format!("`{p}` has no country code and no default region is set"),
            "write the number as +<country code>…, or set validate.phone_default_region (e.g. US)",
        ));
    }
    let parsed = match super::phone::fast_nanp(p, region) {
        Some(fast) => fast,
        None => super::phone::slow_memo(p, region),
    };
    match parsed {
        Some(e164) => Ok(Some(e164)),
        None => Err(reject(
            codes::INVALID_PHONE,
            match region {
                Some(r) if !international => {
                    format!("`{p}` is not a valid phone number for region {r:?}")
                }
                _ => format!("`{p}` is not a valid phone number"),
            },
            "check the digits; write foreign numbers with their +country code",
        )),
    }
}

/// Accepts `YYYY-MM-DD` (also with `/`, `.` or `_`) and returns `YYYY-MM-DD`. Day-first and
/// month-first forms are refused rather than guessed.
pub fn date_of_birth(raw: &str) -> Result<Option<String>, RowError> {
    let d = raw.trim();
    if d.is_empty() {
        return Ok(None);
    }
    let bad = || {
        reject(
            codes::INVALID_DATE,
            format!("`{d}` is not a date in YYYY-MM-DD form"),
            "write the date as YYYY-MM-DD, e.g. 1990-09-25",
        )
    };
    let parts: Vec<&str> = d.split(['-', '/', '.', '_']).collect();
    let [y, m, day] = parts.as_slice() else {
        return Err(bad());
    };
    if y.len() != 4 || m.is_empty() || m.len() > 2 || day.is_empty() || day.len() > 2 {
        return Err(bad());
    }
    let (y, m, day): (i32, u8, u8) = match (y.parse(), m.parse(), day.parse()) {
        (Ok(y), Ok(m), Ok(d)) => (y, m, d),
        _ => return Err(bad()),
    };
    let month = time::Month::try_from(m).map_err(|_| bad())?;
    let date = time::Date::from_calendar_date(y, month, day).map_err(|_| bad())?;
    Ok(Some(format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )))
}

/// A date to `YYYY-MM-DD`: with `format` (strftime-style, e.g. `%d/%m/%Y`) exactly that format;
/// without it, the ISO forms [`date_of_birth`] accepts.
pub fn date(raw: &str, format: Option<&str>) -> Result<Option<String>, RowError> {
    let Some(fmt) = format else {
        return date_of_birth(raw);
    };
    let d = raw.trim();
    if d.is_empty() {
        return Ok(None);
    }
    match chrono::NaiveDate::parse_from_str(d, fmt) {
        Ok(date) => Ok(Some(date.format("%Y-%m-%d").to_string())),
        // A column that mixes the export's own format with ISO dates (edited by hand, or
        // merged from two systems): `YYYY-MM-DD` cannot be misread, so it is taken as well.
        Err(_) if is_iso_date(d) => Ok(Some(d.to_owned())),
        Err(_) => Err(reject(
            codes::INVALID_DATE,
            format!("`{d}` does not match the date format `{fmt}`"),
            "write the date in the pipeline's date_format, or fix the format",
        )),
    }
}

/// A real calendar date written `YYYY-MM-DD`.
fn is_iso_date(d: &str) -> bool {
    d.len() == 10 && chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok()
}

/// yes/no style booleans.
pub fn boolean(raw: &str) -> Result<Option<bool>, RowError> {
    let b = raw.trim();
    match b.to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "true" | "yes" | "y" | "1" | "t" => Ok(Some(true)),
        "false" | "no" | "n" | "0" | "f" => Ok(Some(false)),
        _ => Err(reject(
            codes::INVALID_BOOLEAN,
            format!("`{b}` is not a yes/no value"),
            "use true/false, yes/no or 1/0",
        )),
    }
}

/// A country as its 2-letter ISO 3166 code, upper-cased. Accepts the code, the 3-letter code,
/// the English name and common aliases (`United States`, `USA`, `U.S.`, `United Kingdom`,
/// `UK`, `Great Britain`, …), via the celes tables.
pub fn country(raw: &str) -> Result<Option<(String, Region)>, RowError> {
    let c = raw.trim();
    if c.is_empty() {
        return Ok(None);
    }
    // Files hold a handful of distinct countries: remember the last answer per thread.
    thread_local! {
        static LAST: std::cell::RefCell<Option<(String, (String, Region))>> = const { std::cell::RefCell::new(None) };
    }
    if let Some(hit) = LAST.with(|l| {
        l.borrow()
            .as_ref()
            .filter(|(k, _)| k == c)
            .map(|(_, v)| v.clone())
    }) {
        return Ok(Some(hit));
    }
    let found = country_uncached(c)?;
    LAST.with(|l| *l.borrow_mut() = Some((c.to_owned(), found.clone())));
    Ok(Some(found))
}

fn country_uncached(c: &str) -> Result<(String, Region), RowError> {
    let key: String = c
        .chars()
        .filter(|ch| ch.is_alphanumeric())
        .collect::<String>()
        .to_lowercase();
    let special = match key.as_str() {
        "uk" => Some("GB"),
        "us" | "america" => Some("US"),
        _ => None,
    };
    let alpha2 = if let Some(code) = special {
        Some(code.to_owned())
    } else if key.len() == 2 && c.len() == 2 {
        Some(key.to_ascii_uppercase())
    } else {
        None.or_else(|| {
            key.parse::<celes::Country>()
                .or_else(|_| celes::Country::from_alias(&key))
                .or_else(|_| celes::Country::from_name(&key))
                .ok()
                .map(|k| k.alpha2.to_ascii_uppercase())
        })
    };
    match alpha2
        .as_deref()
        .and_then(|a| a.parse::<Region>().ok().map(|r| (a.to_owned(), r)))
    {
        Some(found) => Ok(found),
        None => Err(reject(
            codes::INVALID_COUNTRY,
            format!("`{c}` is not a country code or name"),
            "use the ISO 3166 code (US, GB, DE) or the English name",
        )),
    }
}

/// Splits a tag cell on `,` and `;`, trims, drops empties and repeats (case-insensitively).
pub fn tags(raw: &str) -> Option<Vec<String>> {
    tags_split(raw, &[",".to_owned(), ";".to_owned()])
}

/// Splits a tag cell on any of `seps`, trims, drops empties and repeats (case-insensitively).
/// A cell of several values joined by ` ::: ` (a Google Contacts export's labels, a database
/// array) is split there only: each of its values is one tag, commas and all.
pub fn tags_split(raw: &str, seps: &[String]) -> Option<Vec<String>> {
    let multi = [super::map::MULTI_SEP.to_owned()];
    let seps = if raw.contains(super::map::MULTI_SEP) {
        &multi[..]
    } else {
        seps
    };
    fn pieces(s: &str, seps: &[String], out: &mut Vec<String>) {
        match seps.split_first() {
            Some((sep, rest)) if !sep.is_empty() => {
                for p in s.split(sep.as_str()) {
                    pieces(p, rest, out)
                }
            }
            Some((_, rest)) => pieces(s, rest, out),
            None => {
                let t = s.trim();
                if !t.is_empty() && !out.iter().any(|o| o.eq_ignore_ascii_case(t)) {
                    out.push(t.to_owned());
                }
            }
        }
    }
    let mut out = Vec::new();
    // One pass when every separator is one character (the usual `,` `;` `|`): splitting on a
    // string pattern sets up a substring searcher per call.
    let mut chars = ['\0'; 8];
    let mut n = 0;
    let single = seps.iter().filter(|s| !s.is_empty()).all(|s| {
        let mut it = s.chars();
        match (it.next(), it.next()) {
            (Some(c), None) if n < chars.len() => {
                chars[n] = c;
                n += 1;
                true
            }
            _ => false,
        }
    });
    if single {
        for p in raw.split(&chars[..n]) {
            pieces(p, &[], &mut out);
        }
    } else {
        pieces(raw, seps, &mut out);
    }
    (!out.is_empty()).then_some(out)
}

/// A trimmed text value, reusing the string's buffer; empty → None.
pub fn text_owned(mut s: String) -> Option<String> {
    let end = s.trim_end().len();
    s.truncate(end);
    let start = s.len() - s.trim_start().len();
    if start > 0 {
        s.drain(..start);
    }
    (!s.is_empty()).then_some(s)
}

/// Whether a value is an IPv4 address (`25.191.96.124`): four dot-separated groups of one to
/// three digits, each at most 255 — digits that would otherwise read as a phone number.
pub fn is_ip_address(v: &str) -> bool {
    let v = v.trim();
    // Cheap first: no allocation on the path every phone takes.
    if v.len() > 15 || v.bytes().filter(|b| *b == b'.').count() != 3 {
        return false;
    }
    v.split('.').all(|g| {
        (1..=3).contains(&g.len())
            && g.bytes().all(|b| b.is_ascii_digit())
            && g.parse::<u16>().is_ok_and(|n| n <= 255)
    })
}

/// Whether a cell holds one of the markers exports write for "no value": `N/A`, `-`, `--`,
/// `null`, `(null)`, `#N/A`, `none`, and the zero dates (`0/0/00`, `00/00/0000`,
/// `0000-00-00`) that Outlook and spreadsheets write for an empty date. Such a cell is a blank:
/// nothing is sent and nothing is reported. (`NA` is not one: it is Namibia's country code.)
pub fn is_empty_marker(cell: &str) -> bool {
    let t = cell.trim();
    if t.is_empty() || t.len() > 10 {
        return false;
    }
    if !matches!(t.as_bytes()[0], b'n' | b'N' | b'#' | b'(' | b'-' | b'0') {
        return false;
    }
    if t.bytes()
        .all(|b| b == b'0' || b == b'/' || b == b'-' || b == b'.')
    {
        // `-`, `--`, and zero dates; a lone `0` is a value (a count, a number).
        return t.contains(['-', '/', '.']) && (t.contains('0') || t.bytes().all(|b| b == b'-'));
    }
    // Compared without allocating: this runs on every cell the pipeline reads.
    [
        "n/a", "null", "(null)", "#n/a", "none", "nil", "(none)", "n.a.",
    ]
    .iter()
    .any(|m| t.eq_ignore_ascii_case(m))
}

/// A trimmed text value from a borrowed cell or an evaluated string (reused when owned).
pub fn text_cow(v: std::borrow::Cow<'_, str>) -> Option<String> {
    match v {
        std::borrow::Cow::Borrowed(b) => text(b),
        std::borrow::Cow::Owned(o) => text_owned(o),
    }
}

/// A trimmed text cell; empty → None.
pub fn text(raw: &str) -> Option<String> {
    let t = raw.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn ip_addresses_are_never_phones() {
        assert!(super::is_ip_address("25.191.96.124"));
        assert!(!super::is_ip_address("415.555.2671"));
        assert!(!super::is_ip_address("1.415.555.2671"));
        assert!(!super::is_ip_address("300.1.1.1"));
        let us = Some(phonenumber::country::Id::US);
        assert_eq!(
            super::phone("415.555.2671", us).unwrap().as_deref(),
            Some("+14155552671")
        );
        assert_eq!(
            super::phone("25.191.96.124", us).unwrap_err().code,
            "invalid_phone"
        );
    }

    #[test]
    fn empty_markers_are_blanks_and_values_are_not() {
        for m in [
            "0/0/00",
            "00/00/0000",
            "0000-00-00",
            "N/A",
            "n/a",
            "-",
            "--",
            "NULL",
            "(null)",
            "#N/A",
            " none ",
        ] {
            assert!(super::is_empty_marker(m), "{m}");
        }
        for v in [
            "0",
            "NA",
            "-5",
            "0/1/00",
            "2024-01-01",
            "Nonesuch",
            "",
            "x",
            "+1",
        ] {
            assert!(!super::is_empty_marker(v), "{v}");
        }
    }

    use super::*;

    #[test]
    fn a_cell_of_values_joined_by_three_colons_is_one_tag_each() {
        let seps = [",".to_owned(), ";".to_owned()];
        assert_eq!(
            tags_split("* myContacts ::: Customer", &seps).unwrap(),
            ["* myContacts", "Customer"]
        );
        assert_eq!(
            tags_split("vip ::: lead, warm", &seps).unwrap(),
            ["vip", "lead, warm"]
        );
        assert_eq!(tags_split("vip, lead", &seps).unwrap(), ["vip", "lead"]);
    }

    #[test]
    fn emails() {
        assert_eq!(
            email("  Ann.Lee@Example.COM ").unwrap().as_deref(),
            Some("ann.lee@example.com")
        );
        assert_eq!(email("   ").unwrap(), None);
        for bad in [
            "ann",
            "ann@",
            "@x.com",
            "ann@x",
            "a b@x.com",
            "Ann <a@x.com>",
            "a@x..com",
            "a@@x.com",
            "a@x.com.",
        ] {
            let e = email(bad).unwrap_err();
            assert_eq!(e.code, codes::INVALID_EMAIL, "{bad}");
        }
    }

    #[test]
    fn emails_the_api_refuses_are_rejected_before_sending() {
        for (bad, why) in [
            ("ann@example.c", "top-level domain"),
            ("ann@example.123", "top-level domain"),
            ("ann@my_company.com", "underscore"),
            ("ann@192.168.0.1", "IP address"),
            ("\"ann lee\"@example.com", "quoted"),
            ("ann@-example.com", "domain label"),
        ] {
            match email(bad) {
                Err(e) => {
                    assert_eq!(e.code, codes::INVALID_EMAIL, "{bad}");
                    assert!(
                        e.message.contains(why) || e.message.contains("not a valid"),
                        "{bad}: {}",
                        e.message
                    );
                }
                Ok(v) => panic!("{bad} accepted as {v:?}"),
            }
        }
        for good in [
            "ann@example.co",
            "jos\u{e9}@example.com",
            "ann@xn--bcher-kva.de",
            "a.b+tag@sub.example.org",
            "ann@b\u{fc}cher.de",
        ] {
            assert!(email(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn extensions_are_split_off() {
        assert_eq!(
            split_extension("415 555 2671 ext. 42"),
            ("415 555 2671", Some("42"))
        );
        assert_eq!(
            split_extension("(415) 555-2671x7"),
            ("(415) 555-2671", Some("7"))
        );
        assert_eq!(
            split_extension("+1 415 555 2671 #12"),
            ("+1 415 555 2671", Some("12"))
        );
        assert_eq!(
            split_extension("415 555 2671, extension 9"),
            ("415 555 2671", Some("9"))
        );
        assert_eq!(split_extension("415 555 2671"), ("415 555 2671", None));
        assert_eq!(
            split_extension("x42"),
            ("x42", None),
            "nothing before it: not an extension"
        );
    }

    #[test]
    fn domain_typos_are_spotted_not_fixed() {
        assert_eq!(email_domain_typo("ann@gmial.com"), Some("gmail.com"));
        assert_eq!(email_domain_typo("ann@gmail.con"), Some("gmail.com"));
        assert_eq!(email_domain_typo("ann@hotmal.com"), Some("hotmail.com"));
        assert_eq!(email_domain_typo("ann@gmail.com"), None);
        assert_eq!(email_domain_typo("ann@acme.com"), None);
        assert_eq!(email_domain_typo("ann@me.com"), None);
        assert_eq!(
            email_domain_typo("ann@mo.com"),
            None,
            "short domains are too close to real ones to judge"
        );
    }

    #[test]
    fn phones() {
        let us = Some(Region::US);
        assert_eq!(
            phone("(415) 555-2671", us).unwrap().as_deref(),
            Some("+14155552671")
        );
        assert_eq!(
            phone("+44 20 7946 0958", us).unwrap().as_deref(),
            Some("+442079460958")
        );
        assert_eq!(
            phone("415.555.2671", us).unwrap().as_deref(),
            Some("+14155552671")
        );
        assert_eq!(phone("", us).unwrap(), None);
        assert_eq!(phone("n/a", us).unwrap_err().code, codes::INVALID_PHONE);
        assert_eq!(phone("12345", us).unwrap_err().code, codes::INVALID_PHONE);
        let e = phone("4155552671", None).unwrap_err();
        assert!(e.hint.contains("phone_default_region"), "{e:?}");
        assert_eq!(
            phone("+14155552671", None).unwrap().as_deref(),
            Some("+14155552671")
        );
    }

    #[test]
    fn dates() {
        assert_eq!(
            date_of_birth("1990-9-5").unwrap().as_deref(),
            Some("1990-09-05")
        );
        assert_eq!(
            date_of_birth("1990/09/25").unwrap().as_deref(),
            Some("1990-09-25")
        );
        for bad in ["09/25/1990", "1990-02-30", "yesterday", "1990-13-01"] {
            assert_eq!(
                date_of_birth(bad).unwrap_err().code,
                codes::INVALID_DATE,
                "{bad}"
            );
        }
    }

    #[test]
    fn booleans_countries_tags() {
        assert_eq!(boolean("Yes").unwrap(), Some(true));
        assert_eq!(boolean("0").unwrap(), Some(false));
        assert!(boolean("maybe").is_err());
        assert_eq!(country("us").unwrap().map(|c| c.0).as_deref(), Some("US"));
        for (name, code) in [
            ("USA", "US"),
            ("United States", "US"),
            ("U.S.", "US"),
            ("united kingdom", "GB"),
            ("UK", "GB"),
            ("Great Britain", "GB"),
            ("Brazil", "BR"),
            ("deu", "DE"),
            ("gb", "GB"),
        ] {
            assert_eq!(
                country(name).unwrap().map(|c| c.0).as_deref(),
                Some(code),
                "{name}"
            );
        }
        assert!(country("Atlantis").is_err());
        assert!(country("XX").is_err());
        assert_eq!(
            tags(" vip; lead ,VIP,, "),
            Some(vec!["vip".to_owned(), "lead".to_owned()])
        );
        assert_eq!(tags(" ; "), None);
        assert_eq!(
            text_owned("  Ann Lee \t".to_owned()).as_deref(),
            Some("Ann Lee")
        );
        assert_eq!(text_owned("   ".to_owned()), None);
    }
}

#[cfg(test)]
mod idn_tests {
    use super::*;

    #[test]
    fn idn_domains_are_accepted() {
        assert_eq!(
            email("Zoë@Bücher.DE").unwrap().as_deref(),
            Some("zoë@bücher.de")
        );
        assert_eq!(
            email("info@xn--bcher-kva.de").unwrap().as_deref(),
            Some("info@xn--bcher-kva.de")
        );
        assert!(email("a@bü cher.de").is_err());
    }
}
