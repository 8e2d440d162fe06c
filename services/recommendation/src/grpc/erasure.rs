//! After an erasure: forget the affected models on this replica at once, and retrain the
//! serving models erasure dropped, with the options they were trained with (one replica
//! claims each). Until the new version is deployed the merchant is served by a cold-start
//! model built from what the store holds now.

use std::time::Duration;

use caravan_proto::caravan::recommendation::v1 as pb;

use super::RecommendationApi;
use super::convert::{JobOptions, options_to_config};
use super::training;
use crate::error::RecommendationError;
use crate::model_store::{self, Purge};

/// A claim older than this is taken over (the replica that claimed it died).
const CLAIM_TIMEOUT: chrono::Duration = chrono::Duration::minutes(10);
/// Looks for unclaimed dropped models at least this often, even without new erasures.
const PURGE_SWEEP: Duration = Duration::from_secs(60);

/// Runs for as long as the process lives (spawned at start-up).
pub async fn watch(api: RecommendationApi, every: Duration) {
    let owner = format!("recommendation-{}", uuid::Uuid::now_v7());
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_sweep = tokio::time::Instant::now();
    loop {
        tick.tick().await;
        let erased = match api.registry.poll_erasures().await {
            Ok(erased) => erased,
            Err(e) => {
                tracing::warn!(error = %e, "erasure poll failed; retrying next interval");
                continue;
            }
        };
        if erased || last_sweep.elapsed() >= PURGE_SWEEP {
            last_sweep = tokio::time::Instant::now();
            if let Err(e) = retrain_dropped(&api, &owner).await {
                tracing::warn!(error = %e, "retraining models dropped by erasure failed");
            }
        }
    }
}

async fn retrain_dropped(api: &RecommendationApi, owner: &str) -> Result<(), RecommendationError> {
    let stale_before = (chrono::Utc::now() - CLAIM_TIMEOUT).into();
    for purge in model_store::claim_purges(&api.db, owner, stale_before).await? {
        let started = retrain(api, &purge).await;
        if let Err(e) = &started {
            tracing::warn!(merchant = purge.merchant_id, version = purge.version, error = %e, "could not retrain a model dropped by erasure");
        }
        model_store::finish_purge(&api.db, &purge.merchant_id, purge.version).await?;
    }
    Ok(())
}

/// Starts a training job with the dropped version's options, deploying its result.
async fn retrain(api: &RecommendationApi, purge: &Purge) -> Result<(), RecommendationError> {
    let job = match &purge.training_job_id {
        Some(id) => model_store::get_job(&api.db, &purge.merchant_id, id).await?,
        None => None,
    };
    let options: Option<JobOptions> = job
        .and_then(|j| j.options)
        .and_then(|o| serde_json::from_value(o).ok());
    let Some(options) = options else {
        return Err(RecommendationError::FailedPrecondition(format!(
            "version {} has no training options to repeat",
            purge.version
        )));
    };
    let mut config = options_to_config(&options);
    config.auto_deploy = true;
    let job = training::start(
        api,
        pb::StartTrainingRequest {
            parent: format!("merchants/{}", purge.merchant_id),
            config: Some(config),
        },
    )
    .await?;
    tracing::info!(
        merchant = purge.merchant_id,
        dropped = purge.version,
        job = job.name,
        "retraining a serving model dropped by erasure"
    );
    Ok(())
}
