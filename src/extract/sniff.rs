//! Delimiter sniffing. Written here rather than taken from a crate because the rule is small and
//! testable: parse the first records of a sample with each candidate (quote-aware, via the csv
//! crate) and keep the one whose rows most often agree on a field count above one.

/// Candidates, in preference order for ties.
pub const CANDIDATES: [u8; 4] = [b',', b';', b'\t', b'|'];

/// Picks the delimiter of `sample` (the start of the file, possibly cut mid-record).
pub fn sniff_delimiter(sample: &[u8], truncated: bool) -> Option<u8> {
    let mut best: Option<(usize, usize, u8)> = None;
    for d in CANDIDATES {
        let mut r = csv::ReaderBuilder::new()
            .delimiter(d)
            .has_headers(false)
            .flexible(true)
            .from_reader(sample);
        let mut counts: Vec<usize> = r
            .byte_records()
            .take(51)
            .filter_map(Result::ok)
            .map(|rec| rec.len())
            .collect();
        if truncated && counts.len() > 1 {
            counts.pop(); // the last record may be cut off
        }
        let Some(&header) = counts.first() else {
            continue;
        };
        if header < 2 {
            continue;
        }
        let agree = counts.iter().filter(|&&c| c == header).count();
        let score = (agree, header, d);
        if best.is_none_or(|b| (score.0, score.1) > (b.0, b.1)) {
            best = Some(score);
        }
    }
    best.map(|b| b.2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_consistent_delimiter() {
        assert_eq!(sniff_delimiter(b"a,b,c\n1,2,3\n4,5,6\n", false), Some(b','));
        assert_eq!(
            sniff_delimiter(b"a;b;c\n1;2,5;3\n4;5;6\n", false),
            Some(b';')
        );
        assert_eq!(sniff_delimiter(b"a\tb\n1\t2\n", false), Some(b'\t'));
        assert_eq!(sniff_delimiter(b"a|b|c\n1|2|3\n", false), Some(b'|'));
        // Commas inside quotes do not fool it.
        assert_eq!(
            sniff_delimiter(b"name;note\n\"Ann\";\"a, b, c\"\n\"Ben\";\"x, y\"\n", false),
            Some(b';')
        );
        // A single column has no delimiter to find.
        assert_eq!(sniff_delimiter(b"email\na@x.co\n", false), None);
    }

    #[test]
    fn ignores_a_cut_off_last_record() {
        assert_eq!(sniff_delimiter(b"a,b,c\n1,2,3\n4,5", true), Some(b','));
    }
}
