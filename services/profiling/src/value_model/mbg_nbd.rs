//! The MBG/NBD model of Batislam, Denizel & Filiztekin (2007), "Empirical validation and
//! comparison of models for customer base analysis", *International Journal of Research in
//! Marketing* 24(3), 201–209 (lifetimes' `ModifiedBetaGeoFitter`).
//!
//! BG/NBD with one change: a customer may drop out right after the first purchase too, so a
//! one-off buyer who stays silent is not "alive for ever" (BG/NBD's P(alive) is 1 for every
//! customer without a repeat purchase). With (x, t_x, T)
//!
//! ```text
//! L = B(a, b+x+1)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+T)^(r+x))
//!   + B(a+1, b+x)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+t_x)^(r+x))
//! ```
//!
//! On the CDNOW cohort (2,357 customers, weeks) lifetimes 0.11.3 fits r = 0.5248,
//! α = 6.1830, a = 0.8914, b = 1.6140.

use super::beta_geometric::{BetaGeometric, Dropout};
use super::{FitOptions, FitReport, PurchaseModel, RfmSummary, ValueModelError};

/// MBG/NBD parameters: purchase rate λ ~ Gamma(shape r, rate α), dropout p ~ Beta(a, b).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MbgNbdParams {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

/// A fitted MBG/NBD model.
#[derive(Debug, Clone, PartialEq)]
pub struct MbgNbdFit {
    pub params: MbgNbdParams,
    pub report: FitReport,
}

impl MbgNbdParams {
    /// Σ ln L over the customers.
    pub fn log_likelihood(&self, customers: &[RfmSummary]) -> f64 {
        let rows: Vec<(RfmSummary, f64)> = customers.iter().map(|c| (*c, 1.0)).collect();
        self.family().weighted_log_likelihood(&rows)
    }

    /// P(alive | x, t_x, T) = 1 / (1 + a/(b+x) · ((α+T)/(α+t_x))^(r+x)), below 1 for
    /// x = 0 too.
    pub fn probability_alive_at(&self, x: u32, t_x: f64, age: f64) -> f64 {
        self.family().probability_alive_at(x, t_x, age)
    }

    /// E[Y(t) | x, t_x, T], expected purchases in (T, T+t]:
    ///
    /// ```text
    /// (a+b+x)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x+1; a+b+x; t/(α+T+t))]
    ///   · P(alive | x, t_x, T)
    /// ```
    pub fn conditional_expected_purchases_at(&self, t: f64, x: u32, t_x: f64, age: f64) -> f64 {
        self.family()
            .conditional_expected_purchases_at(t, x, t_x, age)
    }

    /// E[X(t)] for a customer who just made a first purchase:
    /// b/(a−1) · [1 − (α/(α+t))^r ₂F₁(r, b+1; a+b; t/(α+t))].
    pub fn expected_purchases_at(&self, t: f64) -> f64 {
        self.conditional_expected_purchases_at(t, 0, 0.0, 0.0)
    }

    fn family(&self) -> BetaGeometric {
        let Self { r, alpha, a, b } = *self;
        BetaGeometric {
            r,
            alpha,
            a,
            b,
            dropout: Dropout::AfterEveryPurchase,
        }
    }
}

impl PurchaseModel for MbgNbdParams {
    fn probability_alive(&self, c: &RfmSummary) -> f64 {
        self.probability_alive_at(c.frequency, c.recency, c.age)
    }

    fn conditional_expected_purchases(&self, t: f64, c: &RfmSummary) -> f64 {
        self.conditional_expected_purchases_at(t, c.frequency, c.recency, c.age)
    }

    fn expected_purchases(&self, t: f64) -> f64 {
        self.expected_purchases_at(t)
    }
}

/// Fits MBG/NBD by maximum likelihood, as [`super::fit_bg_nbd`] fits BG/NBD.
pub fn fit_mbg_nbd(
    customers: &[RfmSummary],
    options: &FitOptions,
) -> Result<MbgNbdFit, ValueModelError> {
    let (p, report) = super::beta_geometric::fit(customers, options, Dropout::AfterEveryPurchase)?;
    Ok(MbgNbdFit {
        params: MbgNbdParams {
            r: p.r,
            alpha: p.alpha,
            a: p.a,
            b: p.b,
        },
        report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value_model::special_functions::{hyp2f1, ln_gamma};

    /// lifetimes 0.11.3's `ModifiedBetaGeoFitter` on the CDNOW cohort.
    const LIFETIMES_CDNOW: MbgNbdParams = MbgNbdParams {
        r: 0.524_838,
        alpha: 6.182_988,
        a: 0.891_356,
        b: 1.614_000,
    };

    /// The likelihood written term by term as in the module docs (and lifetimes' A₁…A₄).
    fn ln_l_by_the_formula(p: &MbgNbdParams, x: f64, t_x: f64, age: f64) -> f64 {
        let MbgNbdParams { r, alpha, a, b } = *p;
        let ln_beta = |u: f64, v: f64| ln_gamma(u) + ln_gamma(v) - ln_gamma(u + v);
        let common = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln();
        let first = ln_beta(a, b + x + 1.0) - ln_beta(a, b) + common - (r + x) * (alpha + age).ln();
        let second =
            ln_beta(a + 1.0, b + x) - ln_beta(a, b) + common - (r + x) * (alpha + t_x).ln();
        (first.exp() + second.exp()).ln()
    }

    #[test]
    fn likelihood_matches_the_formula_for_one_off_and_repeat_buyers() {
        for (x, t_x, age) in [
            (0, 0.0, 38.86),
            (1, 1.71, 38.86),
            (2, 30.43, 38.86),
            (7, 30.0, 31.0),
        ] {
            let ours = LIFETIMES_CDNOW.log_likelihood(&[RfmSummary::new(x, t_x, age)]);
            let want = ln_l_by_the_formula(&LIFETIMES_CDNOW, f64::from(x), t_x, age);
            assert!((ours - want).abs() < 1e-12, "x={x}: {ours} vs {want}");
        }
    }

    /// Figures lifetimes 0.11.3 prints for its CDNOW fit.
    #[test]
    fn predictions_match_lifetimes_on_cdnow() {
        let p = LIFETIMES_CDNOW;
        let e = p.conditional_expected_purchases_at(39.0, 2, 30.43, 38.86);
        assert!((e - 1.262_670_8).abs() < 1e-5, "{e}");
        let alive = p.probability_alive_at(2, 30.43, 38.86);
        assert!((alive - 0.706_126_26).abs() < 1e-6, "{alive}");
        let one_off = p.probability_alive_at(0, 0.0, 38.86);
        assert!((one_off - 0.389_716_44).abs() < 1e-6, "{one_off}");
        let new = p.expected_purchases_at(39.0);
        assert!((new - 1.182_283_8).abs() < 1e-5, "{new}");
    }

    #[test]
    fn expectation_matches_the_original_form() {
        let (x, t_x, age, t) = (3.0_f64, 20.0, 38.86, 39.0);
        let MbgNbdParams { r, alpha, a, b } = LIFETIMES_CDNOW;
        let z = t / (alpha + age + t);
        let original = (a + b + x) / (a - 1.0)
            * (1.0
                - ((alpha + age) / (alpha + age + t)).powf(r + x)
                    * hyp2f1(r + x, b + x + 1.0, a + b + x, z))
            / (1.0 + a / (b + x) * ((alpha + age) / (alpha + t_x)).powf(r + x));
        let ours = LIFETIMES_CDNOW.conditional_expected_purchases_at(t, 3, t_x, age);
        assert!((original - ours).abs() < 1e-12, "{original} vs {ours}");
    }

    #[test]
    fn a_silent_one_off_buyer_fades() {
        let p = LIFETIMES_CDNOW;
        let mut last = 1.0;
        for age in [1.0, 10.0, 40.0, 100.0, 400.0] {
            let alive = p.probability_alive_at(0, 0.0, age);
            assert!(alive < last, "P(alive) at T = {age}: {alive}");
            last = alive;
        }
        // Never above b / (a + b): the chance of surviving the first purchase.
        assert!(p.probability_alive_at(0, 0.0, 0.0) <= p.b / (p.a + p.b) + 1e-12);
    }

    #[test]
    fn fit_recovers_the_optimum_of_a_small_data_set() {
        let data = vec![
            RfmSummary::new(0, 0.0, 30.0),
            RfmSummary::new(0, 0.0, 25.0),
            RfmSummary::new(1, 5.0, 30.0),
            RfmSummary::new(2, 20.0, 28.0),
            RfmSummary::new(4, 27.0, 30.0),
            RfmSummary::new(1, 2.0, 20.0),
            RfmSummary::new(0, 0.0, 10.0),
            RfmSummary::new(7, 29.0, 31.0),
        ];
        let fit = fit_mbg_nbd(&data, &FitOptions::default()).expect("fits");
        let best = fit.report.log_likelihood;
        assert!((fit.params.log_likelihood(&data) - best).abs() < 1e-9);
        for i in 0..4 {
            for f in [0.99, 1.01] {
                let mut v = [fit.params.r, fit.params.alpha, fit.params.a, fit.params.b];
                v[i] *= f;
                let q = MbgNbdParams {
                    r: v[0],
                    alpha: v[1],
                    a: v[2],
                    b: v[3],
                };
                assert!(q.log_likelihood(&data) <= best + 1e-9);
            }
        }
        assert!(fit_mbg_nbd(&[], &FitOptions::default()).is_err());
    }
}
