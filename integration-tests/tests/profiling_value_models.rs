//! Value models end to end: orders go in through the real `caravan-ingestion`, the real
//! `caravan-profiling` fits BG/NBD and Pareto/NBD (+ Gamma-Gamma) on them in the background,
//! predicts per customer and writes the current model's predictions into profiles, all on a
//! fresh MariaDB database.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use caravan_integration_tests::Channel;
use caravan_integration_tests::ServerProcess;
use caravan_integration_tests::ingestion_env::{self, IngestionEnv};
use caravan_integration_tests::violated_fields;
use caravan_profiling::fitted_value_model::{
    FittedValueModel, FrequencyParameters, ModelTimeUnit, SpendParameters,
};
use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::ingestion::v1 as ing;
use caravan_proto::caravan::profiling::v1 as pb;
use caravan_proto::caravan::profiling::v1::profiling_service_client::ProfilingServiceClient;
use chrono::{DateTime, Datelike, Utc};
use sea_orm::{ConnectionTrait, Statement};
use tonic::Code;

const M: &str = "merchants/acme";
/// 2025-01-01T12:00:00Z, day 0 of the order histories.
const BASE: i64 = 1_735_732_800;
const DAY: i64 = 86_400;

/// One customer's orders: (day, amount in EUR cents, cancelled).
type History = Vec<(i64, i64, bool)>;

/// Hand-checkable customers plus a varied population (the fit needs a few dozen).
fn customers() -> Vec<(String, History)> {
    let mut out = vec![
        // Every week from day 0 to day 210, two orders on day 0 (one purchase).
        (
            "frequent".to_owned(),
            std::iter::once((0, 500, false))
                .chain((0..=30).map(|k| (k * 7, 2_000 + 100 * (k % 3), false)))
                .collect(),
        ),
        // Four purchases in the first fortnight, then nothing.
        (
            "lapsed".to_owned(),
            (0..4).map(|k| (k * 5, 3_000, false)).collect(),
        ),
        // One purchase; a later cancelled order must not count.
        (
            "single".to_owned(),
            vec![(100, 1_500, false), (150, 9_900, true)],
        ),
    ];
    // The population, drawn the way the models assume: per customer a purchase rate
    // (exponential gaps) and a dropout chance after each purchase, both heterogeneous.
    let mut state: u64 = 42;
    let mut uniform = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    for i in 0..80 {
        let mean_gap = 5.0 + 60.0 * uniform() * uniform();
        let dropout = 0.6 * uniform() * uniform();
        let mut d = (uniform() * 60.0) as i64;
        let mut history = vec![(d, 1_000 + (uniform() * 2_000.0) as i64, false)];
        loop {
            d += 1 + (-mean_gap * uniform().ln()) as i64;
            if d > 215 || uniform() < dropout {
                break;
            }
            history.push((d, 1_000 + (uniform() * 2_000.0) as i64, false));
        }
        out.push((format!("p{i}"), history));
    }
    out
}

fn at(day: i64, k: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(BASE + day * DAY + k, 0).expect("valid instant")
}

fn money(amount: i64) -> Option<common::Money> {
    Some(common::Money {
        currency_code: "EUR".to_owned(),
        amount_minor: amount,
    })
}

fn order_events() -> Vec<ing::Event> {
    let mut events = Vec::new();
    for (customer, history) in customers() {
        for (k, (day, amount, cancelled)) in history.into_iter().enumerate() {
            let status = if cancelled {
                ing::OrderStatus::Cancelled
            } else {
                ing::OrderStatus::Placed
            };
            events.push(ing::Event {
                event_id: format!("o-{customer}-{k}"),
                customer: customer.clone(),
                occur_time: Some(prost_types::Timestamp {
                    seconds: at(day, k as i64).timestamp(),
                    nanos: 0,
                }),
                source: "test".to_owned(),
                payload: Some(ing::event::Payload::Order(ing::OrderEvent {
                    order_id: format!("{customer}-{k}"),
                    status: status as i32,
                    lines: vec![ing::OrderLine {
                        product: format!("{M}/products/sku-1"),
                        quantity: 1,
                        unit_price: money(amount),
                    }],
                    total: money(amount),
                    ..Default::default()
                })),
                ..Default::default()
            });
        }
    }
    events
}

/// The orders of a customer as profiling reads them: non-cancelled, (placed_at, amount).
fn purchases(customer: &str) -> Vec<(DateTime<Utc>, i64)> {
    customers()
        .into_iter()
        .filter(|(c, _)| c == customer)
        .flat_map(|(_, h)| h.into_iter().enumerate())
        .filter(|(_, (_, _, cancelled))| !cancelled)
        .map(|(k, (day, amount, _))| (at(day, k as i64), amount))
        .collect()
}

/// The data clock: the latest non-cancelled order.
fn latest_order() -> DateTime<Utc> {
    customers()
        .into_iter()
        .flat_map(|(c, _)| purchases(&c))
        .map(|(t, _)| t)
        .max()
        .expect("orders")
}

fn date(day: i64) -> Option<common::Date> {
    use chrono::Datelike;
    let d = at(day, 0).date_naive();
    Some(common::Date {
        year: d.year(),
        month: d.month() as i32,
        day: d.day() as i32,
    })
}

struct Env {
    ingestion: IngestionEnv,
    _profiling: ServerProcess,
    _workdir: tempfile::TempDir,
    client: ProfilingServiceClient<Channel>,
}

async fn start() -> Result<Option<Env>> {
    let Some(mut ingestion) = ingestion_env::start(&[]).await? else {
        return Ok(None);
    };
    let response = ingestion
        .client
        .batch_ingest_events(ing::BatchIngestEventsRequest {
            parent: M.to_owned(),
            events: order_events(),
            validate_only: false,
        })
        .await?
        .into_inner();
    ensure!(
        response.rejected_count == 0 && response.accepted_count == order_events().len() as i64,
        "{:?}",
        response
            .results
            .iter()
            .find(|r| !r.field_violations.is_empty())
    );
    let workdir = tempfile::tempdir()?;
    let profiling = ServerProcess::start(
        "caravan-profiling",
        &[],
        &[("CARAVAN__DATABASE__URL", ingestion.db.url.as_str())],
        workdir.path(),
    )?;
    let client = ProfilingServiceClient::new(profiling.channel().await?);
    Ok(Some(Env {
        ingestion,
        _profiling: profiling,
        _workdir: workdir,
        client,
    }))
}

async fn wait_until_done(
    client: &mut ProfilingServiceClient<Channel>,
    name: &str,
) -> Result<pb::ValueModel> {
    let start = Instant::now();
    loop {
        let model = client
            .get_value_model(pb::GetValueModelRequest {
                name: name.to_owned(),
            })
            .await?
            .into_inner();
        if model.state != pb::ValueModelState::Fitting as i32 {
            return Ok(model);
        }
        if start.elapsed() > Duration::from_secs(120) {
            bail!("{name} still FITTING after 2 minutes");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The first page of the merchant's models, at the default page size.
async fn list_all(
    client: &mut ProfilingServiceClient<Channel>,
) -> Result<pb::ListValueModelsResponse> {
    Ok(client
        .list_value_models(pb::ListValueModelsRequest {
            parent: M.to_owned(),
            ..Default::default()
        })
        .await?
        .into_inner())
}

fn fit_request(
    id: &str,
    kind: pb::FrequencyModelKind,
    make_current: bool,
) -> pb::FitValueModelRequest {
    pb::FitValueModelRequest {
        parent: M.to_owned(),
        value_model_id: id.to_owned(),
        frequency_model: kind as i32,
        calibration_end_date: date(150),
        holdout_end_date: date(220),
        make_current,
        ..Default::default()
    }
}

/// The model as the test computes with it, from what GetValueModel returned.
fn local_model(model: &pb::ValueModel) -> Result<FittedValueModel> {
    use pb::value_model::FrequencyParameters as P;
    let frequency = match model.frequency_parameters.as_ref().context("parameters")? {
        P::BgNbd(p) => FrequencyParameters::BgNbd {
            r: p.r,
            alpha: p.alpha,
            a: p.a,
            b: p.b,
        },
        P::ParetoNbd(p) => FrequencyParameters::ParetoNbd {
            r: p.r,
            alpha: p.alpha,
            s: p.s,
            beta: p.beta,
        },
        P::MbgNbd(p) => FrequencyParameters::MbgNbd {
            r: p.r,
            alpha: p.alpha,
            a: p.a,
            b: p.b,
        },
    };
    let gg = model.gamma_gamma.as_ref().context("gamma-gamma")?;
    Ok(FittedValueModel {
        name: model.name.clone(),
        frequency,
        gamma_gamma: Some(SpendParameters {
            p: gg.p,
            q: gg.q,
            // The API reports v in euros; the predictions work in cents.
            v: gg.v,
            log_likelihood: model.gamma_gamma_log_likelihood,
            amount_scale: 100.0,
        }),
        time_unit: ModelTimeUnit::Week,
        annual_discount_rate: model.annual_discount_rate,
        clv_horizon_months: model.clv_horizon_months,
        currency: "EUR".to_owned(),
        time_zone: caravan_core::time_zone::MerchantTimeZone::parse(&model.time_zone)
            .map_err(anyhow::Error::msg)?,
    })
}

async fn insert_profile_row(env: &Env, customer: &str) -> Result<()> {
    let db = caravan_store::connect(&env.ingestion.db.url, 1).await?;
    // The profile builder creates these rows; here a bare row stands in for it. IGNORE:
    // the builder may have created it already.
    db.execute_raw(Statement::from_string(
        db.get_database_backend(),
        format!(
            "INSERT IGNORE INTO profiles (merchant_id, customer_id, kind, dimensions, \
             completeness, version, updated_at) VALUES ('acme', '{customer}', 'PERSON', '{{}}', \
             0, 1, '2026-01-01 00:00:00')"
        ),
    ))
    .await?;
    db.close().await?;
    Ok(())
}

async fn profile_values(
    env: &Env,
    customer: &str,
) -> Result<(Option<f64>, Option<i64>, Option<String>)> {
    let db = caravan_store::connect(&env.ingestion.db.url, 1).await?;
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT p_alive, clv_minor, currency FROM profiles \
                 WHERE merchant_id = 'acme' AND customer_id = '{customer}'"
            ),
        ))
        .await?
        .context("profile row")?;
    let values = (
        row.try_get_by_index::<Option<f64>>(0)?,
        row.try_get_by_index::<Option<i64>>(1)?,
        row.try_get_by_index::<Option<String>>(2)?,
    );
    db.close().await?;
    Ok(values)
}

#[tokio::test(flavor = "multi_thread")]
async fn fit_get_list_and_predict_on_ingested_orders() -> Result<()> {
    let Some(mut env) = start().await? else {
        return Ok(());
    };
    let customer = |id: &str| format!("{M}/customers/{id}");

    // No model yet: nothing to predict with.
    let none = env
        .client
        .predict_customer_value(pb::PredictCustomerValueRequest {
            parent: M.to_owned(),
            customers: vec![customer("frequent")],
            ..Default::default()
        })
        .await
        .expect_err("no current model");
    ensure!(none.code() == Code::FailedPrecondition, "{none:?}");

    insert_profile_row(&env, "frequent").await?;
    insert_profile_row(&env, "lapsed").await?;

    let started = env
        .client
        .fit_value_model(fit_request("clv-bg", pb::FrequencyModelKind::BgNbd, true))
        .await?
        .into_inner();
    ensure!(
        started.name == format!("{M}/valueModels/clv-bg"),
        "{started:?}"
    );
    ensure!(started.state == pb::ValueModelState::Fitting as i32);
    ensure!(started.create_time.is_some() && !started.current);
    let bg = wait_until_done(&mut env.client, &started.name).await?;
    ensure!(bg.state == pb::ValueModelState::Ready as i32, "{bg:?}");
    ensure!(bg.current && bg.fit_time.is_some() && bg.error_message.is_empty());
    ensure!(bg.frequency_model == pb::FrequencyModelKind::BgNbd as i32);
    let Some(pb::value_model::FrequencyParameters::BgNbd(p)) = &bg.frequency_parameters else {
        bail!("no BG/NBD parameters: {bg:?}");
    };
    for v in [p.r, p.alpha, p.a, p.b] {
        ensure!(v.is_finite() && v > 0.0, "{p:?}");
    }
    ensure!(bg.log_likelihood.is_finite() && bg.log_likelihood < 0.0);
    let gg = bg.gamma_gamma.as_ref().context("gamma-gamma")?;
    ensure!(gg.p.is_finite() && gg.v.is_finite() && gg.q > 1.0, "{gg:?}");
    // Every customer bought on or before day 150 (the calibration end).
    ensure!(bg.customer_count == customers().len() as i64, "{bg:?}");
    ensure!((bg.annual_discount_rate, bg.clv_horizon_months) == (0.1, 12));
    ensure!(bg.time_unit == pb::TimeUnit::Week as i32);
    // Holdout days 151..=220: one purchase per customer per day, cancelled ones excluded.
    let holdout = bg.holdout.as_ref().context("holdout")?;
    let actual: i64 = customers()
        .iter()
        .map(|(c, _)| {
            let mut days: Vec<i64> = purchases(c)
                .iter()
                .map(|(t, _)| (t.timestamp() - BASE).div_euclid(DAY))
                .filter(|d| (151..=220).contains(d))
                .collect();
            days.dedup();
            days.len() as i64
        })
        .sum();
    ensure!(
        holdout.actual_purchases == actual,
        "{holdout:?} vs {actual}"
    );
    ensure!(holdout.customer_count == bg.customer_count);
    ensure!(holdout.predicted_purchases > 0.0 && holdout.mean_absolute_error.is_finite());

    // Predictions in request order, as the test computes them from the parameters. A
    // customer the merchant does not know is NOT_FOUND unless new customers are allowed.
    let asked = ["lapsed", "nobody-yet", "frequent", "single"];
    let unknown = env
        .client
        .predict_customer_value(pb::PredictCustomerValueRequest {
            parent: M.to_owned(),
            customers: asked.iter().map(|c| customer(c)).collect(),
            ..Default::default()
        })
        .await
        .expect_err("nobody-yet is unknown");
    ensure!(
        unknown.code() == Code::NotFound && unknown.message().contains("customers/nobody-yet"),
        "{unknown:?}"
    );
    let predicted = env
        .client
        .predict_customer_value(pb::PredictCustomerValueRequest {
            parent: M.to_owned(),
            customers: asked.iter().map(|c| customer(c)).collect(),
            allow_new_customers: true,
            ..Default::default()
        })
        .await?
        .into_inner();
    ensure!(predicted.value_model == bg.name);
    ensure!(predicted.predictions.len() == asked.len());
    let model = local_model(&bg)?;
    let as_of = latest_order();
    let mut p_alive = Vec::new();
    for (name, got) in asked.iter().zip(&predicted.predictions) {
        ensure!(got.customer == customer(name), "{got:?}");
        let value = got.predictive_value.as_ref().context("value")?;
        let expected = model.predict(&purchases(name), as_of, 365);
        ensure!(
            (value.probability_alive - expected.p_alive).abs() < 1e-9
                && (value.expected_purchases - expected.expected_purchases).abs() < 1e-9,
            "{name}: {value:?} vs {expected:?}"
        );
        let clv = value.customer_lifetime_value.as_ref().context("clv")?;
        ensure!(clv.currency_code == "EUR");
        ensure!((clv.amount_minor - expected.clv_minor.context("clv")?).abs() <= 1);
        ensure!(value.horizon_days == 365 && value.value_model == bg.name);
        p_alive.push(value.probability_alive);
    }
    // The weekly buyer is alive, the one who stopped after a fortnight much less so; a
    // customer without orders is a new customer (BG/NBD: alive until a first repeat).
    ensure!(p_alive[2] > 0.9 && p_alive[0] < p_alive[2], "{p_alive:?}");
    ensure!(p_alive[1] == 1.0, "{p_alive:?}");

    // As of an earlier day (the calibration end), later orders are ignored: the prediction
    // is the one made from the orders up to the end of that day.
    let as_of_day = DateTime::<Utc>::from_timestamp(BASE + 150 * DAY, 0).context("day")?;
    let earlier = env
        .client
        .predict_customer_value(pb::PredictCustomerValueRequest {
            parent: M.to_owned(),
            customers: vec![customer("frequent")],
            as_of_date: Some(common::Date {
                year: as_of_day.year(),
                month: as_of_day.month() as i32,
                day: as_of_day.day() as i32,
            }),
            ..Default::default()
        })
        .await?
        .into_inner();
    let value = earlier.predictions[0]
        .predictive_value
        .as_ref()
        .context("value")?;
    let end_of_day = as_of_day
        .date_naive()
        .and_hms_micro_opt(23, 59, 59, 999_999)
        .context("end of day")?
        .and_utc();
    let expected = model.predict(&purchases("frequent"), end_of_day, 365);
    ensure!(
        (value.expected_purchases - expected.expected_purchases).abs() < 1e-9
            && (value.expected_purchases
                - model
                    .predict(&purchases("frequent"), as_of, 365)
                    .expected_purchases)
                .abs()
                > 1e-6,
        "as of day 150: {value:?} vs {expected:?}"
    );

    // make_current writes the predictions into the existing profile rows, batch by batch
    // after the model is READY: wait for them.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (frequent_alive, frequent_clv, currency) = loop {
        let values = profile_values(&env, "frequent").await?;
        if values.1.is_some() || Instant::now() > deadline {
            break values;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (lapsed_alive, _, _) = profile_values(&env, "lapsed").await?;
    ensure!(
        currency.as_deref() == Some("EUR") && frequent_clv.is_some(),
        "{currency:?} {frequent_clv:?}"
    );
    ensure!(frequent_alive.context("p_alive")? > lapsed_alive.context("p_alive")?);

    // A second model, server-assigned id, not current; then a third made current.
    let pareto = env
        .client
        .fit_value_model(fit_request("", pb::FrequencyModelKind::ParetoNbd, false))
        .await?
        .into_inner();
    ensure!(
        pareto.name.starts_with(&format!("{M}/valueModels/vm-")),
        "{pareto:?}"
    );
    let pareto = wait_until_done(&mut env.client, &pareto.name).await?;
    ensure!(
        pareto.state == pb::ValueModelState::Ready as i32 && !pareto.current,
        "{pareto:?}"
    );
    ensure!(matches!(
        pareto.frequency_parameters,
        Some(pb::value_model::FrequencyParameters::ParetoNbd(_))
    ));

    // Newest first, one per page.
    let mut names = Vec::new();
    let mut token = String::new();
    loop {
        let page = env
            .client
            .list_value_models(pb::ListValueModelsRequest {
                parent: M.to_owned(),
                page_size: 1,
                page_token: token.clone(),
            })
            .await?
            .into_inner();
        ensure!(page.value_models.len() <= 1);
        names.extend(
            page.value_models
                .iter()
                .map(|m| (m.name.clone(), m.current)),
        );
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    ensure!(
        names == [(pareto.name.clone(), false), (bg.name.clone(), true)],
        "{names:?}"
    );

    // A model counts days in the merchant's time zone at fit time, and says which.
    ensure!(bg.time_zone == "UTC", "{bg:?}");
    env.ingestion
        .client
        .update_merchant(ing::UpdateMerchantRequest {
            merchant: Some(ing::Merchant {
                name: M.to_owned(),
                time_zone: "Asia/Shanghai".to_owned(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["time_zone".to_owned()],
            }),
        })
        .await?;
    let switched = env
        .client
        .fit_value_model(fit_request(
            "clv-pareto",
            pb::FrequencyModelKind::ParetoNbd,
            true,
        ))
        .await?
        .into_inner();
    let switched = wait_until_done(&mut env.client, &switched.name).await?;
    ensure!(switched.current, "{switched:?}");
    ensure!(switched.time_zone == "Asia/Shanghai", "{switched:?}");
    let all = list_all(&mut env.client).await?;
    let current: Vec<&str> = all
        .value_models
        .iter()
        .filter(|m| m.current)
        .map(|m| m.name.as_str())
        .collect();
    ensure!(current == [switched.name.as_str()], "{current:?}");

    // Naming a model picks it over the current one.
    let named = env
        .client
        .predict_customer_value(pb::PredictCustomerValueRequest {
            parent: M.to_owned(),
            customers: vec![customer("frequent")],
            value_model: bg.name.clone(),
            horizon_days: 30,
            ..Default::default()
        })
        .await?
        .into_inner();
    ensure!(named.value_model == bg.name);
    let value = named.predictions[0]
        .predictive_value
        .as_ref()
        .context("value")?;
    ensure!(value.horizon_days == 30);
    ensure!(
        (value.expected_purchases
            - model
                .predict(&purchases("frequent"), as_of, 30)
                .expected_purchases)
            .abs()
            < 1e-9
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_and_failed_fits() -> Result<()> {
    let Some(mut env) = start().await? else {
        return Ok(());
    };
    let bad = env
        .client
        .fit_value_model(pb::FitValueModelRequest {
            parent: M.to_owned(),
            value_model_id: "Bad_Id".to_owned(),
            holdout_end_date: date(10),
            annual_discount_rate: 2.0,
            clv_horizon_months: -3,
            ..Default::default()
        })
        .await
        .expect_err("invalid");
    ensure!(bad.code() == Code::InvalidArgument, "{bad:?}");
    ensure!(
        violated_fields(&bad)
            == [
                "value_model_id",
                "calibration_end_date",
                "annual_discount_rate",
                "clv_horizon_months"
            ],
        "{:?}",
        violated_fields(&bad)
    );
    let mut backwards = fit_request("clv-x", pb::FrequencyModelKind::BgNbd, false);
    backwards.holdout_end_date = date(100);
    let status = env
        .client
        .fit_value_model(backwards)
        .await
        .expect_err("holdout before calibration end");
    ensure!(
        violated_fields(&status) == ["holdout_end_date"],
        "{status:?}"
    );

    let status = env
        .client
        .predict_customer_value(pb::PredictCustomerValueRequest {
            parent: M.to_owned(),
            customers: vec![
                format!("{M}/customers/ok"),
                "merchants/other/customers/x".to_owned(),
            ],
            horizon_days: -1,
            ..Default::default()
        })
        .await
        .expect_err("invalid");
    ensure!(
        violated_fields(&status) == ["customers[1]", "horizon_days"],
        "{status:?}"
    );

    let missing = env
        .client
        .get_value_model(pb::GetValueModelRequest {
            name: format!("{M}/valueModels/nope"),
        })
        .await
        .expect_err("not found");
    ensure!(missing.code() == Code::NotFound);
    let unknown_merchant = env
        .client
        .fit_value_model(pb::FitValueModelRequest {
            parent: "merchants/nobody".to_owned(),
            calibration_end_date: date(150),
            ..Default::default()
        })
        .await
        .expect_err("unknown merchant");
    ensure!(unknown_merchant.code() == Code::NotFound);

    // Fitting on a merchant without orders fails, with the reason.
    env.ingestion
        .client
        .create_merchant(ing::CreateMerchantRequest {
            merchant_id: "empty".to_owned(),
            merchant: Some(ing::Merchant {
                display_name: "Empty".to_owned(),
                base_currency_code: "USD".to_owned(),
                ..Default::default()
            }),
        })
        .await?;
    let empty = env
        .client
        .fit_value_model(pb::FitValueModelRequest {
            parent: "merchants/empty".to_owned(),
            value_model_id: "first".to_owned(),
            calibration_end_date: date(150),
            make_current: true,
            ..Default::default()
        })
        .await?
        .into_inner();
    let failed = wait_until_done(&mut env.client, &empty.name).await?;
    ensure!(
        failed.state == pb::ValueModelState::Failed as i32,
        "{failed:?}"
    );
    ensure!(failed.error_message.contains("no orders"), "{failed:?}");
    ensure!(!failed.current);
    let again = env
        .client
        .fit_value_model(pb::FitValueModelRequest {
            parent: "merchants/empty".to_owned(),
            value_model_id: "first".to_owned(),
            calibration_end_date: date(150),
            ..Default::default()
        })
        .await
        .expect_err("id taken");
    ensure!(again.code() == Code::AlreadyExists, "{again:?}");
    // A FAILED model cannot predict.
    let status = env
        .client
        .predict_customer_value(pb::PredictCustomerValueRequest {
            parent: "merchants/empty".to_owned(),
            customers: vec!["merchants/empty/customers/c1".to_owned()],
            value_model: empty.name.clone(),
            ..Default::default()
        })
        .await
        .expect_err("failed model");
    ensure!(status.code() == Code::FailedPrecondition, "{status:?}");
    Ok(())
}

/// A process killed during a fit (kill -9, OOM) cannot mark its model FAILED. Once the fit
/// budget (default 10 minutes, plus a minute to store) has passed, reads settle it: FAILED,
/// saying why. A model still within its budget stays FITTING. Both are simulated by putting
/// finished models back to FITTING with the start times such a process would have left.
#[tokio::test(flavor = "multi_thread")]
async fn fits_left_fitting_by_a_dead_process_fail_after_the_budget() -> Result<()> {
    let Some(mut env) = start().await? else {
        return Ok(());
    };
    let mut names = Vec::new();
    for id in ["killed-long-ago", "still-running"] {
        let model = env
            .client
            .fit_value_model(fit_request(id, pb::FrequencyModelKind::BgNbd, false))
            .await?
            .into_inner();
        wait_until_done(&mut env.client, &model.name).await?;
        names.push(model.name);
    }
    let db = caravan_store::connect(&env.ingestion.db.url, 1).await?;
    for (id, minutes_ago) in [("killed-long-ago", 12), ("still-running", 2)] {
        db.execute_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "UPDATE value_models SET state = 'FITTING', error_message = NULL, \
                 fit_time = NULL, created_at = UTC_TIMESTAMP(6) - INTERVAL {minutes_ago} MINUTE \
                 WHERE merchant_id = 'acme' AND id = '{id}'"
            ),
        ))
        .await?;
    }
    let killed = env
        .client
        .get_value_model(pb::GetValueModelRequest {
            name: names[0].clone(),
        })
        .await?
        .into_inner();
    ensure!(
        killed.state == pb::ValueModelState::Failed as i32,
        "{killed:?}"
    );
    ensure!(
        killed.error_message.contains("abandoned")
            && killed.error_message.contains("value_model_fit_budget_ms"),
        "{}",
        killed.error_message
    );
    let listed = list_all(&mut env.client).await?;
    let state_of = |name: &str| {
        listed
            .value_models
            .iter()
            .find(|m| m.name == name)
            .map(|m| m.state)
    };
    ensure!(
        state_of(&names[1]) == Some(pb::ValueModelState::Fitting as i32),
        "a fit within its budget is not taken as abandoned: {listed:?}"
    );
    ensure!(state_of(&names[0]) == Some(pb::ValueModelState::Failed as i32));
    Ok(())
}
