//! In-file dedup. A row duplicates an earlier row when its normalised email — or else, with
//! `dedup.phone`, its E.164 phone — equals that row's: the rows form one group, identified by
//! its first row. `keep: first` needs one pass. `keep: last` and `keep: merge` need to know each
//! group's later rows before its first row is written, so the caller runs a planning pass over
//! the input first ([`Planner`]): it keeps memory only for groups that have duplicates.
//!
//! Keys are held as digests rather than strings: 104 bits of an XXH3-128 digest, 8 choosing one
//! of 256 table shards and 96 stored with the row in 16 bytes. A million distinct emails then
//! cost 17–34 MB (hash-table fill varies between 44 % and 87 %) instead of ~100 MB as strings,
//! and the chance of any collision among 10^9 distinct keys is about n²/2^105 ≈ 2.5·10^-14.
//! The shards hash a digest by its first 64 bits (it is already uniform). This index is the
//! only part of the transform whose memory grows with the file.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::config::Keep;
use crate::outcome::{codes, RowError, Stage};
use ghl_client::types::UpsertContact;

/// The digest of a dedup key (XXH3-128; stable across runs and platforms): 8 bits choose the
/// table shard, 96 are stored, so a table entry (stored bits + row) packs into 16 bytes and
/// keys differ in 104 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyHash {
    shard: u8,
    tag: Tag,
}

/// The stored 96 bits of a [`KeyHash`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tag([u32; 3]);

impl KeyHash {
    /// Digests `key`.
    pub fn of(key: &str) -> Self {
        let h = xxhash_rust::xxh3::xxh3_128(key.as_bytes());
        KeyHash {
            shard: h as u8,
            tag: Tag([(h >> 96) as u32, (h >> 64) as u32, (h >> 32) as u32]),
        }
    }
}

impl std::hash::Hash for Tag {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64((u64::from(self.0[0]) << 32) | u64::from(self.0[1]));
    }
}

/// Hashes a [`KeyHash`] by taking its first half: it is already a uniform digest.
#[derive(Default)]
pub struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        if self.0 == 0 {
            self.0 = n;
        }
    }
}

/// Shards of a key table. Each shard grows on its own, so growing never holds two copies of the
/// whole table at once: a single table doubling past a million keys briefly needs both its old
/// and new arrays (~66 MB); 256 shards peak at 1/256 of that above their size.
const SHARDS: usize = 1 << u8::BITS;

/// Digest → first row of its group, sharded by the digest's last byte (the part the shard's
/// own hashing does not use).
#[derive(Debug)]
struct Table(Box<[HashMap<Tag, u32, BuildHasherDefault<PassThrough>>]>);

impl Default for Table {
    fn default() -> Self {
        Table((0..SHARDS).map(|_| HashMap::default()).collect())
    }
}

impl Table {
    fn get(&self, k: &KeyHash) -> Option<&u32> {
        self.0[usize::from(k.shard)].get(&k.tag)
    }

    fn insert(&mut self, k: KeyHash, row: u32) {
        self.0[usize::from(k.shard)].insert(k.tag, row);
    }

    /// Keys held and the bytes of the shards' arrays (entries and control bytes).
    fn footprint(&self) -> (usize, usize) {
        let entry = std::mem::size_of::<(Tag, u32)>() + 1;
        self.0.iter().fold((0, 0), |(n, b), m| {
            // hashbrown keeps 1/8 of its buckets free; capacity() is the usable 7/8.
            let buckets = if m.capacity() == 0 {
                0
            } else {
                (m.capacity() * 8 / 7).next_power_of_two()
            };
            (n + m.len(), b + buckets * entry)
        })
    }
}

/// Rows are stored as u32 (4 billion rows is beyond any file this tool reads).
fn row_u32(row: u64) -> u32 {
    u32::try_from(row).unwrap_or(u32::MAX)
}

/// Which key made a row a duplicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matched {
    /// The email.
    Email,
    /// The phone.
    Phone,
}

/// Assigns rows to groups, in input order. Deterministic: running it again over the same rows
/// gives the same groups, which is what lets the planning pass and the writing pass agree.
#[derive(Debug, Default)]
pub struct Grouper {
    emails: Table,
    phones: Option<Table>,
}

impl Grouper {
    /// Keys held and an estimate of the bytes they take (the only part of the transform whose
    /// memory grows with the file).
    pub fn footprint(&self) -> (usize, usize) {
        let (n, b) = self.emails.footprint();
        let (pn, pb) = self.phones.as_ref().map_or((0, 0), Table::footprint);
        (n + pn, b + pb)
    }

    /// A grouper by email, and by phone when `phone` is set.
    pub fn new(phone: bool) -> Self {
        Grouper {
            emails: Table::default(),
            phones: phone.then(Table::default),
        }
    }

    /// The group of `row`: `None` if it starts a group, else the group's first row and the key
    /// that matched.
    pub fn group(
        &mut self,
        email: Option<&str>,
        phone: Option<&str>,
        row: u64,
    ) -> Option<(u64, Matched)> {
        let e = email.map(KeyHash::of);
        let p = phone.filter(|_| self.phones.is_some()).map(KeyHash::of);
        if let Some(first) = e.and_then(|k| self.emails.get(&k)) {
            return Some((u64::from(*first), Matched::Email));
        }
        if let (Some(k), Some(phones)) = (p, &self.phones) {
            if let Some(first) = phones.get(&k) {
                return Some((u64::from(*first), Matched::Phone));
            }
        }
        let r = row_u32(row);
        if let Some(k) = e {
            self.emails.insert(k, r);
        }
        if let (Some(k), Some(phones)) = (p, self.phones.as_mut()) {
            phones.insert(k, r);
        }
        None
    }
}

/// What the planning pass learned, per group with duplicates.
#[derive(Debug, Default)]
pub struct Plan {
    /// Group first row → last row (`keep: last`).
    last: HashMap<u32, u32>,
    /// Group first row → merged body (`keep: merge`).
    merged: HashMap<u32, UpsertContact>,
}

/// The planning pass for `keep: last` and `keep: merge`: feed it every valid row in order.
#[derive(Debug)]
pub struct Planner {
    keep: Keep,
    grouper: Grouper,
    plan: Plan,
    /// Bodies of group-first rows that may still get duplicates (`merge` only): kept until the
    /// end of the pass, then dropped for groups without duplicates.
    firsts: HashMap<u32, UpsertContact>,
}

impl Planner {
    /// A planner for `keep` (first needs none).
    pub fn new(keep: Keep, phone: bool) -> Self {
        Planner {
            keep,
            grouper: Grouper::new(phone),
            plan: Plan::default(),
            firsts: HashMap::new(),
        }
    }

    /// Notes one valid row.
    pub fn note(&mut self, body: &UpsertContact, row: u64) {
        match self
            .grouper
            .group(body.email.as_deref(), body.phone.as_deref(), row)
        {
            None => {
                if self.keep == Keep::Merge {
                    self.firsts.insert(row_u32(row), body.clone());
                }
            }
            Some((first, _)) => {
                let f = row_u32(first);
                match self.keep {
                    Keep::Last => {
                        self.plan.last.insert(f, row_u32(row));
                    }
                    Keep::Merge => {
                        let base = match self.plan.merged.remove(&f) {
                            Some(m) => m,
                            None => self.firsts.remove(&f).unwrap_or_default(),
                        };
                        self.plan.merged.insert(f, merge(base, body));
                    }
                    Keep::First => {}
                }
            }
        }
    }

    /// The plan for the writing pass.
    pub fn finish(self) -> Plan {
        self.plan
    }
}

/// Fills `base`'s blank fields from `later` and unions tags and custom fields.
pub fn merge(mut base: UpsertContact, later: &UpsertContact) -> UpsertContact {
    macro_rules! fill {
        ($($f:ident),*) => { $( if base.$f.is_none() { base.$f = later.$f.clone(); } )* };
    }
    fill!(
        first_name,
        last_name,
        name,
        email,
        phone,
        company_name,
        address1,
        city,
        state,
        postal_code,
        country,
        website,
        timezone,
        source,
        date_of_birth,
        dnd
    );
    if let Some(tags) = &later.tags {
        let mine = base.tags.get_or_insert_with(Vec::new);
        for t in tags {
            if !mine.iter().any(|m| m.eq_ignore_ascii_case(t)) {
                mine.push(t.clone());
            }
        }
    }
    if let Some(cfs) = &later.custom_fields {
        let mine = base.custom_fields.get_or_insert_with(Vec::new);
        for cf in cfs {
            if !mine.iter().any(|m| m.id == cf.id) {
                mine.push(cf.clone());
            }
        }
    }
    base
}

/// Dedup state of the writing pass.
#[derive(Debug)]
pub struct Dedup {
    enabled: bool,
    keep: Keep,
    grouper: Grouper,
    plan: Plan,
}

impl Dedup {
    /// Builds the state: `plan` comes from a [`Planner`] for `last` and `merge`.
    pub fn new(enabled: bool, keep: Keep, phone: bool, plan: Option<Plan>) -> Self {
        Dedup {
            enabled,
            keep,
            grouper: Grouper::new(phone),
            plan: plan.unwrap_or_default(),
        }
    }

    /// Keys held by the dedup index and an estimate of its bytes.
    pub fn footprint(&self) -> (usize, usize) {
        self.grouper.footprint()
    }

    /// Decides the row's fate: `Ok(None)` keep as is, `Ok(Some(body))` keep with this (merged)
    /// body, `Err` a duplicate naming the row that is loaded.
    pub fn check(
        &mut self,
        body: &UpsertContact,
        row: u64,
    ) -> Result<Option<UpsertContact>, RowError> {
        if !self.enabled {
            return Ok(None);
        }
        let r = row_u32(row);
        match (
            self.grouper
                .group(body.email.as_deref(), body.phone.as_deref(), row),
            self.keep,
        ) {
            (None, Keep::First) => Ok(None),
            (None, Keep::Last) => match self.plan.last.get(&r) {
                Some(&last) => {
                    let m = if body.email.is_some() {
                        Matched::Email
                    } else {
                        Matched::Phone
                    };
                    Err(duplicate(
                        body,
                        u64::from(last),
                        m,
                        ", which is kept instead (dedup.keep: last)",
                    ))
                }
                None => Ok(None),
            },
            (None, Keep::Merge) => Ok(self.plan.merged.remove(&r)),
            (Some((first, m)), Keep::First) => Err(duplicate(
                body,
                first,
                m,
                ", which is kept instead (dedup.keep: first)",
            )),
            (Some((first, m)), Keep::Last) => match self.plan.last.get(&row_u32(first)) {
                Some(&last) if last == r => Ok(None),
                Some(&last) => Err(duplicate(
                    body,
                    u64::from(last),
                    m,
                    ", which is kept instead (dedup.keep: last)",
                )),
                None => Ok(None),
            },
            (Some((first, m)), Keep::Merge) => Err(duplicate(
                body,
                first,
                m,
                "; its values were merged into that row (dedup.keep: merge)",
            )),
        }
    }
}

fn duplicate(body: &UpsertContact, kept_row: u64, m: Matched, what: &str) -> RowError {
    let key = match m {
        Matched::Email => format!("email `{}`", body.email.as_deref().unwrap_or_default()),
        Matched::Phone => format!("phone `{}`", body.phone.as_deref().unwrap_or_default()),
    };
    RowError {
        kept_row: Some(kept_row),
        column: None,
        ..RowError::new(
            Stage::Dedup,
            codes::DUPLICATE_IN_FILE,
            format!("{key} duplicates row {kept_row}{what}"),
            format!("merge this row into row {kept_row} if it holds information you need"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(
        email: Option<&str>,
        phone: Option<&str>,
        first: Option<&str>,
        tags: &[&str],
    ) -> UpsertContact {
        UpsertContact {
            email: email.map(str::to_owned),
            phone: phone.map(str::to_owned),
            first_name: first.map(str::to_owned),
            tags: (!tags.is_empty()).then(|| tags.iter().map(|t| t.to_string()).collect()),
            ..Default::default()
        }
    }

    /// Runs planning (when needed) and writing over rows 2.. and returns each row's fate.
    fn run(
        keep: Keep,
        phone: bool,
        rows: &[UpsertContact],
    ) -> Vec<Result<Option<UpsertContact>, RowError>> {
        let plan = (keep != Keep::First).then(|| {
            let mut p = Planner::new(keep, phone);
            for (i, b) in rows.iter().enumerate() {
                p.note(b, i as u64 + 2);
            }
            p.finish()
        });
        let mut d = Dedup::new(true, keep, phone, plan);
        rows.iter()
            .enumerate()
            .map(|(i, b)| d.check(b, i as u64 + 2))
            .collect()
    }

    #[test]
    fn keep_first_rejects_later_rows_naming_the_first() {
        let rows = [
            body(Some("a@x.co"), None, None, &[]),
            body(None, None, None, &[]),
            body(Some("a@x.co"), None, None, &[]),
        ];
        let out = run(Keep::First, false, &rows);
        assert!(out[0].is_ok() && out[1].is_ok());
        let e = out[2].as_ref().unwrap_err();
        assert_eq!(e.code, codes::DUPLICATE_IN_FILE);
        assert!(e.message.contains("duplicates row 2"), "{}", e.message);
    }

    #[test]
    fn keep_last_rejects_earlier_rows_naming_the_last() {
        let rows = [
            body(Some("a@x.co"), None, Some("Old"), &[]),
            body(Some("b@x.co"), None, None, &[]),
            body(Some("a@x.co"), None, Some("New"), &[]),
        ];
        let out = run(Keep::Last, false, &rows);
        assert!(out[0]
            .as_ref()
            .unwrap_err()
            .message
            .contains("row 4, which is kept instead"));
        assert!(out[1].is_ok() && out[2].is_ok());
    }

    #[test]
    fn phone_is_a_second_key() {
        let rows = [
            body(Some("a@x.co"), Some("+14155552671"), None, &[]),
            body(Some("b@x.co"), Some("+14155552671"), None, &[]),
        ];
        assert!(
            run(Keep::First, false, &rows).iter().all(Result::is_ok),
            "off by default"
        );
        let out = run(Keep::First, true, &rows);
        assert!(out[1]
            .as_ref()
            .unwrap_err()
            .message
            .contains("phone `+14155552671` duplicates row 2"));
    }

    #[test]
    fn merge_fills_blanks_and_unions_tags() {
        let rows = [
            body(Some("a@x.co"), None, None, &["vip"]),
            body(Some("c@x.co"), None, Some("Cy"), &[]),
            body(
                Some("a@x.co"),
                Some("+14155552671"),
                Some("Ann"),
                &["VIP", "lead"],
            ),
            body(Some("a@x.co"), None, Some("Annie"), &["new"]),
        ];
        let out = run(Keep::Merge, false, &rows);
        let merged = out[0]
            .as_ref()
            .unwrap()
            .as_ref()
            .expect("row 2 carries the merged body");
        assert_eq!(
            merged.first_name.as_deref(),
            Some("Ann"),
            "first non-blank wins"
        );
        assert_eq!(merged.phone.as_deref(), Some("+14155552671"));
        assert_eq!(
            merged.tags,
            Some(vec!["vip".to_owned(), "lead".to_owned(), "new".to_owned()])
        );
        assert_eq!(
            out[1].as_ref().unwrap(),
            &None,
            "a row without duplicates is untouched"
        );
        assert!(out[2]
            .as_ref()
            .unwrap_err()
            .message
            .contains("merged into that row"));
        assert!(out[3].is_err());
    }

    #[test]
    fn phone_owners_tell_people_apart_by_email_then_name() {
        let p = Some("+14155552671");
        let codes = |dedup: bool, rows: &[UpsertContact]| -> Vec<&'static str> {
            let mut o = PhoneOwners::new(dedup);
            rows.iter()
                .enumerate()
                .map(|(i, b)| o.check(b, i as u64 + 2).err().map_or("ok", |e| e.code))
                .collect()
        };
        use codes::{DUPLICATE_IN_FILE as DUP, PHONE_CONFLICT as CONFLICT};
        // Phone-only rows: another name is a conflict; the same name (any case) a duplicate.
        let rows = [
            body(None, p, Some("Ann"), &[]),
            body(None, p, Some("Bob"), &[]),
            body(None, p, Some(" ANN "), &[]),
            body(None, p, None, &[]),
        ];
        assert_eq!(codes(true, &rows), ["ok", CONFLICT, DUP, DUP]);
        assert_eq!(
            codes(false, &rows),
            ["ok", CONFLICT, "ok", "ok"],
            "dedup off"
        );
        // A row with an email first: a phone-only row is another person unless named alike.
        let rows = [
            body(Some("ann@x.co"), p, Some("Ann"), &[]),
            body(None, p, Some("Bob"), &[]),
            body(None, p, None, &[]),
            body(None, p, Some("ann"), &[]),
            body(Some("ANN@x.co"), p, Some("Bob"), &[]),
            body(Some("bob@x.co"), p, Some("Ann"), &[]),
        ];
        assert_eq!(
            codes(true, &rows),
            ["ok", CONFLICT, CONFLICT, DUP, "ok", CONFLICT]
        );
        // A phone-only row first: a later email joins it when the names do not differ.
        let rows = [
            body(None, p, Some("Ann"), &[]),
            body(Some("ann@x.co"), p, Some("Ann"), &[]),
            body(Some("bob@x.co"), p, Some("Ann"), &[]),
            body(Some("cy@x.co"), Some("+14155550100"), Some("Cy"), &[]),
        ];
        assert_eq!(codes(true, &rows), ["ok", "ok", CONFLICT, "ok"]);
        let rows = [
            body(None, p, Some("Ann"), &[]),
            body(Some("bob@x.co"), p, Some("Bob"), &[]),
        ];
        assert_eq!(codes(true, &rows), ["ok", CONFLICT]);
    }

    #[test]
    fn off_keeps_everything() {
        let mut d = Dedup::new(false, Keep::First, false, None);
        let b = body(Some("a@x.co"), None, None, &[]);
        assert!(d.check(&b, 2).is_ok());
        assert!(d.check(&b, 3).is_ok());
    }
}

/// Rows of the file by phone, so that two people never become one contact: the API's upsert
/// matches by email, then by phone, so a later row with the same phone updates the earlier row's
/// contact whenever its email does not match another — replacing that person's email, or (a row
/// without email) their name and everything else. A later row is
/// - the same contact when its email is the earlier row's;
/// - a `phone_conflict` when it is another person: another email, or another name (both rows
///   named), or no email against an earlier row with one and no name to tell them apart;
/// - with dedup on, a `duplicate_in_file` of the earlier row when it has no email and is the
///   same person (the names agree, or the earlier row had no email either and nothing tells
///   them apart): loading both would make one contact flip between the two rows on every run.
///
/// Keys are 64-bit digests (about 40 bytes per phone held).
#[derive(Debug, Default)]
pub struct PhoneOwners {
    owners: rustc_hash::FxHashMap<u64, Owner>,
    /// Same-person rows without email are duplicates (in-file dedup is on).
    dedup: bool,
}

/// The first row of the file with a phone: its row, email and name digests (0: none).
#[derive(Debug, Clone, Copy)]
struct Owner {
    row: u64,
    email: u64,
    name: u64,
}

/// A person's name as the rows compare it: first and last (or the full name), lower-cased,
/// whitespace collapsed.
pub fn name_key(body: &UpsertContact) -> Option<String> {
    name_key_of(
        body.first_name.as_deref(),
        body.last_name.as_deref(),
        body.name.as_deref(),
    )
}

/// [`name_key`] of a first, last and full name (a contact's as the API returns them).
pub fn name_key_of(first: Option<&str>, last: Option<&str>, full: Option<&str>) -> Option<String> {
    let parts: Vec<&str> = match (first, last) {
        (None, None) => full.into_iter().collect(),
        (f, l) => f.into_iter().chain(l).collect(),
    };
    let joined = parts
        .iter()
        .flat_map(|p| p.split_whitespace())
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    (!joined.is_empty()).then_some(joined)
}

impl PhoneOwners {
    /// The check; with `dedup`, same-person rows without email are duplicates.
    pub fn new(dedup: bool) -> Self {
        PhoneOwners {
            owners: Default::default(),
            dedup,
        }
    }

    /// `Err(phone_conflict)` when an earlier row has this row's phone and is another person;
    /// `Err(duplicate_in_file)` when it is the same person and this row has no email.
    pub fn check(&mut self, body: &UpsertContact, row: u64) -> Result<(), RowError> {
        let Some(phone) = body.phone.as_deref() else {
            return Ok(());
        };
        let digest = |s: &str| xxhash_rust::xxh3::xxh3_64(s.as_bytes()).max(1);
        let email = body.email.as_deref().map(|e| digest(&e.to_lowercase()));
        let name = name_key(body).map(|n| digest(&n));
        let o = match self.owners.entry(digest(phone)) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(Owner {
                    row,
                    email: email.unwrap_or(0),
                    name: name.unwrap_or(0),
                });
                return Ok(());
            }
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
        };
        let names_agree = match (name, o.name) {
            (Some(n), m) if m != 0 => Some(n == m),
            _ => None,
        };
        match (email, o.email) {
            (Some(e), m) if e == m => Ok(()),
            (Some(_), m) if m != 0 => Err(phone_conflict(
                format!(
                    "phone {phone} is also on row {} with another email: the API's upsert matches by phone when \
                     the email is new, so this row would replace that contact's email with {}",
                    o.row,
                    body.email.as_deref().unwrap_or_default()
                ),
            )),
            // The earlier row had no email: this row's email would be added to its contact.
            (Some(e), _) if names_agree != Some(false) => {
                o.email = e;
                Ok(())
            }
            (Some(_), _) => Err(phone_conflict(format!(
                "phone {phone} is also on row {}, another person (another name) without email: the API's \
                 upsert would update that contact, name and all",
                o.row
            ))),
            (None, m) => {
                let another = names_agree == Some(false) || (names_agree.is_none() && m != 0);
                if another {
                    let who = if names_agree == Some(false) {
                        "another name"
                    } else {
                        "a row with an email, and nothing to tell them apart"
                    };
                    return Err(phone_conflict(format!(
                        "phone {phone} is also on row {} ({who}): a row without email is matched by its phone, so \
                         this row would overwrite that person's contact",
                        o.row
                    )));
                }
                if !self.dedup {
                    return Ok(());
                }
                let mut e = RowError::new(
                    Stage::Dedup,
                    codes::DUPLICATE_IN_FILE,
                    format!(
                        "no email, and the same phone {phone} and name as row {}, which is loaded in its place",
                        o.row
                    ),
                    "if this row is another person, give it its own phone or email; if it holds newer values, \
                     put them in the earlier row",
                );
                e.kept_row = Some(o.row);
                Err(e)
            }
        }
    }
}

fn phone_conflict(message: String) -> RowError {
    RowError::new(
        Stage::Dedup,
        codes::PHONE_CONFLICT,
        message,
        "if both rows are the same person, merge them into one row (or give both the same name and email); \
         if not, fix one phone; or set load.phone_conflicts: merge to let the later row update that contact",
    )
}
