//! Readiness that follows the database: a replica whose store does not answer reports
//! `NOT_SERVING` on `grpc.health.v1`, so Kubernetes stops routing calls it cannot serve.

use std::time::Duration;

use caravan_store::sea_orm::DatabaseConnection;
use tokio::sync::watch;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

/// Pings `db` every `every` until `stopping` turns true, and reports the services of `names`
/// (and the server, `""`) `NOT_SERVING` while the ping fails or takes longer than `every`,
/// `SERVING` again once it answers. Changes are logged once each, not on every check.
pub(crate) async fn follow_store(
    db: DatabaseConnection,
    every: Duration,
    reporter: HealthReporter,
    names: Vec<&'static str>,
    mut stopping: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut serving = true;
    loop {
        tokio::select! {
            _ = stopping.wait_for(|stopping| *stopping) => return,
            _ = ticks.tick() => {}
        }
        let answer = tokio::time::timeout(every, db.ping()).await;
        let answers = matches!(answer, Ok(Ok(())));
        for name in &names {
            crate::metrics::global()
                .store_up
                .get_or_create(&crate::metrics::ServiceLabel {
                    service: (*name).to_owned(),
                })
                .set(i64::from(answers));
        }
        // Shutting down reports NOT_SERVING for good; never undo it.
        if answers == serving || *stopping.borrow() {
            continue;
        }
        serving = answers;
        if answers {
            tracing::info!("the store answers again: reporting SERVING");
            crate::server::report(&reporter, &names, ServingStatus::Serving).await;
        } else {
            let error = match answer {
                Ok(Err(err)) => err.to_string(),
                _ => format!("no answer within {every:?}"),
            };
            tracing::warn!(%error, "the store does not answer: reporting NOT_SERVING");
            crate::server::report(&reporter, &names, ServingStatus::NotServing).await;
        }
    }
}
