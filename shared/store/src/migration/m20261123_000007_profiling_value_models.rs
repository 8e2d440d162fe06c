//! Profiling: value models get a lifecycle. Fitting runs in the background, so a model has
//! a state (FITTING, READY, FAILED), an error message, a fit time and a "current" flag (the
//! one model per merchant that profiles use). The fitted parameters, holdout metrics and
//! fit settings (time unit, discount rate, CLV horizon) live in the `params` JSON document.
//!
//! `value_models` held no data yet (nothing wrote it before this migration), so it is
//! recreated rather than altered; the down migration restores the first shape (empty).

use sea_orm_migration::prelude::*;

use super::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ValueModels {
    Table,
    MerchantId,
    Id,
    Kind,
    State,
    IsCurrent,
    Params,
    LogLikelihood,
    CalibrationEnd,
    HoldoutEnd,
    ErrorMessage,
    CreatedAt,
    FitTime,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let t = Types::of(manager);
        drop_tables(manager, [ValueModels::Table]).await?;
        create_table(
            manager,
            Table::create()
                .table(ValueModels::Table)
                .col(id(ValueModels::MerchantId))
                .col(id(ValueModels::Id))
                .col(code(ValueModels::Kind))
                .col(code(ValueModels::State))
                .col(boolean(ValueModels::IsCurrent))
                .col(json(ValueModels::Params))
                .col(double_null(ValueModels::LogLikelihood))
                .col(date(ValueModels::CalibrationEnd))
                .col(date_null(ValueModels::HoldoutEnd))
                .col(text_null(ValueModels::ErrorMessage))
                .col(t.ts(ValueModels::CreatedAt))
                .col(t.ts_null(ValueModels::FitTime))
                .primary_key(&mut pk([ValueModels::MerchantId, ValueModels::Id]))
                .take(),
            vec![
                // ListValueModels: newest first within a merchant.
                index(
                    "idx_value_models_merchant_created",
                    ValueModels::Table,
                    [
                        ValueModels::MerchantId,
                        ValueModels::CreatedAt,
                        ValueModels::Id,
                    ],
                ),
                // load_current: the merchant's current model.
                index(
                    "idx_value_models_merchant_current",
                    ValueModels::Table,
                    [ValueModels::MerchantId, ValueModels::IsCurrent],
                ),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let t = Types::of(manager);
        drop_tables(manager, [ValueModels::Table]).await?;
        // The first shape, as m20261123_000004_profiling created it.
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
        .await
    }
}
