//! The W3C `traceparent` of the call that wrote an outbox row, so that the profile update
//! the row causes continues the caller's trace instead of starting a new one.

use sea_orm_migration::prelude::*;

use super::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Outbox {
    Table,
    TraceParent,
}

/// `00-<32 hex>-<16 hex>-<2 hex>` is 55 characters; room for a later version's fields.
const TRACE_PARENT_LEN: u32 = 64;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_column(
            manager,
            Outbox::Table,
            varchar_null(Outbox::TraceParent, TRACE_PARENT_LEN),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_column(manager, Outbox::Table, Outbox::TraceParent).await
    }
}
