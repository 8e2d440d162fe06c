//! Marketing, second step: campaigns can belong to an experiment (its variants), and
//! campaign results can be broken down by segment, so a campaign sent to all customers
//! still teaches each segment's response rate.
//!
//! `campaign_results` gets `segment_id` in its primary key. Primary keys cannot be altered
//! in SQLite, so the table is rebuilt: a new table, the rows copied (segment `""`, which
//! means "the campaign's own target"), the old table dropped and the new one renamed.

use sea_orm_migration::prelude::*;

use super::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Campaigns {
    Table,
    MerchantId,
    Id,
    Experiment,
}

#[derive(DeriveIden)]
enum CampaignResults {
    Table,
    MerchantId,
    CampaignId,
    SegmentId,
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

/// The rebuilt table before it takes the old name.
#[derive(DeriveIden)]
enum CampaignResultsNext {
    Table,
}

const COPIED: &str = "merchant_id, campaign_id, bucket_start, bucket_seconds, impressions, \
                      clicks, conversions, revenue_minor, spend_minor, currency, updated_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_column(
            manager,
            Campaigns::Table,
            varchar_null(Campaigns::Experiment, ID_LEN),
        )
        .await?;
        manager
            .create_index(
                index(
                    "idx_campaigns_experiment",
                    Campaigns::Table,
                    [Campaigns::MerchantId, Campaigns::Experiment],
                )
                .if_not_exists()
                .take(),
            )
            .await?;
        let t = Types::of(manager);
        let mut next = Table::create()
            .table(CampaignResultsNext::Table)
            .col(id(CampaignResults::MerchantId))
            .col(id(CampaignResults::CampaignId))
            .col(
                varchar(CampaignResults::SegmentId, ID_LEN)
                    .default("")
                    .take(),
            )
            .col(t.ts(CampaignResults::BucketStart))
            .primary_key(&mut pk([
                CampaignResults::MerchantId,
                CampaignResults::CampaignId,
                CampaignResults::SegmentId,
                CampaignResults::BucketStart,
            ]))
            .take();
        result_columns(&mut next, t);
        next.foreign_key(
            ForeignKey::create()
                // Constraint names are per database in MySQL; the old table still holds
                // `fk_campaign_results_campaign` while the rows are copied.
                .name("fk_campaign_results_by_segment_campaign")
                .from_tbl(CampaignResultsNext::Table)
                .from_col(CampaignResults::MerchantId)
                .from_col(CampaignResults::CampaignId)
                .to_tbl(Campaigns::Table)
                .to_col(Campaigns::MerchantId)
                .to_col(Campaigns::Id)
                .on_delete(ForeignKeyAction::Cascade)
                .on_update(ForeignKeyAction::Cascade),
        );
        create_table(manager, next, vec![]).await?;
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "INSERT INTO campaign_results_next (segment_id, {COPIED}) \
                 SELECT '', {COPIED} FROM campaign_results"
            ))
            .await?;
        drop_tables(manager, [CampaignResults::Table]).await?;
        manager
            .rename_table(
                Table::rename()
                    .table(CampaignResultsNext::Table, CampaignResults::Table)
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Back to one row per bucket: the segment breakdown is summed.
        let t = Types::of(manager);
        let mut previous = Table::create()
            .table(CampaignResultsNext::Table)
            .col(id(CampaignResults::MerchantId))
            .col(id(CampaignResults::CampaignId))
            .col(t.ts(CampaignResults::BucketStart))
            .primary_key(&mut pk([
                CampaignResults::MerchantId,
                CampaignResults::CampaignId,
                CampaignResults::BucketStart,
            ]))
            .take();
        result_columns(&mut previous, t);
        previous.foreign_key(
            ForeignKey::create()
                .name("fk_campaign_results_campaign_v1")
                .from_tbl(CampaignResultsNext::Table)
                .from_col(CampaignResults::MerchantId)
                .from_col(CampaignResults::CampaignId)
                .to_tbl(Campaigns::Table)
                .to_col(Campaigns::MerchantId)
                .to_col(Campaigns::Id)
                .on_delete(ForeignKeyAction::Cascade)
                .on_update(ForeignKeyAction::Cascade),
        );
        create_table(manager, previous, vec![]).await?;
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO campaign_results_next (merchant_id, campaign_id, bucket_start, \
                 bucket_seconds, impressions, clicks, conversions, revenue_minor, spend_minor, \
                 currency, updated_at) \
                 SELECT merchant_id, campaign_id, bucket_start, MAX(bucket_seconds), \
                 SUM(impressions), SUM(clicks), SUM(conversions), SUM(revenue_minor), \
                 SUM(spend_minor), MAX(currency), MAX(updated_at) FROM campaign_results \
                 GROUP BY merchant_id, campaign_id, bucket_start",
            )
            .await?;
        drop_tables(manager, [CampaignResults::Table]).await?;
        manager
            .rename_table(
                Table::rename()
                    .table(CampaignResultsNext::Table, CampaignResults::Table)
                    .take(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_campaigns_experiment")
                    .table(Campaigns::Table)
                    .to_owned(),
            )
            .await?;
        drop_column(manager, Campaigns::Table, Campaigns::Experiment).await
    }
}

/// The measured columns, the same in both shapes of the table.
fn result_columns(table: &mut TableCreateStatement, t: Types) {
    table
        .col(int(CampaignResults::BucketSeconds))
        .col(big(CampaignResults::Impressions))
        .col(big(CampaignResults::Clicks))
        .col(big(CampaignResults::Conversions))
        .col(big(CampaignResults::RevenueMinor))
        .col(big(CampaignResults::SpendMinor))
        .col(currency(CampaignResults::Currency))
        .col(t.ts(CampaignResults::UpdatedAt));
}
