//! Marketing: strategies, campaigns and their bucketed results, Beta posteriors per
//! strategy x segment, the contact log (frequency caps) and per-merchant response priors.

use sea_orm_migration::prelude::*;

use super::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Strategies {
    Table,
    MerchantId,
    Id,
    DisplayName,
    Kind,
    Params,
    FixedCostMinor,
    VariableCostShare,
    CostCurrency,
    Eligibility,
    FrequencyCapMax,
    FrequencyCapPeriodSeconds,
    State,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Campaigns {
    Table,
    MerchantId,
    Id,
    DisplayName,
    StrategyId,
    Variant,
    Channel,
    SegmentId,
    State,
    BudgetMinor,
    Currency,
    StartedAt,
    EndedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CampaignResults {
    Table,
    MerchantId,
    CampaignId,
    BucketStart,
    BucketSeconds,
    Impressions,
    Clicks,
    Conversions,
    RevenueMinor,
    SpendMinor,
    Currency,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum StrategyPosteriors {
    Table,
    MerchantId,
    StrategyId,
    SegmentId,
    Alpha,
    Beta,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ContactLog {
    Table,
    Id,
    MerchantId,
    CustomerId,
    StrategyId,
    CampaignId,
    Channel,
    ContactedAt,
}

#[derive(DeriveIden)]
enum ResponsePriors {
    Table,
    MerchantId,
    Priors,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let t = Types::of(manager);

        create_table(
            manager,
            Table::create()
                .table(Strategies::Table)
                .col(id(Strategies::MerchantId))
                .col(id(Strategies::Id))
                .col(varchar(Strategies::DisplayName, NAME_LEN))
                .col(code(Strategies::Kind))
                .col(json(Strategies::Params))
                .col(big(Strategies::FixedCostMinor))
                .col(double(Strategies::VariableCostShare))
                .col(currency(Strategies::CostCurrency))
                .col(json(Strategies::Eligibility))
                .col(int_null(Strategies::FrequencyCapMax))
                .col(big_null(Strategies::FrequencyCapPeriodSeconds))
                .col(code(Strategies::State))
                .col(t.ts(Strategies::CreatedAt))
                .col(t.ts(Strategies::UpdatedAt))
                .primary_key(&mut pk([Strategies::MerchantId, Strategies::Id]))
                .take(),
            vec![index(
                "idx_strategies_state",
                Strategies::Table,
                [Strategies::MerchantId, Strategies::State],
            )],
        )
        .await?;

        create_table(
            manager,
            Table::create()
                .table(Campaigns::Table)
                .col(id(Campaigns::MerchantId))
                .col(id(Campaigns::Id))
                .col(varchar(Campaigns::DisplayName, NAME_LEN))
                .col(id(Campaigns::StrategyId))
                .col(varchar_null(Campaigns::Variant, 64))
                .col(code(Campaigns::Channel))
                .col(id_null(Campaigns::SegmentId))
                .col(code(Campaigns::State))
                .col(big_null(Campaigns::BudgetMinor))
                .col(currency(Campaigns::Currency))
                .col(t.ts_null(Campaigns::StartedAt))
                .col(t.ts_null(Campaigns::EndedAt))
                .col(t.ts(Campaigns::CreatedAt))
                .col(t.ts(Campaigns::UpdatedAt))
                .primary_key(&mut pk([Campaigns::MerchantId, Campaigns::Id]))
                .take(),
            vec![index(
                "idx_campaigns_strategy",
                Campaigns::Table,
                [Campaigns::MerchantId, Campaigns::StrategyId],
            )],
        )
        .await?;

        create_table(
            manager,
            Table::create()
                .table(CampaignResults::Table)
                .col(id(CampaignResults::MerchantId))
                .col(id(CampaignResults::CampaignId))
                .col(t.ts(CampaignResults::BucketStart))
                .col(int(CampaignResults::BucketSeconds))
                .col(big(CampaignResults::Impressions))
                .col(big(CampaignResults::Clicks))
                .col(big(CampaignResults::Conversions))
                .col(big(CampaignResults::RevenueMinor))
                .col(big(CampaignResults::SpendMinor))
                .col(currency(CampaignResults::Currency))
                .col(t.ts(CampaignResults::UpdatedAt))
                .primary_key(&mut pk([
                    CampaignResults::MerchantId,
                    CampaignResults::CampaignId,
                    CampaignResults::BucketStart,
                ]))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_campaign_results_campaign")
                        .from_tbl(CampaignResults::Table)
                        .from_col(CampaignResults::MerchantId)
                        .from_col(CampaignResults::CampaignId)
                        .to_tbl(Campaigns::Table)
                        .to_col(Campaigns::MerchantId)
                        .to_col(Campaigns::Id)
                        .on_delete(ForeignKeyAction::Cascade)
                        .on_update(ForeignKeyAction::Cascade),
                )
                .take(),
            vec![],
        )
        .await?;

        create_table(
            manager,
            Table::create()
                .table(StrategyPosteriors::Table)
                .col(id(StrategyPosteriors::MerchantId))
                .col(id(StrategyPosteriors::StrategyId))
                .col(id(StrategyPosteriors::SegmentId))
                .col(double(StrategyPosteriors::Alpha))
                .col(double(StrategyPosteriors::Beta))
                .col(t.ts(StrategyPosteriors::UpdatedAt))
                .primary_key(&mut pk([
                    StrategyPosteriors::MerchantId,
                    StrategyPosteriors::StrategyId,
                    StrategyPosteriors::SegmentId,
                ]))
                .take(),
            vec![],
        )
        .await?;

        create_table(
            manager,
            Table::create()
                .table(ContactLog::Table)
                .col(seq_pk(ContactLog::Id))
                .col(id(ContactLog::MerchantId))
                .col(id(ContactLog::CustomerId))
                .col(id(ContactLog::StrategyId))
                .col(id_null(ContactLog::CampaignId))
                .col(code_null(ContactLog::Channel))
                .col(t.ts(ContactLog::ContactedAt))
                .take(),
            vec![index(
                "idx_contact_log_customer_time",
                ContactLog::Table,
                [
                    ContactLog::MerchantId,
                    ContactLog::CustomerId,
                    ContactLog::ContactedAt,
                ],
            )],
        )
        .await?;

        create_table(
            manager,
            Table::create()
                .table(ResponsePriors::Table)
                .col(id(ResponsePriors::MerchantId).primary_key())
                .col(json(ResponsePriors::Priors))
                .col(t.ts(ResponsePriors::UpdatedAt))
                .take(),
            vec![],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            [
                ResponsePriors::Table.into_iden(),
                ContactLog::Table.into_iden(),
                StrategyPosteriors::Table.into_iden(),
                CampaignResults::Table.into_iden(),
                Campaigns::Table.into_iden(),
                Strategies::Table.into_iden(),
            ],
        )
        .await
    }
}
