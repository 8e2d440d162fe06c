//! Marketing benchmark (scripts/bench-marketing.sh):
//! 1. batch scoring: customers x strategies scored per second by the domain scorer
//!    (`caravan_marketing::scoring::score_customer`) on synthetic, seeded customer facts,
//!    one thread;
//! 2. `ScoreStrategies` latency including the profiling hop: the real ingestion binary
//!    on MariaDB, profiling (with its outbox consumer) and marketing as gRPC servers in
//!    this process, sequential calls over the ingested customers; p50/p99/max.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use caravan_marketing::customer::{Channel, CustomerFacts, Logistics, Predictive, Stage};
use caravan_marketing::priors::Priors;
use caravan_marketing::scoring::{Candidate, ResponseRate, score_customer};
use caravan_marketing::strategy::{CostModel, Eligibility, FrequencyCap, Params, StrategySpec};
use caravan_marketing::{ProfileSource, ScoringApi};
use caravan_platform::server::{self, ServiceSet};
use caravan_platform::settings::{ClientSettings, ProfilingSettings, ServerSettings};
use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::ingestion::v1 as ing;
use caravan_proto::caravan::ingestion::v1::ingestion_service_client::IngestionServiceClient;
use caravan_proto::caravan::marketing::v1 as pb;
use caravan_proto::caravan::marketing::v1::strategy_scoring_service_client::StrategyScoringServiceClient;
use caravan_proto::caravan::profiling::v1 as prof;
use caravan_proto::caravan::profiling::v1::profiling_service_client::ProfilingServiceClient;
use clap::Parser;

#[derive(Parser)]
struct Args {
    /// Synthetic customers for the batch benchmark.
    #[arg(long, default_value_t = 100_000)]
    batch_customers: usize,
    /// Customers ingested for the latency benchmark.
    #[arg(long, default_value_t = 300)]
    customers: usize,
    /// ScoreStrategies calls timed.
    #[arg(long, default_value_t = 3_000)]
    calls: usize,
}

/// A tiny deterministic generator (xorshift) so the batch input is reproducible.
struct Gen(u64);

impl Gen {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn synthetic_customer(g: &mut Gen, i: usize) -> CustomerFacts {
    CustomerFacts {
        customer: format!("merchants/bench/customers/c{i}"),
        country: Some(if g.unit() < 0.5 { "DE" } else { "FR" }.to_owned()),
        consented: if g.unit() < 0.6 {
            vec![Channel::Email]
        } else {
            vec![]
        },
        segments: vec!["loyal".to_owned()],
        rfm_segment: Some("loyal".to_owned()),
        recency_days: Some((g.unit() * 400.0) as i32),
        order_count: 1 + (g.unit() * 10.0) as i64,
        average_order_value: 2_000.0 + g.unit() * 20_000.0,
        predictive: Some(Predictive {
            probability_alive: g.unit(),
            expected_purchases: g.unit() * 2.0,
            horizon_days: 90,
            expected_order_value: 2_000.0 + g.unit() * 20_000.0,
            lifetime_value: g.unit() * 100_000.0,
        }),
        stage: if g.unit() < 0.3 {
            Stage::Evaluation
        } else {
            Stage::Loyal
        },
        discount_order_share: g.unit(),
        logistics: Logistics {
            late_delivery_share: g.unit() * 0.5,
            average_delay_days: g.unit() * 5.0,
            shipping_cost_sensitivity: g.unit(),
            tracking_usage_rate: g.unit(),
            average_shipping_cost: 500.0 + g.unit() * 1_000.0,
            post_delay_ticket_rate: g.unit() * 0.3,
        },
        payment_failure_rate: g.unit() * 0.1,
        ..CustomerFacts::default()
    }
}

/// One strategy of every kind.
fn catalogue() -> Vec<StrategySpec> {
    let kinds = vec![
        Params::Coupon {
            percent_off: Some(10.0),
            amount_off: None,
            min_spend: 1_000,
            validity_seconds: 14 * 86_400,
        },
        Params::FreeShipping {
            min_spend: 0,
            country_codes: vec![],
        },
        Params::ShippingSubsidy {
            subsidy_rate: 0.5,
            max_subsidy: Some(500),
        },
        Params::ExpeditedDelivery {
            days_saved: 2,
            carrier: "express".to_owned(),
        },
        Params::TrackingUpgrade {
            real_time_tracking: true,
            proactive_delay_notifications: true,
        },
        Params::AfterSalesGuarantee {
            free_return_days: 30,
            late_delivery_compensation: 500,
            resolution_hours: 24,
        },
        Params::LoyaltyPoints {
            points: 500,
            points_value: 500,
        },
        Params::TierUpgrade {
            target_tier: 3,
            duration_seconds: 90 * 86_400,
        },
        Params::Bundle {
            products: vec![],
            percent_off: 15.0,
        },
        Params::WinBackMessage {
            channel: Channel::Email,
            template_id: "wb".to_owned(),
            min_inactive_days: 90,
        },
        Params::SocialAdCampaign {
            platform: 1,
            budget: 1_000_000,
            expected_cpm: 8_000,
        },
    ];
    kinds
        .into_iter()
        .enumerate()
        .map(|(i, params)| StrategySpec {
            name: format!("merchants/bench/strategies/s{i}"),
            id: format!("s{i}"),
            params,
            cost: CostModel {
                fixed_cost_per_contact: 10,
                variable_cost_rate: 0.0,
                cost_per_conversion: 100,
            },
            eligibility: Eligibility::default(),
            frequency_cap: Some(FrequencyCap {
                max_contacts: 3,
                period_seconds: 30 * 86_400,
            }),
        })
        .collect()
}

fn batch(customers: usize) {
    let mut g = Gen(0x9e37_79b9_7f4a_7c15);
    let facts: Vec<CustomerFacts> = (0..customers)
        .map(|i| synthetic_customer(&mut g, i))
        .collect();
    let specs = catalogue();
    let priors = Priors::default();
    let candidates: Vec<Candidate<'_>> = specs
        .iter()
        .map(|spec| Candidate {
            spec,
            response: ResponseRate {
                rate: 0.03,
                observed: true,
            },
            contacts_in_period: 0,
        })
        .collect();
    let start = Instant::now();
    let mut evaluated = 0usize;
    let mut scored = 0usize;
    for f in &facts {
        let out = score_customer(f, &priors, &candidates);
        evaluated += candidates.len();
        scored += std::hint::black_box(out).scores.len();
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "batch: {customers} customers x {} strategies = {evaluated} evaluated ({scored} scored, rest ineligible) in {elapsed:.3} s: {:.0} strategy scores/s (1 thread)",
        candidates.len(),
        evaluated as f64 / elapsed
    );
}

fn eur(amount: i64) -> Option<common::Money> {
    Some(common::Money {
        currency_code: "EUR".to_owned(),
        amount_minor: amount,
    })
}

async fn latency(args: &Args) -> Result<()> {
    let Some(mut ingestion) = caravan_integration_tests::ingestion_env::start(&[]).await? else {
        bail!("set CARAVAN_TEST_MYSQL_URL (scripts/bench-marketing.sh does)");
    };
    // Back-to-back CreateCustomer calls can outrun a key's default rate limit: a key of our
    // own with a limit far above it.
    let key = caravan_integration_tests::create_api_key_with_rate_limit(
        &ingestion.db.url,
        "acme",
        "read,write",
        Some(1_000_000),
    )?;
    ingestion.client =
        IngestionServiceClient::new(ingestion.server.channel_with_key(Some(&key)).await?);
    let now = chrono::Utc::now().timestamp();
    let mut events = Vec::new();
    for i in 0..args.customers {
        ingestion
            .client
            .create_customer(ing::CreateCustomerRequest {
                parent: "merchants/acme".to_owned(),
                customer_id: format!("c{i}"),
                customer: Some(ing::Customer {
                    kind: common::CustomerKind::Person as i32,
                    details: Some(ing::customer::Details::Person(ing::PersonDetails {
                        given_name: "Bench".to_owned(),
                        country_code: "DE".to_owned(),
                        ..Default::default()
                    })),
                    ..Default::default()
                }),
            })
            .await?;
        for k in 0..2i64 {
            events.push(ing::Event {
                event_id: format!("o-{i}-{k}"),
                customer: format!("c{i}"),
                occur_time: Some(prost_types::Timestamp {
                    seconds: now - (30 + 40 * k + i as i64 % 60) * 86_400,
                    nanos: 0,
                }),
                source: "bench".to_owned(),
                payload: Some(ing::event::Payload::Order(ing::OrderEvent {
                    order_id: format!("o-{i}-{k}"),
                    status: ing::OrderStatus::Delivered as i32,
                    lines: vec![ing::OrderLine {
                        product: "merchants/acme/products/p1".to_owned(),
                        quantity: 2,
                        unit_price: eur(2_500),
                    }],
                    total: eur(5_000),
                    logistics: Some(ing::LogisticsInfo {
                        carrier: "DHL".to_owned(),
                        promised_delivery_days: Some(5),
                        actual_delivery_days: Some(5 + (i as i32 % 3)),
                        shipping_cost: eur(700),
                        ..Default::default()
                    }),
                    ..Default::default()
                })),
                ..Default::default()
            });
        }
    }
    for chunk in events.chunks(500) {
        ingestion
            .client
            .batch_ingest_events(ing::BatchIngestEventsRequest {
                parent: "merchants/acme".to_owned(),
                events: chunk.to_vec(),
                validate_only: false,
            })
            .await?;
    }
    // The services run in this process: they read what the binaries sealed.
    caravan_integration_tests::install_test_encryption_key()?;
    let db = caravan_store::connect(&ingestion.db.url, 8).await?;
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
    let mut services = ServiceSet::new();
    services.add(caravan_profiling::ProfilingApi::new(db.clone()).into_server(16 << 20));
    let s = settings.clone();
    tokio::spawn(async move {
        server::serve(
            &s,
            profiling_listener,
            services,
            std::future::pending::<()>(),
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
    let mut services = ServiceSet::new();
    services.add(ScoringApi::new(db.clone(), source).into_server(16 << 20));
    tokio::spawn(async move {
        server::serve(
            &settings,
            marketing_listener,
            services,
            std::future::pending::<()>(),
        )
        .await
    });

    // Wait until profiling has built every profile.
    let mut profiling = ProfilingServiceClient::connect(format!("http://{profiling_addr}")).await?;
    let last = format!("merchants/acme/customers/c{}/profile", args.customers - 1);
    let start = Instant::now();
    loop {
        let p = profiling
            .get_profile(prof::GetProfileRequest {
                name: last.clone(),
                view: prof::ProfileView::Full as i32,
                reveal_pii: false,
            })
            .await;
        if matches!(&p, Ok(p) if p.get_ref().transactions.as_ref().map(|t| t.order_count) == Some(2))
        {
            break;
        }
        if start.elapsed() > Duration::from_secs(300) {
            bail!("profiles not built: {p:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let mut client =
        StrategyScoringServiceClient::connect(format!("http://{marketing_addr}")).await?;
    let strategies = [
        (
            "tracking",
            pb::StrategyKind::TrackingUpgrade,
            pb::strategy::Parameters::TrackingUpgrade(pb::TrackingUpgradeParameters {
                real_time_tracking: true,
                proactive_delay_notifications: true,
            }),
        ),
        (
            "expedited",
            pb::StrategyKind::ExpeditedDelivery,
            pb::strategy::Parameters::ExpeditedDelivery(pb::ExpeditedDeliveryParameters {
                days_saved: 2,
                carrier: String::new(),
            }),
        ),
        (
            "after-sales",
            pb::StrategyKind::AfterSalesGuarantee,
            pb::strategy::Parameters::AfterSalesGuarantee(pb::AfterSalesGuaranteeParameters {
                free_return_days: 30,
                late_delivery_compensation: eur(500),
                resolution_hours: 24,
            }),
        ),
        (
            "free-shipping",
            pb::StrategyKind::FreeShipping,
            pb::strategy::Parameters::FreeShipping(pb::FreeShippingParameters {
                min_spend: None,
                country_codes: vec![],
            }),
        ),
        (
            "coupon",
            pb::StrategyKind::Coupon,
            pb::strategy::Parameters::Coupon(pb::CouponParameters {
                discount: Some(pb::coupon_parameters::Discount::PercentOff(10.0)),
                min_spend: None,
                validity: None,
            }),
        ),
    ];
    for (id, kind, parameters) in strategies {
        client
            .create_strategy(pb::CreateStrategyRequest {
                parent: "merchants/acme".to_owned(),
                strategy_id: id.to_owned(),
                strategy: Some(pb::Strategy {
                    display_name: id.to_owned(),
                    kind: kind as i32,
                    parameters: Some(parameters),
                    frequency_cap: Some(pb::FrequencyCap {
                        max_contacts: 2,
                        period: Some(prost_types::Duration {
                            seconds: 604_800,
                            nanos: 0,
                        }),
                    }),
                    ..Default::default()
                }),
            })
            .await?;
    }
    let call = |i: usize| pb::ScoreStrategiesRequest {
        parent: "merchants/acme".to_owned(),
        customer: format!("merchants/acme/customers/c{}", i % args.customers),
        ..Default::default()
    };
    for i in 0..100 {
        client.score_strategies(call(i)).await?; // warm-up
    }
    let mut latencies = Vec::with_capacity(args.calls);
    let start = Instant::now();
    for i in 0..args.calls {
        let t = Instant::now();
        let r = client.score_strategies(call(i)).await?.into_inner();
        latencies.push(t.elapsed());
        if r.customer_scores.context("scores")?.scores.is_empty() {
            bail!("no scores");
        }
    }
    let wall = start.elapsed().as_secs_f64();
    latencies.sort();
    let at = |q: f64| {
        latencies[((q * (latencies.len() - 1) as f64).round() as usize).min(latencies.len() - 1)]
    };
    println!(
        "ScoreStrategies (5 strategies, incl. GetProfile over gRPC + MariaDB reads), {} sequential calls over {} customers: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {:.0} calls/s",
        args.calls,
        args.customers,
        at(0.50).as_secs_f64() * 1e3,
        at(0.90).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
        args.calls as f64 / wall
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    batch(args.batch_customers);
    latency(&args).await
}
