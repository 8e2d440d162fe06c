//! `caravan-bench-ingest`: streaming ingestion into MariaDB, acknowledged-and-committed events
//! per second, side by side in one run with a raw bulk INSERT of the same rows through the
//! same driver (sqlx via sea-orm).
//!
//! 1. Two fresh databases on the MariaDB server (`CARAVAN_TEST_MYSQL_URL`), and the release
//!    `caravan-ingestion` binary on the first.
//! 2. `--rounds` rounds, each for a new merchant:
//!    - MariaDB is left to go quiet (no CPU for a second), then `--events` synthetic events
//!      of mixed kinds (sessions, views, searches, carts, orders with payment and
//!      logistics, reviews, social actions) are streamed with `IngestEvents`, `--batch`
//!      events per message, over `--streams` concurrent streams. Timed from the first
//!      message to the last acknowledgement (an acknowledgement means committed).
//!    - Every row the service stored for that merchant (events, outbox, orders, order
//!      lines, customers) is read back in primary-key order; MariaDB is left to go quiet
//!      again; the rows are inserted into the second, migrated database with multi-row
//!      INSERTs of `--batch` rows per statement, one transaction per statement, over
//!      `--streams` connections in parallel (the same concurrency the service had): the
//!      ceiling. Table by table, in foreign-key order. Timed inserts only.
//!    - Both databases keep earlier rounds' rows, so the two runs of a round write into
//!      tables of the same size.
//! 3. Per round: both rates, their ratio, and the CPU time MariaDB, the service and this
//!    process used in each timed phase, per event (from /proc): where the two cores went.
//!    Then the medians, and the server's peak RSS (VmHWM).
//!
//! `--auth-ab` measures what authentication costs: a second `caravan-ingestion` with
//! `auth.enabled = false` (allowed on loopback) on the same database, and the rounds
//! alternate between the two servers (on, off, off, on, on, off, ...), so that the machine's
//! drift weighs on both alike; the medians are then also given per server. The load
//! generator presents its key to both.
//!
//! Run with `scripts/bench-ingest.sh` (builds release first).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use caravan_integration_tests::ServerProcess;
use caravan_integration_tests::mysql::TestDatabase;
use caravan_integration_tests::proc_stats::{cpu_seconds, mariadb_pid, peak_rss_kib};
use caravan_integration_tests::synthetic_events::{Times, generate};
use caravan_proto::caravan::ingestion::v1 as pb;
use caravan_proto::caravan::ingestion::v1::ingestion_service_client::IngestionServiceClient;
use caravan_store::bulk_insert::insert_rows;
use caravan_store::entity::{customers, events, order_lines, orders, outbox};
use caravan_store::write_transaction::WriteTransaction;
use std::str::FromStr;

use caravan_store::sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, IdenStatic, Iterable, ModelTrait,
    PrimaryKeyToColumn, QueryFilter, QueryOrder, Value,
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
    /// Rounds of a service run followed by a raw copy; the medians are reported. This
    /// machine's speed drifts by tens of percent within minutes: alternating the two runs
    /// and taking medians keeps a slow minute from deciding the ratio.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Print each timed phase's start and end as wall-clock seconds on stderr, to cut a
    /// `perf record -k realtime` profile of the whole run into the phases
    /// (`perf report --time START,END`).
    #[arg(long)]
    phase_clock: bool,
    /// Also start a server with authentication off and alternate the rounds between the
    /// two (see the module documentation).
    #[arg(long)]
    auth_ab: bool,
}

/// Marks a phase boundary for `--phase-clock`.
fn phase_mark(enabled: bool, what: &str) {
    if enabled {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        eprintln!("phase {what} {:.6}", now.as_secs_f64());
    }
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
    let start_server = |auth: Option<&str>| {
        let mut env = vec![
            ("CARAVAN__DATABASE__URL", service_db.url.as_str()),
            (
                "CARAVAN__TELEMETRY__LOG_FILTER",
                // event_store's debug lines are its batch retries, counted below.
                "warn,caravan_platform=info,caravan_ingestion::event_store=debug",
            ),
        ];
        env.extend(auth.map(|a| ("CARAVAN__AUTH__ENABLED", a)));
        ServerProcess::start("caravan-ingestion", &[], &env, workdir.path())
    };
    // Without --auth-ab, authentication as the environment says (on unless
    // CARAVAN__AUTH__ENABLED=false, which the server inherits).
    let servers = if args.auth_ab {
        vec![
            ("on", start_server(Some("true"))?),
            ("off", start_server(Some("false"))?),
        ]
    } else {
        vec![(auth_label(), start_server(None)?)]
    };
    // Both servers accept the first one's key (the second checks none).
    let key = servers[0].1.api_key().map(str::to_owned);
    let mut clients = Vec::new();
    for (_, server) in &servers {
        clients.push(
            IngestionServiceClient::new(server.channel_with_key(key.as_deref()).await?)
                .max_decoding_message_size(64 << 20)
                .max_encoding_message_size(64 << 20),
        );
    }
    let source = caravan_store::connect(&service_db.url, 4).await?;
    let connections = u32::try_from(args.streams.max(1)).unwrap_or(u32::MAX);
    let target = caravan_store::connect(&raw_db.url, connections).await?;
    caravan_store::migrate(&target).await?;

    let mut rounds = Vec::new();
    for round in 1..=args.rounds.max(1) {
        let merchant = format!("bench-{round}");
        // With two servers: on, off, off, on, on, off, ...
        let k = if servers.len() > 1 {
            (round / 2) % 2
        } else {
            0
        };
        let (auth, server) = &servers[k];
        let mut result = run_round(
            &args,
            server,
            clients[k].clone(),
            &source,
            &target,
            &merchant,
        )
        .await?;
        result.auth = auth;
        rounds.push(result);
    }
    let retries = servers
        .iter()
        .flat_map(|(_, s)| s.logs())
        .filter(|l| l.contains("retrying batch"))
        .count();
    let rss: Vec<(&str, Option<u64>)> = servers
        .iter()
        .map(|(auth, s)| (*auth, peak_rss_kib(s.pid())))
        .collect();
    report(&args, &rounds, retries, &rss);
    source.close().await?;
    target.close().await?;
    drop(servers);
    Ok(())
}

/// Whether a server started with this environment authenticates.
fn auth_label() -> &'static str {
    match std::env::var("CARAVAN__AUTH__ENABLED") {
        Ok(v) if v.eq_ignore_ascii_case("false") => "off",
        _ => "on",
    }
}

/// One service run and one raw copy of what it stored.
struct Round {
    /// Authentication on the server of this round: "on" or "off".
    auth: &'static str,
    service: Duration,
    service_cpu: CpuUse,
    raw: RawCopy,
    /// How long MariaDB took to go quiet before the service run.
    settled: Option<Duration>,
}

/// Streams the events for a new merchant, then copies the rows the service stored for it
/// with raw INSERTs. Both databases keep the rows of earlier rounds, so each round's two
/// runs write into tables of the same size.
async fn run_round(
    args: &Args,
    server: &ServerProcess,
    mut client: IngestionServiceClient<caravan_integration_tests::Channel>,
    source: &DatabaseConnection,
    target: &DatabaseConnection,
    merchant: &str,
) -> Result<Round> {
    client
        .create_merchant(pb::CreateMerchantRequest {
            merchant_id: merchant.to_owned(),
            merchant: Some(pb::Merchant {
                display_name: "Benchmark".to_owned(),
                base_currency_code: "GBP".to_owned(),
                ..Default::default()
            }),
        })
        .await?;
    let generated = generate(0..args.events, "bench", args.customers, Times::Scattered);
    let settled = settle_mariadb().await;
    let cpu_before = CpuUse::now(server.pid());
    phase_mark(args.phase_clock, "service-start");
    let streamed = stream(&client, merchant, generated, args.batch, args.streams).await;
    phase_mark(args.phase_clock, "service-end");
    let (streamed, service) = match streamed {
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
    let raw = raw_copy(
        source,
        target,
        merchant,
        args.batch,
        args.streams.max(1),
        server.pid(),
        args.phase_clock,
    )
    .await?;
    Ok(Round {
        auth: "on",
        service,
        service_cpu,
        raw,
        settled,
    })
}

/// The results as a Markdown table for BENCHMARKS.md: every round, then the medians.
fn report(args: &Args, rounds: &[Round], retries: usize, rss: &[(&str, Option<u64>)]) {
    let events = args.events;
    println!(
        "{events} events per round ({} per message, {} streams; raw copy over {} connections), {} rounds; server authentication {}",
        args.batch,
        args.streams,
        args.streams.max(1),
        rounds.len(),
        if args.auth_ab {
            "on and off, alternating by round".to_owned()
        } else {
            rounds.first().map_or("on", |r| r.auth).to_owned()
        }
    );
    println!();
    println!(
        "| round | IngestEvents, acknowledged and committed | raw bulk INSERT of the same rows | ratio | CPU µs per event, service run: MariaDB / service / load generator | CPU µs per event, raw run: MariaDB / (idle service) / inserting client |"
    );
    println!("|---|---|---|---|---|---|");
    for (n, round) in rounds.iter().enumerate() {
        let (service, raw) = (rate(events, round.service), rate(events, round.raw.elapsed));
        let label = if args.auth_ab {
            format!("{} (auth {})", n + 1, round.auth)
        } else {
            (n + 1).to_string()
        };
        println!(
            "| {label} | {service:.0} events/s | {raw:.0} events/s | {:.2} | {} | {} |",
            service / raw,
            round.service_cpu.per_event(events),
            round.raw.cpu.per_event(events),
        );
    }
    let service = median(rounds.iter().map(|r| rate(events, r.service)));
    let raw = median(rounds.iter().map(|r| rate(events, r.raw.elapsed)));
    println!(
        "| **median** | **{service:.0} events/s** | **{raw:.0} events/s** | **{:.2}** | | |",
        service / raw
    );
    println!();
    if args.auth_ab {
        let of = |auth: &str| -> Vec<&Round> { rounds.iter().filter(|r| r.auth == auth).collect() };
        let mut medians = Vec::new();
        for auth in ["on", "off"] {
            let these = of(auth);
            let service = median(these.iter().map(|r| rate(events, r.service)));
            let raw = median(these.iter().map(|r| rate(events, r.raw.elapsed)));
            let ratio = median(
                these
                    .iter()
                    .map(|r| rate(events, r.service) / rate(events, r.raw.elapsed)),
            );
            let cpu = median(
                these
                    .iter()
                    .filter_map(|r| r.service_cpu.service)
                    .map(|s| s * 1e6 / events as f64),
            );
            println!(
                "- auth {auth}, {} rounds: median {service:.0} events/s, raw {raw:.0} events/s, median ratio per round {ratio:.2}, service CPU {cpu:.2} µs per event",
                these.len()
            );
            medians.push((service, raw, ratio, cpu));
        }
        if let [on, off] = medians.as_slice() {
            println!(
                "- auth on / off (medians): events/s {:.3}, raw events/s {:.3}, ratio per round {:.3}, service CPU per event {:.3}",
                on.0 / off.0,
                on.1 / off.1,
                on.2 / off.2,
                on.3 / off.3
            );
        }
    }
    if let Some(round) = rounds.first() {
        println!(
            "- rows written per event (all tables): {:.2}",
            round.raw.rows as f64 / events as f64
        );
    }
    let seconds = |d: Option<Duration>| {
        d.map_or("not measured".to_owned(), |d| {
            format!("{:.1} s", d.as_secs_f64())
        })
    };
    let waits: Vec<String> = rounds
        .iter()
        .map(|r| format!("{}/{}", seconds(r.settled), seconds(r.raw.settled)))
        .collect();
    println!(
        "- waited for MariaDB to go quiet before each service/raw run (\"not measured\" when no local MariaDB process was found): {}",
        waits.join(", ")
    );
    println!("- batches retried (conflicts with concurrent batches): {retries}");
    for (auth, peak) in rss {
        println!(
            "- server peak RSS{}: {}",
            if rss.len() > 1 {
                format!(" (auth {auth})")
            } else {
                String::new()
            },
            peak.map_or("n/a".to_owned(), |k| format!(
                "{:.1} MiB",
                k as f64 / 1024.0
            ))
        );
    }
}

/// The median (the mean of the middle two for an even count).
fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn rate(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// Streams the events over `streams` concurrent calls; returns accepted events and time.
async fn stream(
    client: &IngestionServiceClient<caravan_integration_tests::Channel>,
    merchant: &str,
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
                    parent: format!("merchants/{merchant}"),
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
    /// How long MariaDB took to go quiet before the copy.
    settled: Option<Duration>,
    elapsed: Duration,
    cpu: CpuUse,
}

/// Reads every row the service stored, then times inserting them into `target` over
/// `connections` parallel connections.
async fn raw_copy(
    source: &DatabaseConnection,
    target: &DatabaseConnection,
    merchant: &str,
    batch: usize,
    connections: usize,
    service_pid: u32,
    phase_clock: bool,
) -> Result<RawCopy> {
    // Foreign-key order: orders before their lines.
    let tables = [
        TableRows::read::<customers::Entity>(source, merchant, batch, connections).await?,
        TableRows::read::<events::Entity>(source, merchant, batch, connections).await?,
        TableRows::read::<outbox::Entity>(source, merchant, batch, connections).await?,
        TableRows::read::<orders::Entity>(source, merchant, batch, connections).await?,
        TableRows::read::<order_lines::Entity>(source, merchant, batch, connections).await?,
    ];
    let rows = tables.iter().map(|t| t.count).sum();
    let settled = settle_mariadb().await;
    let cpu_before = CpuUse::now(service_pid);
    let start = Instant::now();
    phase_mark(phase_clock, "raw-start");
    for table in tables {
        table.insert(target).await?;
    }
    phase_mark(phase_clock, "raw-end");
    Ok(RawCopy {
        rows,
        settled,
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
        merchant: &str,
        batch: usize,
        connections: usize,
    ) -> Result<Self> {
        let merchant_id = E::Column::from_str("merchant_id")
            .map_err(|_| anyhow::anyhow!("{} has no merchant_id", E::default().table_name()))?;
        // In primary-key order. For `events` and `outbox` (auto-increment keys) that is the
        // order the service wrote them; customers, orders and lines went in in stream order,
        // so sorting them favours the raw copy slightly: the ratio errs against the service.
        let mut query = E::find().filter(merchant_id.eq(merchant));
        for key in E::PrimaryKey::iter() {
            query = query.order_by_asc(key.into_column());
        }
        let rows = query.all(source).await?;
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
    /// with the statements and the transactions the service uses
    /// (`caravan_store::bulk_insert`, `caravan_store::write_transaction`: sqlx directly on
    /// MySQL), so the ceiling is the database's and the driver's, not an ORM's.
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
                        let txn = WriteTransaction::begin(&db, None).await?;
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

/// Waits until MariaDB has been idle (at most one clock tick of CPU) for a whole second,
/// at most two minutes; returns how long that took, or `None` when no MariaDB process is
/// visible here (a remote server: nothing was waited for). InnoDB flushes pages and purges old
/// row versions in the background for seconds after a load: left running into the next
/// timed phase, that work would be charged to it (it made the raw copy, which runs right
/// after the service, up to 30% slower in some runs).
async fn settle_mariadb() -> Option<Duration> {
    let start = Instant::now();
    let pid = mariadb_pid()?;
    let mut quiet_windows = 0;
    let mut last = cpu_seconds(pid);
    while quiet_windows < 2 && start.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = cpu_seconds(pid);
        let used = match (now, last) {
            (Some(now), Some(last)) => now - last,
            _ => 0.0,
        };
        quiet_windows = if used <= 0.011 { quiet_windows + 1 } else { 0 };
        last = now;
    }
    Some(start.elapsed())
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn median_of_odd_even_and_no_rounds() {
        assert_eq!(median([3.0, 1.0, 2.0].into_iter()), 2.0);
        assert_eq!(median([4.0, 1.0, 3.0, 2.0].into_iter()), 2.5);
        assert_eq!(median(std::iter::empty()), 0.0);
    }
}
