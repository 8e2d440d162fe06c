//! Ingestion: `merchants.identity_version` counts the changes to which customers exist and
//! where merged ones point (merges and erasures). An ingestion batch reads it under a shared
//! lock, so a merge or an erasure waits for the batches in flight and the batches after it
//! see the new version; a replica's memory of resolved customer ids is valid while the
//! version it was learned at is current.

use sea_orm_migration::prelude::*;

use super::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Merchants {
    Table,
    IdentityVersion,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_column(
            manager,
            Merchants::Table,
            big(Merchants::IdentityVersion).default(0).take(),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_column(manager, Merchants::Table, Merchants::IdentityVersion).await
    }
}
