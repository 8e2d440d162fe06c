//! `caravan-fault-drill`: the fault-injection drill at any size (issue 20, item 7). Streams
//! events with caller ids into `caravan-ingestion` with two `caravan-profiling` replicas on
//! a private MariaDB while it kills ingestion, MariaDB and the profiling lease holder with
//! SIGKILL, then counts lost and duplicated events, the outbox and the profiles (see
//! `caravan_integration_tests::fault_drill`). Prints the figures as Markdown for
//! RELIABILITY.md; exits 1 on any violation.
//!
//! Run with `scripts/fault-drill.sh` (release build); the binaries it starts are taken from
//! the directory this one lives in.

use std::time::Duration;

use anyhow::{Result, bail};
use caravan_integration_tests::fault_drill::load::LoadShape;
use caravan_integration_tests::fault_drill::services::Tuning;
use caravan_integration_tests::fault_drill::{self, DrillConfig, mariadb};
use clap::Parser;

#[derive(Debug, Parser)]
struct Args {
    /// Events to send, each with its own caller id.
    #[arg(long, default_value_t = 200_000)]
    events: usize,
    /// Concurrent client streams.
    #[arg(long, default_value_t = 50)]
    streams: usize,
    /// Customers the events spread over.
    #[arg(long, default_value_t = 5_000)]
    customers: usize,
    /// Rounds of faults; each round kills ingestion, MariaDB and the lease holder once.
    #[arg(long, default_value_t = 3)]
    faults: usize,
    /// Events per second over all streams (0: as fast as the service takes them): each
    /// stream trickles its messages in at its share of the rate, so that its calls are
    /// long-lived and every fault cuts through all of them. The load must also outlast the
    /// faults, each of which takes seconds to strike and recover.
    #[arg(long, default_value_t = 2_000)]
    rate: u32,
    /// Events per IngestEvents message (one transaction each).
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Events per IngestEvents call (the unit that is acknowledged, or re-sent whole). At
    /// the rate's share per stream a call must end within the server's request timeout
    /// (30 s by default).
    #[arg(long, default_value_t = 500)]
    call_events: usize,
    /// Seconds a call may keep failing before the drill gives up on it (a violation).
    #[arg(long, default_value_t = 300)]
    call_deadline_seconds: u64,
    /// profiling.consumer_lease_seconds of the replicas.
    #[arg(long, default_value_t = 3)]
    lease_seconds: u64,
    /// profiling.outbox_gap_grace_seconds of the replicas.
    #[arg(long, default_value_t = 10)]
    gap_grace_seconds: u64,
    /// Seconds profiles may take to catch up after the last acknowledgement.
    #[arg(long, default_value_t = 900)]
    catch_up_seconds: u64,
    /// Port of the private MariaDB (a free one by default).
    #[arg(long)]
    mariadb_port: Option<u16>,
}

impl Args {
    fn config(&self) -> DrillConfig {
        DrillConfig {
            load: LoadShape {
                events: self.events,
                streams: self.streams.max(1),
                customers: self.customers.max(1),
                batch: self.batch.max(1),
                call_events: self.call_events.max(1),
                call_deadline: Duration::from_secs(self.call_deadline_seconds),
                rate: (self.rate > 0).then_some(self.rate),
            },
            fault_rounds: self.faults,
            tuning: Tuning {
                lease_seconds: self.lease_seconds,
                gap_grace_seconds: self.gap_grace_seconds,
                poll_ms: 100,
            },
            mariadb_port: self.mariadb_port,
            catch_up_limit: Duration::from_secs(self.catch_up_seconds),
        }
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(reason) = mariadb::unavailable_reason() {
        bail!("the drill needs its own MariaDB: {reason}");
    }
    let report = fault_drill::run(&args.config()).await?;
    println!("{}", report.markdown());
    let violations = report.violations();
    if violations.is_empty() {
        println!("PASS: no violation");
        return Ok(());
    }
    println!("FAIL:");
    for v in &violations {
        println!("- {v}");
    }
    std::process::exit(1);
}
