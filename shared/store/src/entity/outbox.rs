//! Transactional outbox, written with each event in the same transaction.
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
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
