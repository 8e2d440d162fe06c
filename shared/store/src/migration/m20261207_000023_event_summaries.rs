//! What each portrait keeps of its customer's events (profiling's `EventSummary`), so that
//! the outbox consumer applies only a customer's new events instead of reading, opening
//! and decoding their whole history on every change.

use sea_orm_migration::prelude::*;

use super::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ProfileEventSummaries {
    Table,
    MerchantId,
    CustomerId,
    Summary,
    AppliedThrough,
    RebuiltAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let t = Types::of(manager);
        create_table(
            manager,
            Table::create()
                .table(ProfileEventSummaries::Table)
                .col(id(ProfileEventSummaries::MerchantId))
                .col(id(ProfileEventSummaries::CustomerId))
                .col(t.long_blob(ProfileEventSummaries::Summary))
                .col(big(ProfileEventSummaries::AppliedThrough))
                .col(t.ts(ProfileEventSummaries::RebuiltAt))
                .col(t.ts(ProfileEventSummaries::UpdatedAt))
                .primary_key(&mut pk([
                    ProfileEventSummaries::MerchantId,
                    ProfileEventSummaries::CustomerId,
                ]))
                .take(),
            vec![],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, [ProfileEventSummaries::Table.into_iden()]).await
    }
}
