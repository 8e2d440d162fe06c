//! Erasure that sticks: tombstones of erased customers, which customers each stored
//! recommendation model was trained on (so erasure finds the models to drop without
//! decoding them), and the serving models erasure dropped, for the recommendation service to
//! retrain.

use sea_orm_migration::prelude::*;

use super::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ErasedCustomers {
    Table,
    Seq,
    MerchantId,
    CustomerHash,
    ErasedAt,
    ErasedBy,
}

#[derive(DeriveIden)]
enum RecModelCustomers {
    Table,
    MerchantId,
    Version,
    CustomerId,
}

#[derive(DeriveIden)]
enum RecModelPurges {
    Table,
    MerchantId,
    Version,
    TrainingJobId,
    PurgedAt,
    ClaimedBy,
    ClaimedAt,
}

/// HMAC-SHA256 in hex.
const HASH_HEX_LEN: u32 = 64;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let t = Types::of(manager);
        create_table(
            manager,
            Table::create()
                .table(ErasedCustomers::Table)
                .col(seq_pk(ErasedCustomers::Seq))
                .col(id(ErasedCustomers::MerchantId))
                .col(varchar(ErasedCustomers::CustomerHash, HASH_HEX_LEN))
                .col(t.ts(ErasedCustomers::ErasedAt))
                .col(id(ErasedCustomers::ErasedBy))
                .take(),
            vec![unique(
                "erased_customers_hash",
                ErasedCustomers::Table,
                [ErasedCustomers::MerchantId, ErasedCustomers::CustomerHash],
            )],
        )
        .await?;
        create_table(
            manager,
            Table::create()
                .table(RecModelCustomers::Table)
                .col(id(RecModelCustomers::MerchantId))
                .col(big(RecModelCustomers::Version))
                .col(id(RecModelCustomers::CustomerId))
                .primary_key(&mut pk([
                    RecModelCustomers::MerchantId,
                    RecModelCustomers::CustomerId,
                    RecModelCustomers::Version,
                ]))
                .take(),
            vec![index(
                "rec_model_customers_version",
                RecModelCustomers::Table,
                [RecModelCustomers::MerchantId, RecModelCustomers::Version],
            )],
        )
        .await?;
        create_table(
            manager,
            Table::create()
                .table(RecModelPurges::Table)
                .col(id(RecModelPurges::MerchantId))
                .col(big(RecModelPurges::Version))
                .col(id_null(RecModelPurges::TrainingJobId))
                .col(t.ts(RecModelPurges::PurgedAt))
                .col(varchar_null(RecModelPurges::ClaimedBy, KEY_LEN))
                .col(t.ts_null(RecModelPurges::ClaimedAt))
                .primary_key(&mut pk([
                    RecModelPurges::MerchantId,
                    RecModelPurges::Version,
                ]))
                .take(),
            vec![],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            [
                RecModelPurges::Table.into_iden(),
                RecModelCustomers::Table.into_iden(),
                ErasedCustomers::Table.into_iden(),
            ],
        )
        .await
    }
}
