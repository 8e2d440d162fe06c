//! Where a customer's data lives outside ingestion's own tables, and how it is removed:
//! the one map of derived customer data, used by the erasure of a customer (GDPR Art. 17)
//! inside ingestion's erasure transaction, so that the customer disappears from every table
//! at once or not at all. The erasure test scans every table of the catalogue for the
//! customer's ids after `DeleteCustomer`: a table missing here fails it.
//!
//! Also the tombstones (`erased_customers`) that keep an erased customer from coming back.

use std::collections::HashSet;

use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::UtcDateTime;
use crate::entity::{
    access_log, consumer_offsets, contact_log, customer_tags, erased_customers, identity_merges,
    outbox, profile_event_summaries, profiles, rebuild_jobs, rec_model_customers, rec_model_purges,
    rec_models, tag_history,
};
use crate::outbox_entries::{self, BATCH_KIND, OutboxEntry};

/// The outbox consumer whose offset tells which outbox rows are consumed.
const OUTBOX_CONSUMER: &str = "profiling";
/// Outbox rows read at a time while looking for an erased customer.
const OUTBOX_PAGE: u64 = 2_000;
/// Customer ids per `IN (...)` list.
const CHUNK: usize = 500;

/// What [`erase_derived`] removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DerivedErasure {
    /// Recommendation model versions dropped because they were trained on the customer.
    pub model_versions: Vec<i64>,
    /// Outbox rows rewritten or deleted.
    pub outbox_rows: u64,
}

/// Removes every row derived from the customers `ids` of `merchant_id`: identity merges,
/// profiles (with their value-model predictions) and event summaries, tags and tag history, marketing contacts,
/// the access log, mentions in rebuild jobs and in the outbox, and the recommendation model
/// versions trained on them (a serving one is recorded in `rec_model_purges` for
/// retraining). Run inside the erasure's transaction.
pub async fn erase_derived<C: ConnectionTrait>(
    txn: &C,
    merchant_id: &str,
    ids: &[String],
) -> Result<DerivedErasure, DbErr> {
    let mut report = DerivedErasure::default();
    for chunk in ids.chunks(CHUNK) {
        let list = || chunk.iter().cloned();
        identity_merges::Entity::delete_many()
            .filter(identity_merges::Column::MerchantId.eq(merchant_id))
            .filter(
                identity_merges::Column::SourceCustomerId
                    .is_in(list())
                    .or(identity_merges::Column::TargetCustomerId.is_in(list())),
            )
            .exec(txn)
            .await?;
        profiles::Entity::delete_many()
            .filter(profiles::Column::MerchantId.eq(merchant_id))
            .filter(profiles::Column::CustomerId.is_in(list()))
            .exec(txn)
            .await?;
        profile_event_summaries::Entity::delete_many()
            .filter(profile_event_summaries::Column::MerchantId.eq(merchant_id))
            .filter(profile_event_summaries::Column::CustomerId.is_in(list()))
            .exec(txn)
            .await?;
        customer_tags::Entity::delete_many()
            .filter(customer_tags::Column::MerchantId.eq(merchant_id))
            .filter(customer_tags::Column::CustomerId.is_in(list()))
            .exec(txn)
            .await?;
        tag_history::Entity::delete_many()
            .filter(tag_history::Column::MerchantId.eq(merchant_id))
            .filter(tag_history::Column::CustomerId.is_in(list()))
            .exec(txn)
            .await?;
        contact_log::Entity::delete_many()
            .filter(contact_log::Column::MerchantId.eq(merchant_id))
            .filter(contact_log::Column::CustomerId.is_in(list()))
            .exec(txn)
            .await?;
        access_log::Entity::delete_many()
            .filter(access_log::Column::MerchantId.eq(merchant_id))
            .filter(access_log::Column::CustomerId.is_in(list()))
            .exec(txn)
            .await?;
    }
    report.model_versions = drop_models(txn, merchant_id, ids).await?;
    report.outbox_rows = scrub_outbox(txn, merchant_id, ids).await?;
    scrub_rebuild_jobs(txn, merchant_id, ids).await?;
    Ok(report)
}

/// Drops the model versions trained on any of `ids`, and the versions whose customers were
/// never recorded (trained before `rec_model_customers` existed): they may hold anyone.
async fn drop_models<C: ConnectionTrait>(
    txn: &C,
    merchant_id: &str,
    ids: &[String],
) -> Result<Vec<i64>, DbErr> {
    let mut versions: HashSet<i64> = HashSet::new();
    for chunk in ids.chunks(CHUNK) {
        let found: Vec<i64> = rec_model_customers::Entity::find()
            .select_only()
            .column(rec_model_customers::Column::Version)
            .distinct()
            .filter(rec_model_customers::Column::MerchantId.eq(merchant_id))
            .filter(rec_model_customers::Column::CustomerId.is_in(chunk.iter().cloned()))
            .into_tuple()
            .all(txn)
            .await?;
        versions.extend(found);
    }
    let stored: Vec<(i64, String, Option<String>)> = rec_models::Entity::find()
        .select_only()
        .column(rec_models::Column::Version)
        .column(rec_models::Column::State)
        .column(rec_models::Column::TrainingJobId)
        .filter(rec_models::Column::MerchantId.eq(merchant_id))
        .into_tuple()
        .all(txn)
        .await?;
    let recorded: HashSet<i64> = rec_model_customers::Entity::find()
        .select_only()
        .column(rec_model_customers::Column::Version)
        .distinct()
        .filter(rec_model_customers::Column::MerchantId.eq(merchant_id))
        .into_tuple::<i64>()
        .all(txn)
        .await?
        .into_iter()
        .collect();
    let now = UtcDateTime::now();
    let mut dropped = Vec::new();
    for (version, state, job) in stored {
        if !versions.contains(&version) && recorded.contains(&version) {
            continue;
        }
        if state == "ACTIVE" {
            rec_model_purges::ActiveModel {
                merchant_id: Set(merchant_id.to_owned()),
                version: Set(version),
                training_job_id: Set(job),
                purged_at: Set(now),
                claimed_by: Set(None),
                claimed_at: Set(None),
            }
            .insert(txn)
            .await?;
        }
        rec_models::Entity::delete_many()
            .filter(rec_models::Column::MerchantId.eq(merchant_id))
            .filter(rec_models::Column::Version.eq(version))
            .exec(txn)
            .await?;
        rec_model_customers::Entity::delete_many()
            .filter(rec_model_customers::Column::MerchantId.eq(merchant_id))
            .filter(rec_model_customers::Column::Version.eq(version))
            .exec(txn)
            .await?;
        dropped.push(version);
    }
    dropped.sort_unstable();
    Ok(dropped)
}

/// Removes the customers from the outbox: rows the consumer has passed are deleted, later
/// ones are rewritten without them (deleting those would leave a gap the consumer waits on).
async fn scrub_outbox<C: ConnectionTrait>(
    txn: &C,
    merchant_id: &str,
    ids: &[String],
) -> Result<u64, DbErr> {
    let erased: HashSet<&str> = ids.iter().map(String::as_str).collect();
    let consumed = consumer_offsets::Entity::find_by_id(OUTBOX_CONSUMER)
        .one(txn)
        .await?
        .map_or(0, |o| o.last_seq);
    let mut after = 0i64;
    let mut changed = 0;
    loop {
        let page = outbox::Entity::find()
            .filter(outbox::Column::MerchantId.eq(merchant_id))
            .filter(outbox::Column::Seq.gt(after))
            .order_by_asc(outbox::Column::Seq)
            .limit(OUTBOX_PAGE)
            .all(txn)
            .await?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.seq;
        for row in page {
            if let Some(kept) = without_erased(&row, &erased) {
                if kept.is_empty() && row.seq <= consumed {
                    outbox::Entity::delete_by_id(row.seq).exec(txn).await?;
                } else {
                    rewrite_outbox_row(txn, row, kept).await?;
                }
                changed += 1;
            }
        }
    }
    Ok(changed)
}

/// The entries of `row` that do not belong to an erased customer, or `None` when the row
/// does not mention one.
fn without_erased(row: &outbox::Model, erased: &HashSet<&str>) -> Option<Vec<OutboxEntry>> {
    let named = erased.contains(row.customer_id.as_str());
    match &row.entries {
        Some(bytes) => {
            let entries = outbox_entries::decode(bytes)?;
            let mentions = named
                || entries
                    .iter()
                    .any(|e| erased.contains(e.customer_id.as_str()));
            mentions.then(|| {
                entries
                    .into_iter()
                    .filter(|e| !erased.contains(e.customer_id.as_str()))
                    .collect()
            })
        }
        None => named.then(Vec::new),
    }
}

/// Makes `row` list `kept` only (a batch of none when nothing is left).
async fn rewrite_outbox_row<C: ConnectionTrait>(
    txn: &C,
    row: outbox::Model,
    kept: Vec<OutboxEntry>,
) -> Result<(), DbErr> {
    let (event_id, customer_id) = kept
        .first()
        .map(|e| (e.event_id.clone(), e.customer_id.clone()))
        .unwrap_or_default();
    let count = i32::try_from(kept.len()).unwrap_or(i32::MAX);
    let mut active = row.into_active_model();
    active.kind = Set(BATCH_KIND.to_owned());
    active.event_id = Set(event_id);
    active.customer_id = Set(customer_id);
    active.entry_count = Set(count);
    active.entries = Set(Some(outbox_entries::encode(kept)));
    active.update(txn).await.map(|_| ())
}

/// Removes the customers' resource names from the options of rebuild jobs.
async fn scrub_rebuild_jobs<C: ConnectionTrait>(
    txn: &C,
    merchant_id: &str,
    ids: &[String],
) -> Result<(), DbErr> {
    let names: HashSet<String> = ids
        .iter()
        .map(|id| format!("merchants/{merchant_id}/customers/{id}"))
        .collect();
    let jobs = rebuild_jobs::Entity::find()
        .filter(rebuild_jobs::Column::MerchantId.eq(merchant_id))
        .filter(rebuild_jobs::Column::Options.is_not_null())
        .all(txn)
        .await?;
    for job in jobs {
        let Some(mut options) = job.options.clone() else {
            continue;
        };
        if remove_strings(&mut options, &names) {
            let mut active = job.into_active_model();
            active.options = Set(Some(options));
            active.update(txn).await?;
        }
    }
    Ok(())
}

/// Removes the strings in `names` from every array inside `value`; whether any was removed.
fn remove_strings(value: &mut serde_json::Value, names: &HashSet<String>) -> bool {
    match value {
        serde_json::Value::Array(items) => {
            let before = items.len();
            items.retain(|v| !v.as_str().is_some_and(|s| names.contains(s)));
            let mut changed = items.len() != before;
            for item in items.iter_mut() {
                changed |= remove_strings(item, names);
            }
            changed
        }
        serde_json::Value::Object(map) => map
            .values_mut()
            .fold(false, |c, v| remove_strings(v, names) | c),
        _ => false,
    }
}

/// Records tombstones (keyed hashes of erased customer ids).
pub async fn add_tombstones<C: ConnectionTrait>(
    txn: &C,
    merchant_id: &str,
    hashes: &[String],
    erased_by: &str,
) -> Result<(), DbErr> {
    let now = UtcDateTime::now();
    for hash in hashes {
        erased_customers::ActiveModel {
            merchant_id: Set(merchant_id.to_owned()),
            customer_hash: Set(hash.clone()),
            erased_at: Set(now),
            erased_by: Set(erased_by.to_owned()),
            ..Default::default()
        }
        .insert(txn)
        .await?;
    }
    Ok(())
}

/// Which of `hashes` belong to erased customers of `merchant_id`.
pub async fn erased_among<C: ConnectionTrait>(
    db: &C,
    merchant_id: &str,
    hashes: &[String],
) -> Result<HashSet<String>, DbErr> {
    let mut found = HashSet::new();
    for chunk in hashes.chunks(CHUNK) {
        let rows: Vec<String> = erased_customers::Entity::find()
            .select_only()
            .column(erased_customers::Column::CustomerHash)
            .filter(erased_customers::Column::MerchantId.eq(merchant_id))
            .filter(erased_customers::Column::CustomerHash.is_in(chunk.iter().cloned()))
            .into_tuple()
            .all(db)
            .await?;
        found.extend(rows);
    }
    Ok(found)
}

/// The newest erasure's sequence number (0 before any).
pub async fn last_erasure<C: ConnectionTrait>(db: &C) -> Result<i64, DbErr> {
    let max: Option<Option<i64>> = erased_customers::Entity::find()
        .select_only()
        .expr(Expr::col(erased_customers::Column::Seq).max())
        .into_tuple()
        .one(db)
        .await?;
    Ok(max.flatten().unwrap_or(0))
}

/// Erasures after `seq`, oldest first: `(seq, merchant_id)`.
pub async fn erasures_after<C: ConnectionTrait>(
    db: &C,
    seq: i64,
) -> Result<Vec<(i64, String)>, DbErr> {
    erased_customers::Entity::find()
        .select_only()
        .column(erased_customers::Column::Seq)
        .column(erased_customers::Column::MerchantId)
        .filter(erased_customers::Column::Seq.gt(seq))
        .order_by_asc(erased_customers::Column::Seq)
        .into_tuple()
        .all(db)
        .await
}

/// Whether `merchant_id` had an erasure after `seq`.
pub async fn erased_since<C: ConnectionTrait>(
    db: &C,
    merchant_id: &str,
    seq: i64,
) -> Result<bool, DbErr> {
    Ok(erased_customers::Entity::find()
        .select_only()
        .column(erased_customers::Column::Seq)
        .filter(erased_customers::Column::MerchantId.eq(merchant_id))
        .filter(erased_customers::Column::Seq.gt(seq))
        .into_tuple::<i64>()
        .one(db)
        .await?
        .is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_removed_from_nested_json_arrays_only() {
        let names: HashSet<String> = ["merchants/m/customers/a".to_owned()].into();
        let mut value = serde_json::json!({
            "customers": ["merchants/m/customers/a", "merchants/m/customers/b"],
            "full": false,
            "note": "merchants/m/customers/a"
        });
        assert!(remove_strings(&mut value, &names));
        assert_eq!(
            value["customers"],
            serde_json::json!(["merchants/m/customers/b"])
        );
        assert_eq!(
            value["note"], "merchants/m/customers/a",
            "only array items are ids"
        );
        assert!(!remove_strings(&mut value, &names));
    }

    fn row(customer: &str, entries: Option<Vec<(&str, &str)>>) -> outbox::Model {
        outbox::Model {
            seq: 1,
            merchant_id: "m".into(),
            event_id: "e".into(),
            customer_id: customer.into(),
            kind: "k".into(),
            created_at: UtcDateTime::now(),
            trace_parent: None,
            entry_count: 1,
            entries: entries.map(|list| {
                outbox_entries::encode(
                    list.into_iter()
                        .map(|(e, c)| OutboxEntry {
                            event_id: e.into(),
                            customer_id: c.into(),
                            kind: "order".into(),
                        })
                        .collect(),
                )
            }),
        }
    }

    #[test]
    fn outbox_rows_keep_the_entries_of_other_customers() {
        let erased: HashSet<&str> = ["a"].into();
        assert_eq!(
            without_erased(&row("b", Some(vec![("e1", "b")])), &erased),
            None
        );
        let kept = without_erased(&row("a", Some(vec![("e1", "a"), ("e2", "b")])), &erased)
            .expect("mentions a");
        assert_eq!(
            kept.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>(),
            ["e2"]
        );
        assert_eq!(without_erased(&row("a", None), &erased), Some(Vec::new()));
        assert_eq!(without_erased(&row("b", None), &erased), None);
    }
}
