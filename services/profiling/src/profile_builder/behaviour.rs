//! Website behaviour: sessions, views, searches, carts, traffic and device mix.

use std::collections::{BTreeMap, HashMap, HashSet};

use caravan_platform::proto_time::to_timestamp;
use caravan_proto::caravan::ingestion::v1::event::Payload;
use caravan_proto::caravan::profiling::v1 as pb;
use chrono::{DateTime, Duration, Utc};

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

/// Start times of carts: the first cart addition per session (or per addition when the
/// event has no session).
pub(crate) fn cart_starts(events: &[StoredEvent]) -> Vec<DateTime<Utc>> {
    let mut by_session: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
    let mut loose = Vec::new();
    for e in events {
        if let Payload::CartAdd(_) = e.payload {
            match &e.session_id {
                Some(s) => {
                    by_session.entry(s.clone()).or_insert(e.occur_time);
                }
                None => loose.push(e.occur_time),
            }
        }
    }
    loose.extend(by_session.into_values());
    loose.sort();
    loose
}

/// Times at which an order was placed (any status: the first event of an order id).
pub(crate) fn order_times(events: &[StoredEvent]) -> Vec<DateTime<Utc>> {
    let mut seen = HashSet::new();
    let mut times: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.payload {
            Payload::Order(o) if seen.insert(o.order_id.clone()) => Some(e.occur_time),
            _ => None,
        })
        .collect();
    times.sort();
    times
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

fn mix<K: Copy + Eq + std::hash::Hash + Ord>(values: &[K]) -> Vec<(K, f64)> {
    let mut counts: HashMap<K, i64> = HashMap::new();
    for v in values {
        *counts.entry(*v).or_default() += 1;
    }
    #[allow(clippy::cast_precision_loss)]
    let total = values.len() as f64;
    top_counts(&counts, usize::MAX)
        .into_iter()
        .map(|(k, c)| {
            #[allow(clippy::cast_precision_loss)]
            let s = c as f64 / total;
            (k, s)
        })
        .collect()
}

pub fn build(data: &CustomerData, _ctx: &BuildContext) -> pb::WebsiteBehaviourDimension {
    let mut d = pb::WebsiteBehaviourDimension::default();
    let mut sources = Vec::new();
    let mut devices = Vec::new();
    let mut queries: HashMap<String, i64> = HashMap::new();
    let mut dwell = Vec::new();
    let mut sessions_seen: HashSet<&str> = HashSet::new();
    let mut session_starts = 0;
    let mut activity = 0usize;
    for e in &data.events {
        if !is_site_activity(&e.payload) {
            continue;
        }
        activity += 1;
        if let Some(s) = &e.session_id {
            sessions_seen.insert(s);
        }
        d.last_activity_time = Some(to_timestamp(e.occur_time));
        match &e.payload {
            Payload::SessionStart(s) => {
                session_starts += 1;
                if s.traffic_source != 0 {
                    sources.push(s.traffic_source);
                }
                if s.device_type != 0 {
                    devices.push(s.device_type);
                }
            }
            Payload::PageView(_) => d.page_view_count += 1,
            Payload::ProductView(v) => {
                d.product_view_count += 1;
                if v.dwell_seconds > 0 {
                    dwell.push(f64::from(v.dwell_seconds));
                }
            }
            Payload::Search(s) => {
                d.search_count += 1;
                if s.results_count == 0 {
                    d.zero_result_search_count += 1;
                }
                let q = s.query.trim().to_lowercase();
                if !q.is_empty() {
                    *queries.entry(q).or_default() += 1;
                }
            }
            Payload::CartAdd(_) => d.cart_add_count += 1,
            _ => {}
        }
    }
    // Sessions: explicit starts, or at least the distinct session ids seen.
    d.session_count = i64::try_from(session_starts.max(sessions_seen.len())).unwrap_or(i64::MAX);
    d.top_search_queries = top_counts(&queries, 10)
        .into_iter()
        .map(|(term, count)| pb::TermCount { term, count })
        .collect();
    d.cart_abandonment_rate = abandonment(&cart_starts(&data.events), &order_times(&data.events));
    d.traffic_source_mix = mix(&sources)
        .into_iter()
        .map(|(traffic_source, share)| pb::TrafficSourceShare {
            traffic_source,
            share,
        })
        .collect();
    d.device_mix = mix(&devices)
        .into_iter()
        .map(|(device_type, share)| pb::DeviceShare { device_type, share })
        .collect();
    if !dwell.is_empty() {
        #[allow(clippy::cast_precision_loss)]
        let n = dwell.len() as f64;
        d.average_product_dwell_seconds = dwell.iter().sum::<f64>() / n;
    }
    #[allow(clippy::cast_precision_loss)]
    let evidence = activity as f64;
    d.completeness = saturation(evidence, 10.0);
    d
}
