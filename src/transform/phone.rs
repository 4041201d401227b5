//! A fast path for North American (+1) phone numbers that agrees with the phonenumber crate.
//!
//! Parsing with libphonenumber costs ~9 µs per number. For the common case — a `+1` number, or
//! a US/CA-region number written with digits and `( ) - . space` only — the E.164 form is `+1`
//! and the ten national digits, and validity under the NANP metadata is decided by the first
//! seven national digits (area code, exchange, first line digit: every NANP pattern is a prefix
//! of at most seven digits followed by free digits). So the crate is asked once per 7-digit
//! prefix and the answer kept in a table of 10^7 two-bit entries (2.5 MB) shared by all threads
//! (atomic bytes: two threads racing on a prefix compute the same answer). Anything
//! else (letters, extensions, other regions, `00` prefixes) goes to the crate. Agreement with the
//! crate is checked by a property test and, over a million numbers, by the benchmark.

use phonenumber::country::Id as Region;

/// 10^7 prefixes, 2 bits each: 0 unknown, 1 valid, 2 invalid.
const PREFIXES: usize = 10_000_000;

/// Entries kept by the memo of crate answers (per shard) before that shard is cleared.
const MEMO_SHARD_CAP: usize = 1 << 13;

/// Shards of the memo (a power of two): threads rarely wait for each other.
const MEMO_SHARDS: usize = 16;

/// One memo shard: region → trimmed input → E.164 or invalid. Looked up by `&str`, so a hit
/// allocates nothing but the answer.
type Shard = rustc_hash::FxHashMap<Option<Region>, rustc_hash::FxHashMap<Box<str>, Option<String>>>;

/// The shared prefix table, allocated on first use.
static TABLE: std::sync::OnceLock<Box<[std::sync::atomic::AtomicU8]>> = std::sync::OnceLock::new();

/// The memo of crate answers, shared by all threads (each distinct number is parsed once per
/// run, not once per thread).
static MEMO: std::sync::OnceLock<[std::sync::Mutex<Shard>; MEMO_SHARDS]> =
    std::sync::OnceLock::new();

/// The crate's answer, memoised for repeated inputs (exports often repeat a switchboard or
/// placeholder number thousands of times, and a file's numbers share few distinct forms outside
/// the NANP fast path). The memo is bounded: a shard is cleared when it reaches 8,192 entries
/// (131,072 in all).
pub fn slow_memo(raw: &str, region: Option<Region>) -> Option<String> {
    use std::hash::BuildHasher;
    let key = raw.trim();
    let memo = MEMO.get_or_init(Default::default);
    let shard = &memo[rustc_hash::FxBuildHasher.hash_one(key) as usize % MEMO_SHARDS];
    let lock = || {
        shard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    if let Some(hit) = lock().get(&region).and_then(|m| m.get(key)) {
        return hit.clone();
    }
    let v = slow(key, region);
    let mut m = lock();
    if m.values().map(|r| r.len()).sum::<usize>() >= MEMO_SHARD_CAP {
        m.clear();
    }
    m.entry(region).or_default().insert(key.into(), v.clone());
    v
}

/// The ten national digits of a NANP number written in a plain form, if `raw` is one.
pub fn nanp_national(raw: &str, region: Option<Region>) -> Option<[u8; 10]> {
    let t = raw.trim();
    let (plus, rest) = match t.strip_prefix('+') {
        Some(r) => (true, r),
        None => (false, t),
    };
    if !plus && !matches!(region, Some(Region::US) | Some(Region::CA)) {
        return None;
    }
    let mut digits = [0u8; 11];
    let mut n = 0;
    for b in rest.bytes() {
        match b {
            b'0'..=b'9' => {
                if n == 11 {
                    return None;
                }
                digits[n] = b - b'0';
                n += 1;
            }
            b' ' | b'(' | b')' | b'-' | b'.' => {}
            _ => return None,
        }
    }
    let national: &[u8] = match (plus, n) {
        (true, 11) if digits[0] == 1 => &digits[1..11],
        (false, 11) if digits[0] == 1 => &digits[1..11],
        (false, 10) => &digits[..10],
        _ => return None,
    };
    // A national number starting with 0 or 1 is not NANP-shaped; `011…` is even the US
    // international prefix. Let the crate interpret those.
    if national[0] < 2 {
        return None;
    }
    let mut out = [0u8; 10];
    out.copy_from_slice(national);
    Some(out)
}

fn prefix(national: &[u8; 10]) -> usize {
    national[..7]
        .iter()
        .fold(0usize, |acc, d| acc * 10 + *d as usize)
}

/// E.164 of a plain NANP number, `Some(None)` if it is invalid, `None` if `raw` is not a plain
/// NANP number (use the crate).
pub fn fast_nanp(raw: &str, region: Option<Region>) -> Option<Option<String>> {
    let national = nanp_national(raw, region)?;
    let key = prefix(&national);
    let e164 = {
        let mut s = String::with_capacity(12);
        s.push_str("+1");
        s.extend(national.iter().map(|d| char::from(b'0' + d)));
        s
    };
    let table = TABLE.get_or_init(|| {
        (0..PREFIXES / 4)
            .map(|_| std::sync::atomic::AtomicU8::new(0))
            .collect()
    });
    let (byte, shift) = (key / 4, (key % 4) * 2);
    let valid = match (table[byte].load(std::sync::atomic::Ordering::Relaxed) >> shift) & 0b11 {
        1 => true,
        2 => false,
        _ => {
            let v = phonenumber::parse(Some(Region::US), &e164[2..])
                .is_ok_and(|n| phonenumber::is_valid(&n));
            table[byte].fetch_or(
                (if v { 1 } else { 2 }) << shift,
                std::sync::atomic::Ordering::Relaxed,
            );
            v
        }
    };
    Some(valid.then_some(e164))
}

/// The crate's answer: E.164 if `raw` parses as a valid number with `region`.
pub fn slow(raw: &str, region: Option<Region>) -> Option<String> {
    match phonenumber::parse(region, raw.trim()) {
        Ok(n) if phonenumber::is_valid(&n) => {
            Some(n.format().mode(phonenumber::Mode::E164).to_string())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_forms_take_the_fast_path() {
        let us = Some(Region::US);
        assert_eq!(
            fast_nanp("(415) 555-2671", us),
            Some(Some("+14155552671".into()))
        );
        assert_eq!(
            fast_nanp("+1 415.555.2671", None),
            Some(Some("+14155552671".into()))
        );
        assert_eq!(
            fast_nanp("1-415-555-2671", Some(Region::CA)),
            Some(Some("+14155552671".into()))
        );
        assert_eq!(
            fast_nanp("(213) 155-2671", us),
            Some(None),
            "exchanges do not start with 1"
        );
        for other in [
            "415 555 2671 x12",
            "1-800-FLOWERS",
            "0044 20 7946 0958",
            "+44 20 7946 0958",
            "4155552671",
            "(011) 470-2292",
            "(123) 555-2671",
        ] {
            let region = if other == "4155552671" {
                Some(Region::GB)
            } else {
                us
            };
            assert_eq!(fast_nanp(other, region), None, "{other}");
        }
    }

    fn formatted() -> impl Strategy<Value = String> {
        // Ten digits with a realistic spread of area codes and exchanges, in several layouts.
        (200u64..1000, 0u64..1000, 0u64..10000, 0usize..6).prop_map(
            |(a, b, c, layout)| match layout {
                0 => format!("({a:03}) {b:03}-{c:04}"),
                1 => format!("{a:03}.{b:03}.{c:04}"),
                2 => format!("+1 {a:03} {b:03} {c:04}"),
                3 => format!("1-{a:03}-{b:03}-{c:04}"),
                4 => format!("{a:03}{b:03}{c:04}"),
                _ => format!("+1({a:03}){b:03}-{c:04}"),
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        #[test]
        fn fast_path_agrees_with_the_crate(raw in formatted(), ca in any::<bool>()) {
            let region = Some(if ca { Region::CA } else { Region::US });
            let fast = fast_nanp(&raw, region).expect("plain NANP layouts take the fast path");
            prop_assert_eq!(fast, slow(&raw, region), "{}", raw);
        }
    }
}
