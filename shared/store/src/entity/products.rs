//! A product; its id is the SKU. Prices are minor units in `currency`.

use sea_orm::entity::prelude::*;

use crate::UtcDateTime;

/// A row of `products`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "products")]
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
    pub sku: String,
    #[sea_orm(column_type = "String(StringLen::N(512))")]
    pub title: String,
    /// e.g. `Home > Kitchen > Mugs`.
    #[sea_orm(column_type = "String(StringLen::N(512))")]
    pub category_path: String,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub brand: Option<String>,
    pub price_minor: i64,
    #[sea_orm(column_type = "Char(Some(3))")]
    pub currency: String,
    /// Comma-separated ISO alpha-2 codes; empty = ships everywhere.
    #[sea_orm(column_type = "Text")]
    pub ship_to_countries: String,
    pub stock: i32,
    /// Consumables that can be recommended again.
    pub replenishable: bool,
    pub active: bool,
    pub created_at: UtcDateTime,
    pub updated_at: UtcDateTime,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
