//! A PostgreSQL source's rows: the query prepared once (its column names and types), then read
//! through a server-side cursor (`DECLARE … NO SCROLL CURSOR`, `FETCH 256`) in a read-only
//! transaction, so neither side holds more than a batch whatever the table's size. Values come
//! in PostgreSQL's text form, turned into cells the way the CSV reader's text would read:
//! booleans `true`/`false`, arrays one value each joined by ` ::: ` (the mapping's multi-value
//! separator, so a `text[]` of tags is tags), NULL an empty cell, the rest as PostgreSQL writes
//! it (dates `2026-01-31`, timestamps `2026-01-31 09:30:00+00`, numerics exact).

use std::sync::mpsc::SyncSender;

use postgres::types::{Kind, Type};
use postgres::{Client, NoTls, SimpleQueryMessage};
use secrecy::{ExposeSecret, SecretString};

use super::sql::{Said, BATCH};

/// The query's thread: connect, column names, then the rows batch by batch.
pub(super) fn query_rows(url: &SecretString, query: &str, tx: &SyncSender<Said>) {
    let mut client = match Client::connect(url.expose_secret(), NoTls) {
        Ok(c) => c,
        Err(e) => {
            let why = format!("cannot connect: {}", words(&e, url));
            let _ = tx.send(Said::Header(Err(why)));
            return;
        }
    };
    let query = query.trim().trim_end_matches(';');
    let columns: Vec<(String, Type)> = match client.prepare(query) {
        Ok(s) => s
            .columns()
            .iter()
            .map(|c| (c.name().to_owned(), c.type_().clone()))
            .collect(),
        Err(e) => {
            let why = format!("the query is refused: {}", words(&e, url));
            let _ = tx.send(Said::Header(Err(why)));
            return;
        }
    };
    let names = columns.iter().map(|(n, _)| n.clone()).collect();
    if tx.send(Said::Header(Ok(names))).is_err() {
        return;
    }
    if let Err(e) = fetch(&mut client, query, &columns, tx) {
        let _ = tx.send(Said::Failed(words(&e, url)));
    }
}

/// The rows through a cursor, until they end or nobody reads them.
fn fetch(
    client: &mut Client,
    query: &str,
    columns: &[(String, Type)],
    tx: &SyncSender<Said>,
) -> Result<(), postgres::Error> {
    let mut t = client.build_transaction().read_only(true).start()?;
    // On a line of its own: the query may end with a `--` comment.
    t.batch_execute(&format!(
        "DECLARE ghl_import_rows NO SCROLL CURSOR FOR\n{query}\n"
    ))?;
    let fetch = format!("FETCH {BATCH} FROM ghl_import_rows");
    loop {
        let mut batch = Vec::with_capacity(BATCH);
        for m in t.simple_query(&fetch)? {
            if let SimpleQueryMessage::Row(row) = m {
                let cells = columns
                    .iter()
                    .enumerate()
                    .map(|(i, (_, ty))| cell(row.get(i), ty))
                    .collect();
                batch.push(cells);
            }
        }
        if batch.is_empty() || tx.send(Said::Rows(batch)).is_err() {
            return Ok(());
        }
    }
}

/// One value in PostgreSQL's text form as a cell.
fn cell(text: Option<&str>, ty: &Type) -> String {
    let Some(text) = text else {
        return String::new();
    };
    match ty.kind() {
        Kind::Array(_) => array_items(text).join(" ::: "),
        _ if *ty == Type::BOOL => match text {
            "t" => "true".to_owned(),
            "f" => "false".to_owned(),
            other => other.to_owned(),
        },
        _ => text.to_owned(),
    }
}

/// The items of an array literal (`{a,"b c",NULL}`; nested arrays flattened), NULLs left out.
fn array_items(text: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut was_quoted, mut chars) = (false, false, text.chars());
    let end = |cur: &mut String, was_quoted: &mut bool, items: &mut Vec<String>| {
        let item = std::mem::take(cur);
        if *was_quoted || !(item.is_empty() || item.eq_ignore_ascii_case("null")) {
            items.push(item);
        }
        *was_quoted = false;
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted => cur.extend(chars.next()),
            '"' => {
                quoted = !quoted;
                was_quoted = true;
            }
            '{' | '}' | ',' if !quoted => end(&mut cur, &mut was_quoted, &mut items),
            c => cur.push(c),
        }
    }
    end(&mut cur, &mut was_quoted, &mut items);
    items
}

/// An error in the server's words, the URL (and so its password) never in them.
fn words(e: &postgres::Error, url: &SecretString) -> String {
    let text = match e.as_db_error() {
        Some(db) => db.message().to_owned(),
        None => e.to_string(),
    };
    let secret = url.expose_secret();
    let mut text = text.replace(secret, "[the URL]");
    if let Some(pw) = password_of(secret).filter(|p| p.len() >= 3) {
        text = text.replace(pw, "[redacted]");
    }
    text
}

/// The password in `postgres://user:password@host/db`, if any.
fn password_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let userinfo = rest.split_once('@')?.0;
    Some(userinfo.split_once(':')?.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_become_multi_values_and_booleans_words() {
        let tags = Type::TEXT_ARRAY;
        assert_eq!(cell(Some("{vip,lead}"), &tags), "vip ::: lead");
        assert_eq!(
            cell(Some(r#"{"a b","c,d",NULL,"NULL","q\"x"}"#), &tags),
            r#"a b ::: c,d ::: NULL ::: q"x"#
        );
        assert_eq!(cell(Some("{}"), &tags), "");
        assert_eq!(
            cell(Some("{{1,2},{3,4}}"), &Type::INT4_ARRAY),
            "1 ::: 2 ::: 3 ::: 4"
        );
        assert_eq!(cell(Some("t"), &Type::BOOL), "true");
        assert_eq!(cell(Some("f"), &Type::BOOL), "false");
        assert_eq!(cell(None, &Type::TEXT), "");
        assert_eq!(cell(Some("12.50"), &Type::NUMERIC), "12.50");
    }

    #[test]
    fn the_password_is_in_no_message() {
        assert_eq!(password_of("postgres://u:s3cret@h:5432/db"), Some("s3cret"));
        assert_eq!(password_of("postgres://u@h/db"), None);
    }
}
