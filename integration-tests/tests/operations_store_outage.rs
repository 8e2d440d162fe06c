//! The database goes away under the four single-service binaries (a TCP proxy in front of
//! the real MariaDB is cut) and comes back: each reports NOT_SERVING on `grpc.health.v1`
//! while it is gone and SERVING once it is back; calls meanwhile answer UNAVAILABLE with a
//! `RetryInfo` within 2 s, never INTERNAL after the request timeout; nothing stored is lost.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use caravan_integration_tests::mysql::TestDatabase;
use caravan_integration_tests::tcp_proxy::{TcpProxy, url_address, url_with_address};
use caravan_integration_tests::{Channel, SERVICES, ServerProcess};
use caravan_proto::caravan::ingestion::v1 as ing;
use caravan_proto::caravan::ingestion::v1::ingestion_service_client::IngestionServiceClient;
use caravan_proto::caravan::marketing::v1 as mkt;
use caravan_proto::caravan::marketing::v1::strategy_scoring_service_client::StrategyScoringServiceClient;
use caravan_proto::caravan::profiling::v1 as prof;
use caravan_proto::caravan::profiling::v1::profiling_service_client::ProfilingServiceClient;
use caravan_proto::caravan::recommendation::v1 as rec;
use caravan_proto::caravan::recommendation::v1::recommendation_service_client::RecommendationServiceClient;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_types::StatusExt;

const MERCHANT: &str = "merchants/acme";

const BINARIES: [(&str, &str); 4] = [
    ("caravan-ingestion", SERVICES[0]),
    ("caravan-profiling", SERVICES[1]),
    ("caravan-recommendation", SERVICES[2]),
    ("caravan-marketing", SERVICES[3]),
];

type Call = Pin<Box<dyn Future<Output = Result<(), tonic::Status>> + Send>>;

/// One list call of `binary`'s service, which reads the store.
fn list_call(binary: &str, channel: Channel) -> Call {
    let parent = MERCHANT.to_owned();
    match binary {
        "caravan-ingestion" => Box::pin(async move {
            let request = ing::ListCustomersRequest {
                parent,
                ..Default::default()
            };
            IngestionServiceClient::new(channel)
                .list_customers(request)
                .await
                .map(drop)
        }),
        "caravan-profiling" => Box::pin(async move {
            let request = prof::ListProfilesRequest {
                parent,
                ..Default::default()
            };
            ProfilingServiceClient::new(channel)
                .list_profiles(request)
                .await
                .map(drop)
        }),
        "caravan-recommendation" => Box::pin(async move {
            let request = rec::ListModelsRequest {
                parent,
                ..Default::default()
            };
            RecommendationServiceClient::new(channel)
                .list_models(request)
                .await
                .map(drop)
        }),
        _ => Box::pin(async move {
            let request = mkt::ListStrategiesRequest {
                parent,
                ..Default::default()
            };
            StrategyScoringServiceClient::new(channel)
                .list_strategies(request)
                .await
                .map(drop)
        }),
    }
}

/// The merchant every call of these tests names ([`MERCHANT`]).
async fn create_acme(ingestion: &mut IngestionServiceClient<Channel>) -> Result<()> {
    ingestion
        .create_merchant(ing::CreateMerchantRequest {
            merchant_id: "acme".to_owned(),
            merchant: Some(ing::Merchant {
                display_name: "ACME".to_owned(),
                base_currency_code: "EUR".to_owned(),
                ..Default::default()
            }),
        })
        .await?;
    Ok(())
}

async fn health(server: &ServerProcess, service: &str) -> Result<ServingStatus> {
    let channel = tonic::transport::Endpoint::from_shared(server.endpoint())?
        .connect()
        .await?;
    let answer = HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest {
            service: service.to_owned(),
        })
        .await?
        .into_inner();
    Ok(ServingStatus::try_from(answer.status).unwrap_or(ServingStatus::Unknown))
}

/// Polls until every server reports `want` for its service, for at most `within`.
async fn wait_for_health(
    servers: &[(&str, &str, ServerProcess)],
    want: ServingStatus,
    within: Duration,
) -> Result<Duration> {
    let start = Instant::now();
    loop {
        let mut all = true;
        for (_, service, server) in servers {
            all &= health(server, service).await? == want;
        }
        if all {
            return Ok(start.elapsed());
        }
        if start.elapsed() > within {
            let mut seen = Vec::new();
            for (binary, service, server) in servers {
                seen.push((*binary, health(server, service).await?));
            }
            bail!("not all {want:?} after {within:?}: {seen:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_their_database_services_report_not_serving_and_answer_unavailable_at_once()
-> Result<()> {
    let Some(db) = TestDatabase::create().await? else {
        return Ok(());
    };
    let proxy = TcpProxy::start(url_address(&db.url)?).await?;
    let url = url_with_address(&db.url, proxy.addr())?;
    let workdir = tempfile::tempdir()?;
    let mut servers = Vec::new();
    for (binary, service) in BINARIES {
        let env = [
            ("CARAVAN__DATABASE__URL", url.as_str()),
            ("CARAVAN__DATABASE__HEALTH_CHECK_INTERVAL_MS", "200"),
            // Far beyond what the outage may take: an answer must come from the store
            // failure, not from the request timeout.
            ("CARAVAN__SERVER__REQUEST_TIMEOUT_MS", "30000"),
        ];
        let server = ServerProcess::start(binary, &[], &env, workdir.path())
            .with_context(|| format!("start {binary}"))?;
        servers.push((binary, service, server));
    }
    let mut ingestion = IngestionServiceClient::new(servers[0].2.channel().await?);
    create_acme(&mut ingestion).await?;
    wait_for_health(&servers, ServingStatus::Serving, Duration::from_secs(5)).await?;
    for (binary, _, server) in &servers {
        list_call(binary, server.channel().await?)
            .await
            .with_context(|| format!("{binary} before the outage"))?;
    }

    proxy.cut();
    let took = wait_for_health(&servers, ServingStatus::NotServing, Duration::from_secs(5)).await?;
    eprintln!("NOT_SERVING everywhere {took:?} after the cut");
    for (binary, _, server) in &servers {
        let channel = server.channel().await?;
        let start = Instant::now();
        let answer = list_call(binary, channel).await;
        let elapsed = start.elapsed();
        let Err(status) = answer else {
            bail!("{binary} answered a list call without its database");
        };
        ensure!(
            status.code() == tonic::Code::Unavailable,
            "{binary}: {status:?}"
        );
        ensure!(
            status.get_details_retry_info().is_some(),
            "{binary}: no RetryInfo in {status:?}"
        );
        ensure!(
            elapsed <= Duration::from_secs(2),
            "{binary} took {elapsed:?} to answer UNAVAILABLE"
        );
    }

    proxy.restore();
    let took = wait_for_health(&servers, ServingStatus::Serving, Duration::from_secs(10)).await?;
    eprintln!("SERVING everywhere {took:?} after the restore");
    for (binary, _, server) in &servers {
        list_call(binary, server.channel().await?)
            .await
            .with_context(|| format!("{binary} after the outage"))?;
    }
    let merchant = ingestion
        .get_merchant(ing::GetMerchantRequest {
            name: MERCHANT.to_owned(),
        })
        .await?
        .into_inner();
    ensure!(merchant.display_name == "ACME", "{merchant:?}");
    Ok(())
}

/// A pool whose every connection waits on a locked table is busy, not down: the readiness
/// check has a connection of its own, so the replica stays SERVING (a 30-minute soak saw 185
/// NOT_SERVING flips when the ping queued behind the calls), while the database really is
/// reachable.
#[tokio::test(flavor = "multi_thread")]
async fn a_pool_busy_with_calls_stays_serving() -> Result<()> {
    let Some(db) = TestDatabase::create().await? else {
        return Ok(());
    };
    let workdir = tempfile::tempdir()?;
    let env = [
        ("CARAVAN__DATABASE__URL", db.url.as_str()),
        ("CARAVAN__DATABASE__MAX_CONNECTIONS", "2"),
        ("CARAVAN__DATABASE__HEALTH_CHECK_INTERVAL_MS", "200"),
    ];
    let server = ServerProcess::start("caravan-ingestion", &[], &env, workdir.path())?;
    create_acme(&mut IngestionServiceClient::new(server.channel().await?)).await?;
    ensure!(health(&server, SERVICES[0]).await? == ServingStatus::Serving);

    // One session holds a write lock on `customers`; every list call then holds a pooled
    // connection while it waits for the lock.
    let locker = caravan_store::connect_pool(&db.url, caravan_store::PoolOptions::new(1)).await?;
    use sea_orm::ConnectionTrait;
    locker
        .execute_unprepared("LOCK TABLES customers WRITE")
        .await?;
    let mut calls = Vec::new();
    for _ in 0..4 {
        calls.push(tokio::spawn(list_call(
            "caravan-ingestion",
            server.channel().await?,
        )));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let start = Instant::now();
    let mut checks = 0;
    while start.elapsed() < Duration::from_secs(3) {
        let status = health(&server, SERVICES[0]).await?;
        ensure!(
            status == ServingStatus::Serving,
            "{status:?} after {:?} with the pool busy",
            start.elapsed()
        );
        checks += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pool_busy = calls.iter().filter(|c| !c.is_finished()).count();
    locker.execute_unprepared("UNLOCK TABLES").await?;
    ensure!(
        pool_busy >= 2,
        "the pool was not busy: only {pool_busy} calls still waited on the lock"
    );
    eprintln!("{checks} checks SERVING while {pool_busy} calls waited");
    for call in calls {
        // Calls that waited past the pool's acquire timeout say retry; none fail otherwise.
        if let Err(status) = call.await? {
            ensure!(status.code() == tonic::Code::Unavailable, "{status:?}");
        }
    }
    list_call("caravan-ingestion", server.channel().await?).await?;
    Ok(())
}
