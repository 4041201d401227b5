//! SQL sources' queries: whether their rows come in a stable order, and the query that orders
//! them by a key column.

use std::path::PathBuf;

/// `source: {type: sqlite}` resolved.
#[derive(Debug, Clone)]
pub struct SqliteSource {
    /// The database file.
    pub path: PathBuf,
    /// The query as written.
    pub query: String,
    /// The column that orders the rows, when the query does not.
    pub key: Option<String>,
}

impl SqliteSource {
    /// The query the reader runs: as written, or ordered by `key`.
    pub fn ordered_query(&self) -> String {
        ordered(&self.query, self.key.as_deref())
    }
}

/// `source: {type: postgres}` resolved.
#[derive(Debug, Clone)]
pub struct PostgresSource {
    /// The environment variable holding the connection URL (a secret: its value is read when
    /// the source opens, and never shown).
    pub url_env: String,
    /// The query as written.
    pub query: String,
    /// The column that orders the rows, when the query does not.
    pub key: Option<String>,
}

impl PostgresSource {
    /// The query the reader runs: as written, or ordered by `key`.
    pub fn ordered_query(&self) -> String {
        ordered(&self.query, self.key.as_deref())
    }
}

/// `query` as written, or ordered by `key`.
fn ordered(query: &str, key: Option<&str>) -> String {
    match key {
        None => query.to_owned(),
        // On lines of their own: a query may end with a `--` comment.
        Some(k) => format!(
            "SELECT * FROM (\n{}\n) AS q ORDER BY q.{}",
            query.trim().trim_end_matches(';'),
            quote_ident(k)
        ),
    }
}

/// Whether a query orders its rows at its top level (`… ORDER BY …` outside parentheses,
/// quotes and comments): the stable order a resumed or incremental read needs.
pub fn orders_its_rows(query: &str) -> bool {
    let mut words: Vec<String> = Vec::new();
    let mut depth = 0usize;
    let mut chars = query.chars().peekable();
    let mut word = String::new();
    let flush = |word: &mut String, depth: usize, words: &mut Vec<String>| {
        if !word.is_empty() && depth == 0 {
            words.push(word.to_ascii_lowercase());
        }
        word.clear();
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' | '`' | '[' => {
                flush(&mut word, depth, &mut words);
                let close = if c == '[' { ']' } else { c };
                for d in chars.by_ref() {
                    if d == close {
                        break;
                    }
                }
                words.push(String::from("\u{0}"));
            }
            '-' if chars.peek() == Some(&'-') => {
                flush(&mut word, depth, &mut words);
                for d in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                flush(&mut word, depth, &mut words);
                chars.next();
                let mut star = false;
                for d in chars.by_ref() {
                    if star && d == '/' {
                        break;
                    }
                    star = d == '*';
                }
            }
            '(' => {
                flush(&mut word, depth, &mut words);
                depth += 1;
            }
            ')' => {
                flush(&mut word, depth, &mut words);
                depth = depth.saturating_sub(1);
            }
            c if c.is_alphanumeric() || c == '_' => word.push(c),
            _ => flush(&mut word, depth, &mut words),
        }
    }
    flush(&mut word, depth, &mut words);
    words.windows(2).any(|w| w[0] == "order" && w[1] == "by")
}

/// `name` as an SQL identifier (double quotes, inner quotes doubled).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_counts_only_at_the_top_level() {
        assert!(orders_its_rows("select * from c order by id"));
        assert!(orders_its_rows("SELECT *\nFROM c\nORDER\n  BY c.id DESC"));
        assert!(orders_its_rows(
            "select * from (select * from c order by x) t order by id"
        ));
        assert!(!orders_its_rows(
            "select * from (select * from c order by id) t"
        ));
        assert!(!orders_its_rows("select 'order by' as x from c"));
        assert!(!orders_its_rows("select * from c -- order by id"));
        assert!(!orders_its_rows("select * from c /* order by id */"));
        assert!(!orders_its_rows("select \"order\" by_x from c"));
        assert!(!orders_its_rows("select * from c"));
    }

    #[test]
    fn a_key_orders_the_query() {
        let s = SqliteSource {
            path: "x.db".into(),
            query: "select * from people -- everyone".into(),
            key: Some("id".into()),
        };
        assert_eq!(
            s.ordered_query(),
            "SELECT * FROM (\nselect * from people -- everyone\n) AS q ORDER BY q.\"id\""
        );
        assert!(orders_its_rows(&s.ordered_query()));
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
