//! Time-based holdout evaluation.
//!
//! Protocol (the Python benchmark applies the same):
//! - train = interactions with `time < cutoff`, aggregated into the matrix with decay seen
//!   from `cutoff`; test = purchases with `cutoff ≤ time < end`;
//! - evaluated users: those with ≥ 1 positive training cell and ≥ 1 test purchase of an item
//!   they do not already have a positive training cell for;
//! - ground truth: the distinct items a user purchased in test, minus the items in their
//!   training row (we measure discovery of new items; re-purchases are not rewarded), items
//!   unseen in training included (no model can hit them, all models pay the same);
//! - every model (and implicit, via `filter_already_liked_items`) excludes the user's
//!   training-row items from its top-k.

use std::collections::HashMap;

use super::interactions::{Interaction, InteractionKind, WeightConfig};
use super::matrix::{IndexMap, InteractionMatrix};
use super::metrics::{Metrics, aggregate};
use super::scoring::{Recommender, UserContext, parallel_map, top_k};

#[derive(Debug, Clone)]
pub struct Split {
    pub train: InteractionMatrix,
    /// (user index, relevant item indices; indices ≥ n_items are items unseen in training).
    pub truth: Vec<(u32, Vec<u32>)>,
    /// Country per matrix user index.
    pub user_country: Vec<Option<String>>,
    pub cutoff: i64,
}

impl Split {
    pub fn new(
        interactions: &[Interaction],
        cutoff: i64,
        end: i64,
        cfg: &WeightConfig,
        countries: &HashMap<String, String>,
    ) -> Self {
        let train_rows: Vec<Interaction> = interactions
            .iter()
            .filter(|it| it.time < cutoff)
            .cloned()
            .collect();
        let train = InteractionMatrix::build(&train_rows, cfg, cutoff);
        let mut extended: IndexMap = train.items.clone();
        let mut per_user: HashMap<u32, Vec<u32>> = HashMap::new();
        for it in interactions {
            if it.kind != InteractionKind::Purchase || it.time < cutoff || it.time >= end {
                continue;
            }
            let Some(u) = train.users.get(&it.customer) else {
                continue;
            };
            let i = extended.get_or_insert(&it.item);
            if train.by_user.row(u as usize).0.binary_search(&i).is_ok() {
                continue;
            }
            per_user.entry(u).or_default().push(i);
        }
        let mut truth: Vec<(u32, Vec<u32>)> = per_user
            .into_iter()
            .map(|(u, mut v)| {
                v.sort_unstable();
                v.dedup();
                (u, v)
            })
            .collect();
        truth.sort_unstable_by_key(|t| t.0);
        let user_country = train
            .users
            .ids()
            .iter()
            .map(|c| countries.get(c).cloned())
            .collect();
        Self {
            train,
            truth,
            user_country,
            cutoff,
        }
    }

    pub fn context(&self, u: u32) -> UserContext<'_> {
        let (items, values) = self.train.by_user.row(u as usize);
        UserContext {
            user: Some(u),
            items,
            values,
            country: self.user_country[u as usize].as_deref(),
            segment: None,
        }
    }
}

/// Top-k lists per evaluated user (training-row items excluded), in `split.truth` order.
pub fn recommend_all(model: &dyn Recommender, split: &Split, k: usize) -> Vec<Vec<u32>> {
    let n = split.train.n_items();
    parallel_map(split.truth.len(), |t| {
        let u = split.truth[t].0;
        let ctx = split.context(u);
        let mut scores = vec![0f32; n];
        model.score(&ctx, &mut scores);
        top_k(&scores, k, |i| ctx.items.binary_search(&i).is_err())
    })
}

pub fn evaluate(model: &dyn Recommender, split: &Split, k: usize) -> Metrics {
    let recs = recommend_all(model, split, k);
    aggregate(
        recs.iter()
            .zip(&split.truth)
            .map(|(r, t)| (r.as_slice(), t.1.as_slice())),
        k,
        split.train.n_items(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::popularity::{Popularity, PopularityScope};

    #[test]
    fn split_and_ground_truth() {
        let p = |c: &str, i: &str, t| Interaction {
            customer: c.into(),
            item: i.into(),
            kind: InteractionKind::Purchase,
            weight: 1.0,
            time: t,
        };
        let its = vec![
            p("u1", "a", 1),
            p("u2", "a", 1),
            p("u2", "b", 2),
            p("u3", "b", 2),
            p("u1", "a", 20), // repeat: not ground truth
            p("u1", "b", 21), // new for u1
            p("u1", "z", 22), // unseen item: counts, unhittable
            p("u3", "b", 23), // only a repeat: u3 not evaluated
            p("u9", "a", 24), // no training history: not evaluated
            p("u2", "c", 99), // after `end`
        ];
        let split = Split::new(&its, 10, 50, &WeightConfig::default(), &HashMap::new());
        assert_eq!(split.truth.len(), 1);
        let (u, rel) = &split.truth[0];
        assert_eq!(split.train.users.id(*u), "u1");
        assert_eq!(rel.len(), 2);
        assert!(rel.contains(&split.train.items.get("b").expect("b")));
        // Popularity recommends b (a is excluded as already bought): 1 hit of 2.
        let pop = Popularity::fit(
            &split.train,
            &split.user_country,
            &vec![None; split.train.n_users()],
            PopularityScope::Global,
        );
        let m = evaluate(&pop, &split, 1);
        assert_eq!(m.users, 1);
        assert!((m.precision - 1.0).abs() < 1e-12);
        assert!((m.recall - 0.5).abs() < 1e-12);
        assert!((m.coverage - 0.5).abs() < 1e-12);
    }
}
