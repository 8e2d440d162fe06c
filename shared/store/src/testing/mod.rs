//! Throw-away databases for tests, usable from any crate of the workspace.
//!
//! MySQL tests read the server URL from `CARAVAN_TEST_MYSQL_URL` (see
//! `scripts/mariadb-test-user.sh`). A missing URL fails the test loudly unless
//! `CARAVAN_SKIP_MYSQL=1`: a silently skipped database test is worse than a red one.
//!
//! ```no_run
//! # async fn t() -> Result<(), caravan_store::StoreError> {
//! use caravan_store::testing;
//! let Some(server) = testing::mysql_url_from_env() else { return Ok(()) };
//! let (db, name, _url) = testing::create_mysql_database(&server).await?;
//! caravan_store::migrate(&db).await?;
//! // ... exercise the service against `db` ...
//! db.close().await?;
//! testing::drop_mysql_database(&server, &name).await?;
//! # Ok(()) }
//! ```

pub mod checks;
mod schema_check;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

use crate::error::StoreError;
use crate::url::{redact_url, with_database};

pub use schema_check::{assert_entities_match_schema, create_tables_from_entities};

/// Env var holding the MySQL server URL for tests.
pub const MYSQL_URL_ENV: &str = "CARAVAN_TEST_MYSQL_URL";
/// Env var that, set to `1`, allows MySQL tests to be skipped when no URL is given.
pub const SKIP_MYSQL_ENV: &str = "CARAVAN_SKIP_MYSQL";
/// Prefix of every database created by [`create_mysql_database`].
pub const TEST_DB_PREFIX: &str = "caravan_test_";

/// The MySQL server URL for tests.
///
/// Returns `None` only when `CARAVAN_TEST_MYSQL_URL` is unset and `CARAVAN_SKIP_MYSQL=1`.
///
/// # Panics
/// When the URL is unset and skipping was not requested, so CI never skips silently.
pub fn mysql_url_from_env() -> Option<String> {
    match std::env::var(MYSQL_URL_ENV) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var(SKIP_MYSQL_ENV).as_deref() == Ok("1") => {
            eprintln!("{MYSQL_URL_ENV} is unset and {SKIP_MYSQL_ENV}=1: skipping MySQL test");
            None
        }
        _ => panic!(
            "{MYSQL_URL_ENV} is not set. Run scripts/mariadb-test-user.sh and export \
             {MYSQL_URL_ENV}=mysql://caravan:caravan@127.0.0.1:3306/test, \
             or set {SKIP_MYSQL_ENV}=1 to skip the MySQL tests explicitly."
        ),
    }
}

/// A database name unique to this process and call: `caravan_test_<pid>_<time>_<n>`.
pub fn unique_database_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{TEST_DB_PREFIX}{}_{:x}_{}",
        std::process::id(),
        nanos & 0xffff_ffff_ffff,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Creates an empty, uniquely named database on the MySQL server at `server_url` (the
/// URL's own database, if any, is ignored) and connects to it.
///
/// Returns `(connection, database name, database url)`. The schema is not applied: call
/// [`crate::migrate`]. Drop it with [`drop_mysql_database`].
pub async fn create_mysql_database(
    server_url: &str,
) -> Result<(DatabaseConnection, String, String), StoreError> {
    let name = unique_database_name();
    let admin = crate::connect(&with_database(server_url, None), 1).await?;
    admin
        .execute_unprepared(&format!(
            "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        ))
        .await?;
    admin.close().await?;
    let url = with_database(server_url, Some(&name));
    let db = crate::connect(&url, 4).await?;
    tracing::debug!(url = %redact_url(&url), "created test database");
    Ok((db, name, url))
}

/// Drops a database made by [`create_mysql_database`]. Refuses other names.
pub async fn drop_mysql_database(server_url: &str, name: &str) -> Result<(), StoreError> {
    if !name.starts_with(TEST_DB_PREFIX) || name.contains('`') {
        return Err(StoreError::InvalidUrl {
            url: redact_url(server_url),
            reason: format!("refusing to drop `{name}`: not a test database"),
        });
    }
    let admin = crate::connect(&with_database(server_url, None), 1).await?;
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS `{name}`"))
        .await?;
    admin.close().await?;
    Ok(())
}

/// A private in-memory SQLite database with the schema applied.
pub async fn sqlite_memory() -> Result<DatabaseConnection, StoreError> {
    let db = crate::connect("sqlite::memory:", 1).await?;
    crate::migrate(&db).await?;
    Ok(db)
}

/// The base tables of the connected database, sorted.
pub async fn table_names(db: &DatabaseConnection) -> Result<Vec<String>, StoreError> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' ORDER BY name"
        }
        _ => {
            "SELECT CAST(TABLE_NAME AS CHAR) AS name FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' ORDER BY name"
        }
    };
    let rows = db
        .query_all_raw(Statement::from_string(backend, sql))
        .await?;
    let mut names = rows
        .iter()
        .map(|r| r.try_get::<String>("", "name"))
        .collect::<Result<Vec<_>, _>>()?;
    names.sort();
    Ok(names)
}

/// Runs `body` against a fresh, migrated MySQL database and drops the database
/// afterwards, also when `body` panics (the panic is then resumed).
///
/// `body` receives the connection and the database URL; it runs on a spawned task, so
/// it must be `Send + 'static`.
pub async fn with_mysql_database<F, Fut>(server_url: &str, body: F) -> Result<(), StoreError>
where
    F: FnOnce(DatabaseConnection, String) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    run_in_mysql_database(server_url, true, body).await
}

/// Like [`with_mysql_database`] but without applying the schema.
pub async fn with_empty_mysql_database<F, Fut>(server_url: &str, body: F) -> Result<(), StoreError>
where
    F: FnOnce(DatabaseConnection, String) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    run_in_mysql_database(server_url, false, body).await
}

async fn run_in_mysql_database<F, Fut>(
    server_url: &str,
    migrate: bool,
    body: F,
) -> Result<(), StoreError>
where
    F: FnOnce(DatabaseConnection, String) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (db, name, url) = create_mysql_database(server_url).await?;
    if migrate && let Err(e) = crate::migrate(&db).await {
        let _ = db.close().await;
        let _ = drop_mysql_database(server_url, &name).await;
        return Err(e);
    }
    let joined = tokio::spawn(body(db.clone(), url)).await;
    let _ = db.close().await;
    drop_mysql_database(server_url, &name).await?;
    match joined {
        Ok(()) => Ok(()),
        Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        Err(join) => panic!("test body did not finish: {join}"),
    }
}
