//! `rejected.xlsx` (`report.rejected_format: xlsx`): rejected.csv as a workbook for people who
//! fix rows in a spreadsheet — the original columns, then the reason columns with their header
//! and cells highlighted; every cell is written as text, so a cell that looks like a formula is
//! shown, never run (the CSV's `'` escapes are removed: a workbook cell needs none). Written in
//! constant memory, row by row, whatever the number of rejects.

use std::path::Path;

use anyhow::Context;
use rust_xlsxwriter::{Color, Format, FormatBorder, Workbook, Worksheet};

/// The file name in the run folder.
pub const REJECTED_XLSX: &str = "rejected.xlsx";

/// Converts `dir/rejected.csv` into `dir/rejected.xlsx`.
pub fn write(dir: &Path) -> anyhow::Result<std::path::PathBuf> {
    let csv_path = dir.join(super::REJECTED_CSV);
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(&csv_path)
        .with_context(|| format!("reading {}", csv_path.display()))?;
    let mut wb = Workbook::new();
    let ws: &mut Worksheet = wb.add_worksheet_with_constant_memory();
    ws.set_name("rejected")?;
    let head = Format::new()
        .set_bold()
        .set_border_bottom(FormatBorder::Thin);
    let reason_head = head.clone().set_background_color(Color::RGB(0xFFE08A));
    let reason = Format::new().set_background_color(Color::RGB(0xFFF4CC));
    let text = Format::new();
    let mut reasons_from = usize::MAX;
    for (i, rec) in r.records().enumerate() {
        let rec = rec?;
        let row = u32::try_from(i).context("more rows than a worksheet holds")?;
        if i == 0 {
            // The reason columns: the trailing `_row` … `_column` (five in older reports).
            reasons_from = rec
                .iter()
                .position(|h| h == "_row")
                .filter(|p| rec.len() - p >= 5)
                .unwrap_or(rec.len());
        }
        for (c, cell) in rec.iter().enumerate() {
            let col = u16::try_from(c).context("more columns than a worksheet holds")?;
            let value = super::unescape_formula(cell);
            let f = match (i, c >= reasons_from) {
                (0, true) => &reason_head,
                (0, false) => &head,
                (_, true) => &reason,
                (_, false) => &text,
            };
            ws.write_string_with_format(row, col, value, f)?;
        }
    }
    ws.set_freeze_panes(1, 0)?;
    let path = dir.join(REJECTED_XLSX);
    let tmp = dir.join(format!(".{REJECTED_XLSX}.tmp"));
    wb.save(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}
