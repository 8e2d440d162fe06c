//! Overload is answered, not queued: against `caravan serve` with small limits, a call over
//! `server.max_concurrent_calls` and a request that carries the process over
//! `server.max_in_flight_request_bytes` get RESOURCE_EXHAUSTED with a RetryInfo at once,
//! store nothing, leave health checks SERVING, and the same calls succeed once the load is
//! gone.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use caravan_integration_tests::customer_fixture;
use caravan_integration_tests::{Channel, ServerProcess};
use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::ingestion::v1 as pb;
use caravan_proto::caravan::ingestion::v1::ingestion_service_client::IngestionServiceClient;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tonic_types::StatusExt;

const MERCHANT: &str = "merchants/acme";

fn page_view(id: usize, uri_bytes: usize) -> pb::Event {
    pb::Event {
        event_id: format!("e-{id}"),
        customer_identifiers: vec![common::CustomerIdentifier {
            kind: common::IdentifierKind::DeviceId as i32,
            value: format!("visitor-{id}"),
            issuer: String::new(),
        }],
        occur_time: Some(prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 0,
        }),
        payload: Some(pb::event::Payload::PageView(pb::PageViewEvent {
            uri: format!("https://shop.example/{}", "p".repeat(uri_bytes)),
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn batch(events: Vec<pb::Event>) -> pb::BatchIngestEventsRequest {
    pb::BatchIngestEventsRequest {
        parent: MERCHANT.to_owned(),
        events,
        validate_only: false,
    }
}

async fn stored_events(client: &mut IngestionServiceClient<Channel>) -> Result<usize> {
    Ok(client
        .list_events(pb::ListEventsRequest {
            parent: MERCHANT.to_owned(),
            page_size: 1000,
            ..Default::default()
        })
        .await?
        .into_inner()
        .events
        .len())
}

fn expect_shed(status: &tonic::Status) -> Result<()> {
    ensure!(
        status.code() == Code::ResourceExhausted,
        "expected RESOURCE_EXHAUSTED, got {status:?}"
    );
    ensure!(
        status.get_error_details().retry_info().is_some(),
        "no RetryInfo: {status:?}"
    );
    Ok(())
}

async fn expect_serving(server: &ServerProcess) -> Result<()> {
    let status = HealthClient::new(server.channel().await?)
        .check(HealthCheckRequest {
            service: "caravan.ingestion.v1.IngestionService".to_owned(),
        })
        .await?
        .into_inner()
        .status;
    ensure!(status == ServingStatus::Serving as i32, "health: {status}");
    Ok(())
}

async fn start(envs: &[(&str, &str)]) -> Result<(tempfile::TempDir, ServerProcess)> {
    let workdir = tempfile::tempdir()?;
    let server = ServerProcess::start("caravan", &["serve"], envs, workdir.path())?;
    customer_fixture::create_merchant(
        &mut IngestionServiceClient::new(server.channel().await?),
        "acme",
    )
    .await?;
    Ok((workdir, server))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_over_the_in_flight_bytes_limit_is_refused_before_it_is_stored() -> Result<()> {
    let (_dir, server) =
        start(&[("CARAVAN__SERVER__MAX_IN_FLIGHT_REQUEST_BYTES", "1048576")]).await?;
    let mut client = IngestionServiceClient::new(server.channel().await?);
    // About 2 MB: 2,000 events of ~1 KB.
    let big: Vec<pb::Event> = (0..2_000).map(|i| page_view(i, 1_000)).collect();
    let refused = client
        .batch_ingest_events(batch(big))
        .await
        .expect_err("2 MB over a 1 MiB limit");
    expect_shed(&refused)?;
    ensure!(
        stored_events(&mut client).await? == 0,
        "a refused batch stored events"
    );
    expect_serving(&server).await?;
    let small: Vec<pb::Event> = (0..100).map(|i| page_view(i, 1_000)).collect();
    let accepted = client.batch_ingest_events(batch(small)).await?.into_inner();
    ensure!(accepted.accepted_count == 100, "{accepted:?}");
    Ok(())
}

/// Waits until the server reports `n` ingestion calls in progress (its metrics endpoint):
/// the held streams have all been admitted.
async fn wait_for_calls_in_flight(server: &ServerProcess, n: u32) -> Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = server
        .metrics_address()
        .context("no metrics address logged")?;
    let wanted =
        format!("caravan_rpc_in_flight{{service=\"caravan.ingestion.v1.IngestionService\"}} {n}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await?;
        let mut text = String::new();
        stream.read_to_string(&mut text).await?;
        if text.lines().any(|l| l == wanted) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("never {n} calls in flight:\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_over_the_concurrency_limit_are_refused_until_the_load_is_gone() -> Result<()> {
    let (_dir, server) = start(&[("CARAVAN__SERVER__MAX_CONCURRENT_CALLS", "3")]).await?;
    // Three event streams opened and held: each is a call in progress.
    let mut senders = Vec::new();
    let mut streams = Vec::new();
    for s in 0..3 {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tx.send(pb::IngestEventsRequest {
            parent: MERCHANT.to_owned(),
            events: vec![page_view(1_000 + s, 10)],
            validate_only: false,
        })
        .await?;
        let mut client = IngestionServiceClient::new(server.channel().await?);
        streams.push(tokio::spawn(async move {
            client
                .ingest_events(tokio_stream::wrappers::ReceiverStream::new(rx))
                .await
        }));
        senders.push(tx);
    }
    wait_for_calls_in_flight(&server, 3).await?;
    ensure!(
        streams.iter().all(|s| !s.is_finished()),
        "a held stream ended early"
    );
    let mut client = IngestionServiceClient::new(server.channel().await?);
    let refused = client
        .get_merchant(pb::GetMerchantRequest {
            name: MERCHANT.to_owned(),
        })
        .await
        .expect_err("a fourth call over a limit of three");
    expect_shed(&refused)?;
    expect_serving(&server).await?;
    drop(senders);
    for stream in streams {
        let done = stream.await??.into_inner();
        ensure!(done.accepted_count == 1, "{done:?}");
    }
    client
        .get_merchant(pb::GetMerchantRequest {
            name: MERCHANT.to_owned(),
        })
        .await?;
    ensure!(stored_events(&mut client).await? == 3);
    Ok(())
}
