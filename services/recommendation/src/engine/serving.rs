//! Serving a trained model: score, blend, filter by the cross-border rules against the live
//! catalogue, and explain every item.
//!
//! A [`ServingModel`] is built once per model version (indices, components); a
//! [`CatalogView`] is rebuilt when the catalogue or the country exclusions change (rules,
//! titles, content attributes, aligned to the model's item indices). Both are immutable and
//! shared behind `Arc`s, so a request never waits for a refresh.
//!
//! Scoring: each component with a positive weight scores every item, is max-normalised over
//! the items the customer may be shown, and is summed with its weight. On top of the model's
//! own weights: the request context (current product and cart) through the item-to-item
//! neighbours (weight [`CONTEXT_WEIGHT`]), the profile's content affinity when the profile
//! has one ([`super::training::DEFAULT_CONTENT_WEIGHT`] unless the model weighs it),
//! popularity in the customer's country when there is no history and no context (cold
//! start), and global popularity with a tiny weight ([`FILL_WEIGHT`]) so lists are always
//! filled. The reason of an item is that of the component contributing most to its score.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::content::{ContentAffinity, ItemAttributes, Preferences};
use super::model::{Component, TrainedModel};
use super::reasons::{Reason, ReasonKind};
use super::rules::{ItemFacts, Rules, category_matches};
use super::scoring::top_k;
use super::training::DEFAULT_CONTENT_WEIGHT;

/// Weight of the request context (viewed product, cart) relative to the model's components.
pub const CONTEXT_WEIGHT: f32 = 1.0;
/// Weight of global popularity, only to order the tail and fill lists for new customers.
pub const FILL_WEIGHT: f32 = 0.01;

/// A product as the rules and reasons need it.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogItem {
    pub title: String,
    /// `" > "`-separated path; empty when unset.
    pub category: String,
    pub brand: Option<String>,
    /// ISO alpha-2 countries; `None` = ships everywhere.
    pub ships_to: Option<Vec<String>>,
    pub in_stock: bool,
    pub replenishable: bool,
    pub active: bool,
}

/// SKU → product.
pub type Catalogue = HashMap<String, CatalogItem>;
/// Country (alpha-2) → excluded category prefixes.
pub type Exclusions = HashMap<String, Vec<String>>;

/// An item's weighted neighbours (item-to-item or EASE row).
type Neighbours = Vec<(u32, f32)>;

/// A model version ready to score: the trained model plus its lookup indices.
#[derive(Debug)]
pub struct ServingModel {
    pub model: Arc<TrainedModel>,
    item_index: HashMap<String, u32>,
    user_index: HashMap<String, u32>,
}

/// The catalogue as seen by one model version (indexed by the model's item indices).
#[derive(Debug)]
pub struct CatalogView {
    rules: Rules,
    titles: Vec<String>,
    content: ContentAffinity,
    /// SKUs in the catalogue (for telling "unknown product" from "not in the model").
    known: std::collections::HashSet<String>,
    /// Per country (`None`: no country), the items the rules allow before anything
    /// customer-specific: built on first use, then shared by every request of the view.
    static_masks: RwLock<HashMap<Option<String>, Arc<[bool]>>>,
}

impl CatalogView {
    /// Items of the model missing from the catalogue are treated as inactive.
    pub fn build(model: &TrainedModel, catalogue: &Catalogue, exclusions: &Exclusions) -> Self {
        let mut facts = Vec::with_capacity(model.n_items());
        let mut titles = Vec::with_capacity(model.n_items());
        let mut attributes = Vec::with_capacity(model.n_items());
        for sku in &model.items {
            match catalogue.get(sku) {
                Some(p) => {
                    let category = (!p.category.is_empty()).then(|| p.category.clone());
                    facts.push(ItemFacts {
                        ships_to: p.ships_to.clone(),
                        in_stock: p.in_stock,
                        replenishable: p.replenishable,
                        category: category.clone(),
                        active: p.active,
                    });
                    titles.push(if p.title.is_empty() {
                        sku.clone()
                    } else {
                        p.title.clone()
                    });
                    attributes.push(ItemAttributes {
                        category,
                        brand: p.brand.clone(),
                    });
                }
                None => {
                    facts.push(ItemFacts {
                        active: false,
                        ..ItemFacts::default()
                    });
                    titles.push(sku.clone());
                    attributes.push(ItemAttributes::default());
                }
            }
        }
        Self {
            rules: Rules {
                facts,
                exclusions: exclusions.clone(),
            },
            titles,
            content: ContentAffinity::new(attributes),
            known: catalogue.keys().cloned().collect(),
            static_masks: RwLock::new(HashMap::new()),
        }
    }

    /// Items allowed in `country` by the rules that do not depend on the customer
    /// (active, ships there, in stock, not excluded there).
    fn static_mask(&self, country: Option<&str>) -> Arc<[bool]> {
        let key = country.map(str::to_owned);
        if let Some(m) = self
            .static_masks
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return m.clone();
        }
        let mask: Arc<[bool]> = (0..self.rules.facts.len() as u32)
            .map(|i| self.rules.allows(i, country, &[]))
            .collect();
        self.static_masks
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, mask.clone());
        mask
    }

    /// The items `q` may be shown: the country's static mask minus the context items,
    /// items outside the requested category and non-replenishable items already bought
    /// (`purchased`, sorted). The same as [`Rules::allows`] item by item.
    fn request_mask(&self, q: &Query<'_>, context: &[u32], purchased: &[u32]) -> Vec<bool> {
        let mut mask = self.static_mask(q.country).to_vec();
        for &i in context.iter().chain(purchased.iter().filter(|&&i| {
            self.rules
                .facts
                .get(i as usize)
                .is_some_and(|f| !f.replenishable)
        })) {
            if let Some(m) = mask.get_mut(i as usize) {
                *m = false;
            }
        }
        if let Some(prefix) = q.category_prefix {
            for (m, f) in mask.iter_mut().zip(&self.rules.facts) {
                *m = *m
                    && f.category
                        .as_deref()
                        .is_some_and(|c| category_matches(prefix, c));
            }
        }
        mask
    }

    pub fn knows(&self, sku: &str) -> bool {
        self.known.contains(sku)
    }
}

/// One recommendation request, already validated.
#[derive(Debug, Clone, Default)]
pub struct Query<'a> {
    /// Customer id (not the resource name).
    pub customer: Option<&'a str>,
    /// ISO alpha-2 country (request override or the customer's country).
    pub country: Option<&'a str>,
    pub count: usize,
    pub current_product: Option<&'a str>,
    pub cart: &'a [String],
    pub category_prefix: Option<&'a str>,
    pub include_purchased: bool,
    /// Affinities from the customer's profile, when the profile could be read.
    pub preferences: Option<&'a Preferences>,
    /// The customer's segment ids from the profile (built-in first), when it could be read.
    pub segments: &'a [String],
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServedItem {
    pub sku: String,
    pub score: f32,
    pub reason: Reason,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Served {
    pub items: Vec<ServedItem>,
    /// No history, no context and no profile affinities: popularity produced the list.
    pub fallback: bool,
}

/// What produced one scored vector (for reasons).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Source {
    Model(Component),
    Context,
    /// Popularity in the first of the customer's segments the model has counts for.
    Segment,
    Fill,
}

impl ServingModel {
    pub fn new(model: Arc<TrainedModel>) -> Self {
        let index = |ids: &[String]| {
            ids.iter()
                .enumerate()
                .map(|(i, s)| (s.clone(), i as u32))
                .collect::<HashMap<_, _>>()
        };
        Self {
            item_index: index(&model.items),
            user_index: index(&model.users),
            model,
        }
    }

    pub fn item(&self, sku: &str) -> Option<u32> {
        self.item_index.get(sku).copied()
    }

    /// The customer's country at training time.
    pub fn customer_country(&self, customer: &str) -> Option<&str> {
        let u = *self.user_index.get(customer)?;
        self.model.user_country[u as usize].as_deref()
    }

    fn history(&self, customer: Option<&str>) -> (Option<u32>, &[u32], &[f32]) {
        match customer.and_then(|c| self.user_index.get(c).copied()) {
            Some(u) => {
                let (items, values) = self.model.history.row(u as usize);
                (Some(u), items, values)
            }
            None => (None, &[], &[]),
        }
    }

    fn add_neighbours(lists: &[Vec<(u32, f32)>], seeds: &[u32], values: &[f32], out: &mut [f32]) {
        for (&i, &x) in seeds.iter().zip(values) {
            for &(j, s) in &lists[i as usize] {
                out[j as usize] += x * s;
            }
        }
    }

    /// The first of `segments` with popularity counts in the model, and those counts.
    fn segment_counts<'q>(&self, segments: &'q [String]) -> Option<(&'q str, &[f32])> {
        segments.iter().find_map(|s| {
            self.model
                .popularity
                .by_segment
                .get(s)
                .map(|counts| (s.as_str(), counts.as_slice()))
        })
    }

    /// Group counts with global popularity scaled below 1 added as the tie-break.
    fn add_group_popularity(&self, counts: &[f32], out: &mut [f32]) {
        let global = &self.model.popularity.global;
        let max = global.iter().copied().fold(0.0, f32::max);
        let tie = 1.0 / (max + 1.0);
        for ((o, &c), &g) in out.iter_mut().zip(counts).zip(global) {
            *o += c + g * tie;
        }
    }

    fn popularity_counts(&self, country: Option<&str>) -> Option<&[f32]> {
        country.and_then(|c| self.model.popularity.by_country.get(c).map(Vec::as_slice))
    }

    fn score_component(
        &self,
        c: Component,
        (user, items, values): (Option<u32>, &[u32], &[f32]),
        q: &Query<'_>,
        view: &CatalogView,
        out: &mut [f32],
    ) {
        let m = &self.model;
        match c {
            Component::ItemCf => Self::add_neighbours(&m.neighbours, items, values, out),
            Component::Ease => {
                if let Some(e) = &m.ease {
                    Self::add_neighbours(e, items, values, out);
                }
            }
            Component::Als => {
                // New customers are not folded in at request time (a Gram solve per call);
                // their context and popularity carry the list.
                if let (Some(f), Some(u)) = (&m.als, user) {
                    let k = f.config.factors;
                    let uv = &f.users[u as usize * k..(u as usize + 1) * k];
                    for (o, iv) in out.iter_mut().zip(f.items.chunks_exact(k)) {
                        *o += uv.iter().zip(iv).map(|(a, b)| a * b).sum::<f32>();
                    }
                }
            }
            Component::PopularityCountry => match self.popularity_counts(q.country) {
                Some(counts) => self.add_group_popularity(counts, out),
                None => out
                    .iter_mut()
                    .zip(&m.popularity.global)
                    .for_each(|(o, &g)| *o += g),
            },
            Component::PopularityRecent => out
                .iter_mut()
                .zip(&m.popularity.recent)
                .for_each(|(o, &r)| *o += r),
            Component::Content => {
                if let Some(p) = q.preferences {
                    view.content.score_with(p, out);
                }
            }
        }
    }

    /// Recommends for `q` under the catalogue `view`.
    pub fn recommend(&self, view: &CatalogView, q: &Query<'_>) -> Served {
        let n = self.model.n_items();
        let (user, items, values) = self.history(q.customer);
        let mut context: Vec<u32> = q
            .current_product
            .into_iter()
            .chain(q.cart.iter().map(String::as_str))
            .filter_map(|s| self.item(s))
            .collect();
        context.sort_unstable();
        context.dedup();
        let has_prefs = q
            .preferences
            .is_some_and(|p| !p.categories.is_empty() || !p.brands.is_empty());
        let purchased: &[u32] = if q.include_purchased { &[] } else { items };
        let mask = view.request_mask(q, &context, purchased);

        let mut sources: Vec<(Source, f32)> = self
            .model
            .weights
            .iter()
            .filter(|(c, w)| *w > 0.0 && (*c != Component::Content || has_prefs))
            .map(|&(c, w)| (Source::Model(c), w))
            .collect();
        if has_prefs
            && !sources
                .iter()
                .any(|s| s.0 == Source::Model(Component::Content))
        {
            sources.push((Source::Model(Component::Content), DEFAULT_CONTENT_WEIGHT));
        }
        if !context.is_empty() {
            sources.push((Source::Context, CONTEXT_WEIGHT));
        }
        // Nothing personal to go on: what sells in the customer's country, and among the
        // customers of the customer's segment when the profile names one the model knows
        // (a customer new since training whom profiling has already scored).
        let country_source = Source::Model(Component::PopularityCountry);
        if items.is_empty() && context.is_empty() && !sources.iter().any(|s| s.0 == country_source)
        {
            sources.push((country_source, 1.0));
        }
        if items.is_empty() && context.is_empty() && self.segment_counts(q.segments).is_some() {
            sources.push((Source::Segment, 1.0));
        }
        sources.push((Source::Fill, FILL_WEIGHT));

        let ones = vec![1f32; context.len()];
        let mut total = vec![0f32; n];
        let mut parts: Vec<Vec<f32>> = Vec::with_capacity(sources.len());
        for &(source, w) in &sources {
            let mut s = vec![0f32; n];
            match source {
                Source::Model(c) => self.score_component(c, (user, items, values), q, view, &mut s),
                Source::Context => {
                    Self::add_neighbours(&self.model.neighbours, &context, &ones, &mut s)
                }
                Source::Segment => {
                    if let Some((_, counts)) = self.segment_counts(q.segments) {
                        self.add_group_popularity(counts, &mut s);
                    }
                }
                Source::Fill => s.copy_from_slice(&self.model.popularity.global),
            }
            let max = s
                .iter()
                .zip(&mask)
                .filter(|(_, ok)| **ok)
                .map(|(v, _)| *v)
                .fold(0f32, f32::max);
            if max > 0.0 {
                for (t, v) in total.iter_mut().zip(s.iter_mut()) {
                    *v /= max;
                    *t += w * *v;
                }
            } else {
                s.fill(0.0);
            }
            parts.push(s);
        }
        let top = top_k(&total, q.count, |i| mask[i as usize]);
        let best: Vec<(u32, Source)> = top
            .into_iter()
            .map(|i| {
                let source = sources
                    .iter()
                    .zip(&parts)
                    .map(|(&(src, w), s)| (src, w * s[i as usize]))
                    .max_by(|a, b| a.1.total_cmp(&b.1))
                    .map_or(Source::Fill, |b| b.0);
                (i, source)
            })
            .collect();
        let seeds = self.reason_seeds(&best, items, values, &context);
        let served = best
            .iter()
            .zip(seeds)
            .map(|(&(i, source), seed)| ServedItem {
                sku: self.model.items[i as usize].clone(),
                score: total[i as usize],
                reason: self.explain(view, q, source, i, items, seed),
            })
            .collect();
        Served {
            items: served,
            fallback: items.is_empty() && context.is_empty() && !has_prefs,
        }
    }

    /// For each target item, the seed (history or context item) contributing most to it
    /// through `lists` (on ties the later seed), in one pass over the seeds' lists.
    fn strongest_seeds(
        lists: &[Vec<(u32, f32)>],
        seeds: &[u32],
        values: &[f32],
        targets: &[u32],
    ) -> Vec<Option<u32>> {
        let mut by_item: Vec<(u32, usize)> =
            targets.iter().enumerate().map(|(k, &t)| (t, k)).collect();
        by_item.sort_unstable();
        let mut best: Vec<Option<(u32, f32)>> = vec![None; targets.len()];
        for (&s, &x) in seeds.iter().zip(values) {
            for &(j, w) in &lists[s as usize] {
                let Ok(pos) = by_item.binary_search_by_key(&j, |&(t, _)| t) else {
                    continue;
                };
                let c = x * w;
                let slot = &mut best[by_item[pos].1];
                if c > 0.0 && slot.is_none_or(|(_, b)| c >= b) {
                    *slot = Some((s, c));
                }
            }
        }
        best.into_iter().map(|b| b.map(|(s, _)| s)).collect()
    }

    /// The seed behind each item's reason, for the sources whose reason names one.
    fn reason_seeds(
        &self,
        best: &[(u32, Source)],
        items: &[u32],
        values: &[f32],
        context: &[u32],
    ) -> Vec<Option<u32>> {
        let m = &self.model;
        let ones = vec![1f32; context.len()];
        let mut out = vec![None; best.len()];
        let mut fill = |source: Source, lists: &[Neighbours], seeds: &[u32], weights: &[f32]| {
            let at: Vec<usize> = (0..best.len()).filter(|&k| best[k].1 == source).collect();
            if at.is_empty() {
                return;
            }
            let targets: Vec<u32> = at.iter().map(|&k| best[k].0).collect();
            for (k, seed) in at
                .into_iter()
                .zip(Self::strongest_seeds(lists, seeds, weights, &targets))
            {
                out[k] = seed;
            }
        };
        fill(Source::Context, &m.neighbours, context, &ones);
        fill(
            Source::Model(Component::ItemCf),
            &m.neighbours,
            items,
            values,
        );
        let ease = m.ease.as_deref().unwrap_or(&m.neighbours);
        fill(Source::Model(Component::Ease), ease, items, values);
        out
    }

    fn product_reason(&self, view: &CatalogView, kind: ReasonKind, related: u32) -> Reason {
        let title = &view.titles[related as usize];
        let sku = self.model.items[related as usize].clone();
        let mut reason = match kind {
            ReasonKind::Complement => Reason::complements(title),
            ReasonKind::Replenishment => Reason::replenishment(title),
            _ => Reason::bought_together(title),
        };
        reason.related = Some(sku);
        reason
    }

    /// The reason of `item`, produced mostly by `source`; `seed` is the history or context
    /// item behind it for the neighbour-based sources ([`Self::reason_seeds`]).
    fn explain(
        &self,
        view: &CatalogView,
        q: &Query<'_>,
        source: Source,
        item: u32,
        items: &[u32],
        seed: Option<u32>,
    ) -> Reason {
        if items.binary_search(&item).is_ok() {
            return self.product_reason(view, ReasonKind::Replenishment, item);
        }
        match source {
            Source::Context => match seed {
                Some(s) => self.product_reason(view, ReasonKind::Complement, s),
                None => Reason::popular_overall(),
            },
            Source::Model(Component::ItemCf | Component::Ease) => match seed {
                Some(s) => self.product_reason(view, ReasonKind::BoughtTogether, s),
                None => Reason::similar_customers(None),
            },
            Source::Model(Component::Als) => Reason::similar_customers(None),
            Source::Model(Component::PopularityCountry) => {
                match (q.country, self.popularity_counts(q.country)) {
                    (Some(c), Some(counts)) if counts[item as usize] > 0.0 => {
                        let mut r = Reason::popular_in_country(
                            caravan_core::iso::country_name(c).unwrap_or(c),
                        );
                        r.related = Some(c.to_owned());
                        r
                    }
                    _ => Reason::popular_overall(),
                }
            }
            Source::Model(Component::PopularityRecent) => Reason::trending(),
            Source::Model(Component::Content) => match q.preferences {
                Some(p) => view.content.explain_with(p, item),
                None => Reason::popular_overall(),
            },
            Source::Segment => match self.segment_counts(q.segments) {
                Some((segment, counts)) if counts[item as usize] > 0.0 => {
                    Reason::popular_in_segment(segment)
                }
                _ => Reason::popular_overall(),
            },
            Source::Fill => Reason::popular_overall(),
        }
    }

    /// Items similar to `sku` (its item-to-item neighbours) that pass the rules for
    /// `country`; `None` when the model does not know the product.
    pub fn similar(
        &self,
        view: &CatalogView,
        sku: &str,
        count: usize,
        country: Option<&str>,
    ) -> Option<Vec<ServedItem>> {
        let i = self.item(sku)?;
        Some(
            self.model.neighbours[i as usize]
                .iter()
                .filter(|&&(j, _)| j != i && view.rules.allows(j, country, &[]))
                .take(count)
                .map(|&(j, s)| ServedItem {
                    sku: self.model.items[j as usize].clone(),
                    score: s,
                    reason: self.product_reason(view, ReasonKind::BoughtTogether, i),
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::interactions::{Interaction, InteractionKind};
    use crate::engine::model::ModelKind;
    use crate::engine::training::{TrainSpec, TrainingData, train};

    /// Group A = {a1, a2, a3} bought together by u1..u4; group B = {b1, b2} by v1..v3.
    /// u9 bought only a1. Everything ships everywhere and is in stock unless a test says so.
    fn model(kind: ModelKind) -> ServingModel {
        let mut its = Vec::new();
        let mut buy = |c: &str, i: &str| {
            its.push(Interaction {
                customer: c.into(),
                item: i.into(),
                kind: InteractionKind::Purchase,
                weight: 1.0,
                time: 100,
            })
        };
        for u in ["u1", "u2", "u3", "u4"] {
            for i in ["a1", "a2", "a3"] {
                buy(u, i);
            }
        }
        for v in ["v1", "v2", "v3"] {
            for i in ["b1", "b2"] {
                buy(v, i);
            }
        }
        buy("u9", "a1");
        let countries = HashMap::from([
            ("u9".to_string(), "DE".to_string()),
            ("v1".to_string(), "FR".to_string()),
        ]);
        let attributes = HashMap::new();
        let segments: HashMap<String, String> = ["u1", "u2", "u3", "u4"]
            .iter()
            .map(|u| (u.to_string(), "champions".to_string()))
            .chain(
                ["v1", "v2", "v3"]
                    .iter()
                    .map(|v| (v.to_string(), "lost".to_string())),
            )
            .collect();
        let data = TrainingData {
            interactions: &its,
            countries: &countries,
            segments: &segments,
            attributes: &attributes,
            now: 200,
        };
        let spec = TrainSpec {
            kind,
            ..TrainSpec::default()
        };
        ServingModel::new(Arc::new(train(&data, &spec, &|_| {})))
    }

    fn catalogue() -> Catalogue {
        ["a1", "a2", "a3", "b1", "b2"]
            .iter()
            .map(|s| {
                (
                    s.to_string(),
                    CatalogItem {
                        title: format!("Title {s}"),
                        category: if s.starts_with('a') {
                            "Home > Candles".into()
                        } else {
                            "Garden > Tools".into()
                        },
                        brand: None,
                        ships_to: None,
                        in_stock: true,
                        replenishable: false,
                        active: true,
                    },
                )
            })
            .collect()
    }

    fn skus(s: &Served) -> Vec<&str> {
        s.items.iter().map(|i| i.sku.as_str()).collect()
    }

    fn query(customer: &str) -> Query<'_> {
        Query {
            customer: Some(customer),
            country: Some("DE"),
            count: 5,
            ..Query::default()
        }
    }

    #[test]
    fn co_purchases_rank_first_with_bought_together_reasons() {
        let m = model(ModelKind::ItemCf);
        let view = CatalogView::build(&m.model, &catalogue(), &Exclusions::new());
        let out = m.recommend(&view, &query("u9"));
        assert_eq!(&skus(&out)[..2], &["a2", "a3"], "{out:?}");
        assert!(
            !skus(&out).contains(&"a1"),
            "non-replenishable purchase not repeated"
        );
        assert_eq!(out.items[0].reason.kind, ReasonKind::BoughtTogether);
        assert_eq!(out.items[0].reason.text, "bought together with Title a1");
        assert_eq!(out.items[0].reason.related.as_deref(), Some("a1"));
        assert!(!out.fallback);
    }

    #[test]
    fn ships_to_and_stock_and_inactive_are_never_served() {
        let m = model(ModelKind::Ease);
        let mut cat = catalogue();
        cat.get_mut("a2").expect("a2").ships_to = Some(vec!["FR".into()]);
        cat.get_mut("a3").expect("a3").in_stock = false;
        cat.get_mut("b1").expect("b1").active = false;
        let view = CatalogView::build(&m.model, &cat, &Exclusions::new());
        let out = m.recommend(&view, &query("u9"));
        assert_eq!(skus(&out), vec!["b2"], "{out:?}");
        // In France a2 ships.
        let fr = Query {
            country: Some("FR"),
            ..query("u9")
        };
        assert!(skus(&m.recommend(&view, &fr)).contains(&"a2"));
    }

    #[test]
    fn country_category_exclusions_apply() {
        let m = model(ModelKind::Blend);
        let excl = Exclusions::from([("DE".to_string(), vec!["Home".to_string()])]);
        let view = CatalogView::build(&m.model, &catalogue(), &excl);
        let out = m.recommend(&view, &query("u9"));
        assert!(skus(&out).iter().all(|s| s.starts_with('b')), "{out:?}");
        let fr = Query {
            country: Some("FR"),
            ..query("u9")
        };
        assert!(skus(&m.recommend(&view, &fr)).contains(&"a2"));
    }

    #[test]
    fn replenishable_purchases_may_repeat_and_include_purchased_lifts_the_rule() {
        let m = model(ModelKind::ItemCf);
        let mut cat = catalogue();
        let view = CatalogView::build(&m.model, &cat, &Exclusions::new());
        let all = Query {
            include_purchased: true,
            ..query("u9")
        };
        assert!(skus(&m.recommend(&view, &all)).contains(&"a1"));
        cat.get_mut("a1").expect("a1").replenishable = true;
        let view = CatalogView::build(&m.model, &cat, &Exclusions::new());
        let out = m.recommend(&view, &query("u9"));
        let a1 = out.items.iter().find(|i| i.sku == "a1").expect("a1 again");
        assert_eq!(a1.reason.kind, ReasonKind::Replenishment);
    }

    #[test]
    fn unknown_customer_falls_back_to_popularity_in_country() {
        let m = model(ModelKind::ItemCf);
        let view = CatalogView::build(&m.model, &catalogue(), &Exclusions::new());
        let out = m.recommend(&view, &query("stranger"));
        assert!(out.fallback);
        assert_eq!(out.items.len(), 5);
        assert_eq!(skus(&out)[0], "a1", "a1 has the most buyers");
        // u9 (DE) bought a1: popular in Germany; the rest are popular overall.
        assert_eq!(out.items[0].reason.text, "popular in Germany this month");
        assert_eq!(out.items[0].reason.related.as_deref(), Some("DE"));
        assert!(
            out.items[1..]
                .iter()
                .all(|i| i.reason.kind == ReasonKind::PopularOverall)
        );
    }

    #[test]
    fn context_and_category_and_cart_shape_the_list() {
        let m = model(ModelKind::Popularity);
        let view = CatalogView::build(&m.model, &catalogue(), &Exclusions::new());
        let cart = vec!["b1".to_string()];
        let q = Query {
            cart: &cart,
            ..query("stranger")
        };
        let out = m.recommend(&view, &q);
        assert_eq!(skus(&out)[0], "b2", "{out:?}");
        assert!(
            !skus(&out).contains(&"b1"),
            "cart items are not recommended"
        );
        assert_eq!(out.items[0].reason.kind, ReasonKind::Complement);
        assert_eq!(out.items[0].reason.related.as_deref(), Some("b1"));
        let q = Query {
            category_prefix: Some("Garden"),
            ..query("u9")
        };
        assert!(
            skus(&m.recommend(&view, &q))
                .iter()
                .all(|s| s.starts_with('b'))
        );
    }

    #[test]
    fn content_affinity_from_the_profile_and_its_reason() {
        let m = model(ModelKind::Content);
        let mut cat = catalogue();
        cat.get_mut("b2").expect("b2").brand = Some("Acme".into());
        let view = CatalogView::build(&m.model, &cat, &Exclusions::new());
        let prefs = Preferences {
            brands: HashMap::from([("Acme".to_string(), 1.0)]),
            ..Preferences::default()
        };
        let q = Query {
            preferences: Some(&prefs),
            ..query("stranger")
        };
        let out = m.recommend(&view, &q);
        assert_eq!(out.items[0].sku, "b2", "{out:?}");
        assert_eq!(out.items[0].reason.text, "matches your interest in Acme");
        assert_eq!(out.items[0].reason.kind, ReasonKind::MatchesInterest);
        assert!(!out.fallback);
    }

    #[test]
    fn similar_items_follow_rules() {
        let m = model(ModelKind::ItemCf);
        let mut cat = catalogue();
        let view = CatalogView::build(&m.model, &cat, &Exclusions::new());
        let sim = m.similar(&view, "a1", 5, Some("DE")).expect("known");
        let s: Vec<&str> = sim.iter().map(|i| i.sku.as_str()).collect();
        assert_eq!(s.len(), 2);
        assert!(s.contains(&"a2") && s.contains(&"a3"));
        cat.get_mut("a2").expect("a2").in_stock = false;
        let view = CatalogView::build(&m.model, &cat, &Exclusions::new());
        let sim = m.similar(&view, "a1", 5, Some("DE")).expect("known");
        assert_eq!(sim.len(), 1);
        assert!(m.similar(&view, "zzz", 5, None).is_none());
    }

    #[test]
    fn the_request_mask_is_the_rules_item_by_item() {
        let m = model(ModelKind::ItemCf);
        let mut cat = catalogue();
        cat.get_mut("a2").expect("a2").ships_to = Some(vec!["FR".into()]);
        cat.get_mut("b1").expect("b1").in_stock = false;
        cat.get_mut("a3").expect("a3").replenishable = true;
        let exclusions = Exclusions::from([("DE".to_string(), vec!["Garden".to_string()])]);
        let view = CatalogView::build(&m.model, &cat, &exclusions);
        let a1 = m.item("a1").expect("a1");
        let a3 = m.item("a3").expect("a3");
        let b2 = m.item("b2").expect("b2");
        let mut purchased = vec![a1, a3];
        purchased.sort_unstable();
        for country in [None, Some("DE"), Some("FR")] {
            for prefix in [None, Some("Home")] {
                let q = Query {
                    country,
                    category_prefix: prefix,
                    ..Query::default()
                };
                let context = [b2];
                let mask = view.request_mask(&q, &context, &purchased);
                for i in 0..m.model.n_items() as u32 {
                    let expected = i != b2
                        && prefix.is_none_or(|p| {
                            view.rules.facts[i as usize]
                                .category
                                .as_deref()
                                .is_some_and(|c| category_matches(p, c))
                        })
                        && view.rules.allows(i, country, &purchased);
                    assert_eq!(
                        mask[i as usize], expected,
                        "item {i} in {country:?}, {prefix:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn strongest_seeds_pick_the_largest_contribution_later_seed_on_ties() {
        let lists = vec![
            vec![(2, 0.5), (3, 0.1)],
            vec![(2, 0.25), (3, 0.4)],
            vec![(3, 0.2)],
        ];
        // Seed 0 gives item 2: 0.5, item 3: 0.1; seed 1 (weight 2): item 2 0.5, item 3 0.8.
        let seeds = [0, 1];
        let values = [1.0, 2.0];
        assert_eq!(
            ServingModel::strongest_seeds(&lists, &seeds, &values, &[3, 2, 4]),
            vec![Some(1), Some(1), None]
        );
    }

    #[test]
    fn a_customer_new_to_the_model_gets_what_their_segment_buys() {
        let m = model(ModelKind::Ease);
        let view = CatalogView::build(&m.model, &catalogue(), &Exclusions::new());
        let lost = ["lost".to_string()];
        let q = Query {
            customer: Some("newcomer"),
            count: 5,
            segments: &lost,
            ..Query::default()
        };
        let out = m.recommend(&view, &q);
        // Overall the A group sells more; among "lost" customers only the B group sells.
        assert_eq!(&skus(&out)[..2], &["b1", "b2"], "{out:?}");
        assert_eq!(out.items[0].reason.kind, ReasonKind::PopularInSegment);
        assert_eq!(out.items[0].reason.text, "popular with lost customers");
        assert!(out.fallback);
        // A segment the model has no counts for changes nothing.
        let unknown = ["vip".to_string()];
        let plain = m.recommend(
            &view,
            &Query {
                segments: &unknown,
                ..q.clone()
            },
        );
        assert_eq!(skus(&plain)[0], "a1", "{plain:?}");
        assert!(
            plain
                .items
                .iter()
                .all(|i| i.reason.kind != ReasonKind::PopularInSegment)
        );
    }
}
