//! Bounded on any input: workbooks whose cells claim a huge sheet, or references no
//! spreadsheet writes, are read in the memory their data needs or refused with a clear
//! message — under an address-space cap, so an attempt to allocate the claimed rectangle fails
//! the test instead of the machine.

use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;

use crate::util::{bin, run, text, workdir};

/// Address space the binary may use in these tests (the sheets claim 17 billion cells).
const CAP_BYTES: u64 = 3 << 30;

/// A minimal .xlsx whose one sheet holds `cells`: (reference, inline text).
fn write_xlsx(path: &Path, cells: &[(&str, &str)]) {
    let mut rows: Vec<(u64, String)> = Vec::new();
    for (r, v) in cells {
        let n: u64 = r
            .trim_start_matches(|c: char| c.is_ascii_alphabetic())
            .parse()
            .unwrap_or(1);
        let cell = format!(r#"<c r="{r}" t="inlineStr"><is><t>{v}</t></is></c>"#);
        match rows.last_mut() {
            Some((m, s)) if *m == n => s.push_str(&cell),
            _ => rows.push((n, cell)),
        }
    }
    let data: String = rows
        .iter()
        .map(|(n, c)| format!(r#"<row r="{n}">{c}</row>"#))
        .collect();
    let sheet = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{data}</sheetData></worksheet>"#
    );
    let files = [
        ("[Content_Types].xml", r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#.to_owned()),
        ("_rels/.rels", r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#.to_owned()),
        ("xl/workbook.xml", r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Contacts" sheetId="1" r:id="rId1"/></sheets></workbook>"#.to_owned()),
        ("xl/_rels/workbook.xml.rels", r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#.to_owned()),
        ("xl/worksheets/sheet1.xml", sheet),
    ];
    write_zip(path, &files);
}

/// A zip archive of `files` (name, text), as workbook formats are.
fn write_zip(path: &Path, files: &[(&str, String)]) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, body) in files {
        z.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(body.as_bytes()).unwrap();
    }
    z.finish().unwrap();
}

/// `ghl-import <args> <pipeline>` for a workbook source, under [`CAP_BYTES`] of address space.
fn capped(dir: &Path, xlsx: &Path, args: &[&str]) -> std::process::Output {
    let yaml = dir.join("p.yaml");
    std::fs::write(
        &yaml,
        format!(
            "version: 1\nsource: {{type: excel, path: \"{}\"}}\n\
             target: {{location_id: loc-it, auth: {{token_env: IT_TOKEN}}}}\n\
             mapping: {{email: Email, firstName: Name}}\n",
            xlsx.display()
        ),
    )
    .unwrap();
    let mut cmd = bin();
    cmd.args(args).arg(&yaml).env("IT_TOKEN", "t");
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: CAP_BYTES as libc::rlim_t,
                rlim_max: CAP_BYTES as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    run(&mut cmd)
}

#[test]
fn a_stray_cell_at_xfd1048576_is_read_in_the_memory_the_data_needs() {
    let dir = workdir();
    let x = dir.path().join("stray.xlsx");
    write_xlsx(
        &x,
        &[
            ("A1", "Name"),
            ("B1", "Email"),
            ("A2", "Ann"),
            ("B2", "ann@example.com"),
            ("A3", "Bo"),
            ("B3", "bo@example.com"),
            ("XFD1048576", "x"),
        ],
    );
    assert!(std::fs::metadata(&x).unwrap().len() < 10_000);
    // It used to allocate the 17-billion-cell rectangle (21 GB) until the kernel killed it.
    let o = capped(dir.path(), &x, &["validate"]);
    let (out, err) = text(&o);
    assert!(
        o.status.code() == Some(0) || o.status.code() == Some(3),
        "{out}{err}"
    );
    let o = capped(dir.path(), &x, &["run", "--dry-run", "--sandbox", "-q"]);
    let (out, err) = text(&o);
    assert_ne!(o.status.code(), Some(2), "{out}{err}");
    assert!(o.status.code().is_some(), "killed: {out}{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_sheet_whose_rows_all_reach_column_xfd_is_refused_before_it_is_allocated() {
    let dir = workdir();
    let x = dir.path().join("wide.xlsx");
    let refs: Vec<(String, String)> = (1..=8000)
        .flat_map(|r| {
            [
                (
                    format!("A{r}"),
                    if r == 1 {
                        "Name".into()
                    } else {
                        format!("P{r}")
                    },
                ),
                (format!("XFD{r}"), "x".to_owned()),
            ]
        })
        .collect();
    let cells: Vec<(&str, &str)> = refs.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    write_xlsx(&x, &cells);
    let o = capped(dir.path(), &x, &["validate"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    let all = format!("{out}{err}");
    assert!(all.contains("too large to read"), "{all}");
    assert!(all.contains("save the sheet as CSV"), "{all}");
}

#[test]
fn references_no_spreadsheet_writes_are_a_damaged_file_not_a_crash() {
    let dir = workdir();
    for (bad, says) in [
        ("A99999999", "outside the largest sheet"),
        ("ZZZZZZZZZZ1", "damaged"),
        ("1A", "damaged"),
    ] {
        let x = dir.path().join("bad.xlsx");
        write_xlsx(
            &x,
            &[("A1", "Name"), ("B1", "Email"), ("A2", "Ann"), (bad, "x")],
        );
        let o = capped(dir.path(), &x, &["validate"]);
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{bad}: {out}{err}");
        assert!(format!("{out}{err}").contains(says), "{bad}: {out}{err}");
        assert!(!err.contains("RUST_BACKTRACE"), "{bad}: {err}");
    }
}

#[test]
fn an_xls_whose_cells_claim_four_billion_cells_is_refused_before_calamine_opens_it() {
    let dir = workdir();
    let x = dir.path().join("damaged.xls");
    let rec = |typ: u16, data: &[u8]| {
        let mut v = typ.to_le_bytes().to_vec();
        v.extend((data.len() as u16).to_le_bytes());
        v.extend(data);
        v
    };
    let number = |row: u16, col: u16| {
        let mut d = row.to_le_bytes().to_vec();
        d.extend(col.to_le_bytes());
        d.extend([0u8; 10]);
        rec(0x0203, &d)
    };
    // BIFF8: the globals (a BOUNDSHEET naming the sheet at its offset), then the sheet.
    let bof = |dt: u8| rec(0x0809, &[0, 6, dt, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let sheet_name = b"Contacts";
    let boundsheet = |at: u32| {
        let mut d = at.to_le_bytes().to_vec();
        d.extend([0, 0, sheet_name.len() as u8, 0]);
        d.extend(sheet_name);
        rec(0x0085, &d)
    };
    let globals_len = (bof(5).len() + boundsheet(0).len() + rec(0x000A, &[]).len()) as u32;
    let mut stream = bof(5);
    stream.extend(boundsheet(globals_len));
    stream.extend(rec(0x000A, &[]));
    stream.extend(bof(0x10));
    stream.extend(number(0, 0));
    stream.extend(number(65_535, 65_535));
    stream.extend(rec(0x000A, &[]));
    let mut doc = cfb::create(&x).unwrap();
    doc.create_stream("/Workbook")
        .unwrap()
        .write_all(&stream)
        .unwrap();
    doc.flush().unwrap();
    drop(doc);
    let o = capped(dir.path(), &x, &["validate"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(
        format!("{out}{err}").contains("cannot be read safely"),
        "{out}{err}"
    );
}

/// An OpenDocument spreadsheet of `rows` (the `table:table-row` elements of its one table).
fn write_ods(path: &Path, rows: &str) {
    let content = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet><table:table table:name="Contacts">{rows}</table:table></office:spreadsheet></office:body></office:document-content>"#
    );
    let files = [
        ("mimetype", "application/vnd.oasis.opendocument.spreadsheet".to_owned()),
        ("META-INF/manifest.xml", r#"<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#.to_owned()),
        ("content.xml", content),
    ];
    write_zip(path, &files);
}

#[test]
fn an_ods_that_repeats_a_cell_into_96_million_is_refused_and_a_plain_one_is_read() {
    let dir = workdir();
    let cell = |v: &str| {
        format!(
            r#"<table:table-cell office:value-type="string"><text:p>{v}</text:p></table:table-cell>"#
        )
    };
    let header = format!(
        "<table:table-row>{}{}</table:table-row>",
        cell("Email"),
        cell("Name")
    );
    // 1.5 KB: one value repeated over 16,000 columns and 6,000 rows (calamine would lay out
    // 96 million cells twice: values and formulas).
    let bomb = dir.path().join("repeated.ods");
    write_ods(
        &bomb,
        &format!(
            r#"{header}<table:table-row table:number-rows-repeated="6000"><table:table-cell table:number-columns-repeated="16000" office:value-type="string"><text:p>x</text:p></table:table-cell></table:table-row>"#
        ),
    );
    let o = capped(dir.path(), &bomb, &["validate", "--sandbox"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(
        err.contains("its sheet `Contacts` repeats cells into 96032002 cells"),
        "{out}{err}"
    );
    // Blank formatting repeated to the sheet's edge, as spreadsheet programs write it, is fine.
    let plain = dir.path().join("plain.ods");
    write_ods(
        &plain,
        &format!(
            r#"{header}<table:table-row>{}{}<table:table-cell table:number-columns-repeated="16382"/></table:table-row><table:table-row table:number-rows-repeated="1048574"><table:table-cell table:number-columns-repeated="16384"/></table:table-row>"#,
            cell("ann@example.com"),
            cell("Ann")
        ),
    );
    let o = capped(dir.path(), &plain, &["validate", "--sandbox"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("the first 1 rows"), "{out}");
}
