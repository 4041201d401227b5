//! Prints what a source yields (first rows), for exploring fixtures: `cargo run --example peek -- FILE [HEADER_ROW]`.
use ghl_import::config::{CsvSource, DuplicateHeaders, ExcelSource, HeaderRow, Source};
use ghl_import::extract::{SourceItem, SourceReader};
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let p = &args[1];
    let header_row = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .map(HeaderRow::Row)
        .unwrap_or(HeaderRow::Auto);
    let src = if [".xlsx", ".xls", ".ods", ".xlsm", ".xlsb"]
        .iter()
        .any(|e| p.ends_with(e))
    {
        Source::Excel(ExcelSource {
            header_row,
            duplicate_headers: DuplicateHeaders::Suffix,
            ..ExcelSource::new(p)
        })
    } else {
        Source::Csv(CsvSource {
            duplicate_headers: DuplicateHeaders::Suffix,
            ..CsvSource::new(p)
        })
    };
    match SourceReader::open(&src) {
        Err(e) => println!("error: {e}"),
        Ok(r) => {
            println!("headers {:?}", r.headers());
            for it in r.take(8) {
                match it {
                    SourceItem::Row(r) => println!("row {} {:?}", r.row, r.to_vec()),
                    SourceItem::Malformed { raw, error } => println!(
                        "reject {} {:?} {} {}",
                        raw.row,
                        raw.to_vec(),
                        error.code,
                        error.message
                    ),
                }
            }
        }
    }
}
