//! Profiling on the full UCI Online Retail data, against a real `caravan serve` on a fresh
//! MariaDB database: after `caravan import online-retail`, the outbox consumer gives every
//! imported customer a profile with an RFM segment; a value model fitted on the orders
//! gives each of them a CLV; analytics count customers per country exactly as the store
//! holds them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use caravan_integration_tests::ServerProcess;
use caravan_integration_tests::mysql::TestDatabase;
use caravan_integration_tests::online_retail;
use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::profiling::v1 as pb;
use caravan_proto::caravan::profiling::v1::profiling_service_client::ProfilingServiceClient;
use caravan_proto::caravan::recommendation::v1 as rec;
use caravan_proto::caravan::recommendation::v1::recommendation_service_client::RecommendationServiceClient;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

const MERCHANT: &str = "uci-retail";
/// Customers with a CustomerID in the file (its README).
const CUSTOMERS: i64 = 4_372;

fn import(server: &ServerProcess, workdir: &std::path::Path) -> Result<()> {
    let output = online_retail::run_import(MERCHANT, server, workdir, &[])?;
    ensure!(
        output.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

async fn scalar(db: &DatabaseConnection, sql: &str) -> Result<i64> {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?
        .context("row")?;
    Ok(row.try_get_by_index::<i64>(0)?)
}

/// Waits until the profiling consumer has committed the last outbox entry.
async fn wait_for_consumer(db: &DatabaseConnection) -> Result<()> {
    let last = scalar(db, "SELECT MAX(seq) FROM outbox").await?;
    let deadline = Instant::now() + Duration::from_secs(1200);
    loop {
        let done = scalar(
            db,
            "SELECT COALESCE(MAX(last_seq), 0) FROM consumer_offsets WHERE consumer = 'profiling'",
        )
        .await?;
        if done >= last {
            return Ok(());
        }
        ensure!(Instant::now() < deadline, "consumer at {done} of {last}");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_imported_customer_gets_rfm_and_clv_and_country_counts_add_up() -> Result<()> {
    let Some(db) = TestDatabase::create().await? else {
        return Ok(());
    };
    let workdir = tempfile::tempdir()?;
    let mut server = ServerProcess::start(
        "caravan",
        &["serve"],
        &[("CARAVAN__DATABASE__URL", db.url.as_str())],
        workdir.path(),
    )?;
    import(&server, workdir.path())?;
    let store = caravan_store::connect(&db.url, 2).await?;
    let started = Instant::now();
    wait_for_consumer(&store).await?;
    eprintln!(
        "consumer caught up {:?} after the import",
        started.elapsed()
    );

    let profiles = scalar(
        &store,
        "SELECT COUNT(*) FROM profiles WHERE merchant_id = 'uci-retail'",
    )
    .await?;
    ensure!(
        profiles == CUSTOMERS,
        "{profiles} profiles for {CUSTOMERS} customers"
    );
    let without_rfm = scalar(
        &store,
        "SELECT COUNT(*) FROM profiles WHERE merchant_id = 'uci-retail' AND rfm_segment IS NULL",
    )
    .await?;
    ensure!(
        without_rfm == 0,
        "{without_rfm} profiles without an RFM segment"
    );

    let mut client = ProfilingServiceClient::new(server.channel().await?);
    // Customer 12346 ordered 74,215 units (£77,183.60) and cancelled the whole invoice with
    // a credit note of its own (C541433): no revenue, no purchase.
    let profile = client
        .get_profile(pb::GetProfileRequest {
            name: format!("merchants/{MERCHANT}/customers/12346/profile"),
            view: pb::ProfileView::Full as i32,
            reveal_pii: false,
        })
        .await?
        .into_inner();
    let tx = profile.transactions.context("transactions")?;
    ensure!(
        tx.order_count == 0 && tx.revenue.as_ref().map_or(0, |m| m.amount_minor) == 0,
        "12346: {} orders, revenue {:?}",
        tx.order_count,
        tx.revenue
    );
    let model = client
        .fit_value_model(pb::FitValueModelRequest {
            parent: format!("merchants/{MERCHANT}"),
            value_model_id: "retail-bgnbd".to_owned(),
            frequency_model: pb::FrequencyModelKind::BgNbd as i32,
            calibration_end_date: Some(common::Date {
                year: 2011,
                month: 12,
                day: 9,
            }),
            make_current: true,
            ..Default::default()
        })
        .await?
        .into_inner();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let m = client
            .get_value_model(pb::GetValueModelRequest {
                name: model.name.clone(),
            })
            .await?
            .into_inner();
        if m.state == pb::ValueModelState::Ready as i32 && m.current {
            break;
        }
        if m.state == pb::ValueModelState::Failed as i32 {
            bail!("fit failed: {}", m.error_message);
        }
        ensure!(Instant::now() < deadline, "value model not ready: {m:?}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // READY comes first; the predictions then go into the profiles batch by batch.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let without_clv = scalar(
            &store,
            "SELECT COUNT(*) FROM profiles WHERE merchant_id = 'uci-retail' AND clv_minor IS NULL",
        )
        .await?;
        if without_clv == 0 {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "{without_clv} profiles still without a CLV"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let listed = client
        .list_profiles(pb::ListProfilesRequest {
            parent: format!("merchants/{MERCHANT}"),
            filter: "predictive_value.customer_lifetime_value.amount_minor >= 0 AND transactions.rfm.recency_score >= 1".to_owned(),
            page_size: 1,
            ..Default::default()
        })
        .await?
        .into_inner();
    ensure!(
        listed.total_size == CUSTOMERS,
        "API sees {} profiles with RFM and CLV",
        listed.total_size
    );

    // Country counts: the analytics against the stored customers, bucket by bucket.
    let rows = store
        .query_all_raw(Statement::from_string(
            store.get_database_backend(),
            "SELECT country, COUNT(*) FROM customers WHERE merchant_id = 'uci-retail' GROUP BY country",
        ))
        .await?;
    let mut expected = BTreeMap::new();
    for row in rows {
        let country: Option<String> = row.try_get_by_index(0)?;
        expected.insert(
            country.unwrap_or_else(|| "UNKNOWN".to_owned()),
            row.try_get_by_index::<i64>(1)?,
        );
    }
    let analytics = client
        .get_customer_analytics(pb::GetCustomerAnalyticsRequest {
            parent: format!("merchants/{MERCHANT}"),
            dimensions: vec![
                pb::AnalyticsDimension::Country as i32,
                pb::AnalyticsDimension::RfmSegment as i32,
            ],
            ..Default::default()
        })
        .await?
        .into_inner();
    ensure!(analytics.customer_count == CUSTOMERS);
    let got: BTreeMap<String, i64> = analytics.distributions[0]
        .buckets
        .iter()
        .map(|b| (b.key.clone(), b.count))
        .collect();
    ensure!(
        got == expected,
        "country counts: {got:?} vs store {expected:?}"
    );
    ensure!(
        got.get("GB").copied().unwrap_or(0) > 3_900,
        "most customers are in the UK: {got:?}"
    );
    let segments = analytics.distributions[1].buckets.len();
    ensure!(
        segments >= 8
            && !analytics.distributions[1]
                .buckets
                .iter()
                .any(|b| b.key == "UNKNOWN"),
        "{:?}",
        analytics.distributions[1]
    );

    // A long fit (Pareto/NBD on daily periods ran for more than 27 minutes in a debug build)
    // and a long training do not hold the process: SIGTERM ends it within the grace period,
    // and the model and the job say they were cut short instead of staying FITTING/RUNNING.
    let long = client
        .fit_value_model(pb::FitValueModelRequest {
            parent: format!("merchants/{MERCHANT}"),
            value_model_id: "retail-pareto-daily".to_owned(),
            frequency_model: pb::FrequencyModelKind::ParetoNbd as i32,
            time_unit: pb::TimeUnit::Day as i32,
            calibration_end_date: Some(common::Date {
                year: 2011,
                month: 12,
                day: 9,
            }),
            ..Default::default()
        })
        .await?
        .into_inner();
    // An EASE training over the whole catalogue runs on a blocking thread for minutes in a
    // debug build, with no check of its own: the stop must neither wait for it nor leave the
    // job RUNNING.
    let mut recommendation = RecommendationServiceClient::new(server.channel().await?);
    let training = recommendation
        .start_training(rec::StartTrainingRequest {
            parent: format!("merchants/{MERCHANT}"),
            config: Some(rec::TrainingConfig {
                kind: rec::ModelKind::Ease as i32,
                training_window_start_time: Some(prost_types::Timestamp {
                    seconds: 1_291_161_600, // 2010-12-01
                    nanos: 0,
                }),
                training_window_end_time: Some(prost_types::Timestamp {
                    seconds: 1_323_475_200, // 2011-12-10
                    nanos: 0,
                }),
                ..Default::default()
            }),
        })
        .await?
        .into_inner();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let job = recommendation
        .get_training_job(rec::GetTrainingJobRequest {
            name: training.name.clone(),
        })
        .await?
        .into_inner();
    ensure!(
        job.state == rec::TrainingJobState::Running as i32,
        "still training after 3 s: {job:?}"
    );
    let state = client
        .get_value_model(pb::GetValueModelRequest {
            name: long.name.clone(),
        })
        .await?
        .into_inner();
    ensure!(
        state.state == pb::ValueModelState::Fitting as i32,
        "still fitting after 3 s: {state:?}"
    );
    let stopping = Instant::now();
    server.sigterm()?;
    let status = server.wait_exit(Duration::from_secs(20))?;
    ensure!(
        status.success(),
        "exit {status:?} after {:?}",
        stopping.elapsed()
    );
    eprintln!("stopped during a fit in {:?}", stopping.elapsed());
    let (state, message): (String, Option<String>) = {
        let row = store
            .query_one_raw(Statement::from_string(
                store.get_database_backend(),
                "SELECT state, error_message FROM value_models WHERE id = 'retail-pareto-daily'",
            ))
            .await?
            .context("the model row")?;
        (row.try_get_by_index(0)?, row.try_get_by_index(1)?)
    };
    ensure!(
        state == "FAILED" && message.as_deref().is_some_and(|m| m.contains("stopping")),
        "{state} {message:?}"
    );
    let (state, message): (String, Option<String>) = {
        let row = store
            .query_one_raw(Statement::from_string(
                store.get_database_backend(),
                "SELECT state, error FROM training_jobs WHERE merchant_id = 'uci-retail'",
            ))
            .await?
            .context("the training job row")?;
        (row.try_get_by_index(0)?, row.try_get_by_index(1)?)
    };
    ensure!(
        state == "FAILED" && message.as_deref().is_some_and(|m| m.contains("cancelled")),
        "training job: {state} {message:?}"
    );
    store.close().await?;
    Ok(())
}
