//! A tombstone: a customer that was erased, known only by a keyed hash of its id (no
//! personal data), so that later events and upserts for it are refused.

use sea_orm::entity::prelude::*;

use crate::UtcDateTime;

/// A row of `erased_customers`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "erased_customers")]
pub struct Model {
    /// Grows with every erasure: replicas poll for erasures after the last one they saw.
    #[sea_orm(primary_key)]
    pub seq: i64,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub merchant_id: String,
    /// HMAC-SHA256 (identity-hash key) of the customer id, hex.
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub customer_hash: String,
    pub erased_at: UtcDateTime,
    /// The key that erased it (`apiKeys/…` id), or `local`.
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub erased_by: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
