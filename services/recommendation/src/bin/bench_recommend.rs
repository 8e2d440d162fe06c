//! `caravan-bench-recommend`: serving benchmark of a running recommendation service.
//!
//! Optionally trains first (`--train KIND`: StartTraining, then GetTrainingJob until it
//! finishes; the wall time is reported). Then `--concurrency` callers, each with its own
//! HTTP/2 connection, call `Recommend` back to back for `--seconds` after a `--warmup`,
//! cycling through the customer ids of `--customers` (one per line; each caller starts at a
//! different offset). Reports p50/p90/p99/max latency, throughput and errors, the CPU per
//! answered call of this process and (`--pid`) of the server while recording, and the
//! server's RSS (from /proc). Bounded in time and calls; loopback only by default. Every
//! call presents `--api-key` (or `CARAVAN_API_KEY`): a key for the merchant with the read
//! and write scopes (write for `--train`), and a rate limit above the benchmark's call rate
//! (`caravan keys create --rate-limit`), or the server answers RESOURCE_EXHAUSTED once the
//! key's default limit is reached.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use caravan_platform::Secret;
use caravan_platform::client::CallerInterceptor;
use caravan_proto::caravan::recommendation::v1 as pb;
use caravan_proto::caravan::recommendation::v1::recommendation_service_client::RecommendationServiceClient;
use clap::Parser;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

type Client = RecommendationServiceClient<InterceptedService<Channel, CallerInterceptor>>;

#[derive(Parser, Debug)]
#[command(
    name = "caravan-bench-recommend",
    about = "Recommend latency and throughput"
)]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:50063")]
    target: String,
    /// The API key to present (`authorization: Bearer <key>`); none when absent.
    #[arg(
        long,
        env = "CARAVAN_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    api_key: Option<String>,
    #[arg(long)]
    merchant: String,
    /// Customer ids, one per line.
    #[arg(long)]
    customers: PathBuf,
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// Open loop: total requests per second over all callers (0 = closed loop, back to back).
    /// Latency is then measured from each call's scheduled time, so a stalled server is not
    /// hidden by the callers waiting for it.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Open loop with one tokio interval per caller (the first method; tokio's timer wheel
    /// has 1 ms resolution, so every send is late by up to ~1 ms and that lateness counts
    /// as latency). Default: one pacing thread (`std::thread::sleep`, sub-0.1 ms) hands
    /// scheduled send times to whichever caller is free; a time waits in the queue (and
    /// that wait counts as latency) when all callers are busy.
    #[arg(long)]
    per_caller_timers: bool,
    /// Items per Recommend call.
    #[arg(long, default_value_t = 10)]
    count: i32,
    /// Train a model of this kind first (ITEM_CF, ALS, EASE, POPULARITY, CONTENT, BLEND).
    #[arg(long)]
    train: Option<String>,
    /// Server process id, for its memory and CPU.
    #[arg(long)]
    pid: Option<u32>,
    /// Also run Evaluate with the offline benchmark's split (train < 2011-09-01, test to
    /// 2011-12-10, k = 10) for EASE, ALS, ITEM_CF, POPULARITY and BLEND.
    #[arg(long)]
    evaluate: bool,
}

/// Scheduled send times, `1/rate` apart, from a thread that sleeps to each one; shared by
/// the callers (the next free caller takes the next time). Ends when `stop` is set.
fn pacing_thread(
    rate: u64,
    stop: Arc<AtomicBool>,
) -> Arc<tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<Instant>>> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    std::thread::spawn(move || {
        let start = Instant::now();
        let mut k: u32 = 0;
        while !stop.load(Ordering::Relaxed) {
            let at = start + period * k;
            if let Some(wait) = at.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            if tx.send(at).is_err() {
                break;
            }
            k += 1;
        }
    });
    Arc::new(tokio::sync::Mutex::new(rx))
}

/// A new connection (its own HTTP/2 connection) to `--target` presenting `--api-key`.
async fn connect(args: &Args) -> anyhow::Result<Client> {
    let channel = Channel::from_shared(args.target.clone())?
        .connect()
        .await
        .with_context(|| format!("connect to {}", args.target))?;
    let key = args.api_key.as_deref().map(str::trim).map(Secret::new);
    let interceptor = CallerInterceptor::new(key.as_ref()).map_err(anyhow::Error::msg)?;
    Ok(RecommendationServiceClient::new(InterceptedService::new(
        channel,
        interceptor,
    )))
}

async fn evaluate(args: &Args) -> anyhow::Result<()> {
    let mut client = connect(args).await?;
    let ts = |seconds| Some(prost_types::Timestamp { seconds, nanos: 0 });
    let configs = [
        pb::ModelKind::Ease,
        pb::ModelKind::Als,
        pb::ModelKind::ItemCf,
        pb::ModelKind::Popularity,
        pb::ModelKind::Blend,
    ]
    .into_iter()
    .map(|k| pb::TrainingConfig {
        kind: k as i32,
        ..Default::default()
    })
    .collect();
    let started = Instant::now();
    let response = client
        .evaluate(pb::EvaluateRequest {
            parent: format!("merchants/{}", args.merchant),
            configs,
            cutoff_time: ts(1_314_835_200),   // 2011-09-01
            test_end_time: ts(1_323_475_200), // 2011-12-10
            k: 10,
            max_customers: 0,
        })
        .await?
        .into_inner();
    println!(
        "Evaluate ({:.0} s): | kind | P@10 | R@10 | NDCG@10 | HR@10 | coverage@10 | customers |",
        started.elapsed().as_secs_f64()
    );
    for e in response.evaluations {
        let (c, m) = (e.config.unwrap_or_default(), e.metrics.unwrap_or_default());
        println!(
            "| {:?} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {} |",
            pb::ModelKind::try_from(c.kind).unwrap_or_default(),
            m.precision,
            m.recall,
            m.ndcg,
            m.hit_rate,
            m.coverage,
            m.evaluated_customer_count
        );
    }
    Ok(())
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

fn rss(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or("?".to_owned(), |kb| format!("{:.0} MiB", kb / 1024.0))
    };
    format!("RSS {} (peak {})", field("VmRSS:"), field("VmHWM:"))
}

async fn train(args: &Args, kind: &str) -> anyhow::Result<()> {
    let kind = pb::ModelKind::from_str_name(&format!("MODEL_KIND_{kind}"))
        .with_context(|| format!("unknown kind {kind}"))?;
    let mut client = connect(args).await?;
    let started = Instant::now();
    let job = client
        .start_training(pb::StartTrainingRequest {
            parent: format!("merchants/{}", args.merchant),
            config: Some(pb::TrainingConfig {
                kind: kind as i32,
                // The whole Online Retail file (Dec 2010 - Dec 2011), decay seen from its end.
                training_window_start_time: Some(prost_types::Timestamp {
                    seconds: 1_262_304_000, // 2010-01-01
                    nanos: 0,
                }),
                training_window_end_time: Some(prost_types::Timestamp {
                    seconds: 1_323_475_200, // 2011-12-10
                    nanos: 0,
                }),
                ..Default::default()
            }),
        })
        .await?
        .into_inner();
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let j = client
            .get_training_job(pb::GetTrainingJobRequest {
                name: job.name.clone(),
            })
            .await?
            .into_inner();
        match pb::TrainingJobState::try_from(j.state) {
            Ok(pb::TrainingJobState::Succeeded) => {
                let model = client
                    .get_model(pb::GetModelRequest {
                        name: j.model.clone(),
                    })
                    .await?
                    .into_inner();
                println!(
                    "training {kind:?}: {:.1} s wall (StartTraining to SUCCEEDED), model {} ({} interactions, {} customers, {} products, {:.1} MiB blob), deployed={}",
                    started.elapsed().as_secs_f64(),
                    j.model,
                    model.interaction_count,
                    model.customer_count,
                    model.product_count,
                    model.size_bytes as f64 / 1048576.0,
                    j.deployed,
                );
                return Ok(());
            }
            Ok(pb::TrainingJobState::Failed) => bail!("training failed: {}", j.error_message),
            _ if started.elapsed() > Duration::from_secs(1800) => bail!("training took > 30 min"),
            _ => {}
        }
    }
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let customers: Arc<Vec<String>> = Arc::new(
        std::fs::read_to_string(&args.customers)
            .with_context(|| format!("read {}", args.customers.display()))?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|c| format!("merchants/{}/customers/{c}", args.merchant))
            .collect(),
    );
    if customers.is_empty() {
        bail!("no customers in {}", args.customers.display());
    }
    if let Some(pid) = args.pid {
        println!("server before: {}", rss(pid));
    }
    if let Some(kind) = &args.train {
        train(&args, kind).await?;
        if let Some(pid) = args.pid {
            println!("server after training: {}", rss(pid));
        }
    }
    if args.evaluate {
        evaluate(&args).await?;
    }
    let recording = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let schedule =
        (args.rate > 0 && !args.per_caller_timers).then(|| pacing_thread(args.rate, stop.clone()));
    let mut tasks = Vec::new();
    for caller in 0..args.concurrency {
        let mut client = connect(&args).await?;
        let (customers, recording, stop) = (customers.clone(), recording.clone(), stop.clone());
        let parent = format!("merchants/{}", args.merchant);
        let count = args.count;
        // Each caller's share of the open-loop rate.
        let period = (args.rate > 0 && args.per_caller_timers)
            .then(|| Duration::from_secs_f64(args.concurrency as f64 / args.rate as f64));
        let schedule = schedule.clone();
        tasks.push(tokio::spawn(async move {
            let mut ticker = period.map(|p| {
                let mut t = tokio::time::interval(p);
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                t
            });
            let mut lat: Vec<u32> = Vec::with_capacity(1 << 16);
            let (mut errors, mut fallbacks, mut empty) = (0u64, 0u64, 0u64);
            let mut i = caller * 7919;
            while !stop.load(Ordering::Relaxed) {
                let customer = customers[i % customers.len()].clone();
                i += 1;
                let t = match (ticker.as_mut(), &schedule) {
                    (Some(tick), _) => tick.tick().await.into_std(),
                    (None, Some(queue)) => match queue.lock().await.recv().await {
                        Some(at) => at,
                        None => break,
                    },
                    (None, None) => Instant::now(),
                };
                let r = client
                    .recommend(pb::RecommendRequest {
                        parent: parent.clone(),
                        customer,
                        count,
                        ..Default::default()
                    })
                    .await;
                let us = t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                if recording.load(Ordering::Relaxed) {
                    match r {
                        Ok(r) => {
                            let r = r.into_inner();
                            lat.push(us);
                            fallbacks += u64::from(r.fallback);
                            empty += u64::from(r.items.is_empty());
                        }
                        Err(_) => errors += 1,
                    }
                }
            }
            (lat, errors, fallbacks, empty)
        }));
    }
    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    recording.store(true, Ordering::Relaxed);
    let cpu_before = (
        args.pid.and_then(cpu_seconds),
        cpu_seconds(std::process::id()),
    );
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    recording.store(false, Ordering::Relaxed);
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu_after = (
        args.pid.and_then(cpu_seconds),
        cpu_seconds(std::process::id()),
    );
    stop.store(true, Ordering::Relaxed);
    let (mut all, mut errors, mut fallbacks, mut empty) = (Vec::new(), 0, 0, 0);
    for t in tasks {
        let (l, e, f, m) = t.await?;
        all.extend(l);
        errors += e;
        fallbacks += f;
        empty += m;
    }
    all.sort_unstable();
    println!(
        "Recommend x {} callers{}, {:.0} s: {} ok, {} errors, {:.0} req/s; latency ms p50 {:.2} p90 {:.2} p99 {:.2} max {:.2}; {} fallback, {} empty lists; {} distinct customers",
        args.concurrency,
        if args.rate > 0 {
            format!(
                " (open loop, {} req/s offered, {})",
                args.rate,
                if args.per_caller_timers {
                    "per-caller tokio intervals"
                } else {
                    "one pacing thread"
                }
            )
        } else {
            String::new()
        },
        elapsed,
        all.len(),
        errors,
        all.len() as f64 / elapsed,
        percentile(&all, 0.5),
        percentile(&all, 0.9),
        percentile(&all, 0.99),
        percentile(&all, 1.0),
        fallbacks,
        empty,
        customers.len()
    );
    // Calls still in flight when recording stops are not counted: a few in thousands.
    let per_call = |before: Option<f64>, after: Option<f64>| match (before, after) {
        (Some(b), Some(a)) if !all.is_empty() => {
            format!("{:.0} µs", (a - b) * 1e6 / all.len() as f64)
        }
        _ => "?".to_owned(),
    };
    println!(
        "CPU per answered call while recording: server {}, this load generator {}",
        per_call(cpu_before.0, cpu_after.0),
        per_call(cpu_before.1, cpu_after.1)
    );
    if let Some(pid) = args.pid {
        println!("server after load: {}", rss(pid));
    }
    Ok(())
}
