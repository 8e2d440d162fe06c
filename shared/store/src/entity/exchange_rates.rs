//! Exchange rate from `currency` to the merchant's base currency, effective from
//! `effective_date` (an order uses the latest rate on or before its date).

use sea_orm::entity::prelude::*;

use crate::UtcDateTime;

/// A row of `exchange_rates`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "exchange_rates")]
pub struct Model {
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(64))"
    )]
    pub merchant_id: String,
    #[sea_orm(primary_key, auto_increment = false, column_type = "Char(Some(3))")]
    pub currency: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub effective_date: Date,
    /// Exact decimal string: base units per one unit of `currency`.
    #[sea_orm(column_type = "String(StringLen::N(40))")]
    pub rate: String,
    pub created_at: UtcDateTime,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
