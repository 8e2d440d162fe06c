//! Erasure of a customer (DeleteCustomer, GDPR Art. 17) in one transaction: the customer and
//! the customers merged into it disappear from every table at once, or the erasure fails
//! and nothing changes. Ingestion's own tables are handled here; the rows other services
//! derived are removed by `caravan_store::erasure`, in the same transaction. A tombstone
//! (keyed hash of each id) then refuses later events and upserts for them.

use caravan_proto::caravan::ingestion::v1::event::Payload;
use caravan_proto::stored_event::{decode_payload, encode_payload};
use caravan_store::entity::{
    customer_contacts, customer_identifiers, customers, events, order_lines, orders,
};
use caravan_store::erasure::{self, DerivedErasure};
use caravan_store::pii;
use caravan_store::sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait,
};

use crate::customer_store;
use crate::error::IngestionError;
use crate::failed_event_store;
use crate::identity_rules::IdentityHasher;
use crate::merchant_store;

/// Ids per `IN (...)` list.
const CHUNK: usize = 1000;
/// Social-action events read at a time while looking for referrals of an erased customer.
const EVENT_PAGE: u64 = 2_000;

/// What an erasure removed.
#[derive(Debug)]
pub struct Erasure {
    /// The erased customer ids: the one named and those merged into it.
    pub customers: Vec<String>,
    pub events: u64,
    pub referrals_scrubbed: u64,
    pub derived: DerivedErasure,
}

/// Erases customer `id` of `merchant_id` and every customer merged into it (the same
/// person's duplicate records), everywhere, and leaves their tombstones.
pub async fn erase(
    db: &DatabaseConnection,
    hasher: &IdentityHasher,
    merchant_id: &str,
    id: &str,
    erased_by: &str,
) -> Result<Erasure, IngestionError> {
    let txn = db.begin().await?;
    // First: waits for in-flight batches of the merchant (they hold a shared lock on its
    // row) and makes every replica forget the customers it remembers.
    merchant_store::bump_identity_version(&txn, merchant_id).await?;
    customer_store::get(&txn, merchant_id, id).await?;
    // Merges point straight at the final target, so one level finds every duplicate.
    let mut ids: Vec<String> = customers::Entity::find()
        .select_only()
        .column(customers::Column::Id)
        .filter(customers::Column::MerchantId.eq(merchant_id))
        .filter(customers::Column::MergedInto.eq(id))
        .into_tuple()
        .all(&txn)
        .await?;
    ids.push(id.to_owned());
    let mut events = 0;
    for chunk in ids.chunks(CHUNK) {
        events += erase_rows(&txn, merchant_id, chunk).await?;
    }
    failed_event_store::delete_for_customers(&txn, merchant_id, &ids).await?;
    let referrals_scrubbed = scrub_referrals(&txn, merchant_id, &ids).await?;
    let derived = erasure::erase_derived(&txn, merchant_id, &ids).await?;
    let tombstones: Vec<String> = ids
        .iter()
        .map(|c| hasher.erased_customer(merchant_id, c))
        .collect();
    erasure::add_tombstones(&txn, merchant_id, &tombstones, erased_by).await?;
    txn.commit().await?;
    Ok(Erasure {
        customers: ids,
        events,
        referrals_scrubbed,
        derived,
    })
}

/// Whether customer `id` of `merchant_id` was erased.
pub async fn is_erased<C: ConnectionTrait>(
    db: &C,
    hasher: &IdentityHasher,
    merchant_id: &str,
    id: &str,
) -> Result<bool, IngestionError> {
    let hash = hasher.erased_customer(merchant_id, id);
    Ok(!erasure::erased_among(db, merchant_id, &[hash])
        .await?
        .is_empty())
}

/// Deletes the customers' events, orders (with their lines), contacts, identifiers and
/// rows; returns the events deleted.
async fn erase_rows<C: ConnectionTrait>(
    txn: &C,
    merchant_id: &str,
    ids: &[String],
) -> Result<u64, IngestionError> {
    let events_deleted = events::Entity::delete_many()
        .filter(events::Column::MerchantId.eq(merchant_id))
        .filter(events::Column::CustomerId.is_in(ids.iter().cloned()))
        .exec(txn)
        .await?
        .rows_affected;
    let order_ids: Vec<String> = orders::Entity::find()
        .select_only()
        .column(orders::Column::OrderId)
        .filter(orders::Column::MerchantId.eq(merchant_id))
        .filter(orders::Column::CustomerId.is_in(ids.iter().cloned()))
        .into_tuple()
        .all(txn)
        .await?;
    for chunk in order_ids.chunks(CHUNK) {
        order_lines::Entity::delete_many()
            .filter(order_lines::Column::MerchantId.eq(merchant_id))
            .filter(order_lines::Column::OrderId.is_in(chunk.iter().cloned()))
            .exec(txn)
            .await?;
    }
    orders::Entity::delete_many()
        .filter(orders::Column::MerchantId.eq(merchant_id))
        .filter(orders::Column::CustomerId.is_in(ids.iter().cloned()))
        .exec(txn)
        .await?;
    customer_contacts::Entity::delete_many()
        .filter(customer_contacts::Column::MerchantId.eq(merchant_id))
        .filter(customer_contacts::Column::CustomerId.is_in(ids.iter().cloned()))
        .exec(txn)
        .await?;
    customer_identifiers::Entity::delete_many()
        .filter(customer_identifiers::Column::MerchantId.eq(merchant_id))
        .filter(customer_identifiers::Column::CustomerId.is_in(ids.iter().cloned()))
        .exec(txn)
        .await?;
    customers::Entity::delete_many()
        .filter(customers::Column::MerchantId.eq(merchant_id))
        .filter(customers::Column::Id.is_in(ids.iter().cloned()))
        .exec(txn)
        .await?;
    Ok(events_deleted)
}

/// Other customers' social actions that name an erased customer as the one they referred
/// keep the action but lose the name.
async fn scrub_referrals<C: ConnectionTrait>(
    txn: &C,
    merchant_id: &str,
    ids: &[String],
) -> Result<u64, IngestionError> {
    let names: std::collections::HashSet<String> = ids
        .iter()
        .map(|id| customer_store::customer_name(merchant_id, id))
        .collect();
    let mut after = 0i64;
    let mut scrubbed = 0;
    loop {
        let page: Vec<(i64, Vec<u8>)> = events::Entity::find()
            .select_only()
            .column(events::Column::Id)
            .column(events::Column::Payload)
            .filter(events::Column::MerchantId.eq(merchant_id))
            .filter(events::Column::Kind.eq("social_action"))
            .filter(events::Column::Id.gt(after))
            .order_by_asc(events::Column::Id)
            .limit(EVENT_PAGE)
            .into_tuple()
            .all(txn)
            .await?;
        let Some(&(last, _)) = page.last() else {
            break;
        };
        after = last;
        for (row_id, stored) in page {
            let opened = pii::open_event_payload(merchant_id, &stored)
                .map_err(caravan_store::sea_orm::DbErr::from)?;
            let Some(Payload::SocialAction(mut action)) = decode_payload(&opened) else {
                continue;
            };
            if !names.contains(&action.referred_customer) {
                continue;
            }
            action.referred_customer.clear();
            events::ActiveModel {
                id: Set(row_id),
                payload: Set(pii::seal_event_payload(
                    merchant_id,
                    &encode_payload(&Payload::SocialAction(action)),
                )),
                ..Default::default()
            }
            .update(txn)
            .await?;
            scrubbed += 1;
        }
    }
    Ok(scrubbed)
}
