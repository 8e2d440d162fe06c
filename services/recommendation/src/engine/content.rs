//! Content affinity: scores items by the customer's category and brand preferences.
//!
//! Preferences come from the profile (`Preferences`) or are derived from the purchase
//! history (share of weight per category/brand). Score = `w_cat·pref[category] +
//! w_brand·pref[brand]`.

use std::collections::HashMap;

use super::reasons::Reason;
use super::scoring::{Recommender, UserContext};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ItemAttributes {
    pub category: Option<String>,
    pub brand: Option<String>,
}

/// Affinities in [0, 1] per category and brand.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Preferences {
    pub categories: HashMap<String, f32>,
    pub brands: HashMap<String, f32>,
}

#[derive(Debug, Clone)]
pub struct ContentAffinity {
    /// Indexed by item index.
    pub attributes: Vec<ItemAttributes>,
    pub category_weight: f32,
    pub brand_weight: f32,
}

impl ContentAffinity {
    pub fn new(attributes: Vec<ItemAttributes>) -> Self {
        Self {
            attributes,
            category_weight: 1.0,
            brand_weight: 0.5,
        }
    }

    /// Shares of the history's weight per category and brand.
    pub fn preferences_from_history(&self, items: &[u32], values: &[f32]) -> Preferences {
        let mut p = Preferences::default();
        let total: f32 = values.iter().sum();
        if total <= 0.0 {
            return p;
        }
        for (&i, &v) in items.iter().zip(values) {
            if let Some(a) = self.attributes.get(i as usize) {
                if let Some(c) = &a.category {
                    *p.categories.entry(c.clone()).or_default() += v / total;
                }
                if let Some(b) = &a.brand {
                    *p.brands.entry(b.clone()).or_default() += v / total;
                }
            }
        }
        p
    }

    pub fn score_with(&self, prefs: &Preferences, scores: &mut [f32]) {
        for (s, a) in scores.iter_mut().zip(&self.attributes) {
            let c = a
                .category
                .as_ref()
                .and_then(|c| prefs.categories.get(c))
                .copied()
                .unwrap_or(0.0);
            let b = a
                .brand
                .as_ref()
                .and_then(|b| prefs.brands.get(b))
                .copied()
                .unwrap_or(0.0);
            *s += self.category_weight * c + self.brand_weight * b;
        }
    }

    /// The reason for `item` under `prefs`: the stronger of its category and brand match.
    pub fn explain_with(&self, prefs: &Preferences, item: u32) -> Reason {
        let Some(a) = self.attributes.get(item as usize) else {
            return Reason::popular_overall();
        };
        let c = a.category.as_ref().and_then(|c| {
            prefs
                .categories
                .get(c)
                .map(|v| (c, self.category_weight * v))
        });
        let b = a
            .brand
            .as_ref()
            .and_then(|b| prefs.brands.get(b).map(|v| (b, self.brand_weight * v)));
        match (c, b) {
            (Some((c, cv)), Some((_, bv))) if cv >= bv => Reason::matches_interest(c),
            (_, Some((b, _))) => Reason::matches_interest(b),
            (Some((c, _)), None) => Reason::matches_interest(c),
            (None, None) => Reason::popular_overall(),
        }
    }
}

impl Recommender for ContentAffinity {
    fn name(&self) -> &str {
        "content"
    }
    fn score(&self, ctx: &UserContext<'_>, scores: &mut [f32]) {
        let prefs = self.preferences_from_history(ctx.items, ctx.values);
        self.score_with(&prefs, scores);
    }
    fn explain(&self, ctx: &UserContext<'_>, item: u32) -> Reason {
        self.explain_with(&self.preferences_from_history(ctx.items, ctx.values), item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_by_category_and_brand() {
        let attr = |c: &str, b: &str| ItemAttributes {
            category: Some(c.into()),
            brand: Some(b.into()),
        };
        let model = ContentAffinity::new(vec![
            attr("candles", "acme"),
            attr("candles", "other"),
            attr("mugs", "acme"),
            attr("toys", "zed"),
        ]);
        // History: item 0 (weight 3), item 2 (weight 1) → candles 0.75, mugs 0.25, acme 1.0.
        let prefs = model.preferences_from_history(&[0, 2], &[3.0, 1.0]);
        assert!((prefs.categories["candles"] - 0.75).abs() < 1e-6);
        let mut s = vec![0f32; 4];
        model.score_with(&prefs, &mut s);
        assert!((s[1] - 0.75).abs() < 1e-6);
        assert!((s[2] - (0.25 + 0.5)).abs() < 1e-6);
        assert_eq!(s[3], 0.0);
        assert_eq!(
            model.explain_with(&prefs, 1).text,
            "matches your interest in candles"
        );
        let brand_only = Preferences {
            brands: HashMap::from([("acme".to_string(), 1.0)]),
            ..Preferences::default()
        };
        assert_eq!(
            model.explain_with(&brand_only, 2).text,
            "matches your interest in acme"
        );
    }
}
