//! What a portrait is built from: the customer's record and contacts, the summary of their
//! events, their orders, and the products and referrals those mention.
//!
//! A customer's event summary is brought up to date in one of two ways ([`Start`]): from
//! its stored summary and only the events of new outbox entries, or from all of the
//! customer's stored events (no summary yet, a merge moved events to the customer, or an
//! event arrived older than the latest one applied, which order-dependent facts cannot
//! take). The first reads a few events per customer; the second reads their whole history.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use caravan_proto::stored_event::decode_payload;
use caravan_store::entity::{customer_contacts, customers, events, order_lines, orders, products};
use caravan_store::pii;
use caravan_store::sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use chrono::{DateTime, Utc};

use crate::error::ProfilingError;
use crate::order_netting::{self, OrderLines, Reversal};
use crate::order_netting_store;
use crate::profile_builder::{CustomerData, EventSummary, OrderFacts, ProductInfo, StoredEvent};
use crate::summary_store::KeptSummary;

/// Rows per `IN (...)` lookup.
const CHUNK: usize = 500;

/// How a customer's event summary is brought up to date.
#[derive(Debug, Clone)]
pub enum Start {
    /// From all of the customer's stored events.
    Full,
    /// From the stored summary and the events of these outbox entries: `(seq, event id)`.
    Kept(Box<KeptSummary>, Vec<(i64, String)>),
}

/// Where the outbox stands for this load.
#[derive(Debug, Clone, Copy)]
pub struct Position {
    /// Every outbox entry up to this `seq` has been (or, with this load, is) applied.
    pub through: i64,
    /// How long an ingestion transaction may take to commit (`outbox_gap_grace_seconds`):
    /// an event ingested this long before a full load was visible to it.
    pub grace: Duration,
}

/// A live customer's portrait input, and the summary to store.
pub struct Refreshed {
    pub data: CustomerData,
    pub kept: KeptSummary,
}

/// The portrait input of each live customer among `plans` (merged and erased customers
/// are left out), with summaries brought up to date.
pub async fn load(
    db: &DatabaseConnection,
    merchant_id: &str,
    plans: Vec<(String, Start)>,
    position: Position,
) -> Result<Vec<Refreshed>, ProfilingError> {
    let (mut out, out_of_order) = load_once(db, merchant_id, plans, position).await?;
    if !out_of_order.is_empty() {
        let again = out_of_order
            .into_iter()
            .map(|id| (id, Start::Full))
            .collect();
        out.extend(load_once(db, merchant_id, again, position).await?.0);
    }
    Ok(out)
}

/// [`load`], and the customers whose new events came out of order (to load in full).
async fn load_once(
    db: &DatabaseConnection,
    merchant_id: &str,
    plans: Vec<(String, Start)>,
    position: Position,
) -> Result<(Vec<Refreshed>, Vec<String>), ProfilingError> {
    let ids: Vec<String> = plans.iter().map(|(id, _)| id.clone()).collect();
    let rows = live_customers(db, merchant_id, &ids).await?;
    let live: HashSet<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let plans: HashMap<String, Start> = plans
        .into_iter()
        .filter(|(id, _)| live.contains(id.as_str()))
        .collect();
    let live: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut contacts = load_contacts(db, merchant_id, &live).await?;
    let loaded_at = Utc::now();
    let event_rows = load_event_rows(db, merchant_id, &plans).await?;
    let recent = recent_event_ids(&event_rows, &plans, loaded_at - position.grace);
    let merchant = merchant_id.to_owned();
    let opened = crate::background_cpu::run(move || open_events(&merchant, event_rows)).await?;
    let mut orders = load_orders(db, merchant_id, &live).await?;
    // Shared by every customer of the chunk rather than copied into each.
    let products = Arc::new(load_products(db, merchant_id, &opened, &orders).await?);
    let referred = opened
        .values()
        .flatten()
        .filter_map(|e| match &e.payload {
            caravan_proto::caravan::ingestion::v1::event::Payload::SocialAction(s) => {
                Some(s.referred_customer.as_str())
            }
            _ => None,
        })
        .chain(plans.values().flat_map(|p| match p {
            Start::Kept(k, _) => k.summary.social.referred().collect::<Vec<_>>(),
            Start::Full => Vec::new(),
        }))
        .filter(|r| !r.is_empty());
    let converted = Arc::new(converted_referrals(db, merchant_id, referred).await?);
    let catalogue = Arc::clone(&products);
    let folded = crate::background_cpu::run(move || {
        fold_all(plans, opened, recent, &catalogue, position, loaded_at)
    })
    .await;
    let mut summaries = folded.summaries;
    let out = rows
        .into_iter()
        .filter_map(|customer| {
            let kept = summaries.remove(&customer.id)?;
            let id = customer.id.clone();
            Some(Refreshed {
                data: CustomerData {
                    contacts: contacts.remove(&id).unwrap_or_default(),
                    events: kept.summary.clone(),
                    orders: orders.remove(&id).unwrap_or_default(),
                    products: Arc::clone(&products),
                    converted_referrals: Arc::clone(&converted),
                    customer,
                },
                kept,
            })
        })
        .collect();
    Ok((out, folded.out_of_order))
}

/// The live (not merged, not erased) customer records among `ids`, opened.
async fn live_customers(
    db: &DatabaseConnection,
    merchant_id: &str,
    ids: &[String],
) -> Result<Vec<customers::Model>, ProfilingError> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let rows = customers::Entity::find()
            .filter(customers::Column::MerchantId.eq(merchant_id))
            .filter(customers::Column::Id.is_in(chunk.iter().cloned()))
            .filter(customers::Column::MergedInto.is_null())
            .filter(customers::Column::DeletedAt.is_null())
            .all(db)
            .await?;
        for mut r in rows {
            pii::open_customer(&mut r).map_err(caravan_store::sea_orm::DbErr::from)?;
            out.push(r);
        }
    }
    Ok(out)
}

async fn load_contacts(
    db: &DatabaseConnection,
    merchant_id: &str,
    live: &[String],
) -> Result<HashMap<String, Vec<customer_contacts::Model>>, ProfilingError> {
    let mut contacts: HashMap<String, Vec<customer_contacts::Model>> = HashMap::new();
    for chunk in live.chunks(CHUNK) {
        for mut c in customer_contacts::Entity::find()
            .filter(customer_contacts::Column::MerchantId.eq(merchant_id))
            .filter(customer_contacts::Column::CustomerId.is_in(chunk.iter().cloned()))
            .order_by_asc(customer_contacts::Column::Id)
            .all(db)
            .await?
        {
            pii::open_contact(&mut c).map_err(caravan_store::sea_orm::DbErr::from)?;
            contacts.entry(c.customer_id.clone()).or_default().push(c);
        }
    }
    Ok(contacts)
}

/// The event rows a load needs, sorted by occurrence (then storage order): every event of
/// the customers loaded in full, and for the others the events of their new outbox
/// entries that their summary does not hold yet.
async fn load_event_rows(
    db: &DatabaseConnection,
    merchant_id: &str,
    plans: &HashMap<String, Start>,
) -> Result<Vec<events::Model>, ProfilingError> {
    let full: Vec<String> = plans
        .iter()
        .filter(|(_, p)| matches!(p, Start::Full))
        .map(|(id, _)| id.clone())
        .collect();
    let mut rows = Vec::new();
    for chunk in full.chunks(CHUNK) {
        rows.extend(
            events::Entity::find()
                .filter(events::Column::MerchantId.eq(merchant_id))
                .filter(events::Column::CustomerId.is_in(chunk.iter().cloned()))
                .all(db)
                .await?,
        );
    }
    let wanted: Vec<String> = plans
        .values()
        .filter_map(|p| match p {
            Start::Kept(kept, entries) => Some(
                entries
                    .iter()
                    .filter(|(seq, _)| !already_applied(kept, *seq))
                    .map(|(_, id)| id.clone())
                    .collect::<Vec<_>>(),
            ),
            Start::Full => None,
        })
        .flatten()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    for chunk in wanted.chunks(CHUNK) {
        for row in events::Entity::find()
            .filter(events::Column::MerchantId.eq(merchant_id))
            .filter(events::Column::EventId.is_in(chunk.iter().cloned()))
            .all(db)
            .await?
        {
            // An event stored for another customer since (a merge) is that one's; an
            // event the last full load already read is in the summary.
            if let Some(Start::Kept(kept, _)) = plans.get(&row.customer_id)
                && !read_by_full_load(kept, &row)
            {
                rows.push(row);
            }
        }
    }
    rows.sort_by(|a, b| a.occur_time.cmp(&b.occur_time).then(a.id.cmp(&b.id)));
    Ok(rows)
}

/// Whether the entries of outbox row `seq` are in the summary.
fn already_applied(kept: &KeptSummary, seq: i64) -> bool {
    seq <= kept.applied_through || kept.applied_beyond.contains(&seq)
}

/// Whether the summary's last full load read `row`: it was committed well before that load,
/// or the load recorded it as a recent one.
fn read_by_full_load(kept: &KeptSummary, row: &events::Model) -> bool {
    row.ingested_at.get() < kept.rebuilt_at - grace_of(kept)
        || kept.recent_event_ids.contains(&row.event_id)
}

/// The grace a summary's `recent_event_ids` were recorded with.
fn grace_of(kept: &KeptSummary) -> chrono::Duration {
    chrono::Duration::seconds(kept.grace_seconds)
}

/// The ids of the events of fully loaded customers ingested at or after `since`, by
/// customer: their outbox rows may still be ahead of the consumer.
fn recent_event_ids(
    rows: &[events::Model],
    plans: &HashMap<String, Start>,
    since: DateTime<Utc>,
) -> HashMap<String, HashSet<String>> {
    let mut out: HashMap<String, HashSet<String>> = HashMap::new();
    for row in rows.iter().filter(|r| r.ingested_at.get() >= since) {
        if matches!(plans.get(&row.customer_id), Some(Start::Full)) {
            out.entry(row.customer_id.clone())
                .or_default()
                .insert(row.event_id.clone());
        }
    }
    out
}

/// Summaries brought up to date, and the customers to load again in full.
struct Folded {
    summaries: HashMap<String, KeptSummary>,
    out_of_order: Vec<String>,
}

/// Folds the opened events into each customer's summary (CPU work: run off the runtime).
fn fold_all(
    plans: HashMap<String, Start>,
    mut opened: HashMap<String, Vec<StoredEvent>>,
    mut recent: HashMap<String, HashSet<String>>,
    catalogue: &HashMap<String, ProductInfo>,
    position: Position,
    loaded_at: DateTime<Utc>,
) -> Folded {
    let mut folded = Folded {
        summaries: HashMap::with_capacity(plans.len()),
        out_of_order: Vec::new(),
    };
    for (id, plan) in plans {
        let new = opened.remove(&id).unwrap_or_default();
        let mut kept = match plan {
            Start::Full => KeptSummary {
                summary: EventSummary::of(&new, catalogue),
                applied_through: position.through,
                applied_beyond: BTreeSet::new(),
                rebuilt_at: loaded_at,
                grace_seconds: i64::try_from(position.grace.as_secs()).unwrap_or(i64::MAX),
                recent_event_ids: recent.remove(&id).unwrap_or_default(),
            },
            Start::Kept(kept, entries) => {
                let mut kept = *kept;
                if new
                    .first()
                    .is_some_and(|e| Some(e.occur_time) < kept.summary.last_event_time)
                {
                    folded.out_of_order.push(id);
                    continue;
                }
                for e in &new {
                    kept.summary.apply(e, catalogue);
                }
                kept.applied_through = kept.applied_through.max(position.through);
                let through = kept.applied_through;
                kept.applied_beyond
                    .extend(entries.iter().map(|(seq, _)| *seq));
                kept.applied_beyond.retain(|seq| *seq > through);
                kept
            }
        };
        kept.summary.forget_before_window(loaded_at);
        folded.summaries.insert(id, kept);
    }
    folded
}

/// The events' payloads opened and decoded, by customer (CPU work: run off the runtime).
fn open_events(
    merchant_id: &str,
    rows: Vec<events::Model>,
) -> Result<HashMap<String, Vec<StoredEvent>>, ProfilingError> {
    let mut stored: HashMap<String, Vec<StoredEvent>> = HashMap::new();
    for e in rows {
        let opened = pii::open_event_payload(merchant_id, &e.payload)
            .map_err(caravan_store::sea_orm::DbErr::from)?;
        let Some(payload) = decode_payload(&opened) else {
            tracing::warn!(event_id = %e.event_id, "skipping an event with an unreadable payload");
            continue;
        };
        stored.entry(e.customer_id).or_default().push(StoredEvent {
            event_id: e.event_id,
            occur_time: e.occur_time.get(),
            session_id: e.session_id,
            payload,
        });
    }
    Ok(stored)
}

async fn load_orders(
    db: &DatabaseConnection,
    merchant_id: &str,
    customer_ids: &[String],
) -> Result<HashMap<String, Vec<OrderFacts>>, ProfilingError> {
    let rows = orders::Entity::find()
        .filter(orders::Column::MerchantId.eq(merchant_id))
        .filter(orders::Column::CustomerId.is_in(customer_ids.iter().cloned()))
        .order_by_asc(orders::Column::PlacedAt)
        .all(db)
        .await?;
    let mut lines: HashMap<String, Vec<order_lines::Model>> = HashMap::new();
    let order_ids: Vec<String> = rows.iter().map(|o| o.order_id.clone()).collect();
    for chunk in order_ids.chunks(CHUNK) {
        for l in order_lines::Entity::find()
            .filter(order_lines::Column::MerchantId.eq(merchant_id))
            .filter(order_lines::Column::OrderId.is_in(chunk.iter().cloned()))
            .all(db)
            .await?
        {
            lines.entry(l.order_id.clone()).or_default().push(l);
        }
    }
    let reversed = reversals_of(&rows, &lines);
    let mut out: HashMap<String, Vec<OrderFacts>> = HashMap::new();
    for mut order in rows {
        let own = lines.remove(&order.order_id).unwrap_or_default();
        let reversal = reversed.get(&order.order_id).copied();
        net_of_credit_notes(&mut order, reversal.as_ref());
        out.entry(order.customer_id.clone())
            .or_default()
            .push(OrderFacts {
                units: own.iter().map(|l| i64::from(l.quantity)).sum(),
                products: own
                    .iter()
                    .map(|l| format!("merchants/{merchant_id}/products/{}", l.sku))
                    .collect(),
                order,
            });
    }
    Ok(out)
}

/// The reversals by credit notes of the orders of the customers who have one.
fn reversals_of(
    rows: &[orders::Model],
    lines: &HashMap<String, Vec<order_lines::Model>>,
) -> HashMap<String, Reversal> {
    let with_notes: HashSet<&str> = rows
        .iter()
        .filter(|o| o.credit_note)
        .map(|o| o.customer_id.as_str())
        .collect();
    let mut by_customer: HashMap<&str, Vec<OrderLines>> = HashMap::new();
    for o in rows
        .iter()
        .filter(|o| with_notes.contains(o.customer_id.as_str()))
    {
        by_customer
            .entry(&o.customer_id)
            .or_default()
            .push(OrderLines {
                order_id: o.order_id.clone(),
                placed_at: o.placed_at.get(),
                credit_note: o.credit_note,
                counts: order_netting_store::counts(&o.status, o.credit_note),
                lines: lines.get(&o.order_id).map_or_else(Vec::new, |ls| {
                    ls.iter()
                        .map(|l| (l.sku.clone(), i64::from(l.quantity), l.unit_price_minor))
                        .collect()
                }),
            });
    }
    by_customer
        .values()
        .flat_map(|orders| order_netting::reversals(orders))
        .collect()
}

/// The order as the portrait counts it: reversed entirely by credit notes, it is cancelled;
/// in part, its totals are what is left.
fn net_of_credit_notes(order: &mut orders::Model, reversal: Option<&Reversal>) {
    let Some(r) = reversal else { return };
    if r.entire {
        order.status = "CANCELLED".to_owned();
    }
    order.total_minor = r.net(order.total_minor);
    order.base_total_minor = order.base_total_minor.map(|b| r.net(b));
}

fn referenced_products(events: &HashMap<String, Vec<StoredEvent>>) -> HashSet<String> {
    use caravan_proto::caravan::ingestion::v1::event::Payload;
    let mut names = HashSet::new();
    for e in events.values().flatten() {
        let p = match &e.payload {
            Payload::ProductView(v) => &v.product,
            Payload::CartAdd(c) | Payload::CartRemove(c) => &c.product,
            Payload::Favourite(f) => &f.product,
            Payload::Inquiry(i) => &i.product,
            Payload::Rfq(r) => &r.product,
            _ => continue,
        };
        names.insert(p.clone());
    }
    names
}

async fn load_products(
    db: &DatabaseConnection,
    merchant_id: &str,
    events: &HashMap<String, Vec<StoredEvent>>,
    orders: &HashMap<String, Vec<OrderFacts>>,
) -> Result<HashMap<String, ProductInfo>, ProfilingError> {
    let prefix = format!("merchants/{merchant_id}/products/");
    let mut names = referenced_products(events);
    names.extend(
        orders
            .values()
            .flatten()
            .flat_map(|o| o.products.iter().cloned()),
    );
    let skus: Vec<String> = names
        .iter()
        .filter_map(|n| n.strip_prefix(&prefix).map(str::to_owned))
        .collect();
    let mut out = HashMap::new();
    for chunk in skus.chunks(CHUNK) {
        for p in products::Entity::find()
            .filter(products::Column::MerchantId.eq(merchant_id))
            .filter(products::Column::Sku.is_in(chunk.iter().cloned()))
            .all(db)
            .await?
        {
            out.insert(
                format!("{prefix}{}", p.sku),
                ProductInfo {
                    category_path: p.category_path,
                    brand: p.brand,
                },
            );
        }
    }
    Ok(out)
}

/// Those of `referred` (customer resource names) who have ordered.
async fn converted_referrals(
    db: &DatabaseConnection,
    merchant_id: &str,
    referred: impl Iterator<Item = &str>,
) -> Result<HashSet<String>, ProfilingError> {
    let prefix = format!("merchants/{merchant_id}/customers/");
    let referred: Vec<String> = referred
        .filter_map(|r| r.strip_prefix(&prefix).map(str::to_owned))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut out = HashSet::new();
    for chunk in referred.chunks(CHUNK) {
        let buyers: Vec<String> = orders::Entity::find()
            .select_only()
            .column(orders::Column::CustomerId)
            .distinct()
            .filter(orders::Column::MerchantId.eq(merchant_id))
            .filter(orders::Column::CustomerId.is_in(chunk.iter().cloned()))
            .filter(orders::Column::Status.ne("CANCELLED"))
            .into_tuple()
            .all(db)
            .await?;
        out.extend(buyers.into_iter().map(|b| format!("{prefix}{b}")));
    }
    Ok(out)
}
