//! A marketing strategy with its cost model: `fixed_cost_minor` per contact (in
//! `cost_currency`) plus `variable_cost_share` of the order value.

use sea_orm::entity::prelude::*;

use crate::UtcDateTime;

/// A row of `strategies`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "strategies")]
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
    pub id: String,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub display_name: String,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub kind: String,
    /// Kind-specific parameters (percent, amount, min spend, days saved, ...).
    pub params: Json,
    pub fixed_cost_minor: i64,
    pub variable_cost_share: f64,
    #[sea_orm(column_type = "Char(Some(3))")]
    pub cost_currency: String,
    /// Segments, countries, required consent channel, min CLV.
    pub eligibility: Json,
    pub frequency_cap_max: Option<i32>,
    pub frequency_cap_period_seconds: Option<i64>,
    /// ACTIVE or ARCHIVED.
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub state: String,
    pub created_at: UtcDateTime,
    pub updated_at: UtcDateTime,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
