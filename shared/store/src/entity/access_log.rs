//! One reveal of a customer's personal data, or one export: who, when, which RPC.

use sea_orm::entity::prelude::*;

use crate::UtcDateTime;

/// A row of `access_log`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "access_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub merchant_id: String,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub customer_id: String,
    /// The key's id, or `local` when authentication is off.
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub key_id: String,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub rpc: String,
    /// REVEAL_PII or EXPORT.
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub action: String,
    pub occurred_at: UtcDateTime,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
