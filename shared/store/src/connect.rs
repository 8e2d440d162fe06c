//! Opening the store: one pool per process, MySQL/MariaDB in production, SQLite for
//! single-node deployments and tests.

use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend, DbErr, RuntimeErr};

use crate::error::StoreError;
use crate::url::{redact_url, sqlite_path};

/// Prepared statements each MySQL connection keeps.
const STATEMENT_CACHE: usize = 512;
/// How long a SQLite writer waits for the write lock before failing with `SQLITE_BUSY`.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How a pool waits for the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolOptions {
    /// Pool size (at least 1; SQLite uses 1 whatever is asked, see [`connect_pool`]).
    pub max_connections: u32,
    /// How long a statement waits for a connection (MySQL). With the database down, this
    /// bounds how long a call takes to fail, so callers hear "unavailable, retry" instead of
    /// waiting out their deadline. SQLite waits [`SQLITE_ACQUIRE_TIMEOUT`]: its one connection
    /// is busy, never unreachable.
    pub acquire_timeout: Duration,
}

impl PoolOptions {
    /// `max_connections` connections and the default acquire timeout (1.5 s).
    pub fn new(max_connections: u32) -> Self {
        Self {
            max_connections,
            acquire_timeout: DEFAULT_ACQUIRE_TIMEOUT,
        }
    }
}

/// See [`PoolOptions::acquire_timeout`].
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_millis(1_500);
/// The one SQLite connection may be held by a long write batch; readers queue behind it.
pub const SQLITE_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// Connects to `url` with a pool of at most `max_connections` (at least 1) and the default
/// acquire timeout; see [`connect_pool`].
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, StoreError> {
    connect_pool(url, PoolOptions::new(max_connections)).await
}

/// Connects to `url` with a pool shaped by `pool`.
///
/// * `mysql://user:pass@host:3306/db` (or `mariadb://...`): the sqlx driver pins the
///   session time zone to UTC and the character set to `utf8mb4`, which the schema relies
///   on (timestamps are stored as UTC `DATETIME(6)`).
/// * `sqlite://path/to/file.db?mode=rwc`: the parent directory and the file are created
///   if missing; connections use WAL (readers do not block the writer), enforce foreign
///   keys, and wait up to 5 s for a busy database instead of failing at once.
/// * `sqlite::memory:`: a private in-memory database. Every pooled connection would get
///   its own empty database, so the pool is pinned to one connection that never expires.
///
/// SQL statement logging by sqlx is disabled (it would log every statement at INFO);
/// the URL is only ever logged redacted.
pub async fn connect_pool(url: &str, pool: PoolOptions) -> Result<DatabaseConnection, StoreError> {
    let max_connections = pool.max_connections;
    let url = normalise_scheme(url);
    let redacted = redact_url(&url);
    let mut opts = ConnectOptions::new(url.clone());
    // A connection attempt never outlasts the wait for a connection.
    opts.max_connections(max_connections.max(1))
        .connect_timeout(pool.acquire_timeout.min(Duration::from_secs(10)))
        .acquire_timeout(pool.acquire_timeout)
        .sqlx_logging(false);

    if url.starts_with("sqlite:") {
        opts.acquire_timeout(SQLITE_ACQUIRE_TIMEOUT)
            .connect_timeout(Duration::from_secs(10));
        match sqlite_path(&url) {
            Some(path) => {
                prepare_sqlite_dir(path)?;
                // SQLite has one writer. With several pooled connections, a transaction that
                // read first and then writes is refused with "database is locked" at once
                // (SQLite skips the busy timeout there to avoid deadlock), so concurrent
                // read-modify-write calls fail. One connection serialises them instead; the
                // embedded store is for single-node use, MySQL is the concurrent one.
                opts.max_connections(1);
                opts.map_sqlx_sqlite_opts(|o| {
                    o.create_if_missing(true)
                        .journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal)
                        .foreign_keys(true)
                        .busy_timeout(SQLITE_BUSY_TIMEOUT)
                });
            }
            None => {
                opts.max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None);
                opts.map_sqlx_sqlite_opts(|o| {
                    o.foreign_keys(true).busy_timeout(SQLITE_BUSY_TIMEOUT)
                });
            }
        }
    } else if url.starts_with("mysql:") {
        // The hot paths keep their statement texts few (`statement_shapes`), but the
        // services together use more than sqlx's default of 100 per connection; an evicted
        // statement costs a new prepare.
        opts.map_sqlx_mysql_opts(|o| o.statement_cache_capacity(STATEMENT_CACHE));
    } else {
        return Err(StoreError::InvalidUrl {
            url: redacted,
            reason: "expected a mysql://, mariadb:// or sqlite: url".to_owned(),
        });
    }

    let db = Database::connect(opts)
        .await
        .map_err(|e| scrub_url(e, &url, &redacted))?;
    tracing::info!(
        url = %redacted,
        backend = backend_name(&db),
        max_connections,
        "connected to store"
    );
    Ok(db)
}

/// A short name for the connection's backend: `"mysql"`, `"sqlite"` or `"postgres"`.
pub fn backend_name(db: &DatabaseConnection) -> &'static str {
    match db.get_database_backend() {
        DbBackend::MySql => "mysql",
        DbBackend::Sqlite => "sqlite",
        DbBackend::Postgres => "postgres",
        _ => "unknown",
    }
}

/// sqlx only knows `mysql://`; accept the `mariadb://` spelling as well.
fn normalise_scheme(url: &str) -> String {
    match url.strip_prefix("mariadb:") {
        Some(rest) => format!("mysql:{rest}"),
        None => url.to_owned(),
    }
}

fn prepare_sqlite_dir(path: &str) -> Result<(), StoreError> {
    let Some(dir) = std::path::Path::new(path).parent() else {
        return Ok(());
    };
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
        path: dir.display().to_string(),
        source,
    })
}

/// sea-orm quotes the full URL in some connection errors; never let the password out.
fn scrub_url(err: DbErr, url: &str, redacted: &str) -> StoreError {
    let msg = err.to_string();
    if url != redacted && msg.contains(url) {
        StoreError::Db(DbErr::Conn(RuntimeErr::Internal(
            msg.replace(url, redacted),
        )))
    } else {
        StoreError::Db(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mariadb_scheme_is_mysql() {
        assert_eq!(normalise_scheme("mariadb://u:p@h/db"), "mysql://u:p@h/db");
        assert_eq!(normalise_scheme("sqlite::memory:"), "sqlite::memory:");
    }

    #[test]
    fn scrubs_password_from_errors() {
        let url = "mysql://u:hunter2@h/db";
        let err = DbErr::Conn(RuntimeErr::Internal(format!(
            "The connection string '{url}' cannot be parsed."
        )));
        let scrubbed = scrub_url(err, url, &redact_url(url)).to_string();
        assert!(!scrubbed.contains("hunter2"), "{scrubbed}");
        assert!(scrubbed.contains("u:***@h"), "{scrubbed}");
    }

    #[tokio::test]
    async fn rejects_unknown_scheme_without_leaking_password() {
        let err = connect("postgres://u:hunter2@h/db", 1)
            .await
            .expect_err("postgres is not a supported backend");
        let msg = err.to_string();
        assert!(msg.contains("u:***@h"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
    }
}
