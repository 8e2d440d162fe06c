//! Popularity for cold start: global, by country, by segment, and a recent window.
//!
//! Counts are distinct customers with a positive (net of returns) interaction. Country and
//! segment scores add the global count scaled below 1 as a tie-break, and fall back to global
//! when the group is unknown.

use std::collections::HashMap;

use super::interactions::{Interaction, InteractionKind};
use super::matrix::{IndexMap, InteractionMatrix};
use super::reasons::Reason;
use super::scoring::{Recommender, UserContext};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PopularityScope {
    Global,
    Country,
    Segment,
    /// Distinct purchasers within the recent window.
    Recent,
}

#[derive(Debug, Clone)]
pub struct Popularity {
    pub scope: PopularityScope,
    pub global: Vec<f32>,
    pub by_country: HashMap<String, Vec<f32>>,
    pub by_segment: HashMap<String, Vec<f32>>,
    pub recent: Vec<f32>,
    global_max: f32,
}

impl Popularity {
    /// `user_country`/`user_segment` are indexed by matrix user index.
    pub fn fit(
        m: &InteractionMatrix,
        user_country: &[Option<String>],
        user_segment: &[Option<String>],
        scope: PopularityScope,
    ) -> Self {
        let n = m.n_items();
        let global = m.item_user_counts();
        let group = |labels: &[Option<String>]| {
            let mut out: HashMap<String, Vec<f32>> = HashMap::new();
            for (u, label) in labels.iter().enumerate().take(m.n_users()) {
                if let Some(l) = label {
                    let counts = out.entry(l.clone()).or_insert_with(|| vec![0.0; n]);
                    for &i in m.by_user.row(u).0 {
                        counts[i as usize] += 1.0;
                    }
                }
            }
            out
        };
        let global_max = global.iter().copied().fold(0.0, f32::max);
        Self {
            scope,
            by_country: group(user_country),
            by_segment: group(user_segment),
            recent: global.clone(),
            global,
            global_max,
        }
    }

    /// Replaces the recent-window counts: distinct purchasers per item in `[now − days, now)`.
    pub fn with_recent(
        mut self,
        interactions: &[Interaction],
        items: &IndexMap,
        now: i64,
        days: i64,
    ) -> Self {
        let from = now - days * 86_400;
        let mut seen: std::collections::HashSet<(&str, u32)> = std::collections::HashSet::new();
        let mut recent = vec![0f32; self.global.len()];
        for it in interactions {
            if it.kind == InteractionKind::Purchase
                && it.time >= from
                && it.time < now
                && let Some(i) = items.get(&it.item)
                && seen.insert((it.customer.as_str(), i))
            {
                recent[i as usize] += 1.0;
            }
        }
        self.recent = recent;
        self
    }

    fn group_counts<'a>(&'a self, ctx: &UserContext<'_>) -> Option<(&'a [f32], Reason)> {
        match self.scope {
            PopularityScope::Country => ctx.country.and_then(|c| {
                self.by_country
                    .get(c)
                    .map(|v| (v.as_slice(), Reason::popular_in_country(c)))
            }),
            PopularityScope::Segment => ctx.segment.and_then(|s| {
                self.by_segment
                    .get(s)
                    .map(|v| (v.as_slice(), Reason::popular_in_segment(s)))
            }),
            PopularityScope::Recent => Some((self.recent.as_slice(), Reason::trending())),
            PopularityScope::Global => None,
        }
    }
}

impl Recommender for Popularity {
    fn name(&self) -> &str {
        match self.scope {
            PopularityScope::Global => "popularity",
            PopularityScope::Country => "popularity-country",
            PopularityScope::Segment => "popularity-segment",
            PopularityScope::Recent => "popularity-recent",
        }
    }
    fn score(&self, ctx: &UserContext<'_>, scores: &mut [f32]) {
        let tie = 1.0 / (self.global_max + 1.0);
        match self.group_counts(ctx) {
            Some((counts, _)) => {
                for ((s, &c), &g) in scores.iter_mut().zip(counts).zip(&self.global) {
                    *s += c + g * tie;
                }
            }
            None => {
                for (s, &g) in scores.iter_mut().zip(&self.global) {
                    *s += g;
                }
            }
        }
    }
    fn explain(&self, ctx: &UserContext<'_>, item: u32) -> Reason {
        match self.group_counts(ctx) {
            Some((counts, reason)) if counts[item as usize] > 0.0 => reason,
            _ => Reason::popular_overall(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::interactions::WeightConfig;
    use crate::engine::scoring::top_k;

    #[test]
    fn country_ordering_differs_from_global() {
        // DE buys x (2 customers); UK buys y (3 customers); global: y > x.
        let rows = [
            ("de1", "x"),
            ("de2", "x"),
            ("uk1", "y"),
            ("uk2", "y"),
            ("uk3", "y"),
            ("de1", "z"),
        ];
        let its: Vec<Interaction> = rows
            .iter()
            .map(|&(c, i)| Interaction {
                customer: c.into(),
                item: i.into(),
                kind: InteractionKind::Purchase,
                weight: 1.0,
                time: 10,
            })
            .collect();
        let m = InteractionMatrix::build(&its, &WeightConfig::default(), 10);
        let countries: Vec<Option<String>> = (0..m.n_users() as u32)
            .map(|u| {
                Some(
                    if m.users.id(u).starts_with("de") {
                        "Germany"
                    } else {
                        "UK"
                    }
                    .to_string(),
                )
            })
            .collect();
        let segments = vec![None; m.n_users()];
        let id = |s: &str| m.items.get(s).expect("item");
        let global = Popularity::fit(&m, &countries, &segments, PopularityScope::Global);
        let mut s = vec![0f32; m.n_items()];
        global.score(&UserContext::default(), &mut s);
        assert_eq!(top_k(&s, 2, |_| true), vec![id("y"), id("x")]);

        let by_country = Popularity::fit(&m, &countries, &segments, PopularityScope::Country);
        let ctx = UserContext {
            country: Some("Germany"),
            ..UserContext::default()
        };
        let mut s = vec![0f32; m.n_items()];
        by_country.score(&ctx, &mut s);
        assert_eq!(top_k(&s, 3, |_| true), vec![id("x"), id("z"), id("y")]);
        assert_eq!(
            by_country.explain(&ctx, id("x")).text,
            "popular in Germany this month"
        );
        assert_eq!(by_country.explain(&ctx, id("y")), Reason::popular_overall());
        // Unknown country falls back to global.
        let mut s = vec![0f32; m.n_items()];
        by_country.score(
            &UserContext {
                country: Some("Peru"),
                ..UserContext::default()
            },
            &mut s,
        );
        assert_eq!(top_k(&s, 1, |_| true), vec![id("y")]);

        let recent = Popularity::fit(&m, &countries, &segments, PopularityScope::Recent)
            .with_recent(&its[..2], &m.items, 11, 1);
        assert_eq!(recent.recent[id("x") as usize], 2.0);
        assert_eq!(recent.recent[id("y") as usize], 0.0);
    }
}
