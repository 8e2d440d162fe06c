//! A transaction for hot write paths: on MySQL/MariaDB it runs on sqlx directly, elsewhere
//! (SQLite) it is sea-orm's own. Either way it is a [`ConnectionTrait`], so entity queries
//! and [`crate::bulk_insert`] work on it unchanged.
//!
//! Why not sea-orm's `DatabaseTransaction` on MySQL: it copies every bound value of a
//! statement before handing it to sqlx (it only has the statement by reference there). For
//! ingestion, whose statements carry a thousand events each, that copy and freeing it again
//! were about 8% of the service's CPU. Here the statement is owned and its values move into
//! the driver. The isolation level and `BEGIN` also go in one round trip instead of two.
//!
//! Like sea-orm's, a transaction dropped without [`WriteTransaction::commit`] is rolled back
//! (sqlx queues the rollback on the connection before it returns to the pool).

use std::sync::Arc;

use sea_orm::sqlx::{self, MySql, MySqlPool, Transaction};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseConnectionType, DatabaseTransaction, DbBackend,
    DbErr, ExecResult, IsolationLevel, QueryResult, RuntimeErr, Statement, TransactionTrait,
    Values,
};
use sea_query_sqlx::SqlxValues;

/// A write transaction on whichever backend the store is.
pub enum WriteTransaction {
    /// MySQL/MariaDB, through sqlx.
    MySql(MySqlTransaction),
    /// Any other backend, through sea-orm.
    SeaOrm(DatabaseTransaction),
}

impl WriteTransaction {
    /// Begins a transaction, at `isolation` where the backend has levels (MySQL; SQLite has
    /// one writer and ignores it).
    pub async fn begin(
        db: &DatabaseConnection,
        isolation: Option<IsolationLevel>,
    ) -> Result<Self, DbErr> {
        if matches!(db.inner, DatabaseConnectionType::SqlxMySqlPoolConnection(_)) {
            let pool = db.get_mysql_connection_pool();
            return Ok(Self::MySql(MySqlTransaction::begin(pool, isolation).await?));
        }
        let isolation = isolation.filter(|_| db.get_database_backend() == DbBackend::MySql);
        Ok(Self::SeaOrm(db.begin_with_config(isolation, None).await?))
    }

    pub async fn commit(self) -> Result<(), DbErr> {
        match self {
            Self::MySql(txn) => txn.commit().await,
            Self::SeaOrm(txn) => txn.commit().await,
        }
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTransaction {
    fn get_database_backend(&self) -> DbBackend {
        match self {
            Self::MySql(_) => DbBackend::MySql,
            Self::SeaOrm(txn) => txn.get_database_backend(),
        }
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match self {
            Self::MySql(txn) => txn.execute_raw(stmt).await,
            Self::SeaOrm(txn) => txn.execute_raw(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match self {
            Self::MySql(txn) => txn.execute_unprepared(sql).await,
            Self::SeaOrm(txn) => txn.execute_unprepared(sql).await,
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match self {
            Self::MySql(txn) => txn.query_one_raw(stmt).await,
            Self::SeaOrm(txn) => txn.query_one_raw(stmt).await,
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self {
            Self::MySql(txn) => txn.query_all_raw(stmt).await,
            Self::SeaOrm(txn) => txn.query_all_raw(stmt).await,
        }
    }
}

/// A MySQL/MariaDB transaction on one pooled connection, driven through sqlx.
pub struct MySqlTransaction {
    // sea-orm's trait takes `&self`; statements of one transaction run one at a time anyway.
    txn: tokio::sync::Mutex<Transaction<'static, MySql>>,
}

impl MySqlTransaction {
    async fn begin(pool: &MySqlPool, isolation: Option<IsolationLevel>) -> Result<Self, DbErr> {
        // `SET TRANSACTION` applies to the next transaction only, so the pooled connection
        // keeps its default for whoever uses it next.
        let begin = match isolation {
            Some(level) => format!("SET TRANSACTION ISOLATION LEVEL {level}; BEGIN"),
            None => "BEGIN".to_owned(),
        };
        let txn = pool
            .begin_with(sqlx::AssertSqlSafe(begin))
            .await
            .map_err(exec_err)?;
        Ok(Self {
            txn: tokio::sync::Mutex::new(txn),
        })
    }

    async fn commit(self) -> Result<(), DbErr> {
        self.txn.into_inner().commit().await.map_err(exec_err)
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let mut txn = self.txn.lock().await;
        prepared(stmt)
            .execute(&mut **txn)
            .await
            .map(ExecResult::from)
            .map_err(exec_err)
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let mut txn = self.txn.lock().await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut **txn)
            .await
            .map(ExecResult::from)
            .map_err(exec_err)
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let mut txn = self.txn.lock().await;
        prepared(stmt)
            .fetch_optional(&mut **txn)
            .await
            .map(|row| row.map(QueryResult::from))
            .map_err(query_err)
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let mut txn = self.txn.lock().await;
        prepared(stmt)
            .fetch_all(&mut **txn)
            .await
            .map(|rows| rows.into_iter().map(QueryResult::from).collect())
            .map_err(query_err)
    }
}

/// A statement for sqlx, its values moved rather than copied.
fn prepared(stmt: Statement) -> sqlx::query::Query<'static, MySql, SqlxValues> {
    let values = SqlxValues(stmt.values.unwrap_or_else(|| Values(Vec::new())));
    sqlx::query_with(sqlx::AssertSqlSafe(stmt.sql), values)
}

// The same error shapes as sea-orm's own driver, so `DbErr::sql_err` (unique violations)
// and messages (deadlocks) read the same.
fn exec_err(err: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(Arc::new(err)))
}

fn query_err(err: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(Arc::new(err)))
}
