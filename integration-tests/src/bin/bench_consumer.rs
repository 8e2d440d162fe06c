//! `caravan-bench-consumer`: how fast profiling replicas (one, or `--replicas` sharing
//! `--partitions` outbox partitions) turn ingested events into portraits, on MariaDB, with
//! the release binaries.
//!
//! 1. A fresh database; `caravan-ingestion` on it; `--events` synthetic events of mixed
//!    kinds (`synthetic_events`, a live stream: in time order) for `--customers` customers
//!    are ingested while no profiling replica runs.
//! 2. **First build**: `caravan-profiling` starts and its consumer applies the backlog;
//!    timed from the process start to the committed offset reaching the newest outbox row.
//!    No customer has an event summary yet, so each is built from all their events.
//! 3. **Incremental**: the replica is stopped, `--events` more events (later in time, same
//!    customers) are ingested, and a new replica applies them to the stored summaries.
//! 4. **Steady stream**: with the replica running, `--rate` events/s are ingested for
//!    `--seconds`, in batches of 100, and the outbox lag (age of the oldest unapplied entry)
//!    is sampled every 100 ms.
//!
//! Run with `scripts/bench-consumer.sh` (builds release first).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use caravan_integration_tests::mysql::TestDatabase;
use caravan_integration_tests::proc_stats::{cpu_seconds, mariadb_pid, peak_rss_kib};
use caravan_integration_tests::synthetic_events::{Times, generate};
use caravan_integration_tests::{Channel, ServerProcess};
use caravan_proto::caravan::ingestion::v1 as pb;
use caravan_proto::caravan::ingestion::v1::ingestion_service_client::IngestionServiceClient;
use caravan_store::sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use chrono::Utc;
use clap::Parser;

#[derive(Debug, Parser)]
struct Args {
    /// Events per backlog phase (first build, incremental).
    #[arg(long, default_value_t = 200_000)]
    events: usize,
    /// Customers the events are spread over.
    #[arg(long, default_value_t = 20_000)]
    customers: usize,
    /// Events per second in the steady-stream phase.
    #[arg(long, default_value_t = 1_000)]
    rate: usize,
    /// Length of the steady-stream phase.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Profiling replicas sharing the consuming (`profiling.consumer_partitions` of them
    /// should be at least as many).
    #[arg(long, default_value_t = 1)]
    replicas: usize,
    /// `profiling.consumer_partitions`.
    #[arg(long, default_value_t = 1)]
    partitions: u32,
}

const MERCHANT: &str = "bench";
const BATCH: usize = 1_000;

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let db = TestDatabase::create()
        .await?
        .context("CARAVAN_TEST_MYSQL_URL is required")?;
    let workdir = tempfile::tempdir()?;
    let quiet = "warn,caravan_platform=info";
    let ingestion = ServerProcess::start(
        "caravan-ingestion",
        &[],
        &[
            ("CARAVAN__DATABASE__URL", db.url.as_str()),
            ("CARAVAN__TELEMETRY__LOG_FILTER", quiet),
        ],
        workdir.path(),
    )?;
    let mut client = IngestionServiceClient::new(ingestion.channel().await?)
        .max_encoding_message_size(64 << 20)
        .max_decoding_message_size(64 << 20);
    client
        .create_merchant(pb::CreateMerchantRequest {
            merchant_id: MERCHANT.to_owned(),
            merchant: Some(pb::Merchant {
                display_name: "Benchmark".to_owned(),
                base_currency_code: "GBP".to_owned(),
                ..Default::default()
            }),
        })
        .await?;
    let store = caravan_store::connect(&db.url, 2).await?;
    let step = chrono::Duration::milliseconds(10);
    // Both backlogs end before now, the second after the first.
    let start = Utc::now() - step * i32::try_from(2 * args.events + 60_000).unwrap_or(i32::MAX);
    let partitions = args.partitions.to_string();
    let profiling =
        || -> Result<Replicas> {
            let started = (0..args.replicas.max(1))
            .map(|_| {
                ServerProcess::start(
                    "caravan-profiling",
                    &[],
                    &[
                        ("CARAVAN__DATABASE__URL", db.url.as_str()),
                        (
                            "CARAVAN__TELEMETRY__LOG_FILTER",
                            "warn,caravan_platform=info,caravan_profiling::outbox_consumer=debug",
                        ),
                        ("CARAVAN__PROFILING__CONSUMER_POLL_MS", "100"),
                        ("CARAVAN__PROFILING__CONSUMER_PARTITIONS", partitions.as_str()),
                    ],
                    workdir.path(),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
            Ok(Replicas(started))
        };
    let offset_sql = committed_offset_sql(args.partitions);
    println!(
        "{} events per backlog over {} customers; steady stream {} events/s for {} s; {} replica(s), {} partition(s)",
        args.events, args.customers, args.rate, args.seconds, args.replicas, args.partitions
    );

    let times = Times::InOrder { from: start, step };
    ingest(
        &mut client,
        generate(0..args.events, "first", args.customers, times),
    )
    .await?;
    let launched = Instant::now();
    let replica = profiling()?;
    let first = catch_up(&store, &replica, &offset_sql, launched).await?;
    report("first build (from all events)", args.events, &first);
    split(&replica.logs());
    replica.stop()?;

    let later = Times::InOrder {
        from: start + step * i32::try_from(args.events).unwrap_or(i32::MAX),
        step,
    };
    ingest(
        &mut client,
        generate(args.events..2 * args.events, "next", args.customers, later),
    )
    .await?;
    let launched = Instant::now();
    let replica = profiling()?;
    let incremental = catch_up(&store, &replica, &offset_sql, launched).await?;
    report(
        "incremental (new events onto stored summaries)",
        args.events,
        &incremental,
    );
    split(&replica.logs());
    let before_steady = replica.log_lengths();

    steady(&mut client, &store, &args, &offset_sql).await?;
    split(&replica.logs_since(&before_steady));
    println!("profiling peak RSS {} MiB", replica.peak_rss_mib());
    store.close().await?;
    Ok(())
}

/// Ingests `events` in batches of [`BATCH`], checking every one was accepted.
async fn ingest(
    client: &mut IngestionServiceClient<Channel>,
    events: Vec<pb::Event>,
) -> Result<()> {
    let started = Instant::now();
    let total = events.len();
    let mut events = events.into_iter();
    loop {
        let batch: Vec<pb::Event> = events.by_ref().take(BATCH).collect();
        if batch.is_empty() {
            break;
        }
        let n = batch.len();
        let response = client
            .batch_ingest_events(pb::BatchIngestEventsRequest {
                parent: format!("merchants/{MERCHANT}"),
                events: batch,
                validate_only: false,
            })
            .await?
            .into_inner();
        ensure!(
            usize::try_from(response.accepted_count).unwrap_or(0) == n,
            "not all accepted: {} of {n}",
            response.accepted_count
        );
    }
    println!(
        "ingested {total} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// How a catch-up went.
struct CatchUp {
    elapsed: Duration,
    profiling_cpu: f64,
    mariadb_cpu: f64,
    peak_rss_mib: u64,
}

/// The profiling replicas of a phase.
struct Replicas(Vec<ServerProcess>);

impl Replicas {
    fn cpu_seconds(&self) -> f64 {
        self.0.iter().filter_map(|r| cpu_seconds(r.pid())).sum()
    }

    /// The largest peak RSS of one replica.
    fn peak_rss_mib(&self) -> u64 {
        self.0
            .iter()
            .filter_map(|r| peak_rss_kib(r.pid()))
            .max()
            .unwrap_or(0)
            / 1024
    }

    /// Every replica's log lines, one replica after another.
    fn logs(&self) -> Vec<String> {
        self.0.iter().flat_map(ServerProcess::logs).collect()
    }

    fn log_lengths(&self) -> Vec<usize> {
        self.0.iter().map(|r| r.logs().len()).collect()
    }

    /// The lines each replica logged after `lengths` (from [`Self::log_lengths`]).
    fn logs_since(&self, lengths: &[usize]) -> Vec<String> {
        self.0
            .iter()
            .zip(lengths)
            .flat_map(|(r, from)| r.logs().into_iter().skip(*from))
            .collect()
    }

    fn stop(mut self) -> Result<()> {
        for r in &mut self.0 {
            r.sigterm()?;
        }
        for r in &mut self.0 {
            r.wait_exit(Duration::from_secs(30))?;
        }
        Ok(())
    }
}

/// SQL for the consumer's committed offset: the lowest of its partitions', 0 until every
/// partition has a row.
fn committed_offset_sql(partitions: u32) -> String {
    if partitions <= 1 {
        "SELECT COALESCE(MAX(last_seq), 0) FROM consumer_offsets WHERE consumer = 'profiling'"
            .to_owned()
    } else {
        format!(
            "SELECT CASE WHEN COUNT(*) = {partitions} THEN MIN(last_seq) ELSE 0 END \
             FROM consumer_offsets WHERE consumer LIKE 'profiling-%-of-{partitions}'"
        )
    }
}

/// Waits until the consumer's committed offset reaches the newest outbox row, timed from
/// `started` (just before the replicas were launched). Their CPU is counted from when the
/// launch returned, which leaves most of their start-up out.
async fn catch_up(
    store: &DatabaseConnection,
    replicas: &Replicas,
    offset_sql: &str,
    started: Instant,
) -> Result<CatchUp> {
    let own_before = replicas.cpu_seconds();
    let maria = mariadb_pid();
    let maria_before = maria.and_then(cpu_seconds).unwrap_or(0.0);
    let newest = scalar(store, "SELECT COALESCE(MAX(seq), 0) FROM outbox").await?;
    loop {
        let offset = scalar(store, offset_sql).await?;
        if offset >= newest {
            break;
        }
        ensure!(
            started.elapsed() < Duration::from_secs(3_600),
            "the consumer did not catch up within an hour (at {offset} of {newest})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(CatchUp {
        elapsed: started.elapsed(),
        profiling_cpu: replicas.cpu_seconds() - own_before,
        mariadb_cpu: maria.and_then(cpu_seconds).unwrap_or(0.0) - maria_before,
        peak_rss_mib: replicas.peak_rss_mib(),
    })
}

fn report(what: &str, events: usize, c: &CatchUp) {
    let secs = c.elapsed.as_secs_f64();
    #[allow(clippy::cast_precision_loss)]
    let rate = events as f64 / secs.max(1e-9);
    #[allow(clippy::cast_precision_loss)]
    let per_event_us = |cpu: f64| cpu * 1e6 / events as f64;
    println!(
        "{what}: {events} events applied in {secs:.1} s = {rate:.0} events/s; CPU per event: profiling {:.1} µs, MariaDB {:.1} µs; profiling peak RSS {} MiB",
        per_event_us(c.profiling_cpu),
        per_event_us(c.mariadb_cpu),
        c.peak_rss_mib
    );
}

/// Where the consumer's polls spent their time, from its debug lines: polls, and seconds
/// loading, building, saving and refreshing RFM.
fn split(logs: &[String]) {
    let mut poll_ms = Vec::new();
    let mut sums = [0u64; 4];
    // The longest polls: (ms, entries, customers, load/build/save/RFM ms of their merchants).
    let mut polls: Vec<(u64, u64, u64, [u64; 4])> = Vec::new();
    let mut pending = [0u64; 4];
    for line in logs {
        let Ok(json) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let fields = &json["fields"];
        let ms = |key: &str| fields[key].as_u64().unwrap_or(0);
        match fields["message"].as_str() {
            Some("merchant's profiles refreshed") => {
                for (i, key) in ["load_ms", "build_ms", "save_ms", "rfm_ms"]
                    .iter()
                    .enumerate()
                {
                    sums[i] += ms(key);
                    pending[i] += ms(key);
                }
            }
            Some("profiles refreshed") => {
                poll_ms.push(ms("poll_ms"));
                polls.push((ms("poll_ms"), ms("entries"), ms("customers"), pending));
                pending = [0; 4];
            }
            _ => {}
        }
    }
    poll_ms.sort_unstable();
    #[allow(clippy::cast_precision_loss)]
    let secs = |ms: u64| ms as f64 / 1000.0;
    println!(
        "  {} polls (median {} ms, longest {} ms); load {:.1} s, build {:.1} s, save {:.1} s, RFM refresh {:.1} s",
        poll_ms.len(),
        poll_ms.get(poll_ms.len() / 2).copied().unwrap_or(0),
        poll_ms.last().copied().unwrap_or(0),
        secs(sums[0]),
        secs(sums[1]),
        secs(sums[2]),
        secs(sums[3]),
    );
    polls.sort_by_key(|p| std::cmp::Reverse(p.0));
    for (ms, entries, customers, [load, build, save, rfm]) in polls.iter().take(3) {
        println!(
            "    a {ms} ms poll: {entries} entries, {customers} customers; load {load}, build {build}, save {save}, RFM {rfm} ms"
        );
    }
}

/// Ingests at `--rate` for `--seconds` while sampling the outbox lag; prints its
/// distribution.
async fn steady(
    client: &mut IngestionServiceClient<Channel>,
    store: &DatabaseConnection,
    args: &Args,
    offset_sql: &str,
) -> Result<()> {
    const PER_CALL: usize = 100;
    let interval = Duration::from_secs_f64(PER_CALL as f64 / args.rate.max(1) as f64);
    let total = args.rate * usize::try_from(args.seconds).unwrap_or(usize::MAX);
    let first = 2 * args.events;
    let sampler_store = store.clone();
    let sampler_sql = offset_sql.to_owned();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_sampling = std::sync::Arc::clone(&stop);
    let sampler = tokio::spawn(async move {
        let mut lags = Vec::new();
        while !stop_sampling.load(std::sync::atomic::Ordering::Relaxed) {
            if let Ok(lag) = lag_seconds(&sampler_store, &sampler_sql).await {
                lags.push(lag);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        lags
    });
    let started = Instant::now();
    let mut sent = 0;
    while sent < total {
        let due = started + interval * u32::try_from(sent / PER_CALL).unwrap_or(u32::MAX);
        tokio::time::sleep_until(due.into()).await;
        let from = first + sent;
        let now = Times::InOrder {
            from: Utc::now(),
            step: chrono::Duration::microseconds(10),
        };
        ingest_quietly(
            client,
            generate(from..from + PER_CALL, "live", args.customers, now),
        )
        .await?;
        sent += PER_CALL;
    }
    let ingest_secs = started.elapsed().as_secs_f64();
    // Let the last events through before stopping the sampler.
    tokio::time::sleep(Duration::from_secs(5)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut lags = sampler.await?;
    lags.sort_by(f64::total_cmp);
    let q = |p: f64| {
        lags.get(((lags.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "steady stream: {total} events in {ingest_secs:.1} s ({:.0} events/s); outbox lag (age of the oldest unapplied entry, {} samples every 100 ms): p50 {:.2} s, p99 {:.2} s, max {:.2} s",
        total as f64 / ingest_secs,
        lags.len(),
        q(0.5),
        q(0.99),
        lags.last().copied().unwrap_or(0.0)
    );
    Ok(())
}

async fn ingest_quietly(
    client: &mut IngestionServiceClient<Channel>,
    events: Vec<pb::Event>,
) -> Result<()> {
    let n = events.len();
    let response = client
        .batch_ingest_events(pb::BatchIngestEventsRequest {
            parent: format!("merchants/{MERCHANT}"),
            events,
            validate_only: false,
        })
        .await?
        .into_inner();
    ensure!(
        usize::try_from(response.accepted_count).unwrap_or(0) == n,
        "not all accepted"
    );
    Ok(())
}

/// Age of the oldest outbox row after the consumer's offset; 0 when caught up.
async fn lag_seconds(store: &DatabaseConnection, offset_sql: &str) -> Result<f64> {
    let offset = scalar(store, offset_sql).await?;
    let row = store
        .query_one_raw(Statement::from_string(
            store.get_database_backend(),
            format!(
                "SELECT COALESCE(TIMESTAMPDIFF(MICROSECOND, MIN(o.created_at), UTC_TIMESTAMP(6)), 0) \
                 FROM outbox o WHERE o.seq > {offset}"
            ),
        ))
        .await?
        .context("no row")?;
    let micros: i64 = row.try_get_by_index(0)?;
    #[allow(clippy::cast_precision_loss)]
    Ok(micros as f64 / 1e6)
}

async fn scalar(store: &DatabaseConnection, sql: &str) -> Result<i64> {
    let row = store
        .query_one_raw(Statement::from_string(store.get_database_backend(), sql))
        .await?
        .context("no row")?;
    Ok(row.try_get_by_index(0)?)
}
