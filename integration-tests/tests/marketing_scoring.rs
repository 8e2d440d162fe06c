//! Ingestion -> profiling -> marketing on MariaDB: customers and orders go in through the
//! real ingestion binary; profiling (with its outbox consumer) and marketing run in this
//! process as real gRPC servers on the same database, so that one OpenTelemetry trace can
//! be checked to span marketing's RPC and the profiling hop. Scores, skips (consent,
//! frequency cap), ScoreSegment streaming, the budget plan, loyalty and Thompson sampling
//! are checked on the profiles profiling built.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use caravan_marketing::{ProfileSource, ScoringApi};
use caravan_platform::server::{self, ServiceSet};
use caravan_platform::settings::{ClientSettings, ProfilingSettings, ServerSettings};
use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::ingestion::v1 as ing;
use caravan_proto::caravan::marketing::v1 as pb;
use caravan_proto::caravan::marketing::v1::strategy_scoring_service_client::StrategyScoringServiceClient;
use caravan_proto::caravan::profiling::v1 as prof;
use caravan_proto::caravan::profiling::v1::profiling_service_client::ProfilingServiceClient;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tokio_stream::StreamExt;
use tracing_subscriber::layer::SubscriberExt;

const M: &str = "merchants/acme";
const DAY: i64 = 86_400;

fn eur(amount: i64) -> Option<common::Money> {
    Some(common::Money {
        currency_code: "EUR".to_owned(),
        amount_minor: amount,
    })
}

fn customer(id: &str, consents: &[common::ConsentChannel]) -> ing::CreateCustomerRequest {
    ing::CreateCustomerRequest {
        parent: M.to_owned(),
        customer_id: id.to_owned(),
        customer: Some(ing::Customer {
            kind: common::CustomerKind::Person as i32,
            details: Some(ing::customer::Details::Person(ing::PersonDetails {
                given_name: "Test".to_owned(),
                country_code: "DE".to_owned(),
                ..Default::default()
            })),
            consents: consents
                .iter()
                .map(|c| ing::MarketingConsent {
                    channel: *c as i32,
                    granted: true,
                    update_time: Some(prost_types::Timestamp {
                        seconds: 1_700_000_000,
                        nanos: 0,
                    }),
                    source: "test".to_owned(),
                })
                .collect(),
            ..Default::default()
        }),
    }
}

fn order(id: &str, customer: &str, at: i64, late_days: i32) -> ing::Event {
    ing::Event {
        event_id: format!("order-{id}"),
        customer: customer.to_owned(),
        occur_time: Some(prost_types::Timestamp {
            seconds: at,
            nanos: 0,
        }),
        source: "test".to_owned(),
        payload: Some(ing::event::Payload::Order(ing::OrderEvent {
            order_id: id.to_owned(),
            status: ing::OrderStatus::Delivered as i32,
            lines: vec![ing::OrderLine {
                product: format!("{M}/products/85123A"),
                quantity: 4,
                unit_price: eur(2_500),
            }],
            total: eur(10_000),
            payment: Some(ing::PaymentInfo {
                method: common::PaymentMethod::Card as i32,
                outcome: ing::PaymentOutcome::Succeeded as i32,
                ..Default::default()
            }),
            logistics: Some(ing::LogisticsInfo {
                carrier: "DHL".to_owned(),
                promised_delivery_days: Some(5),
                actual_delivery_days: Some(5 + late_days),
                shipping_cost: eur(900),
                destination_country_code: "DE".to_owned(),
                ..Default::default()
            }),
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn strategy(kind: pb::StrategyKind, parameters: pb::strategy::Parameters) -> pb::Strategy {
    pb::Strategy {
        display_name: format!("{kind:?}"),
        kind: kind as i32,
        parameters: Some(parameters),
        cost_model: Some(pb::CostModel {
            fixed_cost_per_contact: eur(20),
            cost_per_conversion: eur(100),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Polls GetProfile until profiling has built the customer's profile with `orders` orders.
async fn wait_for_profile(
    client: &mut ProfilingServiceClient<tonic::transport::Channel>,
    customer: &str,
    orders: i64,
) -> Result<prof::Profile> {
    let start = Instant::now();
    loop {
        let answer = client
            .get_profile(prof::GetProfileRequest {
                name: format!("{customer}/profile"),
                view: prof::ProfileView::Full as i32,
                reveal_pii: false,
            })
            .await;
        match answer {
            Ok(p) if p.get_ref().transactions.as_ref().map(|t| t.order_count) == Some(orders) => {
                return Ok(p.into_inner());
            }
            Err(status) if status.code() == tonic::Code::Unimplemented => {
                bail!("profiling does not implement GetProfile yet: {status:?}")
            }
            _ if start.elapsed() > Duration::from_secs(60) => {
                bail!("profile of {customer} not built in 60 s: {answer:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingestion_to_profiling_to_scoring_in_one_trace() -> Result<()> {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    tracing::subscriber::set_global_default(subscriber).context("install subscriber")?;
    caravan_platform::telemetry::install_propagator();

    let Some(mut ingestion) = caravan_integration_tests::ingestion_env::start(&[]).await? else {
        return Ok(());
    };
    let now = chrono::Utc::now().timestamp();
    ingestion
        .client
        .create_customer(customer("c1", &[common::ConsentChannel::Email]))
        .await?;
    ingestion
        .client
        .create_customer(customer("c2", &[]))
        .await?;
    let events = vec![
        order("o1", "c1", now - 90 * DAY, 0),
        order("o2", "c1", now - 50 * DAY, 3),
        order("o3", "c1", now - 10 * DAY, 2),
        order("o4", "c2", now - 300 * DAY, 0),
    ];
    let accepted = ingestion
        .client
        .batch_ingest_events(ing::BatchIngestEventsRequest {
            parent: M.to_owned(),
            events,
            validate_only: false,
        })
        .await?
        .into_inner();
    ensure!(accepted.accepted_count == 4, "{accepted:?}");

    // Profiling and marketing in this process, as real gRPC servers on the same database.
    // The services run in this process: they read what the binaries sealed.
    caravan_integration_tests::install_test_encryption_key()?;
    let db = caravan_store::connect(&ingestion.db.url, 4).await?;
    caravan_profiling::outbox_consumer::spawn(
        &db,
        &ProfilingSettings {
            consumer_poll_ms: 100,
            ..ProfilingSettings::default()
        },
    );
    let settings = ServerSettings::default();
    let profiling_listener = server::bind("127.0.0.1:0".parse()?).await?;
    let profiling_addr = profiling_listener.local_addr()?;
    let mut profiling_services = ServiceSet::new();
    profiling_services.add(caravan_profiling::ProfilingApi::new(db.clone()).into_server(16 << 20));
    let (stop_profiling, profiling_stopped) = tokio::sync::oneshot::channel::<()>();
    let profiling_settings = settings.clone();
    let profiling = tokio::spawn(async move {
        server::serve(
            &profiling_settings,
            profiling_listener,
            profiling_services,
            async {
                let _ = profiling_stopped.await;
            },
        )
        .await
    });
    let marketing_listener = server::bind("127.0.0.1:0".parse()?).await?;
    let marketing_addr = marketing_listener.local_addr()?;
    let source = ProfileSource::new(caravan_platform::client::profiling_client(
        &ClientSettings {
            profiling_addr: Some(format!("http://{profiling_addr}")),
            call_timeout_ms: Some(5_000),
            ..Default::default()
        },
    )?);
    let mut marketing_services = ServiceSet::new();
    marketing_services.add(ScoringApi::new(db.clone(), source).into_server(16 << 20));
    let (stop_marketing, marketing_stopped) = tokio::sync::oneshot::channel::<()>();
    let marketing = tokio::spawn(async move {
        server::serve(&settings, marketing_listener, marketing_services, async {
            let _ = marketing_stopped.await;
        })
        .await
    });

    let mut profiling_client =
        ProfilingServiceClient::connect(format!("http://{profiling_addr}")).await?;
    let c1 = wait_for_profile(&mut profiling_client, "merchants/acme/customers/c1", 3).await?;
    wait_for_profile(&mut profiling_client, "merchants/acme/customers/c2", 1).await?;
    ensure!(
        c1.transactions
            .as_ref()
            .and_then(|t| t.logistics.as_ref())
            .map(|l| l.late_delivery_share)
            > Some(0.0),
        "late deliveries are in the profile: {c1:?}"
    );

    let mut client =
        StrategyScoringServiceClient::connect(format!("http://{marketing_addr}")).await?;
    let strategies = [
        (
            "tracking",
            strategy(
                pb::StrategyKind::TrackingUpgrade,
                pb::strategy::Parameters::TrackingUpgrade(pb::TrackingUpgradeParameters {
                    real_time_tracking: true,
                    proactive_delay_notifications: true,
                }),
            ),
        ),
        (
            "expedited",
            strategy(
                pb::StrategyKind::ExpeditedDelivery,
                pb::strategy::Parameters::ExpeditedDelivery(pb::ExpeditedDeliveryParameters {
                    days_saved: 2,
                    carrier: "DHL Express".to_owned(),
                }),
            ),
        ),
        (
            "sms-win-back",
            strategy(
                pb::StrategyKind::WinBackMessage,
                pb::strategy::Parameters::WinBackMessage(pb::WinBackMessageParameters {
                    channel: common::ConsentChannel::Sms as i32,
                    template_id: "wb-1".to_owned(),
                    min_inactive_days: 30,
                }),
            ),
        ),
    ];
    for (id, mut s) in strategies {
        if id == "tracking" {
            s.frequency_cap = Some(pb::FrequencyCap {
                max_contacts: 1,
                period: Some(prost_types::Duration {
                    seconds: 7 * DAY,
                    nanos: 0,
                }),
            });
        }
        client
            .create_strategy(pb::CreateStrategyRequest {
                parent: M.to_owned(),
                strategy_id: id.to_owned(),
                strategy: Some(s),
            })
            .await?;
    }

    // One customer: two scores, the SMS win-back skipped for want of consent.
    let scored = client
        .score_strategies(pb::ScoreStrategiesRequest {
            parent: M.to_owned(),
            customer: "merchants/acme/customers/c1".to_owned(),
            ..Default::default()
        })
        .await?
        .into_inner();
    let scores = scored.customer_scores.context("scores")?;
    ensure!(scores.scores.len() == 2, "{scores:?}");
    ensure!(scores.scores.iter().map(|s| s.rank).collect::<Vec<_>>() == vec![1, 2]);
    ensure!(
        scores
            .scores
            .iter()
            .all(|s| s.uplift > 0.0 && !s.factors.is_empty())
    );
    ensure!(
        scores
            .skipped
            .iter()
            .any(|s| s.strategy.ends_with("/sms-win-back") && s.reason.contains("SMS")),
        "{:?}",
        scores.skipped
    );
    let tracking = scores
        .scores
        .iter()
        .find(|s| s.strategy.ends_with("/tracking"))
        .context("tracking scored")?;
    ensure!(
        tracking
            .factors
            .iter()
            .any(|f| f.name == "tracking_repurchase_gain"
                && f.source == pb::FactorSource::Prior as i32),
        "the report's prior explains the score: {:?}",
        tracking.factors
    );

    // The trace: marketing's server span and profiling's GetProfile span share a trace.
    provider.force_flush()?;
    let spans = exporter.get_finished_spans()?;
    let marketing_span = spans
        .iter()
        .find(|s| s.name == "caravan.marketing.v1.StrategyScoringService/ScoreStrategies")
        .with_context(|| {
            format!(
                "no marketing span among {:?}",
                spans.iter().map(|s| s.name.to_string()).collect::<Vec<_>>()
            )
        })?;
    let trace = marketing_span.span_context.trace_id();
    ensure!(
        spans.iter().any(
            |s| s.name == "caravan.profiling.v1.ProfilingService/GetProfile"
                && s.span_context.trace_id() == trace
        ),
        "profiling's GetProfile span is in marketing's trace"
    );

    // A contact within the cap's week: tracking is now capped for c1.
    client
        .record_contacts(pb::RecordContactsRequest {
            parent: M.to_owned(),
            contacts: vec![pb::ContactRecord {
                customer: "merchants/acme/customers/c1".to_owned(),
                strategy: "merchants/acme/strategies/tracking".to_owned(),
                campaign: String::new(),
                contact_time: Some(prost_types::Timestamp {
                    seconds: now - DAY,
                    nanos: 0,
                }),
            }],
        })
        .await?;
    let capped = client
        .score_strategies(pb::ScoreStrategiesRequest {
            parent: M.to_owned(),
            customer: "merchants/acme/customers/c1".to_owned(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .customer_scores
        .context("scores")?;
    ensure!(
        capped
            .skipped
            .iter()
            .any(|s| s.strategy.ends_with("/tracking") && s.reason.contains("frequency cap")),
        "{capped:?}"
    );

    // Every customer, streamed.
    let mut stream = client
        .score_segment(pb::ScoreSegmentRequest {
            parent: M.to_owned(),
            target: Some(pb::score_segment_request::Target::Filter(String::new())),
            ..Default::default()
        })
        .await?
        .into_inner();
    let mut customers = Vec::new();
    let mut last = None;
    while let Some(message) = stream.next().await {
        let message = message?;
        customers.extend(message.customer_scores.iter().map(|c| c.customer.clone()));
        last = Some((message.scored_count, message.total_count));
    }
    customers.sort();
    ensure!(
        customers
            == vec![
                "merchants/acme/customers/c1".to_owned(),
                "merchants/acme/customers/c2".to_owned()
            ]
    );
    ensure!(last == Some((2, 2)), "{last:?}");

    // A budget plan within the budget, at most one strategy per customer.
    let plan = client
        .allocate_budget(pb::AllocateBudgetRequest {
            parent: M.to_owned(),
            budget: eur(200),
            customers: vec![
                "merchants/acme/customers/c1".to_owned(),
                "merchants/acme/customers/c2".to_owned(),
            ],
            ..Default::default()
        })
        .await?
        .into_inner();
    let used = plan.budget_used.as_ref().map_or(0, |m| m.amount_minor);
    ensure!(used <= 200, "{plan:?}");
    ensure!(plan.considered_customer_count == 2);
    let mut allocated: Vec<_> = plan
        .allocations
        .iter()
        .map(|a| a.customer.clone())
        .collect();
    allocated.dedup();
    ensure!(allocated.len() == plan.allocations.len());
    ensure!(
        used == plan
            .allocations
            .iter()
            .map(|a| a.expected_cost.as_ref().map_or(0, |m| m.amount_minor))
            .sum::<i64>()
    );

    // Loyalty and churn of the regular customer vs the lapsed one.
    let loyal = client
        .get_loyalty(pb::GetLoyaltyRequest {
            name: "merchants/acme/customers/c1/loyalty".to_owned(),
        })
        .await?
        .into_inner();
    let lapsed = client
        .get_loyalty(pb::GetLoyaltyRequest {
            name: "merchants/acme/customers/c2/loyalty".to_owned(),
        })
        .await?
        .into_inner();
    ensure!(loyal.score > lapsed.score, "{loyal:?} vs {lapsed:?}");
    ensure!((0.0..=100.0).contains(&loyal.score) && loyal.churn_risk.is_some());

    // Thompson sampling is reproducible with a seed.
    let sample = |seed| pb::SampleStrategyRequest {
        parent: M.to_owned(),
        target: Some(pb::sample_strategy_request::Target::Customer(
            "merchants/acme/customers/c1".to_owned(),
        )),
        strategies: Vec::new(),
        seed,
    };
    let a = client.sample_strategy(sample(7)).await?.into_inner();
    let b = client.sample_strategy(sample(7)).await?.into_inner();
    ensure!(a.strategy == b.strategy && !a.strategy.is_empty());
    ensure!(
        a.samples.len() == 1,
        "tracking capped, SMS not consented: only expedited competes"
    );

    custom_segment_eligibility(&mut profiling_client, &mut client).await?;

    let _ = stop_marketing.send(());
    let _ = stop_profiling.send(());
    marketing.await??;
    profiling.await??;
    Ok(())
}

/// A strategy reserved for a merchant-defined segment is scored for its members only:
/// profiling lists the customer's custom segments on the profile and marketing uses them.
async fn custom_segment_eligibility(
    profiling: &mut ProfilingServiceClient<tonic::transport::Channel>,
    client: &mut StrategyScoringServiceClient<tonic::transport::Channel>,
) -> Result<()> {
    profiling
        .create_segment(prof::CreateSegmentRequest {
            parent: M.to_owned(),
            segment_id: "frequent-buyers".to_owned(),
            segment: Some(prof::Segment {
                display_name: "Frequent buyers".to_owned(),
                filter: "transactions.order_count >= 3".to_owned(),
                ..Default::default()
            }),
        })
        .await?;
    let c1 = wait_for_profile(profiling, "merchants/acme/customers/c1", 3).await?;
    ensure!(
        c1.segments
            .contains(&"merchants/acme/segments/frequent-buyers".to_owned()),
        "{:?}",
        c1.segments
    );
    let mut vip = strategy(
        pb::StrategyKind::ExpeditedDelivery,
        pb::strategy::Parameters::ExpeditedDelivery(pb::ExpeditedDeliveryParameters {
            days_saved: 3,
            carrier: "UPS".to_owned(),
        }),
    );
    vip.eligibility = Some(pb::Eligibility {
        segments: vec!["merchants/acme/segments/frequent-buyers".to_owned()],
        ..Default::default()
    });
    client
        .create_strategy(pb::CreateStrategyRequest {
            parent: M.to_owned(),
            strategy_id: "frequent-express".to_owned(),
            strategy: Some(vip),
        })
        .await?;
    let score = |customer: &str| pb::ScoreStrategiesRequest {
        parent: M.to_owned(),
        customer: format!("merchants/acme/customers/{customer}"),
        strategies: vec!["merchants/acme/strategies/frequent-express".to_owned()],
        ..Default::default()
    };
    let member = client
        .score_strategies(score("c1"))
        .await?
        .into_inner()
        .customer_scores
        .context("scores")?;
    ensure!(
        member.scores.len() == 1 && member.skipped.is_empty(),
        "c1 has 3 orders, so it is in the segment: {member:?}"
    );
    let outsider = client
        .score_strategies(score("c2"))
        .await?
        .into_inner()
        .customer_scores
        .context("scores")?;
    ensure!(
        outsider.scores.is_empty()
            && outsider
                .skipped
                .iter()
                .any(|s| s.reason.contains("frequent-buyers")),
        "c2 has 1 order: {outsider:?}"
    );
    Ok(())
}
