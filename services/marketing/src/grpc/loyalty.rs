//! GetLoyalty and the response priors (get/update).

use caravan_core::names::parse_merchant_name;
use caravan_platform::FieldViolations;
use caravan_platform::proto_time::to_timestamp;
use caravan_proto::caravan::marketing::v1 as pb;

use super::ScoringApi;
use crate::error::MarketingError;
use crate::learning_store;
use crate::loyalty::{self, Component, RiskLevel, Tier};
use crate::priors::{FIELDS, Priors};
use crate::profile_adapter::facts_from_profile;

fn component(c: &Component) -> pb::LoyaltyComponent {
    pb::LoyaltyComponent {
        name: c.name.to_owned(),
        value: c.value,
        weight: c.weight,
        contribution: c.contribution(),
    }
}

pub async fn get_loyalty(
    api: &ScoringApi,
    r: pb::GetLoyaltyRequest,
) -> Result<pb::Loyalty, MarketingError> {
    let customer = r
        .name
        .strip_suffix("/loyalty")
        .filter(|c| caravan_core::names::parse_child_name(c, "customers").is_ok())
        .ok_or_else(|| {
            MarketingError::invalid(
                "name",
                "must be merchants/{merchant}/customers/{customer}/loyalty",
            )
        })?;
    let profile = api.profiles.profile(customer).await?;
    let a = loyalty::assess(&facts_from_profile(&profile, None));
    Ok(pb::Loyalty {
        name: r.name.clone(),
        score: a.score,
        tier: match a.tier {
            Tier::Bronze => pb::LoyaltyTier::Bronze,
            Tier::Silver => pb::LoyaltyTier::Silver,
            Tier::Gold => pb::LoyaltyTier::Gold,
            Tier::Platinum => pb::LoyaltyTier::Platinum,
        } as i32,
        components: a.components.iter().map(component).collect(),
        churn_risk: Some(pb::ChurnRisk {
            probability: a.churn_probability,
            level: match a.churn_level {
                RiskLevel::Low => pb::ChurnRiskLevel::Low,
                RiskLevel::Medium => pb::ChurnRiskLevel::Medium,
                RiskLevel::High => pb::ChurnRiskLevel::High,
            } as i32,
            components: a.churn_components.iter().map(component).collect(),
        }),
        compute_time: Some(to_timestamp(chrono::Utc::now())),
    })
}

fn priors_merchant(name: &str, field: &str) -> Result<String, MarketingError> {
    name.strip_suffix("/responsePriors")
        .and_then(|m| parse_merchant_name(m).ok())
        .map(|m| m.as_str().to_owned())
        .ok_or_else(|| {
            MarketingError::invalid(field, "must be merchants/{merchant}/responsePriors")
        })
}

fn priors_out(
    name: &str,
    p: &Priors,
    updated: Option<caravan_store::UtcDateTime>,
) -> pb::ResponsePriors {
    pb::ResponsePriors {
        name: name.to_owned(),
        satisfaction_loss_per_delay_day: Some(p.satisfaction_loss_per_delay_day),
        safety_satisfaction_gain: Some(p.safety_satisfaction_gain),
        satisfaction_loss_per_10pct_shipping_cost: Some(
            p.satisfaction_loss_per_10pct_shipping_cost,
        ),
        tracking_satisfaction_gain: Some(p.tracking_satisfaction_gain),
        tracking_repurchase_gain: Some(p.tracking_repurchase_gain),
        coverage_satisfaction_gain_per_10pct: Some(p.coverage_satisfaction_gain_per_10pct),
        after_sales_satisfaction_gain: Some(p.after_sales_satisfaction_gain),
        after_sales_repurchase_gain: Some(p.after_sales_repurchase_gain),
        satisfaction_to_repurchase_elasticity: Some(p.satisfaction_to_repurchase_elasticity),
        prior_strength: Some(p.prior_strength),
        baseline_conversion_rate: Some(p.baseline_conversion_rate),
        gross_margin_rate: Some(p.gross_margin_rate),
        scoring_horizon_days: Some(p.scoring_horizon_days),
        update_time: updated.map(|t| to_timestamp(t.get())),
    }
}

pub async fn get_priors(
    api: &ScoringApi,
    r: pb::GetResponsePriorsRequest,
) -> Result<pb::ResponsePriors, MarketingError> {
    let merchant_id = priors_merchant(&r.name, "name")?;
    super::require_merchant(api, &merchant_id).await?;
    let (priors, updated) = learning_store::priors(&api.db, &merchant_id).await?;
    Ok(priors_out(&r.name, &priors, updated))
}

/// Applies one masked field: the given value, or the default when absent.
fn apply(p: &mut Priors, field: &str, u: &pb::ResponsePriors) -> bool {
    let d = Priors::default();
    macro_rules! set {
        ($f:ident) => {
            p.$f = u.$f.unwrap_or(d.$f)
        };
    }
    match field {
        "satisfaction_loss_per_delay_day" => set!(satisfaction_loss_per_delay_day),
        "safety_satisfaction_gain" => set!(safety_satisfaction_gain),
        "satisfaction_loss_per_10pct_shipping_cost" => {
            set!(satisfaction_loss_per_10pct_shipping_cost)
        }
        "tracking_satisfaction_gain" => set!(tracking_satisfaction_gain),
        "tracking_repurchase_gain" => set!(tracking_repurchase_gain),
        "coverage_satisfaction_gain_per_10pct" => set!(coverage_satisfaction_gain_per_10pct),
        "after_sales_satisfaction_gain" => set!(after_sales_satisfaction_gain),
        "after_sales_repurchase_gain" => set!(after_sales_repurchase_gain),
        "satisfaction_to_repurchase_elasticity" => set!(satisfaction_to_repurchase_elasticity),
        "prior_strength" => set!(prior_strength),
        "baseline_conversion_rate" => set!(baseline_conversion_rate),
        "gross_margin_rate" => set!(gross_margin_rate),
        "scoring_horizon_days" => set!(scoring_horizon_days),
        _ => return false,
    }
    true
}

pub async fn update_priors(
    api: &ScoringApi,
    r: pb::UpdateResponsePriorsRequest,
) -> Result<pb::ResponsePriors, MarketingError> {
    let update = r
        .response_priors
        .ok_or_else(|| MarketingError::invalid("response_priors", "is required"))?;
    let merchant_id = priors_merchant(&update.name, "response_priors.name")?;
    super::require_merchant(api, &merchant_id).await?;
    let (mut priors, _) = learning_store::priors(&api.db, &merchant_id).await?;
    let paths: Vec<String> = r.update_mask.map(|m| m.paths).unwrap_or_default();
    let paths: Vec<String> = if paths.is_empty() {
        FIELDS.iter().map(|f| (*f).to_owned()).collect()
    } else {
        paths
    };
    let mut violations = FieldViolations::new();
    for path in &paths {
        if !apply(&mut priors, path, &update) {
            violations.add(
                "update_mask",
                format!("{path:?} is not a response prior field"),
            );
        }
    }
    for (field, why) in priors.violations() {
        violations.add(format!("response_priors.{field}"), why);
    }
    violations.into_result()?;
    let updated = learning_store::save_priors(&api.db, &merchant_id, &priors).await?;
    // Posteriors are kept equal to priors + observations: rebuild them.
    for strategy_id in learning_store::strategies_with_posteriors(&api.db, &merchant_id).await? {
        learning_store::refresh_posteriors(&api.db, &merchant_id, &strategy_id, &priors).await?;
    }
    Ok(priors_out(&update.name, &priors, Some(updated)))
}
