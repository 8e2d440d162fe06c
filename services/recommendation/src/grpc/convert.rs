//! Stored rows and engine values → proto messages, and the JSON kept in `training_jobs.options`
//! and `rec_models.metrics`.

use std::collections::{BTreeMap, HashMap};

use caravan_platform::proto_time::to_timestamp;
use caravan_proto::caravan::recommendation::v1 as pb;
use caravan_store::entity::{country_exclusions, training_jobs};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::engine::metrics::Metrics;
use crate::engine::model::{Component, ModelKind};
use crate::engine::reasons::{Reason, ReasonKind};
use crate::engine::serving::ServedItem;
use crate::model_store::{self, ModelMeta};

/// `training_jobs.options`: the request's configuration as given.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JobOptions {
    pub kind: String,
    pub blend_weights: Vec<(String, f64)>,
    pub hyperparameters: BTreeMap<String, String>,
    pub window_start: i64,
    pub window_end: i64,
    pub auto_deploy: bool,
}

/// `rec_models.metrics`: training statistics and the holdout evaluation, if any.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ModelStats {
    pub interaction_count: u64,
    pub customer_count: u64,
    pub product_count: u64,
    pub hyperparameters: BTreeMap<String, String>,
    pub evaluation: Option<StoredMetrics>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct StoredMetrics {
    pub metrics: Metrics,
    pub cutoff: i64,
}

pub fn kind_to_proto(kind: ModelKind) -> pb::ModelKind {
    match kind {
        ModelKind::ItemCf => pb::ModelKind::ItemCf,
        ModelKind::Als => pb::ModelKind::Als,
        ModelKind::Ease => pb::ModelKind::Ease,
        ModelKind::Popularity => pb::ModelKind::Popularity,
        ModelKind::Content => pb::ModelKind::Content,
        ModelKind::Blend => pb::ModelKind::Blend,
    }
}

/// Blend weights per proto kind (the two popularity components report as POPULARITY).
pub fn blend_weights_to_proto(weights: &[(Component, f32)]) -> Vec<pb::BlendWeight> {
    let mut by_kind: Vec<(pb::ModelKind, f64)> = Vec::new();
    for &(c, w) in weights {
        let k = kind_to_proto(c.kind());
        match by_kind.iter_mut().find(|(x, _)| *x == k) {
            Some(e) => e.1 += f64::from(w),
            None => by_kind.push((k, f64::from(w))),
        }
    }
    by_kind
        .into_iter()
        .map(|(k, weight)| pb::BlendWeight {
            kind: k as i32,
            weight,
        })
        .collect()
}

pub fn metrics_to_proto(m: &Metrics, cutoff: i64) -> pb::RankingMetrics {
    pb::RankingMetrics {
        k: m.k as i32,
        precision: m.precision,
        recall: m.recall,
        ndcg: m.ndcg,
        hit_rate: m.hit_rate,
        coverage: m.coverage,
        evaluated_customer_count: m.users as i64,
        cutoff_time: DateTime::<Utc>::from_timestamp(cutoff, 0).map(to_timestamp),
    }
}

pub fn model_name(merchant: &str, version: i64) -> String {
    format!("merchants/{merchant}/models/{version}")
}

pub fn job_name(merchant: &str, id: &str) -> String {
    format!("merchants/{merchant}/trainingJobs/{id}")
}

pub fn product_name(merchant: &str, sku: &str) -> String {
    format!("merchants/{merchant}/products/{sku}")
}

pub fn model_to_proto(m: &ModelMeta) -> pb::Model {
    let stats: ModelStats = serde_json::from_value(m.metrics.clone()).unwrap_or_default();
    let weights: Vec<(Component, f32)> = m
        .blend_weights
        .as_ref()
        .and_then(|w| serde_json::from_value::<Vec<(String, f32)>>(w.clone()).ok())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(c, w)| Component::from_code(&c).map(|c| (c, w)))
        .collect();
    let kind = ModelKind::from_code(&m.kind).map_or(pb::ModelKind::Unspecified, kind_to_proto);
    pb::Model {
        name: model_name(&m.merchant_id, m.version),
        kind: kind as i32,
        blend_weights: if kind == pb::ModelKind::Blend {
            blend_weights_to_proto(&weights)
        } else {
            Vec::new()
        },
        hyperparameters: stats
            .hyperparameters
            .clone()
            .into_iter()
            .collect::<HashMap<_, _>>(),
        metrics: stats
            .evaluation
            .map(|e| metrics_to_proto(&e.metrics, e.cutoff)),
        training_job: m
            .training_job_id
            .as_deref()
            .map(|j| job_name(&m.merchant_id, j))
            .unwrap_or_default(),
        serving: m.state == model_store::ACTIVE,
        interaction_count: stats.interaction_count as i64,
        customer_count: stats.customer_count as i64,
        product_count: stats.product_count as i64,
        size_bytes: m.size_bytes,
        create_time: Some(to_timestamp(m.created_at.get())),
        deploy_time: m.activated_at.map(|t| to_timestamp(t.get())),
    }
}

pub fn job_state(state: &str) -> pb::TrainingJobState {
    match state {
        "QUEUED" => pb::TrainingJobState::Queued,
        "RUNNING" => pb::TrainingJobState::Running,
        "SUCCEEDED" => pb::TrainingJobState::Succeeded,
        "FAILED" => pb::TrainingJobState::Failed,
        "CANCELLED" => pb::TrainingJobState::Cancelled,
        _ => pb::TrainingJobState::Unspecified,
    }
}

pub fn options_to_config(o: &JobOptions) -> pb::TrainingConfig {
    let kind = ModelKind::from_code(&o.kind).map_or(pb::ModelKind::Unspecified, kind_to_proto);
    pb::TrainingConfig {
        kind: kind as i32,
        blend_weights: o
            .blend_weights
            .iter()
            .filter_map(|(c, w)| {
                Component::from_code(c).map(|c| pb::BlendWeight {
                    kind: kind_to_proto(c.kind()) as i32,
                    weight: *w,
                })
            })
            .collect(),
        hyperparameters: o.hyperparameters.clone().into_iter().collect(),
        training_window_start_time: DateTime::<Utc>::from_timestamp(o.window_start, 0)
            .map(to_timestamp),
        training_window_end_time: DateTime::<Utc>::from_timestamp(o.window_end, 0)
            .map(to_timestamp),
        auto_deploy: o.auto_deploy,
    }
}

/// `deployed`: whether the produced model is (or was) deployed by the job.
pub fn job_to_proto(j: &training_jobs::Model, deployed: bool, stale: bool) -> pb::TrainingJob {
    let options: Option<JobOptions> = j
        .options
        .as_ref()
        .and_then(|o| serde_json::from_value(o.clone()).ok());
    let (state, error) = if stale {
        (
            pb::TrainingJobState::Failed,
            "abandoned: the replica running it stopped (no progress for an hour)".to_owned(),
        )
    } else {
        (job_state(&j.state), j.error.clone().unwrap_or_default())
    };
    pb::TrainingJob {
        name: job_name(&j.merchant_id, &j.id),
        config: options.as_ref().map(options_to_config),
        state: state as i32,
        progress: j.progress,
        model: j
            .model_version
            .map(|v| model_name(&j.merchant_id, v))
            .unwrap_or_default(),
        deployed,
        error_message: error,
        create_time: Some(to_timestamp(j.created_at.get())),
        start_time: j.started_at.map(|t| to_timestamp(t.get())),
        end_time: j.finished_at.map(|t| to_timestamp(t.get())),
    }
}

pub fn reason_to_proto(merchant: &str, r: &Reason) -> pb::RecommendationReason {
    let kind = match r.kind {
        ReasonKind::BoughtTogether => pb::ReasonKind::BoughtTogether,
        ReasonKind::SimilarCustomers => pb::ReasonKind::SimilarCustomers,
        ReasonKind::PopularInCountry => pb::ReasonKind::PopularInCountry,
        ReasonKind::PopularInSegment => pb::ReasonKind::PopularInSegment,
        ReasonKind::PopularOverall | ReasonKind::TrendingNow => pb::ReasonKind::Popular,
        ReasonKind::MatchesInterest => pb::ReasonKind::Affinity,
        ReasonKind::Complement => pb::ReasonKind::Complement,
        ReasonKind::Replenishment => pb::ReasonKind::Replenishment,
    };
    let product_related = matches!(
        r.kind,
        ReasonKind::BoughtTogether | ReasonKind::Complement | ReasonKind::Replenishment
    );
    pb::RecommendationReason {
        kind: kind as i32,
        text: r.text.clone(),
        related_product: match (&r.related, product_related) {
            (Some(sku), true) => product_name(merchant, sku),
            _ => String::new(),
        },
    }
}

pub fn item_to_proto(merchant: &str, it: &ServedItem) -> pb::RecommendedItem {
    pb::RecommendedItem {
        product: product_name(merchant, &it.sku),
        score: f64::from(it.score),
        reasons: vec![reason_to_proto(merchant, &it.reason)],
    }
}

pub fn exclusion_to_proto(e: &country_exclusions::Model) -> pb::CountryExclusion {
    pb::CountryExclusion {
        country_code: e.country.clone(),
        category_prefix: e.category_prefix.clone(),
        reason: e.reason.clone().unwrap_or_default(),
        create_time: Some(to_timestamp(e.created_at.get())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_map_and_only_products_are_related_products() {
        let r = reason_to_proto("acme", &Reason::bought_together("Mug"));
        assert_eq!(r.kind, pb::ReasonKind::BoughtTogether as i32);
        assert_eq!(r.related_product, "merchants/acme/products/Mug");
        let r = reason_to_proto("acme", &Reason::popular_in_country("Germany"));
        assert_eq!(r.kind, pb::ReasonKind::PopularInCountry as i32);
        assert_eq!(r.related_product, "");
        assert_eq!(r.text, "popular in Germany this month");
    }

    #[test]
    fn popularity_components_report_as_one_kind() {
        let w = blend_weights_to_proto(&[
            (Component::Ease, 0.3),
            (Component::PopularityCountry, 0.1),
            (Component::PopularityRecent, 0.5),
        ]);
        assert_eq!(w.len(), 2);
        assert_eq!(w[1].kind, pb::ModelKind::Popularity as i32);
        assert!((w[1].weight - 0.6).abs() < 1e-6);
    }
}
