//! Profiling, second step: tags keyed by (key, value) instead of key alone, so a customer
//! can carry several values of one key ("interest: beauty" and "interest: toys"), with
//! producer, note and a richer history; segment descriptions; the raw social influence
//! that profiles are ranked by; rebuild job options and failure counts.
//!
//! `customer_tags` and `tag_history` held no data yet (nothing wrote them before this
//! migration), so they are recreated rather than altered.

use sea_orm_migration::prelude::*;

use super::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CustomerTags {
    Table,
    MerchantId,
    CustomerId,
    TagId,
    TagKey,
    Value,
    Source,
    Confidence,
    EvidenceCount,
    Producer,
    Note,
    FirstSeen,
    LastSeen,
}

#[derive(DeriveIden)]
enum TagHistory {
    Table,
    Id,
    MerchantId,
    CustomerId,
    TagId,
    TagKey,
    Value,
    Action,
    Source,
    Confidence,
    EvidenceCount,
    Reason,
    Actor,
    OccurredAt,
}

#[derive(DeriveIden)]
enum Profiles {
    Table,
    InfluenceRaw,
}

#[derive(DeriveIden)]
enum Segments {
    Table,
    Description,
}

#[derive(DeriveIden)]
enum RebuildJobs {
    Table,
    Options,
    Failed,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let t = Types::of(manager);
        drop_tables(
            manager,
            [
                TagHistory::Table.into_iden(),
                CustomerTags::Table.into_iden(),
            ],
        )
        .await?;
        create_table(
            manager,
            Table::create()
                .table(CustomerTags::Table)
                .col(id(CustomerTags::MerchantId))
                .col(id(CustomerTags::CustomerId))
                .col(varchar(CustomerTags::TagId, KEY_LEN))
                .col(varchar(CustomerTags::TagKey, ID_LEN))
                .col(varchar(CustomerTags::Value, NAME_LEN))
                .col(code(CustomerTags::Source))
                .col(double(CustomerTags::Confidence))
                .col(int(CustomerTags::EvidenceCount))
                .col(varchar_null(CustomerTags::Producer, ID_LEN))
                .col(text_null(CustomerTags::Note))
                .col(t.ts(CustomerTags::FirstSeen))
                .col(t.ts(CustomerTags::LastSeen))
                .primary_key(&mut pk([
                    CustomerTags::MerchantId,
                    CustomerTags::CustomerId,
                    CustomerTags::TagId,
                ]))
                .take(),
            vec![index(
                "idx_customer_tags_key_value",
                CustomerTags::Table,
                [
                    CustomerTags::MerchantId,
                    CustomerTags::TagKey,
                    CustomerTags::Value,
                ],
            )],
        )
        .await?;
        create_table(
            manager,
            Table::create()
                .table(TagHistory::Table)
                .col(seq_pk(TagHistory::Id))
                .col(id(TagHistory::MerchantId))
                .col(id(TagHistory::CustomerId))
                .col(varchar(TagHistory::TagId, KEY_LEN))
                .col(varchar(TagHistory::TagKey, ID_LEN))
                .col(varchar(TagHistory::Value, NAME_LEN))
                .col(code(TagHistory::Action))
                .col(code(TagHistory::Source))
                .col(double(TagHistory::Confidence))
                .col(int(TagHistory::EvidenceCount))
                .col(text_null(TagHistory::Reason))
                .col(varchar_null(TagHistory::Actor, NAME_LEN))
                .col(t.ts(TagHistory::OccurredAt))
                .take(),
            vec![index(
                "idx_tag_history_customer_time",
                TagHistory::Table,
                [
                    TagHistory::MerchantId,
                    TagHistory::CustomerId,
                    TagHistory::OccurredAt,
                ],
            )],
        )
        .await?;
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        add_column(
            manager,
            Profiles::Table,
            double_null(Profiles::InfluenceRaw),
        )
        .await?;
        add_column(manager, Segments::Table, text_null(Segments::Description)).await?;
        add_column(manager, RebuildJobs::Table, json_null(RebuildJobs::Options)).await?;
        add_column(manager, RebuildJobs::Table, big_null(RebuildJobs::Failed)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_column(manager, RebuildJobs::Table, RebuildJobs::Failed).await?;
        drop_column(manager, RebuildJobs::Table, RebuildJobs::Options).await?;
        drop_column(manager, Segments::Table, Segments::Description).await?;
        drop_column(manager, Profiles::Table, Profiles::InfluenceRaw).await?;
        // The tag tables go back to their first shape (empty), as the first migration
        // created them.
        drop_tables(
            manager,
            [
                TagHistory::Table.into_iden(),
                CustomerTags::Table.into_iden(),
            ],
        )
        .await?;
        super::m20261123_000004_profiling::create_tag_tables(manager).await
    }
}
