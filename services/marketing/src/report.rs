//! Campaign reports and variant comparison from bucketed results: CTR and conversion rate
//! with Wilson intervals, CPA with a delta-method interval, ROAS and ROI with a
//! percentile bootstrap over time buckets, and the A/B tests of [`crate::stats`].

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::stats::{self, Interval};

/// One time bucket of measured results (money in minor units).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Bucket {
    pub impressions: u64,
    pub clicks: u64,
    pub conversions: u64,
    pub revenue: i64,
    pub spend: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub totals: Bucket,
    pub ctr: Interval,
    pub cvr: Interval,
    /// `None` without conversions (CPA undefined).
    pub cpa: Option<Interval>,
    /// `None` without spend.
    pub roas: Option<Interval>,
    pub roi: Option<Interval>,
}

/// Bootstrap resamples; the seed is fixed so a report is reproducible.
const BOOTSTRAP_ROUNDS: usize = 1000;
const BOOTSTRAP_SEED: u64 = 0x5eed;

pub fn sum(buckets: &[Bucket]) -> Bucket {
    buckets.iter().fold(Bucket::default(), |acc, b| Bucket {
        impressions: acc.impressions + b.impressions,
        clicks: acc.clicks + b.clicks,
        conversions: acc.conversions + b.conversions,
        revenue: acc.revenue + b.revenue,
        spend: acc.spend + b.spend,
    })
}

/// Percentile bootstrap of a ratio of sums over buckets.
fn bootstrap(
    buckets: &[Bucket],
    level: f64,
    value: impl Fn(&Bucket) -> Option<f64>,
) -> Option<Interval> {
    let point = value(&sum(buckets))?;
    let mut rng = StdRng::seed_from_u64(BOOTSTRAP_SEED);
    let mut draws: Vec<f64> = (0..BOOTSTRAP_ROUNDS)
        .filter_map(|_| {
            let sample: Vec<Bucket> = (0..buckets.len())
                .map(|_| buckets[rng.random_range(0..buckets.len())])
                .collect();
            value(&sum(&sample))
        })
        .collect();
    if draws.is_empty() {
        return Some(Interval {
            value: point,
            lower: point,
            upper: point,
        });
    }
    draws.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    let at = |q: f64| draws[((q * (draws.len() - 1) as f64).round() as usize).min(draws.len() - 1)];
    Some(Interval {
        value: point,
        lower: at(tail).min(point),
        upper: at(1.0 - tail).max(point),
    })
}

pub fn report(buckets: &[Bucket], level: f64, gross_margin_rate: f64) -> Report {
    let t = sum(buckets);
    let z = stats::z_for_confidence(level);
    let cpa = (t.conversions > 0).then(|| {
        // Conversions ~ Poisson: se(CPA) = CPA / sqrt(conversions) by the delta method.
        let cpa = t.spend as f64 / t.conversions as f64;
        let half = z * cpa / (t.conversions as f64).sqrt();
        Interval {
            value: cpa,
            lower: (cpa - half).max(0.0),
            upper: cpa + half,
        }
    });
    let roas = bootstrap(buckets, level, |b| {
        (b.spend > 0).then(|| b.revenue as f64 / b.spend as f64)
    });
    let roi = bootstrap(buckets, level, |b| {
        (b.spend > 0)
            .then(|| (b.revenue as f64 * gross_margin_rate - b.spend as f64) / b.spend as f64)
    });
    Report {
        totals: t,
        ctr: stats::wilson_interval(t.clicks, t.impressions, level),
        cvr: stats::wilson_interval(t.conversions, t.clicks, level),
        cpa,
        roas,
        roi,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Test {
    TwoProportionZ,
    ChiSquared,
    Bayesian,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub test_name: &'static str,
    pub rate_a: Interval,
    pub rate_b: Interval,
    pub relative_lift: f64,
    pub statistic: f64,
    pub p_value: f64,
    pub significant: bool,
    pub probability_b_beats_a: f64,
}

/// Compares successes/trials of A and B. The posterior probability always uses
/// Beta(1, 1) priors; frequentist tests give the p-value (the Bayesian one gives 1).
pub fn compare(a: (u64, u64), b: (u64, u64), test: Test, alpha: f64, level: f64) -> Comparison {
    let rate_a = stats::wilson_interval(a.0, a.1, level);
    let rate_b = stats::wilson_interval(b.0, b.1, level);
    let (sa, fa) = (a.0.min(a.1), a.1 - a.0.min(a.1));
    let (sb, fb) = (b.0.min(b.1), b.1 - b.0.min(b.1));
    let prob =
        stats::probability_b_beats_a(sa as f64 + 1.0, fa as f64 + 1.0, sb + 1, fb as f64 + 1.0);
    let (name, t) = match test {
        Test::TwoProportionZ => (
            "two-proportion z-test",
            stats::two_proportion_z_test(a.0, a.1, b.0, b.1),
        ),
        Test::ChiSquared => (
            "Pearson chi-squared test (2x2, 1 df)",
            stats::chi_squared_test(a.0, a.1, b.0, b.1),
        ),
        Test::Bayesian => (
            "Beta-Binomial posterior comparison",
            stats::TestResult {
                statistic: 0.0,
                p_value: 1.0,
            },
        ),
    };
    Comparison {
        test_name: name,
        rate_a,
        rate_b,
        relative_lift: if rate_a.value > 0.0 {
            (rate_b.value - rate_a.value) / rate_a.value
        } else {
            0.0
        },
        statistic: t.statistic,
        p_value: t.p_value,
        significant: test != Test::Bayesian && t.p_value < alpha,
        probability_b_beats_a: prob,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(i: u64, c: u64, v: u64, revenue: i64, spend: i64) -> Bucket {
        Bucket {
            impressions: i,
            clicks: c,
            conversions: v,
            revenue,
            spend,
        }
    }

    #[test]
    fn report_by_hand() {
        let buckets = [
            bucket(1000, 100, 10, 50_000, 10_000),
            bucket(1000, 50, 5, 25_000, 5_000),
        ];
        let r = report(&buckets, 0.95, 0.3);
        assert_eq!(r.totals, bucket(2000, 150, 15, 75_000, 15_000));
        assert!((r.ctr.value - 0.075).abs() < 1e-12);
        assert!((r.cvr.value - 0.1).abs() < 1e-12);
        let cpa = r.cpa.expect("conversions");
        assert!((cpa.value - 1000.0).abs() < 1e-9);
        let half = 1.959_964 * 1000.0 / 15f64.sqrt();
        assert!((cpa.upper - (1000.0 + half)).abs() < 1e-2);
        // Both buckets have ROAS 5, so every resample does: a degenerate interval.
        let roas = r.roas.expect("spend");
        assert_eq!((roas.value, roas.lower, roas.upper), (5.0, 5.0, 5.0));
        let roi = r.roi.expect("spend");
        assert!(
            (roi.value - 0.5).abs() < 1e-12,
            "(75000 x 0.3 - 15000) / 15000"
        );
    }

    #[test]
    fn report_without_spend_or_conversions() {
        let r = report(&[bucket(10, 0, 0, 0, 0)], 0.95, 0.3);
        assert!(r.cpa.is_none() && r.roas.is_none() && r.roi.is_none());
        assert_eq!(r.ctr.value, 0.0);
        let r = report(&[], 0.95, 0.3);
        assert_eq!(r.ctr.upper, 1.0);
    }

    #[test]
    fn bootstrap_interval_brackets_the_estimate() {
        let buckets: Vec<Bucket> = (0..20)
            .map(|i| bucket(100, 10, 1, 1_000 + 200 * i, 1_000))
            .collect();
        let roas = report(&buckets, 0.95, 0.3).roas.expect("spend");
        assert!(
            roas.lower < roas.value && roas.value < roas.upper,
            "{roas:?}"
        );
    }

    #[test]
    fn variant_comparison() {
        let c = compare((200, 1000), (250, 1000), Test::TwoProportionZ, 0.05, 0.95);
        assert!(c.significant && (c.p_value - 0.007_42).abs() < 1e-4);
        assert!((c.relative_lift - 0.25).abs() < 1e-12);
        assert!(c.probability_b_beats_a > 0.99);
        let bayes = compare((200, 1000), (250, 1000), Test::Bayesian, 0.05, 0.95);
        assert_eq!((bayes.p_value, bayes.significant), (1.0, false));
        let flat = compare((20, 1000), (21, 1000), Test::ChiSquared, 0.05, 0.95);
        assert!(!flat.significant);
    }
}
