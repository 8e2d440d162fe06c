//! Strategy catalogue RPCs: create, get, update (field mask), list, archive.

use caravan_core::equality_filter;
use caravan_core::names::parse_child_name;
use caravan_platform::FieldViolations;
use caravan_proto::caravan::marketing::v1 as pb;
use caravan_store::entity::strategies;

use super::convert::{check_resource_id, strategy_in, strategy_out};
use super::{ScoringApi, merchant_id_from_name, offset_page};
use crate::error::MarketingError;
use crate::strategy_store::{self, ACTIVE, ARCHIVED, StrategyFilter};

pub(crate) fn strategy_ids(name: &str, field: &str) -> Result<(String, String), MarketingError> {
    let (merchant, id) = parse_child_name(name, "strategies")
        .map_err(|e| MarketingError::invalid(field, e.to_string()))?;
    check_resource_id(&id).map_err(|why| MarketingError::invalid(field, why))?;
    Ok((merchant.as_str().to_owned(), id))
}

pub async fn create(
    api: &ScoringApi,
    r: pb::CreateStrategyRequest,
) -> Result<pb::Strategy, MarketingError> {
    let merchant_id = merchant_id_from_name(&r.parent, "parent")?;
    let strategy = r
        .strategy
        .ok_or_else(|| MarketingError::invalid("strategy", "is required"))?;
    let base = strategy_store::base_currency(&api.db, &merchant_id).await?;
    // Every problem at once: the id and the strategy's fields.
    let mut violations = FieldViolations::new();
    if let Err(why) = check_resource_id(&r.strategy_id) {
        violations.add("strategy_id", why);
    }
    let fields = match strategy_in(&strategy, &merchant_id, &base) {
        Ok(fields) if violations.is_empty() => fields,
        Ok(_) => return Err(violations.into()),
        Err(more) => {
            for v in more.iter() {
                violations.add(v.field.clone(), v.description.clone());
            }
            return Err(violations.into());
        }
    };
    let row = strategy_store::insert(&api.db, &merchant_id, &r.strategy_id, &base, &fields).await?;
    Ok(strategy_out(&row))
}

pub async fn get(
    api: &ScoringApi,
    r: pb::GetStrategyRequest,
) -> Result<pb::Strategy, MarketingError> {
    let (merchant_id, id) = strategy_ids(&r.name, "name")?;
    Ok(strategy_out(
        &strategy_store::get(&api.db, &merchant_id, &id).await?,
    ))
}

/// Top-level fields an update mask may name; a path like `coupon.percent_off` replaces the
/// whole `coupon` parameters message.
const MUTABLE: [&str; 6] = [
    "display_name",
    "description",
    "parameters",
    "cost_model",
    "eligibility",
    "frequency_cap",
];
const PARAMETER_CASES: [&str; 11] = [
    "coupon",
    "free_shipping",
    "shipping_subsidy",
    "expedited_delivery",
    "tracking_upgrade",
    "after_sales_guarantee",
    "loyalty_points",
    "tier_upgrade",
    "bundle",
    "win_back_message",
    "social_ad_campaign",
];

pub async fn update(
    api: &ScoringApi,
    r: pb::UpdateStrategyRequest,
) -> Result<pb::Strategy, MarketingError> {
    let update = r
        .strategy
        .ok_or_else(|| MarketingError::invalid("strategy", "is required"))?;
    let (merchant_id, id) = strategy_ids(&update.name, "strategy.name")?;
    let current = strategy_store::get(&api.db, &merchant_id, &id).await?;
    if current.state == ARCHIVED {
        return Err(MarketingError::FailedPrecondition(format!(
            "{} is archived and cannot be updated",
            update.name
        )));
    }
    let mut merged = strategy_out(&current);
    let paths: Vec<String> = r.update_mask.map(|m| m.paths).unwrap_or_default();
    let paths: Vec<String> = if paths.is_empty() {
        MUTABLE.iter().map(|s| (*s).to_owned()).collect()
    } else {
        paths
    };
    for path in &paths {
        let top = path.split('.').next().unwrap_or_default();
        match top {
            "display_name" => merged.display_name = update.display_name.clone(),
            "description" => merged.description = update.description.clone(),
            "cost_model" => merged.cost_model = update.cost_model.clone(),
            "eligibility" => merged.eligibility = update.eligibility.clone(),
            "frequency_cap" => merged.frequency_cap = update.frequency_cap,
            "parameters" => merged.parameters = update.parameters.clone(),
            case if PARAMETER_CASES.contains(&case) => {
                merged.parameters = update.parameters.clone()
            }
            "kind" if update.kind == merged.kind => {}
            "kind" => return Err(MarketingError::invalid("update_mask", "kind is immutable")),
            other => {
                return Err(MarketingError::invalid(
                    "update_mask",
                    format!("{other:?} is not an updatable field"),
                ));
            }
        }
    }
    let base = current.currency.clone();
    let fields = strategy_in(&merged, &merchant_id, &base)?;
    Ok(strategy_out(
        &strategy_store::replace(&api.db, &current, &fields).await?,
    ))
}

pub async fn archive(
    api: &ScoringApi,
    r: pb::ArchiveStrategyRequest,
) -> Result<pb::Strategy, MarketingError> {
    let (merchant_id, id) = strategy_ids(&r.name, "name")?;
    let current = strategy_store::get(&api.db, &merchant_id, &id).await?;
    if current.state == ARCHIVED {
        return Ok(strategy_out(&current));
    }
    Ok(strategy_out(
        &strategy_store::archive(&api.db, &current).await?,
    ))
}

pub async fn list(
    api: &ScoringApi,
    r: pb::ListStrategiesRequest,
) -> Result<pb::ListStrategiesResponse, MarketingError> {
    let merchant_id = merchant_id_from_name(&r.parent, "parent")?;
    let mut filter = StrategyFilter {
        kind: None,
        state: Some(ACTIVE.to_owned()),
    };
    let clauses = equality_filter::parse(&r.filter, &["kind", "state"])
        .map_err(|why| MarketingError::invalid("filter", why))?;
    for (field, value) in clauses {
        if field == "kind" {
            let code = value.trim_start_matches("STRATEGY_KIND_");
            if super::convert::kind_from_code(code) == pb::StrategyKind::Unspecified {
                return Err(MarketingError::invalid(
                    "filter",
                    format!("{value:?} is not a strategy kind"),
                ));
            }
            filter.kind = Some(code.to_owned());
        } else {
            filter.state = match value.trim_start_matches("STRATEGY_STATE_") {
                "ACTIVE" => Some(ACTIVE.to_owned()),
                "ARCHIVED" => Some(ARCHIVED.to_owned()),
                "*" | "ANY" => None,
                other => {
                    return Err(MarketingError::invalid(
                        "filter",
                        format!("{other:?} is not ACTIVE, ARCHIVED or *"),
                    ));
                }
            }
        }
    }
    let order = super::order_by(
        &r.order_by,
        &[
            ("name", strategies::Column::Id),
            ("create_time", strategies::Column::CreatedAt),
            ("update_time", strategies::Column::UpdatedAt),
        ],
        (strategies::Column::Id, false),
    )?;
    let page = offset_page(
        r.page_size,
        500,
        &r.page_token,
        &[&r.parent, &r.filter, &r.order_by, "strategies"],
    )?;
    let (rows, more) = strategy_store::list(
        &api.db,
        &merchant_id,
        &filter,
        order,
        page.offset,
        page.size,
    )
    .await?;
    Ok(pb::ListStrategiesResponse {
        strategies: rows.iter().map(strategy_out).collect(),
        next_page_token: page.next_token(more),
    })
}
