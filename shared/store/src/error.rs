//! The store's error type.

use sea_orm::{DbErr, RuntimeErr, SqlErr, TransactionError};

/// Errors from connecting to, migrating or querying the store.
///
/// Messages never contain a database password: URLs are passed through
/// [`crate::redact_url`] before they are put into an error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Any database error reported by sea-orm / sqlx.
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    /// The URL could not be used (unknown scheme, malformed); holds the redacted URL.
    #[error("invalid database url `{url}`: {reason}")]
    InvalidUrl {
        /// The redacted URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Preparing the SQLite file (its directory) failed.
    #[error("cannot prepare sqlite database at `{path}`: {source}")]
    Io {
        /// The file or directory involved.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    /// True if the statement failed on a primary-key or unique-index conflict (MySQL
    /// 1062 and friends, SQLite 1555/2067). Ingestion uses it to turn a replayed
    /// `event_id` into an idempotent success.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Db(err) => is_unique_violation(err),
            _ => false,
        }
    }

    /// True if the store could not be reached or answered with a broken connection: no
    /// connection could be had from the pool in time, the connection was refused, reset or
    /// closed. The same call may succeed once the database is back, so callers answer
    /// `UNAVAILABLE` with a retry delay rather than `INTERNAL`.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Db(err) => is_unavailable(err),
            _ => false,
        }
    }

    /// The underlying [`DbErr`], if this is a database error.
    pub fn as_db_err(&self) -> Option<&DbErr> {
        match self {
            StoreError::Db(err) => Some(err),
            _ => None,
        }
    }
}

impl From<TransactionError<StoreError>> for StoreError {
    fn from(err: TransactionError<StoreError>) -> Self {
        match err {
            TransactionError::Connection(db) => StoreError::Db(db),
            TransactionError::Transaction(inner) => inner,
        }
    }
}

impl From<TransactionError<DbErr>> for StoreError {
    fn from(err: TransactionError<DbErr>) -> Self {
        match err {
            TransactionError::Connection(db) | TransactionError::Transaction(db) => {
                StoreError::Db(db)
            }
        }
    }
}

/// See [`StoreError::is_unavailable`].
pub fn is_unavailable(err: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    match err {
        DbErr::ConnectionAcquire(_) => true,
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => matches!(
            e.as_ref(),
            Sqlx::Io(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed | Sqlx::WorkerCrashed
        ),
        // sea-orm reports a connection it could not open as text.
        DbErr::Conn(_) => true,
        _ => false,
    }
}

/// True if `err` is a primary-key / unique-index conflict on MySQL, MariaDB or SQLite.
///
/// Relies on the driver error codes via [`DbErr::sql_err`]; the message check is a
/// fallback for errors that reach us re-wrapped as text (the canonical messages are
/// `Duplicate entry ... for key ...` on MySQL and `UNIQUE constraint failed: ...` on
/// SQLite).
pub fn is_unique_violation(err: &DbErr) -> bool {
    if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
        return true;
    }
    match err {
        DbErr::Exec(RuntimeErr::Internal(msg)) | DbErr::Query(RuntimeErr::Internal(msg)) => {
            looks_like_unique_violation(msg)
        }
        _ => false,
    }
}

fn looks_like_unique_violation(msg: &str) -> bool {
    msg.contains("UNIQUE constraint failed") || msg.contains("Duplicate entry")
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_unreachable_store_is_unavailable_and_a_bad_statement_is_not() {
        use sea_orm::sqlx::Error as Sqlx;
        use std::sync::Arc;
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(is_unavailable(&DbErr::Exec(RuntimeErr::SqlxError(
            Arc::new(Sqlx::Io(refused))
        ))));
        assert!(is_unavailable(&DbErr::Query(RuntimeErr::SqlxError(
            Arc::new(Sqlx::PoolTimedOut)
        ))));
        assert!(is_unavailable(&DbErr::ConnectionAcquire(
            sea_orm::error::ConnAcquireErr::Timeout
        )));
        assert!(!is_unavailable(&DbErr::Exec(RuntimeErr::Internal(
            "You have an error in your SQL syntax".to_owned()
        ))));
        assert!(!is_unavailable(&DbErr::RecordNotFound("x".to_owned())));
        assert!(
            !StoreError::InvalidUrl {
                url: "x".to_owned(),
                reason: "y".to_owned()
            }
            .is_unavailable()
        );
    }

    use super::*;

    #[test]
    fn textual_fallback_recognises_both_backends() {
        let sqlite = DbErr::Exec(RuntimeErr::Internal(
            "UNIQUE constraint failed: events.merchant_id, events.event_id".to_owned(),
        ));
        let mysql = DbErr::Query(RuntimeErr::Internal(
            "Duplicate entry 'm-e1' for key 'uq_events_merchant_event'".to_owned(),
        ));
        assert!(is_unique_violation(&sqlite));
        assert!(is_unique_violation(&mysql));
        assert!(StoreError::Db(mysql).is_unique_violation());
    }

    #[test]
    fn other_errors_are_not_unique_violations() {
        assert!(!is_unique_violation(&DbErr::RecordNotFound("x".to_owned())));
        assert!(!is_unique_violation(&DbErr::Exec(RuntimeErr::Internal(
            "FOREIGN KEY constraint failed".to_owned()
        ))));
        let txn: StoreError =
            TransactionError::Transaction(DbErr::Custom("boom".to_owned())).into();
        assert!(!txn.is_unique_violation());
    }
}
