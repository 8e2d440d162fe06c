//! What the service learns and remembers per merchant: response priors
//! (`response_priors`), Beta posteriors per strategy x segment (`strategy_posteriors`,
//! always kept equal to the current priors plus all observations) and the contact log
//! (`contact_log`) that frequency caps are enforced from.

use std::collections::HashMap;

use caravan_store::entity::{contact_log, response_priors, strategy_posteriors};
use caravan_store::sea_orm::prelude::*;
use caravan_store::sea_orm::sea_query::OnConflict;
use caravan_store::sea_orm::{ActiveValue::Set, QueryOrder, TransactionTrait};
use caravan_store::{UtcDateTime, now};

use crate::bandit::BetaPosterior;
use crate::campaign_store;
use crate::error::MarketingError;
use crate::priors::Priors;

/// The merchant's priors and when they were last set (`None`: all defaults).
pub async fn priors(
    db: &DatabaseConnection,
    merchant_id: &str,
) -> Result<(Priors, Option<UtcDateTime>), MarketingError> {
    let row = response_priors::Entity::find_by_id(merchant_id.to_owned())
        .one(db)
        .await?;
    Ok(match row {
        Some(row) => (
            serde_json::from_value(row.priors).unwrap_or_default(),
            Some(row.updated_at),
        ),
        None => (Priors::default(), None),
    })
}

pub async fn save_priors(
    db: &DatabaseConnection,
    merchant_id: &str,
    priors: &Priors,
) -> Result<UtcDateTime, MarketingError> {
    let t = now();
    let model = response_priors::ActiveModel {
        merchant_id: Set(merchant_id.to_owned()),
        priors: Set(serde_json::to_value(priors).unwrap_or(Json::Null)),
        updated_at: Set(t),
    };
    response_priors::Entity::insert(model)
        .on_conflict(
            OnConflict::column(response_priors::Column::MerchantId)
                .update_columns([
                    response_priors::Column::Priors,
                    response_priors::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(t)
}

/// A stored posterior with the observations it includes.
#[derive(Debug, Clone, PartialEq)]
pub struct Posterior {
    pub strategy_id: String,
    /// "" for merchant-wide.
    pub segment_id: String,
    pub posterior: BetaPosterior,
    pub impressions: u64,
    pub conversions: u64,
}

impl Posterior {
    fn from_row(row: strategy_posteriors::Model, priors: &Priors) -> Self {
        let prior = BetaPosterior::prior(priors.baseline_conversion_rate, priors.prior_strength);
        let conversions = (row.alpha - prior.alpha).round().max(0.0) as u64;
        let impressions = (row.alpha + row.beta - prior.alpha - prior.beta)
            .round()
            .max(0.0) as u64;
        Self {
            strategy_id: row.strategy_id,
            segment_id: row.segment_id,
            posterior: BetaPosterior {
                alpha: row.alpha,
                beta: row.beta,
            },
            impressions,
            conversions,
        }
    }
}

/// Recomputes the posteriors of one strategy (per segment and merchant-wide) from all its
/// campaigns' results and the current priors.
pub async fn refresh_posteriors(
    db: &DatabaseConnection,
    merchant_id: &str,
    strategy_id: &str,
    priors: &Priors,
) -> Result<(), MarketingError> {
    let seen = campaign_store::observations(db, merchant_id, strategy_id).await?;
    let prior = BetaPosterior::prior(priors.baseline_conversion_rate, priors.prior_strength);
    let (all_i, all_c) = seen.total;
    let mut rows = vec![(String::new(), prior.updated(all_i, all_c))];
    rows.extend(
        seen.by_segment
            .iter()
            .map(|(segment, i, c)| (segment.clone(), prior.updated(*i, *c))),
    );
    let t = now();
    let txn = db.begin().await?;
    for (segment, post) in rows {
        let model = strategy_posteriors::ActiveModel {
            merchant_id: Set(merchant_id.to_owned()),
            strategy_id: Set(strategy_id.to_owned()),
            segment_id: Set(segment),
            alpha: Set(post.alpha),
            beta: Set(post.beta),
            updated_at: Set(t),
        };
        strategy_posteriors::Entity::insert(model)
            .on_conflict(
                OnConflict::columns([
                    strategy_posteriors::Column::MerchantId,
                    strategy_posteriors::Column::StrategyId,
                    strategy_posteriors::Column::SegmentId,
                ])
                .update_columns([
                    strategy_posteriors::Column::Alpha,
                    strategy_posteriors::Column::Beta,
                    strategy_posteriors::Column::UpdatedAt,
                ])
                .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Strategies that have posteriors (to refresh all after a priors change).
pub async fn strategies_with_posteriors(
    db: &DatabaseConnection,
    merchant_id: &str,
) -> Result<Vec<String>, MarketingError> {
    let mut ids: Vec<String> = strategy_posteriors::Entity::find()
        .filter(strategy_posteriors::Column::MerchantId.eq(merchant_id))
        .order_by_asc(strategy_posteriors::Column::StrategyId)
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.strategy_id)
        .collect();
    ids.dedup();
    Ok(ids)
}

/// All posteriors of a merchant, by strategy then segment.
pub async fn posteriors(
    db: &DatabaseConnection,
    merchant_id: &str,
    priors: &Priors,
) -> Result<Vec<Posterior>, MarketingError> {
    Ok(strategy_posteriors::Entity::find()
        .filter(strategy_posteriors::Column::MerchantId.eq(merchant_id))
        .order_by_asc(strategy_posteriors::Column::StrategyId)
        .order_by_asc(strategy_posteriors::Column::SegmentId)
        .all(db)
        .await?
        .into_iter()
        .map(|row| Posterior::from_row(row, priors))
        .collect())
}

/// Posteriors indexed for scoring: (strategy, segment) -> posterior.
pub type PosteriorIndex = HashMap<(String, String), Posterior>;

pub fn index(posteriors: Vec<Posterior>) -> PosteriorIndex {
    posteriors
        .into_iter()
        .map(|p| ((p.strategy_id.clone(), p.segment_id.clone()), p))
        .collect()
}

/// The posterior a customer's score uses: among the customer's segments (built-in and
/// custom) with observations, the one with the most impressions (the best-measured
/// response rate that applies to this customer), else the merchant-wide one, else the
/// prior.
pub fn posterior_for(
    index: &PosteriorIndex,
    priors: &Priors,
    strategy_id: &str,
    segments: &[&str],
) -> Posterior {
    let key = |s: &str| (strategy_id.to_owned(), s.to_owned());
    segments
        .iter()
        .filter_map(|s| index.get(&key(s)))
        .filter(|p| p.impressions > 0)
        .max_by_key(|p| p.impressions)
        .or_else(|| index.get(&key("")).filter(|p| p.impressions > 0))
        .cloned()
        .unwrap_or_else(|| Posterior {
            strategy_id: strategy_id.to_owned(),
            segment_id: String::new(),
            posterior: BetaPosterior::prior(priors.baseline_conversion_rate, priors.prior_strength),
            impressions: 0,
            conversions: 0,
        })
}

#[cfg(test)]
mod posterior_choice_tests {
    use super::*;

    fn observed(segment: &str, impressions: u64) -> Posterior {
        Posterior {
            strategy_id: "s".to_owned(),
            segment_id: segment.to_owned(),
            posterior: BetaPosterior::prior(0.02, 10.0).updated(impressions, impressions / 10),
            impressions,
            conversions: impressions / 10,
        }
    }

    #[test]
    fn the_best_measured_segment_of_the_customer_wins() {
        let index = index(vec![
            observed("", 5_000),
            observed("at-risk", 200),
            observed("big-spenders", 900),
            observed("champions", 3_000),
        ]);
        let priors = Priors::default();
        let pick = |segments: &[&str]| posterior_for(&index, &priors, "s", segments).segment_id;
        assert_eq!(pick(&["at-risk", "big-spenders"]), "big-spenders");
        assert_eq!(pick(&["at-risk"]), "at-risk");
        assert_eq!(
            pick(&["lost"]),
            "",
            "merchant-wide when no segment is observed"
        );
        let empty = index_of_nothing();
        assert_eq!(
            posterior_for(&empty, &priors, "s", &["at-risk"]).impressions,
            0,
            "the prior when nothing is observed"
        );
    }

    fn index_of_nothing() -> PosteriorIndex {
        index(Vec::new())
    }
}

/// One contact to record.
#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    pub customer_id: String,
    pub strategy_id: String,
    pub campaign_id: Option<String>,
    pub contacted_at: UtcDateTime,
}

/// Records contacts, skipping exact repeats; returns (recorded, duplicates).
pub async fn record_contacts(
    db: &DatabaseConnection,
    merchant_id: &str,
    contacts: &[Contact],
) -> Result<(i32, i32), MarketingError> {
    let txn = db.begin().await?;
    let (mut recorded, mut duplicates) = (0, 0);
    let mut seen: Vec<&Contact> = Vec::new();
    for c in contacts {
        let mut query = contact_log::Entity::find()
            .filter(contact_log::Column::MerchantId.eq(merchant_id))
            .filter(contact_log::Column::CustomerId.eq(c.customer_id.as_str()))
            .filter(contact_log::Column::StrategyId.eq(c.strategy_id.as_str()))
            .filter(contact_log::Column::ContactedAt.eq(c.contacted_at));
        query = match &c.campaign_id {
            Some(id) => query.filter(contact_log::Column::CampaignId.eq(id.as_str())),
            None => query.filter(contact_log::Column::CampaignId.is_null()),
        };
        if seen.contains(&c) || query.one(&txn).await?.is_some() {
            duplicates += 1;
            continue;
        }
        seen.push(c);
        contact_log::ActiveModel {
            merchant_id: Set(merchant_id.to_owned()),
            customer_id: Set(c.customer_id.clone()),
            strategy_id: Set(c.strategy_id.clone()),
            campaign_id: Set(c.campaign_id.clone()),
            channel: Set(None),
            contacted_at: Set(c.contacted_at),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        recorded += 1;
    }
    txn.commit().await?;
    Ok((recorded, duplicates))
}

/// Contact times per (customer, strategy) since `since`, for the given customers.
pub async fn recent_contacts(
    db: &DatabaseConnection,
    merchant_id: &str,
    customer_ids: &[String],
    since: UtcDateTime,
) -> Result<HashMap<(String, String), Vec<UtcDateTime>>, MarketingError> {
    let mut out: HashMap<(String, String), Vec<UtcDateTime>> = HashMap::new();
    for chunk in customer_ids.chunks(1000) {
        let rows = contact_log::Entity::find()
            .filter(contact_log::Column::MerchantId.eq(merchant_id))
            .filter(contact_log::Column::CustomerId.is_in(chunk.iter().cloned()))
            .filter(contact_log::Column::ContactedAt.gte(since))
            .all(db)
            .await?;
        for row in rows {
            out.entry((row.customer_id, row.strategy_id))
                .or_default()
                .push(row.contacted_at);
        }
    }
    Ok(out)
}
