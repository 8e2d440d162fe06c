//! A deterministic Nelder–Mead simplex minimiser with restarts.
//!
//! The models are fitted on log-parameters (every parameter is positive), where the
//! likelihood surfaces are smooth and well scaled, so a derivative-free simplex is robust and
//! fast enough (4 parameters, a few thousand evaluations). Each run uses the standard
//! coefficients (reflection 1, expansion 2, contraction ½, shrink ½; Nelder & Mead 1965,
//! Lagarias et al. 1998); the search restarts from the best point with a fresh simplex until
//! a restart no longer improves the objective, which guards against simplex collapse.
//! Non-finite objective values are treated as +∞, so the search backs away from them.

/// When a minimisation must give up before it converges: the process is stopping
/// (`caravan_core::shutdown`) or a deadline passed. Checked once per simplex step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Interrupt {
    /// Give up when the process is asked to stop.
    pub on_shutdown: bool,
    /// Give up at this instant.
    pub deadline: Option<std::time::Instant>,
}

/// Why a minimisation gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupted {
    Shutdown,
    Deadline,
}

impl Interrupt {
    /// Why to give up now, if at all.
    pub fn check(&self) -> Option<Interrupted> {
        if self.on_shutdown && caravan_core::shutdown::requested() {
            return Some(Interrupted::Shutdown);
        }
        match self.deadline {
            Some(at) if std::time::Instant::now() >= at => Some(Interrupted::Deadline),
            _ => None,
        }
    }
}

/// Settings of [`minimize`].
#[derive(Debug, Clone, PartialEq)]
pub struct NelderMeadOptions {
    /// Evaluation budget over all runs.
    pub max_evaluations: usize,
    /// A run stops when the objective spread over the simplex is at most this (absolute).
    pub f_tolerance: f64,
    /// …and every vertex is within this distance (max-norm) of the best one.
    pub x_tolerance: f64,
    /// Edge length of each fresh simplex (in the parameters' own units).
    pub initial_step: f64,
    /// Maximum number of restarts after the first run.
    pub max_restarts: usize,
    /// A run also stops, unconverged, when its best value has not improved by more than
    /// `f_tolerance` in this many evaluations: the simplex is drifting along a plateau (an
    /// optimum at a boundary, such as a dropout rate tending to 0), where the point
    /// tolerance is never met. Far more than a converging run needs to shrink from
    /// `f_tolerance` to `x_tolerance`.
    pub stall_evaluations: usize,
    /// When to give up early.
    pub interrupt: Interrupt,
}

impl Default for NelderMeadOptions {
    fn default() -> Self {
        Self {
            max_evaluations: 40_000,
            f_tolerance: 1e-11,
            x_tolerance: 1e-7,
            initial_step: 0.5,
            max_restarts: 12,
            stall_evaluations: 2_000,
            interrupt: Interrupt::default(),
        }
    }
}

/// The result of [`minimize`].
#[derive(Debug, Clone, PartialEq)]
pub struct Minimum {
    /// The best point found.
    pub x: Vec<f64>,
    /// The objective at `x`.
    pub value: f64,
    /// Objective evaluations used.
    pub evaluations: usize,
    /// Restarts performed.
    pub restarts: usize,
    /// Whether the last run met both tolerances within the budget.
    pub converged: bool,
    /// Set when the search gave up early ([`Interrupt`]); `x` is then the best point so far.
    pub interrupted: Option<Interrupted>,
}

/// Minimises `f` from `x0`. Deterministic: the same inputs give the same result.
pub fn minimize<F>(mut f: F, x0: &[f64], options: &NelderMeadOptions) -> Minimum
where
    F: FnMut(&[f64]) -> f64,
{
    let evaluations = std::cell::Cell::new(0usize);
    let mut eval = |x: &[f64]| -> f64 {
        evaluations.set(evaluations.get() + 1);
        let v = f(x);
        if v.is_nan() { f64::INFINITY } else { v }
    };
    let mut best_x = x0.to_vec();
    let mut best_value = eval(&best_x);
    let mut restarts = 0usize;
    let mut converged;
    // Set only when an interrupt cut a run short: a run that finished and an interrupt
    // noticed between runs leave a complete result.
    let mut interrupted;
    loop {
        let (x, value, run_converged, run_interrupted) =
            run(&mut eval, &best_x, best_value, options, &|| {
                evaluations.get()
            });
        converged = run_converged;
        interrupted = run_interrupted;
        let improvement = best_value - value;
        if value <= best_value {
            best_x = x;
            best_value = value;
        }
        // NaN-safe: an undefined improvement counts as none.
        let improved = improvement > options.f_tolerance;
        if !improved
            || restarts >= options.max_restarts
            || evaluations.get() >= options.max_evaluations
            || options.interrupt.check().is_some()
        {
            break;
        }
        restarts += 1;
    }
    let evaluations = evaluations.get();
    Minimum {
        x: best_x,
        value: best_value,
        evaluations,
        restarts,
        converged,
        interrupted,
    }
}

/// One Nelder–Mead run from `start` (whose value is known). Returns (best x, best value,
/// converged, the interrupt that cut it short).
fn run(
    f: &mut dyn FnMut(&[f64]) -> f64,
    start: &[f64],
    start_value: f64,
    options: &NelderMeadOptions,
    used: &dyn Fn() -> usize,
) -> (Vec<f64>, f64, bool, Option<Interrupted>) {
    let n = start.len();
    if n == 0 {
        return (Vec::new(), start_value, true, None);
    }
    let mut simplex: Vec<(Vec<f64>, f64)> = Vec::with_capacity(n + 1);
    simplex.push((start.to_vec(), start_value));
    for i in 0..n {
        let mut x = start.to_vec();
        x[i] += options.initial_step;
        let v = f(&x);
        simplex.push((x, v));
    }
    let mut converged = false;
    let mut interrupted = None;
    // The best value and the evaluation count when it last improved by more than f_tolerance.
    let (mut record, mut record_at) = (start_value, used());
    loop {
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        let best = simplex[0].1;
        if best < record - options.f_tolerance || !record.is_finite() {
            (record, record_at) = (best, used());
        }
        let worst = simplex[n].1;
        let f_spread = worst - best;
        let x_spread = simplex[1..]
            .iter()
            .flat_map(|(x, _)| x.iter().zip(&simplex[0].0).map(|(a, b)| (a - b).abs()))
            .fold(0.0_f64, f64::max);
        if f_spread.is_finite()
            && f_spread <= options.f_tolerance
            && x_spread <= options.x_tolerance
        {
            converged = true;
            break;
        }
        let stalled = used() - record_at >= options.stall_evaluations;
        if stalled || used() >= options.max_evaluations {
            break;
        }
        if let Some(why) = options.interrupt.check() {
            interrupted = Some(why);
            break;
        }
        // Centroid of all but the worst vertex.
        let mut centroid = vec![0.0; n];
        for (x, _) in &simplex[..n] {
            for (c, xi) in centroid.iter_mut().zip(x) {
                *c += xi / n as f64;
            }
        }
        let along = |t: f64, from: &[f64]| -> Vec<f64> {
            centroid
                .iter()
                .zip(from)
                .map(|(c, w)| c + t * (c - w))
                .collect()
        };
        let worst_x = simplex[n].0.clone();
        let reflected = along(1.0, &worst_x);
        let reflected_value = f(&reflected);
        if reflected_value < best {
            let expanded = along(2.0, &worst_x);
            let expanded_value = f(&expanded);
            simplex[n] = if expanded_value < reflected_value {
                (expanded, expanded_value)
            } else {
                (reflected, reflected_value)
            };
            continue;
        }
        if reflected_value < simplex[n - 1].1 {
            simplex[n] = (reflected, reflected_value);
            continue;
        }
        let (contracted, accept_if_below) = if reflected_value < worst {
            (along(0.5, &worst_x), reflected_value)
        } else {
            (along(-0.5, &worst_x), worst)
        };
        let contracted_value = f(&contracted);
        if contracted_value < accept_if_below
            || (reflected_value < worst && contracted_value <= reflected_value)
        {
            simplex[n] = (contracted, contracted_value);
            continue;
        }
        // Shrink towards the best vertex.
        let best_x = simplex[0].0.clone();
        for vertex in simplex.iter_mut().skip(1) {
            let x: Vec<f64> = best_x
                .iter()
                .zip(&vertex.0)
                .map(|(b, v)| b + 0.5 * (v - b))
                .collect();
            let v = f(&x);
            *vertex = (x, v);
        }
    }
    simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
    let (x, v) = simplex.swap_remove(0);
    (x, v, converged, interrupted)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1e-12 / (1 + |x₀|) + (x₁ − 1)²: the infimum is at |x₀| → ∞, each step out gains less
    /// than the value tolerance and the point tolerance is never met. Without the stall rule
    /// the run spends the whole evaluation budget (40,000); with it, it stops soon after
    /// the last real progress.
    #[test]
    fn stops_on_a_plateau_towards_a_boundary() {
        let plateau = |x: &[f64]| 1e-12 / (1.0 + x[0].abs()) + (x[1] - 1.0).powi(2);
        let m = minimize(plateau, &[0.0, 0.0], &NelderMeadOptions::default());
        assert!(m.value < 1e-12, "{m:?}");
        assert!((m.x[1] - 1.0).abs() < 1e-6, "{m:?}");
        assert!(m.evaluations < 5_000, "{m:?}");
    }

    #[test]
    fn minimises_a_quadratic() {
        let m = minimize(
            |x| (x[0] - 1.0).powi(2) + 10.0 * (x[1] + 2.0).powi(2) + 3.0,
            &[0.0, 0.0],
            &NelderMeadOptions::default(),
        );
        assert!(m.converged);
        assert!((m.x[0] - 1.0).abs() < 1e-6, "{:?}", m.x);
        assert!((m.x[1] + 2.0).abs() < 1e-6, "{:?}", m.x);
        assert!((m.value - 3.0).abs() < 1e-11);
    }

    #[test]
    fn minimises_rosenbrock_in_four_dimensions() {
        let rosen = |x: &[f64]| {
            x.windows(2)
                .map(|w| 100.0 * (w[1] - w[0] * w[0]).powi(2) + (1.0 - w[0]).powi(2))
                .sum::<f64>()
        };
        let m = minimize(
            rosen,
            &[-1.2, 1.0, -0.5, 0.8],
            &NelderMeadOptions::default(),
        );
        for xi in &m.x {
            assert!((xi - 1.0).abs() < 1e-4, "{:?}", m.x);
        }
    }

    #[test]
    fn is_deterministic_and_avoids_nan_regions() {
        let f = |x: &[f64]| {
            if x[0] < -1.0 {
                f64::NAN
            } else {
                (x[0] - 0.5).powi(2)
            }
        };
        let a = minimize(f, &[3.0], &NelderMeadOptions::default());
        let b = minimize(f, &[3.0], &NelderMeadOptions::default());
        assert_eq!(a, b);
        assert!((a.x[0] - 0.5).abs() < 1e-6);
    }

    #[test]
    fn respects_the_evaluation_budget() {
        let options = NelderMeadOptions {
            max_evaluations: 30,
            ..NelderMeadOptions::default()
        };
        let m = minimize(
            |x| x.iter().map(|v| v * v).sum(),
            &[5.0, 5.0, 5.0],
            &options,
        );
        assert!(m.evaluations <= 30 + 8, "{}", m.evaluations);
        assert!(!m.converged);
    }
}
