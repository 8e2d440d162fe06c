//! History of tag changes (set, updated, removed).

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
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub tag_key: String,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub action: String,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub old_value: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub new_value: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub source: String,
    pub confidence: Option<f64>,
    pub occurred_at: UtcDateTime,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
