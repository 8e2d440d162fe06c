//! Loyalty score, tier and churn risk of a customer, from the profile's purchase history,
//! P(alive), satisfaction and logistics experience. Weights are documented in the README.

use crate::customer::CustomerFacts;

#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    pub name: &'static str,
    /// Normalised value, 0..1.
    pub value: f64,
    pub weight: f64,
}

impl Component {
    pub fn contribution(&self) -> f64 {
        self.value * self.weight
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    Bronze,
    Silver,
    Gold,
    Platinum,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RiskLevel {
    Low,
    Medium,
    High,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    /// 0..100.
    pub score: f64,
    pub tier: Tier,
    pub components: Vec<Component>,
    pub churn_probability: f64,
    pub churn_level: RiskLevel,
    pub churn_components: Vec<Component>,
}

fn by_contribution(mut v: Vec<Component>) -> Vec<Component> {
    v.sort_by(|a, b| b.contribution().abs().total_cmp(&a.contribution().abs()));
    v
}

/// Recency decays with a 90-day half-life-like scale: exp(-days / 90).
fn recency_value(c: &CustomerFacts) -> f64 {
    match (c.order_count, c.recency_days) {
        (0, _) | (_, None) => 0.0,
        (_, Some(days)) => (-f64::from(days.max(0)) / 90.0).exp(),
    }
}

/// Silent gaps longer than this many of the customer's own usual gaps count as fully lapsed.
const LAPSED_AFTER_GAPS: f64 = 4.0;

/// How far past their own purchase rhythm a repeat customer is, 0..1: 0 while the silence
/// since the last order is within the usual gap between orders, 1 at [`LAPSED_AFTER_GAPS`]
/// times that gap. 0 without a rhythm (fewer than two orders). A value model can call a
/// customer alive who stopped long ago (BG/NBD with a tiny dropout parameter): the rhythm
/// keeps such a customer from looking safe.
fn rhythm_lapse(c: &CustomerFacts) -> f64 {
    let gap = c.average_days_between_orders;
    match c.recency_days {
        Some(days) if c.order_count >= 2 && gap.is_finite() && gap > 0.0 => {
            let overdue = f64::from(days.max(0)) / gap;
            ((overdue - 1.0) / (LAPSED_AFTER_GAPS - 1.0)).clamp(0.0, 1.0)
        }
        _ => 0.0,
    }
}

pub fn tier_for(score: f64) -> Tier {
    match score {
        s if s >= 80.0 => Tier::Platinum,
        s if s >= 60.0 => Tier::Gold,
        s if s >= 40.0 => Tier::Silver,
        _ => Tier::Bronze,
    }
}

pub fn risk_level(probability: f64) -> RiskLevel {
    match probability {
        p if p >= 0.6 => RiskLevel::High,
        p if p >= 0.3 => RiskLevel::Medium,
        _ => RiskLevel::Low,
    }
}

/// Satisfaction 0..1 from the mean review rating (1..5); neutral 0.5 without reviews.
fn satisfaction(c: &CustomerFacts) -> f64 {
    c.average_rating
        .map_or(0.5, |r| ((r - 1.0) / 4.0).clamp(0.0, 1.0))
}

pub fn assess(c: &CustomerFacts) -> Assessment {
    let repeat = if c.order_count <= 1 {
        0.0
    } else {
        1.0 - (-((c.order_count - 1) as f64) / 3.0).exp()
    };
    let alive = c.predictive.map(|p| p.probability_alive.clamp(0.0, 1.0));
    let late = c.logistics.late_delivery_share.clamp(0.0, 1.0);
    let components = by_contribution(vec![
        Component {
            name: "repeat_purchase",
            value: repeat,
            weight: 0.30,
        },
        Component {
            name: "recency",
            value: recency_value(c),
            weight: 0.25,
        },
        Component {
            name: "satisfaction",
            value: satisfaction(c),
            weight: 0.15,
        },
        Component {
            name: "probability_alive",
            value: alive.unwrap_or(0.0),
            weight: 0.15,
        },
        Component {
            name: "tracking_usage",
            value: c.logistics.tracking_usage_rate.clamp(0.0, 1.0),
            weight: 0.05,
        },
        Component {
            name: "social_advocacy",
            value: c.influence.clamp(0.0, 1.0),
            weight: 0.10,
        },
        Component {
            name: "late_delivery_exposure",
            value: late,
            weight: -0.10,
        },
    ]);
    let score =
        (components.iter().map(Component::contribution).sum::<f64>() * 100.0).clamp(0.0, 100.0);

    // Churn: 1 - P(alive) when the value model knows it, else 1 - recency value, or the
    // lapse from the customer's own rhythm when that is larger; then +0.10 x late share
    // and +/-0.10 around neutral satisfaction.
    let model = alive.map_or(1.0 - recency_value(c), |a| 1.0 - a);
    let rhythm = rhythm_lapse(c);
    let (base_name, base) = match (rhythm > model, alive.is_some()) {
        (true, _) => ("overdue_for_rhythm", rhythm),
        (false, true) => ("not_alive", model),
        (false, false) => ("recency_lapse", model),
    };
    let churn_components = by_contribution(vec![
        Component {
            name: base_name,
            value: base,
            weight: 1.0,
        },
        Component {
            name: "late_delivery_exposure",
            value: late,
            weight: 0.10,
        },
        Component {
            name: "satisfaction",
            value: satisfaction(c),
            weight: -0.20,
        },
        Component {
            name: "satisfaction_neutral_offset",
            value: 1.0,
            weight: 0.10,
        },
    ]);
    let churn = churn_components
        .iter()
        .map(Component::contribution)
        .sum::<f64>()
        .clamp(0.0, 1.0);
    Assessment {
        score,
        tier: tier_for(score),
        components,
        churn_probability: churn,
        churn_level: risk_level(churn),
        churn_components,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customer::Predictive;

    #[test]
    fn tiers_and_levels_have_the_documented_thresholds() {
        assert_eq!(tier_for(80.0), Tier::Platinum);
        assert_eq!(tier_for(79.9), Tier::Gold);
        assert_eq!(tier_for(40.0), Tier::Silver);
        assert_eq!(tier_for(0.0), Tier::Bronze);
        assert_eq!(risk_level(0.6), RiskLevel::High);
        assert_eq!(risk_level(0.3), RiskLevel::Medium);
        assert_eq!(risk_level(0.29), RiskLevel::Low);
    }

    #[test]
    fn loyal_customer_by_hand() {
        // 4 orders -> repeat 1 - e^-1 = 0.632121; recency 9 days -> e^-0.1 = 0.904837;
        // rating 5 -> 1; alive 0.9; no tracking, influence 0.5, no late deliveries.
        let c = CustomerFacts {
            order_count: 4,
            recency_days: Some(9),
            average_rating: Some(5.0),
            influence: 0.5,
            predictive: Some(Predictive {
                probability_alive: 0.9,
                ..Predictive::default()
            }),
            ..CustomerFacts::default()
        };
        let a = assess(&c);
        let expected =
            100.0 * (0.30 * 0.632_121 + 0.25 * 0.904_837 + 0.15 + 0.15 * 0.9 + 0.10 * 0.5);
        assert!(
            (a.score - expected).abs() < 1e-3,
            "{} vs {expected}",
            a.score
        );
        assert_eq!(a.tier, Tier::Gold, "75.1 points");
        // Churn: 0.1 + 0 - 0.2 + 0.1 = 0.0.
        assert!(a.churn_probability.abs() < 1e-9);
        assert_eq!(a.churn_level, RiskLevel::Low);
    }

    /// A customer silent for many times their own usual gap is never LOW risk, however
    /// alive a value model calls them and however satisfied they were.
    #[test]
    fn silent_for_many_usual_gaps_is_never_low_risk() {
        for gaps in [2.5, 4.0, 10.0, 50.0] {
            for p_alive in [0.5, 0.99, 1.0] {
                let c = CustomerFacts {
                    order_count: 12,
                    average_days_between_orders: 7.0,
                    recency_days: Some((7.0 * gaps) as i32),
                    average_rating: Some(5.0),
                    predictive: Some(Predictive {
                        probability_alive: p_alive,
                        ..Predictive::default()
                    }),
                    ..CustomerFacts::default()
                };
                let a = assess(&c);
                assert_ne!(
                    a.churn_level,
                    RiskLevel::Low,
                    "{gaps} gaps, P(alive) {p_alive}"
                );
                if gaps >= 4.0 {
                    assert_eq!(a.churn_level, RiskLevel::High, "{gaps} gaps");
                    assert_eq!(a.churn_components[0].name, "overdue_for_rhythm");
                }
            }
        }
        // Within the rhythm, the model decides.
        let regular = CustomerFacts {
            order_count: 12,
            average_days_between_orders: 7.0,
            recency_days: Some(5),
            average_rating: Some(5.0),
            predictive: Some(Predictive {
                probability_alive: 0.99,
                ..Predictive::default()
            }),
            ..CustomerFacts::default()
        };
        assert_eq!(assess(&regular).churn_level, RiskLevel::Low);
    }

    #[test]
    fn lapsed_customer_with_late_deliveries_is_at_risk() {
        let c = CustomerFacts {
            order_count: 1,
            recency_days: Some(400),
            predictive: Some(Predictive {
                probability_alive: 0.2,
                ..Predictive::default()
            }),
            logistics: crate::customer::Logistics {
                late_delivery_share: 1.0,
                ..Default::default()
            },
            ..CustomerFacts::default()
        };
        let a = assess(&c);
        // 0.8 + 0.1 - 0.1 (neutral satisfaction 0.5 x -0.2) + 0.1 = 0.9.
        assert!((a.churn_probability - 0.9).abs() < 1e-9);
        assert_eq!(a.churn_level, RiskLevel::High);
        assert_eq!(a.tier, Tier::Bronze);
        // Without a value model the recency lapse stands in for P(alive).
        let unknown = CustomerFacts {
            predictive: None,
            ..c
        };
        assert_eq!(
            assess(&unknown)
                .churn_components
                .iter()
                .filter(|x| x.name == "recency_lapse")
                .count(),
            1
        );
    }
}
