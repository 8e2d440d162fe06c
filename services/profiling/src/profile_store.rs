//! Storage of profiles: loading what a portrait is built from, saving portraits with
//! their rule tags, and the merchant-wide refresh of RFM scores.
//!
//! `profiles.dimensions` holds `{"v":1,"pb":"<hex>"}`, the protobuf encoding of the built
//! `Profile` without personal data, merchant-relative facts (RFM, influence rank,
//! predicted value) or tags; those live in columns and tables and are merged on read.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use caravan_proto::caravan::profiling::v1 as pb;
use caravan_proto::stored_event::decode_payload;
use caravan_store::entity::{
    customer_contacts, customers, events, exchange_rates, merchants, order_lines, orders, products,
    profiles,
};
use caravan_store::sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use caravan_store::sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};
use caravan_store::{UtcDateTime, pii, sealing};
use chrono::Utc;
use prost::Message;

use crate::error::ProfilingError;
use crate::order_netting::{self, OrderLines, Reversal};
use crate::order_netting_store;
use crate::profile_builder::{
    BuildContext, BuiltProfile, CustomerData, EventSummary, OrderFacts, ProductInfo, StoredEvent,
};
use crate::tag_store;

/// Rows per `IN (...)` lookup.
const CHUNK: usize = 500;

/// Where sealed profiles belong (the associated data of their encryption).
const SEALED_PROFILES: &str = "profiles.dimensions";

/// The stored form of a built profile: `{"v":2,"sealed":"enc:v1:…"}`, the protobuf sealed
/// (search queries, cities and evidence texts are personal). Version 1, `{"v":1,"pb":hex}`,
/// was written before sealing and is still read.
pub fn encode_profile(merchant_id: &str, p: &pb::Profile) -> serde_json::Value {
    let sealed = sealing::seal_bytes_to_text(SEALED_PROFILES, merchant_id, &p.encode_to_vec());
    serde_json::json!({ "v": 2, "sealed": sealed })
}

/// The profile of a stored row's `dimensions`, `None` if unreadable.
pub fn decode_profile(merchant_id: &str, json: &serde_json::Value) -> Option<pb::Profile> {
    let bytes = match json.get("sealed").and_then(serde_json::Value::as_str) {
        Some(sealed) => sealing::open_text_to_bytes(SEALED_PROFILES, merchant_id, sealed)
            .inspect_err(|e| tracing::error!(error = %e, "a stored profile does not open"))
            .ok()?,
        None => hex::decode(json.get("pb")?.as_str()?).ok()?,
    };
    pb::Profile::decode(bytes.as_slice()).ok()
}

/// Whether stored `dimensions` need `caravan privacy reseal`.
pub fn profile_needs_reseal(json: &serde_json::Value) -> bool {
    json.get("sealed")
        .and_then(serde_json::Value::as_str)
        .is_none_or(|s| !sealing::is_current(s.as_bytes()))
}

/// The merchant's build context, or `None` if the merchant does not exist.
pub async fn merchant_context(
    db: &DatabaseConnection,
    merchant_id: &str,
) -> Result<Option<BuildContext>, ProfilingError> {
    let Some(merchant) = merchants::Entity::find_by_id(merchant_id.to_owned())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let mut rates_to_base = HashMap::new();
    let rows = exchange_rates::Entity::find()
        .filter(exchange_rates::Column::MerchantId.eq(merchant_id))
        .order_by_asc(exchange_rates::Column::EffectiveDate)
        .all(db)
        .await?;
    for r in rows {
        if let Ok(rate) = r.rate.parse::<f64>() {
            rates_to_base.insert(r.currency, rate);
        }
    }
    let latest = latest_event_time(db, merchant_id).await?;
    let now = Utc::now();
    Ok(Some(BuildContext {
        as_of: latest.map_or(now, |t| Ord::min(t.get(), now)),
        base_currency: merchant.base_currency,
        rates_to_base,
    }))
}

/// Most event kinds a merchant's latest event is looked for in; a bound on the loop below,
/// far above the kinds the ingestion contract has.
const MAX_EVENT_KINDS: usize = 64;

/// When the merchant's latest event happened. `MAX(occur_time)` over the merchant alone has
/// no index to stop at and reads every event row of the merchant (0.4–1 s at a million
/// events); per kind, `idx_events_kind_time` (merchant, kind, time) answers both the next
/// kind and its latest time from the index edge, so this costs two lookups per kind.
pub async fn latest_event_time(
    db: &DatabaseConnection,
    merchant_id: &str,
) -> Result<Option<UtcDateTime>, ProfilingError> {
    let mut latest: Option<UtcDateTime> = None;
    let mut after: Option<String> = None;
    for _ in 0..MAX_EVENT_KINDS {
        let mut next_kind = events::Entity::find()
            .select_only()
            .column_as(events::Column::Kind.min(), "kind")
            .filter(events::Column::MerchantId.eq(merchant_id));
        if let Some(previous) = &after {
            next_kind = next_kind.filter(events::Column::Kind.gt(previous.as_str()));
        }
        let Some(kind) = next_kind
            .into_tuple::<Option<String>>()
            .one(db)
            .await?
            .flatten()
        else {
            break;
        };
        let kind_latest = events::Entity::find()
            .select_only()
            .column_as(events::Column::OccurTime.max(), "latest")
            .filter(events::Column::MerchantId.eq(merchant_id))
            .filter(events::Column::Kind.eq(kind.as_str()))
            .into_tuple::<Option<UtcDateTime>>()
            .one(db)
            .await?
            .flatten();
        latest = Ord::max(latest, kind_latest);
        after = Some(kind);
    }
    Ok(latest)
}

/// Everything stored about each of `ids` (merged and erased customers are left out).
pub async fn load_customers(
    db: &DatabaseConnection,
    merchant_id: &str,
    ids: &[String],
) -> Result<Vec<CustomerData>, ProfilingError> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        out.extend(load_chunk(db, merchant_id, chunk).await?);
    }
    Ok(out)
}

async fn load_chunk(
    db: &DatabaseConnection,
    merchant_id: &str,
    ids: &[String],
) -> Result<Vec<CustomerData>, ProfilingError> {
    let rows = customers::Entity::find()
        .filter(customers::Column::MerchantId.eq(merchant_id))
        .filter(customers::Column::Id.is_in(ids.iter().cloned()))
        .filter(customers::Column::MergedInto.is_null())
        .filter(customers::Column::DeletedAt.is_null())
        .all(db)
        .await?;
    let rows = rows
        .into_iter()
        .map(|mut r| pii::open_customer(&mut r).map(|()| r))
        .collect::<Result<Vec<_>, _>>()
        .map_err(caravan_store::sea_orm::DbErr::from)?;
    let live: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut contacts: HashMap<String, Vec<customer_contacts::Model>> = HashMap::new();
    for c in customer_contacts::Entity::find()
        .filter(customer_contacts::Column::MerchantId.eq(merchant_id))
        .filter(customer_contacts::Column::CustomerId.is_in(live.iter().cloned()))
        .order_by_asc(customer_contacts::Column::Id)
        .all(db)
        .await?
    {
        let mut c = c;
        pii::open_contact(&mut c).map_err(caravan_store::sea_orm::DbErr::from)?;
        contacts.entry(c.customer_id.clone()).or_default().push(c);
    }
    let event_rows = events::Entity::find()
        .filter(events::Column::MerchantId.eq(merchant_id))
        .filter(events::Column::CustomerId.is_in(live.iter().cloned()))
        .order_by_asc(events::Column::OccurTime)
        .order_by_asc(events::Column::Id)
        .all(db)
        .await?;
    let merchant = merchant_id.to_owned();
    let stored = crate::background_cpu::run(move || open_events(&merchant, event_rows)).await?;
    let orders = load_orders(db, merchant_id, &live).await?;
    // Shared by every customer of the chunk rather than copied into each.
    let products = Arc::new(load_products(db, merchant_id, &stored, &orders).await?);
    let converted = Arc::new(converted_referrals(db, merchant_id, &stored).await?);
    let catalogue = Arc::clone(&products);
    // The events are folded into each customer's summary and dropped.
    let mut summaries = crate::background_cpu::run(move || {
        stored
            .into_iter()
            .map(|(customer, events)| (customer, EventSummary::of(&events, &catalogue)))
            .collect::<HashMap<_, _>>()
    })
    .await;
    let mut orders = orders;
    Ok(rows
        .into_iter()
        .map(|customer| {
            let id = customer.id.clone();
            CustomerData {
                contacts: contacts.remove(&id).unwrap_or_default(),
                events: summaries.remove(&id).unwrap_or_default(),
                orders: orders.remove(&id).unwrap_or_default(),
                products: Arc::clone(&products),
                converted_referrals: Arc::clone(&converted),
                customer,
            }
        })
        .collect())
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

/// Resource names of referred customers (from social referral events) who have ordered.
async fn converted_referrals(
    db: &DatabaseConnection,
    merchant_id: &str,
    events: &HashMap<String, Vec<StoredEvent>>,
) -> Result<HashSet<String>, ProfilingError> {
    use caravan_proto::caravan::ingestion::v1::event::Payload;
    let prefix = format!("merchants/{merchant_id}/customers/");
    let referred: Vec<String> = events
        .values()
        .flatten()
        .filter_map(|e| match &e.payload {
            Payload::SocialAction(s) => {
                s.referred_customer.strip_prefix(&prefix).map(str::to_owned)
            }
            _ => None,
        })
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

fn profile_row(
    merchant_id: &str,
    customer: &customers::Model,
    built: &BuiltProfile,
    now: UtcDateTime,
) -> profiles::ActiveModel {
    let p = &built.profile;
    let country = match &p.basic {
        Some(pb::profile::Basic::Person(b)) => b.country_code.clone(),
        Some(pb::profile::Basic::Enterprise(b)) => b.country_code.clone(),
        None => String::new(),
    };
    let stage = p.decision_stage.as_ref().map_or(0, |s| s.stage);
    profiles::ActiveModel {
        merchant_id: Set(merchant_id.to_owned()),
        customer_id: Set(customer.id.clone()),
        kind: Set(customer.kind.clone()),
        country: Set((!country.is_empty()).then_some(country)),
        dimensions: Set(encode_profile(merchant_id, p)),
        completeness: Set(p.completeness),
        rfm_recency: Set(None),
        rfm_frequency: Set(None),
        rfm_monetary: Set(None),
        rfm_segment: Set(None),
        decision_stage: Set(crate::codes::decision_stage_code(stage)),
        stage_evidence: Set(None),
        p_alive: Set(None),
        expected_purchases: Set(None),
        expected_spend_minor: Set(None),
        clv_minor: Set(None),
        currency: Set(None),
        version: Set(1),
        updated_at: Set(now),
        influence_raw: Set(Some(built.influence_raw)),
    }
}

/// Saves built profiles and reconciles their rule and import tags, all in one transaction
/// (one commit per batch, not per customer). Merchant-relative columns (RFM, predicted
/// value) of existing rows are kept as they are.
pub async fn save_many(
    db: &DatabaseConnection,
    merchant_id: &str,
    items: &[(&customers::Model, BuiltProfile)],
) -> Result<(), ProfilingError> {
    if items.is_empty() {
        return Ok(());
    }
    let now = UtcDateTime::now();
    let txn = db.begin().await?;
    for chunk in items.chunks(CHUNK / 5) {
        profiles::Entity::insert_many(
            chunk
                .iter()
                .map(|(c, b)| profile_row(merchant_id, c, b, now)),
        )
        .on_conflict(
            OnConflict::columns([profiles::Column::MerchantId, profiles::Column::CustomerId])
                .update_columns([
                    profiles::Column::Kind,
                    profiles::Column::Country,
                    profiles::Column::Dimensions,
                    profiles::Column::Completeness,
                    profiles::Column::DecisionStage,
                    profiles::Column::UpdatedAt,
                    profiles::Column::InfluenceRaw,
                ])
                .value(
                    profiles::Column::Version,
                    Expr::col((profiles::Entity, profiles::Column::Version)).add(1),
                )
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
    }
    let tags: Vec<(&customers::Model, &[crate::profile_builder::RuleTag])> = items
        .iter()
        .map(|(c, b)| (*c, b.rule_tags.as_slice()))
        .collect();
    tag_store::reconcile_derived(&txn, merchant_id, &tags, now).await?;
    txn.commit().await?;
    Ok(())
}

/// Removes everything derived about a customer (erased, or merged into another).
/// The ids among `ids` that are customers of `merchant_id` now.
pub async fn existing<C: ConnectionTrait>(
    db: &C,
    merchant_id: &str,
    ids: &[String],
) -> Result<HashSet<String>, ProfilingError> {
    let mut found = HashSet::new();
    for chunk in ids.chunks(CHUNK) {
        let rows: Vec<String> = customers::Entity::find()
            .select_only()
            .column(customers::Column::Id)
            .filter(customers::Column::MerchantId.eq(merchant_id))
            .filter(customers::Column::Id.is_in(chunk.iter().cloned()))
            .into_tuple()
            .all(db)
            .await?;
        found.extend(rows);
    }
    Ok(found)
}

pub async fn delete_derived<C: ConnectionTrait>(
    db: &C,
    merchant_id: &str,
    customer_id: &str,
) -> Result<(), ProfilingError> {
    profiles::Entity::delete_many()
        .filter(profiles::Column::MerchantId.eq(merchant_id))
        .filter(profiles::Column::CustomerId.eq(customer_id))
        .exec(db)
        .await?;
    tag_store::delete_all(db, merchant_id, customer_id).await
}

#[cfg(test)]
mod tests {
    use caravan_store::sea_orm::ActiveValue::NotSet;
    use chrono::TimeZone;

    use super::*;

    async fn event(db: &DatabaseConnection, merchant: &str, id: &str, kind: &str, day: u32) {
        let at = UtcDateTime::from(Utc.with_ymd_and_hms(2026, 3, day, 12, 0, 0).unwrap());
        events::Entity::insert(events::ActiveModel {
            id: NotSet,
            merchant_id: Set(merchant.to_owned()),
            event_id: Set(id.to_owned()),
            customer_id: Set("c1".to_owned()),
            kind: Set(kind.to_owned()),
            occur_time: Set(at),
            session_id: Set(None),
            source: Set(None),
            payload: Set(Vec::new()),
            ingested_at: Set(at),
        })
        .exec(db)
        .await
        .expect("insert");
    }

    #[tokio::test]
    async fn the_latest_event_is_found_across_kinds_and_only_for_the_merchant() {
        let db = caravan_store::testing::sqlite_memory().await.expect("db");
        assert_eq!(latest_event_time(&db, "acme").await.expect("read"), None);
        event(&db, "acme", "e1", "order", 3).await;
        event(&db, "acme", "e2", "product_view", 9).await;
        event(&db, "acme", "e3", "review", 5).await;
        event(&db, "acme", "e4", "cart_add", 1).await;
        event(&db, "other", "e5", "zz_later_kind", 20).await;
        let latest = latest_event_time(&db, "acme").await.expect("read");
        assert_eq!(
            latest.map(UtcDateTime::get),
            Some(Utc.with_ymd_and_hms(2026, 3, 9, 12, 0, 0).unwrap())
        );
    }
}
