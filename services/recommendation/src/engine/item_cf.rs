//! Item-to-item collaborative filtering: cosine similarity on the weighted co-occurrence of
//! items in users' histories, pruned to the top-N neighbours per item.
//!
//! `sim(i, j) = Σ_u x_ui·x_uj / (‖x_i‖·‖x_j‖)`; score of `j` for a user =
//! `Σ_{i ∈ history} x_ui · sim(i, j)` over the pruned neighbour lists. Serving cost is
//! `O(|history| × N)`.

use super::matrix::InteractionMatrix;
use super::reasons::Reason;
use super::scoring::{Recommender, UserContext, parallel_map};

#[derive(Debug, Clone)]
pub struct ItemCf {
    /// Per item, its neighbours `(item, similarity)` sorted by similarity descending.
    pub neighbours: Vec<Vec<(u32, f32)>>,
    item_ids: Vec<String>,
}

impl ItemCf {
    /// Fits with at most `top_n` neighbours per item. `binary` uses 0/1 instead of weights.
    pub fn fit(m: &InteractionMatrix, top_n: usize, binary: bool) -> Self {
        let n = m.n_items();
        let val = |v: f32| if binary { 1.0 } else { v };
        let norms: Vec<f32> = (0..n)
            .map(|i| {
                m.by_item
                    .row(i)
                    .1
                    .iter()
                    .map(|&v| val(v) * val(v))
                    .sum::<f32>()
                    .sqrt()
            })
            .collect();
        let neighbours = parallel_map(n, |i| {
            let mut acc = vec![0f32; n];
            let (users, xs) = m.by_item.row(i);
            for (&u, &xu) in users.iter().zip(xs) {
                let (items, ys) = m.by_user.row(u as usize);
                let xu = val(xu);
                for (&j, &y) in items.iter().zip(ys) {
                    acc[j as usize] += xu * val(y);
                }
            }
            acc[i] = 0.0;
            let mut nb: Vec<(u32, f32)> = acc
                .iter()
                .enumerate()
                .filter(|&(_, &c)| c > 0.0)
                .map(|(j, &c)| (j as u32, c / (norms[i] * norms[j]).max(1e-12)))
                .collect();
            if nb.len() > top_n {
                nb.select_nth_unstable_by(top_n, |a, b| b.1.total_cmp(&a.1));
                nb.truncate(top_n);
            }
            nb.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            nb
        });
        Self {
            neighbours,
            item_ids: m.items.ids().to_vec(),
        }
    }

    /// Similarity of `j` to `i` (0 if pruned).
    pub fn similarity(&self, i: u32, j: u32) -> f32 {
        self.neighbours[i as usize]
            .iter()
            .find(|&&(k, _)| k == j)
            .map_or(0.0, |&(_, s)| s)
    }
}

impl Recommender for ItemCf {
    fn name(&self) -> &str {
        "item-cf"
    }
    fn score(&self, ctx: &UserContext<'_>, scores: &mut [f32]) {
        for (&i, &x) in ctx.items.iter().zip(ctx.values) {
            for &(j, s) in &self.neighbours[i as usize] {
                scores[j as usize] += x * s;
            }
        }
    }
    fn explain(&self, ctx: &UserContext<'_>, item: u32) -> Reason {
        let best = ctx
            .items
            .iter()
            .zip(ctx.values)
            .map(|(&i, &x)| (i, x * self.similarity(i, item)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        match best {
            Some((i, c)) if c > 0.0 => Reason::bought_together(&self.item_ids[i as usize]),
            _ => Reason::popular_overall(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::interactions::{Interaction, InteractionKind, WeightConfig};

    /// 4 users × 5 items (binary): u1 {a,b}, u2 {a,b,c}, u3 {b,c}, u4 {d,e}.
    pub(crate) fn toy() -> InteractionMatrix {
        let rows = [
            ("u1", "a"),
            ("u1", "b"),
            ("u2", "a"),
            ("u2", "b"),
            ("u2", "c"),
            ("u3", "b"),
            ("u3", "c"),
            ("u4", "d"),
            ("u4", "e"),
        ];
        let its: Vec<Interaction> = rows
            .iter()
            .map(|&(c, i)| Interaction {
                customer: c.into(),
                item: i.into(),
                kind: InteractionKind::Purchase,
                weight: 1.0,
                time: 0,
            })
            .collect();
        InteractionMatrix::build(
            &its,
            &WeightConfig {
                half_life_days: None,
                ..WeightConfig::default()
            },
            0,
        )
    }

    #[test]
    fn cosine_matches_hand_computation() {
        let m = toy();
        let cf = ItemCf::fit(&m, 10, true);
        let id = |s: &str| m.items.get(s).expect("item");
        // a: {u1,u2}, b: {u1,u2,u3}, c: {u2,u3}; cos(a,b) = 2/sqrt(2*3); cos(a,c) = 1/2; cos(b,c) = 2/sqrt(6).
        assert!((cf.similarity(id("a"), id("b")) - 2.0 / 6f32.sqrt()).abs() < 1e-6);
        assert!((cf.similarity(id("a"), id("c")) - 0.5).abs() < 1e-6);
        assert!((cf.similarity(id("d"), id("e")) - 1.0).abs() < 1e-6);
        assert_eq!(cf.similarity(id("a"), id("d")), 0.0);
        // Pruning to 1 neighbour keeps a's best: b.
        let pruned = ItemCf::fit(&m, 1, true);
        let nb = &pruned.neighbours[id("a") as usize];
        assert_eq!(nb.len(), 1);
        assert_eq!(nb[0].0, id("b"));
        assert!((nb[0].1 - 2.0 / 6f32.sqrt()).abs() < 1e-6);
        // u1 {a,b}: c scores cos(a,c)+cos(b,c); d, e score 0; reason names the best anchor.
        let u1 = m.users.get("u1").expect("u1") as usize;
        let (items, values) = m.by_user.row(u1);
        let ctx = UserContext {
            user: Some(u1 as u32),
            items,
            values,
            ..UserContext::default()
        };
        let mut s = vec![0f32; m.n_items()];
        cf.score(&ctx, &mut s);
        assert!((s[id("c") as usize] - (0.5 + 2.0 / 6f32.sqrt())).abs() < 1e-5);
        assert_eq!(s[id("d") as usize], 0.0);
        assert_eq!(cf.explain(&ctx, id("c")).text, "bought together with b");
    }
}
