//! `caravan-store`: the one database shared by the Caravan services (ingestion,
//! profiling, recommendation, marketing).
//!
//! * [`migration::Migrator`] / [`migrate`]: the schema, for MySQL/MariaDB (production)
//!   and SQLite (single node, tests), from the same migration code.
//! * [`entity`]: one sea-orm entity per table; timestamps are [`UtcDateTime`].
//! * [`consumer_lease`]: one outbox consumer at a time across replicas.
//! * [`erasure`]: where a customer's derived data lives, and its removal; tombstones.
//! * [`sealing`]: personal data encrypted at rest (AES-256-GCM, rotating keys).
//! * [`bulk_insert`]: multi-row INSERTs straight from values, for hot write paths.
//! * [`statement_shapes`]: few distinct statement texts, so prepared statements are reused.
//! * [`write_transaction`]: transactions for hot write paths (sqlx directly on MySQL).
//! * [`connect`]: pool set-up with per-backend settings; [`redact_url`] for logging URLs.
//! * [`StoreError`]: errors, with [`StoreError::is_unique_violation`] for idempotent
//!   inserts.
//! * [`testing`]: throw-away databases for tests in any crate of the workspace.
//!
//! Each service owns the writes to its tables (see `docs/domain-model.md`); the store only
//! defines the schema and shared plumbing.

pub mod bulk_insert;
mod connect;
pub mod consumer_lease;
mod datetime;
pub mod entity;
pub mod erasure;
mod error;
mod migrate;
pub mod migration;
pub mod outbox_entries;
pub mod pii;
mod pool_usage;
pub mod reseal;
pub mod sealing;
pub mod statement_shapes;
pub mod testing;
mod url;
pub mod write_transaction;

pub use connect::{PoolOptions, backend_name, connect, connect_pool};
pub use datetime::UtcDateTime;
pub use error::{StoreError, is_unavailable, is_unique_violation};
pub use migrate::migrate;
pub use migration::{Migrator, TABLES};
pub use pool_usage::{PoolUsage, pool_usage};
pub use url::{database_name, redact_url, with_database};

/// Re-exported so services use exactly the store's sea-orm version.
pub use sea_orm;

/// The current time as the store keeps it (UTC, truncated to microseconds).
pub fn now() -> UtcDateTime {
    UtcDateTime::now()
}

#[cfg(test)]
mod tests;
