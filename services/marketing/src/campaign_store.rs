//! Campaigns (`campaigns`) and their bucketed results (`campaign_results`).

use caravan_store::entity::{campaign_results, campaigns};
use caravan_store::sea_orm::prelude::*;
use caravan_store::sea_orm::sea_query::OnConflict;
use caravan_store::sea_orm::{
    ActiveValue::Set, Condition, QueryOrder, QuerySelect, TransactionTrait,
};
use caravan_store::{UtcDateTime, now};

use crate::error::MarketingError;
use crate::report::Bucket;

/// What a caller writes for a campaign.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignFields {
    pub display_name: String,
    pub strategy_id: String,
    pub experiment: Option<String>,
    pub variant: Option<String>,
    pub channel: String,
    pub segment_id: Option<String>,
    pub state: String,
    pub budget_minor: Option<i64>,
    pub started_at: Option<UtcDateTime>,
    pub ended_at: Option<UtcDateTime>,
}

pub fn name(merchant_id: &str, id: &str) -> String {
    format!("merchants/{merchant_id}/campaigns/{id}")
}

pub async fn insert(
    db: &DatabaseConnection,
    merchant_id: &str,
    id: &str,
    currency: &str,
    f: &CampaignFields,
) -> Result<campaigns::Model, MarketingError> {
    let t = now();
    let model = campaigns::ActiveModel {
        merchant_id: Set(merchant_id.to_owned()),
        id: Set(id.to_owned()),
        display_name: Set(f.display_name.clone()),
        strategy_id: Set(f.strategy_id.clone()),
        experiment: Set(f.experiment.clone()),
        variant: Set(f.variant.clone()),
        channel: Set(f.channel.clone()),
        segment_id: Set(f.segment_id.clone()),
        state: Set(f.state.clone()),
        budget_minor: Set(f.budget_minor),
        currency: Set(currency.to_owned()),
        started_at: Set(f.started_at),
        ended_at: Set(f.ended_at),
        created_at: Set(t),
        updated_at: Set(t),
    };
    match model.insert(db).await {
        Ok(row) => Ok(row),
        Err(err) if caravan_store::is_unique_violation(&err) => {
            Err(MarketingError::AlreadyExists(name(merchant_id, id)))
        }
        Err(err) => Err(err.into()),
    }
}

pub async fn get(
    db: &DatabaseConnection,
    merchant_id: &str,
    id: &str,
) -> Result<campaigns::Model, MarketingError> {
    campaigns::Entity::find_by_id((merchant_id.to_owned(), id.to_owned()))
        .one(db)
        .await?
        .ok_or_else(|| MarketingError::NotFound(name(merchant_id, id)))
}

/// Rewrites the mutable fields (display name, budget, state, times).
pub async fn update_mutable(
    db: &DatabaseConnection,
    current: &campaigns::Model,
    f: &CampaignFields,
) -> Result<campaigns::Model, MarketingError> {
    let model = campaigns::ActiveModel {
        merchant_id: Set(current.merchant_id.clone()),
        id: Set(current.id.clone()),
        display_name: Set(f.display_name.clone()),
        state: Set(f.state.clone()),
        budget_minor: Set(f.budget_minor),
        started_at: Set(f.started_at),
        ended_at: Set(f.ended_at),
        updated_at: Set(now()),
        ..Default::default()
    };
    Ok(model.update(db).await?)
}

#[derive(Debug, Clone, Default)]
pub struct CampaignFilter {
    pub strategy_id: Option<String>,
    pub experiment: Option<String>,
    pub variant: Option<String>,
    pub channel: Option<String>,
    pub segment_id: Option<String>,
    pub state: Option<String>,
}

pub async fn list(
    db: &DatabaseConnection,
    merchant_id: &str,
    filter: &CampaignFilter,
    order: (campaigns::Column, bool),
    offset: u64,
    limit: u64,
) -> Result<(Vec<campaigns::Model>, bool), MarketingError> {
    let mut cond = Condition::all().add(campaigns::Column::MerchantId.eq(merchant_id));
    let pairs = [
        (campaigns::Column::StrategyId, &filter.strategy_id),
        (campaigns::Column::Experiment, &filter.experiment),
        (campaigns::Column::Variant, &filter.variant),
        (campaigns::Column::Channel, &filter.channel),
        (campaigns::Column::SegmentId, &filter.segment_id),
        (campaigns::Column::State, &filter.state),
    ];
    for (column, value) in pairs {
        // An empty value (`variant = ""`) selects the campaigns without one.
        match value.as_deref() {
            Some("") => cond = cond.add(column.is_null()),
            Some(v) => cond = cond.add(column.eq(v)),
            None => {}
        }
    }
    let query = campaigns::Entity::find().filter(cond);
    let query = if order.1 {
        query.order_by_desc(order.0)
    } else {
        query.order_by_asc(order.0)
    };
    let rows = query
        .order_by_asc(campaigns::Column::Id)
        .offset(offset)
        .limit(limit + 1)
        .all(db)
        .await?;
    let more = rows.len() as u64 > limit;
    Ok((rows.into_iter().take(limit as usize).collect(), more))
}

/// One result row to store.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultRow {
    /// The segment the counts are for; `""` is the campaign's own target.
    pub segment_id: String,
    pub bucket_start: UtcDateTime,
    pub bucket_seconds: i32,
    pub bucket: Bucket,
}

/// Stores rows, replacing existing (segment, bucket) rows; returns (inserted, replaced).
pub async fn record_results(
    db: &DatabaseConnection,
    campaign: &campaigns::Model,
    rows: &[ResultRow],
) -> Result<(i32, i32), MarketingError> {
    let txn = db.begin().await?;
    let existing: Vec<(String, UtcDateTime)> = campaign_results::Entity::find()
        .select_only()
        .column(campaign_results::Column::SegmentId)
        .column(campaign_results::Column::BucketStart)
        .filter(campaign_results::Column::MerchantId.eq(campaign.merchant_id.as_str()))
        .filter(campaign_results::Column::CampaignId.eq(campaign.id.as_str()))
        .filter(campaign_results::Column::BucketStart.is_in(rows.iter().map(|r| r.bucket_start)))
        .into_tuple()
        .all(&txn)
        .await?;
    let t = now();
    let (mut inserted, mut replaced) = (0, 0);
    for row in rows {
        if existing
            .iter()
            .any(|(s, b)| *s == row.segment_id && *b == row.bucket_start)
        {
            replaced += 1;
        } else {
            inserted += 1;
        }
        let model = campaign_results::ActiveModel {
            merchant_id: Set(campaign.merchant_id.clone()),
            campaign_id: Set(campaign.id.clone()),
            segment_id: Set(row.segment_id.clone()),
            bucket_start: Set(row.bucket_start),
            bucket_seconds: Set(row.bucket_seconds),
            impressions: Set(row.bucket.impressions as i64),
            clicks: Set(row.bucket.clicks as i64),
            conversions: Set(row.bucket.conversions as i64),
            revenue_minor: Set(row.bucket.revenue),
            spend_minor: Set(row.bucket.spend),
            currency: Set(campaign.currency.clone()),
            updated_at: Set(t),
        };
        campaign_results::Entity::insert(model)
            .on_conflict(
                OnConflict::columns([
                    campaign_results::Column::MerchantId,
                    campaign_results::Column::CampaignId,
                    campaign_results::Column::SegmentId,
                    campaign_results::Column::BucketStart,
                ])
                .update_columns([
                    campaign_results::Column::BucketSeconds,
                    campaign_results::Column::Impressions,
                    campaign_results::Column::Clicks,
                    campaign_results::Column::Conversions,
                    campaign_results::Column::RevenueMinor,
                    campaign_results::Column::SpendMinor,
                    campaign_results::Column::UpdatedAt,
                ])
                .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok((inserted, replaced))
}

/// Buckets of a campaign in [start, end), oldest first.
pub async fn results(
    db: &DatabaseConnection,
    merchant_id: &str,
    campaign_id: &str,
    start: Option<UtcDateTime>,
    end: Option<UtcDateTime>,
) -> Result<Vec<campaign_results::Model>, MarketingError> {
    let mut query = campaign_results::Entity::find()
        .filter(campaign_results::Column::MerchantId.eq(merchant_id))
        .filter(campaign_results::Column::CampaignId.eq(campaign_id));
    if let Some(start) = start {
        query = query.filter(campaign_results::Column::BucketStart.gte(start));
    }
    if let Some(end) = end {
        query = query.filter(campaign_results::Column::BucketStart.lt(end));
    }
    Ok(query
        .order_by_asc(campaign_results::Column::BucketStart)
        .all(db)
        .await?)
}

/// The campaign's totals per time bucket, from rows ordered by bucket start: a bucket's
/// total row (segment `""`, the campaign's own target) when it has one, else the sum of
/// its segment rows. Segment rows are breakdowns: they never add to a total row (segments
/// may overlap, and the total already counts everyone).
pub fn per_time_bucket(rows: &[campaign_results::Model]) -> Vec<Bucket> {
    // (bucket start, total row, sum of segment rows)
    let mut out: Vec<(UtcDateTime, Option<Bucket>, Bucket)> = Vec::new();
    for row in rows {
        if out
            .last()
            .is_none_or(|(start, _, _)| *start != row.bucket_start)
        {
            out.push((row.bucket_start, None, Bucket::default()));
        }
        if let Some((_, total, parts)) = out.last_mut() {
            if row.segment_id.is_empty() {
                *total = Some(bucket_of(row));
            } else {
                *parts = crate::report::sum(&[*parts, bucket_of(row)]);
            }
        }
    }
    out.into_iter()
        .map(|(_, total, parts)| total.unwrap_or(parts))
        .collect()
}

pub fn bucket_of(row: &campaign_results::Model) -> Bucket {
    Bucket {
        impressions: row.impressions.max(0) as u64,
        clicks: row.clicks.max(0) as u64,
        conversions: row.conversions.max(0) as u64,
        revenue: row.revenue_minor,
        spend: row.spend_minor,
    }
}

/// What a strategy's campaigns observed: impressions and conversions in total (the
/// campaigns' totals, see [`per_time_bucket`]) and per segment id (a segment row's own
/// segment; a segment campaign's totals count for its segment).
#[derive(Debug, Default, PartialEq)]
pub struct Observations {
    pub total: (u64, u64),
    pub by_segment: Vec<(String, u64, u64)>,
}

impl Observations {
    fn add(&mut self, segment: &str, b: Bucket) {
        match self.by_segment.iter_mut().find(|(s, _, _)| s == segment) {
            Some(entry) => {
                entry.1 += b.impressions;
                entry.2 += b.conversions;
            }
            None => self
                .by_segment
                .push((segment.to_owned(), b.impressions, b.conversions)),
        }
    }
}

pub async fn observations(
    db: &DatabaseConnection,
    merchant_id: &str,
    strategy_id: &str,
) -> Result<Observations, MarketingError> {
    let campaigns = campaigns::Entity::find()
        .filter(campaigns::Column::MerchantId.eq(merchant_id))
        .filter(campaigns::Column::StrategyId.eq(strategy_id))
        .all(db)
        .await?;
    let mut out = Observations::default();
    for c in campaigns {
        let rows = results(db, merchant_id, &c.id, None, None).await?;
        let totals = crate::report::sum(&per_time_bucket(&rows));
        out.total.0 += totals.impressions;
        out.total.1 += totals.conversions;
        if let Some(segment) = &c.segment_id {
            out.add(segment, totals);
        }
        for row in rows.iter().filter(|r| !r.segment_id.is_empty()) {
            out.add(&row.segment_id, bucket_of(row));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(segment: &str, day: i64, impressions: i64) -> campaign_results::Model {
        let t = UtcDateTime::new(
            chrono::DateTime::from_timestamp(1_790_000_000 + day * 86_400, 0).unwrap_or_default(),
        );
        campaign_results::Model {
            merchant_id: "m".into(),
            campaign_id: "c".into(),
            segment_id: segment.into(),
            bucket_start: t,
            bucket_seconds: 86_400,
            impressions,
            clicks: 0,
            conversions: 0,
            revenue_minor: 0,
            spend_minor: 0,
            currency: "EUR".into(),
            updated_at: t,
        }
    }

    #[test]
    fn a_total_row_wins_over_its_buckets_segment_rows() {
        let rows = [
            row("at-risk", 0, 300),
            row("champions", 0, 200),
            row("", 1, 1000),
            row("at-risk", 1, 600),
            row("vip", 1, 700),
        ];
        let totals: Vec<u64> = per_time_bucket(&rows)
            .iter()
            .map(|b| b.impressions)
            .collect();
        assert_eq!(totals, vec![500, 1000], "day 0 summed, day 1 its total row");
    }
}
