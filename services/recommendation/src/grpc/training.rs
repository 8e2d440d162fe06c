//! StartTraining, GetTrainingJob, ListTrainingJobs, and the background job itself.
//!
//! A job reads the interactions of its window, trains on a blocking thread, stores the model
//! as a new version (READY) and then decides deployment: the first model of a merchant is
//! always deployed; later ones only with `auto_deploy` and when their holdout NDCG@10 is at
//! least the serving model's. Deploying swaps the model in this replica at once; the others
//! follow on their next poll.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use caravan_core::{equality_filter, paging};
use caravan_platform::FieldViolations;
use caravan_proto::caravan::recommendation::v1 as pb;
use caravan_store::entity::merchants;
use caravan_store::sea_orm::EntityTrait;
use chrono::Utc;

use super::RecommendationApi;
use super::convert::{JobOptions, ModelStats, StoredMetrics, job_to_proto};
use super::validate::{self, CheckedConfig};
use crate::engine::content::ItemAttributes;
use crate::engine::model_codec;
use crate::engine::training::{TrainingData, holdout_metrics, train};
use crate::error::RecommendationError;
use crate::interaction_store;
use crate::model_store::{self, InsertError, JobUpdate, NewModel};

const DEFAULT_JOBS_PAGE: i32 = 20;
/// Times a training run starts over because a customer was erased while it trained.
const MAX_ERASURE_RETRIES: u32 = 3;
const MAX_JOBS_PAGE: u64 = 100;
/// A QUEUED/RUNNING job without an update for this long was abandoned by its replica.
const STALE_AFTER: chrono::Duration = chrono::Duration::hours(1);

pub(super) async fn require_merchant(
    api: &RecommendationApi,
    merchant: &str,
) -> Result<(), RecommendationError> {
    match merchants::Entity::find_by_id(merchant.to_owned())
        .one(&api.db)
        .await
        .map_err(caravan_store::StoreError::from)?
    {
        Some(_) => Ok(()),
        None => Err(RecommendationError::NotFound(format!(
            "merchants/{merchant}"
        ))),
    }
}

pub async fn start(
    api: &RecommendationApi,
    r: pb::StartTrainingRequest,
) -> Result<pb::TrainingJob, RecommendationError> {
    let mut v = FieldViolations::new();
    let merchant = validate::merchant(&r.parent, "parent", &mut v);
    let checked = match &r.config {
        Some(c) => validate::training_config(c, "config", Utc::now(), &mut v),
        None => {
            v.add("config", "is required");
            None
        }
    };
    let (Some(merchant), Some(checked), Some(config), true) =
        (merchant, checked, r.config, v.is_empty())
    else {
        return Err(v.into());
    };
    require_merchant(api, &merchant).await?;
    let options = JobOptions {
        kind: checked.spec.kind.code().to_owned(),
        blend_weights: checked
            .spec
            .blend_weights
            .iter()
            .flatten()
            .map(|(c, w)| (c.code().to_owned(), f64::from(*w)))
            .collect(),
        hyperparameters: config.hyperparameters.into_iter().collect(),
        window_start: checked.window_start.timestamp(),
        window_end: checked.window_end.timestamp(),
        auto_deploy: config.auto_deploy,
    };
    let id = uuid::Uuid::now_v7().to_string();
    let row = model_store::insert_job(
        &api.db,
        &merchant,
        &id,
        serde_json::to_value(&options).unwrap_or_default(),
    )
    .await?;
    let job_api = api.clone();
    let (job_merchant, job_id) = (merchant.clone(), id.clone());
    let running = crate::running_jobs::register(&merchant, &id);
    tokio::spawn(async move {
        let _running = running;
        let outcome = run(
            &job_api,
            &job_merchant,
            &job_id,
            checked,
            config.auto_deploy,
        )
        .await;
        if let Err(e) = outcome {
            tracing::warn!(merchant = job_merchant, job = job_id, error = %e, "training failed");
            let update = JobUpdate {
                state: Some("FAILED"),
                error: Some(e.to_string()),
                finished: true,
                ..JobUpdate::default()
            };
            if let Err(e) =
                model_store::update_job(&job_api.db, &job_merchant, &job_id, update).await
            {
                tracing::error!(error = %e, "could not mark the training job failed");
            }
        }
    });
    Ok(job_to_proto(&row, false, false))
}

/// Writes the job's progress every second while training runs on a blocking thread.
fn progress_writer(
    api: &RecommendationApi,
    merchant: &str,
    id: &str,
    progress: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    let (db, merchant, id) = (api.db.clone(), merchant.to_owned(), id.to_owned());
    tokio::spawn(async move {
        let mut last = -1.0;
        while !done.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let p = f64::from_bits(progress.load(Ordering::Relaxed));
            if p != last && !done.load(Ordering::Relaxed) {
                last = p;
                let update = JobUpdate {
                    progress: Some(p),
                    ..JobUpdate::default()
                };
                if let Err(e) = model_store::update_job(&db, &merchant, &id, update).await {
                    tracing::debug!(error = %e, "progress update failed");
                }
            }
        }
    })
}

async fn run(
    api: &RecommendationApi,
    merchant: &str,
    id: &str,
    checked: CheckedConfig,
    auto_deploy: bool,
) -> Result<(), RecommendationError> {
    let started = std::time::Instant::now();
    model_store::update_job(
        &api.db,
        merchant,
        id,
        JobUpdate {
            state: Some("RUNNING"),
            progress: Some(0.0),
            started: true,
            ..JobUpdate::default()
        },
    )
    .await?;
    let mut attempt = 0;
    let (version, evaluation, size, loaded_s, train_s) = loop {
        let erasure_mark = caravan_store::erasure::last_erasure(&api.db)
            .await
            .map_err(caravan_store::StoreError::from)?;
        let interactions = interaction_store::load_interactions(
            &api.db,
            merchant,
            checked.window_start,
            checked.window_end,
        )
        .await?;
        if interactions.is_empty() {
            return Err(RecommendationError::FailedPrecondition(
                "no interactions (orders or product events) in the training window".into(),
            ));
        }
        let countries = interaction_store::load_countries(&api.db, merchant).await?;
        let segments = interaction_store::load_segments(&api.db, merchant).await?;
        let attributes: HashMap<String, ItemAttributes> =
            interaction_store::load_catalogue(&api.db, merchant)
                .await?
                .into_iter()
                .map(|(sku, p)| {
                    (
                        sku,
                        ItemAttributes {
                            category: (!p.category.is_empty()).then_some(p.category),
                            brand: p.brand,
                        },
                    )
                })
                .collect();
        let loaded_s = started.elapsed().as_secs_f64();
        let progress = Arc::new(AtomicU64::new(0f64.to_bits()));
        let done = Arc::new(AtomicBool::new(false));
        let writer = progress_writer(api, merchant, id, progress.clone(), done.clone());
        let spec = checked.spec.clone();
        let now = checked.window_end.timestamp();
        let trained = tokio::task::spawn_blocking(move || {
            let data = TrainingData {
                interactions: &interactions,
                countries: &countries,
                segments: &segments,
                attributes: &attributes,
                now,
            };
            let report = |p: f64| progress.store((p * 0.9).to_bits(), Ordering::Relaxed);
            let model = train(&data, &spec, &report);
            let evaluation = if auto_deploy {
                holdout_metrics(&data, &spec)
                    .map(|(metrics, cutoff)| StoredMetrics { metrics, cutoff })
            } else {
                None
            };
            let blob = model_codec::encode(&model);
            (model, evaluation, blob)
        })
        .await;
        done.store(true, Ordering::Relaxed);
        // So that no late progress write lands after the final state.
        let _ = writer.await;
        let (model, evaluation, blob) =
            trained.map_err(|e| RecommendationError::Internal(format!("training task: {e}")))?;
        let train_s = started.elapsed().as_secs_f64() - loaded_s;
        let stats = ModelStats {
            interaction_count: model.interaction_count,
            customer_count: model.n_users() as u64,
            product_count: model.n_items() as u64,
            hyperparameters: model.hyperparameters.iter().cloned().collect(),
            evaluation,
        };
        let weights: Vec<(String, f32)> = model
            .weights
            .iter()
            .map(|(c, w)| (c.code().to_owned(), *w))
            .collect();
        let size = blob.len();
        let inserted = model_store::insert_model(
            &api.db,
            NewModel {
                merchant_id: merchant,
                kind: model.kind.code(),
                blend_weights: Some(serde_json::to_value(&weights).unwrap_or_default()),
                params: blob,
                metrics: serde_json::to_value(&stats).unwrap_or_default(),
                training_job_id: id,
                customers: &model.users,
                erasure_mark,
            },
        )
        .await;
        match inserted {
            Ok(version) => break (version, evaluation, size, loaded_s, train_s),
            // Trained on data that held a customer erased since: train again without them.
            Err(InsertError::ErasedMeanwhile) if attempt < MAX_ERASURE_RETRIES => {
                attempt += 1;
                tracing::info!(
                    merchant,
                    job = id,
                    "a customer was erased during training; training again"
                );
            }
            Err(InsertError::ErasedMeanwhile) => {
                return Err(RecommendationError::FailedPrecondition(
                    "customers kept being erased during training; start it again".into(),
                ));
            }
            Err(InsertError::Store(e)) => return Err(e.into()),
        }
    };
    let serving = match model_store::serving_version(&api.db, merchant).await? {
        Some(v) => model_store::get_model(&api.db, merchant, v).await?,
        None => None,
    };
    let deploy = match &serving {
        None => true,
        Some(_) if !auto_deploy => false,
        Some(s) => {
            let serving_ndcg = serde_json::from_value::<ModelStats>(s.metrics.clone())
                .ok()
                .and_then(|st| st.evaluation)
                .map(|e| e.metrics.ndcg);
            let new_ndcg = evaluation.map(|e| e.metrics.ndcg);
            match (new_ndcg, serving_ndcg) {
                (Some(n), Some(s)) => n >= s,
                // Nothing to compare on: the newer data wins.
                _ => true,
            }
        }
    };
    if deploy {
        model_store::deploy(&api.db, merchant, version).await?;
        api.registry.activate(merchant, version).await?;
    }
    tracing::info!(
        merchant,
        job = id,
        version,
        deployed = deploy,
        load_seconds = loaded_s,
        train_seconds = train_s,
        blob_bytes = size,
        "training finished"
    );
    model_store::update_job(
        &api.db,
        merchant,
        id,
        JobUpdate {
            state: Some("SUCCEEDED"),
            progress: Some(1.0),
            model_version: Some(version),
            finished: true,
            ..JobUpdate::default()
        },
    )
    .await?;
    Ok(())
}

async fn to_proto(
    api: &RecommendationApi,
    job: &caravan_store::entity::training_jobs::Model,
) -> Result<pb::TrainingJob, RecommendationError> {
    let deployed = match job.model_version {
        Some(v) => model_store::get_model(&api.db, &job.merchant_id, v)
            .await?
            .is_some_and(|m| m.activated_at.is_some()),
        None => false,
    };
    let stale_before = caravan_store::UtcDateTime::new(Utc::now() - STALE_AFTER);
    Ok(job_to_proto(
        job,
        deployed,
        model_store::is_stale(job, stale_before),
    ))
}

pub async fn get(
    api: &RecommendationApi,
    r: pb::GetTrainingJobRequest,
) -> Result<pb::TrainingJob, RecommendationError> {
    let mut v = FieldViolations::new();
    let Some((merchant, id)) = validate::child(&r.name, "trainingJobs", None, "name", &mut v)
    else {
        return Err(v.into());
    };
    let job = model_store::get_job(&api.db, &merchant, &id)
        .await?
        .ok_or_else(|| RecommendationError::NotFound(r.name.clone()))?;
    to_proto(api, &job).await
}

pub async fn list(
    api: &RecommendationApi,
    r: pb::ListTrainingJobsRequest,
) -> Result<pb::ListTrainingJobsResponse, RecommendationError> {
    let mut v = FieldViolations::new();
    let merchant = validate::merchant(&r.parent, "parent", &mut v);
    let state = match equality_filter::parse(&r.filter, &["state"]) {
        Ok(clauses) => clauses.into_iter().next().and_then(|(_, s)| {
            let code = s.trim_start_matches("TRAINING_JOB_STATE_").to_owned();
            let known = ["QUEUED", "RUNNING", "SUCCEEDED", "FAILED"].contains(&code.as_str());
            if !known {
                v.add(
                    "filter",
                    format!("{s:?} is not a state: QUEUED, RUNNING, SUCCEEDED or FAILED"),
                );
            }
            known.then_some(code)
        }),
        Err(why) => {
            v.add("filter", why);
            None
        }
    };
    let size = match r.page_size {
        n if n < 0 => {
            v.add("page_size", "must not be negative");
            0
        }
        0 => DEFAULT_JOBS_PAGE as u64,
        n => (n as u64).min(MAX_JOBS_PAGE),
    };
    let fingerprint = paging::request_fingerprint(&[&r.parent, &r.filter]);
    let after = paging::decode_token(&r.page_token, fingerprint).unwrap_or_else(|e| {
        v.add("page_token", e.to_string());
        None
    });
    let (Some(merchant), true) = (merchant, v.is_empty()) else {
        return Err(v.into());
    };
    let stale_before = caravan_store::UtcDateTime::new(Utc::now() - STALE_AFTER);
    let mut rows = model_store::list_jobs(
        &api.db,
        &merchant,
        state.as_deref().map(|s| (s, stale_before)),
        after.as_deref(),
        size + 1,
    )
    .await?;
    let next = if rows.len() as u64 > size {
        rows.truncate(size as usize);
        rows.last()
            .map(|j| paging::encode_token(&j.id, fingerprint))
            .unwrap_or_default()
    } else {
        String::new()
    };
    let mut jobs = Vec::with_capacity(rows.len());
    for j in &rows {
        jobs.push(to_proto(api, j).await?);
    }
    Ok(pb::ListTrainingJobsResponse {
        training_jobs: jobs,
        next_page_token: next,
    })
}
