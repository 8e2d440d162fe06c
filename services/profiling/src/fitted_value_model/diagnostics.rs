//! The checks Fader, Hardie & Lee (2005) run on a fitted purchase model, for an analyst to
//! run them through the API: the standard error of each parameter, and with a holdout
//! period the cumulative repeat purchases of the calibration cohort week by week, actual
//! against expected (their figure 2), and the mean holdout purchases of the customers
//! grouped by calibration frequency, actual against the model's conditional expectation
//! (their figure 4).

use std::collections::BTreeMap;

use caravan_core::time_zone::MerchantTimeZone;
use caravan_proto::caravan::profiling::v1 as pb;
use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

use super::{FrequencyParameters, HoldoutCustomer, ModelTimeUnit, OrderHistory, proto_date};
use crate::value_model::optimizer::Interrupt;
use crate::value_model::{BgNbdParams, MbgNbdParams, ParetoNbdParams, RfmSummary};

/// Calibration frequencies get a group each up to this one; larger ones share its group.
pub const FREQUENCY_GROUPS: u32 = 7;
/// At most this many points in the tracking series: weeks, or longer steps over long spans.
const MAX_TRACKING_POINTS: u64 = 260;

/// One parameter with its asymptotic standard error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParameterEstimate {
    pub name: String,
    pub value: f64,
    /// √ of the diagonal of the inverse observed information; `None` when the information
    /// matrix is not positive definite (an estimate on a boundary of the parameter space).
    pub standard_error: Option<f64>,
}

/// Cumulative repeat purchases of the calibration cohort up to the end of a day.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrackingPoint {
    pub date: NaiveDate,
    pub actual: u64,
    pub expected: f64,
}

/// Customers with one calibration frequency (or, for the last group, that one or more).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FrequencyGroup {
    pub frequency: u32,
    pub and_more: bool,
    pub customer_count: u64,
    pub actual_mean: f64,
    pub expected_mean: f64,
}

/// Everything [`diagnose`] finds.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Diagnostics {
    pub parameters: Vec<ParameterEstimate>,
    /// Empty without a holdout period.
    pub tracking: Vec<TrackingPoint>,
    /// Empty without a holdout period.
    pub by_frequency: Vec<FrequencyGroup>,
}

impl Diagnostics {
    pub fn to_proto(&self) -> pb::FitDiagnostics {
        pb::FitDiagnostics {
            parameters: self
                .parameters
                .iter()
                .map(|p| pb::ParameterEstimate {
                    name: p.name.clone(),
                    value: p.value,
                    standard_error: p.standard_error.unwrap_or(0.0),
                })
                .collect(),
            tracking: self
                .tracking
                .iter()
                .map(|t| pb::TrackingPoint {
                    date: Some(proto_date(t.date)),
                    actual_repeat_purchases: i64::try_from(t.actual).unwrap_or(i64::MAX),
                    expected_repeat_purchases: t.expected,
                })
                .collect(),
            conditional_expectations: self
                .by_frequency
                .iter()
                .map(|g| pb::FrequencyGroup {
                    calibration_frequency: i32::try_from(g.frequency).unwrap_or(i32::MAX),
                    and_more: g.and_more,
                    customer_count: i64::try_from(g.customer_count).unwrap_or(i64::MAX),
                    actual_mean_purchases: g.actual_mean,
                    expected_mean_purchases: g.expected_mean,
                })
                .collect(),
        }
    }
}

/// Diagnoses `frequency`, fitted on `calibration`. With `holdout` (each calibration
/// customer's summary, holdout purchases and holdout length) and its end date, also the
/// tracking series over `histories` and the conditional expectations by frequency. The
/// standard errors take 33 likelihood evaluations: they are left out (`None`) when
/// `interrupt` fires first, so the diagnostics never hold a fit past its budget.
#[allow(clippy::too_many_arguments)]
pub fn diagnose(
    frequency: &FrequencyParameters,
    calibration: &[RfmSummary],
    holdout: Option<(&[HoldoutCustomer], NaiveDate)>,
    histories: &[OrderHistory],
    calibration_end: NaiveDate,
    unit: ModelTimeUnit,
    zone: MerchantTimeZone,
    interrupt: &Interrupt,
) -> Diagnostics {
    let mut diagnostics = Diagnostics {
        parameters: parameter_estimates_until(frequency, calibration, interrupt),
        ..Diagnostics::default()
    };
    if let Some((holdout, holdout_end)) = holdout {
        diagnostics.tracking = tracking(
            frequency,
            histories,
            calibration_end,
            holdout_end,
            unit,
            zone,
        );
        diagnostics.by_frequency = by_frequency(frequency, holdout);
    }
    diagnostics
}

fn names(frequency: &FrequencyParameters) -> [&'static str; 4] {
    match frequency {
        FrequencyParameters::BgNbd { .. } | FrequencyParameters::MbgNbd { .. } => {
            ["r", "alpha", "a", "b"]
        }
        FrequencyParameters::ParetoNbd { .. } => ["r", "alpha", "s", "beta"],
    }
}

/// The same kind with other parameter values.
fn with_values(frequency: &FrequencyParameters, v: [f64; 4]) -> FrequencyParameters {
    let [r, alpha, p, q] = v;
    match frequency {
        FrequencyParameters::BgNbd { .. } => FrequencyParameters::BgNbd {
            r,
            alpha,
            a: p,
            b: q,
        },
        FrequencyParameters::MbgNbd { .. } => FrequencyParameters::MbgNbd {
            r,
            alpha,
            a: p,
            b: q,
        },
        FrequencyParameters::ParetoNbd { .. } => FrequencyParameters::ParetoNbd {
            r,
            alpha,
            s: p,
            beta: q,
        },
    }
}

fn log_likelihood(frequency: &FrequencyParameters, customers: &[RfmSummary]) -> f64 {
    match *frequency {
        FrequencyParameters::BgNbd { r, alpha, a, b } => {
            BgNbdParams { r, alpha, a, b }.log_likelihood(customers)
        }
        FrequencyParameters::MbgNbd { r, alpha, a, b } => {
            MbgNbdParams { r, alpha, a, b }.log_likelihood(customers)
        }
        FrequencyParameters::ParetoNbd { r, alpha, s, beta } => {
            ParetoNbdParams { r, alpha, s, beta }.log_likelihood(customers)
        }
    }
}

/// Standard errors from the observed information: the Hessian of the total log-likelihood
/// in the parameters, by central differences with steps of 10⁻⁴ of each value. None when
/// the information matrix is not positive definite (an estimate on a boundary).
pub fn parameter_estimates(
    frequency: &FrequencyParameters,
    calibration: &[RfmSummary],
) -> Vec<ParameterEstimate> {
    parameter_estimates_until(frequency, calibration, &Interrupt::default())
}

/// [`parameter_estimates`], without standard errors when `interrupt` fires before the
/// Hessian is complete.
pub fn parameter_estimates_until(
    frequency: &FrequencyParameters,
    calibration: &[RfmSummary],
    interrupt: &Interrupt,
) -> Vec<ParameterEstimate> {
    let theta = frequency.values();
    // NaN once interrupted: the Hessian, and so every standard error, is then unknown.
    let ll = |v: [f64; 4]| {
        if interrupt.check().is_some() {
            return f64::NAN;
        }
        log_likelihood(&with_values(frequency, v), calibration)
    };
    let h: Vec<f64> = theta.iter().map(|t| 1e-4 * t.abs().max(1e-12)).collect();
    let mut hessian = [[0.0_f64; 4]; 4];
    let f0 = ll(theta);
    for i in 0..4 {
        for j in i..4 {
            let at = |di: f64, dj: f64| {
                let mut v = theta;
                v[i] += di * h[i];
                v[j] += dj * h[j];
                ll(v)
            };
            hessian[i][j] = if i == j {
                (at(1.0, 0.0) - 2.0 * f0 + at(-1.0, 0.0)) / (h[i] * h[i])
            } else {
                (at(1.0, 1.0) - at(1.0, -1.0) - at(-1.0, 1.0) + at(-1.0, -1.0))
                    / (4.0 * h[i] * h[j])
            };
            hessian[j][i] = hessian[i][j];
        }
    }
    let information = hessian.map(|row| row.map(|v| -v));
    let covariance = is_positive_definite(&information)
        .then(|| invert(information))
        .flatten();
    names(frequency)
        .iter()
        .enumerate()
        .map(|(i, name)| ParameterEstimate {
            name: (*name).to_owned(),
            value: theta[i],
            standard_error: covariance
                .map(|c| c[i][i])
                .filter(|v| v.is_finite() && *v > 0.0)
                .map(f64::sqrt),
        })
        .collect()
}

/// Whether a symmetric 4×4 matrix is positive definite: its Cholesky factorisation exists.
fn is_positive_definite(m: &[[f64; 4]; 4]) -> bool {
    let mut l = [[0.0_f64; 4]; 4];
    for i in 0..4 {
        for j in 0..=i {
            let sum: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            if i == j {
                let d = m[i][i] - sum;
                if !(d.is_finite() && d > 0.0) {
                    return false;
                }
                l[i][i] = d.sqrt();
            } else {
                l[i][j] = (m[i][j] - sum) / l[j][j];
            }
        }
    }
    true
}

/// The inverse of a 4×4 matrix by Gauss–Jordan elimination with partial pivoting; `None`
/// when it is singular to working precision or not finite.
fn invert(m: [[f64; 4]; 4]) -> Option<[[f64; 4]; 4]> {
    let mut a = m;
    let mut inv = [[0.0_f64; 4]; 4];
    for (i, row) in inv.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    let scale = m.iter().flatten().fold(0.0_f64, |s, v| s.max(v.abs()));
    if !(scale.is_finite() && scale > 0.0) {
        return None;
    }
    for col in 0..4 {
        let pivot = (col..4).max_by(|&x, &y| a[x][col].abs().total_cmp(&a[y][col].abs()))?;
        if a[pivot][col].abs() <= scale * 1e-14 {
            return None;
        }
        a.swap(col, pivot);
        inv.swap(col, pivot);
        let p = a[col][col];
        for k in 0..4 {
            a[col][k] /= p;
            inv[col][k] /= p;
        }
        for row in 0..4 {
            if row != col {
                let factor = a[row][col];
                for k in 0..4 {
                    a[row][k] -= factor * a[col][k];
                    inv[row][k] -= factor * inv[col][k];
                }
            }
        }
    }
    inv.iter().flatten().all(|v| v.is_finite()).then_some(inv)
}

/// Cumulative repeat purchases of the customers whose first purchase is on or before the
/// calibration end, at the end of every week (longer steps over long spans) from the first
/// purchase to the holdout end: actual purchase days, and Σ E[X(t − tᵢ)] over the customers'
/// first purchase days tᵢ.
fn tracking(
    frequency: &FrequencyParameters,
    histories: &[OrderHistory],
    calibration_end: NaiveDate,
    holdout_end: NaiveDate,
    unit: ModelTimeUnit,
    zone: MerchantTimeZone,
) -> Vec<TrackingPoint> {
    // First purchase day → customers acquired that day; repeat purchase days, counted.
    let mut cohorts: BTreeMap<NaiveDate, u64> = BTreeMap::new();
    let mut repeats: BTreeMap<NaiveDate, u64> = BTreeMap::new();
    for orders in histories {
        let mut days: Vec<NaiveDate> = orders
            .iter()
            .map(|(at, _)| zone.local_date(*at))
            .filter(|d| *d <= holdout_end)
            .collect();
        days.sort_unstable();
        days.dedup();
        let Some(&first) = days.first() else { continue };
        if first > calibration_end {
            continue;
        }
        *cohorts.entry(first).or_default() += 1;
        for day in &days[1..] {
            *repeats.entry(*day).or_default() += 1;
        }
    }
    let Some(&start) = cohorts.keys().next() else {
        return Vec::new();
    };
    let span = u64::try_from((holdout_end - start).num_days()).unwrap_or(0);
    let step = (span.div_ceil(MAX_TRACKING_POINTS)).max(7);
    let mut points = Vec::new();
    let mut offset = step;
    loop {
        let date = start
            .checked_add_days(Days::new(offset.min(span)))
            .unwrap_or(holdout_end);
        let actual: u64 = repeats.range(..=date).map(|(_, n)| n).sum();
        let expected: f64 = frequency.with_model(|m| {
            cohorts
                .range(..=date)
                .map(|(first, n)| {
                    let t = (date - *first).num_days() as f64 / unit.days();
                    *n as f64 * m.expected_purchases(t)
                })
                .sum()
        });
        points.push(TrackingPoint {
            date,
            actual,
            expected,
        });
        if offset >= span {
            break;
        }
        offset += step;
    }
    points
}

/// Mean holdout purchases by calibration frequency: actual, and the mean conditional
/// expectation E[Y(t) | x, t_x, T] over the holdout length.
fn by_frequency(
    frequency: &FrequencyParameters,
    holdout: &[HoldoutCustomer],
) -> Vec<FrequencyGroup> {
    let mut groups: BTreeMap<u32, (u64, f64, f64)> = BTreeMap::new();
    for (c, actual, duration) in holdout {
        let group = c.frequency.min(FREQUENCY_GROUPS);
        let expected = frequency.with_model(|m| m.conditional_expected_purchases(*duration, c));
        let entry = groups.entry(group).or_default();
        entry.0 += 1;
        entry.1 += f64::from(*actual);
        entry.2 += expected;
    }
    groups
        .into_iter()
        .map(|(frequency, (n, actual, expected))| FrequencyGroup {
            frequency,
            and_more: frequency == FREQUENCY_GROUPS,
            customer_count: n,
            actual_mean: actual / n as f64,
            expected_mean: expected / n as f64,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAPER: FrequencyParameters = FrequencyParameters::BgNbd {
        r: 0.243,
        alpha: 4.414,
        a: 0.793,
        b: 2.426,
    };

    fn at(day: u64) -> chrono::DateTime<chrono::Utc> {
        NaiveDate::from_ymd_opt(2024, 1, 1)
            .and_then(|d| d.checked_add_days(Days::new(day)))
            .and_then(|d| d.and_hms_opt(12, 0, 0))
            .map(|t| t.and_utc())
            .expect("a date")
    }

    /// Weekly points from the first purchase; a customer counts from their first purchase
    /// on, their first purchase not being a repeat; customers acquired after the calibration
    /// end are not in the cohort.
    #[test]
    fn tracking_counts_the_cohorts_repeat_purchases_week_by_week() {
        let histories = vec![
            vec![(at(0), 1), (at(3), 1), (at(3), 1), (at(10), 1)],
            vec![(at(8), 1), (at(20), 1)],
            vec![(at(12), 1), (at(13), 1)],
        ];
        let day = |d: u64| NaiveDate::from_ymd_opt(2024, 1, 1).expect("date") + Days::new(d);
        let points = tracking(
            &PAPER,
            &histories,
            day(9),
            day(21),
            ModelTimeUnit::Week,
            MerchantTimeZone::UTC,
        );
        let actual: Vec<(NaiveDate, u64)> = points.iter().map(|p| (p.date, p.actual)).collect();
        assert_eq!(actual, [(day(7), 1), (day(14), 2), (day(21), 3)]);
        let FrequencyParameters::BgNbd { r, alpha, a, b } = PAPER else {
            unreachable!()
        };
        let bg = BgNbdParams { r, alpha, a, b };
        let expected = [
            bg.expected_purchases_at(1.0),
            bg.expected_purchases_at(2.0) + bg.expected_purchases_at(6.0 / 7.0),
            bg.expected_purchases_at(3.0) + bg.expected_purchases_at(13.0 / 7.0),
        ];
        for (p, e) in points.iter().zip(expected) {
            assert!((p.expected - e).abs() < 1e-12, "{p:?} vs {e}");
        }
    }

    #[test]
    fn conditional_expectations_group_by_calibration_frequency() {
        let customer = |x: u32| RfmSummary::new(x, if x == 0 { 0.0 } else { 20.0 }, 30.0);
        let holdout = vec![
            (customer(0), 0, 10.0),
            (customer(0), 2, 10.0),
            (customer(2), 1, 10.0),
            (customer(9), 5, 10.0),
            (customer(12), 7, 10.0),
        ];
        let groups = by_frequency(&PAPER, &holdout);
        let summary: Vec<(u32, bool, u64, f64)> = groups
            .iter()
            .map(|g| (g.frequency, g.and_more, g.customer_count, g.actual_mean))
            .collect();
        assert_eq!(
            summary,
            [(0, false, 2, 1.0), (2, false, 1, 1.0), (7, true, 2, 6.0)]
        );
        let e = |x| PAPER.with_model(|m| m.conditional_expected_purchases(10.0, &customer(x)));
        assert!((groups[2].expected_mean - (e(9) + e(12)) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn inverts_a_matrix_and_refuses_a_singular_one() {
        let m = [
            [4.0, 1.0, 0.0, 0.5],
            [1.0, 3.0, 0.2, 0.0],
            [0.0, 0.2, 2.0, 0.1],
            [0.5, 0.0, 0.1, 1.0],
        ];
        let inv = invert(m).expect("invertible");
        for (i, row) in m.iter().enumerate() {
            for j in 0..4 {
                let product: f64 = row.iter().zip(&inv).map(|(v, r)| v * r[j]).sum();
                let identity = if i == j { 1.0 } else { 0.0 };
                assert!((product - identity).abs() < 1e-12, "({i},{j}) {product}");
            }
        }
        let mut singular = m;
        singular[3] = singular[2];
        assert!(invert(singular).is_none());
        assert!(is_positive_definite(&m));
        // Invertible, and its inverse has a positive diagonal, but indefinite: no standard
        // errors from it.
        let indefinite = [
            [1.0, 2.0, 0.0, 0.0],
            [2.0, 1.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
            [0.0, 0.0, 0.0, 1.0],
        ];
        assert!(invert(indefinite).is_some_and(|i| i[2][2] > 0.0));
        assert!(!is_positive_definite(&indefinite));
        assert!(invert([[f64::NAN; 4]; 4]).is_none());
    }
}
