//! A tag ("label") on a customer. One row per (customer, tag id); the tag id is derived
//! from key and value, so a key may carry several values. Confidence and evidence grow as
//! rules see more support ("labels get thicker").

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
        column_type = "String(StringLen::N(128))"
    )]
    pub tag_id: String,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub tag_key: String,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub value: String,
    /// RULE, MODEL, MANUAL, IMPORT.
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub source: String,
    pub confidence: f64,
    pub evidence_count: i32,
    /// The rule or model that produced the tag.
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub producer: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub note: Option<String>,
    pub first_seen: UtcDateTime,
    pub last_seen: UtcDateTime,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
