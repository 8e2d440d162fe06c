//! A line of an order (numbered from 0 or 1 by the writer; unique per order).

use sea_orm::entity::prelude::*;

/// A row of `order_lines`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "order_lines")]
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
    #[sea_orm(primary_key, auto_increment = false)]
    pub line_no: i32,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub sku: String,
    pub quantity: i32,
    /// In the order currency.
    pub unit_price_minor: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Foreign key with `ON DELETE CASCADE`, as in the migration.
    #[sea_orm(
        belongs_to = "super::orders::Entity",
        from = "(Column::MerchantId, Column::OrderId)",
        to = "(super::orders::Column::MerchantId, super::orders::Column::OrderId)",
        on_update = "Cascade",
        on_delete = "Cascade"
    )]
    Order,
}

impl Related<super::orders::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Order.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
