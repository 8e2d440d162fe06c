//! The Pareto/NBD model of Schmittlein, Morrison & Colombo (1987), "Counting Your Customers:
//! Who Are They and What Will They Do Next?", *Management Science* 33(1), with the likelihood
//! and related expressions of Fader & Hardie (2005), "A Note on Deriving the Pareto/NBD Model
//! and Related Expressions" (and Fader, Hardie & Lee 2005, *Marketing Science* 24(2)).
//!
//! While alive a customer buys as a Poisson process with rate λ ~ Gamma(r, α); her lifetime is
//! exponential with rate μ ~ Gamma(s, β). With (x, t_x, T)
//!
//! ```text
//! L = Γ(r+x) α^r β^s / Γ(r) · [ 1 / ((α+T)^(r+x) (β+T)^s) + s/(r+s+x) · A₀ ]
//! A₀ = ₂F₁(r+s+x, s+1; r+s+x+1; (α−β)/(α+t_x)) / (α+t_x)^(r+s+x)
//!    − ₂F₁(r+s+x, s+1; r+s+x+1; (α−β)/(α+T))   / (α+T)^(r+s+x)          if α ≥ β
//! A₀ = ₂F₁(r+s+x, r+x; r+s+x+1; (β−α)/(β+t_x)) / (β+t_x)^(r+s+x)
//!    − ₂F₁(r+s+x, r+x; r+s+x+1; (β−α)/(β+T))   / (β+T)^(r+s+x)          if α < β
//! ```
//!
//! (the branch keeps the argument in [0, 1)). Equivalently
//! A₀ = (r+s+x) ∫_{t_x}^{T} (α+τ)^−(r+x) (β+τ)^−(s+1) dτ, the density of dying unseen in
//! (t_x, T]. Everything is evaluated in log-space. On CDNOW the published fit is r = 0.553,
//! α = 10.578, s = 0.606, β = 11.669, LL = −9595.0.

use super::optimizer::Interrupt;
use super::special_functions::{
    inverse_one_plus_exp, ln_gamma, ln_hyp2f1_a_b_a1, log_add_exp, log_sub_exp,
};
use super::{FitOptions, FitReport, PurchaseModel, RfmSummary, ValueModelError};

/// Rows of a likelihood evaluation between two interrupt checks.
const INTERRUPT_EVERY: usize = 256;

/// Pareto/NBD parameters: purchase rate λ ~ Gamma(shape r, rate α), dropout rate
/// μ ~ Gamma(shape s, rate β).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParetoNbdParams {
    pub r: f64,
    pub alpha: f64,
    pub s: f64,
    pub beta: f64,
}

/// A fitted Pareto/NBD model.
#[derive(Debug, Clone, PartialEq)]
pub struct ParetoNbdFit {
    pub params: ParetoNbdParams,
    pub report: FitReport,
}

impl ParetoNbdParams {
    /// ln A₀ (see the module docs); −∞ when t_x = T.
    fn ln_a0(&self, x: f64, t_x: f64, age: f64) -> f64 {
        let Self { r, alpha, s, beta } = *self;
        let rsx = r + s + x;
        let (max_ab, second) = if alpha >= beta {
            (alpha, s + 1.0)
        } else {
            (beta, r + x)
        };
        let d = (alpha - beta).abs();
        let q1 = max_ab + t_x;
        let q2 = max_ab + age;
        let l1 = ln_hyp2f1_a_b_a1(rsx, second, d / q1) - rsx * q1.ln();
        let l2 = ln_hyp2f1_a_b_a1(rsx, second, d / q2) - rsx * q2.ln();
        if l1 <= l2 {
            // t_x = T (or indistinguishable): nobody can die unseen.
            return f64::NEG_INFINITY;
        }
        log_sub_exp(l1, l2)
    }

    /// The two log-terms of the bracket in L: (alive through T, died unseen in (t_x, T]).
    fn ln_bracket_terms(&self, x: f64, t_x: f64, age: f64) -> (f64, f64) {
        let Self { r, alpha, s, beta } = *self;
        let alive = -(r + x) * (alpha + age).ln() - s * (beta + age).ln();
        let died = s.ln() - (r + s + x).ln() + self.ln_a0(x, t_x, age);
        (alive, died)
    }

    /// ln L(r, α, s, β | x, t_x, T) of one customer.
    pub fn log_likelihood_customer(&self, x: u32, t_x: f64, age: f64) -> f64 {
        self.weighted_log_likelihood(&[(RfmSummary::new(x, t_x, age), 1.0)])
    }

    /// Σ ln L over the customers.
    pub fn log_likelihood(&self, customers: &[RfmSummary]) -> f64 {
        let rows: Vec<(RfmSummary, f64)> = customers.iter().map(|c| (*c, 1.0)).collect();
        self.weighted_log_likelihood(&rows)
    }

    /// Σ w · ln L over (customer, weight) rows.
    pub fn weighted_log_likelihood(&self, rows: &[(RfmSummary, f64)]) -> f64 {
        self.weighted_log_likelihood_until(rows, &Interrupt::default())
    }

    /// [`Self::weighted_log_likelihood`], giving up (NaN) when `interrupt` says so: one
    /// evaluation over thousands of customers with long histories can take seconds (the
    /// hypergeometric terms), longer than a shutdown may wait.
    pub fn weighted_log_likelihood_until(
        &self,
        rows: &[(RfmSummary, f64)],
        interrupt: &Interrupt,
    ) -> f64 {
        let Self { r, alpha, s, beta } = *self;
        let constant = -ln_gamma(r) + r * alpha.ln() + s * beta.ln();
        let mut total = 0.0;
        let mut cached: Option<(u32, f64)> = None;
        for (k, (c, w)) in rows.iter().enumerate() {
            if k % INTERRUPT_EVERY == INTERRUPT_EVERY - 1 && interrupt.check().is_some() {
                return f64::NAN;
            }
            let x = f64::from(c.frequency);
            let ln_gamma_rx = match cached {
                Some((cx, v)) if cx == c.frequency => v,
                _ => {
                    let v = ln_gamma(r + x);
                    cached = Some((c.frequency, v));
                    v
                }
            };
            let (alive, died) = self.ln_bracket_terms(x, c.recency, c.age);
            total += w * (ln_gamma_rx + constant + log_add_exp(alive, died));
        }
        total
    }

    /// P(alive | x, t_x, T) = 1 / (1 + s/(r+s+x) · (α+T)^(r+x) (β+T)^s · A₀)
    /// (Fader & Hardie 2005 note, eq. 18). 1 when t_x = T.
    pub fn probability_alive_at(&self, x: u32, t_x: f64, age: f64) -> f64 {
        let (alive, died) = self.ln_bracket_terms(f64::from(x), t_x, age);
        let ln_odds = died - alive;
        if ln_odds == f64::NEG_INFINITY {
            return 1.0;
        }
        inverse_one_plus_exp(ln_odds)
    }

    /// E[Y(t) | x, t_x, T], expected purchases in (T, T+t] (Fader & Hardie 2005 note, eq. 22;
    /// SMC 1987):
    ///
    /// ```text
    /// (r+x)(β+T) / ((α+T)(s−1)) · [1 − ((β+T)/(β+T+t))^(s−1)] · P(alive | x, t_x, T)
    /// ```
    ///
    /// with the s → 1 limit (r+x)(β+T)/(α+T) · ln(1 + t/(β+T)) computed stably. 0 for t ≤ 0.
    pub fn conditional_expected_purchases_at(&self, t: f64, x: u32, t_x: f64, age: f64) -> f64 {
        if t <= 0.0 {
            return 0.0;
        }
        let xf = f64::from(x);
        (self.r + xf) * (self.beta + age) / (self.alpha + age)
            * horizon_factor(self.s, t / (self.beta + age))
            * self.probability_alive_at(x, t_x, age)
    }

    /// E[X(t)] for a newly acquired customer: rβ/(α(s−1)) · [1 − (β/(β+t))^(s−1)].
    pub fn expected_purchases_at(&self, t: f64) -> f64 {
        if t <= 0.0 {
            return 0.0;
        }
        self.r * self.beta / self.alpha * horizon_factor(self.s, t / self.beta)
    }

    /// Fits by maximum likelihood; see [`fit_pareto_nbd`].
    pub fn fit(
        customers: &[RfmSummary],
        options: &FitOptions,
    ) -> Result<ParetoNbdFit, ValueModelError> {
        fit_pareto_nbd(customers, options)
    }
}

/// [1 − (1+u)^−(s−1)] / (s−1), → ln(1+u) as s → 1.
fn horizon_factor(s: f64, u: f64) -> f64 {
    let l = u.ln_1p();
    let k = s - 1.0;
    if k.abs() * l < 1e-8 {
        // Series: l − k l²/2 + k² l³/6.
        l * (1.0 - k * l / 2.0 + k * k * l * l / 6.0)
    } else {
        -(-k * l).exp_m1() / k
    }
}

impl PurchaseModel for ParetoNbdParams {
    fn probability_alive(&self, c: &RfmSummary) -> f64 {
        ParetoNbdParams::probability_alive_at(self, c.frequency, c.recency, c.age)
    }

    fn conditional_expected_purchases(&self, t: f64, c: &RfmSummary) -> f64 {
        self.conditional_expected_purchases_at(t, c.frequency, c.recency, c.age)
    }

    fn expected_purchases(&self, t: f64) -> f64 {
        self.expected_purchases_at(t)
    }
}

/// Fits Pareto/NBD by maximum likelihood (Nelder–Mead on ln r, ln α, ln s, ln β, customers
/// with equal (x, t_x, T) aggregated). Starts at r = s = 1, α = mean(T)/mean(x), β = mean(T).
pub fn fit_pareto_nbd(
    customers: &[RfmSummary],
    options: &FitOptions,
) -> Result<ParetoNbdFit, ValueModelError> {
    let rows = super::prepare_counts(customers)?;
    let n = customers.len() as f64;
    let (mean_x, mean_t) = super::mean_frequency_and_age(customers);
    let alpha0 = (mean_t / mean_x).clamp(1e-3, 1e6);
    let beta0 = mean_t.clamp(1e-3, 1e6);
    let interrupt = options.optimizer.interrupt;
    let (theta, ll, evaluations, converged) =
        super::fit_positive(&[1.0, alpha0, 1.0, beta0], n, options, |p| {
            ParetoNbdParams {
                r: p[0],
                alpha: p[1],
                s: p[2],
                beta: p[3],
            }
            .weighted_log_likelihood_until(&rows, &interrupt)
        })?;
    Ok(ParetoNbdFit {
        params: ParetoNbdParams {
            r: theta[0],
            alpha: theta[1],
            s: theta[2],
            beta: theta[3],
        },
        report: FitReport {
            log_likelihood: ll,
            customers: customers.len(),
            evaluations,
            converged,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_likelihood_gives_up_when_interrupted() {
        let rows: Vec<(RfmSummary, f64)> = (0..1_000)
            .map(|i: u32| (RfmSummary::new(i % 7, f64::from(i % 30), 40.0), 1.0))
            .collect();
        let done = PAPER.weighted_log_likelihood(&rows);
        assert!(done.is_finite());
        let past = Interrupt {
            on_shutdown: false,
            deadline: Some(std::time::Instant::now()),
        };
        assert!(PAPER.weighted_log_likelihood_until(&rows, &past).is_nan());
    }

    const PAPER: ParetoNbdParams = ParetoNbdParams {
        r: 0.553,
        alpha: 10.578,
        s: 0.606,
        beta: 11.669,
    };

    fn p(r: f64, alpha: f64, s: f64, beta: f64) -> ParetoNbdParams {
        ParetoNbdParams { r, alpha, s, beta }
    }

    #[test]
    fn likelihood_of_tiny_data_by_hand() {
        // r = α = s = β = 1, x = 0, T = 1: L = ¼ + ∫₀¹ (1+τ)^−3 dτ = ¼ + ⅜ = ⅝.
        let ll = p(1.0, 1.0, 1.0, 1.0).log_likelihood_customer(0, 0.0, 1.0);
        assert!((ll - (5.0_f64 / 8.0).ln()).abs() < 1e-14, "{ll}");
        // x = 1, t_x = 1, T = 2; L = E[λe^−λT]E[e^−μT] + ∫₁² E[λe^−λτ]E[μe^−μτ] dτ, with the
        // integral I = ∫₁² 2/((2+τ)²(1+τ)²) dτ = 0.028867857374465844 in both branches.
        let ll = p(1.0, 2.0, 1.0, 1.0).log_likelihood_customer(1, 1.0, 2.0); // α > β
        assert!(
            (ll - 0.070_534_524_041_132_5_f64.ln()).abs() < 1e-13,
            "{ll}"
        );
        let ll = p(1.0, 1.0, 1.0, 2.0).log_likelihood_customer(1, 1.0, 2.0); // α < β
        assert!(
            (ll - 0.084_423_412_930_021_4_f64.ln()).abs() < 1e-13,
            "{ll}"
        );
    }

    #[test]
    fn a0_matches_numerical_integration() {
        // A₀ = (r+s+x) ∫ (α+τ)^−(r+x) (β+τ)^−(s+1) dτ, Simpson with many panels.
        for params in [
            PAPER,
            p(0.553, 11.669, 0.606, 10.578),
            p(2.0, 1.0, 3.0, 50.0),
        ] {
            let (x, t_x, age) = (3.0, 12.0, 38.86);
            let f = |tau: f64| {
                (params.alpha + tau).powf(-(params.r + x))
                    * (params.beta + tau).powf(-(params.s + 1.0))
            };
            let n = 20_000;
            let h = (age - t_x) / f64::from(n);
            let mut sum = f(t_x) + f(age);
            for i in 1..n {
                sum += f(t_x + h * f64::from(i)) * if i % 2 == 1 { 4.0 } else { 2.0 };
            }
            let integral = sum * h / 3.0 * (params.r + params.s + x);
            let ours = params.ln_a0(x, t_x, age).exp();
            assert!(
                (ours / integral - 1.0).abs() < 1e-10,
                "{ours} vs {integral}"
            );
        }
    }

    #[test]
    fn stable_for_large_frequency_and_age() {
        for params in [PAPER, p(0.553, 11.669, 0.606, 10.578)] {
            let ll = params.log_likelihood_customer(3_000, 9_000.0, 10_000.0);
            assert!(ll.is_finite() && ll < 0.0, "{ll}");
            let pa = params.probability_alive_at(3_000, 9_000.0, 10_000.0);
            assert!((0.0..=1.0).contains(&pa), "{pa}");
            let e = params.conditional_expected_purchases_at(52.0, 3_000, 9_999.0, 10_000.0);
            assert!(e.is_finite() && e > 0.0, "{e}");
        }
    }

    #[test]
    fn probability_alive_edge_cases() {
        assert_eq!(PAPER.probability_alive_at(2, 38.86, 38.86), 1.0);
        let long_silence = PAPER.probability_alive_at(2, 5.0, 38.86);
        let recent = PAPER.probability_alive_at(2, 35.0, 38.86);
        assert!(0.0 < long_silence && long_silence < recent && recent < 1.0);
        // More purchases with the same silence: more evidence of death by now.
        assert!(PAPER.probability_alive_at(10, 5.0, 38.86) < long_silence);
    }

    #[test]
    fn expected_purchases_monotone_and_limits() {
        let mut last = 0.0;
        for k in 1..=40 {
            let t = f64::from(k) * 2.0;
            let e = PAPER.conditional_expected_purchases_at(t, 2, 30.43, 38.86);
            assert!(e > last);
            last = e;
        }
        let t = 1e-4;
        assert!((PAPER.expected_purchases_at(t) / t - PAPER.r / PAPER.alpha).abs() < 1e-5);
        // s = 1 limit is continuous.
        let near = p(0.5, 10.0, 1.0 + 1e-7, 12.0).expected_purchases_at(39.0);
        let at = p(0.5, 10.0, 1.0, 12.0).expected_purchases_at(39.0);
        assert!((near - at).abs() < 1e-6);
        assert!((at - 0.5 * 12.0 / 10.0 * (1.0_f64 + 39.0 / 12.0).ln()).abs() < 1e-12);
        assert_eq!(
            PAPER.conditional_expected_purchases_at(0.0, 2, 30.43, 38.86),
            0.0
        );
    }
}
