//! Strategies in the `strategies` table. The kind-specific parameters, description and
//! cost per conversion are kept in the `params` JSON column, eligibility in
//! `eligibility`; the fixed and variable cost in their own columns.

use caravan_store::entity::strategies;
use caravan_store::sea_orm::prelude::*;
use caravan_store::sea_orm::{ActiveValue::Set, Condition, QueryOrder, QuerySelect};
use caravan_store::{UtcDateTime, now};
use serde::{Deserialize, Serialize};

use crate::error::MarketingError;
use crate::strategy::{CostModel, Eligibility, FrequencyCap, Params, StrategySpec};

pub const ACTIVE: &str = "ACTIVE";
pub const ARCHIVED: &str = "ARCHIVED";

/// The `params` JSON column.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredParams {
    description: String,
    parameters: Params,
    #[serde(default)]
    cost_per_conversion: i64,
}

/// A strategy as stored, with its descriptive fields.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredStrategy {
    pub spec: StrategySpec,
    pub merchant_id: String,
    pub display_name: String,
    pub description: String,
    pub currency: String,
    pub state: String,
    pub created_at: UtcDateTime,
    pub updated_at: UtcDateTime,
}

/// What a caller writes.
#[derive(Debug, Clone, PartialEq)]
pub struct StrategyFields {
    pub display_name: String,
    pub description: String,
    pub params: Params,
    pub cost: CostModel,
    pub eligibility: Eligibility,
    pub frequency_cap: Option<FrequencyCap>,
}

fn from_row(row: strategies::Model) -> Result<StoredStrategy, MarketingError> {
    let stored: StoredParams = serde_json::from_value(row.params).map_err(|e| {
        MarketingError::Store(caravan_store::StoreError::Db(DbErr::Json(e.to_string())))
    })?;
    let eligibility: Eligibility = serde_json::from_value(row.eligibility).unwrap_or_default();
    let frequency_cap = match (row.frequency_cap_max, row.frequency_cap_period_seconds) {
        (Some(max), Some(period)) => Some(FrequencyCap {
            max_contacts: max,
            period_seconds: period,
        }),
        _ => None,
    };
    Ok(StoredStrategy {
        spec: StrategySpec {
            name: format!("merchants/{}/strategies/{}", row.merchant_id, row.id),
            id: row.id,
            params: stored.parameters,
            cost: CostModel {
                fixed_cost_per_contact: row.fixed_cost_minor,
                variable_cost_rate: row.variable_cost_share,
                cost_per_conversion: stored.cost_per_conversion,
            },
            eligibility,
            frequency_cap,
        },
        merchant_id: row.merchant_id,
        display_name: row.display_name,
        description: stored.description,
        currency: row.cost_currency,
        state: row.state,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn json<T: Serialize>(value: &T) -> Json {
    serde_json::to_value(value).unwrap_or(Json::Null)
}

fn active_model(
    merchant_id: &str,
    id: &str,
    currency: &str,
    f: &StrategyFields,
) -> strategies::ActiveModel {
    strategies::ActiveModel {
        merchant_id: Set(merchant_id.to_owned()),
        id: Set(id.to_owned()),
        display_name: Set(f.display_name.clone()),
        kind: Set(f.params.kind_code().to_owned()),
        params: Set(json(&StoredParams {
            description: f.description.clone(),
            parameters: f.params.clone(),
            cost_per_conversion: f.cost.cost_per_conversion,
        })),
        fixed_cost_minor: Set(f.cost.fixed_cost_per_contact),
        variable_cost_share: Set(f.cost.variable_cost_rate),
        cost_currency: Set(currency.to_owned()),
        eligibility: Set(json(&f.eligibility)),
        frequency_cap_max: Set(f.frequency_cap.map(|c| c.max_contacts)),
        frequency_cap_period_seconds: Set(f.frequency_cap.map(|c| c.period_seconds)),
        ..Default::default()
    }
}

pub async fn insert(
    db: &DatabaseConnection,
    merchant_id: &str,
    id: &str,
    currency: &str,
    fields: &StrategyFields,
) -> Result<StoredStrategy, MarketingError> {
    let t = now();
    let mut model = active_model(merchant_id, id, currency, fields);
    model.state = Set(ACTIVE.to_owned());
    model.created_at = Set(t);
    model.updated_at = Set(t);
    match model.insert(db).await {
        Ok(row) => from_row(row),
        Err(err) if caravan_store::is_unique_violation(&err) => Err(MarketingError::AlreadyExists(
            format!("merchants/{merchant_id}/strategies/{id}"),
        )),
        Err(err) => Err(err.into()),
    }
}

pub async fn get(
    db: &DatabaseConnection,
    merchant_id: &str,
    id: &str,
) -> Result<StoredStrategy, MarketingError> {
    let row = strategies::Entity::find_by_id((merchant_id.to_owned(), id.to_owned()))
        .one(db)
        .await?
        .ok_or_else(|| {
            MarketingError::NotFound(format!("merchants/{merchant_id}/strategies/{id}"))
        })?;
    from_row(row)
}

pub async fn replace(
    db: &DatabaseConnection,
    current: &StoredStrategy,
    fields: &StrategyFields,
) -> Result<StoredStrategy, MarketingError> {
    let mut model = active_model(
        &current.merchant_id,
        &current.spec.id,
        &current.currency,
        fields,
    );
    model.updated_at = Set(now());
    from_row(model.update(db).await?)
}

pub async fn archive(
    db: &DatabaseConnection,
    current: &StoredStrategy,
) -> Result<StoredStrategy, MarketingError> {
    let model = strategies::ActiveModel {
        merchant_id: Set(current.merchant_id.clone()),
        id: Set(current.spec.id.clone()),
        state: Set(ARCHIVED.to_owned()),
        updated_at: Set(now()),
        ..Default::default()
    };
    from_row(model.update(db).await?)
}

/// Filter of ListStrategies.
#[derive(Debug, Clone, Default)]
pub struct StrategyFilter {
    pub kind: Option<String>,
    /// `None` = any state.
    pub state: Option<String>,
}

/// One page in `order`, after `offset` rows; returns the rows and whether more follow.
pub async fn list(
    db: &DatabaseConnection,
    merchant_id: &str,
    filter: &StrategyFilter,
    order: (strategies::Column, bool),
    offset: u64,
    limit: u64,
) -> Result<(Vec<StoredStrategy>, bool), MarketingError> {
    let mut cond = Condition::all().add(strategies::Column::MerchantId.eq(merchant_id));
    if let Some(kind) = &filter.kind {
        cond = cond.add(strategies::Column::Kind.eq(kind.as_str()));
    }
    if let Some(state) = &filter.state {
        cond = cond.add(strategies::Column::State.eq(state.as_str()));
    }
    let mut query = strategies::Entity::find().filter(cond);
    query = if order.1 {
        query.order_by_desc(order.0)
    } else {
        query.order_by_asc(order.0)
    };
    let rows = query
        .order_by_asc(strategies::Column::Id)
        .offset(offset)
        .limit(limit + 1)
        .all(db)
        .await?;
    let more = rows.len() as u64 > limit;
    let rows = rows
        .into_iter()
        .take(limit as usize)
        .map(from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((rows, more))
}

/// Active strategies to score: all of them, or the named ids (which must exist and be
/// active).
pub async fn active_for_scoring(
    db: &DatabaseConnection,
    merchant_id: &str,
    ids: &[String],
) -> Result<Vec<StoredStrategy>, MarketingError> {
    let mut query = strategies::Entity::find()
        .filter(strategies::Column::MerchantId.eq(merchant_id))
        .filter(strategies::Column::State.eq(ACTIVE));
    if !ids.is_empty() {
        query = query.filter(strategies::Column::Id.is_in(ids.iter().cloned()));
    }
    let rows = query
        .order_by_asc(strategies::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(from_row)
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(missing) = ids
        .iter()
        .find(|id| !rows.iter().any(|r| &r.spec.id == *id))
    {
        return Err(MarketingError::invalid(
            "strategies",
            format!("strategy {missing:?} does not exist or is archived"),
        ));
    }
    Ok(rows)
}

/// The merchant's base currency (strategy and campaign money must be in it).
pub async fn base_currency(
    db: &DatabaseConnection,
    merchant_id: &str,
) -> Result<String, MarketingError> {
    caravan_store::entity::merchants::Entity::find_by_id(merchant_id.to_owned())
        .one(db)
        .await?
        .map(|m| m.base_currency)
        .ok_or_else(|| MarketingError::NotFound(format!("merchants/{merchant_id}")))
}
