//! Storage of profiles: the merchant's build context, saving portraits with their rule tags
//! and event summaries, and removing what is derived from a customer. What a portrait is
//! built from is loaded by `portrait_input`.
//!
//! `profiles.dimensions` holds `{"v":1,"pb":"<hex>"}`, the protobuf encoding of the built
//! `Profile` without personal data, merchant-relative facts (RFM, influence rank,
//! predicted value) or tags; those live in columns and tables and are merged on read.

use std::collections::{HashMap, HashSet};

use caravan_proto::caravan::profiling::v1 as pb;
use caravan_store::entity::{customers, events, exchange_rates, merchants, profiles};
use caravan_store::sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use caravan_store::sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};
use caravan_store::{UtcDateTime, sealing};
use chrono::Utc;
use prost::Message;

use crate::error::ProfilingError;
use crate::profile_builder::{BuildContext, BuiltProfile};
use crate::summary_store::{self, KeptSummary};
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

/// Saves built profiles and their event summaries and reconciles their rule and import
/// tags, all in one transaction
/// (one commit per batch, not per customer). Merchant-relative columns (RFM, predicted
/// value) of existing rows are kept as they are.
pub async fn save_many(
    db: &DatabaseConnection,
    merchant_id: &str,
    items: &[(&customers::Model, BuiltProfile)],
    summaries: &[(&str, &KeptSummary)],
    write: summary_store::Write,
) -> Result<(), ProfilingError> {
    if items.is_empty() && summaries.is_empty() {
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
    // In the same transaction: a summary saved without its profile (or the other way
    // round) would skip or repeat events.
    summary_store::save(&txn, merchant_id, summaries, write).await?;
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
    summary_store::delete(db, merchant_id, &[customer_id.to_owned()]).await?;
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
