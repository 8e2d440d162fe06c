//! Training jobs running in this process. When the server stops (SIGTERM, Ctrl-C), the
//! process does not wait for a training on a blocking thread to finish (EASE on a large
//! catalogue takes minutes); instead its job is marked FAILED, saying it was cancelled by
//! the stop, so that no job stays RUNNING for a replica that no longer exists.

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex};

use caravan_store::sea_orm::DatabaseConnection;

use crate::model_store;

/// The FAILED message of a job cut short by the process stopping.
pub const CANCELLED_BY_STOP: &str =
    "cancelled: the service stopped during training (SIGTERM or Ctrl-C); start it again";

/// `(merchant, job id)` of the jobs running here.
static RUNNING: LazyLock<Mutex<HashSet<(String, String)>>> =
    LazyLock::new(|| Mutex::new(HashSet::new()));

/// A running job, listed while it lives.
pub struct RunningJob {
    key: (String, String),
}

/// Lists the job as running until the returned value is dropped.
pub fn register(merchant: &str, id: &str) -> RunningJob {
    let key = (merchant.to_owned(), id.to_owned());
    if let Ok(mut running) = RUNNING.lock() {
        running.insert(key.clone());
    }
    RunningJob { key }
}

impl Drop for RunningJob {
    fn drop(&mut self) {
        if let Ok(mut running) = RUNNING.lock() {
            running.remove(&self.key);
        }
    }
}

fn running() -> Vec<(String, String)> {
    RUNNING
        .lock()
        .map(|r| r.iter().cloned().collect())
        .unwrap_or_default()
}

/// For the server's after-stop work: marks every job still running here FAILED
/// ([`CANCELLED_BY_STOP`]), unless it finished meanwhile.
pub async fn cancel_on_stop(db: DatabaseConnection) {
    for (merchant, id) in running() {
        match model_store::fail_unfinished_job(&db, &merchant, &id, CANCELLED_BY_STOP).await {
            Ok(true) => tracing::warn!(merchant, job = id, "training cancelled by the stop"),
            Ok(false) => {}
            Err(e) => {
                tracing::error!(merchant, job = id, error = %e, "could not mark the training job cancelled")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_is_listed_while_its_guard_lives() {
        let job = register("m-running-jobs", "j1");
        assert!(running().contains(&("m-running-jobs".to_owned(), "j1".to_owned())));
        drop(job);
        assert!(!running().iter().any(|(m, _)| m == "m-running-jobs"));
    }
}
