//! Special functions for the customer-value likelihoods: ln Γ and the Gauss hypergeometric
//! function ₂F₁, written here so the models need no numerics crate.
//!
//! - [`ln_gamma`]: Lanczos approximation (g = 7, 9 coefficients; Numerical Recipes / Godfrey),
//!   relative error ≈ 1e-15 for x ≥ 0.5, with the reflection formula below 0.5.
//! - [`hyp2f1`]: ₂F₁(a, b; c; z) for real z < 1 by the defining power series; for z < −½ the
//!   Pfaff transformation ₂F₁(a, b; c; z) = (1 − z)^(−a) ₂F₁(a, c − b; c; z / (z − 1)) maps the
//!   argument into [⅓, 1) so the series always converges.
//! - [`ln_hyp2f1_positive`]: ln ₂F₁ for a, b, c > 0 and 0 ≤ z < 1 (all terms positive), with
//!   rescaling so very large values (large b, z near 1) do not overflow. This is the branch
//!   used by the Pareto/NBD likelihood (Fader & Hardie, "A Note on Deriving the Pareto/NBD
//!   Model and Related Expressions", 2005).
//!
//! The series converge geometrically with ratio |z|; close to z = 1 convergence is slow and
//! the loops are capped at [`MAX_SERIES_TERMS`] terms (≈ 1e-12 accuracy still holds up to
//! z ≈ 0.9999 for moderate parameters).

/// Cap on the number of ₂F₁ series terms.
pub const MAX_SERIES_TERMS: usize = 2_000_000;

const LANCZOS_G: f64 = 7.0;
const LANCZOS_COEFFICIENTS: [f64; 9] = [
    0.999_999_999_999_809_9,
    676.520_368_121_885_1,
    -1_259.139_216_722_402_8,
    771.323_428_777_653_1,
    -176.615_029_162_140_6,
    12.507_343_278_686_905,
    -0.138_571_095_265_720_12,
    9.984_369_578_019_572e-6,
    1.505_632_735_149_311_6e-7,
];

/// ln |Γ(x)|. Returns +∞ at the poles (x = 0, −1, −2, …) and NaN for NaN.
pub fn ln_gamma(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x == f64::INFINITY {
        return f64::INFINITY;
    }
    if x <= 0.0 && x == x.floor() {
        return f64::INFINITY;
    }
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 − x) = π / sin(πx).
        let sin = (std::f64::consts::PI * x).sin().abs();
        return std::f64::consts::PI.ln() - sin.ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = LANCZOS_COEFFICIENTS[0];
    for (i, c) in LANCZOS_COEFFICIENTS.iter().enumerate().skip(1) {
        sum += c / (x + i as f64);
    }
    let t = x + LANCZOS_G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// ln(eᵃ + eᵇ) without overflow; either argument may be −∞.
pub fn log_add_exp(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    if b == f64::NEG_INFINITY {
        return a;
    }
    let (hi, lo) = if a >= b { (a, b) } else { (b, a) };
    hi + (lo - hi).exp().ln_1p()
}

/// ln(eᵃ − eᵇ) for a ≥ b; −∞ when a = b and NaN when a < b.
pub fn log_sub_exp(a: f64, b: f64) -> f64 {
    if b == f64::NEG_INFINITY {
        return a;
    }
    if a < b {
        return f64::NAN;
    }
    if a == b {
        return f64::NEG_INFINITY;
    }
    a + (-(b - a).exp_m1()).ln()
}

/// The Gauss hypergeometric function ₂F₁(a, b; c; z) for real z < 1.
///
/// NaN when z ≥ 1, when c is a non-positive integer, or for NaN inputs. Terminates exactly
/// when a or b is a non-positive integer (polynomial case).
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
    if a.is_nan() || b.is_nan() || c.is_nan() || z.is_nan() || z >= 1.0 {
        return f64::NAN;
    }
    if c <= 0.0 && c == c.floor() {
        return f64::NAN;
    }
    if z == 0.0 || a == 0.0 || b == 0.0 {
        return 1.0;
    }
    if z < -0.5 {
        // Pfaff: w = z / (z − 1) ∈ [⅓, 1).
        let w = z / (z - 1.0);
        return (1.0 - z).powf(-a) * hyp2f1_series(a, c - b, c, w);
    }
    hyp2f1_series(a, b, c, z)
}

/// The plain power series Σ (a)ₙ(b)ₙ / ((c)ₙ n!) zⁿ for |z| < 1.
fn hyp2f1_series(a: f64, b: f64, c: f64, z: f64) -> f64 {
    let mut term = 1.0_f64;
    let mut sum = 1.0_f64;
    // Compensated (Kahan) summation: terms may alternate in sign.
    let mut compensation = 0.0_f64;
    let mut small_in_a_row = 0;
    for n in 0..MAX_SERIES_TERMS {
        let nf = n as f64;
        let ratio = (a + nf) * (b + nf) / ((c + nf) * (nf + 1.0)) * z;
        term *= ratio;
        if term == 0.0 {
            break;
        }
        let y = term - compensation;
        let t = sum + y;
        compensation = (t - sum) - y;
        sum = t;
        // Stop when the tail, bounded by a geometric series with ratio max(|ratio|, |z|),
        // is negligible; require it twice to ride over a ratio crossing zero.
        let rho = ratio.abs().max(z.abs());
        if rho < 1.0 && (term.abs() * rho / (1.0 - rho)) <= f64::EPSILON * sum.abs() * 0.5 {
            small_in_a_row += 1;
            if small_in_a_row >= 2 {
                break;
            }
        } else {
            small_in_a_row = 0;
        }
    }
    sum
}

/// ln ₂F₁(a, b; c; z) for a, b, c > 0 and 0 ≤ z < 1, where every series term is positive.
///
/// The partial sum is rescaled whenever it grows beyond 1e280, so the result stays finite
/// for values far beyond f64's range (e.g. b in the hundreds with z close to 1). NaN outside
/// the domain.
pub fn ln_hyp2f1_positive(a: f64, b: f64, c: f64, z: f64) -> f64 {
    if !(a > 0.0 && b > 0.0 && c > 0.0 && (0.0..1.0).contains(&z)) {
        return f64::NAN;
    }
    if z == 0.0 {
        return 0.0;
    }
    const RESCALE_AT: f64 = 1e280;
    let ln_rescale = RESCALE_AT.ln();
    let mut term = 1.0_f64;
    let mut sum = 1.0_f64;
    let mut ln_scale = 0.0_f64;
    for n in 0..MAX_SERIES_TERMS {
        let nf = n as f64;
        let ratio = (a + nf) * (b + nf) / ((c + nf) * (nf + 1.0)) * z;
        term *= ratio;
        sum += term;
        let rho = ratio.max(z);
        if rho < 1.0 && term * rho / (1.0 - rho) <= f64::EPSILON * sum * 0.5 {
            break;
        }
        if sum > RESCALE_AT {
            sum /= RESCALE_AT;
            term /= RESCALE_AT;
            ln_scale += ln_rescale;
        }
    }
    ln_scale + sum.ln()
}

/// 1 / (1 + e^ln_odds): a probability from log-odds against it, stable for large odds
/// either way (P(alive) = 1 / (1 + odds of having dropped out)).
pub fn inverse_one_plus_exp(ln_odds: f64) -> f64 {
    if ln_odds > 0.0 {
        let e = (-ln_odds).exp();
        e / (1.0 + e)
    } else {
        1.0 / (1.0 + ln_odds.exp())
    }
}

/// ln ₂F₁(a, b; a + 1; z) for a > 0, 0 < b ≤ a + 1 and 0 ≤ z < 1: the form in the
/// Pareto/NBD likelihood (an incomplete beta function in disguise).
///
/// Uses Euler's transformation ₂F₁(a, b; a+1; z) = (1−z)^(1−b) ₂F₁(1, a+1−b; a+1; z), whose
/// series Σ (a+1−b)ₙ/(a+1)ₙ zⁿ has positive terms with ratio (a+1−b+n)/(a+1+n)·z < z: no
/// growth phase even for large b (large x), so it needs far fewer terms than the plain
/// series ([`ln_hyp2f1_positive`] is the fallback outside this domain).
pub fn ln_hyp2f1_a_b_a1(a: f64, b: f64, z: f64) -> f64 {
    let e = a + 1.0 - b;
    if !(a > 0.0 && b > 0.0 && e >= 0.0 && (0.0..1.0).contains(&z)) {
        return ln_hyp2f1_positive(a, b, a + 1.0, z);
    }
    if z == 0.0 {
        return 0.0;
    }
    let mut term = 1.0_f64;
    let mut sum = 1.0_f64;
    for n in 0..MAX_SERIES_TERMS {
        let nf = n as f64;
        term *= (e + nf) / (a + 1.0 + nf) * z;
        sum += term;
        // Ratios only decrease towards z, so the tail is at most term · z / (1 − z).
        if term * z / (1.0 - z) <= f64::EPSILON * sum * 0.5 {
            break;
        }
    }
    (1.0 - b) * (-z).ln_1p() + sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64, rel: f64) {
        let err = (actual - expected).abs() / expected.abs().max(1e-300);
        assert!(
            err <= rel,
            "actual {actual:e} expected {expected:e} rel err {err:e}"
        );
    }

    #[test]
    fn ln_gamma_known_values() {
        assert!(ln_gamma(1.0).abs() < 1e-15);
        assert!(ln_gamma(2.0).abs() < 1e-15);
        close(ln_gamma(0.5), 0.572_364_942_924_700_1, 1e-14); // ln √π
        close(ln_gamma(3.0), 2.0_f64.ln(), 1e-14);
        close(ln_gamma(10.0), 362_880.0_f64.ln(), 1e-14);
        close(ln_gamma(100.0), 359.134_205_369_575_4, 1e-14);
        close(ln_gamma(0.1), 2.252_712_651_734_206, 1e-13);
        close(ln_gamma(1.5), -0.120_782_237_635_245_22, 1e-12); // ln(√π / 2)
        close(ln_gamma(-0.5), 1.265_512_123_484_645_4, 1e-13); // ln(2√π)
        close(ln_gamma(1e-8), 18.420_680_738_180_21, 1e-12);
        // Stirling for a large argument: ln Γ(1e6) = 12_815_504.569_147_61…
        close(ln_gamma(1e6), 12_815_504.569_147_61, 1e-13);
        assert_eq!(ln_gamma(0.0), f64::INFINITY);
        assert_eq!(ln_gamma(-3.0), f64::INFINITY);
        assert!(ln_gamma(f64::NAN).is_nan());
    }

    #[test]
    fn ln_gamma_recurrence_holds() {
        for &x in &[0.243, 0.793, 2.426, 4.414, 17.5, 250.25] {
            close(ln_gamma(x + 1.0) - ln_gamma(x), x.ln(), 1e-11);
        }
    }

    #[test]
    fn log_exp_helpers() {
        close(log_add_exp(0.0, 0.0), 2.0_f64.ln(), 1e-15);
        close(log_add_exp(1000.0, 1000.0), 1000.0 + 2.0_f64.ln(), 1e-15);
        assert_eq!(log_add_exp(f64::NEG_INFINITY, 3.0), 3.0);
        close(
            log_sub_exp(2.0_f64.ln(), 0.0),
            0.0_f64.exp().ln() + 0.0,
            1e-15,
        );
        assert_eq!(log_sub_exp(1.0, 1.0), f64::NEG_INFINITY);
        assert!(log_sub_exp(0.0, 1.0).is_nan());
        close(
            log_sub_exp(-700.0, -701.0),
            -700.0 + (1.0 - (-1.0_f64).exp()).ln(),
            1e-14,
        );
    }

    #[test]
    fn hyp2f1_known_values() {
        // ₂F₁(1, 1; 2; z) = −ln(1 − z) / z
        close(hyp2f1(1.0, 1.0, 2.0, 0.5), 2.0 * 2.0_f64.ln(), 1e-14);
        close(hyp2f1(1.0, 1.0, 2.0, 0.99), -(0.01_f64.ln()) / 0.99, 1e-12);
        // Pfaff branch: ₂F₁(1, 1; 2; −3) = ln 4 / 3
        close(hyp2f1(1.0, 1.0, 2.0, -3.0), 4.0_f64.ln() / 3.0, 1e-14);
        close(hyp2f1(1.0, 1.0, 2.0, -0.25), 1.25_f64.ln() / 0.25, 1e-14);
        // ₂F₁(a, b; b; z) = (1 − z)^(−a)
        close(hyp2f1(2.5, 3.0, 3.0, 0.3), 0.7_f64.powf(-2.5), 1e-14);
        // ₂F₁(½, ½; 3/2; z²) = arcsin(z) / z
        close(hyp2f1(0.5, 0.5, 1.5, 0.25), 0.5_f64.asin() / 0.5, 1e-14);
        // ₂F₁(½, 1; 3/2; z²) = atanh(z) / z, close to 1
        close(hyp2f1(0.5, 1.0, 1.5, 0.81), 0.9_f64.atanh() / 0.9, 1e-13);
        // Polynomial: ₂F₁(−2, b; c; z) = 1 − 2bz/c + b(b+1)z²/(c(c+1))
        let (b, c, z) = (1.7, 3.2, -4.0);
        let poly = 1.0 - 2.0 * b * z / c + b * (b + 1.0) * z * z / (c * (c + 1.0));
        close(hyp2f1(-2.0, b, c, z), poly, 1e-14);
        close(
            hyp2f1(-2.0, b, c, 0.4),
            1.0 - 0.8 * b / c + 0.16 * b * (b + 1.0) / (c * (c + 1.0)),
            1e-14,
        );
        assert_eq!(hyp2f1(1.0, 2.0, 3.0, 0.0), 1.0);
        assert!(hyp2f1(1.0, 1.0, 2.0, 1.0).is_nan());
        assert!(hyp2f1(1.0, 1.0, -2.0, 0.5).is_nan());
    }

    #[test]
    fn ln_hyp2f1_positive_matches_and_does_not_overflow() {
        for &(a, b, c, z) in &[
            (1.0, 1.0, 2.0, 0.5),
            (3.2, 1.6, 4.2, 0.1),
            (30.5, 25.3, 31.5, 0.7),
            (0.5, 1.0, 1.5, 0.81),
        ] {
            close(
                ln_hyp2f1_positive(a, b, c, z),
                hyp2f1(a, b, c, z).ln(),
                1e-13,
            );
        }
        // ₂F₁(a, b; b; z) = (1 − z)^(−a) far beyond f64: a = 400, z = 0.99 → 400 · ln 100.
        close(
            ln_hyp2f1_positive(400.0, 3.0, 3.0, 0.99),
            400.0 * 100.0_f64.ln(),
            1e-10,
        );
        assert_eq!(ln_hyp2f1_positive(1.0, 1.0, 2.0, 0.0), 0.0);
        assert!(ln_hyp2f1_positive(1.0, 1.0, 2.0, 1.0).is_nan());
        assert!(ln_hyp2f1_positive(-1.0, 1.0, 2.0, 0.5).is_nan());
    }

    #[test]
    fn ln_hyp2f1_a_b_a1_matches_the_plain_series() {
        for &(a, b, z) in &[
            (1.0, 1.0, 0.5),
            (2.159, 1.606, 0.094),
            (2.159, 2.553, 0.3),
            (60.3, 59.5, 0.8),
            (60.3, 1.7, 0.8),
            (0.9, 0.2, 0.99),
            (5.0, 6.0, 0.999),
        ] {
            let plain = ln_hyp2f1_positive(a, b, a + 1.0, z);
            close(ln_hyp2f1_a_b_a1(a, b, z), plain, 1e-12);
        }
        // ₂F₁(1, 1; 2; z) = −ln(1 − z)/z
        close(
            ln_hyp2f1_a_b_a1(1.0, 1.0, 0.9),
            (-(0.1_f64.ln()) / 0.9).ln(),
            1e-13,
        );
        assert_eq!(ln_hyp2f1_a_b_a1(3.0, 2.0, 0.0), 0.0);
        // Outside the Euler domain (b > a + 1) it falls back to the plain series.
        close(
            ln_hyp2f1_a_b_a1(1.0, 3.0, 0.3),
            hyp2f1(1.0, 3.0, 2.0, 0.3).ln(),
            1e-13,
        );
    }
}
