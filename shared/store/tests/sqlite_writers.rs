//! Concurrent read-then-write transactions on the embedded SQLite store all succeed (none is
//! refused with "database is locked").

use caravan_store::entity::merchants;
use caravan_store::sea_orm::{ActiveModelTrait, EntityTrait, Set, TransactionTrait};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_read_modify_write_transactions_all_commit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/store.sqlite?mode=rwc", dir.path().display());
    let db = caravan_store::connect(&url, 8).await.expect("connect");
    caravan_store::migrate(&db).await.expect("migrate");
    let now = caravan_store::now();
    merchants::ActiveModel {
        id: Set("acme".to_owned()),
        display_name: Set("0".to_owned()),
        base_currency: Set("EUR".to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
        identity_version: Set(0),
        time_zone: Set(None),
    }
    .insert(&db)
    .await
    .expect("seed");

    let writers: Vec<_> = (0..16)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move {
                let txn = db.begin().await?;
                let current = merchants::Entity::find_by_id("acme".to_owned())
                    .one(&txn)
                    .await?
                    .expect("seeded");
                tokio::task::yield_now().await;
                let next = current.display_name.parse::<u32>().unwrap_or(0) + 1;
                let mut row: merchants::ActiveModel = current.into();
                row.display_name = Set(next.to_string());
                row.update(&txn).await?;
                txn.commit().await
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("join").expect("every writer commits");
    }
    let final_row = merchants::Entity::find_by_id("acme".to_owned())
        .one(&db)
        .await
        .expect("read")
        .expect("row");
    assert_eq!(final_row.display_name, "16", "no lost update");
}
