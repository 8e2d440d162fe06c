//! Value models, the orders they are fitted on and the predictions they write into
//! `profiles`, in the store. The only module of the value-model feature that speaks SQL.

use std::collections::HashMap;

use caravan_core::time_zone::MerchantTimeZone;
use caravan_store::entity::{merchants, orders, profiles, value_models};
use caravan_store::sea_orm::sea_query::{Expr, ExprTrait};
use caravan_store::sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, Statement, TransactionTrait, Value,
};
use caravan_store::{UtcDateTime, is_unique_violation};
use chrono::{DateTime, Utc};

use crate::error::ProfilingError;
use crate::fitted_value_model::{
    FitResult, FittedValueModel, FrequencyModelKind, ModelState, OrderHistory, PredictedValue,
    StoredParams, ValueModelRecord, value_model_name,
};
use crate::order_netting::Reversal;
use crate::order_netting_store;

/// Customers per `UPDATE profiles` statement when writing predictions.
pub const PROFILE_BATCH: usize = 200;

fn corrupt(id: &str, what: impl std::fmt::Display) -> ProfilingError {
    ProfilingError::Corrupt(format!("value_models row {id}: {what}"))
}

fn decode(row: value_models::Model) -> Result<ValueModelRecord, ProfilingError> {
    let kind = FrequencyModelKind::from_column_code(&row.kind)
        .ok_or_else(|| corrupt(&row.id, format!("unknown kind {:?}", row.kind)))?;
    let state = ModelState::from_code(&row.state)
        .ok_or_else(|| corrupt(&row.id, format!("unknown state {:?}", row.state)))?;
    let params: StoredParams =
        serde_json::from_value(row.params).map_err(|e| corrupt(&row.id, e))?;
    Ok(ValueModelRecord {
        merchant_id: row.merchant_id,
        id: row.id,
        kind,
        state,
        is_current: row.is_current,
        calibration_end: row.calibration_end,
        holdout_end: row.holdout_end,
        params,
        error_message: row.error_message,
        created_at: row.created_at.get(),
        fit_time: row.fit_time.map(UtcDateTime::get),
    })
}

fn params_json(params: &StoredParams) -> Result<serde_json::Value, ProfilingError> {
    // Only non-finite floats could fail, and the fit refuses those; still no panic.
    serde_json::to_value(params).map_err(|e| corrupt("(new)", e))
}

/// The merchant's base currency and time zone; NOT_FOUND when the merchant does not exist.
pub async fn merchant_currency_and_zone(
    db: &DatabaseConnection,
    merchant_id: &str,
) -> Result<(String, MerchantTimeZone), ProfilingError> {
    merchants::Entity::find_by_id(merchant_id.to_owned())
        .one(db)
        .await?
        .map(|m| {
            let zone = MerchantTimeZone::from_stored(m.time_zone.as_deref());
            (m.base_currency, zone)
        })
        .ok_or_else(|| ProfilingError::NotFound(format!("merchants/{merchant_id}")))
}

/// Inserts a new model; ALREADY_EXISTS when the id is taken.
pub async fn insert(
    db: &DatabaseConnection,
    record: &ValueModelRecord,
) -> Result<(), ProfilingError> {
    let row = value_models::ActiveModel {
        merchant_id: Set(record.merchant_id.clone()),
        id: Set(record.id.clone()),
        kind: Set(FrequencyModelKind::column_code(record.kind).to_owned()),
        state: Set(record.state.code().to_owned()),
        is_current: Set(record.is_current),
        params: Set(params_json(&record.params)?),
        log_likelihood: Set(record.params.fit.as_ref().map(|f| f.log_likelihood)),
        calibration_end: Set(record.calibration_end),
        holdout_end: Set(record.holdout_end),
        error_message: Set(record.error_message.clone()),
        created_at: Set(UtcDateTime::new(record.created_at)),
        fit_time: Set(record.fit_time.map(UtcDateTime::new)),
    };
    match value_models::Entity::insert(row).exec(db).await {
        Ok(_) => Ok(()),
        Err(err) if is_unique_violation(&err) => Err(ProfilingError::AlreadyExists(
            value_model_name(&record.merchant_id, &record.id),
        )),
        Err(err) => Err(err.into()),
    }
}

pub async fn find(
    db: &DatabaseConnection,
    merchant_id: &str,
    id: &str,
) -> Result<Option<ValueModelRecord>, ProfilingError> {
    value_models::Entity::find_by_id((merchant_id.to_owned(), id.to_owned()))
        .one(db)
        .await?
        .map(decode)
        .transpose()
}

/// The model; NOT_FOUND when it does not exist.
pub async fn get(
    db: &DatabaseConnection,
    merchant_id: &str,
    id: &str,
) -> Result<ValueModelRecord, ProfilingError> {
    find(db, merchant_id, id)
        .await?
        .ok_or_else(|| ProfilingError::NotFound(value_model_name(merchant_id, id)))
}

/// One page of a merchant's models, newest first (ties by id, descending), starting after
/// the `(created_at, id)` key of the previous page's last model.
pub async fn list(
    db: &DatabaseConnection,
    merchant_id: &str,
    after: Option<(DateTime<Utc>, String)>,
    limit: u64,
) -> Result<Vec<ValueModelRecord>, ProfilingError> {
    use value_models::Column as C;
    let mut query = value_models::Entity::find()
        .filter(C::MerchantId.eq(merchant_id))
        .order_by_desc(C::CreatedAt)
        .order_by_desc(C::Id);
    if let Some((created, id)) = after {
        let created = UtcDateTime::new(created);
        query = query.filter(
            C::CreatedAt
                .lt(created)
                .or(C::CreatedAt.eq(created).and(C::Id.lt(id))),
        );
    }
    query
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(decode)
        .collect()
}

/// The merchant's current model, if there is one (it is READY by construction).
///
/// This is what the profile builder calls before predicting a customer's value with
/// [`FittedValueModel::predict`].
pub async fn load_current(
    db: &DatabaseConnection,
    merchant_id: &str,
) -> Result<Option<FittedValueModel>, ProfilingError> {
    let row = value_models::Entity::find()
        .filter(value_models::Column::MerchantId.eq(merchant_id))
        .filter(value_models::Column::IsCurrent.eq(true))
        .one(db)
        .await?;
    Ok(row.map(decode).transpose()?.and_then(|r| r.fitted()))
}

/// Whether the model is (still) the merchant's current one.
pub async fn is_current(
    db: &DatabaseConnection,
    merchant_id: &str,
    id: &str,
) -> Result<bool, ProfilingError> {
    Ok(find(db, merchant_id, id)
        .await?
        .is_some_and(|r| r.is_current))
}

/// Marks the model READY with its fit; with `make_current`, makes it the merchant's only
/// current model in the same transaction (the merchant row is locked first, so concurrent
/// switches of one merchant are serialised).
pub async fn finish_ready(
    db: &DatabaseConnection,
    record: &ValueModelRecord,
    fit: FitResult,
    make_current: bool,
) -> Result<(), ProfilingError> {
    use value_models::Column as C;
    let mut params = record.params.clone();
    let log_likelihood = fit.log_likelihood;
    let kind = fit.frequency.kind().code();
    params.fit = Some(fit);
    let params = params_json(&params)?;
    let merchant_id = record.merchant_id.clone();
    let id = record.id.clone();
    let txn = db.begin().await?;
    if make_current {
        merchants::Entity::find_by_id(merchant_id.clone())
            .lock_exclusive()
            .one(&txn)
            .await?;
        value_models::Entity::update_many()
            .col_expr(C::IsCurrent, Expr::value(false))
            .filter(C::MerchantId.eq(merchant_id.as_str()))
            .filter(C::IsCurrent.eq(true))
            .exec(&txn)
            .await?;
    }
    let updated = value_models::Entity::update_many()
        .col_expr(C::State, Expr::value(ModelState::Ready.code()))
        .col_expr(C::Kind, Expr::value(kind))
        .col_expr(C::IsCurrent, Expr::value(make_current))
        .col_expr(C::Params, Expr::value(params))
        .col_expr(C::LogLikelihood, Expr::value(log_likelihood))
        .col_expr(C::FitTime, Expr::value(UtcDateTime::now()))
        .filter(C::MerchantId.eq(merchant_id.as_str()))
        .filter(C::Id.eq(id.as_str()))
        .filter(C::State.eq(ModelState::Fitting.code()))
        .exec(&txn)
        .await?;
    if updated.rows_affected == 0 {
        // Dropping the transaction rolls back the switch of the current model too.
        return Err(ProfilingError::FailedPrecondition(format!(
            "{} is no longer FITTING (taken as abandoned after the fit budget); its result \
             is not stored",
            value_model_name(&merchant_id, &id)
        )));
    }
    txn.commit().await?;
    Ok(())
}

/// Marks the merchant's models still FITTING that were started before `started_before`
/// FAILED with `error_message`: their fit ran out of budget long ago, so the process
/// fitting them died (kill -9, OOM, a lost node) before it could say so. Returns how many.
pub async fn fail_abandoned(
    db: &DatabaseConnection,
    merchant_id: &str,
    started_before: DateTime<Utc>,
    error_message: &str,
) -> Result<u64, ProfilingError> {
    use value_models::Column as C;
    let result = value_models::Entity::update_many()
        .col_expr(C::State, Expr::value(ModelState::Failed.code()))
        .col_expr(C::ErrorMessage, Expr::value(error_message.to_owned()))
        .col_expr(C::FitTime, Expr::value(UtcDateTime::now()))
        .filter(C::MerchantId.eq(merchant_id))
        .filter(C::State.eq(ModelState::Fitting.code()))
        .filter(C::CreatedAt.lt(UtcDateTime::new(started_before)))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Marks the model FAILED with the reason (unless it is no longer FITTING).
pub async fn finish_failed(
    db: &DatabaseConnection,
    merchant_id: &str,
    id: &str,
    error_message: &str,
) -> Result<(), ProfilingError> {
    use value_models::Column as C;
    value_models::Entity::update_many()
        .col_expr(C::State, Expr::value(ModelState::Failed.code()))
        .col_expr(C::ErrorMessage, Expr::value(error_message.to_owned()))
        .col_expr(C::FitTime, Expr::value(UtcDateTime::now()))
        .filter(C::MerchantId.eq(merchant_id))
        .filter(C::Id.eq(id))
        .filter(C::State.eq(ModelState::Fitting.code()))
        .exec(db)
        .await?;
    Ok(())
}

type OrderRow = (String, String, UtcDateTime, Option<i64>, i64);

/// Purchases by customer, net of credit notes: an order a credit note reversed entirely is
/// left out, one reversed in part counts with what is left of its total.
fn group(
    rows: Vec<OrderRow>,
    reversed: &HashMap<String, Reversal>,
) -> HashMap<String, OrderHistory> {
    let mut out: HashMap<String, OrderHistory> = HashMap::new();
    for (customer, order_id, placed_at, base_total, total) in rows {
        // The total in base currency; the order's own total when no exchange rate was known
        // at ingestion (then base_total_minor is null).
        let mut amount = base_total.unwrap_or(total);
        if let Some(r) = reversed.get(&order_id) {
            if r.entire {
                continue;
            }
            amount = r.net(amount);
        }
        out.entry(customer)
            .or_default()
            .push((placed_at.get(), amount));
    }
    out
}

/// Sales (not cancelled, not credit notes), before netting.
fn purchases() -> caravan_store::sea_orm::Select<orders::Entity> {
    use orders::Column as C;
    orders::Entity::find()
        .select_only()
        .columns([
            C::CustomerId,
            C::OrderId,
            C::PlacedAt,
            C::BaseTotalMinor,
            C::TotalMinor,
        ])
        .filter(C::Status.ne("CANCELLED"))
        .filter(C::CreditNote.eq(false))
}

/// Every non-cancelled order of the merchant, grouped by customer.
pub async fn merchant_orders(
    db: &DatabaseConnection,
    merchant_id: &str,
) -> Result<HashMap<String, OrderHistory>, ProfilingError> {
    let rows: Vec<OrderRow> = purchases()
        .filter(orders::Column::MerchantId.eq(merchant_id))
        .into_tuple()
        .all(db)
        .await?;
    let reversed = order_netting_store::merchant_reversals(db, merchant_id, None).await?;
    Ok(group(rows, &reversed))
}

/// The non-cancelled orders of some customers of the merchant, grouped by customer.
pub async fn customer_orders(
    db: &DatabaseConnection,
    merchant_id: &str,
    customer_ids: &[String],
) -> Result<HashMap<String, OrderHistory>, ProfilingError> {
    if customer_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<OrderRow> = purchases()
        .filter(orders::Column::MerchantId.eq(merchant_id))
        .filter(orders::Column::CustomerId.is_in(customer_ids.iter().cloned()))
        .into_tuple()
        .all(db)
        .await?;
    let reversed =
        order_netting_store::merchant_reversals(db, merchant_id, Some(customer_ids)).await?;
    Ok(group(rows, &reversed))
}

/// Which of `customer_ids` (at most a request's 1,000) the merchant has a record of.
pub async fn known_customers(
    db: &DatabaseConnection,
    merchant_id: &str,
    customer_ids: &[String],
) -> Result<std::collections::HashSet<String>, ProfilingError> {
    use caravan_store::entity::customers::{Column as C, Entity};
    let found: Vec<String> = Entity::find()
        .select_only()
        .column(C::Id)
        .filter(C::MerchantId.eq(merchant_id))
        .filter(C::Id.is_in(customer_ids.iter().cloned()))
        .into_tuple()
        .all(db)
        .await?;
    Ok(found.into_iter().collect())
}

/// The merchant's data clock: when its latest non-cancelled order was placed. Predictions
/// are made as of this instant (see the README, "Value models").
pub async fn observation_end(
    db: &DatabaseConnection,
    merchant_id: &str,
) -> Result<Option<DateTime<Utc>>, ProfilingError> {
    use orders::Column as C;
    let latest: Option<Option<UtcDateTime>> = orders::Entity::find()
        .select_only()
        .column_as(C::PlacedAt.max(), "latest")
        .filter(C::MerchantId.eq(merchant_id))
        .filter(C::Status.ne("CANCELLED"))
        .into_tuple()
        .one(db)
        .await?;
    Ok(latest.flatten().map(UtcDateTime::get))
}

/// Ids of the customers of the merchant that have a profile row, sorted.
pub async fn profile_customer_ids(
    db: &DatabaseConnection,
    merchant_id: &str,
) -> Result<Vec<String>, ProfilingError> {
    Ok(profiles::Entity::find()
        .select_only()
        .column(profiles::Column::CustomerId)
        .filter(profiles::Column::MerchantId.eq(merchant_id))
        .order_by_asc(profiles::Column::CustomerId)
        .into_tuple()
        .all(db)
        .await?)
}

/// Writes predictions into the value columns of existing profile rows, one statement per
/// batch of at most [`PROFILE_BATCH`] customers (rows that do not exist are not created).
/// Returns the number of rows updated.
pub async fn write_profile_predictions(
    db: &DatabaseConnection,
    merchant_id: &str,
    predictions: &[(String, PredictedValue)],
) -> Result<u64, ProfilingError> {
    let mut updated = 0;
    for batch in predictions.chunks(PROFILE_BATCH) {
        let (sql, values) = batch_update(merchant_id, batch);
        let statement = Statement::from_sql_and_values(db.get_database_backend(), sql, values);
        updated += db.execute_raw(statement).await?.rows_affected();
    }
    Ok(updated)
}

/// `UPDATE profiles SET col = CASE customer_id WHEN ? THEN ? ... END, ... WHERE ...`:
/// portable between MariaDB and SQLite, one round trip per batch.
fn batch_update(merchant_id: &str, batch: &[(String, PredictedValue)]) -> (String, Vec<Value>) {
    type Column = fn(&PredictedValue) -> Value;
    let columns: [(&str, Column); 5] = [
        ("p_alive", |p| Value::from(p.p_alive)),
        ("expected_purchases", |p| Value::from(p.expected_purchases)),
        ("expected_spend_minor", |p| {
            Value::from(p.expected_spend_minor)
        }),
        ("clv_minor", |p| Value::from(p.clv_minor)),
        ("currency", |p| Value::from(p.currency.clone())),
    ];
    let mut values: Vec<Value> = Vec::new();
    let mut sets: Vec<String> = Vec::new();
    for (column, value_of) in columns {
        let mut case = format!("{column} = CASE customer_id");
        for (customer, prediction) in batch {
            case.push_str(" WHEN ? THEN ?");
            values.push(Value::from(customer.clone()));
            values.push(value_of(prediction));
        }
        case.push_str(&format!(" ELSE {column} END"));
        sets.push(case);
    }
    sets.push("version = version + 1".to_owned());
    sets.push("updated_at = ?".to_owned());
    values.push(Value::from(UtcDateTime::now()));
    values.push(Value::from(merchant_id.to_owned()));
    let placeholders = vec!["?"; batch.len()].join(", ");
    for (customer, _) in batch {
        values.push(Value::from(customer.clone()));
    }
    let sql = format!(
        "UPDATE profiles SET {} WHERE merchant_id = ? AND customer_id IN ({placeholders})",
        sets.join(", ")
    );
    (sql, values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_update_binds_every_customer_once_per_column() {
        let prediction = PredictedValue {
            p_alive: 0.5,
            expected_purchases: 1.5,
            expected_aov_minor: Some(100),
            expected_spend_minor: Some(150),
            clv_minor: None,
            currency: "EUR".to_owned(),
            value_model: "merchants/acme/valueModels/vm-1".to_owned(),
            horizon_days: 365,
            as_of: Utc::now(),
        };
        let batch = vec![
            ("c1".to_owned(), prediction.clone()),
            ("c2".to_owned(), prediction),
        ];
        let (sql, values) = batch_update("acme", &batch);
        assert_eq!(sql.matches('?').count(), values.len());
        // 5 columns × 2 customers × (id, value) + updated_at + merchant + 2 ids.
        assert_eq!(values.len(), 5 * 2 * 2 + 1 + 1 + 2);
        assert!(sql.starts_with("UPDATE profiles SET p_alive = CASE customer_id WHEN ? THEN ?"));
        assert!(sql.ends_with("WHERE merchant_id = ? AND customer_id IN (?, ?)"));
        assert!(sql.contains("version = version + 1"));
    }
}
