//! Evaluate: each configuration trained fresh on the interactions before the cut-off and
//! scored on the purchases in [cut-off, test end), with the engine's holdout protocol
//! (`engine::evaluate`): ground truth = items a customer bought in the test period that were
//! not already in their training history.

use std::collections::HashMap;

use caravan_platform::FieldViolations;
use caravan_proto::caravan::recommendation::v1 as pb;
use chrono::{Duration, Utc};

use super::convert::metrics_to_proto;
use super::training::require_merchant;
use super::{RecommendationApi, validate};
use crate::engine::content::ItemAttributes;
use crate::engine::evaluate::Split;
use crate::engine::training::{TrainingData, evaluate_spec};
use crate::error::RecommendationError;
use crate::interaction_store;

const DEFAULT_K: usize = 10;
const MAX_K: i32 = 100;
const DEFAULT_MAX_CUSTOMERS: usize = 10_000;

/// Every kind with default settings, when the request names none.
fn default_configs() -> Vec<pb::TrainingConfig> {
    [
        pb::ModelKind::ItemCf,
        pb::ModelKind::Als,
        pb::ModelKind::Ease,
        pb::ModelKind::Popularity,
        pb::ModelKind::Content,
        pb::ModelKind::Blend,
    ]
    .into_iter()
    .map(|k| pb::TrainingConfig {
        kind: k as i32,
        ..pb::TrainingConfig::default()
    })
    .collect()
}

/// Keeps at most `max` evaluated customers, evenly spread (deterministic).
fn sample(split: &mut Split, max: usize) {
    let n = split.truth.len();
    if n > max && max > 0 {
        let step = n.div_ceil(max);
        let kept: Vec<_> = split.truth.iter().step_by(step).cloned().collect();
        split.truth = kept;
    }
}

pub async fn evaluate(
    api: &RecommendationApi,
    r: pb::EvaluateRequest,
) -> Result<pb::EvaluateResponse, RecommendationError> {
    let mut v = FieldViolations::new();
    let merchant = validate::merchant(&r.parent, "parent", &mut v);
    let cutoff = validate::time(r.cutoff_time.as_ref(), "cutoff_time", &mut v);
    if r.cutoff_time.is_none() {
        v.add("cutoff_time", "is required");
    }
    let end =
        validate::time(r.test_end_time.as_ref(), "test_end_time", &mut v).unwrap_or_else(Utc::now);
    if cutoff.is_some_and(|c| c >= end) {
        v.add("test_end_time", "must be after cutoff_time");
    }
    let k = match r.k {
        0 => DEFAULT_K,
        1..=MAX_K => r.k as usize,
        _ => {
            v.add(
                "k",
                format!("must be between 0 (default {DEFAULT_K}) and {MAX_K}"),
            );
            DEFAULT_K
        }
    };
    let max_customers = match r.max_customers {
        0 => DEFAULT_MAX_CUSTOMERS,
        n if n > 0 => n as usize,
        _ => {
            v.add("max_customers", "must not be negative");
            DEFAULT_MAX_CUSTOMERS
        }
    };
    let configs = if r.configs.is_empty() {
        default_configs()
    } else {
        r.configs
    };
    if configs.len() > 20 {
        v.add("configs", "at most 20 configurations per call");
    }
    let mut checked = Vec::new();
    for (i, c) in configs.iter().enumerate() {
        // The window ends at the cut-off: nothing after it may train.
        let now = cutoff.unwrap_or_else(Utc::now);
        let mut c = c.clone();
        c.training_window_end_time = None;
        if let Some(x) = validate::training_config(&c, &format!("configs[{i}]"), now, &mut v) {
            checked.push((c, x));
        }
    }
    let (Some(merchant), Some(cutoff), true) = (merchant, cutoff, v.is_empty()) else {
        return Err(v.into());
    };
    require_merchant(api, &merchant).await?;
    let start = checked
        .iter()
        .map(|(_, c)| c.window_start)
        .min()
        .unwrap_or(cutoff - Duration::days(365));
    let interactions = interaction_store::load_interactions(&api.db, &merchant, start, end).await?;
    let countries = interaction_store::load_countries(&api.db, &merchant).await?;
    let attributes: HashMap<String, ItemAttributes> =
        interaction_store::load_catalogue(&api.db, &merchant)
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
    let (cut, end_s) = (cutoff.timestamp(), end.timestamp());
    let evaluations = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        for (config, c) in checked {
            let from = c.window_start.timestamp();
            let rows: Vec<_> = interactions
                .iter()
                .filter(|it| it.time >= from)
                .cloned()
                .collect();
            let mut split = Split::new(&rows, cut, end_s, &c.spec.weights, &countries);
            sample(&mut split, max_customers);
            // Segments are today's, not the cut-off's: left out so nothing of the test
            // period leaks into training (serving uses them for unknown customers only).
            let data = TrainingData {
                interactions: &rows,
                countries: &countries,
                segments: &HashMap::new(),
                attributes: &attributes,
                now: cut,
            };
            let metrics = evaluate_spec(&data, &split, &c.spec, k);
            out.push(pb::ModelEvaluation {
                config: Some(config),
                metrics: Some(metrics_to_proto(&metrics, cut)),
            });
        }
        out.sort_by(|a, b| {
            let n = |e: &pb::ModelEvaluation| e.metrics.as_ref().map_or(0.0, |m| m.ndcg);
            n(b).total_cmp(&n(a))
        });
        out
    })
    .await
    .map_err(|e| RecommendationError::Internal(format!("evaluation task: {e}")))?;
    Ok(pb::EvaluateResponse { evaluations })
}
