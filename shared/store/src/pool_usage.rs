//! How busy a connection pool is, for the metrics an operator watches.

use sea_orm::{DatabaseBackend, DatabaseConnection};

/// Connections of a pool: open, idle among them, and the most it may open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

/// The pool's usage now; `None` for a connection without a pool (a mock).
pub fn pool_usage(db: &DatabaseConnection) -> Option<PoolUsage> {
    // The getters panic on the other backend, so the backend is asked first.
    match db.get_database_backend() {
        DatabaseBackend::MySql => {
            let pool = db.get_mysql_connection_pool();
            Some(usage(
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            ))
        }
        DatabaseBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            Some(usage(
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            ))
        }
        _ => None,
    }
}

fn usage(size: u32, idle: usize, max: u32) -> PoolUsage {
    PoolUsage {
        size,
        idle: u32::try_from(idle).unwrap_or(u32::MAX),
        max,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_sqlite_pool_reports_its_connections() {
        let db = sea_orm::Database::connect("sqlite::memory:")
            .await
            .expect("sqlite");
        let usage = pool_usage(&db).expect("a pool");
        assert!(usage.max >= 1, "{usage:?}");
        assert!(
            usage.idle <= usage.size && usage.size <= usage.max,
            "{usage:?}"
        );
    }
}
