//! Writers of `rejected.csv` and `results.csv`, and spreadsheet formula escaping.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use anyhow::Context;

use crate::outcome::Outcome;
use crate::record::Record;

/// Columns appended to the original ones in `rejected.csv`.
pub const REJECT_COLUMNS: [&str; 6] = ["_row", "_stage", "_code", "_message", "_hint", "_column"];
/// Columns of `results.csv`.
pub const RESULT_COLUMNS: [&str; 7] = [
    "row",
    "outcome",
    "contact_id",
    "stage",
    "code",
    "message",
    "warnings",
];

/// Columns of `rejected_values.csv`.
pub const VALUE_COLUMNS: [&str; 9] = [
    "row",
    "column",
    "value",
    "field",
    "code",
    "message",
    "hint",
    "kept_in",
    "contact_id",
];

/// First characters that make a spreadsheet evaluate a cell: `= + - @`, `|` (DDE), tab, CR,
/// and the full-width forms of `= + - @` that some spreadsheets fold to ASCII.
const FORMULA_TRIGGERS: [char; 11] = [
    '=', '+', '-', '@', '|', '\t', '\r', '\u{FF1D}', '\u{FF0B}', '\u{FF0D}', '\u{FF20}',
];

/// Whether a spreadsheet would evaluate `cell` as a formula. A plain number (a sign, digits, at
/// most one decimal point: `+14155552671`, `-5`) cannot run anything and is left as it is, so
/// E.164 phone numbers stay usable.
fn is_formula(cell: &str) -> bool {
    cell.starts_with(FORMULA_TRIGGERS) && !is_plain_number(cell)
}

fn is_plain_number(cell: &str) -> bool {
    let digits = cell.strip_prefix(['+', '-']).unwrap_or(cell);
    let mut dots = 0;
    !digits.is_empty()
        && digits.starts_with(|c: char| c.is_ascii_digit())
        && digits.chars().all(|c| {
            dots += usize::from(c == '.');
            c.is_ascii_digit() || (c == '.' && dots == 1)
        })
}

/// Prefixes a cell that a spreadsheet would evaluate (see [`FORMULA_TRIGGERS`]) with `'`.
pub fn escape_formula(cell: &str) -> std::borrow::Cow<'_, str> {
    if is_formula(cell) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// Reverses [`escape_formula`]: strips a `'` that precedes a formula trigger.
pub fn unescape_formula(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if is_formula(rest) => rest,
        _ => cell,
    }
}

/// Lines of `rejected_values.csv` (also appended to by `retry-rejects` for values still wrong).
pub fn write_value_lines<W: std::io::Write>(
    w: &mut csv::Writer<W>,
    escape: bool,
    row: u64,
    dropped: &[crate::outcome::DroppedValue],
    contact_id: &str,
) -> anyhow::Result<()> {
    let row = row.to_string();
    for d in dropped {
        let value = if escape {
            escape_formula(&d.value)
        } else {
            std::borrow::Cow::Borrowed(d.value.as_str())
        };
        w.write_record([
            row.as_str(),
            &d.column,
            &value,
            &d.field,
            d.code,
            &d.message,
            &d.hint,
            d.kept_in.unwrap_or(""),
            contact_id,
        ])?;
    }
    Ok(())
}

/// Writes both CSV reports as outcomes arrive (in input order).
pub struct ReportWriter {
    rejected: csv::Writer<BufWriter<File>>,
    results: csv::Writer<BufWriter<File>>,
    values: csv::Writer<BufWriter<File>>,
    escape: bool,
    width: usize,
}

impl ReportWriter {
    /// Creates the two files with their headers.
    pub fn create(dir: &Path, headers: &[String], escape: bool) -> anyhow::Result<Self> {
        let open = |name: &str| -> anyhow::Result<csv::Writer<BufWriter<File>>> {
            let path = dir.join(name);
            let f = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
            Ok(csv::WriterBuilder::new()
                .flexible(true)
                .from_writer(BufWriter::new(f)))
        };
        let mut rejected = open(super::REJECTED_CSV)?;
        let mut results = open(super::RESULTS_CSV)?;
        let mut values = open(super::REJECTED_VALUES_CSV)?;
        values.write_record(VALUE_COLUMNS)?;
        let mut head: Vec<String> = headers
            .iter()
            .map(|h| {
                if escape {
                    escape_formula(h).into_owned()
                } else {
                    h.clone()
                }
            })
            .collect();
        head.extend(REJECT_COLUMNS.iter().map(|s| s.to_string()));
        rejected.write_record(&head)?;
        results.write_record(RESULT_COLUMNS)?;
        Ok(ReportWriter {
            rejected,
            results,
            values,
            escape,
            width: headers.len(),
        })
    }

    /// Records one row's outcome.
    pub fn write(
        &mut self,
        rec: &Record,
        outcome: &Outcome,
        warnings: &[String],
    ) -> anyhow::Result<()> {
        let row = rec.row.to_string();
        let warn = warnings.join("; ");
        // results.csv: row, outcome, contact_id, stage, code, message (detail), warnings.
        let (contact_id, stage, code, message) = match outcome {
            Outcome::Planned {
                contact_id, detail, ..
            } => (contact_id.as_str(), "", "", detail.as_str()),
            Outcome::Exported => ("", "", "", ""),
            Outcome::Created { contact_id }
            | Outcome::Updated { contact_id }
            | Outcome::Unchanged { contact_id } => (contact_id.as_str(), "", "", ""),
            Outcome::Rejected(e) => ("", e.stage.as_str(), e.code, e.message.as_str()),
        };
        self.results.write_record([
            row.as_str(),
            outcome.label(),
            contact_id,
            stage,
            code,
            message,
            &warn,
        ])?;
        if let Outcome::Rejected(e) = outcome {
            let mut line: Vec<&str> = Vec::with_capacity(rec.len() + REJECT_COLUMNS.len());
            let escaped: Vec<std::borrow::Cow<'_, str>> = rec
                .cells()
                .map(|c| {
                    if self.escape {
                        escape_formula(c)
                    } else {
                        std::borrow::Cow::Borrowed(c)
                    }
                })
                .collect();
            line.extend(escaped.iter().map(|c| c.as_ref()));
            // Short (ragged) rows are padded so the reason columns stay aligned in a
            // spreadsheet; long rows are kept whole, their extra cells before the reasons.
            line.resize(line.len().max(self.width), "");
            line.extend([
                row.as_str(),
                e.stage.as_str(),
                e.code,
                e.message.as_str(),
                e.hint.as_str(),
                e.column.as_deref().unwrap_or(""),
            ]);
            self.rejected.write_record(&line)?;
        }
        Ok(())
    }

    /// Records the values of a loaded row that are not in its contact.
    pub fn write_values(
        &mut self,
        row: u64,
        dropped: &[crate::outcome::DroppedValue],
        contact_id: &str,
    ) -> anyhow::Result<()> {
        write_value_lines(&mut self.values, self.escape, row, dropped, contact_id)
    }

    /// Flushes the files.
    pub fn finish(mut self) -> anyhow::Result<()> {
        self.values.flush()?;
        self.rejected.flush()?;
        self.results.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_escaped_and_round_trip() {
        for c in [
            "=SUM(A1)",
            "+1 415",
            "-5-5",
            "@cmd",
            "\tx",
            "\rx",
            "|cmd",
            "＝1+1",
            "＠SUM(1)",
            "＋1",
            "－1",
        ] {
            let e = escape_formula(c);
            assert!(e.starts_with('\''), "{c}");
            assert_eq!(unescape_formula(&e), c);
        }
        assert_eq!(escape_formula("ann@x.com"), "ann@x.com");
        for n in ["+14155552671", "-5", "+1.5"] {
            assert_eq!(escape_formula(n), n, "a plain number runs nothing");
        }
        assert_eq!(
            escape_formula("-5+cmd|' /C calc'!A0"),
            "'-5+cmd|' /C calc'!A0"
        );
        assert_eq!(unescape_formula("'quoted"), "'quoted");
    }
}
