//! From a customer's dated transactions to the sufficient statistics of the buy-till-you-die
//! models: frequency x (repeat purchase periods), recency t_x (first → last purchase), age T
//! (first purchase → end of observation) and the mean value of the repeat purchases.
//!
//! Conventions follow Fader, Hardie & Lee (2005) and lifetimes' `summary_data_from_transaction_data`:
//! purchases on the same calendar day are one transaction (their amounts add up); the first
//! purchase starts the customer's clock and is not counted in x; the monetary value is the
//! mean over the repeat days (0 when x = 0), so the Gamma-Gamma model sees only repeat spend.
//! Times are measured in a chosen [`TimeUnit`] (weeks for CDNOW: t_x = 30.43 means 213 days).

use chrono::NaiveDate;

use super::ValueModelError;

/// One purchase of one customer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transaction {
    /// The purchase's calendar day.
    pub date: NaiveDate,
    /// The purchase's value (revenue or margin, in the merchant's currency).
    pub amount: f64,
}

/// The unit of t_x and T.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TimeUnit {
    Days,
    Weeks,
    /// A custom unit of this many days (e.g. 30.4375 for average months).
    DaysPer(f64),
}

impl TimeUnit {
    /// Days in one unit.
    pub fn days(self) -> f64 {
        match self {
            TimeUnit::Days => 1.0,
            TimeUnit::Weeks => 7.0,
            TimeUnit::DaysPer(d) => d,
        }
    }
}

/// One customer's (x, t_x, T, m̄), the input of the models.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RfmSummary {
    /// x: the number of repeat purchases (distinct purchase days after the first).
    pub frequency: u32,
    /// t_x: time from the first to the last purchase (0 when x = 0).
    pub recency: f64,
    /// T: time from the first purchase to the end of observation.
    pub age: f64,
    /// Mean value of the repeat purchases (0 when x = 0).
    pub monetary_value: f64,
}

impl RfmSummary {
    /// A summary without monetary value.
    pub fn new(frequency: u32, recency: f64, age: f64) -> Self {
        Self {
            frequency,
            recency,
            age,
            monetary_value: 0.0,
        }
    }

    /// Checks 0 ≤ t_x ≤ T, finiteness, t_x = 0 when x = 0 (up to rounding) and m̄ ≥ 0.
    pub fn validate(&self) -> Result<(), ValueModelError> {
        let ok = self.recency.is_finite()
            && self.age.is_finite()
            && self.monetary_value.is_finite()
            && self.recency >= 0.0
            && self.recency <= self.age
            && self.monetary_value >= 0.0
            && (self.frequency > 0 || self.recency <= 1e-9);
        if ok {
            Ok(())
        } else {
            Err(ValueModelError::InvalidInput(format!(
                "need finite 0 <= recency <= age, recency 0 when frequency 0 and monetary >= 0; got {self:?}"
            )))
        }
    }
}

/// A calibration-period summary plus what happened in the holdout period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalibrationHoldout {
    /// (x, t_x, T, m̄) from the transactions on or before the calibration end.
    pub calibration: RfmSummary,
    /// Purchase days in (calibration end, holdout end].
    pub holdout_frequency: u32,
    /// Mean value per holdout purchase day (0 when there is none).
    pub holdout_monetary_value: f64,
    /// Length of the holdout period in the chosen unit.
    pub holdout_duration: f64,
}

/// Daily totals of the transactions on or before `until`, sorted by day.
fn daily_totals(transactions: &[Transaction], until: NaiveDate) -> Vec<(NaiveDate, f64)> {
    let mut days: Vec<(NaiveDate, f64)> = transactions
        .iter()
        .filter(|t| t.date <= until)
        .map(|t| (t.date, t.amount))
        .collect();
    days.sort_by_key(|d| d.0);
    let mut merged: Vec<(NaiveDate, f64)> = Vec::with_capacity(days.len());
    for (date, amount) in days {
        match merged.last_mut() {
            Some(last) if last.0 == date => last.1 += amount,
            _ => merged.push((date, amount)),
        }
    }
    merged
}

fn span(from: NaiveDate, to: NaiveDate, unit: TimeUnit) -> f64 {
    (to - from).num_days() as f64 / unit.days()
}

/// Summarises one customer's transactions observed until `observation_end` (inclusive).
///
/// `None` when the customer has no transaction on or before `observation_end`.
pub fn summarize(
    transactions: &[Transaction],
    observation_end: NaiveDate,
    unit: TimeUnit,
) -> Option<RfmSummary> {
    let days = daily_totals(transactions, observation_end);
    let (first, _) = *days.first()?;
    let (last, _) = *days.last()?;
    let frequency = (days.len() - 1) as u32;
    let monetary_value = if frequency == 0 {
        0.0
    } else {
        days[1..].iter().map(|d| d.1).sum::<f64>() / f64::from(frequency)
    };
    Some(RfmSummary {
        frequency,
        recency: span(first, last, unit),
        age: span(first, observation_end, unit),
        monetary_value,
    })
}

/// Splits one customer's history at `calibration_end`: the calibration summary plus the
/// holdout purchase days in (calibration_end, holdout_end].
///
/// `Ok(None)` when the customer's first purchase is after `calibration_end` (such customers
/// are not part of the calibration cohort); an error when `holdout_end < calibration_end`.
pub fn summarize_calibration_holdout(
    transactions: &[Transaction],
    calibration_end: NaiveDate,
    holdout_end: NaiveDate,
    unit: TimeUnit,
) -> Result<Option<CalibrationHoldout>, ValueModelError> {
    if holdout_end < calibration_end {
        return Err(ValueModelError::InvalidInput(format!(
            "holdout end {holdout_end} is before calibration end {calibration_end}"
        )));
    }
    let Some(calibration) = summarize(transactions, calibration_end, unit) else {
        return Ok(None);
    };
    let holdout: Vec<(NaiveDate, f64)> = daily_totals(transactions, holdout_end)
        .into_iter()
        .filter(|d| d.0 > calibration_end)
        .collect();
    let holdout_frequency = holdout.len() as u32;
    let holdout_monetary_value = if holdout.is_empty() {
        0.0
    } else {
        holdout.iter().map(|d| d.1).sum::<f64>() / holdout.len() as f64
    };
    Ok(Some(CalibrationHoldout {
        calibration,
        holdout_frequency,
        holdout_monetary_value,
        holdout_duration: span(calibration_end, holdout_end, unit),
    }))
}

/// Customers with identical (x, t_x, T) merged into one row with a weight (their count),
/// sorted by (x, t_x, T). The count-data likelihoods depend on nothing else, so fitting on
/// the aggregated rows is exact and much faster.
pub fn aggregate(customers: &[RfmSummary]) -> Vec<(RfmSummary, f64)> {
    let mut keyed: Vec<((u32, u64, u64), RfmSummary)> = customers
        .iter()
        .map(|c| {
            (
                (c.frequency, c.recency.to_bits(), c.age.to_bits()),
                RfmSummary::new(c.frequency, c.recency, c.age),
            )
        })
        .collect();
    // Non-negative f64s order like their bit patterns.
    keyed.sort_by_key(|k| k.0);
    let mut out: Vec<(RfmSummary, f64)> = Vec::new();
    let mut last_key = None;
    for (key, summary) in keyed {
        if last_key == Some(key) {
            if let Some(last) = out.last_mut() {
                last.1 += 1.0;
            }
        } else {
            out.push((summary, 1.0));
            last_key = Some(key);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid date")
    }

    fn tx(date: NaiveDate, amount: f64) -> Transaction {
        Transaction { date, amount }
    }

    /// CDNOW customer 1: purchases 1997-01-01, 01-18, 08-02 (and 12-12 in the holdout);
    /// summary in lifetimes' CSV: x = 2, t_x = 30.43, T = 38.86, m̄ = 22.35.
    fn cdnow_customer_1() -> Vec<Transaction> {
        vec![
            tx(d(1997, 1, 1), 29.33),
            tx(d(1997, 1, 18), 29.73),
            tx(d(1997, 8, 2), 14.96),
            tx(d(1997, 12, 12), 26.48),
        ]
    }

    #[test]
    fn summarises_cdnow_customer_1_in_weeks() {
        let s =
            summarize(&cdnow_customer_1(), d(1997, 9, 30), TimeUnit::Weeks).expect("has purchases");
        assert_eq!(s.frequency, 2);
        assert!((s.recency - 213.0 / 7.0).abs() < 1e-12);
        assert!((s.recency - 30.43).abs() < 0.005);
        assert!((s.age - 38.86).abs() < 0.005);
        assert!((s.monetary_value - (29.73 + 14.96) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn same_day_purchases_are_one_transaction() {
        let t = vec![
            tx(d(2024, 1, 1), 10.0),
            tx(d(2024, 1, 1), 5.0),
            tx(d(2024, 1, 11), 7.0),
            tx(d(2024, 1, 11), 3.0),
        ];
        let s = summarize(&t, d(2024, 1, 31), TimeUnit::Days).expect("has purchases");
        assert_eq!(s.frequency, 1);
        assert_eq!(s.recency, 10.0);
        assert_eq!(s.age, 30.0);
        assert_eq!(s.monetary_value, 10.0);
    }

    #[test]
    fn single_purchase_and_no_purchase() {
        let t = vec![tx(d(2024, 3, 1), 10.0)];
        let s = summarize(&t, d(2024, 3, 15), TimeUnit::Weeks).expect("has purchases");
        assert_eq!(s, RfmSummary::new(0, 0.0, 2.0));
        assert!(summarize(&t, d(2024, 2, 1), TimeUnit::Days).is_none());
        assert!(summarize(&[], d(2024, 2, 1), TimeUnit::Days).is_none());
    }

    #[test]
    fn calibration_holdout_split() {
        let split = summarize_calibration_holdout(
            &cdnow_customer_1(),
            d(1997, 9, 30),
            d(1998, 6, 30),
            TimeUnit::Weeks,
        )
        .expect("valid ends")
        .expect("in cohort");
        assert_eq!(split.calibration.frequency, 2);
        assert_eq!(split.holdout_frequency, 1);
        assert_eq!(split.holdout_monetary_value, 26.48);
        assert!((split.holdout_duration - 273.0 / 7.0).abs() < 1e-12);
        // First purchase after the calibration end: not in the cohort.
        let late = vec![tx(d(1997, 10, 5), 1.0)];
        assert_eq!(
            summarize_calibration_holdout(&late, d(1997, 9, 30), d(1998, 6, 30), TimeUnit::Days)
                .expect("valid ends"),
            None
        );
        assert!(
            summarize_calibration_holdout(&late, d(1997, 9, 30), d(1997, 9, 1), TimeUnit::Days)
                .is_err()
        );
    }

    #[test]
    fn validation() {
        assert!(RfmSummary::new(2, 30.43, 38.86).validate().is_ok());
        assert!(RfmSummary::new(0, 0.0, 38.86).validate().is_ok());
        assert!(RfmSummary::new(2, 40.0, 38.86).validate().is_err());
        assert!(RfmSummary::new(0, 1.0, 38.86).validate().is_err());
        assert!(RfmSummary::new(1, f64::NAN, 38.86).validate().is_err());
    }

    #[test]
    fn aggregation_counts_duplicates() {
        let rows = aggregate(&[
            RfmSummary::new(0, 0.0, 38.86),
            RfmSummary::new(2, 30.43, 38.86),
            RfmSummary::new(0, 0.0, 38.86),
            RfmSummary::new(0, 0.0, 30.0),
        ]);
        assert_eq!(
            rows,
            vec![
                (RfmSummary::new(0, 0.0, 30.0), 1.0),
                (RfmSummary::new(0, 0.0, 38.86), 2.0),
                (RfmSummary::new(2, 30.43, 38.86), 1.0),
            ]
        );
    }
}
