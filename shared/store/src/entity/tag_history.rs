//! One change of a customer's tags (added, reinforced, confidence changed, removed).

use sea_orm::entity::prelude::*;

use crate::UtcDateTime;

/// A row of `tag_history`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tag_history")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub merchant_id: String,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub customer_id: String,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub tag_id: String,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub tag_key: String,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub value: String,
    /// ADDED, REINFORCED, CONFIDENCE_CHANGED, REMOVED.
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub action: String,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub source: String,
    pub confidence: f64,
    pub evidence_count: i32,
    #[sea_orm(column_type = "Text")]
    pub reason: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub actor: Option<String>,
    pub occurred_at: UtcDateTime,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
