//! Choosing the frequency model by evidence when the caller names none.
//!
//! No one buy-till-you-die model suits every merchant: BG/NBD keeps every one-off buyer alive
//! for ever, and on daily data its dropout can collapse so that everybody is alive; MBG/NBD
//! and Pareto/NBD let one-off buyers fade, at different speeds. So every candidate is fitted
//! on a calibration period and asked to predict each customer's purchases in the period that
//! follows; the one with the lowest root mean squared error wins (the models predict expected
//! counts, and the mean is what squared error rewards). The caller's holdout period is used
//! when there is one. Without it the last third of the calibration period is held out for
//! the comparison, and the winning kind is then fitted again on the whole calibration period,
//! so the served parameters use all the data. When even that cannot be done (too short a
//! span, no repeat purchases before the inner cut), the candidates are compared by
//! log-likelihood on the calibration period: each has four parameters, so that is also the
//! AIC choice.

use caravan_core::time_zone::MerchantTimeZone;
use caravan_proto::caravan::profiling::v1 as pb;
use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

use super::{
    FitSettings, FrequencyModelKind, FrequencyParameters, HoldoutCustomer, HoldoutMetrics,
    OrderHistory, Split, fit_frequency, holdout_metrics, proto_date,
};
use crate::value_model::{FitOptions, RfmSummary, ValueModelError};

/// How the candidates were compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SelectionCriterion {
    /// Lowest root mean squared error of per-customer holdout purchases.
    HoldoutError,
    /// Highest calibration log-likelihood.
    LogLikelihood,
}

/// One candidate model of a choice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub kind: FrequencyModelKind,
    /// Fitted on the selection's calibration period; `None` when the fit failed.
    pub frequency: Option<FrequencyParameters>,
    pub log_likelihood: Option<f64>,
    /// `None` with [`SelectionCriterion::LogLikelihood`] or when the fit failed.
    pub holdout: Option<HoldoutMetrics>,
    pub chosen: bool,
    /// Why the fit failed.
    pub error: Option<String>,
}

/// What a choice compared and decided, stored with the model and shown to the caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSelection {
    /// In [`FrequencyModelKind::CANDIDATES`] order.
    pub candidates: Vec<Candidate>,
    pub criterion: SelectionCriterion,
    /// The period the candidates were fitted on ends here.
    pub calibration_end: NaiveDate,
    /// The period they were compared on ends here (with [`SelectionCriterion::HoldoutError`]).
    pub holdout_end: Option<NaiveDate>,
    /// The chosen kind was fitted again on the whole calibration period.
    pub refitted: bool,
}

impl ModelSelection {
    pub fn chosen(&self) -> Option<&Candidate> {
        self.candidates.iter().find(|c| c.chosen)
    }

    pub fn to_proto(&self) -> pb::ModelSelection {
        pb::ModelSelection {
            candidates: self.candidates.iter().map(Candidate::to_proto).collect(),
            criterion: match self.criterion {
                SelectionCriterion::HoldoutError => pb::model_selection::Criterion::HoldoutError,
                SelectionCriterion::LogLikelihood => pb::model_selection::Criterion::LogLikelihood,
            } as i32,
            calibration_end_date: Some(proto_date(self.calibration_end)),
            holdout_end_date: self.holdout_end.map(proto_date),
            refitted: self.refitted,
        }
    }
}

impl Candidate {
    fn to_proto(&self) -> pb::ModelCandidate {
        use pb::model_candidate::FrequencyParameters as Oneof;
        let frequency_parameters = self.frequency.map(|f| match f {
            FrequencyParameters::BgNbd { r, alpha, a, b } => {
                Oneof::BgNbd(pb::BgNbdParameters { r, alpha, a, b })
            }
            FrequencyParameters::MbgNbd { r, alpha, a, b } => {
                Oneof::MbgNbd(pb::BgNbdParameters { r, alpha, a, b })
            }
            FrequencyParameters::ParetoNbd { r, alpha, s, beta } => {
                Oneof::ParetoNbd(pb::ParetoNbdParameters { r, alpha, s, beta })
            }
        });
        pb::ModelCandidate {
            frequency_model: self.kind.to_proto() as i32,
            frequency_parameters,
            log_likelihood: self.log_likelihood.unwrap_or(0.0),
            holdout: self.holdout.map(HoldoutMetrics::to_proto),
            chosen: self.chosen,
            error_message: self.error.clone().unwrap_or_default(),
        }
    }
}

/// The outcome of a choice: the served parameters and how they were chosen.
pub(super) struct Chosen {
    pub frequency: FrequencyParameters,
    pub log_likelihood: f64,
    pub selection: ModelSelection,
}

/// Chooses the frequency model for `settings` (which name none); `split` is the fit's own
/// calibration (and holdout) summary of `histories`.
pub(super) fn choose(
    settings: &FitSettings,
    histories: &[OrderHistory],
    split: &Split,
    options: &FitOptions,
) -> Result<Chosen, ValueModelError> {
    let unit = settings.time_unit;
    if let Some(holdout_end) = settings.holdout_end {
        let (mut candidates, first_error) =
            fit_candidates(&split.calibration, Some(&split.holdout), options, unit)?;
        let best = pick(
            &mut candidates,
            SelectionCriterion::HoldoutError,
            first_error,
        )?;
        let chosen = &candidates[best];
        return Ok(Chosen {
            frequency: chosen.frequency.expect("picked candidates are fitted"),
            log_likelihood: chosen.log_likelihood.unwrap_or(f64::NAN),
            selection: ModelSelection {
                candidates,
                criterion: SelectionCriterion::HoldoutError,
                calibration_end: settings.calibration_end,
                holdout_end: Some(holdout_end),
                refitted: false,
            },
        });
    }
    let zone = settings.time_zone;
    if let Some(inner_end) = inner_calibration_end(histories, settings.calibration_end, zone) {
        let inner = Split::of(
            histories,
            inner_end,
            Some(settings.calibration_end),
            unit,
            zone,
        )?;
        let (mut candidates, first_error) =
            fit_candidates(&inner.calibration, Some(&inner.holdout), options, unit)?;
        let picked = pick(
            &mut candidates,
            SelectionCriterion::HoldoutError,
            first_error,
        );
        // The winner refitted on the whole calibration period.
        let refit = picked.and_then(|best| {
            fit_frequency(candidates[best].kind, &split.calibration, options, unit)
        });
        match refit {
            Ok((frequency, log_likelihood)) => {
                return Ok(Chosen {
                    frequency,
                    log_likelihood,
                    selection: ModelSelection {
                        candidates,
                        criterion: SelectionCriterion::HoldoutError,
                        calibration_end: inner_end,
                        holdout_end: Some(settings.calibration_end),
                        refitted: true,
                    },
                });
            }
            Err(e @ ValueModelError::Interrupted(_))
                if options.optimizer.interrupt.check().is_some() =>
            {
                return Err(e);
            }
            // Nothing to compare on before the cut (too little data, every candidate
            // degenerate or out of time there), or the winner does not refit on the whole
            // period: compare on the whole period by log-likelihood instead.
            Err(_) => {}
        }
    }
    let (mut candidates, first_error) = fit_candidates(&split.calibration, None, options, unit)?;
    let best = pick(
        &mut candidates,
        SelectionCriterion::LogLikelihood,
        first_error,
    )?;
    let chosen = &candidates[best];
    Ok(Chosen {
        frequency: chosen.frequency.expect("picked candidates are fitted"),
        log_likelihood: chosen.log_likelihood.unwrap_or(f64::NAN),
        selection: ModelSelection {
            candidates,
            criterion: SelectionCriterion::LogLikelihood,
            calibration_end: settings.calibration_end,
            holdout_end: None,
            refitted: false,
        },
    })
}

/// Where the comparison's calibration ends when the caller gave no holdout period: two
/// thirds of the way from the first order to the calibration end; `None` when that span is
/// under three days.
fn inner_calibration_end(
    histories: &[OrderHistory],
    calibration_end: NaiveDate,
    zone: MerchantTimeZone,
) -> Option<NaiveDate> {
    let first = histories
        .iter()
        .flatten()
        .map(|(at, _)| zone.local_date(*at))
        .filter(|d| *d <= calibration_end)
        .min()?;
    let days = u64::try_from((calibration_end - first).num_days()).ok()?;
    if days < 3 {
        return None;
    }
    first.checked_add_days(Days::new(days * 2 / 3))
}

/// Fits every candidate kind on `calibration` (and measures it on `holdout`). A candidate
/// that cannot be fitted is kept with its error; the first such error is returned beside
/// them. Each candidate may use an equal share of the time left, one share being kept for
/// what follows the choice (the refit, the spend model); what a candidate leaves unused goes
/// to the next. So one slow fit (Pareto/NBD whose likelihood wanders to the edge of its
/// hypergeometric series) cannot take the others' time: a candidate out of its share is
/// reported as such. A stop, or the whole budget running out, ends the choice.
fn fit_candidates(
    calibration: &[RfmSummary],
    holdout: Option<&[HoldoutCustomer]>,
    options: &FitOptions,
    unit: super::ModelTimeUnit,
) -> Result<(Vec<Candidate>, Option<ValueModelError>), ValueModelError> {
    let mut candidates = Vec::new();
    let mut first_error = None;
    let kinds = FrequencyModelKind::CANDIDATES;
    for (k, kind) in kinds.into_iter().enumerate() {
        let share = share_of_time_left(options, kinds.len() - k + 1);
        let candidate = match fit_frequency(kind, calibration, &share, unit) {
            Ok((frequency, log_likelihood)) => Candidate {
                kind,
                frequency: Some(frequency),
                log_likelihood: Some(log_likelihood),
                holdout: holdout.map(|h| holdout_metrics(&frequency, h)),
                chosen: false,
                error: None,
            },
            Err(e @ ValueModelError::Interrupted(_))
                if options.optimizer.interrupt.check().is_some() =>
            {
                return Err(e);
            }
            Err(ValueModelError::Interrupted(_)) => {
                let error = ValueModelError::FitFailed(format!(
                    "{} did not finish within its share of the time budget \
                     (profiling.value_model_fit_budget_ms); name it in frequency_model to give \
                     it the whole budget",
                    kind.label()
                ));
                first_error.get_or_insert(error.clone());
                Candidate {
                    kind,
                    frequency: None,
                    log_likelihood: None,
                    holdout: None,
                    chosen: false,
                    error: Some(error.to_string()),
                }
            }
            Err(e) => {
                let candidate = Candidate {
                    kind,
                    frequency: None,
                    log_likelihood: None,
                    holdout: None,
                    chosen: false,
                    error: Some(e.to_string()),
                };
                first_error.get_or_insert(e);
                candidate
            }
        };
        candidates.push(candidate);
    }
    Ok((candidates, first_error))
}

/// `options` with a deadline of an equal share of the time left among `remaining` parts of
/// the work (unchanged without a deadline).
fn share_of_time_left(options: &FitOptions, remaining: usize) -> FitOptions {
    let mut share = options.clone();
    if let Some(deadline) = options.optimizer.interrupt.deadline {
        let now = std::time::Instant::now();
        let left = deadline.saturating_duration_since(now);
        let divisor = u32::try_from(remaining.max(1)).unwrap_or(u32::MAX);
        share.optimizer.interrupt.deadline = now.checked_add(left / divisor);
    }
    share
}

/// Marks and returns the best fitted candidate by `criterion` (ties: the earlier). When none
/// was fitted: the first error if it was a lack of data (then every kind lacked it), else
/// every candidate's error.
fn pick(
    candidates: &mut [Candidate],
    criterion: SelectionCriterion,
    first_error: Option<ValueModelError>,
) -> Result<usize, ValueModelError> {
    // Lower is better.
    let loss = |c: &Candidate| -> Option<f64> {
        c.frequency?;
        let value = match criterion {
            SelectionCriterion::HoldoutError => c.holdout?.root_mean_squared_error,
            SelectionCriterion::LogLikelihood => -c.log_likelihood?,
        };
        value.is_finite().then_some(value)
    };
    let mut best: Option<(usize, f64)> = None;
    for (i, c) in candidates.iter().enumerate() {
        if let Some(value) = loss(c)
            && best.is_none_or(|(_, b)| value < b)
        {
            best = Some((i, value));
        }
    }
    let Some((index, _)) = best else {
        return Err(match first_error {
            Some(e @ ValueModelError::NotEnoughData(_)) => e,
            _ => ValueModelError::FitFailed(format!(
                "no frequency model could be fitted: {}",
                candidates
                    .iter()
                    .map(|c| format!(
                        "{}: {}",
                        c.kind.label(),
                        c.error.as_deref().unwrap_or("no finite error")
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
        });
    };
    candidates[index].chosen = true;
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(kind: FrequencyModelKind, rmse: Option<f64>, ll: f64) -> Candidate {
        Candidate {
            kind,
            frequency: rmse.map(|_| FrequencyParameters::BgNbd {
                r: 1.0,
                alpha: 1.0,
                a: 1.0,
                b: 1.0,
            }),
            log_likelihood: rmse.map(|_| ll),
            holdout: rmse.map(|e| HoldoutMetrics {
                root_mean_squared_error: e,
                ..HoldoutMetrics::of(&[])
            }),
            chosen: false,
            error: rmse.is_none().then(|| "failed".to_owned()),
        }
    }

    #[test]
    fn the_lowest_holdout_error_wins_and_ties_go_to_the_earlier() {
        use FrequencyModelKind::*;
        let mut c = vec![
            candidate(BgNbd, Some(0.9), -10.0),
            candidate(MbgNbd, Some(0.7), -12.0),
            candidate(ParetoNbd, Some(0.7), -11.0),
        ];
        assert_eq!(pick(&mut c, SelectionCriterion::HoldoutError, None), Ok(1));
        assert!(c[1].chosen && !c[0].chosen && !c[2].chosen);
        let mut c = vec![
            candidate(BgNbd, Some(0.9), -10.0),
            candidate(MbgNbd, Some(0.7), -12.0),
            candidate(ParetoNbd, Some(0.7), -11.0),
        ];
        assert_eq!(pick(&mut c, SelectionCriterion::LogLikelihood, None), Ok(0));
    }

    #[test]
    fn failed_candidates_are_skipped_and_all_failed_says_why() {
        use FrequencyModelKind::*;
        let mut c = vec![
            candidate(BgNbd, None, 0.0),
            candidate(MbgNbd, Some(f64::NAN), -1.0),
            candidate(ParetoNbd, Some(2.0), -11.0),
        ];
        assert_eq!(pick(&mut c, SelectionCriterion::HoldoutError, None), Ok(2));
        let mut none = vec![candidate(BgNbd, None, 0.0), candidate(ParetoNbd, None, 0.0)];
        let lack = ValueModelError::NotEnoughData("no repeat purchase".into());
        assert_eq!(
            pick(
                &mut none,
                SelectionCriterion::HoldoutError,
                Some(lack.clone())
            ),
            Err(lack)
        );
        let err = pick(
            &mut none,
            SelectionCriterion::HoldoutError,
            Some(ValueModelError::FitFailed("degenerate".into())),
        )
        .expect_err("nothing fitted");
        assert!(
            err.to_string()
                .contains("BG/NBD: failed; Pareto/NBD: failed"),
            "{err}"
        );
    }

    #[test]
    fn each_candidate_gets_an_equal_share_of_the_time_left() {
        let mut options = FitOptions::default();
        assert_eq!(
            share_of_time_left(&options, 3),
            options,
            "no deadline, no share"
        );
        let now = std::time::Instant::now();
        options.optimizer.interrupt.deadline = Some(now + std::time::Duration::from_secs(90));
        let share = share_of_time_left(&options, 3)
            .optimizer
            .interrupt
            .deadline
            .expect("a deadline");
        let given = share.saturating_duration_since(now).as_secs_f64();
        assert!((29.0..=30.5).contains(&given), "{given} s of 90 s for 3");
    }

    #[test]
    fn the_inner_cut_is_two_thirds_into_the_calibration_period() {
        let day = |d: u32| {
            NaiveDate::from_ymd_opt(2024, 1, d)
                .and_then(|d| d.and_hms_opt(12, 0, 0))
                .map(|t| t.and_utc())
                .expect("valid date")
        };
        let end = NaiveDate::from_ymd_opt(2024, 1, 31).expect("date");
        let histories = vec![vec![(day(10), 100)], vec![(day(1), 100), (day(20), 5)]];
        assert_eq!(
            inner_calibration_end(&histories, end, MerchantTimeZone::UTC),
            NaiveDate::from_ymd_opt(2024, 1, 21)
        );
        let short = vec![vec![(day(30), 100)]];
        assert_eq!(
            inner_calibration_end(&short, end, MerchantTimeZone::UTC),
            None
        );
        assert_eq!(inner_calibration_end(&[], end, MerchantTimeZone::UTC), None);
    }
}
