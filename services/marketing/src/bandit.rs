//! Learning strategy response rates: the Beta-Binomial posterior of a strategy's conversion
//! rate per segment, and Thompson sampling over those posteriors (explore/exploit).

use rand::Rng;

/// Beta(alpha, beta) belief about a conversion rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BetaPosterior {
    pub alpha: f64,
    pub beta: f64,
}

impl BetaPosterior {
    /// The prior: `strength` pseudo-impressions at the baseline rate, i.e.
    /// Beta(strength x rate, strength x (1 - rate)).
    pub fn prior(baseline_rate: f64, strength: f64) -> Self {
        let rate = baseline_rate.clamp(1e-6, 1.0 - 1e-6);
        let strength = strength.max(1e-6);
        Self {
            alpha: strength * rate,
            beta: strength * (1.0 - rate),
        }
    }

    /// Conjugate update with `conversions` out of `impressions` (conversions are capped at
    /// impressions so a bad row cannot produce a negative beta).
    pub fn updated(self, impressions: u64, conversions: u64) -> Self {
        let conversions = conversions.min(impressions);
        Self {
            alpha: self.alpha + conversions as f64,
            beta: self.beta + (impressions - conversions) as f64,
        }
    }

    pub fn mean(self) -> f64 {
        self.alpha / (self.alpha + self.beta)
    }

    /// One draw from the distribution.
    pub fn sample<R: Rng + ?Sized>(self, rng: &mut R) -> f64 {
        let x = sample_gamma(self.alpha, rng);
        let y = sample_gamma(self.beta, rng);
        if x + y == 0.0 {
            self.mean()
        } else {
            x / (x + y)
        }
    }
}

/// Standard normal draw (Box-Muller).
fn sample_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Gamma(shape, 1) draw (Marsaglia-Tsang; shapes below 1 via the boost x U^(1/shape)).
fn sample_gamma<R: Rng + ?Sized>(shape: f64, rng: &mut R) -> f64 {
    if shape < 1.0 {
        let u: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
        return sample_gamma(shape + 1.0, rng) * u.powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = sample_normal(rng);
        let v = (1.0 + c * x).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u: f64 = rng.random();
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

/// One arm of a Thompson draw: its posterior and the value of a conversion (expected margin
/// per conversion, in minor units; 1 to compare raw rates).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Arm {
    pub posterior: BetaPosterior,
    pub value_per_conversion: f64,
}

/// What was drawn for one arm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Draw {
    pub arm: usize,
    pub sampled_rate: f64,
    pub sampled_value: f64,
}

/// Thompson sampling: draw a rate from every arm's posterior and order the arms by
/// sampled value, best first (the first one is the arm to play). Empty input, empty output.
pub fn thompson<R: Rng + ?Sized>(arms: &[Arm], rng: &mut R) -> Vec<Draw> {
    let mut draws: Vec<Draw> = arms
        .iter()
        .enumerate()
        .map(|(arm, a)| {
            let sampled_rate = a.posterior.sample(rng);
            Draw {
                arm,
                sampled_rate,
                sampled_value: sampled_rate * a.value_per_conversion,
            }
        })
        .collect();
    draws.sort_by(|a, b| b.sampled_value.total_cmp(&a.sampled_value));
    draws
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn prior_and_conjugate_update() {
        let prior = BetaPosterior::prior(0.02, 100.0);
        assert!((prior.alpha - 2.0).abs() < 1e-12 && (prior.beta - 98.0).abs() < 1e-12);
        assert!((prior.mean() - 0.02).abs() < 1e-12);
        // 30 conversions in 900 impressions: Beta(32, 968), mean 0.032.
        let post = prior.updated(900, 30);
        assert_eq!((post.alpha, post.beta), (32.0, 968.0));
        assert!((post.mean() - 0.032).abs() < 1e-12);
        // Evidence outweighs the prior as impressions grow: mean tends to 10 %.
        let lots = prior.updated(1_000_000, 100_000);
        assert!((lots.mean() - 0.1).abs() < 1e-3);
        // Conversions above impressions are capped, never a negative beta.
        assert_eq!(prior.updated(5, 9).beta, 98.0);
    }

    #[test]
    fn beta_samples_have_the_right_mean() {
        let mut rng = StdRng::seed_from_u64(7);
        for (a, b) in [(2.0, 98.0), (0.5, 0.5), (30.0, 10.0)] {
            let post = BetaPosterior { alpha: a, beta: b };
            let n = 20_000;
            let mean = (0..n).map(|_| post.sample(&mut rng)).sum::<f64>() / n as f64;
            assert!((mean - post.mean()).abs() < 0.01, "{a},{b}: {mean}");
        }
    }

    #[test]
    fn thompson_is_reproducible_and_mostly_exploits() {
        let arms = [
            Arm {
                posterior: BetaPosterior::prior(0.02, 100.0).updated(10_000, 200),
                value_per_conversion: 1.0,
            },
            Arm {
                posterior: BetaPosterior::prior(0.02, 100.0).updated(10_000, 400),
                value_per_conversion: 1.0,
            },
        ];
        let first = thompson(&arms, &mut StdRng::seed_from_u64(42));
        let again = thompson(&arms, &mut StdRng::seed_from_u64(42));
        assert_eq!(first, again, "same seed, same draw");
        let mut rng = StdRng::seed_from_u64(1);
        let wins = (0..1000)
            .filter(|_| thompson(&arms, &mut rng)[0].arm == 1)
            .count();
        assert!(
            wins > 990,
            "4 % clearly beats 2 % with 10k impressions: {wins}"
        );
        // With no evidence both arms are played.
        let flat = [Arm {
            posterior: BetaPosterior::prior(0.02, 10.0),
            value_per_conversion: 1.0,
        }; 2];
        let wins = (0..1000)
            .filter(|_| thompson(&flat, &mut rng)[0].arm == 1)
            .count();
        assert!((350..650).contains(&wins), "{wins}");
        assert!(thompson(&[], &mut rng).is_empty());
    }
}
