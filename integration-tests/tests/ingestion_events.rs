//! Event ingestion against the real `caravan-ingestion` binary on a fresh MariaDB database:
//! every event kind round-trips, bad rows are named while good ones are stored, a stream
//! sent twice stores every event once, orders get their base-currency amounts.

use anyhow::{Context, Result, ensure};
use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::ingestion::v1 as pb;
use pb::event::Payload;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

const M: &str = "merchants/acme";

use caravan_integration_tests::ServerProcess;
use caravan_integration_tests::ingestion_env::IngestionEnv as Env;
use caravan_integration_tests::mysql::TestDatabase;
use caravan_proto::caravan::ingestion::v1::ingestion_service_client::IngestionServiceClient;

async fn start() -> Result<Option<Env>> {
    caravan_integration_tests::ingestion_env::start(&[]).await
}

async fn store(env: &Env) -> Result<DatabaseConnection> {
    Ok(caravan_store::connect(&env.db.url, 1).await?)
}

async fn count(db: &DatabaseConnection, sql: &str) -> Result<i64> {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?
        .context("count row")?;
    Ok(row.try_get_by_index::<i64>(0)?)
}

/// The outbox lists every stored event exactly once, with the customer it was stored for,
/// in rows whose `entry_count` matches their list; returns how many events it lists.
async fn expect_outbox_lists_every_event(db: &DatabaseConnection) -> Result<usize> {
    use caravan_store::entity::{events, outbox};
    use caravan_store::outbox_entries;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let stored: std::collections::HashMap<String, String> = events::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|e| (e.event_id, e.customer_id))
        .collect();
    let mut listed = std::collections::HashMap::new();
    for row in outbox::Entity::find()
        .filter(outbox::Column::Kind.eq(outbox_entries::BATCH_KIND))
        .all(db)
        .await?
    {
        let entries = outbox_entries::decode(row.entries.as_deref().unwrap_or_default())
            .context("readable outbox entries")?;
        ensure!(
            usize::try_from(row.entry_count)? == entries.len(),
            "{row:?}"
        );
        ensure!(entries.first().map(|e| &e.event_id) == Some(&row.event_id));
        for e in entries {
            ensure!(
                listed.insert(e.event_id.clone(), e.customer_id).is_none(),
                "{} listed twice",
                e.event_id
            );
        }
    }
    ensure!(listed == stored, "outbox {listed:?} != events {stored:?}");
    Ok(listed.len())
}

/// Sends `events` in `BatchIngestEvents` calls of `size`; returns how many were accepted.
async fn send_in_batches(
    mut client: IngestionServiceClient<caravan_integration_tests::Channel>,
    events: Vec<pb::Event>,
    size: usize,
) -> Result<i64> {
    let mut accepted = 0;
    for chunk in events.chunks(size) {
        let response = client
            .batch_ingest_events(pb::BatchIngestEventsRequest {
                parent: M.to_owned(),
                events: chunk.to_vec(),
                validate_only: false,
            })
            .await?
            .into_inner();
        accepted += response.accepted_count;
    }
    Ok(accepted)
}

fn ts(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}

fn money(currency: &str, amount: i64) -> Option<common::Money> {
    Some(common::Money {
        currency_code: currency.to_owned(),
        amount_minor: amount,
    })
}

fn product(sku: &str) -> String {
    format!("{M}/products/{sku}")
}

fn event(id: &str, customer: &str, at: i64, payload: Payload) -> pb::Event {
    pb::Event {
        event_id: id.to_owned(),
        customer: customer.to_owned(),
        occur_time: ts(at),
        session_id: "s-1".to_owned(),
        source: "web-tracker".to_owned(),
        payload: Some(payload),
        ..Default::default()
    }
}

fn order(order_id: &str, status: pb::OrderStatus, currency: &str) -> pb::OrderEvent {
    pb::OrderEvent {
        order_id: order_id.to_owned(),
        status: status as i32,
        lines: vec![pb::OrderLine {
            product: product("85123A"),
            quantity: 6,
            unit_price: money(currency, 255),
        }],
        total: money(currency, 1530),
        payment: Some(pb::PaymentInfo {
            method: common::PaymentMethod::Alipay as i32,
            outcome: pb::PaymentOutcome::Succeeded as i32,
            ..Default::default()
        }),
        logistics: Some(pb::LogisticsInfo {
            carrier: "DHL".to_owned(),
            promised_delivery_days: Some(7),
            shipping_cost: money(currency, 500),
            tracking_offered: true,
            destination_country_code: "GB".to_owned(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// One example of every payload kind, product references already in resource-name form
/// (the form they are stored and returned in).
fn every_kind() -> Vec<Payload> {
    vec![
        Payload::SessionStart(pb::SessionStartEvent {
            device_type: common::DeviceType::Mobile as i32,
            os: "iOS 17".to_owned(),
            traffic_source: common::TrafficSource::ShortVideo as i32,
            ip_country_code: "DE".to_owned(),
            landing_page_uri: "https://shop.example/".to_owned(),
            ..Default::default()
        }),
        Payload::PageView(pb::PageViewEvent {
            uri: "https://shop.example/mugs".to_owned(),
            page_type: pb::PageType::Category as i32,
            dwell_seconds: 12,
        }),
        Payload::Search(pb::SearchEvent {
            query: "heart holder".to_owned(),
            results_count: 3,
            category_path: "Home".to_owned(),
        }),
        Payload::ProductView(pb::ProductViewEvent {
            product: product("85123A"),
            dwell_seconds: 30,
        }),
        Payload::CartAdd(pb::CartChangeEvent {
            product: product("85123A"),
            quantity: 2,
            unit_price: money("EUR", 295),
        }),
        Payload::CartRemove(pb::CartChangeEvent {
            product: product("85123A"),
            quantity: 1,
            unit_price: None,
        }),
        Payload::CheckoutStep(pb::CheckoutStepEvent {
            step_number: 2,
            step_name: "payment".to_owned(),
        }),
        Payload::ContentView(pb::ContentViewEvent {
            topic: "unboxing".to_owned(),
            brand: "Acme".to_owned(),
            content_type: common::ContentType::LiveStream as i32,
            dwell_seconds: 300,
            ..Default::default()
        }),
        Payload::Favourite(pb::FavouriteEvent {
            product: product("85123A"),
            removed: false,
        }),
        Payload::Follow(pb::FollowEvent {
            target_kind: pb::FollowTargetKind::Brand as i32,
            target: "Acme".to_owned(),
            removed: false,
        }),
        Payload::Order(order("o-1", pb::OrderStatus::Placed, "EUR")),
        Payload::Review(pb::ReviewEvent {
            product: product("85123A"),
            order_id: "o-1".to_owned(),
            rating: 4,
            title: "Nice".to_owned(),
            text: "Arrived quickly".to_owned(),
            language_code: "en".to_owned(),
        }),
        Payload::AfterSalesTicket(pb::AfterSalesTicketEvent {
            ticket_id: "t-1".to_owned(),
            order_id: "o-1".to_owned(),
            topic: pb::TicketTopic::Damaged as i32,
            resolved: true,
            resolution_hours: Some(5.5),
            satisfaction: Some(4),
            text: "Box was dented".to_owned(),
        }),
        Payload::ReturnGoods(pb::ReturnEvent {
            order_id: "o-1".to_owned(),
            product: product("85123A"),
            quantity: 1,
            reason: pb::ReturnReason::Damaged as i32,
            reason_text: "cracked".to_owned(),
            refund: money("EUR", 255),
        }),
        Payload::SocialAction(pb::SocialActionEvent {
            action: pb::SocialActionKind::Referral as i32,
            platform: common::SocialPlatform::Tiktok as i32,
            target_uri: "https://shop.example/p/85123A".to_owned(),
            product: product("85123A"),
            referred_customer: format!("{M}/customers/c2"),
            comment_text: String::new(),
            audience_size: 1200,
        }),
        Payload::Inquiry(pb::InquiryEvent {
            inquiry_id: "i-1".to_owned(),
            product: product("85123A"),
            message: "MOQ and lead time?".to_owned(),
            channel: common::ContactChannel::TradeManager as i32,
            ..Default::default()
        }),
        Payload::Rfq(pb::RfqEvent {
            rfq_id: "r-1".to_owned(),
            product: product("85123A"),
            quantity: 5000,
            unit: "pieces".to_owned(),
            target_unit_price: money("USD", 120),
            deadline_time: ts(1_900_000_000),
            ..Default::default()
        }),
        Payload::SampleOrder(pb::SampleOrderEvent {
            sample_order_id: "so-1".to_owned(),
            product: product("85123A"),
            quantity: 2,
            paid: true,
            amount: money("USD", 3000),
        }),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn every_event_kind_round_trips() -> Result<()> {
    let Some(mut env) = start().await? else {
        return Ok(());
    };
    let payloads = every_kind();
    let sent: Vec<pb::Event> = payloads
        .into_iter()
        .enumerate()
        .map(|(i, payload)| {
            let b2b = matches!(
                payload,
                Payload::Inquiry(_) | Payload::Rfq(_) | Payload::SampleOrder(_)
            );
            let customer = if b2b { "b1" } else { "c1" };
            event(
                &format!("kind-{i}"),
                customer,
                1_700_000_000 + i as i64,
                payload,
            )
        })
        .collect();
    let response = env
        .client
        .batch_ingest_events(pb::BatchIngestEventsRequest {
            parent: M.to_owned(),
            events: sent.clone(),
            validate_only: false,
        })
        .await?
        .into_inner();
    ensure!(response.accepted_count == 18, "{response:?}");
    for (i, result) in response.results.iter().enumerate() {
        ensure!(result.index == i as i64);
        ensure!(result.status == pb::EventIngestStatus::Accepted as i32);
        ensure!(result.event == format!("{M}/events/kind-{i}"), "{result:?}");
    }
    for original in &sent {
        let got = env
            .client
            .get_event(pb::GetEventRequest {
                name: format!("{M}/events/{}", original.event_id),
            })
            .await?
            .into_inner();
        let mut expected_payload = original.payload.clone();
        if let Some(Payload::Order(o)) = expected_payload.as_mut() {
            // Output only: the total in the base currency (EUR = base, so unchanged).
            o.base_total = money("EUR", 1530);
        }
        ensure!(
            got.payload == expected_payload,
            "{}: {got:?}",
            original.event_id
        );
        ensure!(got.customer == format!("{M}/customers/{}", original.customer));
        ensure!(got.occur_time == original.occur_time);
        ensure!(got.session_id == "s-1" && got.source == "web-tracker");
        ensure!(got.kind != 0 && got.ingest_time.is_some());
    }

    // Implicitly created customers: kind from the events.
    for (id, kind) in [
        ("c1", common::CustomerKind::Person),
        ("b1", common::CustomerKind::Enterprise),
    ] {
        let customer = env
            .client
            .get_customer(pb::GetCustomerRequest {
                name: format!("{M}/customers/{id}"),
                reveal_pii: false,
            })
            .await?
            .into_inner();
        ensure!(customer.kind == kind as i32, "{id}: {customer:?}");
    }

    // Filtered listing.
    let orders = env
        .client
        .list_events(pb::ListEventsRequest {
            parent: M.to_owned(),
            filter: format!("customer = \"{M}/customers/c1\" AND kind = ORDER"),
            ..Default::default()
        })
        .await?
        .into_inner();
    ensure!(orders.events.len() == 1, "{orders:?}");

    let db = store(&env).await?;
    ensure!(expect_outbox_lists_every_event(&db).await? == 18);
    ensure!(
        count(
            &db,
            "SELECT COUNT(*) FROM orders WHERE order_id = 'o-1' AND status = 'PLACED' \
             AND total_minor = 1530 AND base_total_minor = 1530 AND payment_method = 'ALIPAY' \
             AND carrier = 'DHL' AND destination_country = 'GB'"
        )
        .await?
            == 1
    );
    ensure!(
        count(
            &db,
            "SELECT COUNT(*) FROM order_lines WHERE order_id = 'o-1'"
        )
        .await?
            == 1
    );
    db.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_with_bad_rows_stores_the_good_ones_and_names_the_bad_ones() -> Result<()> {
    let Some(mut env) = start().await? else {
        return Ok(());
    };
    let mut bad_quantity = order("o-2", pb::OrderStatus::Placed, "EUR");
    bad_quantity.lines[0].quantity = -6;
    let mut bad_currency = order("o-3", pb::OrderStatus::Placed, "EUR");
    bad_currency.total = money("EURO", 1);
    bad_currency.lines[0].unit_price = money("EURO", 1);
    bad_currency.logistics = None;
    let mut future = event(
        "e-4",
        "c1",
        4_000_000_000,
        Payload::PageView(pb::PageViewEvent {
            uri: "/".to_owned(),
            ..Default::default()
        }),
    );
    future.occur_time = ts(4_000_000_000);
    let events = vec![
        event(
            "e-0",
            "c1",
            1_700_000_000,
            Payload::Order(order("o-1", pb::OrderStatus::Placed, "EUR")),
        ),
        event("e-1", "c1", 1_700_000_001, Payload::Order(bad_quantity)),
        event(
            "e-2",
            "c1",
            1_700_000_002,
            Payload::Search(pb::SearchEvent {
                query: "mugs".to_owned(),
                ..Default::default()
            }),
        ),
        event("e-3", "c1", 1_700_000_003, Payload::Order(bad_currency)),
        future,
        event(
            "e-0",
            "c1",
            1_700_000_000,
            Payload::Search(pb::SearchEvent {
                query: "same id again".to_owned(),
                ..Default::default()
            }),
        ),
    ];
    let response = env
        .client
        .batch_ingest_events(pb::BatchIngestEventsRequest {
            parent: M.to_owned(),
            events,
            validate_only: false,
        })
        .await?
        .into_inner();
    ensure!(
        (
            response.accepted_count,
            response.duplicate_count,
            response.rejected_count
        ) == (2, 1, 3),
        "{response:?}"
    );
    let status = |i: usize| response.results[i].status;
    ensure!(status(0) == pb::EventIngestStatus::Accepted as i32);
    ensure!(status(1) == pb::EventIngestStatus::Rejected as i32);
    ensure!(status(2) == pb::EventIngestStatus::Accepted as i32);
    ensure!(status(3) == pb::EventIngestStatus::Rejected as i32);
    ensure!(status(4) == pb::EventIngestStatus::Rejected as i32);
    ensure!(status(5) == pb::EventIngestStatus::Duplicate as i32);
    let fields = |i: usize| -> Vec<String> {
        response.results[i]
            .field_violations
            .iter()
            .map(|v| v.field.clone())
            .collect()
    };
    ensure!(fields(1) == ["order.lines[0].quantity"], "{:?}", fields(1));
    ensure!(
        fields(3)
            == [
                "order.lines[0].unit_price.currency_code",
                "order.total.currency_code"
            ],
        "{:?}",
        fields(3)
    );
    ensure!(fields(4) == ["occur_time"], "{:?}", fields(4));
    ensure!(response.results[1].event_id == "e-1");
    ensure!(
        response.results[4].field_violations[0]
            .description
            .contains("future")
    );

    let missing = env
        .client
        .get_event(pb::GetEventRequest {
            name: format!("{M}/events/e-1"),
        })
        .await
        .expect_err("rejected events are not stored");
    ensure!(missing.code() == tonic::Code::NotFound);

    // validate_only checks without storing.
    let checked = env
        .client
        .batch_ingest_events(pb::BatchIngestEventsRequest {
            parent: M.to_owned(),
            events: vec![event(
                "e-9",
                "c1",
                1_700_000_009,
                Payload::Search(pb::SearchEvent {
                    query: "dry run".to_owned(),
                    ..Default::default()
                }),
            )],
            validate_only: true,
        })
        .await?
        .into_inner();
    ensure!(checked.accepted_count == 1 && checked.results[0].event.is_empty());

    let db = store(&env).await?;
    ensure!(count(&db, "SELECT COUNT(*) FROM events").await? == 2);
    ensure!(expect_outbox_lists_every_event(&db).await? == 2);
    db.close().await?;

    // A batch above the configured limit is refused as a whole.
    let too_many = (0..10_001)
        .map(|i| {
            event(
                &format!("x-{i}"),
                "c1",
                1_700_000_000,
                Payload::Search(pb::SearchEvent {
                    query: "q".to_owned(),
                    ..Default::default()
                }),
            )
        })
        .collect();
    let err = env
        .client
        .batch_ingest_events(pb::BatchIngestEventsRequest {
            parent: M.to_owned(),
            events: too_many,
            validate_only: false,
        })
        .await
        .expect_err("too many events");
    ensure!(err.code() == tonic::Code::InvalidArgument, "{err:?}");
    Ok(())
}

fn stream_messages() -> Vec<pb::IngestEventsRequest> {
    (0..3)
        .map(|m| pb::IngestEventsRequest {
            parent: M.to_owned(),
            validate_only: false,
            events: (0..200)
                .map(|i| {
                    let n = m * 200 + i;
                    let mut e = event(
                        &format!("stream-{n}"),
                        &format!("cust-{}", n % 17),
                        1_700_000_000 + n,
                        Payload::ProductView(pb::ProductViewEvent {
                            product: product(&format!("SKU-{}", n % 5)),
                            dwell_seconds: 5,
                        }),
                    );
                    if i == 50 {
                        // One invalid event per message.
                        e.payload = Some(Payload::ProductView(pb::ProductViewEvent {
                            product: String::new(),
                            dwell_seconds: 5,
                        }));
                    }
                    e
                })
                .collect(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_stream_sent_twice_stores_every_event_once() -> Result<()> {
    let Some(mut env) = start().await? else {
        return Ok(());
    };
    let first = env
        .client
        .ingest_events(tokio_stream::iter(stream_messages()))
        .await?
        .into_inner();
    ensure!(
        (
            first.accepted_count,
            first.duplicate_count,
            first.rejected_count
        ) == (597, 0, 3),
        "{first:?}"
    );
    let indices: Vec<i64> = first.rejections.iter().map(|r| r.index).collect();
    ensure!(indices == [50, 250, 450], "global indices: {indices:?}");
    ensure!(first.rejections[1].event_id == "stream-250");
    ensure!(first.rejections[0].field_violations[0].field == "product_view.product");

    let second = env
        .client
        .ingest_events(tokio_stream::iter(stream_messages()))
        .await?
        .into_inner();
    ensure!(
        (
            second.accepted_count,
            second.duplicate_count,
            second.rejected_count
        ) == (0, 597, 3),
        "{second:?}"
    );

    let db = store(&env).await?;
    ensure!(count(&db, "SELECT COUNT(*) FROM events").await? == 597);
    ensure!(expect_outbox_lists_every_event(&db).await? == 597);
    ensure!(count(&db, "SELECT COUNT(*) FROM customers").await? == 17);
    db.close().await?;

    // Mixing merchants in one stream is refused.
    let mut mixed = stream_messages();
    mixed[1].parent = "merchants/other".to_owned();
    let err = env
        .client
        .ingest_events(tokio_stream::iter(mixed))
        .await
        .expect_err("two merchants in one stream");
    ensure!(err.code() == tonic::Code::InvalidArgument, "{err:?}");
    Ok(())
}

/// The response of a stream does not depend on how its messages arrive or on how many the
/// service stores at once: a sender that pauses between messages and before closing (so the
/// stream ends while nothing is in flight), and a service storing one message at a time
/// with one batch transaction for all its callers.
#[tokio::test(flavor = "multi_thread")]
async fn a_stream_gets_the_same_response_however_its_messages_are_timed() -> Result<()> {
    let expect = |r: &pb::IngestEventsResponse| {
        let indices: Vec<i64> = r.rejections.iter().map(|x| x.index).collect();
        ensure!(
            (r.accepted_count, r.duplicate_count, r.rejected_count) == (597, 0, 3)
                && indices == [50, 250, 450],
            "{r:?}"
        );
        Ok(())
    };
    let Some(mut env) = start().await? else {
        return Ok(());
    };
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let sender = tokio::spawn(async move {
        for message in stream_messages() {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            tx.send(message).await?;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        anyhow::Ok(())
    });
    let slow = env
        .client
        .ingest_events(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await?
        .into_inner();
    sender.await??;
    expect(&slow)?;

    // One message per stream and one batch per replica at a time: two streams (the second
    // all duplicates) share the one turn and both finish.
    let Some(one_at_a_time) = caravan_integration_tests::ingestion_env::start(&[
        ("CARAVAN__INGESTION__STREAM_PIPELINE_DEPTH", "1"),
        ("CARAVAN__INGESTION__MAX_CONCURRENT_BATCHES", "1"),
    ])
    .await?
    else {
        return Ok(());
    };
    let (mut a, mut b) = (one_at_a_time.client.clone(), one_at_a_time.client.clone());
    let (first, second) = tokio::join!(
        a.ingest_events(tokio_stream::iter(stream_messages())),
        b.ingest_events(tokio_stream::iter(stream_messages())),
    );
    let (first, second) = (first?.into_inner(), second?.into_inner());
    ensure!(
        first.accepted_count + second.accepted_count == 597
            && first.duplicate_count + second.duplicate_count == 597
            && first.rejected_count + second.rejected_count == 6,
        "{first:?} {second:?}"
    );
    let db = store(&one_at_a_time).await?;
    ensure!(expect_outbox_lists_every_event(&db).await? == 597);
    db.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn orders_get_base_amounts_at_the_rate_of_their_date() -> Result<()> {
    let Some(mut env) = start().await? else {
        return Ok(());
    };
    let set_rate =
        |currency: &str, y: i32, m: i32, d: i32, rate: &str| pb::SetExchangeRateRequest {
            parent: M.to_owned(),
            exchange_rate: Some(pb::ExchangeRate {
                from_currency_code: currency.to_owned(),
                effective_date: Some(common::Date {
                    year: y,
                    month: m,
                    day: d,
                }),
                rate: rate.to_owned(),
                source: "manual".to_owned(),
                ..Default::default()
            }),
        };
    let rate = env
        .client
        .set_exchange_rate(set_rate("GBP", 2010, 12, 1, "1.1700"))
        .await?
        .into_inner();
    ensure!(
        rate.name == format!("{M}/exchangeRates/GBP-2010-12-01"),
        "{rate:?}"
    );
    ensure!(rate.rate == "1.17" && rate.to_currency_code == "EUR");
    env.client
        .set_exchange_rate(set_rate("GBP", 2011, 1, 1, "1.20"))
        .await?;
    let base_rate = env
        .client
        .set_exchange_rate(set_rate("EUR", 2011, 1, 1, "1"))
        .await
        .expect_err("base currency needs no rate");
    ensure!(base_rate.code() == tonic::Code::InvalidArgument);

    // 2010-12-01 (UCI invoice 536365), GBP, then its cancellation; a USD order without rate.
    let dec_2010 = 1_291_191_960; // 2010-12-01T08:26:00Z
    let mut cancel = order("C536379", pb::OrderStatus::Cancelled, "GBP");
    cancel.lines[0].quantity = 6; // positive, the status tells the direction
    let events = vec![
        event(
            "uci-order-536365",
            "12346",
            dec_2010,
            Payload::Order(order("536365", pb::OrderStatus::Placed, "GBP")),
        ),
        event(
            "uci-cancel-C536379",
            "12346",
            dec_2010 + 3600,
            Payload::Order(cancel),
        ),
        event(
            "usd-1",
            "12347",
            dec_2010,
            Payload::Order(order("usd-1", pb::OrderStatus::Placed, "USD")),
        ),
        event(
            "jan-1",
            "12347",
            dec_2010 + 40 * 86_400,
            Payload::Order(order("jan-1", pb::OrderStatus::Placed, "GBP")),
        ),
    ];
    let response = env
        .client
        .batch_ingest_events(pb::BatchIngestEventsRequest {
            parent: M.to_owned(),
            events,
            validate_only: false,
        })
        .await?
        .into_inner();
    ensure!(response.accepted_count == 4, "{response:?}");

    // Status progression of the same order: PAID later, without lines or total.
    let paid = pb::OrderEvent {
        order_id: "536365".to_owned(),
        status: pb::OrderStatus::Paid as i32,
        ..Default::default()
    };
    env.client
        .batch_ingest_events(pb::BatchIngestEventsRequest {
            parent: M.to_owned(),
            events: vec![event(
                "uci-paid-536365",
                "12346",
                dec_2010 + 60,
                Payload::Order(paid),
            )],
            validate_only: false,
        })
        .await?;

    let db = store(&env).await?;
    // 15.30 GBP * 1.17 = 17.901 EUR -> 1790 cents (half-even, below half).
    ensure!(
        count(
            &db,
            "SELECT COUNT(*) FROM orders WHERE order_id = '536365' AND status = 'PAID' \
             AND total_minor = 1530 AND base_total_minor = 1790 AND base_currency = 'EUR'"
        )
        .await?
            == 1
    );
    ensure!(
        count(
            &db,
            "SELECT COUNT(*) FROM orders WHERE order_id = 'C536379' AND status = 'CANCELLED'"
        )
        .await?
            == 1
    );
    ensure!(
        count(
            &db,
            "SELECT CAST(SUM(quantity) AS SIGNED) FROM order_lines WHERE order_id = 'C536379'"
        )
        .await?
            == 6
    );
    // January: the 2011-01-01 rate 1.20 -> 18.36 EUR.
    ensure!(
        count(
            &db,
            "SELECT base_total_minor FROM orders WHERE order_id = 'jan-1'"
        )
        .await?
            == 1836
    );
    // No USD rate yet: stored, base amount NULL.
    ensure!(
        count(
            &db,
            "SELECT COUNT(*) FROM orders WHERE order_id = 'usd-1' AND base_total_minor IS NULL"
        )
        .await?
            == 1
    );
    let got = env
        .client
        .get_event(pb::GetEventRequest {
            name: format!("{M}/events/usd-1"),
        })
        .await?
        .into_inner();
    let Some(Payload::Order(o)) = got.payload else {
        anyhow::bail!("order payload expected");
    };
    ensure!(o.base_total.is_none());

    // A rate set later fills the base amount in.
    env.client
        .set_exchange_rate(set_rate("USD", 2010, 11, 1, "0.75"))
        .await?;
    ensure!(
        count(
            &db,
            "SELECT base_total_minor FROM orders WHERE order_id = 'usd-1'"
        )
        .await?
            == 1148
    );
    let rates = env
        .client
        .list_exchange_rates(pb::ListExchangeRatesRequest {
            parent: M.to_owned(),
            ..Default::default()
        })
        .await?
        .into_inner();
    let names: Vec<&str> = rates
        .exchange_rates
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    ensure!(
        names
            == [
                "merchants/acme/exchangeRates/GBP-2011-01-01",
                "merchants/acme/exchangeRates/GBP-2010-12-01",
                "merchants/acme/exchangeRates/USD-2010-11-01"
            ],
        "{names:?}"
    );
    db.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_senders_of_the_same_events_store_each_once() -> Result<()> {
    let Some(env) = start().await? else {
        return Ok(());
    };
    let batch: Vec<pb::Event> = (0..1000)
        .map(|n| {
            event(
                &format!("race-{n}"),
                &format!("racer-{}", n % 50),
                1_700_000_000 + n,
                Payload::Order(order(
                    &format!("race-order-{}", n % 300),
                    pb::OrderStatus::Placed,
                    "EUR",
                )),
            )
        })
        .collect();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let mut client = env.client.clone();
        let events = batch.clone();
        tasks.push(tokio::spawn(async move {
            client
                .batch_ingest_events(pb::BatchIngestEventsRequest {
                    parent: M.to_owned(),
                    events,
                    validate_only: false,
                })
                .await
                .map(tonic::Response::into_inner)
        }));
    }
    let (mut accepted, mut duplicate) = (0, 0);
    for task in tasks {
        let response = task.await??;
        ensure!(response.rejected_count == 0, "{response:?}");
        accepted += response.accepted_count;
        duplicate += response.duplicate_count;
    }
    ensure!(
        (accepted, duplicate) == (1000, 3000),
        "{accepted} accepted, {duplicate} duplicates"
    );
    let db = store(&env).await?;
    ensure!(count(&db, "SELECT COUNT(*) FROM events").await? == 1000);
    ensure!(expect_outbox_lists_every_event(&db).await? == 1000);
    ensure!(count(&db, "SELECT COUNT(*) FROM orders").await? == 300);
    ensure!(count(&db, "SELECT COUNT(*) FROM customers").await? == 50);
    db.close().await?;
    Ok(())
}

/// Concurrent batches of *different* events that create the same new customers: every event
/// and every customer is stored exactly once. The InnoDB deadlock this once caused (customers
/// created in hash order) only showed under release-build load: `scripts/bench-ingest.sh
/// --streams 4` is what reproduces it; this debug-build test checks the outcome, not the race.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_batches_creating_the_same_new_customers_all_commit() -> Result<()> {
    let Some(env) = start().await? else {
        return Ok(());
    };
    let mut tasks = Vec::new();
    for sender in 0..4 {
        let events: Vec<pb::Event> = (0..2000)
            .map(|n| {
                event(
                    &format!("s{sender}-{n}"),
                    // Every sender touches all 1,500 customers, in a different order.
                    &format!("shared-{}", (n * (sender + 1) * 7) % 1500),
                    1_700_000_000 + n as i64,
                    Payload::PageView(pb::PageViewEvent {
                        uri: "https://shop.example/".to_owned(),
                        ..Default::default()
                    }),
                )
            })
            .collect();
        tasks.push(tokio::spawn(send_in_batches(
            env.client.clone(),
            events,
            500,
        )));
    }
    let mut accepted = 0;
    for task in tasks {
        accepted += task.await??;
    }
    ensure!(accepted == 8000, "{accepted} accepted");
    let db = store(&env).await?;
    ensure!(count(&db, "SELECT COUNT(*) FROM events").await? == 8000);
    ensure!(count(&db, "SELECT COUNT(*) FROM customers").await? == 1500);
    db.close().await?;
    Ok(())
}

/// Three senders report different facts of the same 200 orders at the same time: one the
/// placement (lines and total), one the payment, one the shipment. However their batches
/// interleave, every order ends with all three: no batch overwrites what a concurrent one
/// projected.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_batches_on_the_same_orders_keep_every_fact() -> Result<()> {
    let Some(env) = start().await? else {
        return Ok(());
    };
    const ORDERS: i64 = 200;
    let fact = |n: i64, status: pb::OrderStatus| {
        let mut o = order(&format!("o-{n}"), status, "EUR");
        match status {
            pb::OrderStatus::Placed => {
                o.payment = None;
                o.logistics = None;
            }
            pb::OrderStatus::Paid => {
                (o.lines, o.total, o.logistics) = (Vec::new(), None, None);
            }
            _ => {
                (o.lines, o.total, o.payment) = (Vec::new(), None, None);
            }
        }
        o
    };
    let mut tasks = Vec::new();
    for (step, status) in [
        pb::OrderStatus::Placed,
        pb::OrderStatus::Paid,
        pb::OrderStatus::Shipped,
    ]
    .into_iter()
    .enumerate()
    {
        let events: Vec<pb::Event> = (0..ORDERS)
            .map(|n| {
                event(
                    &format!("o-{n}-{step}"),
                    &format!("buyer-{}", n % 40),
                    1_700_000_000 + n * 10 + step as i64,
                    Payload::Order(fact(n, status)),
                )
            })
            .collect();
        tasks.push(tokio::spawn(send_in_batches(
            env.client.clone(),
            events,
            20,
        )));
    }
    for task in tasks {
        let accepted = task.await??;
        ensure!(accepted == ORDERS, "{accepted} accepted");
    }
    let db = store(&env).await?;
    let complete = count(
        &db,
        "SELECT COUNT(*) FROM orders WHERE status = 'SHIPPED' AND total_minor = 1530 \
         AND payment_method IS NOT NULL AND carrier = 'DHL'",
    )
    .await?;
    ensure!(
        complete == ORDERS,
        "only {complete} of {ORDERS} orders kept every fact"
    );
    ensure!(count(&db, "SELECT COUNT(*) FROM order_lines").await? == ORDERS);
    db.close().await?;
    Ok(())
}

/// A batch that only places orders skips reading the stored orders. When one of its orders
/// exists after all (here: the payment arrived first), its INSERT conflicts and the batch is
/// retried with the read, so the placement's facts are folded into the stored order.
#[tokio::test(flavor = "multi_thread")]
async fn a_placement_arriving_after_its_payment_is_folded_into_the_order() -> Result<()> {
    let Some(env) = start().await? else {
        return Ok(());
    };
    let paid = pb::OrderEvent {
        order_id: "late-1".to_owned(),
        status: pb::OrderStatus::Paid as i32,
        payment: Some(pb::PaymentInfo {
            method: common::PaymentMethod::Paypal as i32,
            outcome: pb::PaymentOutcome::Succeeded as i32,
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut placed = order("late-1", pb::OrderStatus::Placed, "EUR");
    placed.payment = None;
    let new_order = order("late-2", pb::OrderStatus::Placed, "EUR");
    let first = send_in_batches(
        env.client.clone(),
        vec![event(
            "pay-1",
            "buyer-1",
            1_700_000_100,
            Payload::Order(paid),
        )],
        10,
    )
    .await?;
    let second = send_in_batches(
        env.client.clone(),
        vec![
            event("place-1", "buyer-1", 1_700_000_000, Payload::Order(placed)),
            event(
                "place-2",
                "buyer-2",
                1_700_000_050,
                Payload::Order(new_order),
            ),
        ],
        10,
    )
    .await?;
    ensure!((first, second) == (1, 2), "accepted {first} then {second}");
    let db = store(&env).await?;
    let folded = count(
        &db,
        "SELECT COUNT(*) FROM orders WHERE order_id = 'late-1' AND status = 'PAID' \
         AND total_minor = 1530 AND payment_method = 'PAYPAL' AND carrier = 'DHL' \
         AND placed_at = '2023-11-14 22:13:20'",
    )
    .await?;
    ensure!(
        folded == 1,
        "the placement's facts were not folded into the paid order"
    );
    ensure!(count(&db, "SELECT COUNT(*) FROM orders").await? == 2);
    ensure!(count(&db, "SELECT COUNT(*) FROM order_lines").await? == 2);
    ensure!(count(&db, "SELECT COUNT(*) FROM events").await? == 3);
    ensure!(expect_outbox_lists_every_event(&db).await? == 3);
    db.close().await?;
    Ok(())
}

/// Throughput sanity check (not a benchmark): `cargo test --release -p
/// caravan-integration-tests --test ingestion_events -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "throughput probe; run explicitly"]
async fn throughput_probe() -> Result<()> {
    let Some(db) = TestDatabase::create().await? else {
        return Ok(());
    };
    // CARAVAN_PROBE_BINARY: e.g. a release build of caravan-ingestion.
    let binary = match std::env::var("CARAVAN_PROBE_BINARY") {
        Ok(path) => std::path::PathBuf::from(path),
        Err(_) => caravan_integration_tests::binary_path("caravan-ingestion")?,
    };
    let workdir = tempfile::tempdir()?;
    let mut command = std::process::Command::new(binary);
    command
        .current_dir(workdir.path())
        .env("CARAVAN__TELEMETRY__LOG_FORMAT", "json")
        .env("CARAVAN__SERVER__LISTEN_ADDR", "127.0.0.1:0")
        .env("CARAVAN__DATABASE__URL", &db.url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let server = ServerProcess::start_command(command)?;
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
    let total: i64 = 100_000;
    let messages: Vec<pb::IngestEventsRequest> = (0..total / 1000)
        .map(|m| pb::IngestEventsRequest {
            parent: M.to_owned(),
            validate_only: false,
            events: (0..1000)
                .map(|i| {
                    let n = m * 1000 + i;
                    event(
                        &format!("tp-{n}"),
                        &format!("cust-{}", n % 5000),
                        1_700_000_000 + n,
                        Payload::ProductView(pb::ProductViewEvent {
                            product: product(&format!("SKU-{}", n % 500)),
                            dwell_seconds: 5,
                        }),
                    )
                })
                .collect(),
        })
        .collect();
    let started = std::time::Instant::now();
    let response = client
        .ingest_events(tokio_stream::iter(messages))
        .await?
        .into_inner();
    let elapsed = started.elapsed();
    ensure!(response.accepted_count == total, "{response:?}");
    println!(
        "{total} events in {elapsed:?}: {:.0} events/s",
        total as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}

fn page_views(prefix: &str, n: usize) -> Vec<pb::Event> {
    (0..n)
        .map(|i| {
            event(
                &format!("{prefix}-{i}"),
                "c-1",
                1_700_000_000,
                Payload::PageView(pb::PageViewEvent {
                    uri: "/p".to_owned(),
                    ..Default::default()
                }),
            )
        })
        .collect()
}

/// A batch over `ingestion.max_batch_events` is refused while it arrives, before decoding:
/// the scanner's answer ("more than 1000"), not the decoded batch's ("100000 events"), in a
/// unary call and in the second message of a stream (whose first message is kept).
#[tokio::test(flavor = "multi_thread")]
async fn oversized_batches_are_refused_before_they_are_decoded() -> Result<()> {
    let Some(mut env) = caravan_integration_tests::ingestion_env::start(&[(
        "CARAVAN__INGESTION__MAX_BATCH_EVENTS",
        "1000",
    )])
    .await?
    else {
        return Ok(());
    };
    let refused = env
        .client
        .batch_ingest_events(pb::BatchIngestEventsRequest {
            parent: M.to_owned(),
            events: page_views("big", 100_000),
            validate_only: false,
        })
        .await
        .expect_err("100,000 events over a limit of 1,000");
    ensure!(
        refused.code() == tonic::Code::InvalidArgument,
        "{refused:?}"
    );
    ensure!(
        refused
            .message()
            .contains("events: more than 1000 events in one message"),
        "not refused before decoding: {}",
        refused.message()
    );
    let stream = vec![
        pb::IngestEventsRequest {
            parent: M.to_owned(),
            events: page_views("first", 1_000),
            validate_only: false,
        },
        pb::IngestEventsRequest {
            parent: M.to_owned(),
            events: page_views("second", 1_001),
            validate_only: false,
        },
    ];
    let refused = env
        .client
        .ingest_events(futures::stream::iter(stream))
        .await
        .expect_err("the second message is one over");
    ensure!(
        refused.code() == tonic::Code::InvalidArgument
            && refused.message().contains("more than 1000 events"),
        "{refused:?}"
    );
    let db = store(&env).await?;
    ensure!(
        count(
            &db,
            "SELECT COUNT(*) FROM events WHERE event_id LIKE 'big-%'"
        )
        .await?
            == 0,
        "a refused batch stored events"
    );
    Ok(())
}
