//! The fault drill in its short form (the full size is run by hand with
//! `scripts/fault-drill.sh`, results in RELIABILITY.md): events with caller ids streamed
//! into the real binaries on a private MariaDB while ingestion, MariaDB and the profiling
//! lease holder are each killed with SIGKILL once; no acknowledged event may be lost or
//! stored twice, the outbox must be consumed and every profile current.
//!
//! Needs `mariadbd` and `mariadb-install-db` (the drill runs its own server; the shared
//! test server is not used); skips, saying so, only when they are absent.

use anyhow::{Result, ensure};
use caravan_integration_tests::fault_drill::faults::FaultKind;
use caravan_integration_tests::fault_drill::{self, DrillConfig, mariadb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acknowledged_event_is_lost_or_duplicated_when_processes_and_the_store_are_killed()
-> Result<()> {
    if let Some(reason) = mariadb::unavailable_reason() {
        eprintln!("skipping the fault drill: {reason}");
        return Ok(());
    }
    let config = DrillConfig::short();
    let started = std::time::Instant::now();
    let report = fault_drill::run(&config).await?;
    eprintln!(
        "{}\n(drill took {:?})",
        report.markdown(),
        started.elapsed()
    );
    let violations = report.violations();
    ensure!(violations.is_empty(), "violations: {violations:#?}");
    for kind in [
        FaultKind::Ingestion,
        FaultKind::MariaDb,
        FaultKind::ConsumerLeader,
    ] {
        ensure!(
            fault_drill::of_kind(&report, kind).count() == 1,
            "{} did not strike once",
            kind.label()
        );
    }
    // Every fault cut through calls in flight.
    ensure!(
        report
            .faults
            .iter()
            .all(|f| f.at_acked < config.load.events && f.in_flight > 0),
        "a fault struck with no call in flight: {:?}",
        report.faults
    );
    Ok(())
}
