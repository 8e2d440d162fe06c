//! The failed-event store: events rejected as invalid, kept with their reasons so that an
//! operator can see what a merchant's systems send wrong and replay the events once the
//! cause is fixed (Snowplow's "bad rows"). One row per distinct event and merchant: the same
//! event rejected again (re-sent, or replayed) counts one more attempt on its row.
//!
//! The event and its reasons are sealed together (`caravan_store::pii`): a rejected event
//! holds whatever the caller sent. Rows expire `ingestion.failed_event_retention_seconds`
//! after their last rejection; reads never return expired rows, and [`purge_expired`]
//! deletes them.

use caravan_proto::caravan::ingestion::v1 as pb;
use caravan_store::UtcDateTime;
use caravan_store::entity::failed_events;
use caravan_store::pii;
use caravan_store::sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict};
use caravan_store::sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use chrono::Duration;
use prost::Message;

use crate::error::IngestionError;
use crate::event_rules::{check_event_id, customer_id_ref};
use crate::identity_rules::IdentityHasher;

/// Rows per multi-row upsert.
const UPSERT_CHUNK: usize = 500;

/// A rejected event to keep: the event as checked and why it was rejected.
pub struct Rejection {
    pub event: pb::Event,
    pub violations: Vec<pb::FieldViolation>,
}

/// A kept failed event, opened.
pub struct Kept {
    pub id: i64,
    pub event: pb::Event,
    pub violations: Vec<pb::FieldViolation>,
    pub attempt_count: i32,
    pub first_failed_at: UtcDateTime,
    pub last_failed_at: UtcDateTime,
}

/// Where to continue a listing: after the row with this last failure and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListCursor {
    pub last_failed_at: UtcDateTime,
    pub id: i64,
}

/// Keeps `rejected` events of `merchant_id`, or counts one more attempt for those kept
/// already (with their latest reasons).
pub async fn keep<C: ConnectionTrait>(
    db: &C,
    hasher: &IdentityHasher,
    merchant_id: &str,
    rejected: Vec<Rejection>,
) -> Result<(), IngestionError> {
    let now = UtcDateTime::now();
    let rows: Vec<failed_events::ActiveModel> = rejected
        .into_iter()
        .map(|r| new_row(hasher, merchant_id, r, now))
        .collect();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows.by_ref().take(UPSERT_CHUNK).collect();
        failed_events::Entity::insert_many(chunk)
            .on_conflict(
                OnConflict::columns([
                    failed_events::Column::MerchantId,
                    failed_events::Column::Fingerprint,
                ])
                .update_columns([
                    failed_events::Column::Record,
                    failed_events::Column::LastFailedAt,
                ])
                .value(
                    failed_events::Column::AttemptCount,
                    Expr::col(failed_events::Column::AttemptCount).add(1),
                )
                .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

fn new_row(
    hasher: &IdentityHasher,
    merchant_id: &str,
    rejection: Rejection,
    now: UtcDateTime,
) -> failed_events::ActiveModel {
    let event_id = check_event_id(&rejection.event.event_id)
        .ok()
        .map(|()| rejection.event.event_id.clone());
    let customer_id = customer_id_ref(&rejection.event.customer, merchant_id).ok();
    // The reasons are not part of the fingerprint: the same event rejected for a new reason
    // (after a change of the checks) is still the same event.
    let fingerprint = hasher.failed_event(merchant_id, &rejection.event.encode_to_vec());
    let record = pb::FailedEvent {
        event: Some(rejection.event),
        field_violations: rejection.violations,
        ..Default::default()
    };
    failed_events::ActiveModel {
        merchant_id: Set(merchant_id.to_owned()),
        fingerprint: Set(fingerprint),
        event_id: Set(event_id),
        customer_id: Set(customer_id),
        record: Set(pii::seal_failed_event(merchant_id, &record.encode_to_vec())),
        attempt_count: Set(1),
        first_failed_at: Set(now),
        last_failed_at: Set(now),
        ..Default::default()
    }
}

/// The oldest last failure a kept row may have.
fn cutoff(retention: Duration) -> UtcDateTime {
    UtcDateTime::new(UtcDateTime::now().get() - retention)
}

/// A page of `merchant_id`'s failed events, most recent failure first, and whether more
/// follow.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    merchant_id: &str,
    retention: Duration,
    after: Option<ListCursor>,
    size: u64,
) -> Result<(Vec<Kept>, bool), IngestionError> {
    let mut query = failed_events::Entity::find()
        .filter(failed_events::Column::MerchantId.eq(merchant_id))
        .filter(failed_events::Column::LastFailedAt.gte(cutoff(retention)));
    if let Some(c) = after {
        query = query.filter(
            Condition::any()
                .add(failed_events::Column::LastFailedAt.lt(c.last_failed_at))
                .add(
                    Condition::all()
                        .add(failed_events::Column::LastFailedAt.eq(c.last_failed_at))
                        .add(failed_events::Column::Id.lt(c.id)),
                ),
        );
    }
    let mut rows = query
        .order_by_desc(failed_events::Column::LastFailedAt)
        .order_by_desc(failed_events::Column::Id)
        .limit(size + 1)
        .all(db)
        .await?;
    let more = rows.len() as u64 > size;
    rows.truncate(usize::try_from(size).unwrap_or(usize::MAX));
    let kept = rows.into_iter().map(open).collect::<Result<_, _>>()?;
    Ok((kept, more))
}

/// The kept (unexpired) failed events of `merchant_id` among `ids`, in no particular order.
pub async fn get_many<C: ConnectionTrait>(
    db: &C,
    merchant_id: &str,
    retention: Duration,
    ids: &[i64],
) -> Result<Vec<Kept>, IngestionError> {
    let rows = failed_events::Entity::find()
        .filter(failed_events::Column::MerchantId.eq(merchant_id))
        .filter(failed_events::Column::Id.is_in(ids.iter().copied()))
        .filter(failed_events::Column::LastFailedAt.gte(cutoff(retention)))
        .all(db)
        .await?;
    rows.into_iter().map(open).collect()
}

/// The kept (unexpired) failed events that name one of `customer_ids`, oldest first.
pub async fn for_customers<C: ConnectionTrait>(
    db: &C,
    merchant_id: &str,
    retention: Duration,
    customer_ids: &[String],
) -> Result<Vec<Kept>, IngestionError> {
    let rows = failed_events::Entity::find()
        .filter(failed_events::Column::MerchantId.eq(merchant_id))
        .filter(failed_events::Column::CustomerId.is_in(customer_ids.iter().cloned()))
        .filter(failed_events::Column::LastFailedAt.gte(cutoff(retention)))
        .order_by_asc(failed_events::Column::Id)
        .all(db)
        .await?;
    rows.into_iter().map(open).collect()
}

/// Deletes `ids` of `merchant_id`; returns how many rows were deleted.
pub async fn delete<C: ConnectionTrait>(
    db: &C,
    merchant_id: &str,
    ids: &[i64],
) -> Result<u64, IngestionError> {
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(failed_events::Entity::delete_many()
        .filter(failed_events::Column::MerchantId.eq(merchant_id))
        .filter(failed_events::Column::Id.is_in(ids.iter().copied()))
        .exec(db)
        .await?
        .rows_affected)
}

/// Deletes failed event `id` of `merchant_id` unless it has expired; whether it was there.
pub async fn delete_kept<C: ConnectionTrait>(
    db: &C,
    merchant_id: &str,
    retention: Duration,
    id: i64,
) -> Result<bool, IngestionError> {
    Ok(failed_events::Entity::delete_many()
        .filter(failed_events::Column::MerchantId.eq(merchant_id))
        .filter(failed_events::Column::Id.eq(id))
        .filter(failed_events::Column::LastFailedAt.gte(cutoff(retention)))
        .exec(db)
        .await?
        .rows_affected
        > 0)
}

/// Deletes the failed events that name one of `customer_ids` (erasure).
pub async fn delete_for_customers<C: ConnectionTrait>(
    db: &C,
    merchant_id: &str,
    customer_ids: &[String],
) -> Result<u64, IngestionError> {
    Ok(failed_events::Entity::delete_many()
        .filter(failed_events::Column::MerchantId.eq(merchant_id))
        .filter(failed_events::Column::CustomerId.is_in(customer_ids.iter().cloned()))
        .exec(db)
        .await?
        .rows_affected)
}

/// Deletes every merchant's failed events whose last failure is older than `retention`.
pub async fn purge_expired<C: ConnectionTrait>(
    db: &C,
    retention: Duration,
) -> Result<u64, IngestionError> {
    Ok(failed_events::Entity::delete_many()
        .filter(failed_events::Column::LastFailedAt.lt(cutoff(retention)))
        .exec(db)
        .await?
        .rows_affected)
}

fn open(row: failed_events::Model) -> Result<Kept, IngestionError> {
    let plain = pii::open_failed_event(&row.merchant_id, &row.record).map_err(DbErr::from)?;
    let record = pb::FailedEvent::decode(plain.as_ref())
        .map_err(|e| DbErr::Custom(format!("failed event {} does not decode: {e}", row.id)))?;
    Ok(Kept {
        id: row.id,
        event: record.event.unwrap_or_default(),
        violations: record.field_violations,
        attempt_count: row.attempt_count,
        first_failed_at: row.first_failed_at,
        last_failed_at: row.last_failed_at,
    })
}
