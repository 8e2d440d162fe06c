//! Discounted customer lifetime value over a finite horizon.
//!
//! With a purchase model's conditional expectation E[Y(t) | x, t_x, T] (BG/NBD or Pareto/NBD),
//! the expected value per purchase m (usually the Gamma-Gamma E[M | x, m̄]), a margin g, a
//! discount rate d per period and periods of length L (in the model's time unit):
//!
//! ```text
//! CLV = Σ_{k=1}^{n} g · m · (E[Y(kL)] − E[Y((k−1)L)]) / (1 + d)^k
//! ```
//!
//! i.e. the purchases expected within period k, valued at m·g and discounted to the end of
//! that period. This is the discrete approximation of lifetimes'
//! `GammaGammaFitter.customer_lifetime_value` (periods = months, L = 4.345 weeks when the
//! model is fitted in weeks) and of Fader, Hardie & Lee (2005, "RFM and CLV") discounted
//! expected transactions, truncated at n periods. With d = 0 the sum telescopes to
//! g · m · E[Y(nL)].

use super::gamma_gamma::GammaGammaParams;
use super::{PurchaseModel, RfmSummary, ValueModelError};

/// Horizon, discounting and margin of a CLV computation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClvOptions {
    /// Number of discount periods n in the horizon.
    pub periods: u32,
    /// Length L of one period in the model's time unit (4.345 = a month when fitted in weeks).
    pub period_length: f64,
    /// Discount rate d per period (0.01 = 1 % a month); must be > −1.
    pub discount_rate: f64,
    /// Profit margin g applied to the value per purchase (1 = value is already profit).
    pub margin: f64,
}

impl Default for ClvOptions {
    /// Twelve monthly periods for a model fitted in weeks, 1 % monthly discount, margin 1.
    fn default() -> Self {
        Self {
            periods: 12,
            period_length: 4.345,
            discount_rate: 0.01,
            margin: 1.0,
        }
    }
}

impl ClvOptions {
    fn validate(&self) -> Result<(), ValueModelError> {
        if !(self.period_length.is_finite() && self.period_length > 0.0) {
            return Err(ValueModelError::InvalidInput(format!(
                "period length must be positive, got {}",
                self.period_length
            )));
        }
        if !(self.discount_rate.is_finite() && self.discount_rate > -1.0) {
            return Err(ValueModelError::InvalidInput(format!(
                "discount rate must be > -1, got {}",
                self.discount_rate
            )));
        }
        if !self.margin.is_finite() {
            return Err(ValueModelError::InvalidInput(
                "margin must be finite".into(),
            ));
        }
        Ok(())
    }
}

/// Discounted value of the customer's expected purchases over the horizon, each worth
/// `value_per_purchase` (see the module docs for the formula).
pub fn discounted_value<M: PurchaseModel + ?Sized>(
    model: &M,
    customer: &RfmSummary,
    value_per_purchase: f64,
    options: &ClvOptions,
) -> Result<f64, ValueModelError> {
    options.validate()?;
    customer.validate()?;
    let mut total = 0.0;
    let mut previous = 0.0;
    let mut discount = 1.0;
    for k in 1..=options.periods {
        let cumulative =
            model.conditional_expected_purchases(f64::from(k) * options.period_length, customer);
        discount /= 1.0 + options.discount_rate;
        total += (cumulative - previous) * discount;
        previous = cumulative;
    }
    Ok(total * value_per_purchase * options.margin)
}

/// CLV with the value per purchase taken from the Gamma-Gamma model's
/// E[M | x, m̄] for this customer.
pub fn customer_lifetime_value<M: PurchaseModel + ?Sized>(
    model: &M,
    spend: &GammaGammaParams,
    customer: &RfmSummary,
    options: &ClvOptions,
) -> Result<f64, ValueModelError> {
    let value =
        spend.conditional_expected_average_value(customer.frequency, customer.monetary_value);
    discounted_value(model, customer, value, options)
}

/// Everything the value models predict for one customer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CustomerValue {
    /// P(alive | x, t_x, T).
    pub probability_alive: f64,
    /// E[Y(horizon) | x, t_x, T]: expected purchases in the next `horizon` time units.
    pub expected_purchases: f64,
    /// E[M | x, m̄] from Gamma-Gamma: expected value per future purchase.
    pub expected_average_value: f64,
    /// Discounted CLV over `options` (margin applied).
    pub clv: f64,
}

/// P(alive), expected purchases over `horizon`, expected spend per purchase and discounted
/// CLV of one customer.
pub fn predict_customer_value<M: PurchaseModel + ?Sized>(
    model: &M,
    spend: &GammaGammaParams,
    customer: &RfmSummary,
    horizon: f64,
    options: &ClvOptions,
) -> Result<CustomerValue, ValueModelError> {
    if !(horizon.is_finite() && horizon >= 0.0) {
        return Err(ValueModelError::InvalidInput(format!(
            "horizon must be finite and >= 0, got {horizon}"
        )));
    }
    let expected_average_value =
        spend.conditional_expected_average_value(customer.frequency, customer.monetary_value);
    Ok(CustomerValue {
        probability_alive: model.probability_alive(customer),
        expected_purchases: model.conditional_expected_purchases(horizon, customer),
        expected_average_value,
        clv: discounted_value(model, customer, expected_average_value, options)?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::BgNbdParams;
    use super::*;

    /// A customer who buys at a constant rate forever.
    struct Constant(f64);

    impl PurchaseModel for Constant {
        fn probability_alive(&self, _: &RfmSummary) -> f64 {
            1.0
        }
        fn conditional_expected_purchases(&self, t: f64, _: &RfmSummary) -> f64 {
            self.0 * t
        }
        fn expected_purchases(&self, t: f64) -> f64 {
            self.0 * t
        }
    }

    const BG: BgNbdParams = BgNbdParams {
        r: 0.243,
        alpha: 4.414,
        a: 0.793,
        b: 2.426,
    };

    #[test]
    fn constant_rate_is_an_annuity() {
        let options = ClvOptions {
            periods: 24,
            period_length: 4.0,
            discount_rate: 0.02,
            margin: 0.3,
        };
        let c = RfmSummary::new(1, 1.0, 2.0);
        let clv = discounted_value(&Constant(0.5), &c, 10.0, &options).expect("valid");
        // Each period: 0.5 · 4 purchases · 10 · 0.3 = 6, discounted: 6 · (1 − 1.02^−24)/0.02.
        let annuity = 6.0 * (1.0 - 1.02_f64.powi(-24)) / 0.02;
        assert!((clv - annuity).abs() < 1e-10, "{clv} vs {annuity}");
    }

    #[test]
    fn zero_discount_equals_the_undiscounted_sum() {
        let c = RfmSummary {
            frequency: 2,
            recency: 30.43,
            age: 38.86,
            monetary_value: 22.35,
        };
        let options = ClvOptions {
            discount_rate: 0.0,
            margin: 0.25,
            ..ClvOptions::default()
        };
        let clv = discounted_value(&BG, &c, 40.0, &options).expect("valid");
        let horizon = 12.0 * 4.345;
        let expected = 0.25 * 40.0 * BG.conditional_expected_purchases_at(horizon, 2, 30.43, 38.86);
        assert!((clv - expected).abs() < 1e-10);
        let discounted = discounted_value(
            &BG,
            &c,
            40.0,
            &ClvOptions {
                margin: 0.25,
                ..ClvOptions::default()
            },
        )
        .expect("valid");
        assert!(0.0 < discounted && discounted < clv);
    }

    #[test]
    fn uses_the_gamma_gamma_expectation() {
        let gg = GammaGammaParams {
            p: 6.25,
            q: 3.74,
            v: 15.44,
        };
        let c = RfmSummary {
            frequency: 2,
            recency: 30.43,
            age: 38.86,
            monetary_value: 22.35,
        };
        let options = ClvOptions::default();
        let clv = customer_lifetime_value(&BG, &gg, &c, &options).expect("valid");
        let direct = discounted_value(
            &BG,
            &c,
            gg.conditional_expected_average_value(2, 22.35),
            &options,
        )
        .expect("valid");
        assert_eq!(clv, direct);
        assert!(clv > 0.0);
        assert!(
            discounted_value(
                &BG,
                &c,
                1.0,
                &ClvOptions {
                    discount_rate: -1.0,
                    ..options
                }
            )
            .is_err()
        );
        assert!(
            discounted_value(
                &BG,
                &c,
                1.0,
                &ClvOptions {
                    period_length: 0.0,
                    ..options
                }
            )
            .is_err()
        );
        let zero = ClvOptions {
            periods: 0,
            ..options
        };
        assert_eq!(discounted_value(&BG, &c, 1.0, &zero).expect("valid"), 0.0);
    }

    #[test]
    fn predicts_all_quantities_at_once() {
        let gg = GammaGammaParams {
            p: 6.25,
            q: 3.74,
            v: 15.44,
        };
        let c = RfmSummary {
            frequency: 2,
            recency: 30.43,
            age: 38.86,
            monetary_value: 22.35,
        };
        let options = ClvOptions::default();
        let v = predict_customer_value(&BG, &gg, &c, 39.0, &options).expect("valid");
        assert!((v.expected_purchases - 1.226).abs() < 0.001);
        assert_eq!(
            v.probability_alive,
            BG.probability_alive_at(2, 30.43, 38.86)
        );
        assert_eq!(
            v.expected_average_value,
            gg.conditional_expected_average_value(2, 22.35)
        );
        assert_eq!(
            v.clv,
            customer_lifetime_value(&BG, &gg, &c, &options).expect("valid")
        );
        assert!(predict_customer_value(&BG, &gg, &c, f64::NAN, &options).is_err());
    }
}
