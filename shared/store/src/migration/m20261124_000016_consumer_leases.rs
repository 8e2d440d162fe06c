//! Profiling: an outbox consumer holds a lease on its row of `consumer_offsets`, so that of
//! several replicas one consumes at a time and the others stand by
//! (`crate::consumer_lease`).

use sea_orm_migration::prelude::*;

use super::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ConsumerOffsets {
    Table,
    LeaseOwner,
    LeaseUntil,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let t = Types::of(manager);
        add_column(
            manager,
            ConsumerOffsets::Table,
            varchar_null(ConsumerOffsets::LeaseOwner, KEY_LEN),
        )
        .await?;
        add_column(
            manager,
            ConsumerOffsets::Table,
            t.ts_null(ConsumerOffsets::LeaseUntil),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_column(manager, ConsumerOffsets::Table, ConsumerOffsets::LeaseUntil).await?;
        drop_column(manager, ConsumerOffsets::Table, ConsumerOffsets::LeaseOwner).await
    }
}
