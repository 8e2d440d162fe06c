//! The failed-event store, end to end on `caravan serve` (SQLite and MariaDB): events rejected
//! by BatchIngestEvents and IngestEvents are kept with their reasons (sealed), the same event
//! rejected again is one entry with more attempts, validate-only keeps nothing, a replay
//! after the cause is gone stores the event and settles the entry, a replay of a still
//! invalid event keeps it, erasure deletes the entries naming the customer, and entries
//! expire after the retention period.

use std::time::Duration;

use anyhow::{Result, ensure};
use caravan_integration_tests::customer_fixture::{self, Backend, Suite, now, ts};
use caravan_integration_tests::{Channel, violated_fields};
use caravan_proto::caravan::ingestion::v1 as pb;
use caravan_proto::caravan::ingestion::v1::ingestion_service_client::IngestionServiceClient;
use caravan_proto::caravan::privacy::v1 as privacy_pb;
use caravan_proto::caravan::privacy::v1::export_customer_data_response::Part;
use caravan_proto::caravan::privacy::v1::privacy_service_client::PrivacyServiceClient;
use caravan_store::sea_orm::{ConnectionTrait, Statement};
use tonic::Code;

const MERCHANT: &str = "merchants/acme";
/// Free text of a rejected event that must never be stored in plaintext.
const MARKER: &str = "marker-of-a-private-search-7f3a";

fn search(event_id: &str, customer: &str, at: i64, query: &str) -> pb::Event {
    pb::Event {
        event_id: event_id.to_owned(),
        customer: customer.to_owned(),
        occur_time: ts(at),
        payload: Some(pb::event::Payload::Search(pb::SearchEvent {
            query: query.to_owned(),
            ..Default::default()
        })),
        ..Default::default()
    }
}

async fn batch(
    client: &mut IngestionServiceClient<Channel>,
    events: Vec<pb::Event>,
    validate_only: bool,
) -> Result<pb::BatchIngestEventsResponse> {
    Ok(client
        .batch_ingest_events(pb::BatchIngestEventsRequest {
            parent: MERCHANT.to_owned(),
            events,
            validate_only,
        })
        .await?
        .into_inner())
}

async fn failed(client: &mut IngestionServiceClient<Channel>) -> Result<Vec<pb::FailedEvent>> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_failed_events(pb::ListFailedEventsRequest {
                parent: MERCHANT.to_owned(),
                page_size: 2,
                page_token,
            })
            .await?
            .into_inner();
        all.extend(page.failed_events);
        if page.next_page_token.is_empty() {
            return Ok(all);
        }
        page_token = page.next_page_token;
    }
}

fn entry<'a>(entries: &'a [pb::FailedEvent], event_id: &str) -> Result<&'a pb::FailedEvent> {
    entries
        .iter()
        .find(|f| f.event.as_ref().is_some_and(|e| e.event_id == event_id))
        .ok_or_else(|| anyhow::anyhow!("{event_id} is not kept: {entries:?}"))
}

async fn rows(suite: &Suite, sql: &str) -> Result<Vec<Vec<u8>>> {
    let db = suite.store().await?;
    let backend = db.get_database_backend();
    let mut out = Vec::new();
    for row in db
        .query_all_raw(Statement::from_string(backend, sql))
        .await?
    {
        out.push(row.try_get_by_index::<Vec<u8>>(0)?);
    }
    Ok(out)
}

/// The event ids of the failed events in an export of `customer`, checked against the
/// export's summary.
async fn export_failed_event_ids(suite: &Suite, customer: &str) -> Result<Vec<String>> {
    let mut privacy = PrivacyServiceClient::new(suite.channel.clone());
    let mut stream = privacy
        .export_customer_data(privacy_pb::ExportCustomerDataRequest {
            name: format!("{MERCHANT}/customers/{customer}"),
            reveal_pii: false,
        })
        .await?
        .into_inner();
    let (mut ids, mut summary) = (Vec::new(), None);
    while let Some(message) = stream.message().await? {
        match message.part {
            Some(Part::FailedEvent(f)) => ids.push(f.event.unwrap_or_default().event_id),
            Some(Part::Summary(s)) => summary = Some(s),
            _ => {}
        }
    }
    let counted = summary.map(|s| s.failed_event_count);
    ensure!(counted == Some(ids.len() as i64), "summary {counted:?}");
    Ok(ids)
}

async fn kept_replayed_and_erased(suite: &Suite) -> Result<()> {
    let mut client = suite.ingestion();
    customer_fixture::create_merchant(&mut client, "acme").await?;
    let t = now();
    // e-future: the merchant's clock runs ahead; the event becomes valid in a few seconds.
    let future = t + 300 + 3;
    let response = batch(
        &mut client,
        vec![
            search("e-ok", "ann", t - 60, "lamp"),
            search("e-future", "ann", future, "chair"),
            search("e-bad", "bob", t - 60, ""),
            search("e-private", "cid", t + 3600, MARKER),
        ],
        false,
    )
    .await?;
    ensure!(
        (response.accepted_count, response.rejected_count) == (1, 3),
        "{response:?}"
    );
    let kept = failed(&mut client).await?;
    ensure!(kept.len() == 3, "three kept: {kept:?}");
    let bad = entry(&kept, "e-bad")?;
    ensure!(bad.attempt_count == 1 && bad.name.starts_with("merchants/acme/failedEvents/"));
    ensure!(
        bad.field_violations
            .iter()
            .any(|v| v.field.contains("query")),
        "the reasons are kept: {bad:?}"
    );
    ensure!(
        bad.expire_time.as_ref().map(|e| e.seconds)
            > bad.last_fail_time.as_ref().map(|l| l.seconds)
    );

    // Sealed at rest: the private text is nowhere in the table.
    for record in rows(suite, "SELECT record FROM failed_events").await? {
        ensure!(
            !customer_fixture::contains(&record, MARKER.as_bytes()),
            "a failed event's record holds plaintext"
        );
    }

    // The same bad event again (a client retry) is the same entry with one more attempt;
    // validate-only keeps nothing; a stream's rejections are kept too.
    batch(&mut client, vec![search("e-bad", "bob", t - 60, "")], false).await?;
    batch(&mut client, vec![search("e-vo", "bob", t - 60, "")], true).await?;
    let stream = tokio_stream::iter(vec![pb::IngestEventsRequest {
        parent: MERCHANT.to_owned(),
        events: vec![search("e-streamed", "dan", t - 60, "")],
        validate_only: false,
    }]);
    let streamed = client.ingest_events(stream).await?.into_inner();
    ensure!(streamed.rejected_count == 1, "{streamed:?}");
    let kept = failed(&mut client).await?;
    ensure!(
        kept.len() == 4,
        "e-bad once, e-vo not, e-streamed kept: {kept:?}"
    );
    ensure!(entry(&kept, "e-bad")?.attempt_count == 2);
    ensure!(entry(&kept, "e-vo").is_err());

    // Replay: the future event is valid now and is stored; the bad one stays, with one
    // more attempt; an unknown name fails the whole call and replays nothing.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let future_name = entry(&kept, "e-future")?.name.clone();
    let bad_name = entry(&kept, "e-bad")?.name.clone();
    let unknown = client
        .replay_failed_events(pb::ReplayFailedEventsRequest {
            parent: MERCHANT.to_owned(),
            names: vec![
                future_name.clone(),
                "merchants/acme/failedEvents/999999".into(),
            ],
        })
        .await
        .expect_err("an unknown name");
    ensure!(unknown.code() == Code::NotFound, "{unknown:?}");
    let refused = client
        .replay_failed_events(pb::ReplayFailedEventsRequest {
            parent: MERCHANT.to_owned(),
            names: vec![
                future_name.clone(),
                future_name.clone(),
                "failedEvents/1".into(),
            ],
        })
        .await
        .expect_err("bad names");
    ensure!(refused.code() == Code::InvalidArgument, "{refused:?}");
    ensure!(
        violated_fields(&refused) == ["names[1]", "names[2]"],
        "{:?}",
        violated_fields(&refused)
    );
    let replayed = client
        .replay_failed_events(pb::ReplayFailedEventsRequest {
            parent: MERCHANT.to_owned(),
            names: vec![future_name.clone(), bad_name.clone()],
        })
        .await?
        .into_inner();
    ensure!(
        (replayed.accepted_count, replayed.rejected_count) == (1, 1),
        "{replayed:?}"
    );
    ensure!(replayed.results[0].status == pb::EventIngestStatus::Accepted as i32);
    ensure!(replayed.results[1].status == pb::EventIngestStatus::Rejected as i32);
    client
        .get_event(pb::GetEventRequest {
            name: format!("{MERCHANT}/events/e-future"),
        })
        .await?;
    let kept = failed(&mut client).await?;
    ensure!(entry(&kept, "e-future").is_err(), "settled entries leave");
    ensure!(entry(&kept, "e-bad")?.attempt_count == 3);

    // Delete: gone, and a second delete is NOT_FOUND.
    let streamed_name = entry(&kept, "e-streamed")?.name.clone();
    client
        .delete_failed_event(pb::DeleteFailedEventRequest {
            name: streamed_name.clone(),
        })
        .await?;
    let again = client
        .delete_failed_event(pb::DeleteFailedEventRequest {
            name: streamed_name,
        })
        .await
        .expect_err("deleted");
    ensure!(again.code() == Code::NotFound, "{again:?}");

    // An export of a customer holds the failed events that name it.
    batch(
        &mut client,
        vec![search("e-ann-bad", "ann", t - 60, "")],
        false,
    )
    .await?;
    let exported = export_failed_event_ids(suite, "ann").await?;
    ensure!(exported == ["e-ann-bad"], "ann's export: {exported:?}");

    // Erasure: bob's kept event goes with bob (bob exists through a valid event).
    batch(
        &mut client,
        vec![search("e-bob", "bob", t - 30, "desk")],
        false,
    )
    .await?;
    client
        .delete_customer(pb::DeleteCustomerRequest {
            name: format!("{MERCHANT}/customers/bob"),
            reason: "erasure request of the test".to_owned(),
        })
        .await?;
    let kept = failed(&mut client).await?;
    ensure!(entry(&kept, "e-bad").is_err(), "erased with bob: {kept:?}");
    ensure!(entry(&kept, "e-private").is_ok(), "cid's entry stays");
    Ok(())
}

#[tokio::test]
async fn failed_events_on_sqlite() -> Result<()> {
    let suite = Suite::start(Backend::Sqlite)
        .await?
        .expect("sqlite always runs");
    kept_replayed_and_erased(&suite).await
}

#[tokio::test]
async fn failed_events_on_mariadb() -> Result<()> {
    let Some(suite) = Suite::start(Backend::MariaDb).await? else {
        return Ok(());
    };
    kept_replayed_and_erased(&suite).await
}

#[tokio::test]
async fn failed_events_expire() -> Result<()> {
    let suite = Suite::start_with(
        Backend::Sqlite,
        &[("CARAVAN__INGESTION__FAILED_EVENT_RETENTION_SECONDS", "2")],
    )
    .await?
    .expect("sqlite always runs");
    let mut client = suite.ingestion();
    customer_fixture::create_merchant(&mut client, "acme").await?;
    batch(
        &mut client,
        vec![search("e-bad", "ann", now() - 60, "")],
        false,
    )
    .await?;
    ensure!(failed(&mut client).await?.len() == 1, "kept at first");
    // Expired after 2 s: lists stop showing it at once, and the retention task (every
    // second with this retention) deletes the row.
    tokio::time::sleep(Duration::from_secs(4)).await;
    ensure!(failed(&mut client).await?.is_empty(), "expired");
    ensure!(
        rows(&suite, "SELECT record FROM failed_events")
            .await?
            .is_empty(),
        "the expired row is deleted"
    );
    Ok(())
}
