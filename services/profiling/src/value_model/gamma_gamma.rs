//! The Gamma-Gamma model of monetary value: Colombo & Jiang (1999), "A stochastic RFM model",
//! *Journal of Interactive Marketing* 13(3); Fader, Hardie & Lee (2005), "RFM and CLV: Using
//! Iso-Value Curves for Customer Base Analysis", *Journal of Marketing Research* 42(4);
//! Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value".
//!
//! Each repeat transaction's value is Gamma(p, ν) with the customer's ν ~ Gamma(q, γ) (`v`
//! here, lifetimes' name). The customer's mean m̄ over x repeat transactions has marginal
//! density
//!
//! ```text
//! f(m̄ | x) = Γ(px+q) / (Γ(px) Γ(q)) · γ^q m̄^(px−1) x^(px) / (γ + x m̄)^(px+q)
//! ```
//!
//! and E[M | x, m̄] = p(γ + x m̄)/(px + q − 1), a weighted mean of the population mean pγ/(q−1)
//! and the observed m̄. Only customers with x > 0 (and m̄ > 0) enter the fit; the model
//! assumes spend is independent of the purchase process. On CDNOW (946 repeat customers) the
//! published fit is p = 6.25, q = 3.74, γ = 15.44.

use super::special_functions::ln_gamma;
use super::{FitOptions, FitReport, RfmSummary, ValueModelError};

/// Gamma-Gamma parameters: transaction value ~ Gamma(shape p, rate ν), ν ~ Gamma(shape q,
/// rate v).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GammaGammaParams {
    pub p: f64,
    pub q: f64,
    pub v: f64,
}

/// A fitted Gamma-Gamma model.
#[derive(Debug, Clone, PartialEq)]
pub struct GammaGammaFit {
    pub params: GammaGammaParams,
    pub report: FitReport,
}

impl GammaGammaParams {
    /// ln f(m̄ | x) of one customer with x ≥ 1 repeat transactions of mean value m̄ > 0.
    pub fn log_likelihood_customer(&self, x: u32, mean_value: f64) -> f64 {
        let Self { p, q, v } = *self;
        let x = f64::from(x);
        let px = p * x;
        ln_gamma(px + q) - ln_gamma(px) - ln_gamma(q)
            + q * v.ln()
            + (px - 1.0) * mean_value.ln()
            + px * x.ln()
            - (px + q) * (x * mean_value + v).ln()
    }

    /// Σ ln f over the customers with x > 0 (others are ignored).
    pub fn log_likelihood(&self, customers: &[RfmSummary]) -> f64 {
        customers
            .iter()
            .filter(|c| c.frequency > 0)
            .map(|c| self.log_likelihood_customer(c.frequency, c.monetary_value))
            .sum()
    }

    /// E[M]: the population mean transaction value pγ/(q−1) (∞ for q ≤ 1).
    pub fn expected_average_value(&self) -> f64 {
        if self.q <= 1.0 {
            return f64::INFINITY;
        }
        self.p * self.v / (self.q - 1.0)
    }

    /// E[M | x, m̄] = p(γ + x m̄)/(px + q − 1): expected value of the customer's future
    /// transactions; the population mean for x = 0.
    pub fn conditional_expected_average_value(&self, x: u32, mean_value: f64) -> f64 {
        let x = f64::from(x);
        self.p * (self.v + x * mean_value) / (self.p * x + self.q - 1.0)
    }

    /// Fits by maximum likelihood; see [`fit_gamma_gamma`].
    pub fn fit(
        customers: &[RfmSummary],
        options: &FitOptions,
    ) -> Result<GammaGammaFit, ValueModelError> {
        fit_gamma_gamma(customers, options)
    }
}

/// Fits Gamma-Gamma by maximum likelihood on the customers with x > 0 and m̄ > 0
/// (Nelder–Mead on ln p, ln q, ln γ). Starts at p = 1, q = 2, γ = mean(m̄).
pub fn fit_gamma_gamma(
    customers: &[RfmSummary],
    options: &FitOptions,
) -> Result<GammaGammaFit, ValueModelError> {
    let rows: Vec<(u32, f64)> = customers
        .iter()
        .filter(|c| c.frequency > 0)
        .map(|c| (c.frequency, c.monetary_value))
        .collect();
    if let Some((x, m)) = rows.iter().find(|(_, m)| !(m.is_finite() && *m > 0.0)) {
        return Err(ValueModelError::InvalidInput(format!(
            "monetary value must be positive for repeat customers; got {m} with frequency {x}"
        )));
    }
    if rows.len() < 2 {
        return Err(ValueModelError::NotEnoughData(
            "the Gamma-Gamma fit needs at least two repeat customers".into(),
        ));
    }
    let n = rows.len() as f64;
    let mean_m = rows.iter().map(|r| r.1).sum::<f64>() / n;
    let (theta, ll, evaluations, converged) =
        super::fit_positive(&[1.0, 2.0, mean_m], n, options, |p| {
            let params = GammaGammaParams {
                p: p[0],
                q: p[1],
                v: p[2],
            };
            rows.iter()
                .map(|(x, m)| params.log_likelihood_customer(*x, *m))
                .sum()
        })?;
    Ok(GammaGammaFit {
        params: GammaGammaParams {
            p: theta[0],
            q: theta[1],
            v: theta[2],
        },
        report: FitReport {
            log_likelihood: ll,
            customers: rows.len(),
            evaluations,
            converged,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn density_by_hand() {
        // p = q = γ = 1, x = 1: f(m) = 1/(1+m)², so f(1) = ¼.
        let ones = GammaGammaParams {
            p: 1.0,
            q: 1.0,
            v: 1.0,
        };
        assert!((ones.log_likelihood_customer(1, 1.0) - 0.25_f64.ln()).abs() < 1e-14);
        // x = 2, m̄ = 3, p = 2, q = 3, γ = 4: Γ(7)/(Γ(4)Γ(3)) · 4³ · 3³ · 2⁴ / 10⁷.
        let ps = GammaGammaParams {
            p: 2.0,
            q: 3.0,
            v: 4.0,
        };
        let by_hand = 720.0 / (6.0 * 2.0) * 64.0 * 27.0 * 16.0 / 1e7;
        assert!((ps.log_likelihood_customer(2, 3.0) - f64::ln(by_hand)).abs() < 1e-13);
        // Customers without repeat purchases are ignored.
        let data = [RfmSummary::new(0, 0.0, 5.0)];
        assert_eq!(ps.log_likelihood(&data), 0.0);
    }

    #[test]
    fn density_integrates_to_one() {
        let params = GammaGammaParams {
            p: 6.25,
            q: 3.74,
            v: 15.44,
        };
        // ∫ f(m | x=3) dm over (0, ∞) by the substitution m = u/(1−u).
        let n = 200_000;
        let mut total = 0.0;
        for i in 0..n {
            let u = (f64::from(i) + 0.5) / f64::from(n);
            let m = u / (1.0 - u);
            total +=
                params.log_likelihood_customer(3, m).exp() / ((1.0 - u) * (1.0 - u)) / f64::from(n);
        }
        assert!((total - 1.0).abs() < 1e-6, "{total}");
    }

    #[test]
    fn conditional_expectation_shrinks_towards_the_mean() {
        let params = GammaGammaParams {
            p: 6.25,
            q: 3.74,
            v: 15.44,
        };
        let mean = params.expected_average_value();
        assert!((mean - 6.25 * 15.44 / 2.74).abs() < 1e-12);
        assert!((params.conditional_expected_average_value(0, 0.0) - mean).abs() < 1e-12);
        let one = params.conditional_expected_average_value(1, 100.0);
        let many = params.conditional_expected_average_value(50, 100.0);
        assert!(mean < one && one < many && many < 100.0);
        assert_eq!(
            GammaGammaParams {
                p: 1.0,
                q: 0.5,
                v: 1.0
            }
            .expected_average_value(),
            f64::INFINITY
        );
    }

    #[test]
    fn fit_finds_a_local_optimum_and_rejects_bad_input() {
        let spends = [3.0, 7.5, 12.0, 20.0, 4.2, 9.9, 15.0, 30.0, 6.1, 11.0];
        let data: Vec<RfmSummary> = spends
            .iter()
            .enumerate()
            .map(|(i, m)| RfmSummary {
                frequency: 1 + (i as u32 % 4),
                recency: 1.0,
                age: 2.0,
                monetary_value: *m,
            })
            .collect();
        let fit = fit_gamma_gamma(&data, &FitOptions::default()).expect("fits");
        let best = fit.report.log_likelihood;
        for i in 0..3 {
            for f in [0.98, 1.02] {
                let mut p = [fit.params.p, fit.params.q, fit.params.v];
                p[i] *= f;
                let q = GammaGammaParams {
                    p: p[0],
                    q: p[1],
                    v: p[2],
                };
                assert!(q.log_likelihood(&data) <= best + 1e-9);
            }
        }
        let bad = [RfmSummary {
            frequency: 1,
            recency: 1.0,
            age: 2.0,
            monetary_value: 0.0,
        }];
        assert!(fit_gamma_gamma(&bad, &FitOptions::default()).is_err());
        assert!(fit_gamma_gamma(&[], &FitOptions::default()).is_err());
    }
}
