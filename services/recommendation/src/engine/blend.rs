//! A weighted blend of models. Each model's scores are normalised per user by their maximum
//! over the items not in the user's history (so weights are comparable across models), then
//! summed with the weights. Weights come from [`search_weights`]: coordinate ascent on
//! NDCG@k over a validation split carved from the training period (never the test period).

use std::sync::Arc;

use serde::Serialize;

use super::evaluate::Split;
use super::metrics::user_metrics;
use super::reasons::Reason;
use super::rules::Rules;
use super::scoring::{Recommender, UserContext, parallel_map, top_k};

/// One recommended item with its blended score and reason.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    pub item: u32,
    pub score: f32,
    pub reason: Reason,
}

#[derive(Clone)]
pub struct Blend {
    pub models: Vec<Arc<dyn Recommender>>,
    pub weights: Vec<f32>,
    n_items: usize,
}

/// Max-normalises `s` over items not in `history` (sorted); all-≤0 scores become 0.
fn normalise(s: &mut [f32], history: &[u32]) {
    let max = s
        .iter()
        .enumerate()
        .filter(|(i, _)| history.binary_search(&(*i as u32)).is_err())
        .map(|(_, &v)| v)
        .fold(0f32, f32::max);
    if max > 0.0 {
        for v in s.iter_mut() {
            *v /= max;
        }
    } else {
        s.fill(0.0);
    }
}

impl Blend {
    pub fn new(models: Vec<Arc<dyn Recommender>>, weights: Vec<f32>, n_items: usize) -> Self {
        assert_eq!(models.len(), weights.len(), "one weight per model");
        Self {
            models,
            weights,
            n_items,
        }
    }

    /// Top-`k` items not in the history that pass `rules`, each with its reason.
    pub fn recommend(&self, ctx: &UserContext<'_>, k: usize, rules: &Rules) -> Vec<Recommendation> {
        let mut scores = vec![0f32; self.n_items];
        self.score(ctx, &mut scores);
        top_k(&scores, k, |i| {
            ctx.items.binary_search(&i).is_err() && rules.allows(i, ctx.country, ctx.items)
        })
        .into_iter()
        .map(|i| Recommendation {
            item: i,
            score: scores[i as usize],
            reason: self.explain(ctx, i),
        })
        .collect()
    }

    fn model_scores(&self, m: usize, ctx: &UserContext<'_>) -> Vec<f32> {
        let mut s = vec![0f32; self.n_items];
        self.models[m].score(ctx, &mut s);
        normalise(&mut s, ctx.items);
        s
    }
}

impl Recommender for Blend {
    fn name(&self) -> &str {
        "blend"
    }
    fn score(&self, ctx: &UserContext<'_>, scores: &mut [f32]) {
        for (m, &w) in self.weights.iter().enumerate() {
            if w == 0.0 {
                continue;
            }
            for (o, v) in scores.iter_mut().zip(self.model_scores(m, ctx)) {
                *o += w * v;
            }
        }
    }
    /// The reason of the model contributing most to this item's blended score.
    fn explain(&self, ctx: &UserContext<'_>, item: u32) -> Reason {
        let best = (0..self.models.len())
            .filter(|&m| self.weights[m] > 0.0)
            .map(|m| {
                (
                    m,
                    self.weights[m] * self.model_scores(m, ctx)[item as usize],
                )
            })
            .max_by(|a, b| a.1.total_cmp(&b.1));
        match best {
            Some((m, _)) => self.models[m].explain(ctx, item),
            None => Reason::popular_overall(),
        }
    }
}

/// Result of the weight search.
#[derive(Debug, Clone, Serialize)]
pub struct WeightSearch {
    pub names: Vec<String>,
    pub weights: Vec<f32>,
    /// Validation NDCG@k of the chosen weights (over the candidate pool).
    pub validation_ndcg: f64,
    /// Validation NDCG@k of each model alone.
    pub single_ndcg: Vec<f64>,
}

/// Chooses blend weights by coordinate ascent over a small grid on `validation`, maximising
/// mean NDCG@k. Candidates per user are the union of each model's top-`pool` (history
/// excluded); the blend re-ranks that pool.
pub fn search_weights(
    models: &[Arc<dyn Recommender>],
    validation: &Split,
    k: usize,
    pool: usize,
) -> WeightSearch {
    const GRID: [f32; 9] = [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5];
    let n = validation.train.n_items();
    // Per user: candidates, per-model normalised scores at the candidates, relevant items.
    let cache: Vec<(Vec<u32>, Vec<Vec<f32>>)> = parallel_map(validation.truth.len(), |t| {
        let ctx = validation.context(validation.truth[t].0);
        let all: Vec<Vec<f32>> = models
            .iter()
            .map(|m| {
                let mut s = vec![0f32; n];
                m.score(&ctx, &mut s);
                normalise(&mut s, ctx.items);
                s
            })
            .collect();
        let mut cands: Vec<u32> = all
            .iter()
            .flat_map(|s| top_k(s, pool, |i| ctx.items.binary_search(&i).is_err()))
            .collect();
        cands.sort_unstable();
        cands.dedup();
        let per_model = all
            .iter()
            .map(|s| cands.iter().map(|&c| s[c as usize]).collect())
            .collect();
        (cands, per_model)
    });
    let eval = |w: &[f32]| -> f64 {
        let total: f64 = cache
            .iter()
            .zip(&validation.truth)
            .map(|((cands, per_model), (_, rel))| {
                let blended: Vec<f32> = (0..cands.len())
                    .map(|c| per_model.iter().zip(w).map(|(s, &wm)| wm * s[c]).sum())
                    .collect();
                let recs: Vec<u32> = top_k(&blended, k, |_| true)
                    .into_iter()
                    .map(|c| cands[c as usize])
                    .collect();
                user_metrics(&recs, rel, k).2
            })
            .sum();
        total / cache.len().max(1) as f64
    };
    let single: Vec<f64> = (0..models.len())
        .map(|m| {
            let mut w = vec![0f32; models.len()];
            w[m] = 1.0;
            eval(&w)
        })
        .collect();
    let best_single = (0..models.len())
        .max_by(|&a, &b| single[a].total_cmp(&single[b]))
        .unwrap_or(0);
    let mut w = vec![0f32; models.len()];
    if !w.is_empty() {
        w[best_single] = 1.0;
    }
    let mut best = single.get(best_single).copied().unwrap_or(0.0);
    for _round in 0..3 {
        let mut improved = false;
        for m in 0..models.len() {
            for g in GRID {
                let mut cand = w.clone();
                cand[m] = g;
                if cand.iter().all(|&x| x == 0.0) {
                    continue;
                }
                let v = eval(&cand);
                if v > best + 1e-9 {
                    best = v;
                    w = cand;
                    improved = true;
                }
            }
        }
        if !improved {
            break;
        }
    }
    WeightSearch {
        names: models.iter().map(|m| m.name().to_string()).collect(),
        weights: w,
        validation_ndcg: best,
        single_ndcg: single,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::interactions::{Interaction, InteractionKind, WeightConfig};
    use crate::engine::rules::ItemFacts;
    use std::collections::HashMap;

    /// A fixed-score model for tests.
    struct Fixed(&'static str, Vec<f32>);
    impl Recommender for Fixed {
        fn name(&self) -> &str {
            self.0
        }
        fn score(&self, _: &UserContext<'_>, s: &mut [f32]) {
            for (o, v) in s.iter_mut().zip(&self.1) {
                *o += v;
            }
        }
        fn explain(&self, _: &UserContext<'_>, _: u32) -> Reason {
            Reason::bought_together(self.0)
        }
    }

    fn toy_split() -> Split {
        // Items: h (history), g (good: bought later by everyone), b (bad).
        let p = |c: String, i: &str, t| Interaction {
            customer: c,
            item: i.into(),
            kind: InteractionKind::Purchase,
            weight: 1.0,
            time: t,
        };
        let mut its = Vec::new();
        for u in 0..5 {
            its.push(p(format!("u{u}"), "h", 1));
            its.push(p(format!("u{u}"), "g", 20));
        }
        its.push(p("x".into(), "g", 1));
        its.push(p("y".into(), "b", 1));
        Split::new(&its, 10, 100, &WeightConfig::default(), &HashMap::new())
    }

    #[test]
    fn search_picks_the_better_model() {
        let split = toy_split();
        let g = split.train.items.get("g").expect("g") as usize;
        let b = split.train.items.get("b").expect("b") as usize;
        let mut good = vec![0f32; split.train.n_items()];
        good[g] = 1.0;
        good[b] = 0.5;
        let mut bad = vec![0f32; split.train.n_items()];
        bad[b] = 1.0;
        bad[g] = 0.1;
        let models: Vec<Arc<dyn Recommender>> =
            vec![Arc::new(Fixed("bad", bad)), Arc::new(Fixed("good", good))];
        let ws = search_weights(&models, &split, 1, 10);
        assert!(ws.single_ndcg[1] > ws.single_ndcg[0]);
        assert!(ws.weights[1] > ws.weights[0], "{:?}", ws.weights);
        assert!((ws.validation_ndcg - 1.0).abs() < 1e-9);
    }

    #[test]
    fn recommend_applies_rules_and_gives_reasons() {
        let split = toy_split();
        let n = split.train.n_items();
        let g = split.train.items.get("g").expect("g");
        let b = split.train.items.get("b").expect("b");
        let mut s = vec![0f32; n];
        s[g as usize] = 1.0;
        s[b as usize] = 0.5;
        let blend = Blend::new(vec![Arc::new(Fixed("cf", s))], vec![1.0], n);
        let ctx = split.context(split.truth[0].0);
        let mut facts = vec![ItemFacts::default(); n];
        facts[g as usize].in_stock = false;
        let recs = blend.recommend(
            &ctx,
            5,
            &Rules {
                facts,
                ..Rules::default()
            },
        );
        assert_eq!(
            recs.iter().map(|r| r.item).collect::<Vec<_>>(),
            vec![b],
            "g out of stock, h already had"
        );
        assert_eq!(recs[0].reason.text, "bought together with cf");
        assert!((recs[0].score - 0.5).abs() < 1e-6);
    }
}
