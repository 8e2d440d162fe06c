//! Profiling: profiles, tags and their history, segments, value models, rebuild jobs.
//!
//! `profiles` keeps the per-dimension detail in a JSON document but lifts the fields that
//! list/filter/analytics queries use (segment, stage, country, RFM, value) into indexed
//! columns. `version` increments on every write for optimistic concurrency.

use sea_orm_migration::prelude::*;

use super::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Profiles {
    Table,
    MerchantId,
    CustomerId,
    Kind,
    Country,
    Dimensions,
    Completeness,
    RfmRecency,
    RfmFrequency,
    RfmMonetary,
    RfmSegment,
    DecisionStage,
    StageEvidence,
    PAlive,
    ExpectedPurchases,
    ExpectedSpendMinor,
    ClvMinor,
    Currency,
    Version,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CustomerTags {
    Table,
    MerchantId,
    CustomerId,
    TagKey,
    Value,
    Source,
    Confidence,
    EvidenceCount,
    FirstSeen,
    LastSeen,
}

#[derive(DeriveIden)]
enum TagHistory {
    Table,
    Id,
    MerchantId,
    CustomerId,
    TagKey,
    Action,
    OldValue,
    NewValue,
    Source,
    Confidence,
    OccurredAt,
}

#[derive(DeriveIden)]
enum Segments {
    Table,
    MerchantId,
    Id,
    DisplayName,
    Filter,
    Builtin,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ValueModels {
    Table,
    MerchantId,
    Id,
    Kind,
    Params,
    LogLikelihood,
    CalibrationEnd,
    HoldoutEnd,
    CreatedAt,
}

#[derive(DeriveIden)]
enum RebuildJobs {
    Table,
    MerchantId,
    Id,
    State,
    Progress,
    Processed,
    Total,
    Error,
    CreatedAt,
    StartedAt,
    FinishedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let t = Types::of(manager);

        create_table(
            manager,
            Table::create()
                .table(Profiles::Table)
                .col(id(Profiles::MerchantId))
                .col(id(Profiles::CustomerId))
                .col(code(Profiles::Kind))
                .col(country_null(Profiles::Country))
                .col(json(Profiles::Dimensions))
                .col(double(Profiles::Completeness))
                .col(small_null(Profiles::RfmRecency))
                .col(small_null(Profiles::RfmFrequency))
                .col(small_null(Profiles::RfmMonetary))
                .col(code_null(Profiles::RfmSegment))
                .col(code_null(Profiles::DecisionStage))
                .col(json_null(Profiles::StageEvidence))
                .col(double_null(Profiles::PAlive))
                .col(double_null(Profiles::ExpectedPurchases))
                .col(big_null(Profiles::ExpectedSpendMinor))
                .col(big_null(Profiles::ClvMinor))
                .col(currency_null(Profiles::Currency))
                .col(big(Profiles::Version))
                .col(t.ts(Profiles::UpdatedAt))
                .primary_key(&mut pk([Profiles::MerchantId, Profiles::CustomerId]))
                .take(),
            vec![
                index(
                    "idx_profiles_segment",
                    Profiles::Table,
                    [Profiles::MerchantId, Profiles::RfmSegment],
                ),
                index(
                    "idx_profiles_stage",
                    Profiles::Table,
                    [Profiles::MerchantId, Profiles::DecisionStage],
                ),
                index(
                    "idx_profiles_country",
                    Profiles::Table,
                    [Profiles::MerchantId, Profiles::Country],
                ),
            ],
        )
        .await?;

        create_tag_tables(manager).await?;

        create_table(
            manager,
            Table::create()
                .table(Segments::Table)
                .col(id(Segments::MerchantId))
                .col(id(Segments::Id))
                .col(varchar(Segments::DisplayName, NAME_LEN))
                .col(text(Segments::Filter))
                .col(boolean(Segments::Builtin))
                .col(t.ts(Segments::CreatedAt))
                .col(t.ts(Segments::UpdatedAt))
                .primary_key(&mut pk([Segments::MerchantId, Segments::Id]))
                .take(),
            vec![],
        )
        .await?;

        create_table(
            manager,
            Table::create()
                .table(ValueModels::Table)
                .col(id(ValueModels::MerchantId))
                .col(id(ValueModels::Id))
                .col(code(ValueModels::Kind))
                .col(json(ValueModels::Params))
                .col(double_null(ValueModels::LogLikelihood))
                .col(date(ValueModels::CalibrationEnd))
                .col(date_null(ValueModels::HoldoutEnd))
                .col(t.ts(ValueModels::CreatedAt))
                .primary_key(&mut pk([ValueModels::MerchantId, ValueModels::Id]))
                .take(),
            vec![index(
                "idx_value_models_kind_created",
                ValueModels::Table,
                [
                    ValueModels::MerchantId,
                    ValueModels::Kind,
                    ValueModels::CreatedAt,
                ],
            )],
        )
        .await?;

        create_table(
            manager,
            Table::create()
                .table(RebuildJobs::Table)
                .col(id(RebuildJobs::MerchantId))
                .col(id(RebuildJobs::Id))
                .col(code(RebuildJobs::State))
                .col(double(RebuildJobs::Progress))
                .col(big(RebuildJobs::Processed))
                .col(big_null(RebuildJobs::Total))
                .col(text_null(RebuildJobs::Error))
                .col(t.ts(RebuildJobs::CreatedAt))
                .col(t.ts_null(RebuildJobs::StartedAt))
                .col(t.ts_null(RebuildJobs::FinishedAt))
                .col(t.ts(RebuildJobs::UpdatedAt))
                .primary_key(&mut pk([RebuildJobs::MerchantId, RebuildJobs::Id]))
                .take(),
            vec![index(
                "idx_rebuild_jobs_state",
                RebuildJobs::Table,
                [RebuildJobs::MerchantId, RebuildJobs::State],
            )],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            [
                RebuildJobs::Table.into_iden(),
                ValueModels::Table.into_iden(),
                Segments::Table.into_iden(),
                TagHistory::Table.into_iden(),
                CustomerTags::Table.into_iden(),
                Profiles::Table.into_iden(),
            ],
        )
        .await
    }
}

/// The tag tables as this migration created them (also used by the down migration of
/// `m20261123_000010_profiling_portraits`, which reshapes them).
pub(super) async fn create_tag_tables(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let t = Types::of(manager);
    create_table(
        manager,
        Table::create()
            .table(CustomerTags::Table)
            .col(id(CustomerTags::MerchantId))
            .col(id(CustomerTags::CustomerId))
            .col(varchar(CustomerTags::TagKey, ID_LEN))
            .col(varchar(CustomerTags::Value, NAME_LEN))
            .col(code(CustomerTags::Source))
            .col(double(CustomerTags::Confidence))
            .col(int(CustomerTags::EvidenceCount))
            .col(t.ts(CustomerTags::FirstSeen))
            .col(t.ts(CustomerTags::LastSeen))
            .primary_key(&mut pk([
                CustomerTags::MerchantId,
                CustomerTags::CustomerId,
                CustomerTags::TagKey,
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
            .col(varchar(TagHistory::TagKey, ID_LEN))
            .col(code(TagHistory::Action))
            .col(varchar_null(TagHistory::OldValue, NAME_LEN))
            .col(varchar_null(TagHistory::NewValue, NAME_LEN))
            .col(code(TagHistory::Source))
            .col(double_null(TagHistory::Confidence))
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
    .await
}
