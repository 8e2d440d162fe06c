//! SIGTERM while a call is in flight: the server stops taking new work, reports NOT_SERVING,
//! lets the call finish (here a client stream that keeps sending after the signal), and then
//! exits 0.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use caravan_integration_tests::{ServerProcess, grpcurl};
use caravan_platform::proto_time::to_timestamp;
use caravan_proto::caravan::ingestion::v1 as pb;
use caravan_proto::caravan::ingestion::v1::ingestion_service_client::IngestionServiceClient;
use tokio_stream::wrappers::ReceiverStream;

fn page_view(id: &str) -> pb::Event {
    pb::Event {
        event_id: id.to_owned(),
        customer: "c-1".to_owned(),
        occur_time: Some(to_timestamp(
            chrono::Utc::now() - chrono::Duration::minutes(5),
        )),
        payload: Some(pb::event::Payload::PageView(pb::PageViewEvent {
            uri: "https://shop.example/home".to_owned(),
            ..Default::default()
        })),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_an_in_flight_stream_finish_then_exits_zero() -> Result<()> {
    let workdir = tempfile::tempdir()?;
    let mut server = ServerProcess::start("caravan", &["serve"], &[], workdir.path())?;
    let mut client = IngestionServiceClient::new(server.channel().await?);
    client
        .create_merchant(pb::CreateMerchantRequest {
            merchant_id: "acme".to_owned(),
            merchant: Some(pb::Merchant {
                display_name: "ACME".to_owned(),
                base_currency_code: "EUR".to_owned(),
                ..Default::default()
            }),
        })
        .await?;

    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let call = tokio::spawn(async move { client.ingest_events(ReceiverStream::new(rx)).await });
    let batch = |ids: &[&str]| pb::IngestEventsRequest {
        parent: "merchants/acme".to_owned(),
        events: ids.iter().map(|id| page_view(id)).collect(),
        validate_only: false,
    };
    tx.send(batch(&["e-1", "e-2"])).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;

    server.sigterm()?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Draining: new calls are told the service is going away...
    let health = grpcurl(&[
        "-plaintext",
        "-d",
        r#"{"service":"caravan.ingestion.v1.IngestionService"}"#,
        &server.target(),
        "grpc.health.v1.Health/Check",
    ])?;
    let health_text = String::from_utf8_lossy(&health.stdout).into_owned()
        + &String::from_utf8_lossy(&health.stderr);
    ensure!(
        health_text.contains("NOT_SERVING") || !health.status.success(),
        "after SIGTERM the service must not report SERVING: {health_text}"
    );
    ensure!(
        server.wait_exit(Duration::from_millis(10)).is_err(),
        "the process must wait for the in-flight call"
    );

    // ...while the call in flight goes on and completes.
    tx.send(batch(&["e-3"])).await?;
    drop(tx);
    let response = call
        .await
        .context("join")?
        .context("in-flight call must succeed")?
        .into_inner();
    ensure!(
        response.accepted_count == 3 && response.rejected_count == 0,
        "{response:?}"
    );

    let status = server.wait_exit(Duration::from_secs(30))?;
    ensure!(status.success(), "exit status after drain: {status}");
    Ok(())
}
