//! Recommendation: model versions (with their parameter blobs), training jobs and
//! country/category exclusions.
//!
//! Model versions are numbered per merchant (`version`, monotonically increasing, chosen
//! by the trainer as `max + 1`; a concurrent duplicate is a unique violation). The
//! serving model is the highest `version` in state `ACTIVE`, which the
//! `(merchant_id, state, version)` index answers with one index seek.

use sea_orm_migration::prelude::*;

use super::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RecModels {
    Table,
    MerchantId,
    Version,
    Kind,
    BlendWeights,
    Params,
    Metrics,
    State,
    TrainingJobId,
    CreatedAt,
    ActivatedAt,
}

#[derive(DeriveIden)]
enum TrainingJobs {
    Table,
    MerchantId,
    Id,
    State,
    Progress,
    Options,
    ModelVersion,
    Error,
    CreatedAt,
    StartedAt,
    FinishedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CountryExclusions {
    Table,
    MerchantId,
    Country,
    CategoryPrefix,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let t = Types::of(manager);

        create_table(
            manager,
            Table::create()
                .table(RecModels::Table)
                .col(id(RecModels::MerchantId))
                .col(big(RecModels::Version))
                .col(code(RecModels::Kind))
                .col(json_null(RecModels::BlendWeights))
                .col(t.long_blob(RecModels::Params))
                .col(json(RecModels::Metrics))
                .col(code(RecModels::State))
                .col(id_null(RecModels::TrainingJobId))
                .col(t.ts(RecModels::CreatedAt))
                .col(t.ts_null(RecModels::ActivatedAt))
                .primary_key(&mut pk([RecModels::MerchantId, RecModels::Version]))
                .take(),
            vec![index(
                "idx_rec_models_state_version",
                RecModels::Table,
                [RecModels::MerchantId, RecModels::State, RecModels::Version],
            )],
        )
        .await?;

        create_table(
            manager,
            Table::create()
                .table(TrainingJobs::Table)
                .col(id(TrainingJobs::MerchantId))
                .col(id(TrainingJobs::Id))
                .col(code(TrainingJobs::State))
                .col(double(TrainingJobs::Progress))
                .col(json_null(TrainingJobs::Options))
                .col(big_null(TrainingJobs::ModelVersion))
                .col(text_null(TrainingJobs::Error))
                .col(t.ts(TrainingJobs::CreatedAt))
                .col(t.ts_null(TrainingJobs::StartedAt))
                .col(t.ts_null(TrainingJobs::FinishedAt))
                .col(t.ts(TrainingJobs::UpdatedAt))
                .primary_key(&mut pk([TrainingJobs::MerchantId, TrainingJobs::Id]))
                .take(),
            vec![index(
                "idx_training_jobs_state",
                TrainingJobs::Table,
                [TrainingJobs::MerchantId, TrainingJobs::State],
            )],
        )
        .await?;

        create_table(
            manager,
            Table::create()
                .table(CountryExclusions::Table)
                .col(id(CountryExclusions::MerchantId))
                .col(country(CountryExclusions::Country))
                .col(varchar(CountryExclusions::CategoryPrefix, 512))
                .col(t.ts(CountryExclusions::CreatedAt))
                .primary_key(&mut pk([
                    CountryExclusions::MerchantId,
                    CountryExclusions::Country,
                    CountryExclusions::CategoryPrefix,
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
                CountryExclusions::Table.into_iden(),
                TrainingJobs::Table.into_iden(),
                RecModels::Table.into_iden(),
            ],
        )
        .await
    }
}
