//! Sources against real-world files: public fixtures (tests/fixtures/public, licences beside
//! them) and the project's own samples. Library-level: what each source yields, row by row.

use std::path::Path;

use ghl_import::config::{CsvSource, DuplicateHeaders, ExcelSource, HeaderRow, SheetRef, Source};
use ghl_import::extract::{SourceItem, SourceReader};

use crate::util::repo;

fn fixture(p: &str) -> std::path::PathBuf {
    repo().join("tests/fixtures/public").join(p)
}

fn excel(path: &Path) -> ExcelSource {
    ExcelSource::new(path)
}

/// (row, Ok(cells) | Err(code, message)) for every item.
type Items = Vec<(u64, Result<Vec<String>, (String, String)>)>;

fn read(src: Source) -> (Vec<String>, Items) {
    let r = SourceReader::open(&src).unwrap_or_else(|e| panic!("{e}"));
    let headers = r.headers().to_vec();
    let items = r
        .map(|i| match i {
            SourceItem::Row(rec) => (rec.row, Ok(rec.to_vec())),
            SourceItem::Malformed { raw, error } => {
                (raw.row, Err((error.code.to_owned(), error.message)))
            }
        })
        .collect();
    (headers, items)
}

fn open_err(src: Source) -> String {
    match SourceReader::open(&src) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

// ---- Excel ----

#[test]
fn sample_workbook_keeps_cell_meaning() {
    let mut src = excel(&repo().join("samples/excel/contacts.xlsx"));
    src.date_columns = vec!["Birthday".into()];
    let (headers, items) = read(Source::Excel(src));
    assert_eq!(
        headers,
        [
            "First Name",
            "Last Name",
            "Full Name",
            "Email",
            "Phone",
            "Joined",
            "Birthday",
            "Do Not Contact"
        ]
    );
    let rows: Vec<u64> = items.iter().map(|(r, _)| *r).collect();
    assert_eq!(
        rows,
        [5, 6, 7, 9, 10, 11],
        "header on row 4, blank row 8 skipped"
    );
    let ann = items[0].1.as_ref().unwrap();
    assert_eq!(
        ann,
        &[
            "Ann",
            "Lee",
            "Ann Lee",
            "ann.lee@example.com",
            "4155552671",
            "2024-03-15",
            "1990-01-01",
            "false"
        ]
    );
    let ben = items[1].1.as_ref().unwrap();
    assert_eq!(
        ben[4], "14155550123",
        "numeric phone never in float or exponent form"
    );
    assert_eq!(ben[7], "true");
    let finn = items[5].1.as_ref().unwrap();
    assert_eq!(finn[4], "", "empty phone cell");
}

#[test]
fn header_row_can_be_given_and_sheets_chosen() {
    let path = repo().join("samples/excel/contacts.xlsx");
    let mut src = excel(&path);
    src.header_row = HeaderRow::Row(4);
    src.sheet = Some(SheetRef::Index(0));
    let (headers, items) = read(Source::Excel(src));
    assert_eq!(headers[0], "First Name");
    assert_eq!(items.len(), 6);

    let mut src = excel(&path);
    src.sheet = Some(SheetRef::Name("Contacs".into()));
    let e = open_err(Source::Excel(src));
    assert!(
        e.contains("has no sheet `Contacs`; its sheets: `Contacts`, `Notes`"),
        "{e}"
    );
    let mut src = excel(&path);
    src.sheet = Some(SheetRef::Index(5));
    let e = open_err(Source::Excel(src));
    assert!(
        e.contains("has 2 sheet(s), so there is no sheet index 5"),
        "{e}"
    );
    let mut src = excel(&path);
    src.date_columns = vec!["Birth Date".into()];
    assert!(
        open_err(Source::Excel(src)).contains("date_columns: column `Birth Date` is not in sheet")
    );
}

#[test]
fn dates_read_the_same_under_1900_and_1904_systems() {
    // calamine's date.xlsx and date_1904.xlsx hold the same dates in the two date systems.
    let read_dates = |f: &str| {
        let mut src = excel(&fixture(f));
        src.header_row = HeaderRow::Row(1);
        let (h, items) = read(Source::Excel(src));
        let mut all = vec![h];
        all.extend(items.into_iter().map(|(_, r)| r.unwrap()));
        all
    };
    let d1900 = read_dates("calamine/date.xlsx");
    assert_eq!(d1900, read_dates("calamine/date_1904.xlsx"));
    assert_eq!(d1900[0][0], "2021-01-01");
    assert_eq!(d1900[1][0], "2021-01-02");
    // read-excel-file's 1904 workbook: a "Date" column.
    let (h, items) = read(Source::Excel(excel(&fixture(
        "read-excel-file/1904-based-dates.xlsx",
    ))));
    assert_eq!(h, ["Date"]);
    assert_eq!(items[0].1.as_ref().unwrap(), &["2018-05-05"]);
}

#[test]
fn booleans_formula_errors_and_contact_like_headers() {
    let (h, items) = read(Source::Excel(excel(&fixture(
        "read-excel-file/boolean.xlsx",
    ))));
    assert_eq!(h, ["Boolean"]);
    assert_eq!(items[0].1.as_ref().unwrap(), &["true"]);
    assert_eq!(items[1].1.as_ref().unwrap(), &["false"]);
    let mut src = excel(&fixture("calamine/errors.xlsx"));
    src.header_row = HeaderRow::Row(1);
    let (h, _) = read(Source::Excel(src));
    assert_eq!(h, ["#DIV/0!"], "error cells are their text");
    let (h, items) = read(Source::Excel(excel(&fixture("calamine/header-row.xlsx"))));
    assert_eq!(h, ["Columns", "Column A", "Column B", "Column C"]);
    assert_eq!(items[0].0, 10, "header found on row 9 below the notes");
    let (h, _) = read(Source::Excel(excel(&fixture(
        "read-excel-file/custom-number-parser.xlsx",
    ))));
    assert_eq!(h.last().unwrap(), "CONTACT");
}

#[test]
fn broken_workbooks_are_clear_errors() {
    let e = open_err(Source::Excel(excel(&fixture(
        "calamine/pass_protected.xlsx",
    ))));
    assert!(e.contains("password-protected"), "{e}");
    let e = open_err(Source::Excel(excel(&fixture(
        "read-excel-file/invalid-file-structure.xlsx",
    ))));
    assert!(e.contains("invalid-file-structure.xlsx"), "{e}");
    let dir = crate::util::workdir();
    let fake = dir.path().join("fake.xlsx");
    std::fs::write(&fake, "Email,Name\na@x.co,Ann\n").unwrap();
    let e = open_err(Source::Excel(excel(&fake)));
    assert!(
        e.contains("cannot read workbook") && e.contains("fake.xlsx"),
        "{e}"
    );
    let e = open_err(Source::Excel(excel(&dir.path().join("missing.xlsx"))));
    assert!(e.contains("cannot open source file"), "{e}");
}

// ---- CSV ----

fn csv_src(path: std::path::PathBuf) -> CsvSource {
    CsvSource::new(path)
}

#[test]
fn utf16_with_bom_is_transcoded() {
    let (h, items) = read(Source::Csv(csv_src(fixture(
        "thunderbird/utf16_addressbook.csv",
    ))));
    assert_eq!(&h[..2], ["First Name", "Last Name"]);
    assert_eq!(
        &items[0].1.as_ref().unwrap()[..5],
        ["John", "Doe", "John Doe", "", "johndoe@host.invalid"]
    );
}

#[test]
fn shift_jis_needs_its_encoding_and_says_so() {
    let path = fixture("thunderbird/shiftjis_addressbook.csv");
    let (_, items) = read(Source::Csv(csv_src(path.clone())));
    let (code, _) = items[0].1.as_ref().unwrap_err();
    assert_eq!(code, "invalid_encoding");
    let mut src = csv_src(path);
    src.encoding = encoding_rs::Encoding::for_label(b"shift_jis");
    let (_, items) = read(Source::Csv(src));
    assert_eq!(
        &items[0].1.as_ref().unwrap()[..3],
        ["権兵衛", "名無し", "名無しの権兵衛"]
    );
}

#[test]
fn latin1_rows_are_rejected_with_a_guess_or_decoded_with_a_fallback() {
    let path = fixture("rust-csv/uspop-latin1.csv");
    let (_, items) = read(Source::Csv(csv_src(path.clone())));
    let bad: Vec<&(u64, _)> = items.iter().filter(|(_, r)| r.is_err()).collect();
    assert!(!bad.is_empty());
    let (row, Err((code, msg))) = bad[0] else {
        unreachable!()
    };
    assert_eq!((*row, code.as_str()), (4, "invalid_encoding"));
    assert!(msg.contains("column `City`"), "{msg}");
    let mut src = csv_src(path);
    src.fallback_encoding = encoding_rs::Encoding::for_label(b"windows-1252");
    let (_, items) = read(Source::Csv(src));
    assert!(items.iter().all(|(_, r)| r.is_ok()));
    assert_eq!(items[2].1.as_ref().unwrap()[0], "Õakman");
}

#[test]
fn delimiter_is_sniffed() {
    let (h, items) = read(Source::Csv(csv_src(fixture(
        "thunderbird/csv_semicolon.csv",
    ))));
    assert_eq!(
        h,
        ["Display Name", "First Name", "Last Name", "Primary Email"]
    );
    assert_eq!(items[0].1.as_ref().unwrap()[3], "john@doe.invalid");
}

#[test]
fn nul_bytes_unclosed_quotes_and_ragged_rows_are_row_rejects() {
    let dir = crate::util::workdir();
    let p = dir.path().join("nul.csv");
    std::fs::write(&p, b"Email,Name\na@x.co,Ann\nb@x.co,B\x00en\nc@x.co,Cy\n").unwrap();
    let (_, items) = read(Source::Csv(csv_src(p)));
    assert_eq!(items.len(), 3);
    let (code, msg) = items[1].1.as_ref().unwrap_err();
    assert_eq!((items[1].0, code.as_str()), (3, "malformed_row"));
    assert!(msg.contains("column `Name` contains a NUL byte"), "{msg}");

    let (_, items) = read(Source::Csv(csv_src(fixture(
        "node-csvtojson/dataWithUnclosedQuotes",
    ))));
    let first = items[0].1.as_ref().unwrap_err();
    assert_eq!(first.0, "malformed_row");
    assert!(first.1.contains("spans several lines"), "{}", first.1);
    assert!(
        items.iter().any(|(_, r)| r.is_ok()),
        "reading resumes after the bad rows"
    );

    let mut src = csv_src(fixture("node-csvtojson/dataWithMismatchedColumn"));
    src.duplicate_headers = DuplicateHeaders::Suffix; // the file repeats a column name
    let (_, items) = read(Source::Csv(src));
    assert_eq!(
        items[2],
        (
            4,
            Err((
                "malformed_row".into(),
                "row has 3 fields, the header has 9".into()
            ))
        )
    );
}

#[test]
fn crlf_blank_lines_oversize_fields_and_duplicate_headers() {
    let dir = crate::util::workdir();
    let p = dir.path().join("x.csv");
    let big = "x".repeat(300);
    std::fs::write(&p, format!("Email,Note,Email\r\na@x.co,hi,b@x.co\r\n\r\nc@x.co,{big},d@x.co\r\ne@x.co,\"multi\r\nline\",f@x.co\r\n")).unwrap();
    let mut src = csv_src(p.clone());
    let e = open_err(Source::Csv(src.clone()));
    assert!(e.contains("columns 1 and 3 are both named `Email`"), "{e}");
    src.duplicate_headers = DuplicateHeaders::Suffix;
    src.max_field_bytes = 100;
    let (h, items) = read(Source::Csv(src));
    assert_eq!(h, ["Email", "Note", "Email_2"]);
    assert_eq!(items.len(), 3, "the blank line is skipped");
    assert_eq!(items[0].1.as_ref().unwrap(), &["a@x.co", "hi", "b@x.co"]);
    let (code, msg) = items[1].1.as_ref().unwrap_err();
    assert_eq!(code, "malformed_row");
    assert!(
        msg.contains("holds 300 bytes, more than source.max_field_bytes (100)"),
        "{msg}"
    );
    assert_eq!(items[2].1.as_ref().unwrap()[1], "multi\r\nline");
}

/// Writes a minimal OpenDocument spreadsheet: a title row, a header, two data rows.
fn write_ods(path: &Path) {
    use std::io::Write;
    let cell = |t: &str, v: &str| match t {
        "string" => format!(
            r#"<table:table-cell office:value-type="string"><text:p>{v}</text:p></table:table-cell>"#
        ),
        "float" => format!(
            r#"<table:table-cell office:value-type="float" office:value="{v}"><text:p>{v}</text:p></table:table-cell>"#
        ),
        "date" => format!(
            r#"<table:table-cell office:value-type="date" office:date-value="{v}"><text:p>{v}</text:p></table:table-cell>"#
        ),
        "boolean" => format!(
            r#"<table:table-cell office:value-type="boolean" office:boolean-value="{v}"><text:p>{v}</text:p></table:table-cell>"#
        ),
        _ => "<table:table-cell/>".to_owned(),
    };
    let row = |cells: &[(&str, &str)]| {
        format!(
            "<table:table-row>{}</table:table-row>",
            cells.iter().map(|(t, v)| cell(t, v)).collect::<String>()
        )
    };
    let content = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet><table:table table:name="People">{}{}{}{}</table:table></office:spreadsheet></office:body></office:document-content>"#,
        row(&[("string", "People export")]),
        row(&[
            ("string", "Name"),
            ("string", "Phone"),
            ("string", "Birthday"),
            ("string", "VIP")
        ]),
        row(&[
            ("string", "Ann"),
            ("float", "4155552671"),
            ("date", "1990-01-01"),
            ("boolean", "true")
        ]),
        row(&[
            ("string", "Ben"),
            ("float", "14155550123"),
            ("date", "1985-06-30"),
            ("boolean", "false")
        ]),
    );
    let manifest = r#"<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#;
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let deflated = zip::write::SimpleFileOptions::default();
    z.start_file("mimetype", stored).unwrap();
    z.write_all(b"application/vnd.oasis.opendocument.spreadsheet")
        .unwrap();
    z.start_file("META-INF/manifest.xml", deflated).unwrap();
    z.write_all(manifest.as_bytes()).unwrap();
    z.start_file("content.xml", deflated).unwrap();
    z.write_all(content.as_bytes()).unwrap();
    z.finish().unwrap();
}

#[test]
fn ods_and_xls_workbooks_are_read() {
    let dir = crate::util::workdir();
    let ods = dir.path().join("people.ods");
    write_ods(&ods);
    let (h, items) = read(Source::Excel(excel(&ods)));
    assert_eq!(h, ["Name", "Phone", "Birthday", "VIP"]);
    assert_eq!(
        items[0],
        (
            3,
            Ok(vec![
                "Ann".into(),
                "4155552671".into(),
                "1990-01-01".into(),
                "true".into()
            ])
        )
    );
    assert_eq!(items[1].1.as_ref().unwrap()[1], "14155550123");

    // A legacy .xls (BIFF) workbook from csvlint.
    let (h, items) = read(Source::Excel(excel(&fixture("csvlint/spreadsheet.xls"))));
    assert_eq!(h, ["a", "b", "c"]);
    assert!(items.is_empty());
    // Header below empty rows, and a repeated header name with the suffix policy (Laravel-Excel).
    let (h, items) = read(Source::Excel(excel(&fixture(
        "laravel-excel/import-users-with-different-heading-row.xlsx",
    ))));
    assert_eq!(h, ["name", "email"]);
    assert_eq!(items[0].0, 5);
    let mut src = excel(&fixture(
        "laravel-excel/import-users-with-grouped-headers.xlsx",
    ));
    let e = open_err(Source::Excel(src.clone()));
    assert!(e.contains("both named `options`"), "{e}");
    src.duplicate_headers = DuplicateHeaders::Suffix;
    let (h, _) = read(Source::Excel(src));
    assert_eq!(h, ["name", "email", "options", "options_2"]);
}

#[test]
fn utf16_big_endian_and_utf8_bom_are_detected() {
    let dir = crate::util::workdir();
    let text = "Email,Name\r\nzoë@example.com,Zoë\r\n";
    let mut be = vec![0xFE, 0xFF];
    be.extend(text.encode_utf16().flat_map(|u| u.to_be_bytes()));
    let p = dir.path().join("be.csv");
    std::fs::write(&p, be).unwrap();
    let (h, items) = read(Source::Csv(csv_src(p)));
    assert_eq!(h, ["Email", "Name"]);
    assert_eq!(items[0].1.as_ref().unwrap(), &["zoë@example.com", "Zoë"]);

    let p = dir.path().join("bom8.csv");
    std::fs::write(&p, [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat()).unwrap();
    let (h, items) = read(Source::Csv(csv_src(p)));
    assert_eq!(h, ["Email", "Name"]);
    assert_eq!(items[0].1.as_ref().unwrap()[1], "Zoë");

    // Forced encoding: a windows-1252 file read as such.
    let p = dir.path().join("cp1252.csv");
    std::fs::write(&p, b"Email,Name\r\nzoe@example.com,Zo\xEB\r\n").unwrap();
    let mut src = csv_src(p);
    src.encoding = encoding_rs::Encoding::for_label(b"windows-1252");
    let (_, items) = read(Source::Csv(src));
    assert_eq!(items[0].1.as_ref().unwrap()[1], "Zoë");
}
