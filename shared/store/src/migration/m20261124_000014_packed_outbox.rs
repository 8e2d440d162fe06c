//! Ingestion writes one outbox row per batch instead of one per event: the row's `entries`
//! lists every event the transaction stored (`crate::outbox_entries`) and `entry_count`
//! says how many, so the consumer can size its polls without reading the lists. Rows of
//! other kinds (merges, erasures) keep `entries` NULL and `entry_count` 1.
//!
//! Rollback turns every packed row back into one row per event (new sequence numbers,
//! after the existing ones) before dropping the columns, so no entry is lost.

use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};
use sea_orm_migration::prelude::*;

use super::schema::*;
use crate::entity::outbox;
use crate::outbox_entries;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Outbox {
    Table,
    EntryCount,
    Entries,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let t = Types::of(manager);
        add_column(
            manager,
            Outbox::Table,
            int(Outbox::EntryCount).default(1).take(),
        )
        .await?;
        add_column(manager, Outbox::Table, t.long_blob_null(Outbox::Entries)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.has_column("outbox", "entries").await? {
            unpack_batches(manager).await?;
        }
        drop_column(manager, Outbox::Table, Outbox::Entries).await?;
        drop_column(manager, Outbox::Table, Outbox::EntryCount).await
    }
}

/// Replaces each packed row by one row per entry, a batch at a time in one transaction.
async fn unpack_batches(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    loop {
        // Only the columns this migration knows: the entity may have grown since.
        let packed: Option<(i64, String, Option<Vec<u8>>, crate::UtcDateTime)> =
            outbox::Entity::find()
                .select_only()
                .column(outbox::Column::Seq)
                .column(outbox::Column::MerchantId)
                .column(outbox::Column::Entries)
                .column(outbox::Column::CreatedAt)
                .filter(outbox::Column::Entries.is_not_null())
                .order_by_asc(outbox::Column::Seq)
                .into_tuple()
                .one(db)
                .await?;
        let Some((seq, merchant_id, Some(bytes), created_at)) = packed else {
            return Ok(());
        };
        let entries = outbox_entries::decode(&bytes).ok_or_else(|| {
            DbErr::Migration(format!("outbox row {seq}: entries are not readable"))
        })?;
        let txn = sea_orm::TransactionTrait::begin(db).await?;
        for entry in entries {
            // Raw SQL with the columns of this migration's time, like the SELECT above.
            txn.execute_raw(Statement::from_sql_and_values(
                txn.get_database_backend(),
                "INSERT INTO outbox (merchant_id, event_id, customer_id, kind, created_at) \
                 VALUES (?, ?, ?, ?, ?)",
                [
                    merchant_id.as_str().into(),
                    entry.event_id.into(),
                    entry.customer_id.into(),
                    entry.kind.into(),
                    created_at.into(),
                ],
            ))
            .await?;
        }
        outbox::Entity::delete_by_id(seq).exec(&txn).await?;
        txn.commit().await?;
    }
}
