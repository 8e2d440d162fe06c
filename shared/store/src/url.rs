//! Small helpers for database URLs, kept dependency-free.
//!
//! Database URLs carry passwords, so anything that logs or reports a URL goes through
//! [`redact_url`] first.

/// Returns `url` with the password (if any) replaced by `***`.
///
/// `mysql://caravan:secret@db:3306/caravan` becomes `mysql://caravan:***@db:3306/caravan`;
/// URLs without credentials (`sqlite://data/caravan.db?mode=rwc`) are returned unchanged.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let (userinfo, host) = authority.split_at(at);
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***{host}{tail}"),
        None => url.to_owned(),
    }
}

/// Splits a URL into `(prefix, database, query)` where `prefix` is everything up to
/// (excluding) the path, `database` the first path segment (possibly empty) and `query`
/// the `?...` suffix (possibly empty).
fn split_database(url: &str) -> (&str, &str, &str) {
    let (before_query, query) = match url.find('?') {
        Some(i) => url.split_at(i),
        None => (url, ""),
    };
    let authority_start = before_query.find("://").map_or(0, |i| i + 3);
    match before_query[authority_start..].find('/') {
        Some(i) => {
            let (prefix, path) = before_query.split_at(authority_start + i);
            (prefix, path.trim_start_matches('/'), query)
        }
        None => (before_query, "", query),
    }
}

/// The database name in a server URL (`mysql://u:p@h:3306/caravan` -> `caravan`).
pub fn database_name(url: &str) -> Option<&str> {
    let (_, db, _) = split_database(url);
    (!db.is_empty()).then_some(db)
}

/// `url` pointed at `database` (or at no database when `None`), keeping credentials,
/// host and query parameters.
pub fn with_database(url: &str, database: Option<&str>) -> String {
    let (prefix, _, query) = split_database(url);
    match database {
        Some(db) => format!("{prefix}/{db}{query}"),
        None => format!("{prefix}{query}"),
    }
}

/// The file path of a SQLite URL, or `None` for in-memory databases.
///
/// Accepts `sqlite://path`, `sqlite:path` and `sqlite:///abs/path`, ignoring the query.
pub(crate) fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, q),
        None => (rest, ""),
    };
    let in_memory =
        path.is_empty() || path == ":memory:" || query.split('&').any(|kv| kv == "mode=memory");
    (!in_memory).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_password_only() {
        assert_eq!(
            redact_url("mysql://caravan:s3cr%40t@127.0.0.1:3306/caravan?ssl-mode=disabled"),
            "mysql://caravan:***@127.0.0.1:3306/caravan?ssl-mode=disabled"
        );
        assert_eq!(
            redact_url("mysql://root@localhost/caravan"),
            "mysql://root@localhost/caravan"
        );
        assert_eq!(
            redact_url("sqlite://data/caravan.db?mode=rwc"),
            "sqlite://data/caravan.db?mode=rwc"
        );
        assert_eq!(redact_url("sqlite::memory:"), "sqlite::memory:");
        // An '@' in the path must not be mistaken for credentials.
        assert_eq!(redact_url("sqlite://dir/a@b.db"), "sqlite://dir/a@b.db");
        assert_eq!(redact_url("mysql://u:p@h"), "mysql://u:***@h");
    }

    #[test]
    fn swaps_database() {
        let url = "mysql://caravan:caravan@127.0.0.1:3306/test?charset=utf8mb4";
        assert_eq!(database_name(url), Some("test"));
        assert_eq!(
            with_database(url, Some("caravan_test_1")),
            "mysql://caravan:caravan@127.0.0.1:3306/caravan_test_1?charset=utf8mb4"
        );
        assert_eq!(
            with_database(url, None),
            "mysql://caravan:caravan@127.0.0.1:3306?charset=utf8mb4"
        );
        assert_eq!(database_name("mysql://u:p@h:3306"), None);
        assert_eq!(
            with_database("mysql://u:p@h:3306", Some("x")),
            "mysql://u:p@h:3306/x"
        );
    }

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            sqlite_path("sqlite://data/caravan.db?mode=rwc"),
            Some("data/caravan.db")
        );
        assert_eq!(sqlite_path("sqlite:///tmp/x.db"), Some("/tmp/x.db"));
        assert_eq!(sqlite_path("sqlite:x.db"), Some("x.db"));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("sqlite://:memory:"), None);
        assert_eq!(
            sqlite_path("sqlite://shared?mode=memory&cache=shared"),
            None
        );
        assert_eq!(sqlite_path("mysql://h/db"), None);
    }
}
