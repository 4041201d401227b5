//! `ghl-import init <file>`: guess a pipeline from a file's headers and a profile of its values,
//! and write it as commented YAML for the user to check.

use std::path::{Path, PathBuf};

use crate::config::{CsvSource, DuplicateHeaders, ExcelSource, HeaderRow, Source, SqliteSource};
use crate::error::{ConfigError, Exit};
use crate::extract::{SourceItem, SourceReader};
use crate::record::Record;
use crate::transform::profile::{profile, ColumnProfile};
use ghl_client::fields::ContactField;

mod guess;
mod render;
#[cfg(test)]
mod tests;

pub use guess::{guess, Guess};
use render::{cautions, comment, left_out};
pub use render::{render, SourceKeys};

/// Options of `init`.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The input file (CSV or workbook, or an SQLite database with `query`).
    pub input: PathBuf,
    /// The query of an SQLite database's rows.
    pub query: Option<String>,
    /// Where to write the pipeline (default `pipelines/<stem>.yaml`).
    pub out: Option<PathBuf>,
    /// Rows to sample.
    pub sample: usize,
    /// Overwrite an existing file.
    pub force: bool,
}

/// The query of an SQLite input (`--query`): refused without a stable order, as the pipeline
/// would be; an SQLite file without one, and a query on anything else, are errors too.
fn sql_query(opts: &InitOptions, ext: &str) -> Result<Option<String>, ConfigError> {
    let database = matches!(ext, "db" | "sqlite" | "sqlite3" | "db3");
    match (&opts.query, database) {
        (None, true) => Err(ConfigError::new(format!(
            "{} is an SQLite database: say which rows to import with --query \"select … order by id\"",
            opts.input.display()
        ))),
        (None, false) => Ok(None),
        (Some(q), _) if !crate::config::sql::orders_its_rows(q) => Err(ConfigError::new(
            "--query has no ORDER BY: a re-run resumes only if the rows come in the same order \
             every time; end it with ORDER BY a unique column (`… ORDER BY id`)",
        )),
        (Some(q), _) => Ok(Some(q.clone())),
    }
}

/// Runs `init`.
pub fn init(opts: &InitOptions) -> anyhow::Result<Exit> {
    let ext = opts
        .input
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let is_excel = matches!(ext.as_str(), "xlsx" | "xlsm" | "xlsb" | "xls" | "ods");
    let query = sql_query(opts, &ext)?;
    // A CSV file that is not UTF-8 (Windows-1252, Shift-JIS…): read it in the encoding it
    // appears to use, and say so in the pipeline.
    crate::extract::regular_file(&opts.input)?;
    let encoding = match is_excel || query.is_some() {
        true => None,
        false => crate::extract::csv::detect_encoding(&opts.input)
            .map_err(|e| ConfigError::new(format!("{}: {e}", opts.input.display())))?,
    };
    let source = |duplicate_headers| {
        if let Some(q) = &query {
            Source::Sqlite(SqliteSource {
                path: opts.input.clone(),
                query: q.clone(),
                key: None,
            })
        } else if is_excel {
            Source::Excel(ExcelSource {
                path: opts.input.clone(),
                sheet: None,
                header_row: HeaderRow::Auto,
                date_columns: vec![],
                duplicate_headers,
                hold_duplicates: false,
            })
        } else {
            Source::Csv(CsvSource {
                duplicate_headers,
                encoding,
                ..CsvSource::new(&opts.input)
            })
        }
    };
    // Repeated column names are renamed `Name_2`… (and the pipeline says so) only when the file
    // has them.
    let (reader, repeated) = match SourceReader::open(&source(DuplicateHeaders::Error)) {
        Ok(r) => (r, false),
        Err(_) => (SourceReader::open(&source(DuplicateHeaders::Suffix))?, true),
    };
    let headers = reader.headers().to_vec();
    let rows: Vec<Record> = reader
        .take(opts.sample)
        .filter_map(|i| match i {
            SourceItem::Row(r) => Some(r),
            SourceItem::Malformed { .. } => None,
        })
        .collect();
    let profiles = profile(&headers, &rows);
    let guesses = guess(&profiles);
    if !guesses
        .iter()
        .any(|g| matches!(g.field, ContactField::Email | ContactField::Phone))
    {
        return Err(no_contact_key(&opts.input, &profiles, rows.len()).into());
    }
    let out = opts.out.clone().unwrap_or_else(|| {
        let stem = opts
            .input
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("import");
        Path::new("pipelines").join(format!("{stem}.yaml"))
    });
    if out.exists() && !opts.force {
        return Err(ConfigError::new(format!(
            "{} exists; use --force to overwrite it",
            out.display()
        ))
        .into());
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let input_rel = relative_to(&opts.input, out.parent().unwrap_or(Path::new(".")));
    let yaml = render(
        &input_rel,
        SourceKeys {
            is_excel,
            encoding: encoding.map(encoding_rs::Encoding::name),
            repeated,
            query: query.as_deref(),
        },
        &profiles,
        &guesses,
        rows.len(),
    );
    // The generated file must itself be a valid pipeline (with the variables it references).
    crate::config::parse_str(&out, &yaml, |_| None).map_err(|e| {
        anyhow::anyhow!("internal: the generated pipeline does not validate:\n{e}\n{yaml}")
    })?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, &yaml)?;
    println!(
        "wrote {} ({} of {} columns mapped, {} rows sampled)",
        out.display(),
        guesses.len(),
        headers.len(),
        rows.len()
    );
    if let Some(e) = encoding {
        println!("  the file is not UTF-8: it is read as {}", e.name());
    }
    for g in &guesses {
        let cols = std::iter::once(&g.column)
            .chain(&g.also)
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" | ");
        println!("  {:<12} ← {:<28} ({})", g.field.api_name(), cols, g.reason);
        if let Some(p) = profiles.iter().find(|p| p.name == g.column) {
            for c in cautions(g, p) {
                println!("  {:<12}   ! {c}", "");
            }
        }
    }
    let left = left_out(&profiles, &guesses);
    if !left.is_empty() {
        println!("  not mapped, with data (nothing of them will be sent unless you map them):");
        for p in left {
            println!(
                "    {:<28} {:>5.1} % filled",
                comment(&p.name),
                p.fill_rate() * 100.0
            );
        }
    }
    let shown = out.display();
    println!(
        "check the guesses, then: ghl-import validate --sandbox {shown}   (no token needed)\n\
         then: ghl-import preview {shown}, ghl-import run --sandbox {shown} (a rehearsal), and with your \
         token in the variable the pipeline names: ghl-import run --dry-run {shown}, then ghl-import run {shown}"
    );
    Ok(Exit::Ok)
}

/// The refusal when no column holds an email or a phone: a contact needs one, and a pipeline
/// without either would not validate.
fn no_contact_key(input: &Path, profiles: &[ColumnProfile], rows: usize) -> ConfigError {
    let cols: Vec<String> = profiles
        .iter()
        .map(|p| {
            format!(
                "`{}` ({:.0} % filled)",
                comment(&p.name),
                p.fill_rate() * 100.0
            )
        })
        .collect();
    let why = if rows == 0 {
        "it has no data row to judge the values by, and no column is named like an email or phone"
    } else {
        "no column is named like an email or phone and holds such values"
    };
    ConfigError::new(format!(
        "{}: no pipeline written: {why}; a contact needs an email or a phone. Columns: {}. \
         Write the pipeline by hand (docs/PIPELINE.md), mapping `email:` or `phone:` to the right column",
        input.display(),
        if cols.is_empty() { "none".to_owned() } else { cols.join(", ") }
    ))
}

/// `path` relative to `dir` when both are relative or share a prefix; else absolute.
fn relative_to(path: &Path, dir: &Path) -> String {
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (p, d) = (abs(path), abs(dir));
    let pc: Vec<_> = p.components().collect();
    let dc: Vec<_> = d.components().collect();
    let common = pc.iter().zip(&dc).take_while(|(a, b)| a == b).count();
    if common <= 1 {
        return p.display().to_string(); // only the root in common: keep it absolute
    }
    let mut rel = PathBuf::new();
    for _ in common..dc.len() {
        rel.push("..");
    }
    for c in &pc[common..] {
        rel.push(c);
    }
    rel.display().to_string()
}
