//! Value models: fit, get, list, predict. Validation and proto mapping; the work is in
//! [`crate::value_model_service`].

use caravan_core::names::{parse_child_name, parse_merchant_name};
use caravan_core::paging;
use caravan_core::time_zone::MerchantTimeZone;
use caravan_platform::FieldViolations;
use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::profiling::v1 as pb;
use chrono::{DateTime, NaiveDate, Utc};
use tonic::Response;

use super::{ProfilingApi, RpcResult};
use crate::error::ProfilingError;
use crate::fitted_value_model::{
    DEFAULT_HORIZON_DAYS, FitSettings, FrequencyModelKind, ModelTimeUnit, check_value_model_id,
};
use crate::value_model_service::{self, PredictionQuery};

/// Default annual CLV discount rate (proto: "default 0.10").
const DEFAULT_DISCOUNT_RATE: f64 = 0.10;
const DEFAULT_CLV_MONTHS: i32 = 12;
/// Longest CLV horizon accepted (50 years), which bounds the work per prediction.
const MAX_CLV_MONTHS: i32 = 600;
/// Longest prediction horizon accepted (100 years).
const MAX_HORIZON_DAYS: i32 = 36_525;
const MAX_CUSTOMERS: usize = 1000;
/// A fit's time budget unless the server sets one (`profiling.value_model_fit_budget_ms`).
pub const DEFAULT_FIT_BUDGET: std::time::Duration = std::time::Duration::from_secs(600);
const DEFAULT_PAGE_SIZE: u64 = 20;
const MAX_PAGE_SIZE: u64 = 100;

fn merchant(parent: &str, field: &str) -> Result<String, ProfilingError> {
    parse_merchant_name(parent)
        .map(|m| m.as_str().to_owned())
        .map_err(|e| ProfilingError::invalid(field, e.to_string()))
}

/// `merchants/{m}/valueModels/{id}` → (m, id).
fn model_ids(name: &str, field: &str) -> Result<(String, String), ProfilingError> {
    let (merchant, id) = parse_child_name(name, "valueModels")
        .map_err(|e| ProfilingError::invalid(field, e.to_string()))?;
    check_value_model_id(&id).map_err(|e| ProfilingError::invalid(field, e))?;
    Ok((merchant.as_str().to_owned(), id))
}

fn date(d: Option<&common::Date>, field: &str, v: &mut FieldViolations) -> Option<NaiveDate> {
    let d = d?;
    let parsed = u32::try_from(d.month)
        .ok()
        .zip(u32::try_from(d.day).ok())
        .and_then(|(m, day)| NaiveDate::from_ymd_opt(d.year, m, day));
    if parsed.is_none() {
        v.add(
            field,
            format!("{}-{}-{} is not a calendar date", d.year, d.month, d.day),
        );
    }
    parsed
}

/// Validates a FitValueModelRequest into (merchant, id, settings). `today` is the current
/// UTC date: calibration and holdout must have ended.
fn fit_request(
    r: &pb::FitValueModelRequest,
    today: NaiveDate,
) -> Result<(String, Option<String>, FitSettings), ProfilingError> {
    let mut v = FieldViolations::new();
    let merchant_id = parse_merchant_name(&r.parent)
        .map_err(|e| v.add("parent", e.to_string()))
        .ok();
    let id = if r.value_model_id.is_empty() {
        None
    } else {
        if let Err(e) = check_value_model_id(&r.value_model_id) {
            v.add("value_model_id", e);
        }
        Some(r.value_model_id.clone())
    };
    // Unset: chosen by holdout error among the candidates.
    let frequency_model = match pb::FrequencyModelKind::try_from(r.frequency_model) {
        Ok(pb::FrequencyModelKind::Unspecified) => None,
        Ok(pb::FrequencyModelKind::BgNbd) => Some(FrequencyModelKind::BgNbd),
        Ok(pb::FrequencyModelKind::MbgNbd) => Some(FrequencyModelKind::MbgNbd),
        Ok(pb::FrequencyModelKind::ParetoNbd) => Some(FrequencyModelKind::ParetoNbd),
        Err(_) => {
            v.add(
                "frequency_model",
                format!("unknown value {}", r.frequency_model),
            );
            None
        }
    };
    let time_unit = match pb::TimeUnit::try_from(r.time_unit) {
        Ok(pb::TimeUnit::Unspecified | pb::TimeUnit::Week) => ModelTimeUnit::Week,
        Ok(pb::TimeUnit::Day) => ModelTimeUnit::Day,
        Ok(pb::TimeUnit::Month) => ModelTimeUnit::Month,
        Err(_) => {
            v.add("time_unit", format!("unknown value {}", r.time_unit));
            ModelTimeUnit::Week
        }
    };
    if r.calibration_end_date.is_none() {
        v.add("calibration_end_date", "is required");
    }
    let calibration_end = date(
        r.calibration_end_date.as_ref(),
        "calibration_end_date",
        &mut v,
    );
    let holdout_end = date(r.holdout_end_date.as_ref(), "holdout_end_date", &mut v);
    if let Some(c) = calibration_end
        && c > today
    {
        v.add("calibration_end_date", format!("{c} is in the future"));
    }
    if let Some(h) = holdout_end {
        if calibration_end.is_some_and(|c| h <= c) {
            v.add("holdout_end_date", "must be after calibration_end_date");
        }
        if h > today {
            v.add("holdout_end_date", format!("{h} is in the future"));
        }
    }
    let rate = if r.annual_discount_rate == 0.0 {
        DEFAULT_DISCOUNT_RATE
    } else {
        r.annual_discount_rate
    };
    if !(rate.is_finite() && (0.0..=1.0).contains(&rate)) {
        v.add("annual_discount_rate", "must be between 0 and 1");
    }
    let months = match r.clv_horizon_months {
        0 => DEFAULT_CLV_MONTHS,
        m => m,
    };
    if !(1..=MAX_CLV_MONTHS).contains(&months) {
        v.add(
            "clv_horizon_months",
            format!("must be between 1 and {MAX_CLV_MONTHS}"),
        );
    }
    v.clone().into_result()?;
    let (Some(merchant_id), Some(calibration_end)) = (merchant_id, calibration_end) else {
        // Unreachable: both missing cases added a violation above.
        return Err(ProfilingError::Invalid(v));
    };
    Ok((
        merchant_id.as_str().to_owned(),
        id,
        FitSettings {
            frequency_model,
            skip_monetary_model: r.skip_monetary_model,
            calibration_end,
            holdout_end,
            time_unit,
            annual_discount_rate: rate,
            clv_horizon_months: months,
            make_current: r.make_current,
            budget: DEFAULT_FIT_BUDGET,
            // The merchant's: start_fit reads it with the merchant.
            time_zone: MerchantTimeZone::UTC,
        },
    ))
}

#[tracing::instrument(skip_all, fields(parent = %request.parent))]
pub async fn fit(
    api: &ProfilingApi,
    request: pb::FitValueModelRequest,
) -> RpcResult<pb::ValueModel> {
    // The merchant's own today is checked by start_fit, which knows its zone.
    let latest = MerchantTimeZone::latest_date_anywhere(Utc::now());
    let (merchant_id, id, mut settings) = fit_request(&request, latest)?;
    settings.budget = api.fit_budget;
    let record = value_model_service::start_fit(&api.db, &merchant_id, id, settings).await?;
    Ok(Response::new(record.to_proto()))
}

#[tracing::instrument(skip_all, fields(name = %request.name))]
pub async fn get(
    api: &ProfilingApi,
    request: pb::GetValueModelRequest,
) -> RpcResult<pb::ValueModel> {
    let (merchant_id, id) = model_ids(&request.name, "name")?;
    let record = value_model_service::get(&api.db, &merchant_id, &id, api.fit_budget).await?;
    Ok(Response::new(record.to_proto()))
}

/// Page key: `{created_at micros}/{id}`.
fn page_key(created: DateTime<Utc>, id: &str) -> String {
    format!("{}/{id}", created.timestamp_micros())
}

fn parse_page_key(key: &str) -> Option<(DateTime<Utc>, String)> {
    let (micros, id) = key.split_once('/')?;
    let created = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
    Some((created, id.to_owned()))
}

#[tracing::instrument(skip_all, fields(parent = %request.parent))]
pub async fn list(
    api: &ProfilingApi,
    request: pb::ListValueModelsRequest,
) -> RpcResult<pb::ListValueModelsResponse> {
    let merchant_id = merchant(&request.parent, "parent")?;
    let size = match request.page_size {
        n if n < 0 => {
            return Err(ProfilingError::invalid("page_size", "must not be negative").into());
        }
        0 => DEFAULT_PAGE_SIZE,
        n => u64::try_from(n).map_or(MAX_PAGE_SIZE, |n| n.min(MAX_PAGE_SIZE)),
    };
    let print = paging::request_fingerprint(&[&request.parent]);
    let bad_token =
        || ProfilingError::invalid("page_token", paging::PageError::BadToken.to_string());
    let after = match paging::decode_token(&request.page_token, print).map_err(|_| bad_token())? {
        Some(key) => Some(parse_page_key(&key).ok_or_else(bad_token)?),
        None => None,
    };
    let mut rows =
        value_model_service::list(&api.db, &merchant_id, after, size + 1, api.fit_budget).await?;
    let next_page_token = if rows.len() as u64 > size {
        rows.truncate(usize::try_from(size).unwrap_or(usize::MAX));
        rows.last()
            .map(|r| paging::encode_token(&page_key(r.created_at, &r.id), print))
            .unwrap_or_default()
    } else {
        String::new()
    };
    Ok(Response::new(pb::ListValueModelsResponse {
        value_models: rows.iter().map(|r| r.to_proto()).collect(),
        next_page_token,
    }))
}

/// Validates a PredictCustomerValueRequest into the query. `today` is the current UTC date:
/// `as_of_date` must not be after it.
fn predict_request(
    r: &pb::PredictCustomerValueRequest,
    today: NaiveDate,
) -> Result<PredictionQuery, ProfilingError> {
    let merchant_id = merchant(&r.parent, "parent")?;
    let mut v = FieldViolations::new();
    if r.customers.is_empty() {
        v.add("customers", "at least one customer is required");
    }
    if r.customers.len() > MAX_CUSTOMERS {
        v.add(
            "customers",
            format!(
                "at most {MAX_CUSTOMERS} customers, got {}",
                r.customers.len()
            ),
        );
    }
    let mut customers = Vec::with_capacity(r.customers.len());
    for (i, name) in r.customers.iter().enumerate().take(MAX_CUSTOMERS) {
        let field = format!("customers[{i}]");
        match parse_child_name(name, "customers") {
            Ok((m, _)) if m.as_str() != merchant_id => {
                v.add(field, format!("{name:?} is not a customer of {}", r.parent));
            }
            Ok((_, id)) if id.len() > 64 => {
                v.add(field, "customer id must be at most 64 characters");
            }
            Ok((_, id)) => customers.push(id),
            Err(e) => v.add(field, e.to_string()),
        }
    }
    let model = if r.value_model.is_empty() {
        None
    } else {
        match model_ids(&r.value_model, "value_model") {
            Ok((m, _)) if m != merchant_id => {
                v.add(
                    "value_model",
                    format!("is not a value model of {}", r.parent),
                );
                None
            }
            Ok((_, id)) => Some(id),
            Err(ProfilingError::Invalid(e)) => {
                for x in e.iter() {
                    v.add(x.field.clone(), x.description.clone());
                }
                None
            }
            Err(e) => return Err(e),
        }
    };
    let horizon = match r.horizon_days {
        0 => DEFAULT_HORIZON_DAYS,
        h => h,
    };
    if !(1..=MAX_HORIZON_DAYS).contains(&horizon) {
        v.add(
            "horizon_days",
            format!("must be between 1 and {MAX_HORIZON_DAYS}"),
        );
    }
    let as_of = date(r.as_of_date.as_ref(), "as_of_date", &mut v);
    if as_of.is_some_and(|d| d > today) {
        v.add("as_of_date", format!("must not be after today ({today})"));
    }
    v.into_result()?;
    Ok(PredictionQuery {
        merchant_id,
        value_model_id: model,
        customer_ids: customers,
        horizon_days: horizon,
        as_of_date: as_of,
        allow_new_customers: r.allow_new_customers,
    })
}

#[tracing::instrument(skip_all, fields(parent = %request.parent, customers = request.customers.len()))]
pub async fn predict(
    api: &ProfilingApi,
    request: pb::PredictCustomerValueRequest,
) -> RpcResult<pb::PredictCustomerValueResponse> {
    // The model's own today is checked by the prediction, which knows its zone.
    let query = predict_request(&request, MerchantTimeZone::latest_date_anywhere(Utc::now()))?;
    let (model, predictions) = value_model_service::predict(&api.db, &query).await?;
    Ok(Response::new(pb::PredictCustomerValueResponse {
        predictions: request
            .customers
            .iter()
            .zip(&predictions)
            .map(|(customer, p)| pb::CustomerValuePrediction {
                customer: customer.clone(),
                predictive_value: Some(p.to_proto()),
            })
            .collect(),
        value_model: model.name,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ymd(year: i32, month: i32, day: i32) -> Option<common::Date> {
        Some(common::Date { year, month, day })
    }

    fn fields(err: ProfilingError) -> Vec<String> {
        match err {
            ProfilingError::Invalid(v) => v.iter().map(|x| x.field.clone()).collect(),
            other => panic!("not a validation error: {other}"),
        }
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).expect("valid")
    }

    #[test]
    fn fit_defaults() {
        let r = pb::FitValueModelRequest {
            parent: "merchants/acme".to_owned(),
            calibration_end_date: ymd(2026, 6, 30),
            ..Default::default()
        };
        let (merchant, id, s) = fit_request(&r, today()).expect("valid");
        assert_eq!((merchant.as_str(), id), ("acme", None));
        assert_eq!(s.frequency_model, None, "unset: chosen");
        assert_eq!(s.time_unit, ModelTimeUnit::Week);
        assert_eq!((s.annual_discount_rate, s.clv_horizon_months), (0.1, 12));
        assert_eq!(s.holdout_end, None);
    }

    #[test]
    fn fit_violations_name_every_bad_field() {
        let r = pb::FitValueModelRequest {
            parent: "shops/acme".to_owned(),
            value_model_id: "No".to_owned(),
            frequency_model: 9,
            time_unit: 7,
            calibration_end_date: ymd(2026, 2, 30),
            holdout_end_date: ymd(2027, 1, 1),
            annual_discount_rate: 1.5,
            clv_horizon_months: -1,
            ..Default::default()
        };
        let got = fields(fit_request(&r, today()).expect_err("invalid"));
        assert_eq!(
            got,
            [
                "parent",
                "value_model_id",
                "frequency_model",
                "time_unit",
                "calibration_end_date",
                "holdout_end_date",
                "annual_discount_rate",
                "clv_horizon_months"
            ]
        );
        let missing = pb::FitValueModelRequest {
            parent: "merchants/acme".to_owned(),
            ..Default::default()
        };
        assert_eq!(
            fields(fit_request(&missing, today()).expect_err("invalid")),
            ["calibration_end_date"]
        );
        let holdout_first = pb::FitValueModelRequest {
            parent: "merchants/acme".to_owned(),
            calibration_end_date: ymd(2026, 6, 30),
            holdout_end_date: ymd(2026, 6, 30),
            annual_discount_rate: f64::NAN,
            ..Default::default()
        };
        assert_eq!(
            fields(fit_request(&holdout_first, today()).expect_err("invalid")),
            ["holdout_end_date", "annual_discount_rate"]
        );
    }

    #[test]
    fn predict_violations() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 7).expect("date");
        let r = pb::PredictCustomerValueRequest {
            parent: "merchants/acme".to_owned(),
            customers: vec![
                "merchants/acme/customers/c1".to_owned(),
                "merchants/other/customers/c2".to_owned(),
                "c3".to_owned(),
            ],
            value_model: "merchants/acme/valueModels/X".to_owned(),
            horizon_days: -5,
            as_of_date: ymd(2026, 12, 8),
            allow_new_customers: false,
        };
        assert_eq!(
            fields(predict_request(&r, today).expect_err("invalid")),
            [
                "customers[1]",
                "customers[2]",
                "value_model",
                "horizon_days",
                "as_of_date"
            ]
        );
        let too_many = pb::PredictCustomerValueRequest {
            parent: "merchants/acme".to_owned(),
            customers: vec!["merchants/acme/customers/c".to_owned(); 1001],
            as_of_date: ymd(2026, 2, 30),
            ..Default::default()
        };
        assert_eq!(
            fields(predict_request(&too_many, today).expect_err("invalid")),
            ["customers", "as_of_date"]
        );
        let ok = pb::PredictCustomerValueRequest {
            parent: "merchants/acme".to_owned(),
            customers: vec!["merchants/acme/customers/c1".to_owned()],
            value_model: "merchants/acme/valueModels/vm-1".to_owned(),
            horizon_days: 0,
            as_of_date: ymd(1997, 9, 30),
            allow_new_customers: true,
        };
        assert_eq!(
            predict_request(&ok, today).expect("valid"),
            PredictionQuery {
                merchant_id: "acme".to_owned(),
                value_model_id: Some("vm-1".to_owned()),
                customer_ids: vec!["c1".to_owned()],
                horizon_days: 365,
                as_of_date: NaiveDate::from_ymd_opt(1997, 9, 30),
                allow_new_customers: true,
            }
        );
    }

    #[test]
    fn page_keys_round_trip() {
        let t = DateTime::from_timestamp_micros(1_700_000_000_123_456).expect("valid");
        assert_eq!(
            parse_page_key(&page_key(t, "vm-1")),
            Some((t, "vm-1".to_owned()))
        );
        assert_eq!(parse_page_key("x/vm-1"), None);
    }
}
