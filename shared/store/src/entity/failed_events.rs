//! A failed event: one that ingestion rejected as invalid, kept with its reasons until the
//! retention period after its last failure ends. The event and its reasons are sealed
//! together in `record` (`crate::pii::seal_failed_event`): a rejected event can hold
//! anything a caller sent, personal data included.

use sea_orm::entity::prelude::*;

use crate::UtcDateTime;

/// A row of `failed_events`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "failed_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub merchant_id: String,
    /// Keyed hash (identity-hash key) of the event's encoding: the same event rejected
    /// again finds its row.
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub fingerprint: String,
    /// The event's id, when it has a valid one.
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub event_id: Option<String>,
    /// The customer id the event names, when it names a valid one (erasure deletes by it).
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub customer_id: Option<String>,
    /// The sealed encoding of the event with its field violations.
    #[sea_orm(column_type = "Blob")]
    pub record: Vec<u8>,
    pub attempt_count: i32,
    pub first_failed_at: UtcDateTime,
    pub last_failed_at: UtcDateTime,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
