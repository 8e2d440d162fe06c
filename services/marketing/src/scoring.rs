//! The strategy score: expected uplift in purchase probability, incremental revenue and
//! margin, cost and ROI of applying one strategy to one customer, with the factors that
//! explain it. The model (documented in the service README):
//!
//! * baseline `p0 = 1 - exp(-E_H)`, `E_H` the value model's expected purchases scaled to
//!   the scoring horizon (Poisson); without a value model `p0` is the prior baseline rate;
//! * `uplift = min(1 - p0, A + R)`, with activation `A = (1 - p0) x c x w x stage x pay`
//!   (c: the strategy's learned response rate in the customer's segment, w: the kind's
//!   relevance for this customer) and repurchase lift `R = p0 x r` (r: the relative
//!   repurchase gain the report's priors give for the kind);
//! * revenue `= uplift x V`; cost `= contact cost + (p0 + uplift) x cost per converted
//!   order` (everyone who buys redeems the offer: cannibalisation is a cost);
//!   margin `= revenue x gross margin rate - cost`; ROI `= margin / cost`.

use crate::customer::{CustomerFacts, Stage};
use crate::priors::Priors;
use crate::strategy::{Params, StrategySpec};

/// One explanation factor.
#[derive(Debug, Clone, PartialEq)]
pub struct Factor {
    pub name: &'static str,
    pub value: f64,
    /// Effect on the uplift, absolute probability points.
    pub effect: f64,
    /// True for a configured prior, false for observed data.
    pub prior: bool,
    pub description: String,
}

/// The score of one strategy for one customer; money in minor units.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    pub baseline: f64,
    pub uplift: f64,
    pub revenue: f64,
    pub cost: f64,
    pub margin: f64,
    pub roi: f64,
    pub factors: Vec<Factor>,
    /// The cost depends on data the merchant has not provided; `cost` leaves it out.
    pub cost_unknown: bool,
}

/// The strategy's response rate in the customer's segment (posterior mean) and whether it
/// rests on observations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResponseRate {
    pub rate: f64,
    pub observed: bool,
}

/// The order value a conversion is worth, and where it comes from: the value model's
/// expected order value (Gamma-Gamma) when there is one, else the observed average.
fn order_value_factor(c: &CustomerFacts, v: f64) -> Factor {
    let from_model = c.predictive.is_some_and(|p| p.expected_order_value > 0.0);
    Factor {
        name: "order_value",
        value: v,
        effect: 0.0,
        prior: false,
        description: if from_model {
            format!("the value model's expected order value, {v:.0} minor units (Gamma-Gamma)")
        } else {
            format!("observed average order value, {v:.0} minor units (no value model with spend)")
        },
    }
}

/// Purchase probability within the horizon without any strategy.
pub fn baseline_probability(c: &CustomerFacts, priors: &Priors) -> (f64, bool) {
    match c.predictive {
        Some(p) => {
            let horizon = f64::from(priors.scoring_horizon_days.max(1));
            let model_horizon = if p.horizon_days > 0 {
                f64::from(p.horizon_days)
            } else {
                horizon
            };
            let expected = p.expected_purchases.max(0.0) * horizon / model_horizon;
            ((1.0 - (-expected).exp()).clamp(0.0, 0.999), true)
        }
        None => (priors.baseline_conversion_rate, false),
    }
}

/// Satisfaction change -> relative repurchase change, capped at +100 % satisfaction.
fn repurchase_from_satisfaction(priors: &Priors, satisfaction_gain: f64) -> f64 {
    priors.satisfaction_to_repurchase_elasticity * satisfaction_gain.clamp(0.0, 1.0)
}

/// Satisfaction gained by lowering what the customer pays by `share` (0..1) of a cost
/// the customer is `sensitivity`-sensitive to. The report's shipping-cost figure (−10 %
/// satisfaction per +10 % cost) is applied symmetrically.
fn price_relief_satisfaction(priors: &Priors, share: f64, sensitivity: f64) -> f64 {
    (priors.satisfaction_loss_per_10pct_shipping_cost * share.max(0.0) / 0.10).min(1.0)
        * sensitivity.clamp(0.0, 1.0)
}

fn stage_multiplier(stage: Stage) -> f64 {
    match stage {
        Stage::Evaluation | Stage::Purchase => 1.5,
        Stage::NeedRecognition | Stage::InformationSearch => 1.2,
        Stage::Loyal => 0.8,
        Stage::AfterSales | Stage::Unknown => 1.0,
    }
}

/// What a kind does for a customer: relevance weight of the activation term, relative
/// repurchase gain, cost per contact and per converted order (before the cost model).
struct KindEffect {
    relevance: f64,
    relevance_factor: Factor,
    repurchase_gain: f64,
    repurchase_factor: Option<Factor>,
    contact_cost: f64,
    conversion_cost: f64,
}

fn observed(name: &'static str, value: f64, description: String) -> Factor {
    Factor {
        name,
        value,
        effect: 0.0,
        prior: false,
        description,
    }
}

fn prior(name: &'static str, value: f64, description: String) -> Factor {
    Factor {
        name,
        value,
        effect: 0.0,
        prior: true,
        description,
    }
}

fn kind_effect(spec: &StrategySpec, c: &CustomerFacts, priors: &Priors) -> KindEffect {
    let v = c.order_value();
    let l = &c.logistics;
    let ps = c.discount_order_share.clamp(0.0, 1.0);
    let p_alive = c
        .predictive
        .map_or(0.5, |p| p.probability_alive.clamp(0.0, 1.0));
    let price_effect = |share: f64,
                        sensitivity: f64,
                        name: &'static str|
     -> (f64, Option<Factor>) {
        let gain = repurchase_from_satisfaction(
            priors,
            price_relief_satisfaction(priors, share, sensitivity),
        );
        (
            gain,
            Some(prior(
                name,
                priors.satisfaction_loss_per_10pct_shipping_cost,
                format!(
                    "cost relief of {:.0} % at sensitivity {:.2}: satisfaction +{:.0} % per 10 % (report), repurchase +{:.1} %",
                    share * 100.0,
                    sensitivity,
                    priors.satisfaction_loss_per_10pct_shipping_cost * 100.0,
                    gain * 100.0
                ),
            )),
        )
    };
    let price_relevance = || {
        (
            0.5 + ps,
            observed(
                "price_sensitivity",
                ps,
                format!("{:.0} % of orders used a discount", ps * 100.0),
            ),
        )
    };
    let none = |relevance: f64, factor: Factor| KindEffect {
        relevance,
        relevance_factor: factor,
        repurchase_gain: 0.0,
        repurchase_factor: None,
        contact_cost: 0.0,
        conversion_cost: 0.0,
    };
    match &spec.params {
        Params::Coupon {
            percent_off,
            amount_off,
            ..
        } => {
            let discount = match (percent_off, amount_off) {
                (Some(p), _) => p / 100.0 * v,
                (None, Some(a)) => (*a as f64).min(v),
                _ => 0.0,
            };
            let share = if v > 0.0 { discount / v } else { 0.0 };
            let (gain, factor) = price_effect(share, ps, "discount_satisfaction_gain");
            let (relevance, rf) = price_relevance();
            KindEffect {
                relevance,
                relevance_factor: rf,
                repurchase_gain: gain,
                repurchase_factor: factor,
                contact_cost: 0.0,
                conversion_cost: discount,
            }
        }
        Params::Bundle { percent_off, .. } => {
            // The bundle discount covers part of a basket: half the coupon effect (assumption).
            let share = percent_off / 100.0;
            let (gain, factor) = price_effect(share, ps, "bundle_discount_satisfaction_gain");
            let (relevance, rf) = price_relevance();
            KindEffect {
                relevance,
                relevance_factor: rf,
                repurchase_gain: gain * 0.5,
                repurchase_factor: factor,
                contact_cost: 0.0,
                conversion_cost: share * v,
            }
        }
        Params::LoyaltyPoints { points_value, .. } => {
            let value = *points_value as f64;
            let share = if v > 0.0 { (value / v).min(1.0) } else { 0.0 };
            let (gain, factor) = price_effect(share, ps, "points_satisfaction_gain");
            let (relevance, rf) = price_relevance();
            KindEffect {
                relevance,
                relevance_factor: rf,
                repurchase_gain: gain,
                repurchase_factor: factor,
                contact_cost: 0.0,
                conversion_cost: value,
            }
        }
        Params::FreeShipping { .. } | Params::ShippingSubsidy { .. } => {
            // Unknown stays out of the cost (`Score::cost_unknown` says so), never taken as 0.
            let known = shipping_cost(spec, c);
            let s = known.unwrap_or(0.0);
            let relief_share = match &spec.params {
                Params::ShippingSubsidy {
                    subsidy_rate,
                    max_subsidy,
                    ..
                } => match max_subsidy {
                    Some(max) if s > 0.0 => subsidy_rate.min(*max as f64 / s),
                    _ => *subsidy_rate,
                },
                _ => 1.0,
            };
            let relief_share = if s > 0.0 || known.is_none() {
                relief_share
            } else {
                0.0
            };
            let (gain, factor) = price_effect(
                relief_share,
                l.shipping_cost_sensitivity,
                "shipping_cost_satisfaction_gain",
            );
            KindEffect {
                relevance: 0.5 + l.shipping_cost_sensitivity,
                relevance_factor: observed(
                    "shipping_cost_sensitivity",
                    l.shipping_cost_sensitivity,
                    match known {
                        Some(s) => format!(
                            "shipping cost sensitivity {:.2}, mean shipping cost {s:.0}",
                            l.shipping_cost_sensitivity
                        ),
                        None => format!(
                            "shipping cost sensitivity {:.2}, shipping cost unknown (no order \
                             carried one; the strategy sets no assumed_shipping_cost)",
                            l.shipping_cost_sensitivity
                        ),
                    },
                ),
                repurchase_gain: gain,
                repurchase_factor: factor,
                contact_cost: 0.0,
                conversion_cost: relief_share * s,
            }
        }
        Params::ExpeditedDelivery { days_saved, .. } => {
            let delay = if l.average_delay_days > 0.0 {
                l.average_delay_days
            } else {
                f64::from(*days_saved)
            };
            let days = f64::from(*days_saved).min(delay);
            let satisfaction =
                priors.satisfaction_loss_per_delay_day * days * l.late_delivery_share;
            let gain = repurchase_from_satisfaction(priors, satisfaction);
            KindEffect {
                relevance: 0.5 + l.late_delivery_share,
                relevance_factor: observed(
                    "late_delivery_share",
                    l.late_delivery_share,
                    format!(
                        "{:.0} % of deliveries were late",
                        l.late_delivery_share * 100.0
                    ),
                ),
                repurchase_gain: gain,
                repurchase_factor: Some(prior(
                    "delay_satisfaction_loss",
                    priors.satisfaction_loss_per_delay_day,
                    format!(
                        "{days:.1} days of delay avoided on late orders, -{:.0} % satisfaction per day (report)",
                        priors.satisfaction_loss_per_delay_day * 100.0
                    ),
                )),
                contact_cost: 0.0,
                conversion_cost: 0.0,
            }
        }
        Params::TrackingUpgrade {
            real_time_tracking,
            proactive_delay_notifications,
        } => {
            let level = if *real_time_tracking || *proactive_delay_notifications {
                1.0
            } else {
                0.5
            };
            let headroom = 1.0 - l.tracking_usage_rate.clamp(0.0, 1.0);
            KindEffect {
                relevance: 0.5 + 0.5 * headroom,
                relevance_factor: observed(
                    "tracking_usage_rate",
                    l.tracking_usage_rate,
                    format!(
                        "tracking already used on {:.0} % of orders",
                        l.tracking_usage_rate * 100.0
                    ),
                ),
                repurchase_gain: priors.tracking_repurchase_gain * level * headroom,
                repurchase_factor: Some(prior(
                    "tracking_repurchase_gain",
                    priors.tracking_repurchase_gain,
                    format!(
                        "tracking: repurchase +{:.0} % (report)",
                        priors.tracking_repurchase_gain * 100.0
                    ),
                )),
                contact_cost: 0.0,
                conversion_cost: 0.0,
            }
        }
        Params::AfterSalesGuarantee {
            late_delivery_compensation,
            ..
        } => {
            let exposure = 0.5
                + 0.5
                    * l.late_delivery_share
                        .max(l.post_delay_ticket_rate)
                        .clamp(0.0, 1.0);
            KindEffect {
                relevance: exposure,
                relevance_factor: observed("logistics_problem_exposure", exposure, "half weight for everyone, full weight for customers whose deliveries are late or lead to tickets".to_owned()),
                repurchase_gain: priors.after_sales_repurchase_gain * exposure,
                repurchase_factor: Some(prior("after_sales_repurchase_gain", priors.after_sales_repurchase_gain, format!("logistics after-sales: repurchase +{:.0} % (report)", priors.after_sales_repurchase_gain * 100.0))),
                contact_cost: 0.0,
                conversion_cost: *late_delivery_compensation as f64 * l.late_delivery_share,
            }
        }
        Params::TierUpgrade { .. } => none(
            0.5 + p_alive,
            observed(
                "probability_alive",
                p_alive,
                "tier upgrades work on customers still active".to_owned(),
            ),
        ),
        Params::WinBackMessage { .. } => none(
            1.0 + (1.0 - p_alive),
            observed(
                "probability_alive",
                p_alive,
                "win-back targets lapsing customers".to_owned(),
            ),
        ),
        Params::SocialAdCampaign { expected_cpm, .. } => KindEffect {
            contact_cost: *expected_cpm as f64 / 1000.0,
            ..none(
                0.5 + 0.5 * c.influence,
                observed(
                    "social_influence",
                    c.influence,
                    "socially active customers respond more to social ads".to_owned(),
                ),
            )
        },
    }
}

/// Scores one strategy for one customer.
pub fn score(
    spec: &StrategySpec,
    c: &CustomerFacts,
    priors: &Priors,
    response: ResponseRate,
) -> Score {
    let (p0, p0_observed) = baseline_probability(c, priors);
    let kind = kind_effect(spec, c, priors);
    let stage = stage_multiplier(c.stage);
    let pay = (1.0 - c.payment_failure_rate.clamp(0.0, 1.0))
        * if c.slow_payment_method { 0.8 } else { 1.0 };
    let activation = (1.0 - p0) * response.rate * kind.relevance * stage * pay;
    let repurchase = p0 * kind.repurchase_gain;
    let uplift = (activation + repurchase).min(1.0 - p0).max(0.0);

    let v = c.order_value();
    let revenue = uplift * v;
    let buyers = p0 + uplift;
    let cost = spec.cost.fixed_cost_per_contact as f64
        + kind.contact_cost
        + buyers
            * (spec.cost.variable_cost_rate * v
                + spec.cost.cost_per_conversion as f64
                + kind.conversion_cost);
    let margin = revenue * priors.gross_margin_rate - cost;
    let roi = if cost > 0.0 { margin / cost } else { 0.0 };

    let mut factors = vec![
        Factor {
            name: "segment_response_rate",
            value: response.rate,
            effect: activation,
            prior: !response.observed,
            description: if response.observed {
                "response rate learned from this strategy's results in the customer's segment"
                    .to_owned()
            } else {
                "no results yet: the prior baseline response rate".to_owned()
            },
        },
        Factor {
            effect: activation - activation / kind.relevance.max(1e-9),
            ..kind.relevance_factor
        },
        Factor {
            name: "decision_stage",
            value: stage,
            effect: activation - activation / stage,
            prior: false,
            description: format!("decision stage {:?}", c.stage),
        },
        Factor {
            name: "payment_friction",
            value: pay,
            effect: activation - if pay > 0.0 { activation / pay } else { 0.0 },
            prior: false,
            description: format!(
                "payment failure rate {:.0} %{}",
                c.payment_failure_rate * 100.0,
                if c.slow_payment_method {
                    ", slow payment method"
                } else {
                    ""
                }
            ),
        },
        Factor {
            name: "baseline_purchase_probability",
            value: p0,
            effect: 0.0,
            prior: !p0_observed,
            description: match c.predictive {
                Some(p) if p0_observed => format!(
                    "from the value model: {:.3} expected purchases in {} days, P(alive) {:.2}",
                    p.expected_purchases, p.horizon_days, p.probability_alive
                ),
                _ => "no value model: prior baseline rate".to_owned(),
            },
        },
        order_value_factor(c, v),
    ];
    if let Some(f) = kind.repurchase_factor {
        factors.push(Factor {
            effect: repurchase,
            ..f
        });
    }
    factors.sort_by(|a, b| b.effect.abs().total_cmp(&a.effect.abs()));
    Score {
        baseline: p0,
        uplift,
        revenue,
        cost,
        margin,
        roi,
        factors,
        cost_unknown: cost_unknown(spec, c),
    }
}

/// Ranking order: scores of known cost first (an unknown cost is not a free one), then
/// ROI, then margin, both descending.
pub fn rank_order(a: &Score, b: &Score) -> std::cmp::Ordering {
    a.cost_unknown
        .cmp(&b.cost_unknown)
        .then(b.roi.total_cmp(&a.roi))
        .then(b.margin.total_cmp(&a.margin))
}

/// The per-order shipping cost a shipping strategy relieves for this customer: the mean of
/// their orders' shipping costs, else the strategy's assumed cost; `None` when neither is
/// known. `None` for other strategies too (they do not depend on it).
fn shipping_cost(spec: &StrategySpec, c: &CustomerFacts) -> Option<f64> {
    let assumed = match &spec.params {
        Params::FreeShipping {
            assumed_shipping_cost,
            ..
        }
        | Params::ShippingSubsidy {
            assumed_shipping_cost,
            ..
        } => *assumed_shipping_cost,
        _ => return None,
    };
    c.logistics
        .average_shipping_cost
        .or(assumed.map(|x| x as f64))
        .map(|s| s.max(0.0))
}

/// Whether the strategy's cost depends on data this customer does not have.
fn cost_unknown(spec: &StrategySpec, c: &CustomerFacts) -> bool {
    matches!(
        spec.params,
        Params::FreeShipping { .. } | Params::ShippingSubsidy { .. }
    ) && shipping_cost(spec, c).is_none()
}

/// A strategy offered to one customer, with what the caller looked up for it.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub spec: &'a StrategySpec,
    pub response: ResponseRate,
    /// Contacts with this strategy within its frequency-cap period.
    pub contacts_in_period: u32,
}

/// One customer's outcome: scores (best first, with the candidate index) and skips.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerScores {
    pub scores: Vec<(usize, Score)>,
    pub skipped: Vec<(usize, String)>,
}

/// Scores every eligible, uncapped candidate for the customer and ranks them.
pub fn score_customer(
    c: &CustomerFacts,
    priors: &Priors,
    candidates: &[Candidate<'_>],
) -> CustomerScores {
    let mut scores = Vec::with_capacity(candidates.len());
    let mut skipped = Vec::new();
    for (i, candidate) in candidates.iter().enumerate() {
        let why = candidate
            .spec
            .ineligibility(c)
            .or_else(|| candidate.spec.cap_reached(candidate.contacts_in_period));
        match why {
            Some(reason) => skipped.push((i, reason)),
            None => scores.push((i, score(candidate.spec, c, priors, candidate.response))),
        }
    }
    scores.sort_by(|a, b| rank_order(&a.1, &b.1));
    CustomerScores { scores, skipped }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customer::{Logistics, Predictive};
    use crate::strategy::{CostModel, Eligibility};

    fn customer() -> CustomerFacts {
        CustomerFacts {
            customer: "merchants/acme/customers/c1".to_owned(),
            predictive: Some(Predictive {
                probability_alive: 0.8,
                expected_purchases: 0.5,
                horizon_days: 30,
                expected_order_value: 10_000.0,
                lifetime_value: 50_000.0,
            }),
            average_order_value: 9_000.0,
            discount_order_share: 0.5,
            logistics: Logistics {
                late_delivery_share: 0.4,
                average_delay_days: 2.0,
                shipping_cost_sensitivity: 0.6,
                tracking_usage_rate: 0.25,
                average_shipping_cost: Some(1_000.0),
                post_delay_ticket_rate: 0.1,
            },
            ..CustomerFacts::default()
        }
    }

    fn spec(params: Params, cost: CostModel) -> StrategySpec {
        StrategySpec {
            name: "merchants/acme/strategies/s".to_owned(),
            id: "s".to_owned(),
            params,
            cost,
            eligibility: Eligibility::default(),
            frequency_cap: None,
        }
    }

    const PRIOR_RATE: ResponseRate = ResponseRate {
        rate: 0.02,
        observed: false,
    };

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    /// Every score says which value-model figures it rests on: the expected purchases
    /// behind the baseline and the expected order value behind the revenue, or that it fell
    /// back to observed values.
    #[test]
    fn factors_name_the_value_models_figures() {
        let priors = Priors::default();
        let strategy = spec(
            Params::FreeShipping {
                min_spend: 0,
                country_codes: vec![],
                assumed_shipping_cost: Some(500),
            },
            CostModel::default(),
        );
        let factor = |c: &CustomerFacts, name: &str| {
            score(&strategy, c, &priors, PRIOR_RATE)
                .factors
                .into_iter()
                .find(|f| f.name == name)
                .expect("factor present")
        };
        let modelled = customer();
        let value = factor(&modelled, "order_value");
        assert!(close(value.value, 10_000.0), "{value:?}");
        assert!(
            value.description.contains("expected order value"),
            "{value:?}"
        );
        let baseline = factor(&modelled, "baseline_purchase_probability");
        assert!(
            baseline
                .description
                .contains("0.500 expected purchases in 30 days"),
            "{baseline:?}"
        );
        let observed = CustomerFacts {
            predictive: None,
            ..customer()
        };
        let value = factor(&observed, "order_value");
        assert!(close(value.value, 9_000.0), "{value:?}");
        assert!(value.description.contains("observed average"), "{value:?}");
        assert!(factor(&observed, "baseline_purchase_probability").prior);
    }

    #[test]
    fn baseline_scales_expected_purchases_to_the_horizon() {
        let priors = Priors::default();
        let (p0, observed) = baseline_probability(&customer(), &priors);
        assert!(observed && close(p0, 1.0 - (-0.5f64).exp()));
        let long = Priors {
            scoring_horizon_days: 60,
            ..priors
        };
        assert!(close(
            baseline_probability(&customer(), &long).0,
            1.0 - (-1.0f64).exp()
        ));
        let unknown = CustomerFacts::default();
        assert_eq!(baseline_probability(&unknown, &priors), (0.02, false));
    }

    /// Shipping costs the merchant never sent are not a free strategy: free shipping is
    /// marked cost-unknown and ranks after a loss-making strategy of known cost, until the
    /// strategy names an assumed cost, which then prices it like an observed one.
    #[test]
    fn an_unknown_shipping_cost_is_not_free() {
        let priors = Priors::default();
        let mut c = customer();
        c.logistics.average_shipping_cost = None;
        let free = |assumed| {
            spec(
                Params::FreeShipping {
                    min_spend: 0,
                    country_codes: vec![],
                    assumed_shipping_cost: assumed,
                },
                CostModel::default(),
            )
        };
        let costly = spec(
            Params::TrackingUpgrade {
                real_time_tracking: true,
                proactive_delay_notifications: false,
            },
            CostModel {
                fixed_cost_per_contact: 100_000,
                variable_cost_rate: 0.0,
                cost_per_conversion: 0,
            },
        );
        let (unknown, loss) = (free(None), costly);
        let candidates = [
            Candidate {
                spec: &unknown,
                response: PRIOR_RATE,
                contacts_in_period: 0,
            },
            Candidate {
                spec: &loss,
                response: PRIOR_RATE,
                contacts_in_period: 0,
            },
        ];
        let ranked = score_customer(&c, &priors, &candidates).scores;
        assert!(
            ranked[0].1.roi < 0.0 && !ranked[0].1.cost_unknown,
            "{ranked:?}"
        );
        assert_eq!(ranked[1].0, 0, "free shipping of unknown cost ranks last");
        assert!(ranked[1].1.cost_unknown);

        let assumed = free(Some(1_000));
        let priced = score(&assumed, &c, &priors, PRIOR_RATE);
        let observed = score(&free(None), &customer(), &priors, PRIOR_RATE);
        assert!(!priced.cost_unknown && priced.cost > 0.0);
        assert!(close(priced.cost, observed.cost) && close(priced.uplift, observed.uplift));
    }

    #[test]
    fn tracking_uplift_by_hand() {
        // p0 = 1 - e^-0.5 = 0.393469; headroom 0.75; relevance 0.875.
        // A = (1 - p0) x 0.02 x 0.875 = 0.0106143; R = p0 x 0.20 x 0.75 = 0.0590204.
        let c = customer();
        let s = spec(
            Params::TrackingUpgrade {
                real_time_tracking: true,
                proactive_delay_notifications: false,
            },
            CostModel {
                fixed_cost_per_contact: 10,
                variable_cost_rate: 0.0,
                cost_per_conversion: 100,
            },
        );
        let score = score(&s, &c, &Priors::default(), PRIOR_RATE);
        let p0 = 1.0 - (-0.5f64).exp();
        let a = (1.0 - p0) * 0.02 * 0.875;
        let r = p0 * 0.20 * 0.75;
        assert!(close(score.uplift, a + r), "{score:?}");
        assert!(close(score.revenue, (a + r) * 10_000.0));
        let cost = 10.0 + (p0 + a + r) * 100.0;
        assert!(close(score.cost, cost));
        assert!(close(score.margin, (a + r) * 10_000.0 * 0.30 - cost));
        assert!(close(score.roi, score.margin / cost));
        assert_eq!(
            score.factors[0].name, "tracking_repurchase_gain",
            "largest effect first"
        );
        assert!(close(score.factors[0].effect, r));
    }

    #[test]
    fn coupon_cost_includes_cannibalised_buyers() {
        // 10 % coupon, order 10 000: discount 1 000 per buyer. Satisfaction gain
        // 0.10 x 1.0 x ps 0.5 = 0.05 -> repurchase 0.025. Relevance 0.5 + 0.5 = 1.
        let c = customer();
        let s = spec(
            Params::Coupon {
                percent_off: Some(10.0),
                amount_off: None,
                min_spend: 0,
                validity_seconds: 0,
            },
            CostModel::default(),
        );
        let score = score(&s, &c, &Priors::default(), PRIOR_RATE);
        let p0 = 1.0 - (-0.5f64).exp();
        let uplift = (1.0 - p0) * 0.02 + p0 * 0.025;
        assert!(close(score.uplift, uplift));
        assert!(close(score.cost, (p0 + uplift) * 1_000.0));
        assert!(
            score.margin < 0.0,
            "a blanket coupon to likely buyers loses money"
        );
    }

    #[test]
    fn expedited_delivery_uses_the_delay_prior() {
        // 3 days saved, mean delay 2 -> 2 days x 0.15 x late share 0.4 = 0.12 satisfaction,
        // repurchase 0.06; relevance 0.9.
        let c = customer();
        let s = spec(
            Params::ExpeditedDelivery {
                days_saved: 3,
                carrier: String::new(),
            },
            CostModel::default(),
        );
        let score = score(&s, &c, &Priors::default(), PRIOR_RATE);
        let p0 = 1.0 - (-0.5f64).exp();
        assert!(close(score.uplift, (1.0 - p0) * 0.02 * 0.9 + p0 * 0.06));
        assert_eq!(score.roi, 0.0, "no cost, ROI reported as 0");
        // No late deliveries: no repurchase effect.
        let mut punctual = customer();
        punctual.logistics.late_delivery_share = 0.0;
        let score = super::score(&s, &punctual, &Priors::default(), PRIOR_RATE);
        assert!(close(score.uplift, (1.0 - p0) * 0.02 * 0.5));
    }

    #[test]
    fn learned_response_rates_and_stage_raise_the_uplift() {
        let c = customer();
        let s = spec(
            Params::WinBackMessage {
                channel: crate::customer::Channel::Email,
                template_id: String::new(),
                min_inactive_days: 90,
            },
            CostModel::default(),
        );
        let base = score(&s, &c, &Priors::default(), PRIOR_RATE);
        let learned = score(
            &s,
            &c,
            &Priors::default(),
            ResponseRate {
                rate: 0.06,
                observed: true,
            },
        );
        assert!(close(learned.uplift, base.uplift * 3.0));
        let mut evaluating = customer();
        evaluating.stage = Stage::Evaluation;
        let staged = score(&s, &evaluating, &Priors::default(), PRIOR_RATE);
        assert!(close(staged.uplift, base.uplift * 1.5));
        let mut failing = customer();
        failing.payment_failure_rate = 0.5;
        failing.slow_payment_method = true;
        assert!(close(
            score(&s, &failing, &Priors::default(), PRIOR_RATE).uplift,
            base.uplift * 0.4
        ));
    }

    #[test]
    fn ineligible_and_capped_strategies_are_skipped_with_reasons() {
        let c = customer();
        let mut consent = spec(
            Params::TrackingUpgrade {
                real_time_tracking: true,
                proactive_delay_notifications: true,
            },
            CostModel::default(),
        );
        consent.eligibility.required_consent = Some(crate::customer::Channel::Sms);
        let mut capped = spec(
            Params::TrackingUpgrade {
                real_time_tracking: true,
                proactive_delay_notifications: true,
            },
            CostModel::default(),
        );
        capped.frequency_cap = Some(crate::strategy::FrequencyCap {
            max_contacts: 2,
            period_seconds: 604_800,
        });
        let cheap = spec(
            Params::TrackingUpgrade {
                real_time_tracking: true,
                proactive_delay_notifications: true,
            },
            CostModel {
                fixed_cost_per_contact: 1,
                ..CostModel::default()
            },
        );
        let dear = spec(
            Params::TrackingUpgrade {
                real_time_tracking: true,
                proactive_delay_notifications: true,
            },
            CostModel {
                fixed_cost_per_contact: 100,
                ..CostModel::default()
            },
        );
        let candidates = [
            Candidate {
                spec: &consent,
                response: PRIOR_RATE,
                contacts_in_period: 0,
            },
            Candidate {
                spec: &capped,
                response: PRIOR_RATE,
                contacts_in_period: 2,
            },
            Candidate {
                spec: &dear,
                response: PRIOR_RATE,
                contacts_in_period: 0,
            },
            Candidate {
                spec: &cheap,
                response: PRIOR_RATE,
                contacts_in_period: 5,
            },
        ];
        let out = score_customer(&c, &Priors::default(), &candidates);
        assert_eq!(
            out.skipped,
            vec![
                (0, "no consent for SMS".to_owned()),
                (1, "frequency cap 2 per 7d reached".to_owned())
            ]
        );
        let order: Vec<usize> = out.scores.iter().map(|s| s.0).collect();
        assert_eq!(
            order,
            vec![3, 2],
            "same uplift, the cheaper one has the higher ROI"
        );
    }

    #[test]
    fn uplift_never_exceeds_the_headroom() {
        let mut c = customer();
        c.predictive = Some(Predictive {
            expected_purchases: 50.0,
            ..c.predictive.expect("set")
        });
        let s = spec(
            Params::AfterSalesGuarantee {
                free_return_days: 30,
                late_delivery_compensation: 500,
                resolution_hours: 24,
            },
            CostModel::default(),
        );
        let score = score(
            &s,
            &c,
            &Priors::default(),
            ResponseRate {
                rate: 0.9,
                observed: true,
            },
        );
        assert!(score.baseline + score.uplift <= 1.0 + 1e-12);
        // Compensation is paid on the late share of converted orders.
        assert!(close(
            score.cost,
            (score.baseline + score.uplift) * 500.0 * 0.4
        ));
    }
}
