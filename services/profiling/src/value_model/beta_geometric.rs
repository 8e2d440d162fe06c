//! The algebra BG/NBD ([`super::bg_nbd`]) and MBG/NBD ([`super::mbg_nbd`]) share.
//!
//! Both let a customer buy as a Poisson process with rate λ ~ Gamma(r, α) and drop out with
//! probability p ~ Beta(a, b) at a purchase. They differ in which purchases are such a chance:
//! BG/NBD's customers can only drop out after a repeat purchase, so a one-off buyer is alive
//! for ever; MBG/NBD's (Batislam, Denizel & Filiztekin 2007) can also drop out right after
//! the first purchase. After x repeat purchases the dropout has had x chances under BG/NBD and
//! x + 1 under MBG/NBD, so every MBG/NBD expression is the BG/NBD one with b + 1 in place of b
//! in the posterior of p (`b + shift`), its prior normaliser B(a, b) unchanged, and the
//! "dropped out after the last purchase" branch present for x = 0 too.

use super::special_functions::{hyp2f1, inverse_one_plus_exp, ln_gamma, log_add_exp};
use super::{FitOptions, FitReport, RfmSummary, ValueModelError};

/// Which purchases give the customer a chance to drop out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dropout {
    /// BG/NBD: after each repeat purchase.
    AfterRepeatPurchases,
    /// MBG/NBD: after every purchase, the first included.
    AfterEveryPurchase,
}

/// Parameters of either model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct BetaGeometric {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
    pub dropout: Dropout,
}

impl BetaGeometric {
    /// Dropout chances beyond the repeat purchases: 0 (BG/NBD) or 1 (MBG/NBD).
    fn shift(&self) -> f64 {
        match self.dropout {
            Dropout::AfterRepeatPurchases => 0.0,
            Dropout::AfterEveryPurchase => 1.0,
        }
    }

    /// Whether a customer with `x` repeat purchases may already have dropped out.
    fn may_have_dropped_out(&self, x: u32) -> bool {
        x > 0 || self.dropout == Dropout::AfterEveryPurchase
    }

    /// Σ w · ln L over (customer, weight) rows:
    ///
    /// ```text
    /// L = B(a, b'+x)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+T)^(r+x))
    ///   + δ · B(a+1, b'+x−1)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+t_x)^(r+x))
    /// ```
    ///
    /// with b' = b + shift and δ = [`Self::may_have_dropped_out`].
    pub fn weighted_log_likelihood(&self, rows: &[(RfmSummary, f64)]) -> f64 {
        let Self { r, alpha, a, b, .. } = *self;
        let b_post = b + self.shift();
        let ln_gamma_r = ln_gamma(r);
        let ln_gamma_b = ln_gamma(b);
        let ln_gamma_ab = ln_gamma(a + b);
        let ln_alpha = alpha.ln();
        let ln_a = a.ln();
        let mut total = 0.0;
        // The Γ terms depend on x only; rows are usually sorted by x (see `aggregate`).
        let mut cached: Option<(u32, f64)> = None;
        for (c, w) in rows {
            let x = f64::from(c.frequency);
            let gamma_terms = match cached {
                Some((cx, v)) if cx == c.frequency => v,
                _ => {
                    let v = ln_gamma(r + x) - ln_gamma_r
                        + r * ln_alpha
                        + ln_gamma_ab
                        + ln_gamma(b_post + x)
                        - ln_gamma_b
                        - ln_gamma(a + b_post + x);
                    cached = Some((c.frequency, v));
                    v
                }
            };
            let a3 = -(r + x) * (alpha + c.age).ln();
            let tail = if self.may_have_dropped_out(c.frequency) {
                let a4 = ln_a - (b_post + x - 1.0).ln() - (r + x) * (alpha + c.recency).ln();
                log_add_exp(a3, a4)
            } else {
                a3
            };
            total += w * (gamma_terms + tail);
        }
        total
    }

    /// P(alive | x, t_x, T) = 1 / (1 + δ · a/(b'+x−1) · ((α+T)/(α+t_x))^(r+x)).
    pub fn probability_alive_at(&self, x: u32, t_x: f64, age: f64) -> f64 {
        if !self.may_have_dropped_out(x) {
            return 1.0;
        }
        let xf = f64::from(x);
        let b_post = self.b + self.shift();
        let ln_odds = self.a.ln() - (b_post + xf - 1.0).ln()
            + (self.r + xf) * ((self.alpha + age).ln() - (self.alpha + t_x).ln());
        inverse_one_plus_exp(ln_odds)
    }

    /// E[Y(t) | x, t_x, T], expected purchases in (T, T+t]:
    ///
    /// ```text
    /// (a+b'+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b'+x; a+b'+x−1; t/(α+T+t))]
    ///   · P(alive | x, t_x, T)
    /// ```
    ///
    /// The bracket is evaluated with Euler's transformation,
    /// (1−z)^(r+x) ₂F₁(r+x, b'+x; c; z) = (1−z)^(a−1) ₂F₁(a+b'−1−r, a−1; c; z), which avoids
    /// the huge intermediate values of the original form for large x. Near a = 1 (the
    /// formula's removable singularity) the limit is taken numerically; 0 for t ≤ 0.
    pub fn conditional_expected_purchases_at(&self, t: f64, x: u32, t_x: f64, age: f64) -> f64 {
        if t <= 0.0 {
            return 0.0;
        }
        if (self.a - 1.0).abs() < 1e-5 {
            // Removable singularity at a = 1: the mean of a = 1 ± 1e-5 is accurate to ~1e-10.
            let at = |a| Self { a, ..*self }.conditional_expected_purchases_raw(t, x, t_x, age);
            return 0.5 * (at(1.0 - 1e-5) + at(1.0 + 1e-5));
        }
        self.conditional_expected_purchases_raw(t, x, t_x, age)
    }

    /// [`Self::conditional_expected_purchases_at`] without the a = 1 guard.
    fn conditional_expected_purchases_raw(&self, t: f64, x: u32, t_x: f64, age: f64) -> f64 {
        let Self { r, alpha, a, .. } = *self;
        let b_post = self.b + self.shift();
        let xf = f64::from(x);
        let z = t / (alpha + age + t);
        let c = a + b_post + xf - 1.0;
        let bracket = 1.0 - (1.0 - z).powf(a - 1.0) * hyp2f1(a + b_post - 1.0 - r, a - 1.0, c, z);
        c / (a - 1.0) * bracket * self.probability_alive_at(x, t_x, age)
    }
}

/// Fits either model by maximum likelihood (Nelder–Mead on ln r, ln α, ln a, ln b, customers
/// with equal (x, t_x, T) aggregated). Starts at r = a = b = 1, α = mean(T) / mean(x).
pub(super) fn fit(
    customers: &[RfmSummary],
    options: &FitOptions,
    dropout: Dropout,
) -> Result<(BetaGeometric, FitReport), ValueModelError> {
    let rows = super::prepare_counts(customers)?;
    let n = customers.len() as f64;
    let (mean_x, mean_t) = super::mean_frequency_and_age(customers);
    let alpha0 = (mean_t / mean_x).clamp(1e-3, 1e6);
    let model = |p: &[f64]| BetaGeometric {
        r: p[0],
        alpha: p[1],
        a: p[2],
        b: p[3],
        dropout,
    };
    let (theta, ll, evaluations, converged) =
        super::fit_positive(&[1.0, alpha0, 1.0, 1.0], n, options, |p| {
            model(p).weighted_log_likelihood(&rows)
        })?;
    Ok((
        model(&theta),
        FitReport {
            log_likelihood: ll,
            customers: customers.len(),
            evaluations,
            converged,
        },
    ))
}
