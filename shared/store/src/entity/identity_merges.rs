//! Audit of identity merges: `source_customer_id` was merged into `target_customer_id`.

use sea_orm::entity::prelude::*;

use crate::UtcDateTime;

/// A row of `identity_merges`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "identity_merges")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub merchant_id: String,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub source_customer_id: String,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub target_customer_id: String,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub reason: String,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub actor: String,
    pub merged_at: UtcDateTime,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
