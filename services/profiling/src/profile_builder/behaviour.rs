//! Website behaviour: sessions, views, searches, carts, traffic and device mix.

use std::collections::{BTreeMap, HashMap, HashSet};

use caravan_platform::proto_time::to_timestamp;
use caravan_proto::caravan::ingestion::v1::event::Payload;
use caravan_proto::caravan::profiling::v1 as pb;
use chrono::{DateTime, Duration, Utc};

use serde::{Deserialize, Serialize};

use super::{BuildContext, CustomerData, StoredEvent, saturation, share, top_counts};

/// A cart counts as abandoned when no order follows its first addition within this window.
pub const CART_ORDER_WINDOW_HOURS: i64 = 24;

fn is_site_activity(p: &Payload) -> bool {
    matches!(
        p,
        Payload::SessionStart(_)
            | Payload::PageView(_)
            | Payload::Search(_)
            | Payload::ProductView(_)
            | Payload::CartAdd(_)
            | Payload::CartRemove(_)
            | Payload::CheckoutStep(_)
            | Payload::ContentView(_)
            | Payload::Favourite(_)
            | Payload::Follow(_)
    )
}

/// Carts started and orders placed, kept for abandonment (here and at the shipping step of
/// checkout, `transactions`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CartsAndOrders {
    /// The first cart addition per session.
    cart_by_session: BTreeMap<String, DateTime<Utc>>,
    /// Cart additions without a session: each starts a cart.
    loose_carts: Vec<DateTime<Utc>>,
    /// When each order id was first seen.
    order_first_seen: HashMap<String, DateTime<Utc>>,
}

impl CartsAndOrders {
    pub(crate) fn apply(&mut self, e: &StoredEvent) {
        match &e.payload {
            Payload::CartAdd(_) => match &e.session_id {
                Some(s) => {
                    self.cart_by_session
                        .entry(s.clone())
                        .or_insert(e.occur_time);
                }
                None => self.loose_carts.push(e.occur_time),
            },
            Payload::Order(o) => {
                self.order_first_seen
                    .entry(o.order_id.clone())
                    .or_insert(e.occur_time);
            }
            _ => {}
        }
    }

    /// Start times of carts: the first cart addition per session (or per addition when the
    /// event has no session), sorted.
    pub(crate) fn cart_starts(&self) -> Vec<DateTime<Utc>> {
        let mut starts = self.loose_carts.clone();
        starts.extend(self.cart_by_session.values().copied());
        starts.sort();
        starts
    }

    /// Times at which an order was placed (any status: the first event of an order id),
    /// sorted.
    pub(crate) fn order_times(&self) -> Vec<DateTime<Utc>> {
        let mut times: Vec<_> = self.order_first_seen.values().copied().collect();
        times.sort();
        times
    }
}

/// Share of carts not followed by an order within [`CART_ORDER_WINDOW_HOURS`].
pub(crate) fn abandonment(carts: &[DateTime<Utc>], orders: &[DateTime<Utc>]) -> f64 {
    let window = Duration::hours(CART_ORDER_WINDOW_HOURS);
    let abandoned = carts
        .iter()
        .filter(|start| {
            !orders
                .iter()
                .any(|t| *t >= **start && *t <= **start + window)
        })
        .count();
    share(abandoned, carts.len())
}

/// Shares of each value among all counted, largest first.
fn mix(counts: &HashMap<i32, i64>) -> Vec<(i32, f64)> {
    #[allow(clippy::cast_precision_loss)]
    let total = counts.values().sum::<i64>() as f64;
    top_counts(counts, usize::MAX)
        .into_iter()
        .map(|(k, c)| {
            #[allow(clippy::cast_precision_loss)]
            let s = c as f64 / total;
            (k, s)
        })
        .collect()
}

/// What website behaviour keeps of a customer's events, one event at a time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BehaviourTally {
    activity: u64,
    last_activity: Option<DateTime<Utc>>,
    page_views: i64,
    product_views: i64,
    searches: i64,
    zero_result_searches: i64,
    cart_adds: i64,
    dwell_seconds: f64,
    dwell_count: u64,
    queries: HashMap<String, i64>,
    session_starts: u64,
    sessions_seen: HashSet<String>,
    sources: HashMap<i32, i64>,
    devices: HashMap<i32, i64>,
}

impl BehaviourTally {
    pub(crate) fn apply(&mut self, e: &StoredEvent) {
        if !is_site_activity(&e.payload) {
            return;
        }
        self.activity += 1;
        if let Some(s) = &e.session_id
            && !self.sessions_seen.contains(s)
        {
            self.sessions_seen.insert(s.clone());
        }
        self.last_activity = Some(e.occur_time);
        match &e.payload {
            Payload::SessionStart(s) => {
                self.session_starts += 1;
                if s.traffic_source != 0 {
                    *self.sources.entry(s.traffic_source).or_default() += 1;
                }
                if s.device_type != 0 {
                    *self.devices.entry(s.device_type).or_default() += 1;
                }
            }
            Payload::PageView(_) => self.page_views += 1,
            Payload::ProductView(v) => {
                self.product_views += 1;
                if v.dwell_seconds > 0 {
                    self.dwell_seconds += f64::from(v.dwell_seconds);
                    self.dwell_count += 1;
                }
            }
            Payload::Search(s) => {
                self.searches += 1;
                if s.results_count == 0 {
                    self.zero_result_searches += 1;
                }
                let q = s.query.trim().to_lowercase();
                if !q.is_empty() {
                    *self.queries.entry(q).or_default() += 1;
                }
            }
            Payload::CartAdd(_) => self.cart_adds += 1,
            _ => {}
        }
    }
}

pub fn build(data: &CustomerData, _ctx: &BuildContext) -> pb::WebsiteBehaviourDimension {
    let t = &data.events.behaviour;
    let mut d = pb::WebsiteBehaviourDimension {
        page_view_count: t.page_views,
        product_view_count: t.product_views,
        search_count: t.searches,
        zero_result_search_count: t.zero_result_searches,
        cart_add_count: t.cart_adds,
        last_activity_time: t.last_activity.map(to_timestamp),
        ..Default::default()
    };
    // Sessions: explicit starts, or at least the distinct session ids seen.
    d.session_count =
        i64::try_from(t.session_starts.max(t.sessions_seen.len() as u64)).unwrap_or(i64::MAX);
    d.top_search_queries = top_counts(&t.queries, 10)
        .into_iter()
        .map(|(term, count)| pb::TermCount { term, count })
        .collect();
    let funnel = &data.events.funnel;
    d.cart_abandonment_rate = abandonment(&funnel.cart_starts(), &funnel.order_times());
    d.traffic_source_mix = mix(&t.sources)
        .into_iter()
        .map(|(traffic_source, share)| pb::TrafficSourceShare {
            traffic_source,
            share,
        })
        .collect();
    d.device_mix = mix(&t.devices)
        .into_iter()
        .map(|(device_type, share)| pb::DeviceShare { device_type, share })
        .collect();
    if t.dwell_count > 0 {
        #[allow(clippy::cast_precision_loss)]
        let n = t.dwell_count as f64;
        d.average_product_dwell_seconds = t.dwell_seconds / n;
    }
    #[allow(clippy::cast_precision_loss)]
    let evidence = t.activity as f64;
    d.completeness = saturation(evidence, 10.0);
    d
}
