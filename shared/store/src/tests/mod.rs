//! In-crate tests on SQLite files (tempfile): connection set-up, migrations, entity
//! round-trips and unique-violation detection. The same checks run on MariaDB in
//! `tests/mysql.rs`.

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use tempfile::TempDir;

use crate::testing::{self, checks};

/// A migrated SQLite database in a fresh temporary directory (kept alive by the guard).
async fn sqlite_db(max_connections: u32) -> (DatabaseConnection, TempDir) {
    let dir = tempfile::tempdir().expect("create temp dir");
    let url = format!("sqlite://{}/data/caravan.db?mode=rwc", dir.path().display());
    let db = crate::connect(&url, max_connections)
        .await
        .expect("connect to sqlite");
    (db, dir)
}

async fn pragma<T: sea_orm::TryGetable>(db: &DatabaseConnection, name: &str) -> T {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!("PRAGMA {name}"),
        ))
        .await
        .expect("query pragma")
        .expect("pragma row");
    row.try_get_by_index::<T>(0).expect("pragma value")
}

#[tokio::test]
async fn connect_creates_directory_and_file_with_wal_and_foreign_keys() {
    let (db, dir) = sqlite_db(4).await;
    assert!(dir.path().join("data/caravan.db").is_file());
    assert_eq!(crate::backend_name(&db), "sqlite");
    assert_eq!(pragma::<String>(&db, "journal_mode").await, "wal");
    assert_eq!(pragma::<i64>(&db, "foreign_keys").await, 1);
    assert_eq!(pragma::<i64>(&db, "busy_timeout").await, 5000);
}

#[tokio::test]
async fn migrations_apply_and_rerun_is_noop() {
    let (db, _dir) = sqlite_db(4).await;
    checks::assert_migrate_is_idempotent(&db)
        .await
        .expect("migrate twice");
}

#[tokio::test]
async fn campaign_results_survive_the_breakdown_migration() {
    let (db, _dir) = sqlite_db(4).await;
    crate::migrate(&db).await.expect("migrate");
    checks::assert_campaign_results_survive_breakdown_migration(&db)
        .await
        .expect("breakdown migration keeps results");
}

#[tokio::test]
async fn bulk_inserts_write_every_row_as_bound_values() {
    let (db, _dir) = sqlite_db(4).await;
    crate::migrate(&db).await.expect("migrate");
    checks::assert_bulk_insert(&db).await.expect("bulk insert");
}

#[tokio::test]
async fn packed_outbox_rows_unpack_on_rollback() {
    let (db, _dir) = sqlite_db(4).await;
    checks::assert_packed_outbox_unpacks_on_rollback(&db)
        .await
        .expect("unpack on rollback");
}

#[tokio::test]
async fn event_payloads_convert_to_binary_and_back() {
    let (db, _dir) = sqlite_db(4).await;
    checks::assert_event_payloads_convert_both_ways(&db)
        .await
        .expect("payload conversion");
}

#[tokio::test]
async fn write_transactions_commit_roll_back_and_report_violations() {
    let (db, _dir) = sqlite_db(4).await;
    checks::assert_write_transactions(&db)
        .await
        .expect("write transactions");
}

#[tokio::test]
async fn consumer_leases_are_exclusive() {
    let (db, _dir) = sqlite_db(4).await;
    checks::assert_consumer_lease_is_exclusive(&db)
        .await
        .expect("consumer lease");
}

#[tokio::test]
async fn consumer_leases_are_kept_during_long_work() {
    let (db, _dir) = sqlite_db(4).await;
    checks::assert_consumer_lease_is_kept_during_long_work(&db)
        .await
        .expect("consumer lease kept");
}

#[tokio::test]
async fn down_all_then_up_again() {
    let (db, _dir) = sqlite_db(4).await;
    crate::migrate(&db).await.expect("migrate");
    checks::assert_down_then_up(&db)
        .await
        .expect("down then up");
    // The schema is fully usable after the cycle.
    checks::assert_roundtrip(&db).await.expect("roundtrip");
}

#[tokio::test]
async fn entities_round_trip() {
    let (db, _dir) = sqlite_db(4).await;
    crate::migrate(&db).await.expect("migrate");
    checks::assert_roundtrip(&db).await.expect("roundtrip");
}

#[tokio::test]
async fn unique_violations_are_detected() {
    let (db, _dir) = sqlite_db(4).await;
    crate::migrate(&db).await.expect("migrate");
    checks::assert_roundtrip(&db).await.expect("roundtrip");
    checks::assert_unique_violations(&db)
        .await
        .expect("unique violations");
}

#[tokio::test]
async fn entities_match_migrations() {
    let (db, _dir) = sqlite_db(4).await;
    crate::migrate(&db).await.expect("migrate");
    let twin = crate::connect("sqlite::memory:", 1)
        .await
        .expect("connect twin");
    testing::assert_entities_match_schema(&db, &twin)
        .await
        .expect("compare schemas");
}

#[tokio::test]
async fn in_memory_helper_is_migrated_and_shared_by_the_pool() {
    let db = testing::sqlite_memory().await.expect("in-memory store");
    // The one pooled connection keeps the in-memory database alive across queries.
    checks::assert_roundtrip(&db).await.expect("roundtrip");
    assert_eq!(
        testing::table_names(&db).await.expect("tables"),
        checks::expected_tables()
    );
}

#[tokio::test]
async fn single_connection_pool_migrates() {
    let (db, _dir) = sqlite_db(1).await;
    crate::migrate(&db).await.expect("migrate");
    crate::migrate(&db).await.expect("migrate again");
}
