//! Value models as the service uses them: fit settings, the fit on a merchant's order
//! histories (calibration/holdout split, BG/NBD, MBG/NBD or Pareto/NBD, named or chosen by
//! holdout error in [`model_choice`], Gamma-Gamma on repeat customers, the checks of
//! [`diagnostics`]), the stored shape of a model and per-customer predictions. Pure code:
//! no SQL, no tonic; the math lives in [`crate::value_model`].
//!
//! Conventions (as lifetimes' `summary_data_from_transaction_data` with `freq='D'`, and
//! Fader, Hardie & Lee 2005): a customer's orders on the same calendar day of the
//! merchant's time zone are one purchase (their amounts add up); the first purchase starts
//! the customer's clock and is not a repeat; times are whole days expressed in the model's time unit (a week = 7 days,
//! a month = 30.4375 days). Amounts are minor units of the merchant's base currency.

use caravan_core::time_zone::MerchantTimeZone;
use caravan_platform::proto_time::to_timestamp;
use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::profiling::v1 as pb;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::value_model::{
    BgNbdParams, ClvOptions, FitOptions, GammaGammaParams, MbgNbdParams, ParetoNbdParams,
    PurchaseModel, RfmSummary, TimeUnit, Transaction, ValueModelError, discounted_value,
    fit_bg_nbd, fit_gamma_gamma, fit_mbg_nbd, fit_pareto_nbd, summarize,
    summarize_calibration_holdout,
};

pub mod diagnostics;
mod model_choice;
use crate::value_model::{NelderMeadOptions, optimizer::Interrupt};
pub use diagnostics::Diagnostics;
pub use model_choice::{Candidate, ModelSelection, SelectionCriterion};

/// Horizon of expected purchases and spend when the caller gives none (PredictCustomerValue
/// and the predictions written into profiles).
pub const DEFAULT_HORIZON_DAYS: i32 = 365;
/// Average month length, the CLV discount period.
pub const DAYS_PER_MONTH: f64 = 30.4375;

/// The purchase-count model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FrequencyModelKind {
    BgNbd,
    ParetoNbd,
    MbgNbd,
}

/// `value_models.kind` of a model whose frequency model is still being chosen.
const CHOOSING: &str = "CHOOSING";

impl FrequencyModelKind {
    /// The candidates of a model choice, in the order ties are broken.
    pub const CANDIDATES: [Self; 3] = [Self::BgNbd, Self::MbgNbd, Self::ParetoNbd];

    /// The code stored in `value_models.kind`.
    pub fn code(self) -> &'static str {
        match self {
            FrequencyModelKind::BgNbd => "BG_NBD",
            FrequencyModelKind::ParetoNbd => "PARETO_NBD",
            FrequencyModelKind::MbgNbd => "MBG_NBD",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "BG_NBD" => Some(FrequencyModelKind::BgNbd),
            "PARETO_NBD" => Some(FrequencyModelKind::ParetoNbd),
            "MBG_NBD" => Some(FrequencyModelKind::MbgNbd),
            _ => None,
        }
    }

    /// The `value_models.kind` code of a named kind, or of one still to be chosen.
    pub fn column_code(kind: Option<Self>) -> &'static str {
        kind.map_or(CHOOSING, Self::code)
    }

    /// Decodes [`Self::column_code`]: `Some(None)` for a kind still to be chosen.
    pub fn from_column_code(code: &str) -> Option<Option<Self>> {
        if code == CHOOSING {
            Some(None)
        } else {
            Self::from_code(code).map(Some)
        }
    }

    /// The model's usual name, for messages.
    pub fn label(self) -> &'static str {
        match self {
            FrequencyModelKind::BgNbd => "BG/NBD",
            FrequencyModelKind::ParetoNbd => "Pareto/NBD",
            FrequencyModelKind::MbgNbd => "MBG/NBD",
        }
    }

    fn to_proto(self) -> pb::FrequencyModelKind {
        match self {
            FrequencyModelKind::BgNbd => pb::FrequencyModelKind::BgNbd,
            FrequencyModelKind::ParetoNbd => pb::FrequencyModelKind::ParetoNbd,
            FrequencyModelKind::MbgNbd => pb::FrequencyModelKind::MbgNbd,
        }
    }
}

/// The unit of recency and age in the fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ModelTimeUnit {
    Day,
    Week,
    Month,
}

impl ModelTimeUnit {
    pub fn days(self) -> f64 {
        match self {
            ModelTimeUnit::Day => 1.0,
            ModelTimeUnit::Week => 7.0,
            ModelTimeUnit::Month => DAYS_PER_MONTH,
        }
    }

    fn unit(self) -> TimeUnit {
        match self {
            ModelTimeUnit::Day => TimeUnit::Days,
            ModelTimeUnit::Week => TimeUnit::Weeks,
            ModelTimeUnit::Month => TimeUnit::DaysPer(DAYS_PER_MONTH),
        }
    }

    fn to_proto(self) -> pb::TimeUnit {
        match self {
            ModelTimeUnit::Day => pb::TimeUnit::Day,
            ModelTimeUnit::Week => pb::TimeUnit::Week,
            ModelTimeUnit::Month => pb::TimeUnit::Month,
        }
    }
}

/// What the caller asked for (validated by the gRPC layer).
#[derive(Debug, Clone, PartialEq)]
pub struct FitSettings {
    /// The frequency model the caller named; `None`: chosen by [`model_choice`].
    pub frequency_model: Option<FrequencyModelKind>,
    pub skip_monetary_model: bool,
    /// Last day (inclusive) of the calibration period.
    pub calibration_end: NaiveDate,
    /// Last day (inclusive) of the holdout period, after `calibration_end`.
    pub holdout_end: Option<NaiveDate>,
    pub time_unit: ModelTimeUnit,
    /// Annual discount rate of the CLV, 0..=1.
    pub annual_discount_rate: f64,
    /// CLV horizon in months, > 0.
    pub clv_horizon_months: i32,
    pub make_current: bool,
    /// How long the fit may run (`profiling.value_model_fit_budget_ms`); it also gives up
    /// when the process is asked to stop.
    pub budget: std::time::Duration,
    /// The merchant's calendar: orders are purchases of its local days, and the
    /// calibration and holdout ends end at its local midnight.
    pub time_zone: MerchantTimeZone,
}

/// Fitted frequency parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FrequencyParameters {
    BgNbd {
        r: f64,
        alpha: f64,
        a: f64,
        b: f64,
    },
    ParetoNbd {
        r: f64,
        alpha: f64,
        s: f64,
        beta: f64,
    },
    MbgNbd {
        r: f64,
        alpha: f64,
        a: f64,
        b: f64,
    },
}

impl FrequencyParameters {
    fn values(&self) -> [f64; 4] {
        match *self {
            FrequencyParameters::BgNbd { r, alpha, a, b }
            | FrequencyParameters::MbgNbd { r, alpha, a, b } => [r, alpha, a, b],
            FrequencyParameters::ParetoNbd { r, alpha, s, beta } => [r, alpha, s, beta],
        }
    }

    pub fn kind(&self) -> FrequencyModelKind {
        match self {
            FrequencyParameters::BgNbd { .. } => FrequencyModelKind::BgNbd,
            FrequencyParameters::ParetoNbd { .. } => FrequencyModelKind::ParetoNbd,
            FrequencyParameters::MbgNbd { .. } => FrequencyModelKind::MbgNbd,
        }
    }

    /// Runs `f` with the parameters as a [`PurchaseModel`].
    fn with_model<T>(&self, f: impl FnOnce(&dyn PurchaseModel) -> T) -> T {
        match *self {
            FrequencyParameters::BgNbd { r, alpha, a, b } => f(&BgNbdParams { r, alpha, a, b }),
            FrequencyParameters::ParetoNbd { r, alpha, s, beta } => {
                f(&ParetoNbdParams { r, alpha, s, beta })
            }
            FrequencyParameters::MbgNbd { r, alpha, a, b } => f(&MbgNbdParams { r, alpha, a, b }),
        }
    }
}

/// Fitted Gamma-Gamma parameters and their log-likelihood. The scale `v` and the
/// log-likelihood depend on the unit of the spends they were fitted on: minor units per that
/// unit are `amount_scale` (100 for euros fitted in euros, as the literature reports them;
/// 1 for models stored before the unit was recorded, which were fitted in cents).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SpendParameters {
    pub p: f64,
    pub q: f64,
    pub v: f64,
    pub log_likelihood: f64,
    #[serde(default = "minor_units")]
    pub amount_scale: f64,
}

fn minor_units() -> f64 {
    1.0
}

/// Minor units per major unit of `currency` (100 for EUR, 1 for JPY); 100 when unknown.
pub fn minor_per_major(currency: &str) -> f64 {
    let exponent = caravan_core::iso::currency_exponent(currency).unwrap_or(2);
    10f64.powi(i32::from(exponent))
}

impl SpendParameters {
    fn params(&self) -> GammaGammaParams {
        GammaGammaParams {
            p: self.p,
            q: self.q,
            v: self.v,
        }
    }

    /// E[M | x, m̄] in minor units, for a mean spend `mean_minor` in minor units.
    fn expected_average_minor(&self, frequency: u32, mean_minor: f64) -> f64 {
        self.params()
            .conditional_expected_average_value(frequency, mean_minor / self.amount_scale)
            * self.amount_scale
    }
}

/// How the frequency model predicted the holdout period.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HoldoutMetrics {
    pub customer_count: i64,
    pub predicted_purchases: f64,
    pub actual_purchases: i64,
    pub mean_absolute_error: f64,
    /// Pearson correlation of predicted and actual counts; 0 when either is constant.
    pub correlation: f64,
    /// Root mean squared error of the counts (0 in models stored before it was kept).
    #[serde(default)]
    pub root_mean_squared_error: f64,
}

impl HoldoutMetrics {
    fn to_proto(self) -> pb::HoldoutMetrics {
        pb::HoldoutMetrics {
            customer_count: self.customer_count,
            predicted_purchases: self.predicted_purchases,
            actual_purchases: self.actual_purchases,
            mean_absolute_error: self.mean_absolute_error,
            correlation: self.correlation,
            root_mean_squared_error: self.root_mean_squared_error,
        }
    }

    /// Metrics of per-customer `(predicted, actual)` purchase counts.
    pub fn of(pairs: &[(f64, u32)]) -> Self {
        let n = pairs.len() as f64;
        let predicted: f64 = pairs.iter().map(|p| p.0).sum();
        let actual: u64 = pairs.iter().map(|p| u64::from(p.1)).sum();
        if pairs.is_empty() {
            return Self {
                customer_count: 0,
                predicted_purchases: 0.0,
                actual_purchases: 0,
                mean_absolute_error: 0.0,
                correlation: 0.0,
                root_mean_squared_error: 0.0,
            };
        }
        let mae = pairs
            .iter()
            .map(|(p, a)| (p - f64::from(*a)).abs())
            .sum::<f64>()
            / n;
        let mse = pairs
            .iter()
            .map(|(p, a)| (p - f64::from(*a)).powi(2))
            .sum::<f64>()
            / n;
        let mean_p = predicted / n;
        let mean_a = actual as f64 / n;
        let (mut cov, mut var_p, mut var_a) = (0.0, 0.0, 0.0);
        for (p, a) in pairs {
            let (dp, da) = (p - mean_p, f64::from(*a) - mean_a);
            cov += dp * da;
            var_p += dp * dp;
            var_a += da * da;
        }
        let correlation = if var_p > 0.0 && var_a > 0.0 {
            cov / (var_p * var_a).sqrt()
        } else {
            0.0
        };
        Self {
            customer_count: pairs.len() as i64,
            predicted_purchases: predicted,
            actual_purchases: i64::try_from(actual).unwrap_or(i64::MAX),
            mean_absolute_error: mae,
            correlation,
            root_mean_squared_error: mse.sqrt(),
        }
    }
}

/// The outcome of a successful fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitResult {
    pub frequency: FrequencyParameters,
    pub log_likelihood: f64,
    /// `None` when the monetary model was skipped.
    pub gamma_gamma: Option<SpendParameters>,
    /// Customers with an order in the calibration period.
    pub customer_count: i64,
    pub holdout: Option<HoldoutMetrics>,
    /// How the frequency model was chosen; `None` when the caller named it.
    #[serde(default)]
    pub selection: Option<ModelSelection>,
    /// Standard errors and holdout checks; `None` in models stored before they were kept.
    #[serde(default)]
    pub diagnostics: Option<Diagnostics>,
}

/// The `value_models.params` document: the settings not held in columns, the merchant's
/// base currency at fit time and, once READY, the fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredParams {
    pub time_unit: ModelTimeUnit,
    pub annual_discount_rate: f64,
    pub clv_horizon_months: i32,
    pub skip_monetary_model: bool,
    pub make_current: bool,
    pub currency: String,
    pub fit: Option<FitResult>,
    /// The merchant's IANA time zone at fit time; `None` (models stored before zones were
    /// kept) is UTC.
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// Lifecycle of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelState {
    Fitting,
    Ready,
    Failed,
}

impl ModelState {
    pub fn code(self) -> &'static str {
        match self {
            ModelState::Fitting => "FITTING",
            ModelState::Ready => "READY",
            ModelState::Failed => "FAILED",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "FITTING" => Some(ModelState::Fitting),
            "READY" => Some(ModelState::Ready),
            "FAILED" => Some(ModelState::Failed),
            _ => None,
        }
    }
}

/// One stored model, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueModelRecord {
    pub merchant_id: String,
    pub id: String,
    /// The kind named on fit; `None` while it is being chosen (a READY model's kind is its
    /// fit's, [`FrequencyParameters::kind`]).
    pub kind: Option<FrequencyModelKind>,
    pub state: ModelState,
    pub is_current: bool,
    pub calibration_end: NaiveDate,
    pub holdout_end: Option<NaiveDate>,
    pub params: StoredParams,
    pub error_message: Option<String>,
    pub created_at: DateTime<Utc>,
    pub fit_time: Option<DateTime<Utc>>,
}

/// Checks a value model id against `[a-z][a-z0-9-]{2,62}`.
pub fn check_value_model_id(id: &str) -> Result<(), String> {
    let starts_with_letter = id.chars().next().is_some_and(|c| c.is_ascii_lowercase());
    let valid_chars = id
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if (3..=63).contains(&id.len()) && starts_with_letter && valid_chars {
        Ok(())
    } else {
        Err(format!(
            "value model id {id:?} must match [a-z][a-z0-9-]{{2,62}}"
        ))
    }
}

/// `merchants/{merchant}/valueModels/{id}`.
pub fn value_model_name(merchant_id: &str, id: &str) -> String {
    format!("merchants/{merchant_id}/valueModels/{id}")
}

pub(crate) fn proto_date(d: NaiveDate) -> common::Date {
    use chrono::Datelike;
    common::Date {
        year: d.year(),
        month: i32::try_from(d.month()).unwrap_or(0),
        day: i32::try_from(d.day()).unwrap_or(0),
    }
}

impl ValueModelRecord {
    pub fn name(&self) -> String {
        value_model_name(&self.merchant_id, &self.id)
    }

    /// The frequency model: the fit's once fitted, else the one named.
    pub fn frequency_model(&self) -> Option<FrequencyModelKind> {
        self.params
            .fit
            .as_ref()
            .map(|f| f.frequency.kind())
            .or(self.kind)
    }

    pub fn to_proto(&self) -> pb::ValueModel {
        use pb::value_model::FrequencyParameters as Oneof;
        let fit = self.params.fit.as_ref();
        let frequency_parameters = fit.map(|f| match f.frequency {
            FrequencyParameters::BgNbd { r, alpha, a, b } => {
                Oneof::BgNbd(pb::BgNbdParameters { r, alpha, a, b })
            }
            FrequencyParameters::ParetoNbd { r, alpha, s, beta } => {
                Oneof::ParetoNbd(pb::ParetoNbdParameters { r, alpha, s, beta })
            }
            FrequencyParameters::MbgNbd { r, alpha, a, b } => {
                Oneof::MbgNbd(pb::BgNbdParameters { r, alpha, a, b })
            }
        });
        let state = match self.state {
            ModelState::Fitting => pb::ValueModelState::Fitting,
            ModelState::Ready => pb::ValueModelState::Ready,
            ModelState::Failed => pb::ValueModelState::Failed,
        };
        pb::ValueModel {
            name: self.name(),
            state: state as i32,
            frequency_model: self.frequency_model().map_or(
                pb::FrequencyModelKind::Unspecified,
                FrequencyModelKind::to_proto,
            ) as i32,
            frequency_parameters,
            gamma_gamma: fit
                .and_then(|f| f.gamma_gamma)
                .map(|g| pb::GammaGammaParameters {
                    p: g.p,
                    q: g.q,
                    v: g.v * g.amount_scale / minor_per_major(&self.params.currency),
                }),
            time_unit: self.params.time_unit.to_proto() as i32,
            calibration_end_date: Some(proto_date(self.calibration_end)),
            holdout_end_date: self.holdout_end.map(proto_date),
            annual_discount_rate: self.params.annual_discount_rate,
            clv_horizon_months: self.params.clv_horizon_months,
            log_likelihood: fit.map_or(0.0, |f| f.log_likelihood),
            gamma_gamma_log_likelihood: fit
                .and_then(|f| f.gamma_gamma)
                .map_or(0.0, |g| g.log_likelihood),
            customer_count: fit.map_or(0, |f| f.customer_count),
            holdout: fit.and_then(|f| f.holdout).map(|h| h.to_proto()),
            model_selection: fit
                .and_then(|f| f.selection.as_ref())
                .map(ModelSelection::to_proto),
            diagnostics: fit
                .and_then(|f| f.diagnostics.as_ref())
                .map(Diagnostics::to_proto),
            time_zone: MerchantTimeZone::from_stored(self.params.time_zone.as_deref())
                .name()
                .to_owned(),
            current: self.is_current,
            error_message: self.error_message.clone().unwrap_or_default(),
            create_time: Some(to_timestamp(self.created_at)),
            fit_time: self.fit_time.map(to_timestamp),
        }
    }

    /// The usable model, when READY.
    pub fn fitted(&self) -> Option<FittedValueModel> {
        let fit = self.params.fit.as_ref()?;
        (self.state == ModelState::Ready).then(|| FittedValueModel {
            name: self.name(),
            frequency: fit.frequency,
            gamma_gamma: fit.gamma_gamma,
            time_unit: self.params.time_unit,
            annual_discount_rate: self.params.annual_discount_rate,
            clv_horizon_months: self.params.clv_horizon_months,
            currency: self.params.currency.clone(),
            time_zone: MerchantTimeZone::from_stored(self.params.time_zone.as_deref()),
        })
    }
}

/// One customer's order history for a fit: `(placed_at, amount in base minor units)`.
pub type OrderHistory = Vec<(DateTime<Utc>, i64)>;

/// The orders as transactions on the merchant's local days.
fn transactions(orders: &[(DateTime<Utc>, i64)], time_zone: MerchantTimeZone) -> Vec<Transaction> {
    orders
        .iter()
        .map(|(at, amount)| Transaction {
            date: time_zone.local_date(*at),
            amount: *amount as f64,
        })
        .collect()
}

/// One calibration customer seen over a holdout period: the calibration summary, the
/// purchase days in the holdout, and the holdout's length in the model's time unit.
pub type HoldoutCustomer = (RfmSummary, u32, f64);

/// The customers of a fit, summarised at the calibration end.
struct Split {
    /// Customers whose first order is on or before the calibration end.
    calibration: Vec<RfmSummary>,
    /// With a holdout period: each calibration customer's summary, holdout purchases and
    /// holdout length (time units).
    holdout: Vec<HoldoutCustomer>,
}

impl Split {
    fn of(
        histories: &[OrderHistory],
        calibration_end: NaiveDate,
        holdout_end: Option<NaiveDate>,
        unit: ModelTimeUnit,
        time_zone: MerchantTimeZone,
    ) -> Result<Self, ValueModelError> {
        let unit = unit.unit();
        let mut split = Split {
            calibration: Vec::new(),
            holdout: Vec::new(),
        };
        for orders in histories {
            let tx = transactions(orders, time_zone);
            match holdout_end {
                Some(end) => {
                    if let Some(s) = summarize_calibration_holdout(&tx, calibration_end, end, unit)?
                    {
                        split.calibration.push(s.calibration);
                        split.holdout.push((
                            s.calibration,
                            s.holdout_frequency,
                            s.holdout_duration,
                        ));
                    }
                }
                None => split
                    .calibration
                    .extend(summarize(&tx, calibration_end, unit)),
            }
        }
        Ok(split)
    }
}

/// Fits the model on the merchant's order histories (one per customer). Customers whose
/// first order is after the calibration end are not in the calibration cohort.
/// Fits on `histories` (amounts in minor units); the spend model is fitted on amounts in
/// units of `amount_scale` minor units ([`minor_per_major`] of the merchant's currency).
pub fn fit(
    settings: &FitSettings,
    histories: &[OrderHistory],
    amount_scale: f64,
) -> Result<FitResult, ValueModelError> {
    let split = Split::of(
        histories,
        settings.calibration_end,
        settings.holdout_end,
        settings.time_unit,
        settings.time_zone,
    )?;
    if split.calibration.is_empty() {
        return Err(ValueModelError::NotEnoughData(format!(
            "no orders on or before the calibration end {}",
            settings.calibration_end
        )));
    }
    let options = FitOptions {
        optimizer: NelderMeadOptions {
            interrupt: Interrupt {
                on_shutdown: true,
                deadline: std::time::Instant::now().checked_add(settings.budget),
            },
            ..NelderMeadOptions::default()
        },
        ..FitOptions::default()
    };
    let (frequency, log_likelihood, selection) = match settings.frequency_model {
        Some(kind) => {
            let (frequency, ll) =
                fit_frequency(kind, &split.calibration, &options, settings.time_unit)?;
            (frequency, ll, None)
        }
        None => {
            let chosen = model_choice::choose(settings, histories, &split, &options)?;
            (
                chosen.frequency,
                chosen.log_likelihood,
                Some(chosen.selection),
            )
        }
    };
    let gamma_gamma = if settings.skip_monetary_model {
        None
    } else {
        Some(fit_spend(&split.calibration, amount_scale, &options)?)
    };
    let holdout = settings
        .holdout_end
        .map(|_| holdout_metrics(&frequency, &split.holdout));
    let diagnostics = diagnostics::diagnose(
        &frequency,
        &split.calibration,
        settings
            .holdout_end
            .map(|end| (split.holdout.as_slice(), end)),
        histories,
        settings.calibration_end,
        settings.time_unit,
        settings.time_zone,
        &options.optimizer.interrupt,
    );
    Ok(FitResult {
        frequency,
        log_likelihood,
        gamma_gamma,
        customer_count: split.calibration.len() as i64,
        holdout,
        selection,
        diagnostics: Some(diagnostics),
    })
}

/// Fits one frequency model on the calibration customers: its parameters and
/// log-likelihood, refused when not finite or degenerate ([`check_predictions`]).
fn fit_frequency(
    kind: FrequencyModelKind,
    calibration: &[RfmSummary],
    options: &FitOptions,
    unit: ModelTimeUnit,
) -> Result<(FrequencyParameters, f64), ValueModelError> {
    let (frequency, log_likelihood) = match kind {
        FrequencyModelKind::BgNbd => {
            let f = fit_bg_nbd(calibration, options)?;
            let p = f.params;
            let params = FrequencyParameters::BgNbd {
                r: p.r,
                alpha: p.alpha,
                a: p.a,
                b: p.b,
            };
            (params, f.report.log_likelihood)
        }
        FrequencyModelKind::MbgNbd => {
            let f = fit_mbg_nbd(calibration, options)?;
            let p = f.params;
            let params = FrequencyParameters::MbgNbd {
                r: p.r,
                alpha: p.alpha,
                a: p.a,
                b: p.b,
            };
            (params, f.report.log_likelihood)
        }
        FrequencyModelKind::ParetoNbd => {
            let f = fit_pareto_nbd(calibration, options)?;
            let p = f.params;
            let params = FrequencyParameters::ParetoNbd {
                r: p.r,
                alpha: p.alpha,
                s: p.s,
                beta: p.beta,
            };
            (params, f.report.log_likelihood)
        }
    };
    if !(frequency.values().iter().all(|v| v.is_finite()) && log_likelihood.is_finite()) {
        return Err(ValueModelError::FitFailed(format!(
            "the {} fit did not reach finite parameters: {frequency:?}",
            kind.label()
        )));
    }
    check_predictions(&frequency, calibration, unit)?;
    Ok((frequency, log_likelihood))
}

/// How `frequency` predicted each customer's holdout purchases.
fn holdout_metrics(frequency: &FrequencyParameters, holdout: &[HoldoutCustomer]) -> HoldoutMetrics {
    let pairs: Vec<(f64, u32)> = holdout
        .iter()
        .map(|(c, actual, duration)| {
            let predicted =
                frequency.with_model(|m| m.conditional_expected_purchases(*duration, c));
            (predicted, *actual)
        })
        .collect();
    HoldoutMetrics::of(&pairs)
}

/// Refuses a degenerate fit: on too little or too regular data the likelihood can keep
/// rising towards a boundary (e.g. BG/NBD a, b → ∞), where the predictions are no longer
/// computable. Every calibration customer's P(alive) and a year of expected purchases must
/// be finite.
fn check_predictions(
    frequency: &FrequencyParameters,
    calibration: &[RfmSummary],
    unit: ModelTimeUnit,
) -> Result<(), ValueModelError> {
    let year = 365.0 / unit.days();
    let ok = frequency.with_model(|m| {
        calibration.iter().all(|c| {
            m.probability_alive(c).is_finite()
                && m.conditional_expected_purchases(year, c).is_finite()
        }) && m.expected_purchases(year).is_finite()
    });
    if ok {
        Ok(())
    } else {
        Err(ValueModelError::FitFailed(format!(
            "the fit is degenerate ({frequency:?}): its predictions are not finite. \
             This happens with few customers or very regular purchases. Try more data, \
             the other frequency model or another time unit"
        )))
    }
}

/// Gamma-Gamma on the repeat customers with positive spend (free orders carry no spend
/// information, and the model needs m̄ > 0), in units of `amount_scale` minor units.
fn fit_spend(
    calibration: &[RfmSummary],
    amount_scale: f64,
    options: &FitOptions,
) -> Result<SpendParameters, ValueModelError> {
    let repeat: Vec<RfmSummary> = calibration
        .iter()
        .filter(|c| c.frequency > 0 && c.monetary_value > 0.0)
        .map(|c| RfmSummary {
            monetary_value: c.monetary_value / amount_scale,
            ..*c
        })
        .collect();
    let fit = fit_gamma_gamma(&repeat, options).map_err(|e| match e {
        ValueModelError::NotEnoughData(m) => ValueModelError::NotEnoughData(format!(
            "{m} (set skip_monetary_model to fit without spend)"
        )),
        other => other,
    })?;
    let p = fit.params;
    if !(p.p.is_finite() && p.q.is_finite() && p.v.is_finite() && p.q > 1.0) {
        return Err(ValueModelError::FitFailed(format!(
            "the Gamma-Gamma fit gave q = {} <= 1 or non-finite parameters: the mean spend \
             is undefined (set skip_monetary_model to fit without spend)",
            p.q
        )));
    }
    Ok(SpendParameters {
        p: p.p,
        q: p.q,
        v: p.v,
        log_likelihood: fit.report.log_likelihood,
        amount_scale,
    })
}

/// A READY model, ready to predict: what profiles and PredictCustomerValue use.
#[derive(Debug, Clone, PartialEq)]
pub struct FittedValueModel {
    /// `merchants/{merchant}/valueModels/{id}`.
    pub name: String,
    pub frequency: FrequencyParameters,
    /// `None` when fitted with `skip_monetary_model`: no spend, no CLV.
    pub gamma_gamma: Option<SpendParameters>,
    pub time_unit: ModelTimeUnit,
    pub annual_discount_rate: f64,
    pub clv_horizon_months: i32,
    /// The merchant's base currency of the amounts.
    pub currency: String,
    /// The calendar the model was fitted in: a prediction as of an instant counts the
    /// customer's purchase days in it.
    pub time_zone: MerchantTimeZone,
}

/// One customer's predicted value.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictedValue {
    /// P(alive) at `as_of`, 0..=1.
    pub p_alive: f64,
    /// Expected purchases in (as_of, as_of + horizon_days].
    pub expected_purchases: f64,
    /// Gamma-Gamma E[M | x, m̄], minor units; `None` without a monetary model.
    pub expected_aov_minor: Option<i64>,
    /// expected_purchases × expected AOV, minor units.
    pub expected_spend_minor: Option<i64>,
    /// Discounted expected spend over the model's CLV horizon (monthly periods), minor units.
    pub clv_minor: Option<i64>,
    /// ISO 4217 code of the amounts (the merchant's base currency).
    pub currency: String,
    /// `merchants/{merchant}/valueModels/{id}` of the model used.
    pub value_model: String,
    pub horizon_days: i32,
    /// The instant the prediction describes.
    pub as_of: DateTime<Utc>,
}

/// Rounds a money amount to minor units; `None` for a non-finite value.
fn minor(value: f64) -> Option<i64> {
    // `as` saturates for finite out-of-range values; NaN and ±∞ are refused.
    value.is_finite().then(|| value.round() as i64)
}

impl FittedValueModel {
    /// Monthly rate equivalent to the annual discount rate: (1 + d)^(1/12) − 1.
    pub fn monthly_discount_rate(&self) -> f64 {
        (1.0 + self.annual_discount_rate).powf(1.0 / 12.0) - 1.0
    }

    /// Predicts one customer's value from their non-cancelled orders
    /// (`(placed_at, base-currency minor units)`, any order) as of `as_of`; orders after
    /// `as_of` are ignored. A customer without orders gets the prediction for a new customer
    /// (x = 0, t_x = 0, T = 0; the population mean spend). `horizon_days` < 0 counts as 0.
    pub fn predict(
        &self,
        orders: &[(DateTime<Utc>, i64)],
        as_of: DateTime<Utc>,
        horizon_days: i32,
    ) -> PredictedValue {
        let seen: Vec<(DateTime<Utc>, i64)> = orders
            .iter()
            .copied()
            .filter(|(at, _)| *at <= as_of)
            .collect();
        let unit = self.time_unit.unit();
        let customer = summarize(
            &transactions(&seen, self.time_zone),
            self.time_zone.local_date(as_of),
            unit,
        )
        .unwrap_or(RfmSummary::new(0, 0.0, 0.0));
        let horizon_days = horizon_days.max(0);
        let horizon = f64::from(horizon_days) / unit.days();
        let (p_alive, expected_purchases) = self.frequency.with_model(|m| {
            (
                m.probability_alive(&customer).clamp(0.0, 1.0),
                m.conditional_expected_purchases(horizon, &customer)
                    .max(0.0),
            )
        });
        let aov = self
            .gamma_gamma
            .map(|g| g.expected_average_minor(customer.frequency, customer.monetary_value));
        let clv = aov.and_then(|value| {
            let options = ClvOptions {
                periods: u32::try_from(self.clv_horizon_months).unwrap_or(0),
                period_length: DAYS_PER_MONTH / unit.days(),
                discount_rate: self.monthly_discount_rate(),
                margin: 1.0,
            };
            self.frequency
                .with_model(|m| discounted_value(m, &customer, value, &options))
                .ok()
        });
        PredictedValue {
            p_alive: if p_alive.is_finite() { p_alive } else { 0.0 },
            expected_purchases: if expected_purchases.is_finite() {
                expected_purchases
            } else {
                0.0
            },
            expected_aov_minor: aov.and_then(minor),
            expected_spend_minor: aov.and_then(|v| minor(v * expected_purchases)),
            clv_minor: clv.and_then(minor),
            currency: self.currency.clone(),
            value_model: self.name.clone(),
            horizon_days,
            as_of,
        }
    }
}

impl PredictedValue {
    pub fn to_proto(&self) -> pb::PredictiveValue {
        let money = |amount: Option<i64>| {
            amount.map(|amount_minor| common::Money {
                currency_code: self.currency.clone(),
                amount_minor,
            })
        };
        pb::PredictiveValue {
            probability_alive: self.p_alive,
            expected_purchases: self.expected_purchases,
            horizon_days: self.horizon_days,
            expected_average_order_value: money(self.expected_aov_minor),
            expected_spend: money(self.expected_spend_minor),
            customer_lifetime_value: money(self.clv_minor),
            value_model: self.value_model.clone(),
            compute_time: Some(to_timestamp(self.as_of)),
        }
    }
}

#[cfg(test)]
mod tests;
