//! A stored event (append-only). `(merchant_id, event_id)` is unique: the caller's
//! idempotency key. `id` is a storage-order surrogate key.

use sea_orm::entity::prelude::*;

use crate::UtcDateTime;

/// A row of `events`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub merchant_id: String,
    /// Caller-supplied idempotency key.
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub event_id: String,
    /// The resolved customer.
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub customer_id: String,
    /// Payload kind, e.g. `page_view`, `order`.
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub kind: String,
    pub occur_time: UtcDateTime,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub session_id: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub source: Option<String>,
    /// The kind-specific payload: a format byte and protobuf
    /// (`caravan_proto::stored_event`).
    #[sea_orm(column_type = "Blob")]
    pub payload: Vec<u8>,
    pub ingested_at: UtcDateTime,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
