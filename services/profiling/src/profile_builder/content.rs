//! Content preference: category, brand and topic affinities with time decay, content-type
//! mix, current favourites and follows.

use std::collections::{BTreeSet, HashMap};

use caravan_proto::caravan::ingestion::v1::FollowTargetKind;
use caravan_proto::caravan::ingestion::v1::event::Payload;
use caravan_proto::caravan::profiling::v1 as pb;
use chrono::{DateTime, Utc};

use serde::{Deserialize, Serialize};

use super::{BuildContext, CustomerData, ProductInfo, StoredEvent, days_between, saturation};

/// Evidence loses half its weight every this many days.
pub const AFFINITY_HALF_LIFE_DAYS: f64 = 90.0;
const MAX_AFFINITIES: usize = 20;

/// How strongly each kind of evidence signals interest (a purchase says more than a view).
pub mod weights {
    pub const VIEW: f64 = 1.0;
    pub const CONTENT: f64 = 1.0;
    pub const SEARCH: f64 = 0.5;
    pub const CART: f64 = 3.0;
    pub const FAVOURITE: f64 = 4.0;
    pub const FOLLOW: f64 = 4.0;
    pub const INQUIRY: f64 = 3.0;
    pub const PURCHASE: f64 = 5.0;
}

/// Decayed evidence per key. A weight is stored as `w * 2^((t - reference) / half-life)`,
/// with the tally's first event as the reference, so that evidence can be added one event at
/// a time and decayed to any `as_of` later by one factor (`2^((reference - as_of) /
/// half-life)`), instead of keeping every event to decay it at build time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Scores {
    score: HashMap<String, (f64, i64)>,
}

impl Scores {
    fn add(&mut self, key: &str, weight: f64) {
        let key = key.trim();
        if key.is_empty() {
            return;
        }
        let e = self.score.entry(key.to_owned()).or_default();
        e.0 += weight;
        e.1 += 1;
    }

    /// Strongest first, normalised so the strongest is 1; stored weights are scaled by
    /// `factor` (to `as_of`) and `extra` (purchases, already decayed) added.
    fn affinities(&self, factor: f64, extra: &Scores) -> Vec<pb::Affinity> {
        let mut merged: HashMap<&str, (f64, i64)> = self
            .score
            .iter()
            .map(|(k, (s, n))| (k.as_str(), (s * factor, *n)))
            .collect();
        for (k, (s, n)) in &extra.score {
            let e = merged.entry(k.as_str()).or_default();
            e.0 += s;
            e.1 += n;
        }
        let max = merged.values().map(|v| v.0).fold(0.0, f64::max);
        let mut v: Vec<pb::Affinity> = merged
            .into_iter()
            .map(|(key, (s, n))| pb::Affinity {
                key: key.to_owned(),
                score: if max > 0.0 { s / max } else { 0.0 },
                evidence_count: n,
            })
            .collect();
        v.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| b.evidence_count.cmp(&a.evidence_count))
                .then_with(|| a.key.cmp(&b.key))
        });
        v.truncate(MAX_AFFINITIES);
        v
    }
}

fn decay(at: DateTime<Utc>, as_of: DateTime<Utc>) -> f64 {
    let age = days_between(at, as_of).max(0.0);
    0.5f64.powf(age / AFFINITY_HALF_LIFE_DAYS)
}

/// `2^((to - from) / half-life)`: moves a stored weight from `from` to `to`.
fn growth(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (days_between(from, to) / AFFINITY_HALF_LIFE_DAYS).exp2()
}

/// What content preference keeps of a customer's events, one event at a time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContentTally {
    /// The time stored weights are relative to (the first event applied).
    reference: Option<DateTime<Utc>>,
    categories: Scores,
    brands: Scores,
    topics: Scores,
    content_types: HashMap<i32, i64>,
    favourites: BTreeSet<String>,
    follows: BTreeSet<(i32, String)>,
    evidence: u64,
}

impl ContentTally {
    /// Adds `e`; `products` gives the category and brand of the products it names.
    pub(crate) fn apply(&mut self, e: &StoredEvent, products: &HashMap<String, ProductInfo>) {
        let reference = *self.reference.get_or_insert(e.occur_time);
        let d = growth(reference, e.occur_time);
        let Self {
            categories,
            brands,
            topics,
            favourites,
            follows,
            content_types,
            ..
        } = self;
        let product = |name: &str, w: f64, c: &mut Scores, b: &mut Scores| {
            if let Some(p) = products.get(name) {
                c.add(&p.category_path, w);
                if let Some(brand) = &p.brand {
                    b.add(brand, w);
                }
            }
        };
        match &e.payload {
            Payload::ProductView(v) => product(&v.product, weights::VIEW * d, categories, brands),
            Payload::CartAdd(c) => product(&c.product, weights::CART * d, categories, brands),
            Payload::Search(s) => categories.add(&s.category_path, weights::SEARCH * d),
            Payload::Favourite(f) => {
                if f.removed {
                    favourites.remove(&f.product);
                } else {
                    product(&f.product, weights::FAVOURITE * d, categories, brands);
                    favourites.insert(f.product.clone());
                }
            }
            Payload::Follow(f) => {
                let key = (f.target_kind, f.target.clone());
                if f.removed {
                    follows.remove(&key);
                    return;
                }
                follows.insert(key);
                match FollowTargetKind::try_from(f.target_kind) {
                    Ok(FollowTargetKind::Brand) => brands.add(&f.target, weights::FOLLOW * d),
                    Ok(FollowTargetKind::Category) => {
                        categories.add(&f.target, weights::FOLLOW * d);
                    }
                    _ => {}
                }
            }
            Payload::ContentView(c) => {
                categories.add(&c.category_path, weights::CONTENT * d);
                brands.add(&c.brand, weights::CONTENT * d);
                topics.add(&c.topic, weights::CONTENT * d);
                if c.content_type != 0 {
                    *content_types.entry(c.content_type).or_insert(0) += 1;
                }
            }
            Payload::Inquiry(i) => {
                categories.add(&i.category_path, weights::INQUIRY * d);
                product(&i.product, weights::INQUIRY * d, categories, brands);
            }
            Payload::Rfq(r) => {
                categories.add(&r.category_path, weights::INQUIRY * d);
                product(&r.product, weights::INQUIRY * d, categories, brands);
            }
            _ => return,
        }
        self.evidence += 1;
    }
}

pub fn build(data: &CustomerData, ctx: &BuildContext) -> pb::ContentPreferenceDimension {
    let t = &data.events.content;
    // Purchases, decayed to `as_of` directly.
    let mut bought_categories = Scores::default();
    let mut bought_brands = Scores::default();
    let mut evidence = t.evidence;
    for o in &data.orders {
        if o.order.status == "CANCELLED" {
            continue;
        }
        let d = decay(o.order.placed_at.get(), ctx.as_of);
        for p in &o.products {
            if let Some(info) = data.products.get(p) {
                bought_categories.add(&info.category_path, weights::PURCHASE * d);
                if let Some(brand) = &info.brand {
                    bought_brands.add(brand, weights::PURCHASE * d);
                }
            }
        }
        evidence += 1;
    }
    let factor = t.reference.map_or(1.0, |r| growth(ctx.as_of, r));
    let total_content: i64 = t.content_types.values().sum();
    let mut content_type_mix: Vec<pb::ContentTypeShare> = t
        .content_types
        .iter()
        .map(|(content_type, n)| {
            #[allow(clippy::cast_precision_loss)]
            let share = *n as f64 / total_content as f64;
            pb::ContentTypeShare {
                content_type: *content_type,
                share,
            }
        })
        .collect();
    content_type_mix.sort_by(|a, b| {
        b.share
            .total_cmp(&a.share)
            .then(a.content_type.cmp(&b.content_type))
    });
    #[allow(clippy::cast_precision_loss)]
    let completeness = saturation(evidence as f64, 10.0);
    pb::ContentPreferenceDimension {
        completeness,
        category_affinities: t.categories.affinities(factor, &bought_categories),
        brand_affinities: t.brands.affinities(factor, &bought_brands),
        topic_affinities: t.topics.affinities(factor, &Scores::default()),
        content_type_mix,
        favourite_count: i64::try_from(t.favourites.len()).unwrap_or(i64::MAX),
        follow_count: i64::try_from(t.follows.len()).unwrap_or(i64::MAX),
    }
}
