//! The fault drill (issue 20, item 7): events with caller ids are streamed into a real
//! `caravan-ingestion` with two `caravan-profiling` replicas, on a private MariaDB, while
//! (a) ingestion, (b) MariaDB and (c) the profiling replica holding the outbox consumer
//! lease are killed with SIGKILL and started again. Then it counts: no acknowledged event
//! lost, none stored twice, the outbox fully consumed, every customer's profile computed
//! from all their events.
//!
//! Shared by `caravan-fault-drill` (full size, by hand: `scripts/fault-drill.sh`, results in
//! RELIABILITY.md) and `tests/operations_faults.rs` (a short run in `cargo test`).
//!
//! Faults strike when the acknowledged events pass evenly spaced fractions of the load
//! (fault `i` of `n` at `(i + 1) / (n + 1)`) and a call is in flight, so each cuts through
//! streams in flow whatever the machine's speed. A fault ends when the system is back
//! (calls acknowledged again, or the lease taken over); the full-size load is paced
//! (`--rate`) so that it outlasts all the faults.

pub mod faults;
pub mod load;
pub mod mariadb;
pub mod report;
pub mod services;
pub mod verify;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use faults::{FaultKind, Target};
use load::{LoadShape, Progress};
use mariadb::OwnMariaDb;
pub use report::Report;
use services::{Services, Tuning};

/// Sizes and settings of one drill.
#[derive(Debug, Clone)]
pub struct DrillConfig {
    pub load: LoadShape,
    /// Rounds of faults; each round is (a), (b) and (c).
    pub fault_rounds: usize,
    pub tuning: Tuning,
    /// The private MariaDB's port; a free one when `None`.
    pub mariadb_port: Option<u16>,
    /// How long profiles may take to catch up after the last acknowledgement before the
    /// outbox counts as not consumed.
    pub catch_up_limit: Duration,
}

impl DrillConfig {
    /// The CI form: small enough for a debug build on two cores in well under two minutes.
    pub fn short() -> Self {
        Self {
            load: LoadShape {
                events: 20_000,
                streams: 10,
                customers: 500,
                batch: 100,
                call_events: 300,
                call_deadline: Duration::from_secs(120),
                rate: None,
            },
            fault_rounds: 1,
            tuning: Tuning {
                lease_seconds: 3,
                gap_grace_seconds: 5,
                poll_ms: 100,
            },
            mariadb_port: None,
            catch_up_limit: Duration::from_secs(60),
        }
    }
}

/// Runs the drill; the report says what was counted (see [`Report::violations`]).
pub async fn run(config: &DrillConfig) -> Result<Report> {
    let mut mariadb =
        OwnMariaDb::start(config.mariadb_port).context("start the drill's MariaDB")?;
    let (_, _, url) = caravan_store::testing::create_mysql_database(&mariadb.server_url)
        .await
        .context("create the drill's database")?;
    let mut services =
        tokio::task::block_in_place(|| Services::start_processes(&url, config.tuning.clone()))?;
    services.connect_and_create_merchant().await?;
    let db = caravan_store::connect(&url, 2).await?;

    let shape = Arc::new(config.load.clone());
    let progress = Arc::new(Progress::default());
    let started = Instant::now();
    let load = tokio::spawn(load::run(
        Arc::clone(&shape),
        services.client_slot(),
        Arc::clone(&progress),
    ));
    let schedule = faults::schedule(config.fault_rounds);
    let mut outcomes = Vec::new();
    for (i, kind) in schedule.iter().enumerate() {
        let threshold = shape.events * (i + 1) / (schedule.len() + 1);
        wait_for_progress(&progress, threshold, &load).await;
        let load_over = || load.is_finished();
        let mut target = Target {
            services: &mut services,
            mariadb: &mut mariadb,
            db: &db,
            progress: &progress,
            load_over: &load_over,
        };
        let outcome = faults::strike(*kind, &mut target)
            .await
            .with_context(|| format!("fault {}", kind.label()))?;
        eprintln!("fault-drill: {} done: {outcome:?}", kind.label());
        outcomes.push(outcome);
    }
    load.await.context("the load panicked")?;
    let load_took = started.elapsed();
    let tally = progress.tally.lock().await.clone();
    let last_ack = tally.last_ack.unwrap_or_else(Instant::now);
    let (newest, offset) = verify::position(&db).await?;

    let mut outbox = verify::wait_consumed(&db, last_ack, config.catch_up_limit).await?;
    outbox.at_load_end = (offset, newest);
    verify::outbox_listing(&db, &shape, &mut outbox).await?;
    let events = verify::events(&db, &shape, &tally).await?;
    let expected = load::expected_per_customer(&shape);
    let profiles = verify::profiles(services.profiling_channel().await?, &expected).await?;
    let report = Report {
        config: config.clone(),
        mariadb_port: mariadb.port(),
        load_took,
        tally,
        faults: outcomes,
        events,
        outbox,
        profiles,
        warnings: services.warnings(),
    };
    db.close().await?;
    Ok(report)
}

/// Waits until `threshold` events are acknowledged and a call is in flight (so that the
/// fault cuts through one), or the load is over.
async fn wait_for_progress(
    progress: &Progress,
    threshold: usize,
    load: &tokio::task::JoinHandle<()>,
) {
    let ready = || progress.acked_events() >= threshold && progress.in_flight() > 0;
    while !ready() && !load.is_finished() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Which faults of a kind a report holds.
pub fn of_kind(report: &Report, kind: FaultKind) -> impl Iterator<Item = &faults::FaultOutcome> {
    report.faults.iter().filter(move |f| f.kind == kind)
}
