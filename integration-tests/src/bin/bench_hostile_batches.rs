//! `caravan-bench-hostile-batches`: does a replica stay inside its pod's memory when many
//! callers send large valid batches at once? (Issue 20: 32 concurrent `BatchIngestEvents`
//! of ~15 MB each took one process from 200 MB to 527 MB RSS against a 512 MiB limit.)
//!
//! Starts the release `caravan-ingestion` on a fresh MariaDB database with the settings
//! under test (`--env KEY=VALUE`, repeatable; none: the defaults), then `--rounds` times
//! sends `--callers` concurrent `BatchIngestEvents` of `--events` events of ~`--event-bytes`
//! bytes each (valid page views, distinct ids), and reports per round how many were stored
//! and how many refused with RESOURCE_EXHAUSTED (with RetryInfo), and the server's peak RSS
//! (VmHWM, from /proc) against `--limit-mib`.
//!
//! Run with `scripts/bench-hostile-batches.sh` (builds release first).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use caravan_integration_tests::ServerProcess;
use caravan_integration_tests::mysql::TestDatabase;
use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::ingestion::v1 as pb;
use caravan_proto::caravan::ingestion::v1::ingestion_service_client::IngestionServiceClient;
use clap::Parser;
use tonic_types::StatusExt;

#[derive(Debug, Parser)]
struct Args {
    /// Concurrent callers, each sending one batch per round.
    #[arg(long, default_value_t = 32)]
    callers: usize,
    /// Events per batch.
    #[arg(long, default_value_t = 10_000)]
    events: usize,
    /// Approximate encoded size of one event.
    #[arg(long, default_value_t = 1_500)]
    event_bytes: usize,
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// The pod's memory limit the peak is compared with.
    #[arg(long, default_value_t = 512)]
    limit_mib: u64,
    /// Extra server settings, `KEY=VALUE` (e.g. CARAVAN__SERVER__MAX_IN_FLIGHT_REQUEST_BYTES=0).
    #[arg(long = "env")]
    env: Vec<String>,
}

const MERCHANT: &str = "merchants/hostile";

fn batch(round: usize, caller: usize, args: &Args) -> pb::BatchIngestEventsRequest {
    let padding = "p".repeat(args.event_bytes.saturating_sub(120));
    let events = (0..args.events)
        .map(|i| pb::Event {
            event_id: format!("r{round}-c{caller}-e{i}"),
            customer_identifiers: vec![common::CustomerIdentifier {
                kind: common::IdentifierKind::DeviceId as i32,
                value: format!("visitor-{}", i % 500),
                issuer: String::new(),
            }],
            occur_time: Some(prost_types::Timestamp {
                seconds: 1_700_000_000 + i as i64,
                nanos: 0,
            }),
            payload: Some(pb::event::Payload::PageView(pb::PageViewEvent {
                uri: format!("https://shop.example/{padding}/{i}"),
                ..Default::default()
            })),
            ..Default::default()
        })
        .collect();
    pb::BatchIngestEventsRequest {
        parent: MERCHANT.to_owned(),
        events,
        validate_only: false,
    }
}

fn kib_of(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[derive(Default, Debug)]
struct Round {
    stored: usize,
    shed: usize,
    shed_without_retry_info: usize,
    other: Vec<String>,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let Some(db) = TestDatabase::create().await? else {
        bail!("CARAVAN_TEST_MYSQL_URL is needed (scripts/mariadb-test-user.sh prints it)");
    };
    let workdir = tempfile::tempdir()?;
    let mut envs: Vec<(String, String)> = vec![
        ("CARAVAN__DATABASE__URL".to_owned(), db.url.clone()),
        (
            "CARAVAN__TELEMETRY__LOG_FILTER".to_owned(),
            "warn".to_owned(),
        ),
        (
            "CARAVAN__INGESTION__IDENTITY_HASH_KEY".to_owned(),
            "bench-identity-key-0123456789abcdef".to_owned(),
        ),
        (
            "CARAVAN__SERVER__MAX_MESSAGE_BYTES".to_owned(),
            (64usize << 20).to_string(),
        ),
    ];
    for pair in &args.env {
        let (k, v) = pair.split_once('=').context("--env takes KEY=VALUE")?;
        envs.push((k.to_owned(), v.to_owned()));
    }
    let env_refs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut command =
        std::process::Command::new(caravan_integration_tests::binary_path("caravan-ingestion")?);
    command
        .current_dir(workdir.path())
        .env("CARAVAN__TELEMETRY__LOG_FORMAT", "json")
        .env("CARAVAN__SERVER__LISTEN_ADDR", "127.0.0.1:0")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (k, v) in &env_refs {
        command.env(k, v);
    }
    let server = ServerProcess::start_command(command)?;
    let pid = server.pid();
    let mut client = IngestionServiceClient::new(server.channel().await?)
        .max_encoding_message_size(usize::MAX)
        .max_decoding_message_size(usize::MAX);
    client
        .create_merchant(pb::CreateMerchantRequest {
            merchant_id: "hostile".to_owned(),
            merchant: Some(pb::Merchant {
                display_name: "Hostile".to_owned(),
                base_currency_code: "EUR".to_owned(),
                ..Default::default()
            }),
        })
        .await?;
    let size = batch(0, 0, &args).encoded_len_mb();
    println!(
        "# caravan-bench-hostile-batches: {} callers x {} events (~{size:.1} MB per batch), {} rounds, settings {:?}",
        args.callers, args.events, args.rounds, args.env
    );
    println!("idle RSS {} MiB", kib_of(pid, "VmRSS:").unwrap_or(0) / 1024);
    println!(
        "| round | stored | refused RESOURCE_EXHAUSTED | other errors | seconds | peak RSS MiB |"
    );
    println!("|---|---|---|---|---|---|");
    for round in 0..args.rounds {
        let started = Instant::now();
        let mut calls = Vec::new();
        for caller in 0..args.callers {
            let request = batch(round, caller, &args);
            let mut client = client.clone();
            calls.push(tokio::spawn(async move {
                client.batch_ingest_events(request).await
            }));
        }
        let mut r = Round::default();
        for call in calls {
            match call.await? {
                Ok(_) => r.stored += 1,
                Err(s) if s.code() == tonic::Code::ResourceExhausted => {
                    r.shed += 1;
                    if s.get_error_details().retry_info().is_none() {
                        r.shed_without_retry_info += 1;
                    }
                }
                Err(s) => r.other.push(format!("{:?}: {}", s.code(), s.message())),
            }
        }
        let peak = kib_of(pid, "VmHWM:").unwrap_or(0) / 1024;
        println!(
            "| {round} | {} | {}{} | {} | {:.1} | {peak} |",
            r.stored,
            r.shed,
            if r.shed_without_retry_info > 0 {
                format!(" ({} without RetryInfo)", r.shed_without_retry_info)
            } else {
                String::new()
            },
            r.other.len(),
            started.elapsed().as_secs_f64()
        );
        for e in r.other.iter().take(3) {
            println!("  error: {e}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let peak = kib_of(pid, "VmHWM:").unwrap_or(0) / 1024;
    let verdict = if peak < args.limit_mib {
        "inside"
    } else {
        "OVER"
    };
    println!(
        "peak RSS {peak} MiB: {verdict} the {} MiB limit",
        args.limit_mib
    );
    drop(server);
    Ok(())
}

trait EncodedMb {
    fn encoded_len_mb(&self) -> f64;
}

impl EncodedMb for pb::BatchIngestEventsRequest {
    fn encoded_len_mb(&self) -> f64 {
        use prost::Message as _;
        self.encoded_len() as f64 / 1e6
    }
}
