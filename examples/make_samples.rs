//! Regenerates the synthetic sample workbook `samples/excel/contacts.xlsx` used by
//! `pipelines/excel-import.yaml` and the tests: `cargo run --example make_samples`.
//!
//! It holds what real exports do: a merged banner and a note above the header, phone numbers
//! stored as numbers, real date cells, a date column of bare serial numbers, booleans, a formula
//! with its cached value, a blank row inside the data, and formatted empty cells past the data.

use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook, XlsxError};

fn main() -> Result<(), XlsxError> {
    let mut wb = Workbook::new();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let banner = Format::new().set_bold();
    let ws = wb.add_worksheet().set_name("Contacts")?;
    ws.merge_range(0, 0, 0, 7, "ACME Corp — customer export", &banner)?;
    ws.write_string(1, 0, "Exported 2026-11-01 by ops")?;
    let header = [
        "First Name",
        "Last Name",
        "Full Name",
        "Email",
        "Phone",
        "Joined",
        "Birthday",
        "Do Not Contact",
    ];
    for (c, h) in header.iter().enumerate() {
        ws.write_string(3, c as u16, *h)?;
    }
    // (first, last, email, phone as number or text, joined y/m/d, birthday serial, dnd)
    enum P {
        N(f64),
        T(&'static str),
    }
    type Row = (
        &'static str,
        &'static str,
        &'static str,
        P,
        (u16, u8, u8),
        f64,
        bool,
    );
    let rows: [Row; 6] = [
        (
            "Ann",
            "Lee",
            "ann.lee@example.com",
            P::N(4155552671.0),
            (2024, 3, 15),
            32874.0,
            false,
        ),
        (
            "Ben",
            "Okafor",
            "ben.okafor@example.com",
            P::N(14155550123.0),
            (2023, 12, 1),
            31048.0,
            true,
        ),
        (
            "Chloe",
            "Martin",
            "chloe.martin@example.com",
            P::T("+44 20 7946 0958"),
            (2022, 6, 30),
            35431.0,
            false,
        ),
        (
            "Dev",
            "Rao",
            "dev.rao@example",
            P::N(4155550199.0),
            (2021, 1, 4),
            29587.0,
            false,
        ),
        (
            "Eve",
            "Park",
            "eve.park@example.com",
            P::N(415555.0),
            (2020, 2, 29),
            36526.0,
            false,
        ),
        (
            "Finn",
            "Walsh",
            "finn.walsh@example.com",
            P::T(""),
            (2019, 7, 14),
            33000.0,
            true,
        ),
    ];
    let mut r = 4u32;
    for (i, (first, last, email, phone, joined, birthday, dnd)) in rows.into_iter().enumerate() {
        if i == 3 {
            r += 1; // a blank row inside the data
        }
        ws.write_string(r, 0, first)?;
        ws.write_string(r, 1, last)?;
        ws.write_formula(
            r,
            2,
            Formula::new(format!("=A{0}&\" \"&B{0}", r + 1)).set_result(format!("{first} {last}")),
        )?;
        ws.write_string(r, 3, email)?;
        match phone {
            P::N(n) => ws.write_number(r, 4, n)?,
            P::T(t) if !t.is_empty() => ws.write_string(r, 4, t)?,
            P::T(_) => ws,
        };
        let (y, m, d) = joined;
        ws.write_datetime_with_format(r, 5, &ExcelDateTime::from_ymd(y, m, d)?, &date)?;
        ws.write_number(r, 6, birthday)?;
        ws.write_boolean(r, 7, dnd)?;
        r += 1;
    }
    // Formatted but empty cells below and to the right of the data.
    ws.write_blank(r + 5, 0, &date)?;
    ws.write_blank(4, 11, &date)?;

    let notes = wb.add_worksheet().set_name("Notes")?;
    notes.write_string(0, 0, "This sheet is not imported.")?;
    wb.save("samples/excel/contacts.xlsx")
}
