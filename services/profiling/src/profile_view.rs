//! The read side of profiles: a stored row plus the merchant-relative columns, tags and
//! personal data become the `Profile` a caller sees, in the requested view.

use std::collections::HashMap;

use caravan_core::pii_mask::{mask_email, mask_phone};
use caravan_platform::proto_time::{from_timestamp, to_timestamp};
use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::profiling::v1 as pb;
use caravan_store::entity::{customer_contacts, customer_tags, customers, profiles};
use caravan_store::pii;
use caravan_store::sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
};
use chrono::{DateTime, Utc};

use crate::codes::{decision_stage_value, rfm_segment_from_code};
use crate::error::ProfilingError;
use crate::profile_store::decode_profile;

/// Horizon of the predictions stored in profile columns (see `value_model_store`).
pub const STORED_PREDICTION_HORIZON_DAYS: i32 = 365;

/// A tag row as the API shows it.
pub fn tag_to_proto(t: &customer_tags::Model) -> pb::Tag {
    pb::Tag {
        name: format!(
            "merchants/{}/customers/{}/tags/{}",
            t.merchant_id, t.customer_id, t.tag_id
        ),
        key: t.tag_key.clone(),
        value: t.value.clone(),
        source: pb::TagSource::from_str_name(&format!("TAG_SOURCE_{}", t.source))
            .map_or(0, |s| s as i32),
        confidence: t.confidence,
        evidence_count: i64::from(t.evidence_count),
        first_seen_time: Some(to_timestamp(t.first_seen.get())),
        last_seen_time: Some(to_timestamp(t.last_seen.get())),
        producer: t.producer.clone().unwrap_or_default(),
        note: crate::tag_store::opened(crate::tag_store::NOTES, &t.merchant_id, t.note.as_ref())
            .unwrap_or_default(),
    }
}

/// Ranks of raw influence values: the share of customers with a strictly lower value.
pub fn influence_ranks(raw: &[f64]) -> Vec<f64> {
    let mut sorted: Vec<f64> = raw.to_vec();
    sorted.sort_by(f64::total_cmp);
    #[allow(clippy::cast_precision_loss)]
    let n = sorted.len() as f64;
    raw.iter()
        .map(|x| {
            if *x <= 0.0 {
                return 0.0;
            }
            let below = sorted.partition_point(|v| v < x);
            #[allow(clippy::cast_precision_loss)]
            let r = below as f64 / n;
            r
        })
        .collect()
}

/// The profile of a row, with RFM, decision stage and predicted value from its columns.
/// `recency_as_of` is the instant RFM recency days are counted to.
pub fn assemble(row: &profiles::Model, recency_as_of: DateTime<Utc>) -> Option<pb::Profile> {
    let mut p = decode_profile(&row.merchant_id, &row.dimensions)?;
    if let Some(t) = p.transactions.as_mut()
        && let (Some(r), Some(f), Some(m)) = (row.rfm_recency, row.rfm_frequency, row.rfm_monetary)
    {
        let recency_days = t
            .last_order_time
            .as_ref()
            .and_then(from_timestamp)
            .map_or(0, |last| {
                i32::try_from((recency_as_of - last).num_days().max(0)).unwrap_or(i32::MAX)
            });
        t.rfm = Some(pb::RfmScore {
            recency_score: i32::from(r),
            frequency_score: i32::from(f),
            monetary_score: i32::from(m),
            recency_days,
            segment: rfm_segment_from_code(row.rfm_segment.as_deref()),
        });
    }
    if let Some(stage) = p.decision_stage.as_mut() {
        let stored = decision_stage_value(row.decision_stage.as_deref());
        if stored != 0 {
            stage.stage = stored;
        }
    }
    if let Some(p_alive) = row.p_alive {
        let currency = row.currency.clone().unwrap_or_default();
        let money = |v: Option<i64>| {
            v.map(|amount_minor| common::Money {
                currency_code: currency.clone(),
                amount_minor,
            })
        };
        p.predictive_value = Some(pb::PredictiveValue {
            probability_alive: p_alive,
            expected_purchases: row.expected_purchases.unwrap_or(0.0),
            horizon_days: STORED_PREDICTION_HORIZON_DAYS,
            expected_average_order_value: None,
            expected_spend: money(row.expected_spend_minor),
            customer_lifetime_value: money(row.clv_minor),
            value_model: String::new(),
            compute_time: Some(to_timestamp(row.updated_at.get())),
        });
    }
    Some(p)
}

/// Trims a full profile to the BASIC view: no tags, evidence or lists.
pub fn to_basic_view(p: &mut pb::Profile) {
    p.tags.clear();
    if let Some(s) = p.decision_stage.as_mut() {
        s.evidence.clear();
    }
    if let Some(w) = p.website_behaviour.as_mut() {
        w.top_search_queries.clear();
    }
    if let Some(c) = p.content_preference.as_mut() {
        c.category_affinities.clear();
        c.brand_affinities.clear();
        c.topic_affinities.clear();
    }
    if let Some(c) = p.contacts.as_mut() {
        c.contacts.clear();
    }
    if let Some(o) = p.purchasing_potential.as_mut() {
        o.components.clear();
    }
}

/// All of a merchant's profiles (full view, personal data not filled), with tags and the
/// influence rank.
pub async fn load_all(
    db: &DatabaseConnection,
    merchant_id: &str,
    as_of: DateTime<Utc>,
) -> Result<Vec<pb::Profile>, ProfilingError> {
    let rows = profiles::Entity::find()
        .filter(profiles::Column::MerchantId.eq(merchant_id))
        .order_by_asc(profiles::Column::CustomerId)
        .all(db)
        .await?;
    let mut tags: HashMap<String, Vec<pb::Tag>> = HashMap::new();
    for t in crate::tag_store::list(db, merchant_id, None).await? {
        tags.entry(t.customer_id.clone())
            .or_default()
            .push(tag_to_proto(&t));
    }
    let ranks = influence_ranks(
        &rows
            .iter()
            .map(|r| r.influence_raw.unwrap_or(0.0))
            .collect::<Vec<_>>(),
    );
    Ok(rows
        .iter()
        .zip(ranks)
        .filter_map(|(row, rank)| {
            let mut p = assemble(row, as_of)?;
            if let Some(s) = p.social_sharing.as_mut() {
                s.influence_score = rank;
            }
            p.tags = tags.remove(&row.customer_id).unwrap_or_default();
            sort_tags(&mut p.tags);
            Some(p)
        })
        .collect())
}

fn sort_tags(tags: &mut [pb::Tag]) {
    tags.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then_with(|| a.name.cmp(&b.name))
    });
}

/// One profile (full view, personal data not filled), or `None` if not built yet.
pub async fn load_one(
    db: &DatabaseConnection,
    merchant_id: &str,
    customer_id: &str,
    as_of: DateTime<Utc>,
) -> Result<Option<pb::Profile>, ProfilingError> {
    let Some(row) = profiles::Entity::find_by_id((merchant_id.to_owned(), customer_id.to_owned()))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let Some(mut p) = assemble(&row, as_of) else {
        return Err(ProfilingError::Corrupt(format!("profile of {customer_id}")));
    };
    if let Some(s) = p.social_sharing.as_mut() {
        let raw = row.influence_raw.unwrap_or(0.0);
        if raw > 0.0 {
            let base = profiles::Entity::find()
                .filter(profiles::Column::MerchantId.eq(merchant_id))
                .filter(profiles::Column::Kind.eq("PERSON"));
            let total = base.clone().count(db).await?;
            let below = base
                .filter(profiles::Column::InfluenceRaw.lt(raw))
                .count(db)
                .await?;
            #[allow(clippy::cast_precision_loss)]
            let rank = below as f64 / total.max(1) as f64;
            s.influence_score = rank;
        }
    }
    p.tags = crate::tag_store::list(db, merchant_id, Some(customer_id))
        .await?
        .iter()
        .map(tag_to_proto)
        .collect();
    sort_tags(&mut p.tags);
    Ok(Some(p))
}

/// Fills personal data into profiles: masked, or in full when `reveal`.
pub async fn fill_personal_data(
    db: &DatabaseConnection,
    merchant_id: &str,
    profiles_out: &mut [pb::Profile],
    reveal: bool,
) -> Result<(), ProfilingError> {
    let ids: Vec<String> = profiles_out
        .iter()
        .filter_map(|p| p.customer.rsplit('/').next().map(str::to_owned))
        .collect();
    let mut rows: HashMap<String, customers::Model> = HashMap::new();
    let mut contacts: HashMap<String, String> = HashMap::new();
    for chunk in ids.chunks(500) {
        for c in customers::Entity::find()
            .filter(customers::Column::MerchantId.eq(merchant_id))
            .filter(customers::Column::Id.is_in(chunk.iter().cloned()))
            .all(db)
            .await?
        {
            let mut c = c;
            pii::open_customer(&mut c).map_err(caravan_store::sea_orm::DbErr::from)?;
            rows.insert(c.id.clone(), c);
        }
        if reveal {
            for c in customer_contacts::Entity::find()
                .filter(customer_contacts::Column::MerchantId.eq(merchant_id))
                .filter(customer_contacts::Column::CustomerId.is_in(chunk.iter().cloned()))
                .all(db)
                .await?
            {
                let mut c = c;
                pii::open_contact(&mut c).map_err(caravan_store::sea_orm::DbErr::from)?;
                let name = format!(
                    "merchants/{}/customers/{}/contacts/{}",
                    c.merchant_id, c.customer_id, c.id
                );
                contacts.insert(name, c.name.unwrap_or_default());
            }
        }
    }
    for p in profiles_out.iter_mut() {
        let id = p.customer.rsplit('/').next().unwrap_or_default();
        let Some(row) = rows.get(id) else { continue };
        if let Some(pb::profile::Basic::Person(b)) = p.basic.as_mut() {
            let pick = |v: &Option<String>, mask: fn(&str) -> String| {
                v.as_deref()
                    .map(|x| if reveal { x.to_owned() } else { mask(x) })
                    .unwrap_or_default()
            };
            b.email = pick(&row.email, mask_email);
            b.phone = pick(&row.phone, mask_phone);
            b.display_name = if reveal {
                [row.given_name.as_deref(), row.family_name.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ")
            } else {
                String::new()
            };
        }
        if reveal && let Some(c) = p.contacts.as_mut() {
            for s in &mut c.contacts {
                s.display_name = contacts.get(&s.contact).cloned().unwrap_or_default();
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn influence_ranks_are_shares_strictly_below() {
        let r = influence_ranks(&[0.0, 3.0, 1.0, 3.0, 10.0]);
        assert_eq!(r, vec![0.0, 0.4, 0.2, 0.4, 0.8]);
        assert!(influence_ranks(&[]).is_empty());
    }
}
