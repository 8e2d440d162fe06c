//! Request validation shared by the RPCs: names, counts, countries, times and training
//! configurations, collected as field violations.

use std::collections::BTreeMap;

use caravan_core::iso;
use caravan_core::names::{parse_child_name, parse_merchant_name};
use caravan_platform::FieldViolations;
use caravan_platform::proto_time::from_timestamp;
use caravan_proto::caravan::recommendation::v1 as pb;
use chrono::{DateTime, Duration, Utc};

use crate::engine::model::{Component, ModelKind};
use crate::engine::training::TrainSpec;

/// Most items one Recommend or SimilarItems call returns.
pub const MAX_COUNT: i32 = 100;
pub const DEFAULT_COUNT: usize = 10;

/// `merchants/{merchant}` → merchant id.
pub fn merchant(name: &str, field: &str, v: &mut FieldViolations) -> Option<String> {
    match parse_merchant_name(name) {
        Ok(m) => Some(m.as_str().to_owned()),
        Err(e) => {
            v.add(field, e.to_string());
            None
        }
    }
}

/// `merchants/{merchant}/{collection}/{id}` of the same merchant as `parent` (when known).
pub fn child(
    name: &str,
    collection: &str,
    merchant: Option<&str>,
    field: &str,
    v: &mut FieldViolations,
) -> Option<(String, String)> {
    match parse_child_name(name, collection) {
        Ok((m, id)) => {
            if merchant.is_some_and(|p| p != m.as_str()) {
                v.add(field, "must belong to the merchant in `parent`");
                return None;
            }
            Some((m.as_str().to_owned(), id))
        }
        Err(e) => {
            v.add(field, e.to_string());
            None
        }
    }
}

/// A result count: 0 = default, 1..=100.
pub fn count(n: i32, field: &str, v: &mut FieldViolations) -> usize {
    match n {
        0 => DEFAULT_COUNT,
        1..=MAX_COUNT => n as usize,
        _ => {
            v.add(
                field,
                format!("must be between 0 (default {DEFAULT_COUNT}) and {MAX_COUNT}"),
            );
            DEFAULT_COUNT
        }
    }
}

/// An optional ISO 3166-1 alpha-2 country.
pub fn country(code: &str, field: &str, v: &mut FieldViolations) -> Option<String> {
    if code.is_empty() {
        return None;
    }
    if iso::is_country(code) {
        Some(code.to_owned())
    } else {
        v.add(
            field,
            "must be an ISO 3166-1 alpha-2 code in upper case, e.g. DE",
        );
        None
    }
}

/// A model reference: `Some(None)` for the serving alias, `Some(Some(version))` otherwise.
pub fn model(
    name: &str,
    merchant: Option<&str>,
    field: &str,
    v: &mut FieldViolations,
) -> Option<(String, Option<i64>)> {
    let (m, id) = child(name, "models", merchant, field, v)?;
    if id == "serving" {
        return Some((m, None));
    }
    match id.parse::<i64>() {
        Ok(n) if n >= 1 => Some((m, Some(n))),
        _ => {
            v.add(
                field,
                "model id must be a positive version number or `serving`",
            );
            None
        }
    }
}

pub fn time(
    t: Option<&prost_types::Timestamp>,
    field: &str,
    v: &mut FieldViolations,
) -> Option<DateTime<Utc>> {
    let t = t?;
    let parsed = from_timestamp(t);
    if parsed.is_none() {
        v.add(field, "is not a valid timestamp");
    }
    parsed
}

/// The engine component of a proto blend weight kind.
pub fn component(kind: i32) -> Option<Component> {
    match pb::ModelKind::try_from(kind).ok()? {
        pb::ModelKind::ItemCf => Some(Component::ItemCf),
        pb::ModelKind::Als => Some(Component::Als),
        pb::ModelKind::Ease => Some(Component::Ease),
        pb::ModelKind::Popularity => Some(Component::PopularityCountry),
        pb::ModelKind::Content => Some(Component::Content),
        pb::ModelKind::Blend | pb::ModelKind::Unspecified => None,
    }
}

pub fn model_kind(kind: i32) -> Option<ModelKind> {
    match pb::ModelKind::try_from(kind).ok()? {
        pb::ModelKind::ItemCf => Some(ModelKind::ItemCf),
        pb::ModelKind::Als => Some(ModelKind::Als),
        pb::ModelKind::Ease => Some(ModelKind::Ease),
        pb::ModelKind::Popularity => Some(ModelKind::Popularity),
        pb::ModelKind::Content => Some(ModelKind::Content),
        pb::ModelKind::Blend => Some(ModelKind::Blend),
        pb::ModelKind::Unspecified => None,
    }
}

/// A checked training configuration and its window.
pub struct CheckedConfig {
    pub spec: TrainSpec,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
}

/// Validates a `TrainingConfig` (violations under `prefix`).
pub fn training_config(
    c: &pb::TrainingConfig,
    prefix: &str,
    now: DateTime<Utc>,
    v: &mut FieldViolations,
) -> Option<CheckedConfig> {
    let kind = model_kind(c.kind);
    if kind.is_none() {
        v.add(
            format!("{prefix}.kind"),
            "is required (ITEM_CF, ALS, EASE, POPULARITY, CONTENT or BLEND)",
        );
    }
    let mut weights = Vec::new();
    for (i, w) in c.blend_weights.iter().enumerate() {
        match component(w.kind) {
            Some(comp) if weights.iter().any(|(c, _)| *c == comp) => {
                v.add(format!("{prefix}.blend_weights[{i}].kind"), "appears twice")
            }
            Some(comp) => weights.push((comp, w.weight as f32)),
            None => v.add(
                format!("{prefix}.blend_weights[{i}].kind"),
                "must be a component kind (not BLEND or unspecified)",
            ),
        }
        if !w.weight.is_finite() || w.weight < 0.0 {
            v.add(
                format!("{prefix}.blend_weights[{i}].weight"),
                "must be a finite number >= 0",
            );
        }
    }
    let end = time(
        c.training_window_end_time.as_ref(),
        &format!("{prefix}.training_window_end_time"),
        v,
    )
    .unwrap_or(now);
    let start = time(
        c.training_window_start_time.as_ref(),
        &format!("{prefix}.training_window_start_time"),
        v,
    )
    .unwrap_or(end - Duration::days(365));
    if start >= end {
        v.add(
            format!("{prefix}.training_window_start_time"),
            "must be before the window end",
        );
    }
    let hyper: BTreeMap<String, String> = c.hyperparameters.clone().into_iter().collect();
    let kind = kind?;
    match TrainSpec::parse(kind, &weights, &hyper) {
        Ok(spec) => Some(CheckedConfig {
            spec,
            window_start: start,
            window_end: end,
        }),
        Err(errors) => {
            for (name, why) in errors {
                let field = if name == "blend_weights" {
                    format!("{prefix}.blend_weights")
                } else {
                    format!("{prefix}.hyperparameters[{name}]")
                };
                v.add(field, why);
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_countries_and_models() {
        let mut v = FieldViolations::new();
        assert_eq!(count(0, "count", &mut v), 10);
        assert_eq!(count(100, "count", &mut v), 100);
        assert!(v.is_empty());
        count(101, "count", &mut v);
        count(-1, "count", &mut v);
        assert_eq!(v.len(), 2);
        let mut v = FieldViolations::new();
        assert_eq!(country("DE", "c", &mut v).as_deref(), Some("DE"));
        assert_eq!(country("", "c", &mut v), None);
        assert!(v.is_empty());
        country("de", "c", &mut v);
        country("XX", "c", &mut v);
        assert_eq!(v.len(), 2);
        let mut v = FieldViolations::new();
        assert_eq!(
            model("merchants/acme/models/serving", Some("acme"), "m", &mut v),
            Some(("acme".into(), None))
        );
        assert_eq!(
            model("merchants/acme/models/7", None, "m", &mut v),
            Some(("acme".into(), Some(7)))
        );
        assert!(v.is_empty());
        assert!(model("merchants/acme/models/0", None, "m", &mut v).is_none());
        assert!(model("merchants/other/models/1", Some("acme"), "m", &mut v).is_none());
        assert_eq!(v.len(), 2);
    }

    #[test]
    fn training_configs() {
        let now = Utc::now();
        let mut v = FieldViolations::new();
        let ok = pb::TrainingConfig {
            kind: pb::ModelKind::Blend as i32,
            blend_weights: vec![pb::BlendWeight {
                kind: pb::ModelKind::Ease as i32,
                weight: 1.0,
            }],
            ..Default::default()
        };
        let c = training_config(&ok, "config", now, &mut v).expect("valid");
        assert!(v.is_empty());
        assert_eq!(c.spec.blend_weights, Some(vec![(Component::Ease, 1.0)]));
        assert_eq!(c.window_end, now);
        let bad = pb::TrainingConfig {
            kind: 0,
            blend_weights: vec![pb::BlendWeight {
                kind: pb::ModelKind::Blend as i32,
                weight: -1.0,
            }],
            hyperparameters: [("nope".to_string(), "1".to_string())].into(),
            ..Default::default()
        };
        assert!(training_config(&bad, "config", now, &mut v).is_none());
        let fields: Vec<&str> = v.iter().map(|x| x.field.as_str()).collect();
        assert!(fields.contains(&"config.kind"), "{fields:?}");
        assert!(fields.contains(&"config.blend_weights[0].kind"));
        assert!(fields.contains(&"config.blend_weights[0].weight"));
    }
}
