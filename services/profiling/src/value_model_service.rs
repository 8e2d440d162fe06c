//! Fitting value models in the background, switching the merchant's current model, writing
//! its predictions into profiles and predicting for given customers. Orchestration only:
//! the math is in [`crate::fitted_value_model`], the SQL in [`crate::value_model_store`].

use std::collections::HashMap;

use caravan_store::sea_orm::DatabaseConnection;
use chrono::{DateTime, NaiveDate, Utc};
use tracing::Instrument;

use crate::error::ProfilingError;
use crate::fitted_value_model::{
    DEFAULT_HORIZON_DAYS, FitSettings, FittedValueModel, ModelState, OrderHistory, PredictedValue,
    StoredParams, ValueModelRecord, fit, minor_per_major,
};
use crate::value_model_store as store;

/// A server-assigned id: `vm-YYYYMMDD-HHMMSS-ffffff` (matches `[a-z][a-z0-9-]{2,62}`, sorts
/// by creation time).
pub fn new_value_model_id(now: DateTime<Utc>) -> String {
    format!("vm-{}", now.format("%Y%m%d-%H%M%S-%6f"))
}

/// Stores the model in state FITTING and fits it in the background; returns the stored
/// model. NOT_FOUND for an unknown merchant, ALREADY_EXISTS for a taken id.
pub async fn start_fit(
    db: &DatabaseConnection,
    merchant_id: &str,
    id: Option<String>,
    mut settings: FitSettings,
) -> Result<ValueModelRecord, ProfilingError> {
    let (currency, time_zone) = store::merchant_currency_and_zone(db, merchant_id).await?;
    settings.time_zone = time_zone;
    check_not_future(
        time_zone,
        [
            ("calibration_end_date", Some(settings.calibration_end)),
            ("holdout_end_date", settings.holdout_end),
        ],
    )?;
    let now = Utc::now();
    let server_assigned = id.is_none();
    let mut record = ValueModelRecord {
        merchant_id: merchant_id.to_owned(),
        id: id.unwrap_or_else(|| new_value_model_id(now)),
        kind: settings.frequency_model,
        state: ModelState::Fitting,
        is_current: false,
        calibration_end: settings.calibration_end,
        holdout_end: settings.holdout_end,
        params: StoredParams {
            time_unit: settings.time_unit,
            annual_discount_rate: settings.annual_discount_rate,
            clv_horizon_months: settings.clv_horizon_months,
            skip_monetary_model: settings.skip_monetary_model,
            make_current: settings.make_current,
            currency,
            fit: None,
            time_zone: Some(time_zone.name().to_owned()),
        },
        error_message: None,
        created_at: caravan_store::UtcDateTime::new(now).get(),
        fit_time: None,
    };
    match store::insert(db, &record).await {
        // Two fits in the same microsecond: a server-assigned id simply moves on.
        Err(ProfilingError::AlreadyExists(_)) if server_assigned => {
            record.id = format!("{}-{}", record.id, std::process::id());
            store::insert(db, &record).await?;
        }
        other => other?,
    }
    let span = tracing::info_span!("value_model.fit", value_model = %record.name());
    tokio::spawn(run_fit(db.clone(), record.clone(), settings).instrument(span));
    Ok(record)
}

/// Fits running in this process (see [`settle_fits`]).
static RUNNING_FITS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Counts a fit as running while it lives.
struct Running;

impl Running {
    fn start() -> Self {
        RUNNING_FITS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Running
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING_FITS.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// For the server's shutdown: waits (at most `limit`) until the running fits have given up
/// (they check `caravan_core::shutdown`) and stored their FAILED state, so that a fit cut
/// short by a restart says so instead of staying FITTING.
pub async fn settle_fits(limit: std::time::Duration) {
    let until = std::time::Instant::now() + limit;
    while RUNNING_FITS.load(std::sync::atomic::Ordering::SeqCst) > 0
        && std::time::Instant::now() < until
    {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// How long after its start a model still FITTING is taken as abandoned: its whole fit
/// (loading and optimising) gives up after `budget`, and storing the outcome is one
/// statement; a tenth of the budget more (1 s to 1 min) covers a slow store.
pub fn abandoned_after(budget: std::time::Duration) -> std::time::Duration {
    budget.saturating_add((budget / 10).clamp(
        std::time::Duration::from_secs(1),
        std::time::Duration::from_secs(60),
    ))
}

/// The FAILED message of a model whose fitting process died without saying so.
fn abandoned_message(budget: std::time::Duration) -> String {
    format!(
        "fit abandoned: still FITTING {} s after it started, past the fit budget \
         (profiling.value_model_fit_budget_ms = {} ms); the process fitting it stopped \
         without finishing (killed or lost); fit again",
        abandoned_after(budget).as_secs(),
        budget.as_millis()
    )
}

/// Marks the merchant's abandoned fits FAILED (see [`abandoned_after`]) before they are read,
/// so a replica killed mid-fit does not leave a model FITTING for good.
async fn settle_abandoned(
    db: &DatabaseConnection,
    merchant_id: &str,
    budget: std::time::Duration,
) -> Result<(), ProfilingError> {
    let Ok(age) = chrono::Duration::from_std(abandoned_after(budget)) else {
        return Ok(());
    };
    let failed = store::fail_abandoned(
        db,
        merchant_id,
        Utc::now() - age,
        &abandoned_message(budget),
    )
    .await?;
    if failed > 0 {
        tracing::warn!(
            merchant_id,
            failed,
            "abandoned value-model fits marked FAILED"
        );
    }
    Ok(())
}

/// The model, after settling the merchant's abandoned fits; NOT_FOUND when it does not exist.
pub async fn get(
    db: &DatabaseConnection,
    merchant_id: &str,
    id: &str,
    budget: std::time::Duration,
) -> Result<ValueModelRecord, ProfilingError> {
    settle_abandoned(db, merchant_id, budget).await?;
    store::get(db, merchant_id, id).await
}

/// One page of the merchant's models (see [`store::list`]), after settling abandoned fits.
pub async fn list(
    db: &DatabaseConnection,
    merchant_id: &str,
    after: Option<(DateTime<Utc>, String)>,
    limit: u64,
    budget: std::time::Duration,
) -> Result<Vec<ValueModelRecord>, ProfilingError> {
    settle_abandoned(db, merchant_id, budget).await?;
    store::list(db, merchant_id, after, limit).await
}

/// The background part of a fit: never returns an error, the model ends READY or FAILED.
async fn run_fit(db: DatabaseConnection, record: ValueModelRecord, settings: FitSettings) {
    let _running = Running::start();
    let started = std::time::Instant::now();
    match fit_and_store(&db, &record, settings).await {
        Ok(written) => tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            profiles_written = written,
            "value model READY"
        ),
        Err(message) => {
            tracing::warn!(error = %message, "value model FAILED");
            if let Err(err) =
                store::finish_failed(&db, &record.merchant_id, &record.id, &message).await
            {
                tracing::error!(error = %err, "could not mark the value model FAILED");
            }
        }
    }
}

/// The FAILED message of a fit cut short by the process stopping.
const STOPPED: &str = "fit interrupted: the service is stopping; fit again";

/// Completes once the process is asked to stop (`caravan_core::shutdown`).
async fn stopping() {
    while !caravan_core::shutdown::requested() {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Loads the orders, fits off the async runtime, stores the result and, for a model made
/// current, writes its predictions into the profiles. The error is the FAILED message.
async fn fit_and_store(
    db: &DatabaseConnection,
    record: &ValueModelRecord,
    settings: FitSettings,
) -> Result<u64, String> {
    let store_failed = |e: ProfilingError| format!("internal error: {e}");
    // The budget covers loading and optimising, so a model is FITTING for at most the budget
    // plus one write (see `abandoned_after`). Loading a large merchant's orders takes a
    // while; neither a stop nor the budget waits for it.
    let started = std::time::Instant::now();
    let budget = settings.budget;
    let orders = tokio::select! {
        orders = store::merchant_orders(db, &record.merchant_id) => orders.map_err(store_failed)?,
        () = stopping() => return Err(STOPPED.to_owned()),
        () = tokio::time::sleep(budget) => return Err(format!(
            "the time budget (profiling.value_model_fit_budget_ms = {} ms) ran out while \
             loading the merchant's orders; raise it",
            budget.as_millis()
        )),
    };
    let mut settings = settings;
    settings.budget = budget.saturating_sub(started.elapsed());
    let histories: Vec<OrderHistory> = orders.values().cloned().collect();
    let make_current = settings.make_current;
    let amount_scale = minor_per_major(&record.params.currency);
    let result = tokio::task::spawn_blocking(move || fit(&settings, &histories, amount_scale))
        .await
        .map_err(|e| format!("internal error: the fit did not finish: {e}"))?
        .map_err(|e| e.to_string())?;
    store::finish_ready(db, record, result.clone(), make_current)
        .await
        .map_err(store_failed)?;
    if !make_current {
        return Ok(0);
    }
    let mut ready = record.clone();
    ready.state = ModelState::Ready;
    ready.params.fit = Some(result);
    let Some(model) = ready.fitted() else {
        return Ok(0);
    };
    // The model is READY and current; a failure to refresh profiles is logged, not a fit
    // failure (the profile builder uses the model from now on anyway).
    match write_profiles(db, &record.merchant_id, &record.id, &model, &orders).await {
        Ok(written) => Ok(written),
        Err(err) => {
            tracing::error!(error = %err, "writing predictions into profiles failed");
            Ok(0)
        }
    }
}

/// The instant predictions are made as of: the merchant's latest order (see the README),
/// or now when it has none.
fn as_of(orders: &HashMap<String, OrderHistory>) -> DateTime<Utc> {
    orders
        .values()
        .flat_map(|h| h.iter().map(|(at, _)| *at))
        .max()
        .unwrap_or_else(Utc::now)
}

/// Writes the model's predictions (horizon [`DEFAULT_HORIZON_DAYS`]) into every existing
/// profile row of the merchant, batch by batch; stops if another model became current
/// meanwhile (that model's fit writes its own predictions).
async fn write_profiles(
    db: &DatabaseConnection,
    merchant_id: &str,
    id: &str,
    model: &FittedValueModel,
    orders: &HashMap<String, OrderHistory>,
) -> Result<u64, ProfilingError> {
    let as_of = as_of(orders);
    let customers = store::profile_customer_ids(db, merchant_id).await?;
    let mut written = 0;
    for chunk in customers.chunks(store::PROFILE_BATCH) {
        if !store::is_current(db, merchant_id, id).await? {
            tracing::info!("another value model became current; stopped writing profiles");
            break;
        }
        let predictions: Vec<(String, PredictedValue)> = chunk
            .iter()
            .map(|c| {
                let history = orders.get(c).map_or(&[][..], Vec::as_slice);
                (
                    c.clone(),
                    model.predict(history, as_of, DEFAULT_HORIZON_DAYS),
                )
            })
            .collect();
        written += store::write_profile_predictions(db, merchant_id, &predictions).await?;
    }
    Ok(written)
}

/// INVALID_ARGUMENT for each date after today in `zone` (the merchant's calendar): such a
/// day has not ended, so its purchases are not all known.
fn check_not_future<const N: usize>(
    zone: caravan_core::time_zone::MerchantTimeZone,
    dates: [(&str, Option<NaiveDate>); N],
) -> Result<(), ProfilingError> {
    let today = zone.local_date(Utc::now());
    let mut violations = caravan_platform::FieldViolations::new();
    for (field, date) in dates {
        if let Some(d) = date.filter(|d| *d > today) {
            violations.add(
                field,
                format!(
                    "{d} is in the future: today is {today} in the merchant's time zone ({})",
                    zone.name()
                ),
            );
        }
    }
    Ok(violations.into_result()?)
}

/// What PredictCustomerValue asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionQuery {
    pub merchant_id: String,
    /// The named model, or the merchant's current one.
    pub value_model_id: Option<String>,
    /// In the order the predictions are returned.
    pub customer_ids: Vec<String>,
    pub horizon_days: i32,
    /// Predict as of the end of this day; default the merchant's latest order.
    pub as_of_date: Option<NaiveDate>,
    /// Customers without a record are predicted as new instead of NOT_FOUND.
    pub allow_new_customers: bool,
}

/// Predictions for the query's customers (in its order) with the named model or the
/// merchant's current one; FAILED_PRECONDITION when there is none or the named one is not
/// READY; NOT_FOUND for a customer the merchant does not know unless new customers are
/// allowed.
pub async fn predict(
    db: &DatabaseConnection,
    query: &PredictionQuery,
) -> Result<(FittedValueModel, Vec<PredictedValue>), ProfilingError> {
    let merchant_id = query.merchant_id.as_str();
    let model = match query.value_model_id.as_deref() {
        Some(id) => {
            let record = store::get(db, merchant_id, id).await?;
            record.fitted().ok_or_else(|| {
                ProfilingError::FailedPrecondition(format!(
                    "{} is {}, not READY",
                    record.name(),
                    record.state.code()
                ))
            })?
        }
        None => store::load_current(db, merchant_id).await?.ok_or_else(|| {
            ProfilingError::FailedPrecondition(format!(
                "merchants/{merchant_id} has no current value model: fit one with \
                 make_current, or name one in value_model"
            ))
        })?,
    };
    let mut unique: Vec<String> = query.customer_ids.clone();
    unique.sort();
    unique.dedup();
    if !query.allow_new_customers {
        let known = store::known_customers(db, merchant_id, &unique).await?;
        if let Some(unknown) = unique.iter().find(|c| !known.contains(*c)) {
            return Err(ProfilingError::NotFound(format!(
                "merchants/{merchant_id}/customers/{unknown}"
            )));
        }
    }
    check_not_future(model.time_zone, [("as_of_date", query.as_of_date)])?;
    let orders = store::customer_orders(db, merchant_id, &unique).await?;
    let as_of = match query.as_of_date {
        // The day ends at the merchant's midnight, in the zone the model was fitted in.
        Some(day) => model.time_zone.end_of_day(day),
        None => store::observation_end(db, merchant_id)
            .await?
            .unwrap_or_else(Utc::now),
    };
    let predictions = query
        .customer_ids
        .iter()
        .map(|c| {
            let history = orders.get(c).map_or(&[][..], Vec::as_slice);
            model.predict(history, as_of, query.horizon_days)
        })
        .collect();
    Ok((model, predictions))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn server_assigned_ids_match_the_id_pattern() {
        let at = Utc
            .with_ymd_and_hms(2026, 11, 23, 22, 30, 5)
            .single()
            .expect("valid");
        let id = new_value_model_id(at);
        assert_eq!(id, "vm-20261123-223005-000000");
        assert_eq!(crate::fitted_value_model::check_value_model_id(&id), Ok(()));
    }

    #[test]
    fn predictions_are_as_of_the_latest_order() {
        let t = |s| Utc.timestamp_opt(s, 0).single().expect("valid");
        let orders = HashMap::from([
            ("a".to_owned(), vec![(t(100), 1), (t(500), 1)]),
            ("b".to_owned(), vec![(t(300), 1)]),
        ]);
        assert_eq!(as_of(&orders), t(500));
    }

    #[test]
    fn a_fit_is_abandoned_a_tenth_of_its_budget_after_the_budget() {
        let secs = std::time::Duration::from_secs;
        assert_eq!(abandoned_after(secs(600)), secs(660));
        assert_eq!(
            abandoned_after(secs(3_600)),
            secs(3_660),
            "at most a minute more"
        );
        assert_eq!(abandoned_after(secs(2)), secs(3), "at least a second more");
        assert!(abandoned_message(secs(600)).contains("660 s"));
    }
}
