//! Small statistics toolkit for campaign reports and variant tests: the normal
//! distribution, Wilson intervals, the two-proportion z-test, Pearson's chi-squared on a
//! 2x2 table and the exact Beta-Binomial probability that one rate beats another.
//! Pure functions, no I/O.

/// Standard normal cumulative distribution function.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// Complementary error function (Numerical Recipes `erfcc`, fractional error < 1.2e-7
/// everywhere), enough for p-values and intervals.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let ans = t * poly.exp();
    if x >= 0.0 { ans } else { 2.0 - ans }
}

/// Quantile of the standard normal distribution for `p` in (0, 1) (Acklam's rational
/// approximation, relative error < 1.2e-9).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let low = 0.024_25;
    if p < low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -normal_quantile(1.0 - p)
    }
}

/// The two-sided critical value z for a confidence level, e.g. 1.95996 for 0.95.
pub fn z_for_confidence(level: f64) -> f64 {
    normal_quantile(1.0 - (1.0 - level) / 2.0)
}

/// A point estimate with a confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub value: f64,
    pub lower: f64,
    pub upper: f64,
}

/// Wilson score interval for `successes` out of `trials`. With no trials the rate is 0
/// and the interval is the whole [0, 1]: nothing is known.
pub fn wilson_interval(successes: u64, trials: u64, level: f64) -> Interval {
    if trials == 0 {
        return Interval {
            value: 0.0,
            lower: 0.0,
            upper: 1.0,
        };
    }
    let n = trials as f64;
    let p = (successes.min(trials)) as f64 / n;
    let z = z_for_confidence(level);
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = z / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Interval {
        value: p,
        lower: (centre - half).max(0.0),
        upper: (centre + half).min(1.0),
    }
}

/// Result of a frequentist test on two proportions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TestResult {
    pub statistic: f64,
    pub p_value: f64,
}

/// Pooled two-proportion z-test, two-sided: z = (p_b - p_a) / sqrt(p(1-p)(1/n_a + 1/n_b)).
/// Degenerate tables (no trials, or a pooled rate of 0 or 1) give z = 0 and p = 1.
pub fn two_proportion_z_test(succ_a: u64, n_a: u64, succ_b: u64, n_b: u64) -> TestResult {
    if n_a == 0 || n_b == 0 {
        return TestResult {
            statistic: 0.0,
            p_value: 1.0,
        };
    }
    let (na, nb) = (n_a as f64, n_b as f64);
    let (pa, pb) = (succ_a.min(n_a) as f64 / na, succ_b.min(n_b) as f64 / nb);
    let pooled = (succ_a.min(n_a) + succ_b.min(n_b)) as f64 / (na + nb);
    let se = (pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb)).sqrt();
    if se == 0.0 {
        return TestResult {
            statistic: 0.0,
            p_value: 1.0,
        };
    }
    let z = (pb - pa) / se;
    TestResult {
        statistic: z,
        p_value: (2.0 * (1.0 - normal_cdf(z.abs()))).clamp(0.0, 1.0),
    }
}

/// Pearson chi-squared test (1 degree of freedom, no continuity correction) on the 2x2
/// table successes/failures x A/B. It equals the square of the pooled z statistic, and the
/// p-value is the same; it is offered because analysts ask for it by name.
pub fn chi_squared_test(succ_a: u64, n_a: u64, succ_b: u64, n_b: u64) -> TestResult {
    let z = two_proportion_z_test(succ_a, n_a, succ_b, n_b);
    TestResult {
        statistic: z.statistic * z.statistic,
        p_value: z.p_value,
    }
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9; ~15 significant digits).
pub fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
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
    if x < 0.5 {
        // Reflection keeps the approximation in its accurate range.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// P(X_B > X_A) for X_A ~ Beta(a_a, b_a), X_B ~ Beta(a_b, b_b), exactly, for an integer
/// `a_b` (Evan Miller's closed form: a sum of `a_b` terms). Used with Beta(1, 1) priors,
/// so `a_b` = conversions + 1 is an integer.
pub fn probability_b_beats_a(a_a: f64, b_a: f64, a_b: u64, b_b: f64) -> f64 {
    let mut total = 0.0;
    let base = ln_beta(a_a, b_a);
    for i in 0..a_b {
        let i = i as f64;
        total +=
            (ln_beta(a_a + i, b_a + b_b) - (b_b + i).ln() - ln_beta(1.0 + i, b_b) - base).exp();
    }
    total.clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn normal_distribution_matches_tables() {
        assert!(close(normal_cdf(0.0), 0.5, 1e-7));
        assert!(close(normal_cdf(1.959_964), 0.975, 1e-6));
        assert!(close(normal_cdf(-1.0), 0.158_655_25, 1e-6));
        assert!(close(normal_quantile(0.975), 1.959_964, 1e-6));
        assert!(close(normal_quantile(0.01), -2.326_348, 1e-6));
        assert!(close(z_for_confidence(0.90), 1.644_854, 1e-6));
    }

    #[test]
    fn wilson_interval_hand_checked() {
        // 10 of 100 at 95 %: Wilson gives [0.0552, 0.1744] (textbook value).
        let i = wilson_interval(10, 100, 0.95);
        assert!(close(i.value, 0.1, 1e-12));
        assert!(close(i.lower, 0.055_2, 1e-4), "{i:?}");
        assert!(close(i.upper, 0.174_4, 1e-4), "{i:?}");
        // 0 of 10: lower bound 0, upper 0.2775.
        let zero = wilson_interval(0, 10, 0.95);
        assert_eq!(zero.lower, 0.0);
        assert!(close(zero.upper, 0.277_5, 1e-4), "{zero:?}");
        assert_eq!(wilson_interval(0, 0, 0.95).upper, 1.0);
    }

    #[test]
    fn two_proportion_z_test_hand_checked() {
        // A: 200/1000, B: 250/1000. pooled 0.225, se = sqrt(.225*.775*.002) = 0.018675,
        // z = 0.05 / 0.018675 = 2.6774, p = 0.00742.
        let t = two_proportion_z_test(200, 1000, 250, 1000);
        assert!(close(t.statistic, 2.677_4, 1e-3), "{t:?}");
        assert!(close(t.p_value, 0.007_42, 1e-4), "{t:?}");
        let chi = chi_squared_test(200, 1000, 250, 1000);
        assert!(close(chi.statistic, 7.168_5, 1e-2), "{chi:?}");
        assert!(close(chi.p_value, t.p_value, 1e-12));
        // Identical rates: z = 0, p = 1.
        let same = two_proportion_z_test(50, 500, 50, 500);
        assert!(close(same.statistic, 0.0, 1e-12) && close(same.p_value, 1.0, 1e-6));
        assert_eq!(two_proportion_z_test(0, 0, 1, 10).p_value, 1.0);
    }

    #[test]
    fn ln_gamma_matches_factorials() {
        assert!(close(ln_gamma(1.0), 0.0, 1e-12));
        assert!(close(ln_gamma(5.0), (24.0f64).ln(), 1e-12));
        assert!(close(
            ln_gamma(0.5),
            std::f64::consts::PI.sqrt().ln(),
            1e-12
        ));
    }

    #[test]
    fn probability_b_beats_a_closed_forms() {
        // Beta(1,1) vs Beta(1,1): 1/2. Beta(1,1) vs Beta(2,1): 2/3.
        assert!(close(probability_b_beats_a(1.0, 1.0, 1, 1.0), 0.5, 1e-12));
        assert!(close(
            probability_b_beats_a(1.0, 1.0, 2, 1.0),
            2.0 / 3.0,
            1e-12
        ));
        // Beta(2,1) vs Beta(1,1): 1/3 (symmetry).
        assert!(close(
            probability_b_beats_a(2.0, 1.0, 1, 1.0),
            1.0 / 3.0,
            1e-12
        ));
        // Large samples agree with the normal approximation: 200/1000 vs 250/1000.
        let p = probability_b_beats_a(201.0, 801.0, 251, 751.0);
        assert!(close(p, 0.996, 2e-3), "{p}");
    }
}
