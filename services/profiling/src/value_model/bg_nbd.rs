//! The BG/NBD model of Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An
//! Alternative to the Pareto/NBD Model", *Marketing Science* 24(2), 275–284.
//!
//! While alive a customer buys as a Poisson process with rate λ ~ Gamma(r, α); after every
//! purchase she drops out with probability p ~ Beta(a, b). With (x, t_x, T) the likelihood is
//! (FHL eq. 6)
//!
//! ```text
//! L = B(a, b+x)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+T)^(r+x))
//!   + δ(x>0) · B(a+1, b+x−1)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+t_x)^(r+x))
//! ```
//!
//! evaluated in log-space. On CDNOW the paper reports r = 0.243, α = 4.414, a = 0.793,
//! b = 2.426, LL = −9582.4.

use super::beta_geometric::{BetaGeometric, Dropout};
use super::{FitOptions, FitReport, PurchaseModel, RfmSummary, ValueModelError};

/// BG/NBD parameters: purchase rate λ ~ Gamma(shape r, rate α), dropout p ~ Beta(a, b).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BgNbdParams {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

/// A fitted BG/NBD model.
#[derive(Debug, Clone, PartialEq)]
pub struct BgNbdFit {
    pub params: BgNbdParams,
    pub report: FitReport,
}

impl BgNbdParams {
    /// ln L(r, α, a, b | x, t_x, T) of one customer.
    pub fn log_likelihood_customer(&self, x: u32, t_x: f64, age: f64) -> f64 {
        self.weighted_log_likelihood(&[(RfmSummary::new(x, t_x, age), 1.0)])
    }

    /// Σ ln L over the customers.
    pub fn log_likelihood(&self, customers: &[RfmSummary]) -> f64 {
        let rows: Vec<(RfmSummary, f64)> = customers.iter().map(|c| (*c, 1.0)).collect();
        self.weighted_log_likelihood(&rows)
    }

    /// Σ w · ln L over (customer, weight) rows (FHL eq. 6).
    pub fn weighted_log_likelihood(&self, rows: &[(RfmSummary, f64)]) -> f64 {
        self.family().weighted_log_likelihood(rows)
    }

    /// P(alive | x, t_x, T) = 1 / (1 + δ(x>0) · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x))
    /// (FHL 2005, eq. 13). Exactly 1 for x = 0: in BG/NBD nobody drops out before a repeat
    /// purchase.
    pub fn probability_alive_at(&self, x: u32, t_x: f64, age: f64) -> f64 {
        self.family().probability_alive_at(x, t_x, age)
    }

    /// E[Y(t) | x, t_x, T], expected purchases in (T, T+t] (FHL 2005, eq. 10):
    ///
    /// ```text
    /// (a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x; a+b+x−1; t/(α+T+t))]
    ///   / (1 + δ(x>0) · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x))
    /// ```
    ///
    /// (evaluated as in [`super::beta_geometric`]); 0 for t ≤ 0.
    pub fn conditional_expected_purchases_at(&self, t: f64, x: u32, t_x: f64, age: f64) -> f64 {
        self.family()
            .conditional_expected_purchases_at(t, x, t_x, age)
    }

    fn family(&self) -> BetaGeometric {
        let Self { r, alpha, a, b } = *self;
        BetaGeometric {
            r,
            alpha,
            a,
            b,
            dropout: Dropout::AfterRepeatPurchases,
        }
    }

    /// E[X(t)] for a customer who just made a first purchase (FHL 2005, eq. 9):
    /// (a+b−1)/(a−1) · [1 − (α/(α+t))^r ₂F₁(r, b; a+b−1; t/(α+t))].
    pub fn expected_purchases_at(&self, t: f64) -> f64 {
        self.conditional_expected_purchases_at(t, 0, 0.0, 0.0)
    }

    /// Fits by maximum likelihood; see [`fit_bg_nbd`].
    pub fn fit(
        customers: &[RfmSummary],
        options: &FitOptions,
    ) -> Result<BgNbdFit, ValueModelError> {
        fit_bg_nbd(customers, options)
    }
}

impl PurchaseModel for BgNbdParams {
    fn probability_alive(&self, c: &RfmSummary) -> f64 {
        BgNbdParams::probability_alive_at(self, c.frequency, c.recency, c.age)
    }

    fn conditional_expected_purchases(&self, t: f64, c: &RfmSummary) -> f64 {
        self.conditional_expected_purchases_at(t, c.frequency, c.recency, c.age)
    }

    fn expected_purchases(&self, t: f64) -> f64 {
        self.expected_purchases_at(t)
    }
}

/// Fits BG/NBD by maximum likelihood (Nelder–Mead on ln r, ln α, ln a, ln b, customers with
/// equal (x, t_x, T) aggregated). Starts at r = a = b = 1, α = mean(T) / mean(x).
pub fn fit_bg_nbd(
    customers: &[RfmSummary],
    options: &FitOptions,
) -> Result<BgNbdFit, ValueModelError> {
    let (p, report) =
        super::beta_geometric::fit(customers, options, Dropout::AfterRepeatPurchases)?;
    Ok(BgNbdFit {
        params: BgNbdParams {
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
    use crate::value_model::special_functions::hyp2f1;

    const PAPER: BgNbdParams = BgNbdParams {
        r: 0.243,
        alpha: 4.414,
        a: 0.793,
        b: 2.426,
    };

    #[test]
    fn likelihood_of_tiny_data_by_hand() {
        let ones = BgNbdParams {
            r: 1.0,
            alpha: 1.0,
            a: 1.0,
            b: 1.0,
        };
        // x = 0, T = 1: L = (α/(α+T))^r = 1/2.
        assert!((ones.log_likelihood_customer(0, 0.0, 1.0) - 0.5_f64.ln()).abs() < 1e-14);
        // x = 1, t_x = 1, T = 2: L = ½ · 1/3² + ½ · 1/2² = 13/72.
        assert!((ones.log_likelihood_customer(1, 1.0, 2.0) - (13.0_f64 / 72.0).ln()).abs() < 1e-14);
        let both =
            ones.log_likelihood(&[RfmSummary::new(0, 0.0, 1.0), RfmSummary::new(1, 1.0, 2.0)]);
        assert!((both - (0.5_f64 * 13.0 / 72.0).ln()).abs() < 1e-14);
    }

    #[test]
    fn stable_for_large_frequency_and_age() {
        let ll = PAPER.log_likelihood_customer(5_000, 9_999.0, 10_000.0);
        assert!(ll.is_finite() && ll < 0.0, "{ll}");
        let e = PAPER.conditional_expected_purchases_at(52.0, 5_000, 9_999.0, 10_000.0);
        assert!(e.is_finite() && e > 0.0, "{e}");
        let p = PAPER.probability_alive_at(5_000, 10.0, 10_000.0);
        assert!((0.0..1e-100).contains(&p), "{p}");
    }

    #[test]
    fn probability_alive_edge_cases() {
        assert_eq!(PAPER.probability_alive_at(0, 0.0, 38.86), 1.0);
        // Purchase at the very end: 1/(1 + a/(b+x−1)).
        let p = PAPER.probability_alive_at(2, 38.86, 38.86);
        assert!((p - 1.0 / (1.0 + 0.793 / 3.426)).abs() < 1e-14);
        // Longer silence, lower P(alive).
        assert!(
            PAPER.probability_alive_at(2, 10.0, 38.86) < PAPER.probability_alive_at(2, 30.0, 38.86)
        );
    }

    #[test]
    fn paper_conditional_expectation_is_1_226() {
        let e = PAPER.conditional_expected_purchases_at(39.0, 2, 30.43, 38.86);
        assert!((e - 1.226).abs() < 0.0005, "{e}");
    }

    #[test]
    fn euler_form_matches_the_papers_form() {
        let (x, t_x, age, t) = (2.0_f64, 30.43, 38.86, 39.0);
        let BgNbdParams { r, alpha, a, b } = PAPER;
        let z = t / (alpha + age + t);
        let original = (a + b + x - 1.0) / (a - 1.0)
            * (1.0
                - ((alpha + age) / (alpha + age + t)).powf(r + x)
                    * hyp2f1(r + x, b + x, a + b + x - 1.0, z))
            / (1.0 + a / (b + x - 1.0) * ((alpha + age) / (alpha + t_x)).powf(r + x));
        let ours = PAPER.conditional_expected_purchases_at(t, 2, t_x, age);
        assert!((original - ours).abs() < 1e-12, "{original} vs {ours}");
    }

    #[test]
    fn expected_purchases_monotone_and_consistent() {
        let mut last = 0.0;
        for k in 1..=40 {
            let t = f64::from(k) * 2.0;
            let e = PAPER.expected_purchases_at(t);
            let c = PAPER.conditional_expected_purchases_at(t, 3, 20.0, 38.86);
            assert!(e > last, "E[X({t})] = {e} not increasing");
            assert!(c > 0.0);
            last = e;
        }
        // Small t: E[X(t)] ≈ (r/α) t.
        let t = 1e-4;
        assert!((PAPER.expected_purchases_at(t) / t - PAPER.r / PAPER.alpha).abs() < 1e-5);
        // Unconditional = conditional for a customer just acquired.
        let c = PAPER.conditional_expected_purchases_at(39.0, 0, 0.0, 0.0);
        assert!((PAPER.expected_purchases_at(39.0) - c).abs() < 1e-15);
        assert_eq!(PAPER.expected_purchases_at(0.0), 0.0);
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
        let fit = fit_bg_nbd(&data, &FitOptions::default()).expect("fits");
        let best = fit.report.log_likelihood;
        assert!((fit.params.log_likelihood(&data) - best).abs() < 1e-9);
        // No nearby point is better.
        for i in 0..4 {
            for f in [0.99, 1.01] {
                let mut p = [fit.params.r, fit.params.alpha, fit.params.a, fit.params.b];
                p[i] *= f;
                let q = BgNbdParams {
                    r: p[0],
                    alpha: p[1],
                    a: p[2],
                    b: p[3],
                };
                assert!(q.log_likelihood(&data) <= best + 1e-9);
            }
        }
        assert!(fit_bg_nbd(&[], &FitOptions::default()).is_err());
        assert!(fit_bg_nbd(&[RfmSummary::new(0, 0.0, 3.0)], &FitOptions::default()).is_err());
    }

    #[test]
    fn expectation_is_continuous_at_a_equal_1() {
        let at =
            |a| BgNbdParams { a, ..PAPER }.conditional_expected_purchases_at(39.0, 2, 30.43, 38.86);
        let one = at(1.0);
        assert!(one.is_finite() && one > 0.0);
        assert!(
            (one - at(1.0 + 1e-4)).abs() < 1e-4,
            "{one} vs {}",
            at(1.0 + 1e-4)
        );
        assert!((one - at(1.0 - 1e-4)).abs() < 1e-4);
        let unconditional = BgNbdParams { a: 1.0, ..PAPER }.expected_purchases_at(10.0);
        assert!(unconditional.is_finite() && unconditional > 0.0);
    }
}
