//! Applying migrations at service start-up.

use std::sync::Arc;

use sea_orm::{DatabaseConnection, DbBackend, DbErr, RuntimeErr};
use sea_orm_migration::MigratorTrait;

use crate::error::StoreError;
use crate::migration::Migrator;

/// Seconds a process waits for another one that is migrating the same database.
const LOCK_WAIT_SECONDS: i64 = 300;

/// Applies all pending migrations; a no-op when the schema is current.
///
/// Several services share one database and may start at the same time. On MySQL the
/// run is serialised with a named server lock (`GET_LOCK`) scoped to the current
/// database, held on a dedicated pooled connection, so a second process waits and then
/// finds nothing pending instead of racing on the same DDL. This needs a pool of at least
/// two connections; with one, migrations run unlocked (they are idempotent anyway: every
/// `CREATE` is `IF NOT EXISTS`). SQLite serialises writers itself.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), StoreError> {
    if db.get_database_backend() == DbBackend::MySql {
        let pool = db.get_mysql_connection_pool();
        if pool.options().get_max_connections() >= 2 {
            return migrate_locked(db, pool).await;
        }
    }
    Migrator::up(db, None).await?;
    tracing::info!("store schema is up to date");
    Ok(())
}

async fn migrate_locked(
    db: &DatabaseConnection,
    pool: &sea_orm::sqlx::MySqlPool,
) -> Result<(), StoreError> {
    use sea_orm::sqlx;

    let mut lock_conn = pool.acquire().await.map_err(sqlx_err)?;
    let acquired: Option<i64> =
        sqlx::query_scalar("SELECT GET_LOCK(CONCAT('caravan_migrate:', DATABASE()), ?)")
            .bind(LOCK_WAIT_SECONDS)
            .fetch_one(&mut *lock_conn)
            .await
            .map_err(sqlx_err)?;
    if acquired != Some(1) {
        return Err(StoreError::Db(DbErr::Migration(format!(
            "timed out after {LOCK_WAIT_SECONDS}s waiting for another process to finish migrating"
        ))));
    }

    let result = Migrator::up(db, None).await;

    let released = sqlx::query("SELECT RELEASE_LOCK(CONCAT('caravan_migrate:', DATABASE()))")
        .execute(&mut *lock_conn)
        .await;
    if released.is_err() {
        // Closing the session releases the lock server-side; never return a pooled
        // connection that may still hold it.
        lock_conn.close_on_drop();
    }
    result?;
    tracing::info!("store schema is up to date");
    Ok(())
}

fn sqlx_err(err: sea_orm::sqlx::Error) -> StoreError {
    StoreError::Db(DbErr::Conn(RuntimeErr::SqlxError(Arc::new(err))))
}
