//! The response priors: effect sizes the scorer assumes before (and blends with) observed
//! campaign results. Defaults are the figures of the cross-border behaviour report,
//! section 4 (logistics experience), plus three stated engineering assumptions.

use serde::{Deserialize, Serialize};

/// A merchant's priors; every field has a documented default (see the service README).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Priors {
    /// Report: each day of delivery delay lowers satisfaction ~15 %.
    pub satisfaction_loss_per_delay_day: f64,
    /// Report: goods' safety meeting expectations raises satisfaction ~20 %.
    pub safety_satisfaction_gain: f64,
    /// Report: every +10 % shipping cost lowers satisfaction ~10 %.
    pub satisfaction_loss_per_10pct_shipping_cost: f64,
    /// Report: good tracking raises satisfaction ~15 %.
    pub tracking_satisfaction_gain: f64,
    /// Report: customers satisfied with tracking repurchase ~20 % more.
    pub tracking_repurchase_gain: f64,
    /// Report: +10 % delivery coverage raises satisfaction ~10 %.
    pub coverage_satisfaction_gain_per_10pct: f64,
    /// Report: good logistics after-sales raises satisfaction ~20 %.
    pub after_sales_satisfaction_gain: f64,
    /// Report: good logistics after-sales raises repurchase ~30 %.
    pub after_sales_repurchase_gain: f64,
    /// Assumption: relative repurchase change per relative satisfaction change.
    pub satisfaction_to_repurchase_elasticity: f64,
    /// Assumption: pseudo-impressions of the Beta prior of each strategy's response rate.
    pub prior_strength: f64,
    /// Assumption: response rate of a strategy without observations.
    pub baseline_conversion_rate: f64,
    /// Assumption: gross margin rate of revenue.
    pub gross_margin_rate: f64,
    /// Horizon of purchase probabilities and uplifts, days.
    pub scoring_horizon_days: i32,
}

impl Default for Priors {
    fn default() -> Self {
        Self {
            satisfaction_loss_per_delay_day: 0.15,
            safety_satisfaction_gain: 0.20,
            satisfaction_loss_per_10pct_shipping_cost: 0.10,
            tracking_satisfaction_gain: 0.15,
            tracking_repurchase_gain: 0.20,
            coverage_satisfaction_gain_per_10pct: 0.10,
            after_sales_satisfaction_gain: 0.20,
            after_sales_repurchase_gain: 0.30,
            satisfaction_to_repurchase_elasticity: 0.5,
            prior_strength: 100.0,
            baseline_conversion_rate: 0.02,
            gross_margin_rate: 0.30,
            scoring_horizon_days: 30,
        }
    }
}

/// Names of the fields, as in the proto (for update masks and violations).
pub const FIELDS: [&str; 13] = [
    "satisfaction_loss_per_delay_day",
    "safety_satisfaction_gain",
    "satisfaction_loss_per_10pct_shipping_cost",
    "tracking_satisfaction_gain",
    "tracking_repurchase_gain",
    "coverage_satisfaction_gain_per_10pct",
    "after_sales_satisfaction_gain",
    "after_sales_repurchase_gain",
    "satisfaction_to_repurchase_elasticity",
    "prior_strength",
    "baseline_conversion_rate",
    "gross_margin_rate",
    "scoring_horizon_days",
];

impl Priors {
    /// Field violations as (field, reason); empty when valid.
    pub fn violations(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let effects = [
            (FIELDS[0], self.satisfaction_loss_per_delay_day),
            (FIELDS[1], self.safety_satisfaction_gain),
            (FIELDS[2], self.satisfaction_loss_per_10pct_shipping_cost),
            (FIELDS[3], self.tracking_satisfaction_gain),
            (FIELDS[4], self.tracking_repurchase_gain),
            (FIELDS[5], self.coverage_satisfaction_gain_per_10pct),
            (FIELDS[6], self.after_sales_satisfaction_gain),
            (FIELDS[7], self.after_sales_repurchase_gain),
        ];
        for (field, v) in effects {
            if !(0.0..=1.0).contains(&v) {
                out.push((field, format!("{v} must be in [0, 1]")));
            }
        }
        if !(0.0..=5.0).contains(&self.satisfaction_to_repurchase_elasticity) {
            out.push((FIELDS[8], "must be in [0, 5]".to_owned()));
        }
        if !(self.prior_strength > 0.0 && self.prior_strength <= 1e9) {
            out.push((FIELDS[9], "must be in (0, 1e9]".to_owned()));
        }
        if !(self.baseline_conversion_rate > 0.0 && self.baseline_conversion_rate < 1.0) {
            out.push((FIELDS[10], "must be in (0, 1)".to_owned()));
        }
        if !(0.0..=1.0).contains(&self.gross_margin_rate) {
            out.push((FIELDS[11], "must be in [0, 1]".to_owned()));
        }
        if !(1..=3650).contains(&self.scoring_horizon_days) {
            out.push((FIELDS[12], "must be 1 to 3650 days".to_owned()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_report_figures_and_valid() {
        let p = Priors::default();
        assert_eq!(p.satisfaction_loss_per_delay_day, 0.15);
        assert_eq!(p.satisfaction_loss_per_10pct_shipping_cost, 0.10);
        assert_eq!(
            (p.tracking_satisfaction_gain, p.tracking_repurchase_gain),
            (0.15, 0.20)
        );
        assert_eq!(
            (
                p.after_sales_satisfaction_gain,
                p.after_sales_repurchase_gain
            ),
            (0.20, 0.30)
        );
        assert!(p.violations().is_empty());
    }

    #[test]
    fn stored_json_fills_missing_fields_with_defaults() {
        let p: Priors = serde_json::from_str(r#"{"gross_margin_rate": 0.5}"#).expect("json");
        assert_eq!(p.gross_margin_rate, 0.5);
        assert_eq!(p.prior_strength, 100.0);
        let bad = Priors {
            baseline_conversion_rate: 1.0,
            scoring_horizon_days: 0,
            ..Priors::default()
        };
        assert_eq!(bad.violations().len(), 2);
    }
}
