//! Content preference: category, brand and topic affinities with time decay, content-type
//! mix, current favourites and follows.

use std::collections::{BTreeSet, HashMap};

use caravan_proto::caravan::ingestion::v1::FollowTargetKind;
use caravan_proto::caravan::ingestion::v1::event::Payload;
use caravan_proto::caravan::profiling::v1 as pb;
use chrono::{DateTime, Utc};

use super::{BuildContext, CustomerData, days_between, saturation};

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

#[derive(Default)]
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

    /// Strongest first, normalised so the strongest is 1.
    fn into_affinities(self) -> Vec<pb::Affinity> {
        let max = self.score.values().map(|v| v.0).fold(0.0, f64::max);
        let mut v: Vec<pb::Affinity> = self
            .score
            .into_iter()
            .map(|(key, (s, n))| pb::Affinity {
                key,
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

pub fn build(data: &CustomerData, ctx: &BuildContext) -> pb::ContentPreferenceDimension {
    let mut categories = Scores::default();
    let mut brands = Scores::default();
    let mut topics = Scores::default();
    let mut content_types = HashMap::new();
    let mut favourites = BTreeSet::new();
    let mut follows = BTreeSet::new();
    let mut evidence = 0usize;
    let product = |name: &str, w: f64, c: &mut Scores, b: &mut Scores| {
        if let Some(p) = data.products.get(name) {
            c.add(&p.category_path, w);
            if let Some(brand) = &p.brand {
                b.add(brand, w);
            }
        }
    };
    for e in &data.events {
        let d = decay(e.occur_time, ctx.as_of);
        match &e.payload {
            Payload::ProductView(v) => {
                product(&v.product, weights::VIEW * d, &mut categories, &mut brands);
            }
            Payload::CartAdd(c) => {
                product(&c.product, weights::CART * d, &mut categories, &mut brands);
            }
            Payload::Search(s) => categories.add(&s.category_path, weights::SEARCH * d),
            Payload::Favourite(f) => {
                if f.removed {
                    favourites.remove(&f.product);
                } else {
                    favourites.insert(f.product.clone());
                    product(
                        &f.product,
                        weights::FAVOURITE * d,
                        &mut categories,
                        &mut brands,
                    );
                }
            }
            Payload::Follow(f) => {
                let key = (f.target_kind, f.target.clone());
                if f.removed {
                    follows.remove(&key);
                    continue;
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
                    *content_types.entry(c.content_type).or_insert(0i64) += 1;
                }
            }
            Payload::Inquiry(i) => {
                categories.add(&i.category_path, weights::INQUIRY * d);
                product(
                    &i.product,
                    weights::INQUIRY * d,
                    &mut categories,
                    &mut brands,
                );
            }
            Payload::Rfq(r) => {
                categories.add(&r.category_path, weights::INQUIRY * d);
                product(
                    &r.product,
                    weights::INQUIRY * d,
                    &mut categories,
                    &mut brands,
                );
            }
            _ => continue,
        }
        evidence += 1;
    }
    for o in &data.orders {
        if o.order.status == "CANCELLED" {
            continue;
        }
        let d = decay(o.order.placed_at.get(), ctx.as_of);
        for p in &o.products {
            product(p, weights::PURCHASE * d, &mut categories, &mut brands);
        }
        evidence += 1;
    }
    let total_content: i64 = content_types.values().sum();
    let mut content_type_mix: Vec<pb::ContentTypeShare> = content_types
        .into_iter()
        .map(|(content_type, n)| {
            #[allow(clippy::cast_precision_loss)]
            let share = n as f64 / total_content as f64;
            pb::ContentTypeShare {
                content_type,
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
        category_affinities: categories.into_affinities(),
        brand_affinities: brands.into_affinities(),
        topic_affinities: topics.into_affinities(),
        content_type_mix,
        favourite_count: i64::try_from(favourites.len()).unwrap_or(i64::MAX),
        follow_count: i64::try_from(follows.len()).unwrap_or(i64::MAX),
    }
}
