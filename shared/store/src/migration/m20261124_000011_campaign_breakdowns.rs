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
        // Constraint names are per database in MySQL; the old table still holds
        // `fk_campaign_results_campaign` while the rows are copied.
        create_table(
            manager,
            results_table(
                Types::of(manager),
                true,
                "fk_campaign_results_by_segment_campaign",
            ),
            vec![],
        )
        .await?;
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
        // Back to one row per bucket: the bucket's total row where it has one, else the sum
        // of its segment rows (the rule reports follow).
        create_table(
            manager,
            results_table(Types::of(manager), false, "fk_campaign_results_campaign_v1"),
            vec![],
        )
        .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO campaign_results_next (merchant_id, campaign_id, bucket_start, \
                 bucket_seconds, impressions, clicks, conversions, revenue_minor, spend_minor, \
                 currency, updated_at) \
                 SELECT merchant_id, campaign_id, bucket_start, MAX(bucket_seconds), \
                 SUM(impressions), SUM(clicks), SUM(conversions), SUM(revenue_minor), \
                 SUM(spend_minor), MAX(currency), MAX(updated_at) FROM campaign_results r \
                 WHERE segment_id = '' OR NOT EXISTS (SELECT 1 FROM campaign_results t \
                 WHERE t.merchant_id = r.merchant_id AND t.campaign_id = r.campaign_id \
                 AND t.bucket_start = r.bucket_start AND t.segment_id = '') \
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

/// `campaign_results` as `campaign_results_next`, keyed by segment too or not (the shape
/// before this migration), with its foreign key to `campaigns` named `fk`.
fn results_table(t: Types, by_segment: bool, fk: &str) -> TableCreateStatement {
    let mut table = Table::create();
    table
        .table(CampaignResultsNext::Table)
        .col(id(CampaignResults::MerchantId))
        .col(id(CampaignResults::CampaignId));
    let mut key = vec![CampaignResults::MerchantId, CampaignResults::CampaignId];
    if by_segment {
        table.col(
            varchar(CampaignResults::SegmentId, ID_LEN)
                .default("")
                .take(),
        );
        key.push(CampaignResults::SegmentId);
    }
    key.push(CampaignResults::BucketStart);
    table
        .col(t.ts(CampaignResults::BucketStart))
        .col(int(CampaignResults::BucketSeconds))
        .col(big(CampaignResults::Impressions))
        .col(big(CampaignResults::Clicks))
        .col(big(CampaignResults::Conversions))
        .col(big(CampaignResults::RevenueMinor))
        .col(big(CampaignResults::SpendMinor))
        .col(currency(CampaignResults::Currency))
        .col(t.ts(CampaignResults::UpdatedAt))
        .primary_key(&mut pk(key))
        .foreign_key(
            ForeignKey::create()
                .name(fk)
                .from_tbl(CampaignResultsNext::Table)
                .from_col(CampaignResults::MerchantId)
                .from_col(CampaignResults::CampaignId)
                .to_tbl(Campaigns::Table)
                .to_col(Campaigns::MerchantId)
                .to_col(Campaigns::Id)
                .on_delete(ForeignKeyAction::Cascade)
                .on_update(ForeignKeyAction::Cascade),
        );
    table
}
