//! Transactional outbox, written with each batch of events in the same transaction (one
//! row listing the batch's events), and with each merge and erasure.
//!
//! Consumers read `seq > last_seq` in order. Note: on MySQL auto-increment values are
//! allocated at insert time, so a row with a smaller `seq` can become visible after a larger
//! one (concurrent transactions); consumers should re-read a small window or tolerate it.

use sea_orm::entity::prelude::*;

use crate::UtcDateTime;

/// A row of `outbox`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub seq: i64,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub merchant_id: String,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub event_id: String,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub customer_id: String,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub kind: String,
    pub created_at: UtcDateTime,
    /// How many events the row stands for: the length of `entries`, or 1.
    pub entry_count: i32,
    /// For `kind` = `event_batch`: the batch's events (`crate::outbox_entries`); `event_id`
    /// and `customer_id` are then those of its first event.
    #[sea_orm(column_type = "Blob")]
    pub entries: Option<Vec<u8>>,
    /// W3C `traceparent` of the call that wrote the row: the profile update continues it.
    #[sea_orm(column_type = "String(StringLen::N(64))", nullable)]
    pub trace_parent: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
