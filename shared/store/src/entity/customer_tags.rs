//! A tag on a customer; one value per `(merchant_id, customer_id, tag_key)`.

use sea_orm::entity::prelude::*;

use crate::UtcDateTime;

/// A row of `customer_tags`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "customer_tags")]
pub struct Model {
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(64))"
    )]
    pub merchant_id: String,
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(64))"
    )]
    pub customer_id: String,
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(64))"
    )]
    pub tag_key: String,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub value: String,
    /// RULE, MODEL, MANUAL, IMPORT.
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub source: String,
    pub confidence: f64,
    pub evidence_count: i32,
    pub first_seen: UtcDateTime,
    pub last_seen: UtcDateTime,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
