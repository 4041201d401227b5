//! The keys of an SQL source: a query in a stable order, a database file, a URL's variable.

use super::*;

impl Checker<'_> {
    /// A query whose rows come in a stable order (its `ORDER BY`, or `key`); the query trimmed.
    fn sql_query(&mut self, query: &str, key: Option<&str>) -> String {
        let query = query.trim().to_owned();
        if query.is_empty() {
            self.err(
                &["source", "query"],
                "is empty: write the query that reads the contacts",
            );
        } else if key.is_none() && !crate::config::sql::orders_its_rows(&query) {
            self.err(
                &["source", "query"],
                "has no ORDER BY: a re-run resumes and an incremental run goes on only if the rows \
                 come in the same order every time; end the query with ORDER BY a unique column \
                 (`… ORDER BY id`), or name that column in `source.key`",
            );
        }
        if key.is_some_and(|k| k.trim().is_empty()) {
            self.err(
                &["source", "key"],
                "is empty: name a unique column of the query",
            );
        }
        query
    }

    /// An SQLite source.
    pub(super) fn sqlite_source(&mut self, q: crate::config::model::SqliteSourceConfig) -> Source {
        let query = self.sql_query(&q.query, q.key.as_deref());
        Source::Sqlite(crate::config::SqliteSource {
            path: self.resolve(&q.path),
            query,
            key: q.key,
        })
    }

    /// A PostgreSQL source: the URL only through a variable's name.
    pub(super) fn postgres_source(
        &mut self,
        q: crate::config::model::PostgresSourceConfig,
    ) -> Source {
        let query = self.sql_query(&q.query, q.key.as_deref());
        let name_ok = !q.url_env.is_empty()
            && q.url_env
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !name_ok {
            self.err(
                &["source", "url_env"],
                "is not a variable name: name the environment variable that holds the connection \
                 URL (e.g. CRM_DATABASE_URL), never the URL itself",
            );
        }
        Source::Postgres(crate::config::PostgresSource {
            url_env: if name_ok { q.url_env } else { String::new() },
            query,
            key: q.key,
        })
    }
}
