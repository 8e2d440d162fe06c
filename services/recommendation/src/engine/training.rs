//! Training: hyper-parameters by name ([`TrainSpec::parse`]), fitting a servable
//! [`TrainedModel`] ([`train`]) and fitting the same configuration as a scorer for offline
//! evaluation on a time split ([`evaluate_spec`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::als::{Als, AlsConfig};
use super::blend::{Blend, search_weights};
use super::content::{ContentAffinity, ItemAttributes};
use super::ease::Ease;
use super::evaluate::{Split, evaluate};
use super::interactions::{Interaction, WeightConfig};
use super::item_cf::ItemCf;
use super::matrix::InteractionMatrix;
use super::metrics::Metrics;
use super::model::{Component, Factors, ModelKind, PopularityCounts, TrainedModel};
use super::popularity::{Popularity, PopularityScope};
use super::scoring::Recommender;

/// Weights used for a BLEND when none are given and the data is too small to search them
/// (the weights the offline benchmark's validation search chose on Online Retail).
pub const DEFAULT_BLEND: [(Component, f32); 5] = [
    (Component::Ease, 0.3),
    (Component::Als, 0.5),
    (Component::ItemCf, 0.7),
    (Component::PopularityCountry, 0.0),
    (Component::PopularityRecent, 0.7),
];
/// Weight of the profile's content affinity in a model that is not CONTENT (applied only
/// when the profile has affinities; profiles are not available offline, so it cannot be
/// searched like the other weights).
pub const DEFAULT_CONTENT_WEIGHT: f32 = 0.2;
/// Fewest validation customers for a blend weight search to be trusted.
const MIN_SEARCH_CUSTOMERS: usize = 20;
/// Cut-off k used for internal validation (weight search and auto-deploy metrics).
pub const VALIDATION_K: usize = 10;

/// A training configuration with every hyper-parameter resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainSpec {
    pub kind: ModelKind,
    /// Explicit blend weights (BLEND); `None` = searched on a validation split.
    pub blend_weights: Option<Vec<(Component, f32)>>,
    pub cf_top_n: usize,
    pub cf_binary: bool,
    pub ease_lambda: f64,
    pub ease_binary: bool,
    /// EASE weights kept per item in the served model.
    pub ease_neighbours: usize,
    pub als: AlsConfig,
    pub recent_days: i64,
    pub weights: WeightConfig,
}

impl Default for TrainSpec {
    fn default() -> Self {
        Self {
            kind: ModelKind::Ease,
            blend_weights: None,
            cf_top_n: 50,
            cf_binary: true,
            ease_lambda: 500.0,
            ease_binary: true,
            ease_neighbours: 200,
            als: AlsConfig {
                factors: 64,
                alpha: 1.0,
                regularization: 0.1,
                iterations: 15,
                ..AlsConfig::default()
            },
            recent_days: 30,
            weights: WeightConfig::default(),
        }
    }
}

/// The hyper-parameter names a kind accepts.
pub fn accepted_names(kind: ModelKind) -> &'static [&'static str] {
    match kind {
        ModelKind::ItemCf => &["top_n", "binary", "half_life_days"],
        ModelKind::Ease => &["lambda", "binary", "neighbours", "half_life_days"],
        ModelKind::Als => &[
            "factors",
            "regularization",
            "alpha",
            "iterations",
            "half_life_days",
        ],
        ModelKind::Popularity => &["recent_days", "half_life_days"],
        ModelKind::Content => &["half_life_days"],
        ModelKind::Blend => &[
            "top_n",
            "lambda",
            "binary",
            "neighbours",
            "factors",
            "regularization",
            "alpha",
            "iterations",
            "recent_days",
            "half_life_days",
        ],
    }
}

fn parse_num<T: std::str::FromStr + PartialOrd + Copy + std::fmt::Display>(
    v: &str,
    lo: T,
    hi: T,
) -> Result<T, String> {
    match v.trim().parse::<T>() {
        Ok(x) if x >= lo && x <= hi => Ok(x),
        _ => Err(format!("must be a number in [{lo}, {hi}]")),
    }
}

impl TrainSpec {
    /// Resolves a configuration. Errors are `(hyper-parameter name, why)`.
    pub fn parse(
        kind: ModelKind,
        blend_weights: &[(Component, f32)],
        hyper: &BTreeMap<String, String>,
    ) -> Result<Self, Vec<(String, String)>> {
        let mut spec = Self {
            kind,
            ..Self::default()
        };
        let mut errors = Vec::new();
        let accepted = accepted_names(kind);
        for (name, value) in hyper {
            if !accepted.contains(&name.as_str()) {
                errors.push((
                    name.clone(),
                    format!(
                        "unknown for {}; accepted: {}",
                        kind.code(),
                        accepted.join(", ")
                    ),
                ));
                continue;
            }
            let r: Result<(), String> = match name.as_str() {
                "top_n" => parse_num(value, 1usize, 1000).map(|v| spec.cf_top_n = v),
                "binary" => match value.trim() {
                    "true" => {
                        spec.cf_binary = true;
                        spec.ease_binary = true;
                        Ok(())
                    }
                    "false" => {
                        spec.cf_binary = false;
                        spec.ease_binary = false;
                        Ok(())
                    }
                    _ => Err("must be true or false".into()),
                },
                "lambda" => parse_num(value, 0.001f64, 1e7).map(|v| spec.ease_lambda = v),
                "neighbours" => parse_num(value, 1usize, 5000).map(|v| spec.ease_neighbours = v),
                "factors" => parse_num(value, 1usize, 512).map(|v| spec.als.factors = v),
                "regularization" => {
                    parse_num(value, 0.0f32, 1e4).map(|v| spec.als.regularization = v)
                }
                "alpha" => parse_num(value, 0.0f32, 1e4).map(|v| spec.als.alpha = v),
                "iterations" => parse_num(value, 1usize, 100).map(|v| spec.als.iterations = v),
                "recent_days" => parse_num(value, 1i64, 3650).map(|v| spec.recent_days = v),
                "half_life_days" => parse_num(value, 0.0f64, 36500.0)
                    .map(|v| spec.weights.half_life_days = (v > 0.0).then_some(v)),
                _ => Ok(()),
            };
            if let Err(why) = r {
                errors.push((name.clone(), why));
            }
        }
        if !blend_weights.is_empty() {
            if kind != ModelKind::Blend {
                errors.push((
                    "blend_weights".into(),
                    "only allowed when kind is BLEND".into(),
                ));
            } else if blend_weights.iter().all(|(_, w)| *w == 0.0) {
                errors.push(("blend_weights".into(), "at least one must be > 0".into()));
            } else {
                spec.blend_weights = Some(blend_weights.to_vec());
            }
        }
        if errors.is_empty() {
            Ok(spec)
        } else {
            Err(errors)
        }
    }

    /// The hyper-parameters as reported on the model.
    pub fn describe(&self) -> Vec<(String, String)> {
        let mut out = vec![(
            "half_life_days".to_string(),
            self.weights
                .half_life_days
                .map_or("0".into(), |h| h.to_string()),
        )];
        let uses = |k: ModelKind| self.kind == k || self.kind == ModelKind::Blend;
        if uses(ModelKind::ItemCf) || self.kind != ModelKind::Blend {
            out.push(("top_n".into(), self.cf_top_n.to_string()));
        }
        if uses(ModelKind::Ease) {
            out.push(("lambda".into(), self.ease_lambda.to_string()));
            out.push(("neighbours".into(), self.ease_neighbours.to_string()));
        }
        out.push(("binary".into(), self.cf_binary.to_string()));
        if uses(ModelKind::Als) {
            out.push(("factors".into(), self.als.factors.to_string()));
            out.push(("regularization".into(), self.als.regularization.to_string()));
            out.push(("alpha".into(), self.als.alpha.to_string()));
            out.push(("iterations".into(), self.als.iterations.to_string()));
        }
        if uses(ModelKind::Popularity) {
            out.push(("recent_days".into(), self.recent_days.to_string()));
        }
        out
    }
}

/// What training reads besides the interactions.
pub struct TrainingData<'a> {
    pub interactions: &'a [Interaction],
    /// Customer id → ISO alpha-2 country.
    pub countries: &'a HashMap<String, String>,
    /// Customer id → segment id (profiling's built-in RFM segment, e.g. `at-risk`).
    pub segments: &'a HashMap<String, String>,
    /// SKU → category and brand (content model in evaluation).
    pub attributes: &'a HashMap<String, ItemAttributes>,
    /// Reference time of the time decay (end of the training window).
    pub now: i64,
}

/// A label per matrix user (country or segment), from customer id → label.
fn user_countries(
    m: &InteractionMatrix,
    countries: &HashMap<String, String>,
) -> Vec<Option<String>> {
    m.users
        .ids()
        .iter()
        .map(|c| countries.get(c).cloned())
        .collect()
}

fn popularity(
    m: &InteractionMatrix,
    data: &TrainingData<'_>,
    spec: &TrainSpec,
    scope: PopularityScope,
    now: i64,
) -> Popularity {
    let countries = user_countries(m, data.countries);
    let segments = user_countries(m, data.segments);
    Popularity::fit(m, &countries, &segments, scope).with_recent(
        data.interactions,
        &m.items,
        now,
        spec.recent_days,
    )
}

/// Fits the components of `spec` on `m` (decay seen from `now`), in [`DEFAULT_BLEND`] order
/// for BLEND; used by the weight search and by evaluation.
fn fit_components(
    m: &InteractionMatrix,
    data: &TrainingData<'_>,
    spec: &TrainSpec,
    now: i64,
) -> Vec<(Component, Arc<dyn Recommender>)> {
    let one = |c: Component| -> Arc<dyn Recommender> {
        match c {
            Component::ItemCf => Arc::new(ItemCf::fit(m, spec.cf_top_n, spec.cf_binary)),
            Component::Ease => Arc::new(Ease::fit(m, spec.ease_lambda, spec.ease_binary)),
            Component::Als => Arc::new(Als::fit(m, spec.als)),
            Component::PopularityCountry => {
                Arc::new(popularity(m, data, spec, PopularityScope::Country, now))
            }
            Component::PopularityRecent => {
                Arc::new(popularity(m, data, spec, PopularityScope::Recent, now))
            }
            Component::Content => Arc::new(ContentAffinity::new(
                m.items
                    .ids()
                    .iter()
                    .map(|sku| data.attributes.get(sku).cloned().unwrap_or_default())
                    .collect(),
            )),
        }
    };
    match spec.kind {
        ModelKind::ItemCf => vec![(Component::ItemCf, one(Component::ItemCf))],
        ModelKind::Ease => vec![(Component::Ease, one(Component::Ease))],
        ModelKind::Als => vec![(Component::Als, one(Component::Als))],
        ModelKind::Popularity => vec![(
            Component::PopularityCountry,
            one(Component::PopularityCountry),
        )],
        ModelKind::Content => vec![(Component::Content, one(Component::Content))],
        ModelKind::Blend => {
            let wanted: Vec<Component> = match &spec.blend_weights {
                Some(w) => w
                    .iter()
                    .filter(|(_, x)| *x > 0.0)
                    .map(|(c, _)| *c)
                    .collect(),
                None => DEFAULT_BLEND.iter().map(|(c, _)| *c).collect(),
            };
            wanted.into_iter().map(|c| (c, one(c))).collect()
        }
    }
}

/// The validation split of a training window: the last 10 % of its time span held out.
fn validation_split(data: &TrainingData<'_>, weights: &WeightConfig) -> Option<Split> {
    let (lo, hi) = data
        .interactions
        .iter()
        .fold((i64::MAX, i64::MIN), |(lo, hi), it| {
            (lo.min(it.time), hi.max(it.time))
        });
    if lo >= hi {
        return None;
    }
    let cutoff = lo + (hi - lo) * 9 / 10;
    Some(Split::new(
        data.interactions,
        cutoff,
        data.now.max(hi + 1),
        weights,
        data.countries,
    ))
}

/// The blend weights of `spec`: given, searched on a validation split, or the defaults.
fn blend_weights(data: &TrainingData<'_>, spec: &TrainSpec) -> Vec<(Component, f32)> {
    if let Some(w) = &spec.blend_weights {
        return w.clone();
    }
    let Some(val) = validation_split(data, &spec.weights)
        .filter(|s| s.truth.len() >= MIN_SEARCH_CUSTOMERS && s.train.n_items() > 0)
    else {
        return DEFAULT_BLEND.to_vec();
    };
    let val_data = TrainingData {
        now: val.cutoff,
        ..*data
    };
    let fitted = fit_components(&val.train, &val_data, spec, val.cutoff);
    let models: Vec<Arc<dyn Recommender>> = fitted.iter().map(|f| f.1.clone()).collect();
    let found = search_weights(&models, &val, VALIDATION_K, 100);
    tracing::debug!(
        weights = ?found.weights,
        ndcg = found.validation_ndcg,
        "blend weights searched on the validation split"
    );
    fitted.iter().map(|f| f.0).zip(found.weights).collect()
}

/// Trains a servable model on `data`. `progress` receives 0..1.
pub fn train(data: &TrainingData<'_>, spec: &TrainSpec, progress: &dyn Fn(f64)) -> TrainedModel {
    let m = InteractionMatrix::build(data.interactions, &spec.weights, data.now);
    progress(0.1);
    let cf = ItemCf::fit(&m, spec.cf_top_n, spec.cf_binary);
    let pop = popularity(&m, data, spec, PopularityScope::Country, data.now);
    progress(0.2);
    let weights: Vec<(Component, f32)> = match spec.kind {
        ModelKind::ItemCf => vec![(Component::ItemCf, 1.0)],
        ModelKind::Ease => vec![(Component::Ease, 1.0)],
        ModelKind::Als => vec![(Component::Als, 1.0)],
        ModelKind::Popularity => vec![(Component::PopularityCountry, 1.0)],
        ModelKind::Content => vec![(Component::Content, 1.0)],
        ModelKind::Blend => blend_weights(data, spec),
    };
    progress(0.4);
    let uses = |c: Component| weights.iter().any(|&(x, w)| x == c && w > 0.0);
    let ease = uses(Component::Ease).then(|| {
        Ease::fit(&m, spec.ease_lambda, spec.ease_binary).pruned_rows(spec.ease_neighbours)
    });
    progress(0.7);
    let als = uses(Component::Als).then(|| {
        let a = Als::fit(&m, spec.als);
        Factors {
            config: a.config,
            users: a.user_factors,
            items: a.item_factors,
        }
    });
    progress(0.9);
    TrainedModel {
        kind: spec.kind,
        items: m.items.ids().to_vec(),
        users: m.users.ids().to_vec(),
        user_country: user_countries(&m, data.countries),
        history: m.by_user.clone(),
        neighbours: cf.neighbours,
        ease,
        als,
        popularity: PopularityCounts {
            global: pop.global,
            by_country: pop.by_country,
            recent: pop.recent,
            by_segment: pop.by_segment,
        },
        weights,
        interaction_count: data.interactions.len() as u64,
        hyperparameters: spec.describe(),
    }
}

/// Trains `spec` on `split.train` (decay seen from the cut-off) and scores it on the
/// split's test purchases at `k`. BLEND weights are searched inside the training period.
pub fn evaluate_spec(
    data: &TrainingData<'_>,
    split: &Split,
    spec: &TrainSpec,
    k: usize,
) -> Metrics {
    let train_rows: Vec<Interaction> = data
        .interactions
        .iter()
        .filter(|it| it.time < split.cutoff)
        .cloned()
        .collect();
    let train_data = TrainingData {
        interactions: &train_rows,
        now: split.cutoff,
        ..*data
    };
    let mut spec = spec.clone();
    if spec.kind == ModelKind::Blend && spec.blend_weights.is_none() {
        spec.blend_weights = Some(blend_weights(&train_data, &spec));
    }
    let fitted = fit_components(&split.train, &train_data, &spec, split.cutoff);
    if fitted.len() == 1 {
        return evaluate(fitted[0].1.as_ref(), split, k);
    }
    let weights: Vec<f32> = fitted
        .iter()
        .map(|(c, _)| {
            spec.blend_weights
                .as_ref()
                .and_then(|w| w.iter().find(|(x, _)| x == c).map(|(_, w)| *w))
                .unwrap_or(0.0)
        })
        .collect();
    let blend = Blend::new(
        fitted.into_iter().map(|f| f.1).collect(),
        weights,
        split.train.n_items(),
    );
    evaluate(&blend, split, k)
}

/// Metrics of `spec` on the validation split of `data` (last 10 % of the time span), for
/// auto-deploy, with the split's cut-off; `None` when the data has no usable split.
pub fn holdout_metrics(data: &TrainingData<'_>, spec: &TrainSpec) -> Option<(Metrics, i64)> {
    let split = validation_split(data, &spec.weights)?;
    if split.truth.is_empty() {
        return None;
    }
    Some((
        evaluate_spec(data, &split, spec, VALIDATION_K),
        split.cutoff,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::interactions::InteractionKind;

    fn hyper(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parse_accepts_known_and_rejects_unknown_or_bad_values() {
        let spec = TrainSpec::parse(
            ModelKind::Als,
            &[],
            &hyper(&[("factors", "16"), ("iterations", "3")]),
        )
        .expect("valid");
        assert_eq!(spec.als.factors, 16);
        assert_eq!(spec.als.iterations, 3);
        let errs = TrainSpec::parse(
            ModelKind::Als,
            &[],
            &hyper(&[("lambda", "5"), ("factors", "zero")]),
        )
        .expect_err("invalid");
        assert_eq!(errs.len(), 2);
        assert!(errs.iter().any(|e| e.0 == "lambda"));
        assert!(
            TrainSpec::parse(ModelKind::Ease, &[(Component::Ease, 1.0)], &BTreeMap::new()).is_err(),
            "blend weights only for BLEND"
        );
        assert!(
            TrainSpec::parse(
                ModelKind::Blend,
                &[(Component::Ease, 0.0)],
                &BTreeMap::new()
            )
            .is_err(),
            "all-zero weights"
        );
    }

    fn toy() -> Vec<Interaction> {
        // Two taste groups: {a, b, c} and {x, y, z}; 6 customers each buy two of their group.
        let mut its = Vec::new();
        let groups = [["a", "b", "c"], ["x", "y", "z"]];
        for (g, items) in groups.iter().enumerate() {
            for u in 0..6 {
                let c = format!("g{g}u{u}");
                its.push(Interaction {
                    customer: c.clone(),
                    item: items[u % 3].into(),
                    kind: InteractionKind::Purchase,
                    weight: 1.0,
                    time: 100 + u as i64,
                });
                its.push(Interaction {
                    customer: c,
                    item: items[(u + 1) % 3].into(),
                    kind: InteractionKind::Purchase,
                    weight: 1.0,
                    time: 200 + u as i64,
                });
            }
        }
        its
    }

    #[test]
    fn trains_every_kind_with_consistent_shapes() {
        let its = toy();
        let countries = HashMap::from([("g0u0".to_string(), "DE".to_string())]);
        let attributes = HashMap::new();
        let segments = HashMap::from([("g0u1".to_string(), "champions".to_string())]);
        let data = TrainingData {
            interactions: &its,
            countries: &countries,
            segments: &segments,
            attributes: &attributes,
            now: 1000,
        };
        for kind in [
            ModelKind::ItemCf,
            ModelKind::Ease,
            ModelKind::Als,
            ModelKind::Popularity,
            ModelKind::Content,
            ModelKind::Blend,
        ] {
            let spec = TrainSpec {
                kind,
                als: AlsConfig {
                    factors: 4,
                    iterations: 3,
                    ..AlsConfig::default()
                },
                ..TrainSpec::default()
            };
            let m = train(&data, &spec, &|_| {});
            assert_eq!(m.items.len(), 6, "{kind:?}");
            assert_eq!(m.users.len(), 12);
            assert_eq!(
                m.ease.is_some(),
                matches!(kind, ModelKind::Ease | ModelKind::Blend)
            );
            assert_eq!(
                m.als.is_some(),
                matches!(kind, ModelKind::Als | ModelKind::Blend)
            );
            assert!(m.weights.iter().any(|(_, w)| *w > 0.0));
            assert_eq!(m.popularity.by_country["DE"].iter().sum::<f32>(), 2.0);
            // The neighbours of `a` stay within its group.
            let a = m.items.iter().position(|i| i == "a").expect("a") as u32;
            let x = m.items.iter().position(|i| i == "x").expect("x") as u32;
            assert!(m.neighbours[a as usize].iter().all(|&(j, _)| {
                let id = m.items[j as usize].as_str();
                ["a", "b", "c"].contains(&id)
            }));
            assert!(!m.neighbours[a as usize].iter().any(|&(j, _)| j == x));
        }
    }
}
