//! Storage of tags and their history. Rule and import tags are reconciled with each
//! rebuilt profile; manual tags change only through the API and are never overwritten by
//! a rule that derives the same key and value.

use std::collections::HashMap;

use caravan_store::entity::{customer_tags, customers, tag_history};
use caravan_store::sea_orm::sea_query::OnConflict;
use caravan_store::sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, Set,
};
use caravan_store::{UtcDateTime, sealing};

use crate::error::ProfilingError;
use crate::profile_builder::RuleTag;
use crate::profile_builder::rule_tags::tag_id;

/// Confidence changes smaller than this are not worth a history entry.
const CONFIDENCE_EPSILON: f64 = 1e-6;

/// A tag to reconcile, with its source code.
struct Desired<'a> {
    key: &'a str,
    value: &'a str,
    source: &'static str,
    confidence: f64,
    evidence: i64,
    producer: Option<&'a str>,
    reason: String,
}

/// Where sealed tag texts belong (the associated data of their encryption).
pub const NOTES: &str = "customer_tags.note";
pub const HISTORY_REASONS: &str = "tag_history.reason";

/// Free text written by people may name people: it is stored sealed.
fn sealed(context: &str, merchant_id: &str, text: Option<String>) -> Option<String> {
    text.map(|t| sealing::seal_text_once(context, merchant_id, &t))
}

/// A stored free text as written (`None` if it does not open, which is logged).
pub fn opened(context: &str, merchant_id: &str, stored: Option<&String>) -> Option<String> {
    let stored = stored?;
    sealing::open_text(context, merchant_id, stored)
        .inspect_err(|e| tracing::error!(error = %e, context, "a stored tag text does not open"))
        .ok()
}

fn history_row(
    tag: &customer_tags::Model,
    action: &str,
    reason: Option<String>,
    actor: Option<String>,
    at: UtcDateTime,
) -> tag_history::ActiveModel {
    // The actor is the operator (a short VARCHAR), not the customer: kept as written.
    let reason = sealed(HISTORY_REASONS, &tag.merchant_id, reason);
    tag_history::ActiveModel {
        merchant_id: Set(tag.merchant_id.clone()),
        customer_id: Set(tag.customer_id.clone()),
        tag_id: Set(tag.tag_id.clone()),
        tag_key: Set(tag.tag_key.clone()),
        value: Set(tag.value.clone()),
        action: Set(action.to_owned()),
        source: Set(tag.source.clone()),
        confidence: Set(tag.confidence),
        evidence_count: Set(tag.evidence_count),
        reason: Set(reason),
        actor: Set(actor),
        occurred_at: Set(at),
        ..Default::default()
    }
}

/// Tags of one customer (or all the merchant's customers when `customer_id` is `None`).
pub async fn list<C: ConnectionTrait>(
    db: &C,
    merchant_id: &str,
    customer_id: Option<&str>,
) -> Result<Vec<customer_tags::Model>, ProfilingError> {
    let mut q =
        customer_tags::Entity::find().filter(customer_tags::Column::MerchantId.eq(merchant_id));
    if let Some(c) = customer_id {
        q = q.filter(customer_tags::Column::CustomerId.eq(c));
    }
    Ok(q.order_by_asc(customer_tags::Column::CustomerId)
        .order_by_asc(customer_tags::Column::TagId)
        .all(db)
        .await?)
}

/// Brings each customer's RULE and IMPORT tags in line with its rule tags and the
/// customer's import tags, recording every change. One read of the existing tags for all
/// the customers; writes only for what changed.
pub async fn reconcile_derived<C: ConnectionTrait>(
    db: &C,
    merchant_id: &str,
    items: &[(&customers::Model, &[RuleTag])],
    now: UtcDateTime,
) -> Result<(), ProfilingError> {
    let ids: Vec<String> = items.iter().map(|(c, _)| c.id.clone()).collect();
    let mut existing: HashMap<(String, String), customer_tags::Model> = HashMap::new();
    for chunk in ids.chunks(500) {
        for t in customer_tags::Entity::find()
            .filter(customer_tags::Column::MerchantId.eq(merchant_id))
            .filter(customer_tags::Column::CustomerId.is_in(chunk.iter().cloned()))
            .all(db)
            .await?
        {
            existing.insert((t.customer_id.clone(), t.tag_id.clone()), t);
        }
    }
    let mut added: Vec<customer_tags::Model> = Vec::new();
    let mut changed: Vec<customer_tags::Model> = Vec::new();
    let mut history: Vec<tag_history::ActiveModel> = Vec::new();
    for (customer, rule_tags) in items {
        let imports = crate::profile_builder::import_tags(customer);
        let mut desired: Vec<Desired<'_>> = rule_tags
            .iter()
            .map(|t| Desired {
                key: &t.key,
                value: &t.value,
                source: "RULE",
                confidence: t.confidence,
                evidence: t.evidence_count,
                producer: Some(&t.producer),
                reason: format!("{}: {}", t.producer, t.reason),
            })
            .collect();
        desired.extend(imports.iter().map(|value| Desired {
            key: "import",
            value,
            source: "IMPORT",
            confidence: 1.0,
            evidence: 1,
            producer: None,
            reason: "supplied with the customer at import".to_owned(),
        }));
        let mut seen = std::collections::HashSet::new();
        for d in desired {
            let id = tag_id(d.key, d.value);
            if !seen.insert(id.clone()) {
                continue;
            }
            match existing.remove(&(customer.id.clone(), id.clone())) {
                // A person's tag wins over a rule deriving the same label.
                Some(t) if t.source == "MANUAL" => {}
                Some(t) => {
                    if let Some((updated, entry)) = update_derived(t, &d, now) {
                        changed.push(updated);
                        history.push(entry);
                    }
                }
                None => {
                    let tag = customer_tags::Model {
                        merchant_id: merchant_id.to_owned(),
                        customer_id: customer.id.clone(),
                        tag_id: id,
                        tag_key: d.key.to_owned(),
                        value: d.value.to_owned(),
                        source: d.source.to_owned(),
                        confidence: d.confidence,
                        evidence_count: i32::try_from(d.evidence).unwrap_or(i32::MAX),
                        producer: d.producer.map(str::to_owned),
                        note: None,
                        first_seen: now,
                        last_seen: now,
                    };
                    history.push(history_row(&tag, "ADDED", Some(d.reason), None, now));
                    added.push(tag);
                }
            }
        }
    }
    for chunk in added.chunks(200) {
        customer_tags::Entity::insert_many(
            chunk.iter().cloned().map(customer_tags::ActiveModel::from),
        )
        .exec_without_returning(db)
        .await?;
    }
    // Support changes, 200 tags per statement: one UPDATE (and read-back) per tag was most
    // of the time an update of a steady stream spent saving.
    for chunk in changed.chunks(200) {
        customer_tags::Entity::insert_many(
            chunk.iter().cloned().map(customer_tags::ActiveModel::from),
        )
        .on_conflict(
            OnConflict::columns([
                customer_tags::Column::MerchantId,
                customer_tags::Column::CustomerId,
                customer_tags::Column::TagId,
            ])
            .update_columns([
                customer_tags::Column::Confidence,
                customer_tags::Column::EvidenceCount,
                customer_tags::Column::LastSeen,
            ])
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    }
    // What is left of the customers' derived tags no longer holds.
    let stale: Vec<customer_tags::Model> = existing
        .into_values()
        .filter(|t| t.source != "MANUAL")
        .collect();
    // 200 per statement: one DELETE per tag was a steady stream's most frequent statement.
    for chunk in stale.chunks(200) {
        delete_rows(db, merchant_id, chunk).await?;
    }
    for stale in stale {
        let reason = format!(
            "{} no longer holds",
            stale.producer.as_deref().unwrap_or("import")
        );
        history.push(history_row(&stale, "REMOVED", Some(reason), None, now));
    }
    for chunk in history.chunks(200) {
        tag_history::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// A derived tag with its support changed, and the history entry to record; `None` if its
/// support did not change.
fn update_derived(
    t: customer_tags::Model,
    d: &Desired<'_>,
    now: UtcDateTime,
) -> Option<(customer_tags::Model, tag_history::ActiveModel)> {
    let evidence = i32::try_from(d.evidence).unwrap_or(i32::MAX);
    let action = if evidence > t.evidence_count {
        "REINFORCED"
    } else if (d.confidence - t.confidence).abs() > CONFIDENCE_EPSILON
        || evidence != t.evidence_count
    {
        "CONFIDENCE_CHANGED"
    } else {
        return None;
    };
    let mut updated = t;
    updated.confidence = d.confidence;
    updated.evidence_count = evidence;
    if action == "REINFORCED" {
        updated.last_seen = now;
    }
    let entry = history_row(&updated, action, Some(d.reason.clone()), None, now);
    Some((updated, entry))
}

/// Deletes `tags` of one merchant in one statement.
async fn delete_rows<C: ConnectionTrait>(
    db: &C,
    merchant_id: &str,
    tags: &[customer_tags::Model],
) -> Result<(), ProfilingError> {
    if tags.is_empty() {
        return Ok(());
    }
    let any = tags.iter().fold(Condition::any(), |any, t| {
        any.add(
            Condition::all()
                .add(customer_tags::Column::CustomerId.eq(&t.customer_id))
                .add(customer_tags::Column::TagId.eq(&t.tag_id)),
        )
    });
    customer_tags::Entity::delete_many()
        .filter(customer_tags::Column::MerchantId.eq(merchant_id))
        // A person may have taken the tag over since it was read.
        .filter(customer_tags::Column::Source.ne("MANUAL"))
        .filter(any)
        .exec(db)
        .await?;
    Ok(())
}

async fn delete_row<C: ConnectionTrait>(
    db: &C,
    tag: &customer_tags::Model,
) -> Result<(), ProfilingError> {
    customer_tags::Entity::delete_many()
        .filter(customer_tags::Column::MerchantId.eq(&tag.merchant_id))
        .filter(customer_tags::Column::CustomerId.eq(&tag.customer_id))
        .filter(customer_tags::Column::TagId.eq(&tag.tag_id))
        .exec(db)
        .await?;
    Ok(())
}

async fn remove<C: ConnectionTrait>(
    db: &C,
    tag: &customer_tags::Model,
    reason: Option<String>,
    actor: Option<String>,
    now: UtcDateTime,
) -> Result<(), ProfilingError> {
    delete_row(db, tag).await?;
    history_row(tag, "REMOVED", reason, actor, now)
        .insert(db)
        .await?;
    Ok(())
}

/// A manual tag request.
pub struct ManualTag {
    pub key: String,
    pub value: String,
    pub confidence: f64,
    pub note: Option<String>,
    pub actor: Option<String>,
}

/// Adds a manual tag, or reinforces the existing tag with the same key and value.
pub async fn create_manual<C: ConnectionTrait>(
    db: &C,
    merchant_id: &str,
    customer_id: &str,
    tag: ManualTag,
) -> Result<customer_tags::Model, ProfilingError> {
    let now = UtcDateTime::now();
    let id = tag_id(&tag.key, &tag.value);
    let existing = customer_tags::Entity::find_by_id((
        merchant_id.to_owned(),
        customer_id.to_owned(),
        id.clone(),
    ))
    .one(db)
    .await?;
    if let Some(t) = existing {
        let mut updated = t.clone();
        updated.evidence_count = t.evidence_count.saturating_add(1);
        updated.last_seen = now;
        updated.confidence = t.confidence.max(tag.confidence);
        if tag.note.is_some() {
            updated.note.clone_from(&tag.note);
        }
        let mut am: customer_tags::ActiveModel = t.into();
        am.evidence_count = Set(updated.evidence_count);
        am.last_seen = Set(now);
        am.confidence = Set(updated.confidence);
        am.note = Set(sealed(NOTES, merchant_id, updated.note.clone()));
        am.update(db).await?;
        history_row(
            &updated,
            "REINFORCED",
            Some("set again by hand".to_owned()),
            tag.actor,
            now,
        )
        .insert(db)
        .await?;
        return Ok(updated);
    }
    let model = customer_tags::Model {
        merchant_id: merchant_id.to_owned(),
        customer_id: customer_id.to_owned(),
        tag_id: id,
        tag_key: tag.key,
        value: tag.value,
        source: "MANUAL".to_owned(),
        confidence: tag.confidence,
        evidence_count: 1,
        producer: None,
        note: tag.note,
        first_seen: now,
        last_seen: now,
    };
    let mut row = customer_tags::ActiveModel::from(model.clone());
    row.note = Set(sealed(NOTES, merchant_id, model.note.clone()));
    row.insert(db).await?;
    history_row(&model, "ADDED", model.note.clone(), tag.actor, now)
        .insert(db)
        .await?;
    Ok(model)
}

/// Removes one tag; `NotFound` if the customer has no such tag.
pub async fn delete<C: ConnectionTrait>(
    db: &C,
    merchant_id: &str,
    customer_id: &str,
    tag_id: &str,
    actor: Option<String>,
) -> Result<(), ProfilingError> {
    let Some(tag) = customer_tags::Entity::find_by_id((
        merchant_id.to_owned(),
        customer_id.to_owned(),
        tag_id.to_owned(),
    ))
    .one(db)
    .await?
    else {
        return Err(ProfilingError::NotFound(format!(
            "merchants/{merchant_id}/customers/{customer_id}/tags/{tag_id}"
        )));
    };
    remove(
        db,
        &tag,
        Some("deleted through the API".to_owned()),
        actor,
        UtcDateTime::now(),
    )
    .await
}

/// A customer's tag history, newest first.
pub async fn history<C: ConnectionTrait>(
    db: &C,
    merchant_id: &str,
    customer_id: &str,
) -> Result<Vec<tag_history::Model>, ProfilingError> {
    Ok(tag_history::Entity::find()
        .filter(tag_history::Column::MerchantId.eq(merchant_id))
        .filter(tag_history::Column::CustomerId.eq(customer_id))
        .order_by_desc(tag_history::Column::OccurredAt)
        .order_by_desc(tag_history::Column::Id)
        .all(db)
        .await?)
}

/// Deletes a customer's tags and history (the customer was erased or merged away).
pub async fn delete_all<C: ConnectionTrait>(
    db: &C,
    merchant_id: &str,
    customer_id: &str,
) -> Result<(), ProfilingError> {
    customer_tags::Entity::delete_many()
        .filter(customer_tags::Column::MerchantId.eq(merchant_id))
        .filter(customer_tags::Column::CustomerId.eq(customer_id))
        .exec(db)
        .await?;
    tag_history::Entity::delete_many()
        .filter(tag_history::Column::MerchantId.eq(merchant_id))
        .filter(tag_history::Column::CustomerId.eq(customer_id))
        .exec(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use caravan_store::sea_orm::EntityTrait;

    use super::*;

    fn tag(merchant: &str, customer: &str, tag_id: &str) -> customer_tags::Model {
        customer_tags::Model {
            merchant_id: merchant.to_owned(),
            customer_id: customer.to_owned(),
            tag_id: tag_id.to_owned(),
            tag_key: "k".to_owned(),
            value: tag_id.to_owned(),
            source: "RULE".to_owned(),
            confidence: 0.5,
            evidence_count: 1,
            producer: Some("rule.k".to_owned()),
            note: None,
            first_seen: UtcDateTime::now(),
            last_seen: UtcDateTime::now(),
        }
    }

    #[tokio::test]
    async fn stale_tags_of_several_customers_go_in_one_statement_and_nothing_else() {
        let db = caravan_store::testing::sqlite_memory().await.expect("db");
        let all = [
            tag("acme", "c1", "a"),
            tag("acme", "c1", "b"),
            tag("acme", "c2", "a"),
            tag("acme", "c2", "b"),
            tag("other", "c1", "a"),
            // A person took this one over after the consumer read it as stale.
            customer_tags::Model {
                source: "MANUAL".to_owned(),
                ..tag("acme", "c3", "a")
            },
        ];
        customer_tags::Entity::insert_many(
            all.iter().cloned().map(customer_tags::ActiveModel::from),
        )
        .exec_without_returning(&db)
        .await
        .expect("insert");
        // c1's "a" and c2's "b": not c1's "b", c2's "a" or another merchant's c1 "a".
        let stale = [
            tag("acme", "c1", "a"),
            tag("acme", "c2", "b"),
            tag("acme", "c3", "a"),
        ];
        delete_rows(&db, "acme", &stale).await.expect("delete");
        delete_rows(&db, "acme", &[])
            .await
            .expect("nothing to delete");
        let mut left: Vec<(String, String, String)> = customer_tags::Entity::find()
            .all(&db)
            .await
            .expect("read")
            .into_iter()
            .map(|t| (t.merchant_id, t.customer_id, t.tag_id))
            .collect();
        left.sort();
        let owned = |m: &str, c: &str, t: &str| (m.to_owned(), c.to_owned(), t.to_owned());
        assert_eq!(
            left,
            [
                owned("acme", "c1", "b"),
                owned("acme", "c2", "a"),
                owned("acme", "c3", "a"),
                owned("other", "c1", "a")
            ]
        );
    }
}
