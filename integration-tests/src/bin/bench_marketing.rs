//! Marketing benchmark (scripts/bench-marketing.sh):
//! 1. batch scoring: customers x strategies scored per second by the domain scorer
//!    (`caravan_marketing::scoring::score_customer`) on synthetic, seeded customer facts,
//!    one thread;
//! 2. `ScoreStrategies` latency including the profiling hop: the real ingestion binary
//!    on MariaDB, profiling (with its outbox consumer) and marketing as gRPC servers in
//!    this process, sequential calls over the ingested customers; p50/p99/max, and the CPU
//!    this process (client, marketing, profiling) and MariaDB used per call.
//!
//! `--auth on` (the default) puts the real access guard (`caravan_access::AccessControl`)
//! in front of the in-process profiling and marketing servers, as their binaries do: every
//! call is authenticated, rate-limited and checked for its scope and merchant, marketing's
//! own GetProfile calls included. `--auth off` installs the same guard with
//! `auth.enabled = false` (allowed on loopback only), which checks nothing. The clients
//! present their keys either way, so the two settings send the same bytes. `--auth both`
//! starts both pairs of servers on the same database and alternates between them for
//! `--rounds` rounds (on first, then off first, ...), then prints the medians and their
//! ratio: the machine's drift then weighs on both settings alike.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use caravan_access::AccessControl;
use caravan_integration_tests::Channel as KeyedChannel;
use caravan_marketing::customer::{Channel, CustomerFacts, Logistics, Predictive, Stage};
use caravan_marketing::priors::Priors;
use caravan_marketing::scoring::{Candidate, ResponseRate, score_customer};
use caravan_marketing::strategy::{CostModel, Eligibility, FrequencyCap, Params, StrategySpec};
use caravan_marketing::{ProfileSource, ScoringApi};
use caravan_platform::Secret;
use caravan_platform::client::CallerInterceptor;
use caravan_platform::server::{self, ServiceSet};
use caravan_platform::settings::{ClientSettings, ProfilingSettings};
use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::ingestion::v1 as ing;
use caravan_proto::caravan::ingestion::v1::ingestion_service_client::IngestionServiceClient;
use caravan_proto::caravan::marketing::v1 as pb;
use caravan_proto::caravan::marketing::v1::strategy_scoring_service_client::StrategyScoringServiceClient;
use caravan_proto::caravan::profiling::v1 as prof;
use caravan_proto::caravan::profiling::v1::profiling_service_client::ProfilingServiceClient;
use caravan_store::sea_orm::DatabaseConnection;
use clap::{Parser, ValueEnum};
use tonic::service::interceptor::InterceptedService;

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
    /// The access guard in front of the in-process profiling and marketing servers: `on`
    /// checks every call's key, rate limit, scope and merchant; `off` is
    /// `auth.enabled = false`; `both` runs a pair of servers of each kind and alternates
    /// between them, round by round.
    #[arg(long, value_enum, default_value_t = AuthArg::On)]
    auth: AuthArg,
    /// Timed blocks of `--calls` calls (per setting), each printed; with more than one, the
    /// medians too.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum AuthArg {
    On,
    Off,
    Both,
}

impl AuthArg {
    fn settings(self) -> Vec<Auth> {
        match self {
            AuthArg::On => vec![Auth::On],
            AuthArg::Off => vec![Auth::Off],
            AuthArg::Both => vec![Auth::On, Auth::Off],
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Auth {
    On,
    Off,
}

impl Auth {
    fn label(self) -> &'static str {
        match self {
            Auth::On => "on",
            Auth::Off => "off",
        }
    }
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
            average_shipping_cost: Some(500.0 + g.unit() * 1_000.0),
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
            assumed_shipping_cost: None,
        },
        Params::ShippingSubsidy {
            subsidy_rate: 0.5,
            max_subsidy: Some(500),
            assumed_shipping_cost: None,
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
    // Marketing's key for its GetProfile calls, as `clients.api_key`: a key of every
    // merchant, with a rate limit no benchmark reaches (the default per-key limit,
    // `auth.rate_limit_per_second`, would throttle it).
    let service_key = caravan_integration_tests::create_api_key_with_rate_limit(
        &ingestion.db.url,
        "*",
        "read,write",
        Some(1_000_000),
    )?;
    let mut servers = Vec::new();
    for auth in args.auth.settings() {
        servers.push(start_servers(auth, &ingestion.db.url, &db, &service_key).await?);
    }

    // Wait until profiling has built every profile.
    let mut profiling =
        ProfilingServiceClient::new(channel_with_key(servers[0].profiling, &service_key).await?);
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

    // The benchmark calls as a merchant's application would: with a key of that merchant
    // only, so the guard also reads the merchant from every request.
    let mut clients = Vec::new();
    for s in &servers {
        clients.push(StrategyScoringServiceClient::new(
            channel_with_key(s.marketing, &key).await?,
        ));
    }
    create_strategies(&mut clients[0]).await?;
    let call = |i: usize| pb::ScoreStrategiesRequest {
        parent: "merchants/acme".to_owned(),
        customer: format!("merchants/acme/customers/c{}", i % args.customers),
        ..Default::default()
    };
    for (s, client) in servers.iter().zip(&mut clients) {
        // The guard is really there (or really off): a call without a key.
        let anonymous = StrategyScoringServiceClient::connect(format!("http://{}", s.marketing))
            .await?
            .score_strategies(call(0))
            .await;
        match (s.auth, &anonymous) {
            (Auth::On, Err(status)) if status.code() == tonic::Code::Unauthenticated => {}
            (Auth::Off, Ok(_)) => {}
            _ => bail!(
                "auth {}: a call without a key answered {anonymous:?}",
                s.auth.label()
            ),
        }
        for i in 0..100 {
            client.score_strategies(call(i)).await?; // warm-up
        }
    }

    let mariadb = mariadb_pid();
    let mut blocks: Vec<Vec<Block>> = vec![Vec::new(); servers.len()];
    for round in 0..args.rounds.max(1) {
        // With both settings, the first of a round alternates (on off, off on, on off, ...)
        // so that a drift of the machine's speed weighs on both alike.
        let mut order: Vec<usize> = (0..servers.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for k in order {
            let block = timed(&mut clients[k], args.calls, &call, mariadb).await?;
            block.print(args, servers[k].auth, round + 1);
            blocks[k].push(block);
        }
    }
    if args.rounds > 1 || servers.len() > 1 {
        summary(&servers, &blocks);
    }
    Ok(())
}

/// One profiling and one marketing server of this process, behind the access guard.
struct Servers {
    auth: Auth,
    profiling: SocketAddr,
    marketing: SocketAddr,
}

/// Starts profiling and marketing as their binaries would, with the access guard on or off.
async fn start_servers(
    auth: Auth,
    db_url: &str,
    db: &DatabaseConnection,
    service_key: &str,
) -> Result<Servers> {
    // What the binaries would read from their configuration.
    let mut settings = caravan_platform::Settings::default();
    settings.database.url = Secret::new(db_url);
    settings.server.listen_addr = "127.0.0.1:0".parse()?;
    settings.auth.enabled = auth == Auth::On;
    settings.privacy.encryption_keys.insert(
        "test".to_owned(),
        Secret::new(caravan_integration_tests::TEST_ENCRYPTION_KEY),
    );
    settings.privacy.active_encryption_key = "test".to_owned();

    let profiling_listener = server::bind(settings.server.listen_addr).await?;
    let profiling = profiling_listener.local_addr()?;
    let mut services = ServiceSet::new();
    let (access, _) = AccessControl::start(&settings, db, true).await?;
    access.install(&mut services);
    services.add(
        caravan_profiling::ProfilingApi::new(db.clone())
            .into_server(settings.server.max_message_bytes),
    );
    let s = settings.server.clone();
    tokio::spawn(async move {
        server::serve(
            &s,
            profiling_listener,
            services,
            std::future::pending::<()>(),
        )
        .await
    });

    let marketing_listener = server::bind(settings.server.listen_addr).await?;
    let marketing = marketing_listener.local_addr()?;
    let source = ProfileSource::new(caravan_platform::client::profiling_client(
        &ClientSettings {
            profiling_addr: Some(format!("http://{profiling}")),
            call_timeout_ms: Some(5_000),
            api_key: Some(Secret::new(service_key)),
            ..Default::default()
        },
    )?);
    let mut services = ServiceSet::new();
    let (access, _) = AccessControl::start(&settings, db, true).await?;
    access.install(&mut services);
    services
        .add(ScoringApi::new(db.clone(), source).into_server(settings.server.max_message_bytes));
    let s = settings.server.clone();
    tokio::spawn(async move {
        server::serve(
            &s,
            marketing_listener,
            services,
            std::future::pending::<()>(),
        )
        .await
    });
    Ok(Servers {
        auth,
        profiling,
        marketing,
    })
}

async fn create_strategies(client: &mut ScoringClient) -> Result<()> {
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
                assumed_shipping_cost: None,
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
    Ok(())
}

/// One timed block of sequential calls.
#[derive(Clone)]
struct Block {
    /// Sorted.
    latencies: Vec<Duration>,
    wall: f64,
    /// CPU seconds of this process (client, marketing, profiling) and of MariaDB.
    cpu_process: Option<f64>,
    cpu_mariadb: Option<f64>,
}

impl Block {
    fn at(&self, q: f64) -> f64 {
        let n = self.latencies.len();
        self.latencies[((q * (n - 1) as f64).round() as usize).min(n - 1)].as_secs_f64() * 1e3
    }

    fn calls_per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.wall
    }

    /// CPU µs per call.
    fn per_call(&self, cpu: Option<f64>) -> Option<f64> {
        cpu.map(|s| s * 1e6 / self.latencies.len() as f64)
    }

    fn print(&self, args: &Args, auth: Auth, round: usize) {
        println!(
            "ScoreStrategies (5 strategies, incl. GetProfile over gRPC + MariaDB reads), {} sequential calls over {} customers: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {:.0} calls/s",
            self.latencies.len(),
            args.customers,
            self.at(0.50),
            self.at(0.90),
            self.at(0.99),
            self.at(1.0),
            self.calls_per_second()
        );
        println!(
            "round {round}, auth {}; CPU per call: this process (client, marketing, profiling) {} µs, MariaDB {} µs",
            match auth {
                Auth::On => "on (the access guard of profiling and marketing checks every call)",
                Auth::Off => "off (auth.enabled = false: the guard checks nothing)",
            },
            micros(self.per_call(self.cpu_process)),
            micros(self.per_call(self.cpu_mariadb)),
        );
    }
}

fn micros(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.0}"))
}

type ScoringClient = StrategyScoringServiceClient<KeyedChannel>;

async fn timed(
    client: &mut ScoringClient,
    calls: usize,
    call: &impl Fn(usize) -> pb::ScoreStrategiesRequest,
    mariadb: Option<u32>,
) -> Result<Block> {
    let mut latencies = Vec::with_capacity(calls);
    let cpu_before = (
        cpu_seconds(std::process::id()),
        mariadb.and_then(cpu_seconds),
    );
    let start = Instant::now();
    for i in 0..calls {
        let t = Instant::now();
        let r = client.score_strategies(call(i)).await?.into_inner();
        latencies.push(t.elapsed());
        if r.customer_scores.context("scores")?.scores.is_empty() {
            bail!("no scores");
        }
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu_after = (
        cpu_seconds(std::process::id()),
        mariadb.and_then(cpu_seconds),
    );
    latencies.sort();
    let delta = |a: Option<f64>, b: Option<f64>| Some(a? - b?);
    Ok(Block {
        latencies,
        wall,
        cpu_process: delta(cpu_after.0, cpu_before.0),
        cpu_mariadb: delta(cpu_after.1, cpu_before.1),
    })
}

/// Medians over the rounds, per setting, and with both settings the ratio on / off.
fn summary(servers: &[Servers], blocks: &[Vec<Block>]) {
    struct Medians {
        p50: f64,
        p90: f64,
        p99: f64,
        rate: f64,
        cpu: Option<f64>,
        mariadb: Option<f64>,
    }
    let medians = |b: &[Block]| Medians {
        p50: median(b.iter().map(|b| b.at(0.5)).collect()),
        p90: median(b.iter().map(|b| b.at(0.9)).collect()),
        p99: median(b.iter().map(|b| b.at(0.99)).collect()),
        rate: median(b.iter().map(Block::calls_per_second).collect()),
        cpu: b
            .iter()
            .map(|b| b.per_call(b.cpu_process))
            .collect::<Option<Vec<_>>>()
            .map(median),
        mariadb: b
            .iter()
            .map(|b| b.per_call(b.cpu_mariadb))
            .collect::<Option<Vec<_>>>()
            .map(median),
    };
    let all: Vec<Medians> = blocks.iter().map(|b| medians(b)).collect();
    for (s, m) in servers.iter().zip(&all) {
        println!(
            "median over {} rounds, auth {}: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, {:.0} calls/s; CPU per call: this process {} µs, MariaDB {} µs",
            blocks[0].len(),
            s.auth.label(),
            m.p50,
            m.p90,
            m.p99,
            m.rate,
            micros(m.cpu),
            micros(m.mariadb),
        );
    }
    if let [on, off] = all.as_slice() {
        let ratio = |a: f64, b: f64| a / b;
        println!(
            "auth on / off (medians): p50 {:.3}, p90 {:.3}, p99 {:.3}, calls/s {:.3}, CPU per call: this process {}, MariaDB {}",
            ratio(on.p50, off.p50),
            ratio(on.p90, off.p90),
            ratio(on.p99, off.p99),
            ratio(on.rate, off.rate),
            on.cpu
                .zip(off.cpu)
                .map_or_else(|| "n/a".to_owned(), |(a, b)| format!("{:.3}", a / b)),
            on.mariadb
                .zip(off.mariadb)
                .map_or_else(|| "n/a".to_owned(), |(a, b)| format!("{:.3}", a / b)),
        );
    }
}

/// The median (the mean of the middle two for an even count).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// A connected channel to a server of this process whose calls present `key`.
async fn channel_with_key(addr: SocketAddr, key: &str) -> Result<KeyedChannel> {
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await
        .context("connect")?;
    let interceptor =
        CallerInterceptor::new(Some(&Secret::new(key))).map_err(anyhow::Error::msg)?;
    Ok(InterceptedService::new(channel, interceptor))
}

/// User plus system CPU seconds of a process (from /proc; 10 ms resolution).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// The local MariaDB (or MySQL) server process, when it runs on this machine.
fn mariadb_pid() -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
            matches!(comm.trim(), "mariadbd" | "mysqld").then_some(pid)
        })
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    batch(args.batch_customers);
    latency(&args).await
}
