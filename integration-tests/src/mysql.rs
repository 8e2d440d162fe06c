//! A fresh MariaDB database per test, dropped afterwards (zero-to-production style).

use anyhow::{Context, Result};
use caravan_store::testing;

/// A uniquely named, empty database on the test server (`CARAVAN_TEST_MYSQL_URL`).
pub struct TestDatabase {
    server_url: String,
    pub name: String,
    /// URL of this database, to hand to a binary as `CARAVAN__DATABASE__URL`.
    pub url: String,
}

impl TestDatabase {
    /// Creates the database. Fails (never skips silently) when no server is configured,
    /// unless `CARAVAN_SKIP_MYSQL=1`, in which case it returns `None`.
    pub async fn create() -> Result<Option<Self>> {
        let Some(server_url) = testing::mysql_url_from_env() else {
            return Ok(None);
        };
        let (db, name, url) = testing::create_mysql_database(&server_url)
            .await
            .context("create test database")?;
        db.close().await.context("close setup connection")?;
        Ok(Some(Self {
            server_url,
            name,
            url,
        }))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let server_url = self.server_url.clone();
        let name = self.name.clone();
        // Drop runs outside async code; a private runtime on a thread avoids nesting runtimes.
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|rt| rt.block_on(testing::drop_mysql_database(&server_url, &name)))
        })
        .join();
        if !matches!(dropped, Ok(Ok(Ok(())))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

/// Checks each `(sql, expected)`: a query returning one integer (a `COUNT(*)`) and its
/// expected value; the error names the first query that differs.
pub async fn expect_counts(db: &sea_orm::DatabaseConnection, checks: &[(&str, i64)]) -> Result<()> {
    use sea_orm::{ConnectionTrait, Statement};
    for (sql, expected) in checks {
        let row = db
            .query_one_raw(Statement::from_string(db.get_database_backend(), *sql))
            .await?
            .context("no row")?;
        let got = row.try_get_by_index::<i64>(0)?;
        anyhow::ensure!(got == *expected, "{sql}: {got}, expected {expected}");
    }
    Ok(())
}
