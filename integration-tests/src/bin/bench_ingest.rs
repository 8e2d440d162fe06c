//! `caravan-bench-ingest`: streaming ingestion into MariaDB, acknowledged-and-committed events
//! per second, side by side in one run with a raw bulk INSERT of the same rows through the
//! same driver (sqlx via sea-orm).
//!
//! 1. Two fresh databases on the MariaDB server (`CARAVAN_TEST_MYSQL_URL` or `--mysql-url`).
//! 2. The release `caravan-ingestion` binary on the first; `--events` synthetic events of
//!    mixed kinds (sessions, views, searches, carts, orders with payment and logistics,
//!    reviews, social actions) streamed with `IngestEvents`, `--batch` events per message,
//!    over `--streams` concurrent streams. Timed from the first message to the last
//!    acknowledgement (an acknowledgement means committed).
//! 3. Every row the service stored (events, outbox, orders, order lines, customers) is read
//!    back, then inserted into the second, migrated database with multi-row INSERTs of
//!    `--batch` rows per statement, one transaction per statement, over `--streams`
//!    connections in parallel (the same concurrency the service had): the ceiling. Table by
//!    table, in foreign-key order. Timed inserts only.
//! 4. The server's peak RSS (VmHWM) is read from /proc, and so is the CPU time MariaDB, the
//!    service and this process used in each of the two timed phases, per event: where the
//!    two cores went.
//!
//! Run with `scripts/bench-ingest.sh` (builds release first).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use caravan_integration_tests::ServerProcess;
use caravan_integration_tests::mysql::TestDatabase;
use caravan_platform::proto_time::to_timestamp;
use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::ingestion::v1 as pb;
use caravan_proto::caravan::ingestion::v1::ingestion_service_client::IngestionServiceClient;
use caravan_store::bulk_insert::insert_rows;
use caravan_store::entity::{customers, events, order_lines, orders, outbox};
use caravan_store::sea_orm::{
    DatabaseConnection, EntityTrait, IdenStatic, Iterable, ModelTrait, TransactionTrait, Value,
};
use clap::Parser;

#[derive(Debug, Parser)]
struct Args {
    /// Number of events to ingest.
    #[arg(long, default_value_t = 200_000)]
    events: usize,
    /// Events per streamed message, and rows per INSERT statement on the raw side.
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
    /// Concurrent IngestEvents streams.
    #[arg(long, default_value_t = 2)]
    streams: usize,
    /// Distinct customers the events spread over.
    #[arg(long, default_value_t = 5_000)]
    customers: usize,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let service_db = TestDatabase::create()
        .await?
        .context("CARAVAN_TEST_MYSQL_URL is required")?;
    let raw_db = TestDatabase::create()
        .await?
        .context("CARAVAN_TEST_MYSQL_URL is required")?;
    let workdir = tempfile::tempdir()?;
    let server = ServerProcess::start(
        "caravan-ingestion",
        &[],
        &[
            ("CARAVAN__DATABASE__URL", service_db.url.as_str()),
            (
                "CARAVAN__TELEMETRY__LOG_FILTER",
                // event_store's debug lines are its batch retries, counted below.
                "warn,caravan_platform=info,caravan_ingestion::event_store=debug",
            ),
        ],
        workdir.path(),
    )?;
    let mut client = IngestionServiceClient::connect(server.endpoint())
        .await?
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20);
    client
        .create_merchant(pb::CreateMerchantRequest {
            merchant_id: "bench".to_owned(),
            merchant: Some(pb::Merchant {
                display_name: "Benchmark".to_owned(),
                base_currency_code: "GBP".to_owned(),
                ..Default::default()
            }),
        })
        .await?;

    let generated = generate(args.events, args.customers);
    let cpu_before = CpuUse::now(server.pid());
    let (streamed, elapsed) = match stream(&client, generated, args.batch, args.streams).await {
        Ok(result) => result,
        Err(err) => {
            let logs = server.logs();
            let tail = &logs[logs.len().saturating_sub(20)..];
            let panics: Vec<&String> = logs.iter().filter(|l| l.contains("panicked")).collect();
            bail!(
                "streaming failed: {err:#}\nserver panics: {panics:?}\nserver log tail:\n{}",
                tail.join("\n")
            );
        }
    };
    ensure!(
        streamed == args.events as i64,
        "the service accepted {streamed} of {} events",
        args.events
    );
    let service_cpu = CpuUse::now(server.pid()).since(&cpu_before);
    let rss = peak_rss_kib(server.pid());
    let service_rate = rate(args.events, elapsed);

    let source = caravan_store::connect(&service_db.url, 4).await?;
    let connections = u32::try_from(args.streams.max(1)).unwrap_or(u32::MAX);
    let target = caravan_store::connect(&raw_db.url, connections).await?;
    caravan_store::migrate(&target).await?;
    let raw = raw_copy(
        &source,
        &target,
        args.batch,
        args.streams.max(1),
        server.pid(),
    )
    .await?;
    let retries = server
        .logs()
        .iter()
        .filter(|l| l.contains("retrying batch"))
        .count();
    let raw_rate = rate(args.events, raw.elapsed);

    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| events | {} ({} per message, {} streams) |",
        args.events, args.batch, args.streams
    );
    println!(
        "| rows written per event (all tables) | {:.2} |",
        raw.rows as f64 / args.events as f64
    );
    println!(
        "| IngestEvents, acknowledged and committed | {service_rate:.0} events/s ({:.2} s) |",
        elapsed.as_secs_f64()
    );
    println!(
        "| raw bulk INSERT of the same rows, {} connections | {raw_rate:.0} events/s ({:.2} s, {} rows) |",
        args.streams.max(1),
        raw.elapsed.as_secs_f64(),
        raw.rows
    );
    println!("| ratio service / raw | {:.2} |", service_rate / raw_rate);
    println!(
        "| CPU per event, service run: MariaDB / service / load generator | {} |",
        service_cpu.per_event(args.events)
    );
    println!(
        "| CPU per event, raw run: MariaDB / (idle service) / inserting client | {} |",
        raw.cpu.per_event(args.events)
    );
    println!("| batches retried (conflicts with concurrent batches) | {retries} |");
    println!(
        "| server peak RSS | {} |",
        rss.map_or("n/a".to_owned(), |k| format!(
            "{:.1} MiB",
            k as f64 / 1024.0
        ))
    );
    source.close().await?;
    target.close().await?;
    drop(server);
    Ok(())
}

fn rate(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// Streams the events over `streams` concurrent calls; returns accepted events and time.
async fn stream(
    client: &IngestionServiceClient<tonic::transport::Channel>,
    events: Vec<pb::Event>,
    batch: usize,
    streams: usize,
) -> Result<(i64, Duration)> {
    let per_stream = events.len().div_ceil(streams.max(1));
    let mut requests: Vec<Vec<pb::IngestEventsRequest>> = Vec::new();
    for share in events.chunks(per_stream.max(1)) {
        requests.push(
            share
                .chunks(batch)
                .map(|chunk| pb::IngestEventsRequest {
                    parent: "merchants/bench".to_owned(),
                    events: chunk.to_vec(),
                    validate_only: false,
                })
                .collect(),
        );
    }
    let start = Instant::now();
    let calls: Vec<_> = requests
        .into_iter()
        .map(|messages| {
            let mut client = client.clone();
            tokio::spawn(async move {
                client
                    .ingest_events(tokio_stream::iter(messages))
                    .await
                    .map(tonic::Response::into_inner)
            })
        })
        .collect();
    let mut accepted = 0;
    for call in calls {
        let response = call.await??;
        if response.rejected_count > 0 {
            bail!("rejections: {:?}", response.rejections.first());
        }
        accepted += response.accepted_count;
    }
    Ok((accepted, start.elapsed()))
}

struct RawCopy {
    rows: usize,
    elapsed: Duration,
    cpu: CpuUse,
}

/// Reads every row the service stored, then times inserting them into `target` over
/// `connections` parallel connections.
async fn raw_copy(
    source: &DatabaseConnection,
    target: &DatabaseConnection,
    batch: usize,
    connections: usize,
    service_pid: u32,
) -> Result<RawCopy> {
    // Foreign-key order: orders before their lines.
    let tables = [
        TableRows::read::<customers::Entity>(source, batch, connections).await?,
        TableRows::read::<events::Entity>(source, batch, connections).await?,
        TableRows::read::<outbox::Entity>(source, batch, connections).await?,
        TableRows::read::<orders::Entity>(source, batch, connections).await?,
        TableRows::read::<order_lines::Entity>(source, batch, connections).await?,
    ];
    let rows = tables.iter().map(|t| t.count).sum();
    let cpu_before = CpuUse::now(service_pid);
    let start = Instant::now();
    for table in tables {
        table.insert(target).await?;
    }
    Ok(RawCopy {
        rows,
        elapsed: start.elapsed(),
        cpu: CpuUse::now(service_pid).since(&cpu_before),
    })
}

/// One table's rows, converted to values before the clock starts and dealt round-robin in
/// chunks of `batch` rows to `connections` shares.
struct TableRows {
    table: String,
    /// Rows per chunk (the last chunk of a share may have fewer).
    batch: usize,
    columns: Arc<Vec<String>>,
    shares: Vec<Vec<Vec<Value>>>,
    count: usize,
}

impl TableRows {
    async fn read<E: EntityTrait>(
        source: &DatabaseConnection,
        batch: usize,
        connections: usize,
    ) -> Result<Self> {
        let rows = E::find().all(source).await?;
        let columns: Vec<E::Column> = E::Column::iter().collect();
        let mut shares: Vec<Vec<Vec<Value>>> = (0..connections).map(|_| Vec::new()).collect();
        for (n, chunk) in rows.chunks(batch.max(1)).enumerate() {
            let values = chunk
                .iter()
                .flat_map(|row| columns.iter().map(|c| row.get(*c)))
                .collect();
            shares[n % connections].push(values);
        }
        Ok(Self {
            table: E::default().table_name().to_owned(),
            batch: batch.max(1),
            columns: Arc::new(columns.iter().map(|c| c.as_str().to_owned()).collect()),
            shares,
            count: rows.len(),
        })
    }

    /// Inserts every share on its own connection, concurrently, one transaction per chunk,
    /// with the statements the service builds (`caravan_store::bulk_insert`), so the ceiling
    /// is the database's and the driver's, not an ORM's.
    async fn insert(self, target: &DatabaseConnection) -> Result<()> {
        let tasks: Vec<_> = self
            .shares
            .into_iter()
            .map(|chunks| {
                let db = target.clone();
                let table = self.table.clone();
                let batch = self.batch;
                let columns = Arc::clone(&self.columns);
                tokio::spawn(async move {
                    let columns: Vec<&str> = columns.iter().map(String::as_str).collect();
                    for values in chunks {
                        let txn = db.begin().await?;
                        insert_rows(&txn, &table, &columns, values, batch).await?;
                        txn.commit().await?;
                    }
                    anyhow::Ok(())
                })
            })
            .collect();
        for task in tasks {
            task.await??;
        }
        Ok(())
    }
}

/// CPU time (user + system) used so far by MariaDB, the service and this process, from
/// /proc (Linux clock ticks of 1/100 s).
struct CpuUse {
    mariadb: Option<f64>,
    service: Option<f64>,
    client: Option<f64>,
}

impl CpuUse {
    fn now(service_pid: u32) -> Self {
        Self {
            mariadb: mariadb_pid().and_then(cpu_seconds),
            service: cpu_seconds(service_pid),
            client: cpu_seconds(std::process::id()),
        }
    }

    fn since(&self, start: &Self) -> Self {
        let delta = |a: Option<f64>, b: Option<f64>| Some(a? - b?);
        Self {
            mariadb: delta(self.mariadb, start.mariadb),
            service: delta(self.service, start.service),
            client: delta(self.client, start.client),
        }
    }

    /// "12.3 / 4.5 / 0.6 µs".
    fn per_event(&self, events: usize) -> String {
        let us = |s: Option<f64>| {
            s.map_or("n/a".to_owned(), |s| {
                format!("{:.1}", s * 1e6 / events.max(1) as f64)
            })
        };
        format!(
            "{} / {} / {} µs",
            us(self.mariadb),
            us(self.service),
            us(self.client)
        )
    }
}

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

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// A small deterministic generator (SplitMix64), so every run streams the same events.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn gbp(minor: i64) -> Option<common::Money> {
    Some(common::Money {
        currency_code: "GBP".to_owned(),
        amount_minor: minor,
    })
}

/// Events of every website, transaction, feedback and social kind, in realistic proportions
/// (mostly views), spread over `customers` customers and the last 30 days.
fn generate(count: usize, customers: usize) -> Vec<pb::Event> {
    let mut rng = Rng(42);
    let now = chrono::Utc::now();
    (0..count)
        .map(|i| {
            let customer = format!("c-{}", rng.below(customers));
            let product = format!("SKU-{:05}", rng.below(3_000));
            let seconds = i64::try_from(rng.below(30 * 86_400)).unwrap_or(0);
            let occur = now - chrono::Duration::seconds(seconds + 60);
            use pb::event::Payload;
            let payload = match rng.below(100) {
                0..=9 => Payload::SessionStart(pb::SessionStartEvent {
                    device_type: common::DeviceType::Mobile as i32,
                    os: "Android".to_owned(),
                    traffic_source: common::TrafficSource::ShortVideo as i32,
                    referrer_uri: "https://video.example/watch".to_owned(),
                    landing_page_uri: "https://shop.example/".to_owned(),
                    ip_country_code: "DE".to_owned(),
                    language_code: "de".to_owned(),
                    campaign: String::new(),
                }),
                10..=49 => Payload::ProductView(pb::ProductViewEvent {
                    product: product.clone(),
                    dwell_seconds: 30,
                }),
                50..=59 => Payload::Search(pb::SearchEvent {
                    query: "ceramic mug".to_owned(),
                    results_count: 12,
                    category_path: "Home > Kitchen".to_owned(),
                }),
                60..=79 => Payload::CartAdd(pb::CartChangeEvent {
                    product: product.clone(),
                    quantity: 2,
                    unit_price: gbp(1_250),
                }),
                80..=89 => Payload::Order(pb::OrderEvent {
                    order_id: format!("o-{i}"),
                    status: pb::OrderStatus::Placed as i32,
                    lines: vec![
                        pb::OrderLine {
                            product: product.clone(),
                            quantity: 2,
                            unit_price: gbp(1_250),
                        },
                        pb::OrderLine {
                            product: "SKU-00001".to_owned(),
                            quantity: 1,
                            unit_price: gbp(499),
                        },
                    ],
                    total: gbp(2_999),
                    payment: Some(pb::PaymentInfo {
                        method: common::PaymentMethod::Paypal as i32,
                        outcome: pb::PaymentOutcome::Succeeded as i32,
                        amount: gbp(2_999),
                        ..Default::default()
                    }),
                    logistics: Some(pb::LogisticsInfo {
                        carrier: "DHL".to_owned(),
                        promised_delivery_days: Some(5),
                        shipping_cost: gbp(399),
                        tracking_offered: true,
                        destination_country_code: "DE".to_owned(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                90..=94 => Payload::Review(pb::ReviewEvent {
                    product: product.clone(),
                    rating: 4,
                    title: "Good".to_owned(),
                    text: "Arrived quickly, nice quality.".to_owned(),
                    language_code: "en".to_owned(),
                    ..Default::default()
                }),
                _ => Payload::SocialAction(pb::SocialActionEvent {
                    action: pb::SocialActionKind::Share as i32,
                    platform: common::SocialPlatform::Tiktok as i32,
                    product,
                    ..Default::default()
                }),
            };
            pb::Event {
                event_id: format!("bench-{i}"),
                customer,
                occur_time: Some(to_timestamp(occur)),
                session_id: format!("s-{}", i / 20),
                payload: Some(payload),
                ..Default::default()
            }
        })
        .collect()
}
