//! Denormalised order facts (latest state of each order) for analytics.
//!
//! Amounts are minor units in `currency` (shipping cost too); `base_total_minor` is the total in
//! the merchant base currency at the rate of the order date, null until a rate is known.

use sea_orm::entity::prelude::*;

use crate::UtcDateTime;

/// A row of `orders`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "orders")]
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
        column_type = "String(StringLen::N(128))"
    )]
    pub order_id: String,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub customer_id: String,
    /// PLACED, PAID, SHIPPED, DELIVERED, CANCELLED, RETURNED.
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub status: String,
    pub total_minor: i64,
    #[sea_orm(column_type = "Char(Some(3))")]
    pub currency: String,
    pub base_total_minor: Option<i64>,
    #[sea_orm(column_type = "Char(Some(3))")]
    pub base_currency: Option<String>,
    pub discount_minor: Option<i64>,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub coupon_code: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub payment_method: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub payment_outcome: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub carrier: Option<String>,
    pub promised_days: Option<i32>,
    pub actual_days: Option<i32>,
    pub shipping_cost_minor: Option<i64>,
    pub tracking_offered: Option<bool>,
    #[sea_orm(column_type = "Char(Some(2))")]
    pub destination_country: Option<String>,
    pub placed_at: UtcDateTime,
    pub updated_at: UtcDateTime,
    /// A cancellation document of its own (status CANCELLED) that does not name the order it
    /// reverses; netted against the customer's earlier orders of the same products.
    pub credit_note: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::order_lines::Entity")]
    Lines,
}

impl Related<super::order_lines::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Lines.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
