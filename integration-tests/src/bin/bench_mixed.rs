//! `caravan-bench-mixed` (`scripts/bench-mixed.sh`, `scripts/soak.sh`): the mixed load and
//! the soak of issue 20. Does the suite keep answering reads in time while it ingests, and
//! does its memory stay flat over half an hour?
//!
//! Setup: a fresh MariaDB database (`CARAVAN_TEST_MYSQL_URL`), the real `caravan serve` on
//! it (all four services in one process), the Online Retail file imported with
//! `caravan import online-retail`, every product given stock, a recommendation model trained
//! and deployed (`--model`, EASE by default), five marketing strategies, and every profile
//! built by the outbox consumer.
//!
//! Load, loopback only, bounded in time: `--callers` callers, each on its own HTTP/2
//! connection, call Recommend, GetProfile and ScoreStrategies in turn for random customers,
//! closed loop (back to back) or open loop (`--rate`: calls/s in total, latency measured from
//! each call's scheduled time, so queueing is not hidden). Meanwhile one ingestion stream at a
//! time sends events (`IngestEvents`, caller-chosen event ids) at `--ingest-rate` for the
//! whole run, each stream `--stream-seconds` long (a call lasts at most
//! `server.request_timeout_ms`). A call over `--timeout` counts as a timeout; a caller told
//! RESOURCE_EXHAUSTED waits the RetryInfo delay before its next call, after another error
//! 100 ms (closed loop). The run stops early if the server exits.
//!
//! Every `--sample`: the server's RSS (VmRSS), MariaDB's, the calls/s and p99 of the window
//! per RPC, refusals, errors by code, events sent, and from `/metrics` the outbox backlog,
//! the database pool in use and the calls in flight; printed
//! as a table and appended to `--csv`. At the end: per RPC calls, calls/s, p50/p99/max,
//! RESOURCE_EXHAUSTED, timeouts and other errors by code; ingestion events/s; and whether the
//! RSS stayed within 10% after the warm-up (`--rss-warmup`). Latencies go to bucketed
//! histograms (under 1.6% error), so memory does not grow with the run.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use caravan_integration_tests::mysql::TestDatabase;
use caravan_integration_tests::synthetic_events::{Rng, gbp};
use caravan_integration_tests::{Channel, ServerProcess, binary_path, online_retail};
use caravan_proto::caravan::ingestion::v1 as ing;
use caravan_proto::caravan::ingestion::v1::ingestion_service_client::IngestionServiceClient;
use caravan_proto::caravan::marketing::v1 as mkt;
use caravan_proto::caravan::marketing::v1::strategy_scoring_service_client::StrategyScoringServiceClient;
use caravan_proto::caravan::profiling::v1 as prof;
use caravan_proto::caravan::profiling::v1::profiling_service_client::ProfilingServiceClient;
use caravan_proto::caravan::recommendation::v1 as rec;
use caravan_proto::caravan::recommendation::v1::recommendation_service_client::RecommendationServiceClient;
use caravan_store::sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use clap::Parser;
use tonic::Code;
use tonic_types::StatusExt as _;

const MERCHANT: &str = "retail";

#[derive(Parser)]
#[command(
    name = "caravan-bench-mixed",
    about = "Mixed load and soak of caravan serve"
)]
struct Args {
    /// Measured time after the warm-up (`20s`, `2m`, `30m`).
    #[arg(long, default_value = "2m", value_parser = parse_duration)]
    duration: Duration,
    /// Load before measuring (not recorded).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    warmup: Duration,
    /// Concurrent callers, each with its own connection.
    #[arg(long, default_value_t = 64)]
    callers: usize,
    /// Open loop: calls per second in total over the three RPCs (0: closed loop, back to back).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Events per second sent by the ingestion stream (0: no ingestion, a control run).
    #[arg(long, default_value_t = 1_000)]
    ingest_rate: u64,
    /// Events per IngestEvents message.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Length of one IngestEvents stream; the next starts when it is answered.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    stream_seconds: Duration,
    /// A call slower than this is a timeout error.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    timeout: Duration,
    /// Sampling interval of RSS and the windowed p99.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    sample: Duration,
    /// RSS samples before this much of the measured time are warm-up (default: 3 minutes or
    /// 20% of `--duration`, whichever is shorter).
    #[arg(long, value_parser = parse_duration)]
    rss_warmup: Option<Duration>,
    /// Write the samples to this CSV file (one row per `--sample`).
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Recommendation model to train and deploy (EASE, ALS, ITEM_CF, POPULARITY, ...).
    #[arg(long, default_value = "EASE")]
    model: String,
    /// The Online Retail file to import (default: the repository's).
    #[arg(long)]
    data: Option<PathBuf>,
    /// The `caravan` binary to serve with, by name, next to this one: a copy under another
    /// name is not stopped by a `pkill caravan` meant for other servers on a shared machine.
    #[arg(long, default_value = "caravan")]
    server_binary: String,
    /// Extra environment for `caravan serve`, `KEY=VALUE` (repeatable), e.g.
    /// `CARAVAN__SERVER__MAX_CONCURRENT_CALLS=32`.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    envs: Vec<String>,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| s.split_at(i));
    let n: f64 = number.parse().map_err(|_| format!("bad duration {s:?}"))?;
    let seconds = match unit {
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("bad duration unit in {s:?} (ms, s, m, h)")),
    };
    Ok(Duration::from_secs_f64(seconds))
}

// --- latency histogram ----------------------------------------------------------------

/// Sub-buckets per power of two: values are kept to within 1/64 (1.6%).
const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;

/// Latencies in microseconds in log-linear buckets: fixed memory however long the run.
#[derive(Clone)]
struct Histogram {
    counts: Vec<u64>,
    n: u64,
    max: u64,
}

impl Histogram {
    fn new() -> Self {
        Self {
            counts: vec![0; (64 * SUB) as usize],
            n: 0,
            max: 0,
        }
    }

    fn index(us: u64) -> usize {
        if us < SUB {
            return us as usize;
        }
        let shift = 63 - us.leading_zeros() - SUB_BITS;
        ((u64::from(shift) + 1) * SUB + (us >> shift) - SUB) as usize
    }

    /// The largest value of bucket `i`.
    fn upper(i: usize) -> u64 {
        let i = i as u64;
        if i < SUB {
            return i;
        }
        let shift = i / SUB - 1;
        ((SUB + i % SUB + 1) << shift) - 1
    }

    fn record(&mut self, d: Duration) {
        let us = d.as_micros().min(u128::from(u64::MAX >> 2)) as u64;
        self.counts[Self::index(us)] += 1;
        self.n += 1;
        self.max = self.max.max(us);
    }

    /// The `q` quantile in ms (the upper end of its bucket, never above the maximum).
    fn quantile_ms(&self, q: f64) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        let rank = ((q * self.n as f64).ceil() as u64).clamp(1, self.n);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::upper(i).min(self.max) as f64 / 1e3;
            }
        }
        self.max as f64 / 1e3
    }
}

// --- what the callers record --------------------------------------------------------------

#[derive(Clone, Copy)]
enum Rpc {
    Recommend,
    GetProfile,
    ScoreStrategies,
}

const RPCS: [Rpc; 3] = [Rpc::Recommend, Rpc::GetProfile, Rpc::ScoreStrategies];

impl Rpc {
    fn name(self) -> &'static str {
        match self {
            Rpc::Recommend => "Recommend",
            Rpc::GetProfile => "GetProfile",
            Rpc::ScoreStrategies => "ScoreStrategies",
        }
    }
}

/// One RPC's results: over the measured time, and since the last sample.
struct Tally {
    total: Histogram,
    window: Histogram,
    /// RESOURCE_EXHAUSTED answers, and how many of them lacked a RetryInfo.
    shed: u64,
    shed_without_retry_info: u64,
    timeouts: u64,
    /// Other errors by code.
    errors: BTreeMap<String, u64>,
    window_shed: u64,
    /// Timeouts and other errors since the last sample, by code.
    window_failed: BTreeMap<String, u64>,
}

impl Tally {
    fn new() -> Self {
        Self {
            total: Histogram::new(),
            window: Histogram::new(),
            shed: 0,
            shed_without_retry_info: 0,
            timeouts: 0,
            errors: BTreeMap::new(),
            window_shed: 0,
            window_failed: BTreeMap::new(),
        }
    }

    fn other_errors(&self) -> u64 {
        self.errors.values().sum()
    }
}

enum Outcome {
    Ok,
    Timeout,
    Failed(tonic::Status),
}

/// What callers, the ingestion stream and the sampler share.
struct Shared {
    tallies: [Mutex<Tally>; 3],
    recording: AtomicBool,
    stop: AtomicBool,
    fallbacks: AtomicU64,
    /// Ingestion: events sent in the current window and in total (while recording).
    window_events: AtomicU64,
    window_stream_errors: AtomicU64,
    events_sent: AtomicU64,
    ingest: Mutex<IngestTally>,
}

#[derive(Default)]
struct IngestTally {
    streams: u64,
    accepted: i64,
    duplicates: i64,
    rejected: i64,
    errors: BTreeMap<String, u64>,
}

impl Shared {
    fn record(&self, rpc: Rpc, started: Instant, outcome: Outcome) {
        if !self.recording.load(Ordering::Relaxed) {
            return;
        }
        let Ok(mut t) = self.tallies[rpc as usize].lock() else {
            return;
        };
        match outcome {
            Outcome::Ok => {
                let d = started.elapsed();
                t.total.record(d);
                t.window.record(d);
            }
            Outcome::Timeout => {
                t.timeouts += 1;
                *t.window_failed.entry("timeout".to_owned()).or_default() += 1;
            }
            Outcome::Failed(s) if s.code() == Code::ResourceExhausted => {
                t.shed += 1;
                t.window_shed += 1;
                if s.get_details_retry_info().is_none() {
                    t.shed_without_retry_info += 1;
                }
            }
            Outcome::Failed(s) => {
                let code = format!("{:?}", s.code());
                *t.errors.entry(code.clone()).or_default() += 1;
                *t.window_failed.entry(code).or_default() += 1;
            }
        }
    }
}

// --- the callers ------------------------------------------------------------------------

struct Clients {
    rec: RecommendationServiceClient<Channel>,
    prof: ProfilingServiceClient<Channel>,
    mkt: StrategyScoringServiceClient<Channel>,
}

impl Clients {
    fn new(channel: Channel) -> Self {
        Self {
            rec: RecommendationServiceClient::new(channel.clone()),
            prof: ProfilingServiceClient::new(channel.clone()),
            mkt: StrategyScoringServiceClient::new(channel),
        }
    }

    /// One call of `rpc` for `customer`; over `timeout` it is abandoned.
    async fn call(
        &mut self,
        rpc: Rpc,
        customer: &str,
        timeout: Duration,
        shared: &Shared,
    ) -> Outcome {
        let name = format!("merchants/{MERCHANT}/customers/{customer}");
        let parent = format!("merchants/{MERCHANT}");
        let sent = Instant::now();
        let answer = tokio::time::timeout(timeout, async {
            match rpc {
                Rpc::Recommend => self
                    .rec
                    .recommend(with_timeout(
                        rec::RecommendRequest {
                            parent,
                            customer: name,
                            count: 10,
                            ..Default::default()
                        },
                        timeout,
                    ))
                    .await
                    .map(|r| {
                        if r.get_ref().fallback {
                            shared.fallbacks.fetch_add(1, Ordering::Relaxed);
                        }
                    }),
                Rpc::GetProfile => self
                    .prof
                    .get_profile(with_timeout(
                        prof::GetProfileRequest {
                            name: format!("{name}/profile"),
                            view: prof::ProfileView::Full as i32,
                            reveal_pii: false,
                        },
                        timeout,
                    ))
                    .await
                    .map(drop),
                Rpc::ScoreStrategies => self
                    .mkt
                    .score_strategies(with_timeout(
                        mkt::ScoreStrategiesRequest {
                            parent,
                            customer: name,
                            ..Default::default()
                        },
                        timeout,
                    ))
                    .await
                    .map(drop),
            }
        })
        .await;
        // The caller's deadline passed (the server answered DEADLINE_EXCEEDED, or the
        // channel gave up first); an early DEADLINE_EXCEEDED is an error of its own.
        let late = sent.elapsed() + Duration::from_millis(50) >= timeout;
        match answer {
            Ok(Ok(())) => Outcome::Ok,
            Ok(Err(s)) if late && matches!(s.code(), Code::DeadlineExceeded | Code::Cancelled) => {
                Outcome::Timeout
            }
            Ok(Err(s)) => Outcome::Failed(s),
            Err(_) => Outcome::Timeout,
        }
    }
}

/// A request carrying `grpc-timeout`, so the server gives up when the caller does.
fn with_timeout<T>(message: T, timeout: Duration) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.set_timeout(timeout);
    r
}

/// Scheduled send times `1/rate` apart with their sequence number, from a thread that sleeps
/// to each one (sub-millisecond, unlike tokio's timer). At most `backlog` wait; a time that
/// finds the queue full is dropped and counted (the load generator cannot keep up).
fn pacing_thread(
    rate: u64,
    shared: Arc<Shared>,
    dropped: Arc<AtomicU64>,
) -> tokio::sync::mpsc::Receiver<(Instant, u64)> {
    let backlog = (rate as usize * 10).max(1_000);
    let (tx, rx) = tokio::sync::mpsc::channel(backlog);
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    std::thread::spawn(move || {
        let start = Instant::now();
        let mut k: u64 = 0;
        while !shared.stop.load(Ordering::Relaxed) {
            let at = start + period.mul_f64(k as f64);
            if let Some(wait) = at.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            match tx.try_send((at, k)) {
                Ok(()) => {}
                Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => {
                    dropped.fetch_add(1, Ordering::Relaxed);
                }
                Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => break,
            }
            k += 1;
        }
    });
    rx
}

type Schedule = Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<(Instant, u64)>>>;

async fn caller(
    index: usize,
    mut clients: Clients,
    customers: Arc<Vec<String>>,
    schedule: Option<Schedule>,
    timeout: Duration,
    shared: Arc<Shared>,
) {
    let mut rng = Rng(0x5eed ^ index as u64);
    let mut i = index as u64;
    while !shared.stop.load(Ordering::Relaxed) {
        // Closed loop: this caller's next RPC, timed from now. Open loop: the next scheduled
        // call (its RPC by sequence number), timed from its scheduled time.
        let (started, k) = match &schedule {
            None => (Instant::now(), i),
            Some(queue) => match queue.lock().await.recv().await {
                Some(next) => next,
                None => break,
            },
        };
        i += 1;
        let rpc = RPCS[(k % 3) as usize];
        let customer = &customers[rng.below(customers.len())];
        let outcome = clients.call(rpc, customer, timeout, &shared).await;
        // A refused caller waits as told; after another error it pauses briefly, so that a
        // server that is gone is not called in a tight loop.
        let retry_after = match &outcome {
            Outcome::Ok => None,
            Outcome::Failed(s) if s.code() == Code::ResourceExhausted => Some(
                s.get_details_retry_info()
                    .and_then(|r| r.retry_delay)
                    .unwrap_or(Duration::from_millis(500)),
            ),
            _ => Some(Duration::from_millis(100)),
        };
        shared.record(rpc, started, outcome);
        if let (Some(wait), None) = (retry_after, &schedule) {
            tokio::time::sleep(wait).await;
        }
    }
}

// --- ingestion --------------------------------------------------------------------------

/// Events of the kinds a shop sends most (views, carts, searches, orders, reviews) for the
/// imported customers and products, happening now; ids `mixed-<run>-<n>`.
fn events(
    rng: &mut Rng,
    run: u64,
    next: &mut u64,
    count: usize,
    customers: &[String],
    skus: &[String],
) -> Vec<ing::Event> {
    use ing::event::Payload;
    let now = caravan_platform::proto_time::to_timestamp(chrono::Utc::now());
    (0..count)
        .map(|_| {
            *next += 1;
            let id = format!("mixed-{run}-{next}");
            let product = skus[rng.below(skus.len())].clone();
            let payload = match rng.below(100) {
                0..=49 => Payload::ProductView(ing::ProductViewEvent {
                    product,
                    dwell_seconds: 20,
                }),
                50..=69 => Payload::CartAdd(ing::CartChangeEvent {
                    product,
                    quantity: 2,
                    unit_price: gbp(250),
                }),
                70..=79 => Payload::Search(ing::SearchEvent {
                    query: "lunch bag".to_owned(),
                    results_count: 12,
                    category_path: String::new(),
                }),
                80..=94 => Payload::Order(ing::OrderEvent {
                    order_id: id.clone(),
                    status: ing::OrderStatus::Placed as i32,
                    lines: vec![ing::OrderLine {
                        product,
                        quantity: 3,
                        unit_price: gbp(250),
                    }],
                    total: gbp(750),
                    ..Default::default()
                }),
                _ => Payload::Review(ing::ReviewEvent {
                    product,
                    rating: 4,
                    title: "Good".to_owned(),
                    text: "Arrived quickly, nice quality.".to_owned(),
                    language_code: "en".to_owned(),
                    ..Default::default()
                }),
            };
            ing::Event {
                event_id: id,
                customer: customers[rng.below(customers.len())].clone(),
                occur_time: Some(now),
                source: "bench-mixed".to_owned(),
                payload: Some(payload),
                ..Default::default()
            }
        })
        .collect()
}

/// One IngestEvents stream after another until `stop`, each `--stream-seconds` long.
async fn ingestion(
    client: IngestionServiceClient<Channel>,
    args: IngestArgs,
    customers: Arc<Vec<String>>,
    skus: Arc<Vec<String>>,
    shared: Arc<Shared>,
) {
    let run = chrono::Utc::now().timestamp_millis() as u64;
    let mut rng = Rng(run);
    let mut next = 0u64;
    if args.rate == 0 {
        return;
    }
    let period = Duration::from_secs_f64(args.batch as f64 / args.rate as f64);
    while !shared.stop.load(Ordering::Relaxed) {
        let (tx, rx) = tokio::sync::mpsc::channel::<ing::IngestEventsRequest>(2);
        let mut stream_client = client.clone();
        let mut request = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
        request.set_timeout(args.stream + Duration::from_secs(30));
        let call = tokio::spawn(async move { stream_client.ingest_events(request).await });
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let end = Instant::now() + args.stream;
        while Instant::now() < end && !shared.stop.load(Ordering::Relaxed) {
            ticker.tick().await;
            let message = ing::IngestEventsRequest {
                parent: format!("merchants/{MERCHANT}"),
                events: events(&mut rng, run, &mut next, args.batch, &customers, &skus),
                validate_only: false,
            };
            if tx.send(message).await.is_err() {
                break; // the call ended early: its status says why
            }
            if shared.recording.load(Ordering::Relaxed) {
                shared
                    .window_events
                    .fetch_add(args.batch as u64, Ordering::Relaxed);
                shared
                    .events_sent
                    .fetch_add(args.batch as u64, Ordering::Relaxed);
            }
        }
        drop(tx);
        let answer = call.await;
        let failed = !matches!(answer, Ok(Ok(_)));
        if let Ok(mut t) = shared.ingest.lock() {
            t.streams += 1;
            match answer {
                Ok(Ok(r)) => {
                    let r = r.into_inner();
                    t.accepted += r.accepted_count;
                    t.duplicates += r.duplicate_count;
                    t.rejected += r.rejected_count;
                }
                Ok(Err(s)) => *t.errors.entry(format!("{:?}", s.code())).or_default() += 1,
                Err(e) => *t.errors.entry(format!("task: {e}")).or_default() += 1,
            }
        }
        if failed {
            shared.window_stream_errors.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

#[derive(Clone, Copy)]
struct IngestArgs {
    rate: u64,
    batch: usize,
    stream: Duration,
}

// --- the process and the machine --------------------------------------------------------

/// VmRSS (or another `/proc/PID/status` field) in MiB.
fn status_mib(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// User plus system CPU seconds of a process (from /proc; 10 ms resolution).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// The local MariaDB (or MySQL) server process.
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

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The server's `GET /metrics` page (plain HTTP on loopback).
async fn scrape(addr: std::net::SocketAddr) -> Option<String> {
    tokio::task::spawn_blocking(move || {
        use std::io::Read as _;
        let timeout = Some(Duration::from_secs(3));
        let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3)).ok()?;
        s.set_read_timeout(timeout).ok()?;
        s.set_write_timeout(timeout).ok()?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .ok()?;
        let mut page = String::new();
        s.read_to_string(&mut page).ok()?;
        Some(page)
    })
    .await
    .ok()?
}

/// The sum of metric `name` over its series whose labels contain `labels` ("" for all).
fn metric(page: &str, name: &str, labels: &str) -> Option<f64> {
    let values: Vec<f64> = page
        .lines()
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let rest = series.strip_prefix(name)?;
            (rest.is_empty() || rest.starts_with('{') && rest.contains(labels))
                .then(|| value.parse().ok())?
        })
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

// --- setup ------------------------------------------------------------------------------

/// `caravan import online-retail` of `file` into merchant `retail` (created, GBP).
fn import(server: &ServerProcess, workdir: &Path, file: &Path) -> Result<()> {
    let started = Instant::now();
    let output = Command::new(binary_path("caravan")?)
        .args(["import", "online-retail", "--merchant", MERCHANT, "--file"])
        .arg(file)
        .args(["--target", &server.endpoint(), "--rejects"])
        .arg(online_retail::rejects_file(workdir))
        .arg("--checkpoint")
        .arg(online_retail::checkpoint_file(workdir))
        .args(["--create-merchant", "--base-currency", "GBP"])
        .env("CARAVAN_API_KEY", server.api_key().unwrap_or_default())
        .env("CARAVAN__TELEMETRY__LOG_FILTER", "warn")
        .current_dir(workdir)
        .output()
        .context("run caravan import")?;
    if !output.status.success() {
        bail!(
            "import failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let tail: Vec<&str> = stdout.lines().rev().take(3).collect();
    println!(
        "import of {}: {:.0} s; {}",
        file.display(),
        started.elapsed().as_secs_f64(),
        tail.into_iter().rev().collect::<Vec<_>>().join("; ")
    );
    Ok(())
}

async fn column(db: &DatabaseConnection, sql: &str) -> Result<Vec<String>> {
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .with_context(|| format!("query {sql}"))?;
    rows.iter()
        .map(|r| r.try_get_by_index::<String>(0).map_err(Into::into))
        .collect()
}

/// Trains `kind` on the whole file (deployed when done) and waits until Recommend serves it.
async fn train(channel: &Channel, kind: &str, customer: &str) -> Result<()> {
    let kind = rec::ModelKind::from_str_name(&format!("MODEL_KIND_{kind}"))
        .with_context(|| format!("unknown model kind {kind}"))?;
    let mut client = RecommendationServiceClient::new(channel.clone());
    let ts = |seconds| Some(prost_types::Timestamp { seconds, nanos: 0 });
    let started = Instant::now();
    let job = client
        .start_training(rec::StartTrainingRequest {
            parent: format!("merchants/{MERCHANT}"),
            config: Some(rec::TrainingConfig {
                kind: kind as i32,
                auto_deploy: true,
                // The file's year (Dec 2010 - Dec 2011).
                training_window_start_time: ts(1_262_304_000),
                training_window_end_time: ts(1_323_475_200),
                ..Default::default()
            }),
        })
        .await
        .context("StartTraining")?
        .into_inner();
    let model = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let j = client
            .get_training_job(rec::GetTrainingJobRequest {
                name: job.name.clone(),
            })
            .await?
            .into_inner();
        match rec::TrainingJobState::try_from(j.state) {
            Ok(rec::TrainingJobState::Succeeded) => break j.model,
            Ok(rec::TrainingJobState::Failed | rec::TrainingJobState::Cancelled) => {
                bail!("training failed: {}", j.error_message)
            }
            _ if started.elapsed() > Duration::from_secs(3600) => bail!("training > 1 h"),
            _ => {}
        }
    };
    println!(
        "training {kind:?}: {:.0} s, model {model}",
        started.elapsed().as_secs_f64()
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = client
            .recommend(rec::RecommendRequest {
                parent: format!("merchants/{MERCHANT}"),
                customer: format!("merchants/{MERCHANT}/customers/{customer}"),
                count: 10,
                ..Default::default()
            })
            .await?
            .into_inner();
        if r.model == model {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("Recommend still serves {:?}, not {model}", r.model);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Five active strategies, as `caravan-bench-marketing` has them.
async fn create_strategies(channel: &Channel) -> Result<()> {
    use mkt::strategy::Parameters;
    let mut client = StrategyScoringServiceClient::new(channel.clone());
    let strategies = [
        (
            "tracking",
            mkt::StrategyKind::TrackingUpgrade,
            Parameters::TrackingUpgrade(mkt::TrackingUpgradeParameters {
                real_time_tracking: true,
                proactive_delay_notifications: true,
            }),
        ),
        (
            "expedited",
            mkt::StrategyKind::ExpeditedDelivery,
            Parameters::ExpeditedDelivery(mkt::ExpeditedDeliveryParameters {
                days_saved: 2,
                carrier: String::new(),
            }),
        ),
        (
            "after-sales",
            mkt::StrategyKind::AfterSalesGuarantee,
            Parameters::AfterSalesGuarantee(mkt::AfterSalesGuaranteeParameters {
                free_return_days: 30,
                late_delivery_compensation: gbp(500),
                resolution_hours: 24,
            }),
        ),
        (
            "free-shipping",
            mkt::StrategyKind::FreeShipping,
            Parameters::FreeShipping(mkt::FreeShippingParameters {
                min_spend: None,
                country_codes: vec![],
                assumed_shipping_cost: None,
            }),
        ),
        (
            "coupon",
            mkt::StrategyKind::Coupon,
            Parameters::Coupon(mkt::CouponParameters {
                discount: Some(mkt::coupon_parameters::Discount::PercentOff(10.0)),
                min_spend: None,
                validity: None,
            }),
        ),
    ];
    for (id, kind, parameters) in strategies {
        client
            .create_strategy(mkt::CreateStrategyRequest {
                parent: format!("merchants/{MERCHANT}"),
                strategy_id: id.to_owned(),
                strategy: Some(mkt::Strategy {
                    display_name: id.to_owned(),
                    kind: kind as i32,
                    parameters: Some(parameters),
                    ..Default::default()
                }),
            })
            .await
            .with_context(|| format!("create strategy {id}"))?;
    }
    Ok(())
}

/// Waits until the outbox consumer has applied everything (every profile built).
async fn wait_for_profiles(metrics: std::net::SocketAddr) -> Result<()> {
    let started = Instant::now();
    let mut reported = Instant::now();
    loop {
        let page = scrape(metrics).await;
        let pending = page
            .as_deref()
            .and_then(|p| metric(p, "caravan_outbox_pending_entries", ""));
        if pending == Some(0.0) {
            println!(
                "profiles built: outbox drained in {:.0} s",
                started.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(3600) {
            bail!("outbox not drained within an hour: {pending:?} pending");
        }
        if reported.elapsed() > Duration::from_secs(30) {
            println!("outbox: {pending:?} entries pending");
            reported = Instant::now();
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

// --- sampling and report ----------------------------------------------------------------

struct Sample {
    t: f64,
    rss: Option<f64>,
}

const CSV_HEADER: &str = "t_s,server_rss_mib,mariadb_rss_mib,recommend_calls_s,recommend_p99_ms,get_profile_calls_s,get_profile_p99_ms,score_strategies_calls_s,score_strategies_p99_ms,resource_exhausted,errors,ingest_events_s,ingest_stream_errors,outbox_pending,db_pool_in_use,calls_in_flight";

fn mib(v: Option<f64>) -> String {
    v.map_or_else(|| "?".to_owned(), |v| format!("{v:.0}"))
}

/// Takes one sample: the window's figures, reset for the next.
async fn sample(
    t: f64,
    window: f64,
    shared: &Shared,
    server_pid: u32,
    mariadb: Option<u32>,
    metrics: Option<std::net::SocketAddr>,
    csv: &mut Option<std::fs::File>,
) -> Sample {
    let rss = status_mib(server_pid, "VmRSS:");
    let db_rss = mariadb.and_then(|p| status_mib(p, "VmRSS:"));
    let mut cells = vec![format!("{t:.0}"), mib(rss), mib(db_rss)];
    let mut shed = 0;
    let mut failed: BTreeMap<String, u64> = BTreeMap::new();
    for rpc in RPCS {
        let Ok(mut tally) = shared.tallies[rpc as usize].lock() else {
            continue;
        };
        cells.push(format!("{:.0}", tally.window.n as f64 / window));
        cells.push(format!("{:.1}", tally.window.quantile_ms(0.99)));
        shed += std::mem::take(&mut tally.window_shed);
        for (code, n) in std::mem::take(&mut tally.window_failed) {
            *failed.entry(code).or_default() += n;
        }
        tally.window = Histogram::new();
    }
    let events = shared.window_events.swap(0, Ordering::Relaxed);
    let page = match metrics {
        Some(m) => scrape(m).await.unwrap_or_default(),
        None => String::new(),
    };
    let gauge = |name, labels| {
        metric(&page, name, labels).map_or_else(|| "?".to_owned(), |v| format!("{v:.0}"))
    };
    cells.push(shed.to_string());
    let failed: Vec<String> = failed.iter().map(|(c, n)| format!("{c} {n}")).collect();
    cells.push(if failed.is_empty() {
        "0".to_owned()
    } else {
        failed.join("; ")
    });
    cells.push(format!("{:.0}", events as f64 / window));
    cells.push(
        shared
            .window_stream_errors
            .swap(0, Ordering::Relaxed)
            .to_string(),
    );
    cells.push(gauge("caravan_outbox_pending_entries", ""));
    cells.push(gauge("caravan_db_pool_connections", "in_use"));
    cells.push(gauge("caravan_rpc_in_flight", ""));
    println!("| {} |", cells.join(" | "));
    if let Some(file) = csv {
        let _ = writeln!(file, "{}", cells.join(","));
        let _ = file.flush();
    }
    Sample { t, rss }
}

fn report(
    args: &Args,
    shared: &Shared,
    elapsed: f64,
    samples: &[Sample],
    server_pid: u32,
    dropped: u64,
) -> bool {
    println!();
    println!(
        "| RPC | calls ok | calls/s | p50 ms | p99 ms | max ms | RESOURCE_EXHAUSTED | timeouts (> {:?}) | other errors |",
        args.timeout
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut clean = true;
    let mut p99_met = true;
    for rpc in RPCS {
        let Ok(t) = shared.tallies[rpc as usize].lock() else {
            continue;
        };
        let errors: Vec<String> = t.errors.iter().map(|(c, n)| format!("{c} {n}")).collect();
        println!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {:.1} | {}{} | {} | {} |",
            rpc.name(),
            t.total.n,
            t.total.n as f64 / elapsed,
            t.total.quantile_ms(0.5),
            t.total.quantile_ms(0.99),
            t.total.max as f64 / 1e3,
            t.shed,
            if t.shed_without_retry_info > 0 {
                format!(" ({} without RetryInfo)", t.shed_without_retry_info)
            } else {
                String::new()
            },
            t.timeouts,
            if errors.is_empty() {
                "0".to_owned()
            } else {
                errors.join(", ")
            },
        );
        clean &= t.timeouts == 0 && t.other_errors() == 0 && t.shed == 0;
        p99_met &= t.total.quantile_ms(0.99) <= 50.0;
    }
    println!(
        "Recommend answers that were popularity fallbacks: {}",
        shared.fallbacks.load(Ordering::Relaxed)
    );
    if args.rate > 0 {
        println!(
            "open loop: {} calls/s offered; scheduled calls dropped because the backlog of 10 s was full: {dropped}",
            args.rate
        );
    }
    if let Ok(t) = shared.ingest.lock() {
        let sent = shared.events_sent.load(Ordering::Relaxed);
        println!(
            "ingestion: {} streams, {sent} events sent while measuring ({:.0} events/s); over all streams {} accepted, {} duplicates, {} rejected; stream errors: {}",
            t.streams,
            sent as f64 / elapsed,
            t.accepted,
            t.duplicates,
            t.rejected,
            if t.errors.is_empty() {
                "0".to_owned()
            } else {
                format!("{:?}", t.errors)
            }
        );
        clean &= t.errors.is_empty() && t.rejected == 0;
    }

    let warmup = args
        .rss_warmup
        .unwrap_or_else(|| Duration::from_secs(180).min(args.duration.mul_f64(0.2)));
    let after: Vec<f64> = samples
        .iter()
        .filter(|s| s.t >= warmup.as_secs_f64())
        .filter_map(|s| s.rss)
        .collect();
    let first = samples.first().and_then(|s| s.rss);
    let flat = match (
        after.iter().copied().reduce(f64::min),
        after.iter().copied().reduce(f64::max),
    ) {
        (Some(min), Some(max)) => {
            let growth = (max - min) / min * 100.0;
            let pass = growth <= 10.0;
            // Noise or growth: the mean of the first and of the last fifth of those samples.
            let fifth = (after.len() / 5).max(1);
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
            println!(
                "server RSS: first sample {} MiB; after the first {:.0} s ({} samples): min {min:.0} MiB, max {max:.0} MiB, spread {growth:.1}% -> RSS flat within 10%: {}; mean of the first fifth {:.0} MiB, of the last fifth {:.0} MiB; peak (VmHWM) {} MiB",
                mib(first),
                warmup.as_secs_f64(),
                after.len(),
                if pass { "PASS" } else { "FAIL" },
                mean(&after[..fifth]),
                mean(&after[after.len() - fifth..]),
                mib(status_mib(server_pid, "VmHWM:"))
            );
            pass
        }
        _ => {
            println!("server RSS: no samples after the warm-up -> RSS flat within 10%: n/a");
            true
        }
    };
    println!(
        "targets: no errors (timeouts, refusals or other errors): {}; p99 <= 50 ms for every RPC: {}",
        if clean { "MET" } else { "MISSED" },
        if p99_met { "MET" } else { "MISSED" }
    );
    flat && clean && p99_met
}

/// What the server still holds once the load has stopped: calls in flight should drop to
/// zero within the callers' timeout, the outbox to its backlog's drain time.
async fn after_load(metrics: std::net::SocketAddr) {
    for seconds in [0, 5, 10, 30, 60] {
        let page = scrape(metrics).await.unwrap_or_default();
        let gauge = |name, labels| metric(&page, name, labels).unwrap_or(f64::NAN);
        let in_flight = gauge("caravan_rpc_in_flight", "");
        println!(
            "{seconds} s after the load stopped: calls in flight {in_flight:.0}, DB pool in use {:.0}, outbox pending {:.0}",
            gauge("caravan_db_pool_connections", "in_use"),
            gauge("caravan_outbox_pending_entries", ""),
        );
        if in_flight == 0.0 {
            return;
        }
        let next = match seconds {
            0 => 5,
            5 => 5,
            10 => 20,
            _ => 30,
        };
        tokio::time::sleep(Duration::from_secs(next)).await;
    }
}

/// The server's warnings and errors, counted by message (its log filter is `warn`).
fn log_summary(server: &ServerProcess) {
    let mut by_message: BTreeMap<String, u64> = BTreeMap::new();
    for line in server.logs() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let level = v.get("level").and_then(|l| l.as_str()).unwrap_or_default();
        // Readiness changes too: a busy replica reporting NOT_SERVING leaves rotation.
        if level == "WARN"
            || level == "ERROR"
            || line.contains("caravan_platform::readiness")
            || line.contains("SIGTERM received")
            || line.contains("SIGINT received")
        {
            let text = |p: &str| v.pointer(p).and_then(|m| m.as_str()).unwrap_or_default();
            let (message, target) = (text("/fields/message"), text("/target"));
            *by_message
                .entry(format!("{level} {target}: {message}"))
                .or_default() += 1;
        }
    }
    println!(
        "server log: {} warning, error, readiness or signal lines",
        by_message.values().sum::<u64>()
    );
    for (message, n) in by_message.iter().take(20) {
        println!("  {n} x {message}");
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let Some(db) = TestDatabase::create().await? else {
        bail!("set CARAVAN_TEST_MYSQL_URL (scripts/bench-mixed.sh does)");
    };
    let workdir = tempfile::tempdir()?;
    let mut env: Vec<(String, String)> = vec![
        ("CARAVAN__DATABASE__URL".into(), db.url.clone()),
        // Warnings only, plus the lines that say where the server listens.
        (
            "CARAVAN__TELEMETRY__LOG_FILTER".into(),
            "warn,caravan_platform=info".into(),
        ),
    ];
    for e in &args.envs {
        let (k, v) = e.split_once('=').context("--env takes KEY=VALUE")?;
        env.push((k.to_owned(), v.to_owned()));
    }
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut server =
        ServerProcess::start(&args.server_binary, &["serve"], &env_refs, workdir.path())?;
    let metrics = server.metrics_address();
    println!(
        "caravan serve pid {} on {}, metrics {metrics:?}; database {}",
        server.pid(),
        server.addr,
        db.name
    );

    let data = args.data.clone().unwrap_or_else(online_retail::data_file);
    import(&server, workdir.path(), &data)?;
    let store = caravan_store::connect(&db.url, 2).await?;
    // The file has no stock figures, and out-of-stock items are never recommended.
    store
        .execute_raw(Statement::from_string(
            store.get_database_backend(),
            format!("UPDATE products SET stock = 100 WHERE merchant_id = '{MERCHANT}'"),
        ))
        .await?;
    let customers = Arc::new(
        column(
            &store,
            &format!("SELECT id FROM customers WHERE merchant_id = '{MERCHANT}' ORDER BY id"),
        )
        .await?,
    );
    let skus = Arc::new(
        column(
            &store,
            &format!("SELECT sku FROM products WHERE merchant_id = '{MERCHANT}' ORDER BY sku"),
        )
        .await?,
    );
    store.close().await?;
    if customers.is_empty() || skus.is_empty() {
        bail!("the import left no customers or products");
    }
    println!("{} customers, {} products", customers.len(), skus.len());

    let admin = server.channel().await?;
    train(&admin, &args.model, &customers[0]).await?;
    create_strategies(&admin).await?;
    match metrics {
        Some(m) => wait_for_profiles(m).await?,
        None => println!("no metrics address logged: not waiting for the outbox"),
    }

    // The callers' key: the merchant's, with a rate limit no run reaches (the default
    // `auth.rate_limit_per_second` would refuse the excess as RESOURCE_EXHAUSTED).
    let key = caravan_integration_tests::create_api_key_with_rate_limit(
        &db.url,
        MERCHANT,
        "read,write",
        Some(1_000_000),
    )?;
    let shared = Arc::new(Shared {
        tallies: [
            Mutex::new(Tally::new()),
            Mutex::new(Tally::new()),
            Mutex::new(Tally::new()),
        ],
        recording: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        fallbacks: AtomicU64::new(0),
        window_events: AtomicU64::new(0),
        window_stream_errors: AtomicU64::new(0),
        events_sent: AtomicU64::new(0),
        ingest: Mutex::new(IngestTally::default()),
    });
    let ingest = tokio::spawn(ingestion(
        IngestionServiceClient::new(server.channel_with_key(Some(&key)).await?),
        IngestArgs {
            rate: args.ingest_rate,
            batch: args.batch,
            stream: args.stream_seconds,
        },
        customers.clone(),
        skus.clone(),
        shared.clone(),
    ));
    let dropped = Arc::new(AtomicU64::new(0));
    let schedule: Option<Schedule> = (args.rate > 0).then(|| {
        Arc::new(tokio::sync::Mutex::new(pacing_thread(
            args.rate,
            shared.clone(),
            dropped.clone(),
        )))
    });
    let mut callers = Vec::new();
    for i in 0..args.callers {
        let clients = Clients::new(server.channel_with_key(Some(&key)).await?);
        callers.push(tokio::spawn(caller(
            i,
            clients,
            customers.clone(),
            schedule.clone(),
            args.timeout,
            shared.clone(),
        )));
    }
    println!(
        "load: {} callers, {}; ingestion {} events/s in messages of {}, streams of {:?}; warm-up {:?}, measuring {:?}; load average {}",
        args.callers,
        if args.rate > 0 {
            format!("open loop at {} calls/s in total", args.rate)
        } else {
            "closed loop".to_owned()
        },
        args.ingest_rate,
        args.batch,
        args.stream_seconds,
        args.warmup,
        args.duration,
        load_average()
    );
    tokio::time::sleep(args.warmup).await;

    let mariadb = mariadb_pid();
    let mut csv = match &args.csv {
        Some(path) => {
            let mut f = std::fs::File::create(path)
                .with_context(|| format!("create {}", path.display()))?;
            writeln!(f, "{CSV_HEADER}")?;
            Some(f)
        }
        None => None,
    };
    println!();
    println!(
        "| t s | server RSS MiB | MariaDB RSS MiB | Recommend calls/s | p99 ms | GetProfile calls/s | p99 ms | ScoreStrategies calls/s | p99 ms | RESOURCE_EXHAUSTED | errors by code | ingested events/s | ingest stream errors | outbox pending | DB pool in use | calls in flight |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let cpu_before = (cpu_seconds(server.pid()), mariadb.and_then(cpu_seconds));
    shared.recording.store(true, Ordering::Relaxed);
    let start = Instant::now();
    let mut samples = Vec::new();
    let mut last = 0.0;
    let mut k = 1u32;
    while start.elapsed() < args.duration {
        let next = (args.sample * k).min(args.duration);
        tokio::time::sleep(next.saturating_sub(start.elapsed())).await;
        let t = start.elapsed().as_secs_f64();
        samples.push(
            sample(
                t,
                t - last,
                &shared,
                server.pid(),
                mariadb,
                metrics,
                &mut csv,
            )
            .await,
        );
        last = t;
        k += 1;
        if let Ok(status) = server.wait_exit(Duration::from_millis(1)) {
            println!("caravan serve exited ({status}) at {t:.0} s: the run stops here");
            break;
        }
    }
    shared.recording.store(false, Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    let cpu_after = (cpu_seconds(server.pid()), mariadb.and_then(cpu_seconds));
    shared.stop.store(true, Ordering::Relaxed);
    for c in callers {
        c.await?;
    }
    ingest.await?;
    let cores = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => format!("{:.2}", (a - b) / elapsed),
        _ => "?".to_owned(),
    };
    println!(
        "measured {elapsed:.0} s; CPU in cores: caravan serve {}, MariaDB {}; load average at the end {}",
        cores(cpu_after.0, cpu_before.0),
        cores(cpu_after.1, cpu_before.1),
        load_average()
    );
    if let Some(m) = metrics {
        after_load(m).await;
    }
    let ok = report(
        &args,
        &shared,
        elapsed,
        &samples,
        server.pid(),
        dropped.load(Ordering::Relaxed),
    );
    // A server that died (a panic, a signal) says so here, with its last words.
    if let Ok(status) = server.wait_exit(Duration::from_millis(10)) {
        println!("caravan serve is gone: {status}; its last non-JSON output:");
        let logs = server.logs();
        let plain: Vec<&String> = logs.iter().filter(|l| !l.starts_with('{')).collect();
        for line in plain.iter().rev().take(20).rev() {
            println!("  {line}");
        }
    }
    log_summary(&server);
    drop(server);
    drop(db);
    if !ok {
        println!("verdict: at least one target missed (see above)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_keep_values_within_two_percent() {
        for us in [
            0u64,
            1,
            63,
            64,
            65,
            127,
            128,
            1_000,
            12_345,
            5_000_000,
            1 << 40,
        ] {
            let i = Histogram::index(us);
            assert!(Histogram::upper(i) >= us, "{us}");
            assert!(i == 0 || Histogram::upper(i - 1) < us, "{us}");
            assert!(
                Histogram::upper(i) as f64 <= us as f64 * 1.016 + 1.0,
                "{us}"
            );
        }
        let mut h = Histogram::new();
        for ms in 1..=100u64 {
            h.record(Duration::from_millis(ms));
        }
        assert!((h.quantile_ms(0.5) - 50.0).abs() < 1.0);
        assert!((h.quantile_ms(0.99) - 99.0).abs() < 1.6);
        assert_eq!(h.quantile_ms(1.0), 100.0);
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("3 weeks").is_err());
    }
}
