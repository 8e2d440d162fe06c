//! Integration tests against a real MySQL/MariaDB server.
//!
//! The server comes from `CARAVAN_TEST_MYSQL_URL` (`scripts/mariadb-test-user.sh` prints
//! it). Without it these tests FAIL, unless `CARAVAN_SKIP_MYSQL=1` says to skip them:
//! CI must never pass by silently not testing MySQL. Every test works in its own freshly
//! created `caravan_test_*` database and drops it at the end, also on failure.

use caravan_store::testing::{self, checks};

/// The server URL, or `None` when skipping was explicitly requested.
fn server() -> Option<String> {
    testing::mysql_url_from_env()
}

#[tokio::test(flavor = "multi_thread")]
async fn write_transactions_commit_roll_back_and_report_violations() {
    let Some(server) = server() else { return };
    testing::with_empty_mysql_database(&server, |db, _url| async move {
        checks::assert_write_transactions(&db)
            .await
            .expect("write transactions");
    })
    .await
    .expect("test database");
}

#[tokio::test(flavor = "multi_thread")]
async fn migrations_are_idempotent_reversible_and_usable() {
    let Some(server) = server() else { return };
    testing::with_empty_mysql_database(&server, |db, _url| async move {
        assert_eq!(caravan_store::backend_name(&db), "mysql");
        checks::assert_migrate_is_idempotent(&db)
            .await
            .expect("migrate twice");
        checks::assert_roundtrip(&db).await.expect("roundtrip");
        checks::assert_unique_violations(&db)
            .await
            .expect("unique violations");
        checks::assert_down_then_up(&db)
            .await
            .expect("down then up");
        checks::assert_roundtrip(&db)
            .await
            .expect("roundtrip after down/up");
    })
    .await
    .expect("test database");
}

#[tokio::test(flavor = "multi_thread")]
async fn bulk_inserts_write_every_row_as_bound_values() {
    let Some(server) = server() else { return };
    testing::with_empty_mysql_database(&server, |db, _url| async move {
        caravan_store::migrate(&db).await.expect("migrate");
        checks::assert_bulk_insert(&db).await.expect("bulk insert");
    })
    .await
    .expect("test database");
}

#[tokio::test(flavor = "multi_thread")]
async fn consumer_leases_are_exclusive() {
    let Some(server) = server() else { return };
    testing::with_empty_mysql_database(&server, |db, _url| async move {
        checks::assert_consumer_lease_is_exclusive(&db)
            .await
            .expect("consumer lease");
    })
    .await
    .expect("test database");
}

#[tokio::test(flavor = "multi_thread")]
async fn consumer_leases_are_kept_during_long_work() {
    let Some(server) = server() else { return };
    testing::with_empty_mysql_database(&server, |db, _url| async move {
        checks::assert_consumer_lease_is_kept_during_long_work(&db)
            .await
            .expect("consumer lease kept");
    })
    .await
    .expect("test database");
}

#[tokio::test(flavor = "multi_thread")]
async fn packed_outbox_rows_unpack_on_rollback() {
    let Some(server) = server() else { return };
    testing::with_empty_mysql_database(&server, |db, _url| async move {
        checks::assert_packed_outbox_unpacks_on_rollback(&db)
            .await
            .expect("unpack on rollback");
    })
    .await
    .expect("test database");
}

#[tokio::test(flavor = "multi_thread")]
async fn event_payloads_convert_to_binary_and_back() {
    let Some(server) = server() else { return };
    testing::with_empty_mysql_database(&server, |db, _url| async move {
        checks::assert_event_payloads_convert_both_ways(&db)
            .await
            .expect("payload conversion");
    })
    .await
    .expect("test database");
}

#[tokio::test(flavor = "multi_thread")]
async fn campaign_results_survive_the_breakdown_migration() {
    let Some(server) = server() else { return };
    testing::with_empty_mysql_database(&server, |db, _url| async move {
        caravan_store::migrate(&db).await.expect("migrate");
        checks::assert_campaign_results_survive_breakdown_migration(&db)
            .await
            .expect("breakdown migration keeps results");
    })
    .await
    .expect("test database");
}

#[tokio::test(flavor = "multi_thread")]
async fn entities_match_migrations() {
    let Some(server) = server() else { return };
    let (twin, twin_name, _) = testing::create_mysql_database(&server)
        .await
        .expect("create twin database");
    let result = testing::with_mysql_database(&server, move |db, _url| async move {
        testing::assert_entities_match_schema(&db, &twin)
            .await
            .expect("compare schemas");
        twin.close().await.expect("close twin");
    })
    .await;
    testing::drop_mysql_database(&server, &twin_name)
        .await
        .expect("drop twin database");
    result.expect("test database");
}

#[tokio::test(flavor = "multi_thread")]
async fn tables_are_innodb_utf8mb4_bin_with_microsecond_utc_datetimes() {
    use caravan_store::sea_orm::{ConnectionTrait, Statement};

    let Some(server) = server() else { return };
    testing::with_mysql_database(&server, |db, _url| async move {
        let backend = db.get_database_backend();
        let rows = db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT CAST(TABLE_NAME AS CHAR) AS t, CAST(ENGINE AS CHAR) AS e, \
                 CAST(TABLE_COLLATION AS CHAR) AS c FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME <> 'seaql_migrations'",
            ))
            .await
            .expect("list tables");
        assert_eq!(rows.len(), caravan_store::TABLES.len());
        for r in rows {
            let t: String = r.try_get("", "t").expect("t");
            assert_eq!(r.try_get::<String>("", "e").expect("e"), "InnoDB", "{t}");
            assert_eq!(
                r.try_get::<String>("", "c").expect("c"),
                "utf8mb4_bin",
                "{t}"
            );
        }
        let coarse = db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT CAST(CONCAT(TABLE_NAME, '.', COLUMN_NAME) AS CHAR) AS c \
                 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
                 AND TABLE_NAME <> 'seaql_migrations' \
                 AND (DATA_TYPE = 'timestamp' OR (DATA_TYPE = 'datetime' AND DATETIME_PRECISION <> 6))",
            ))
            .await
            .expect("list time columns");
        let coarse: Vec<String> = coarse
            .iter()
            .map(|r| r.try_get("", "c").expect("c"))
            .collect();
        assert!(coarse.is_empty(), "not DATETIME(6): {coarse:?}");
    })
    .await
    .expect("test database");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_migrations_from_separate_pools_are_serialised() {
    let Some(server) = server() else { return };
    testing::with_empty_mysql_database(&server, |_db, url| async move {
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let url = url.clone();
            tasks.push(tokio::spawn(async move {
                let db = caravan_store::connect(&url, 2).await.expect("connect");
                caravan_store::migrate(&db)
                    .await
                    .expect("concurrent migrate");
                db.close().await.expect("close");
            }));
        }
        for t in tasks {
            t.await.expect("migration task");
        }
        let db = caravan_store::connect(&url, 2).await.expect("connect");
        checks::assert_migrate_is_idempotent(&db)
            .await
            .expect("schema complete");
        db.close().await.expect("close");
    })
    .await
    .expect("test database");
}

#[tokio::test]
async fn connection_errors_do_not_leak_the_password() {
    let Some(server) = server() else { return };
    let bad = caravan_store::with_database(&server, Some("caravan_test_missing")).replacen(
        "://caravan:caravan@",
        "://caravan:not-the-password-xyz@",
        1,
    );
    let err = caravan_store::connect(&bad, 1)
        .await
        .expect_err("wrong password must fail");
    let msg = format!("{err} {err:?}");
    assert!(!msg.contains("not-the-password-xyz"), "{msg}");
}
