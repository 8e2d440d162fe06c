//! A customer profile: per-dimension detail in `dimensions` (JSON), plus the fields
//! that filters and analytics use as indexed columns. Money is minor units in `currency`
//! (the merchant base currency). `version` increments on every write.

use sea_orm::entity::prelude::*;

use crate::UtcDateTime;

/// A row of `profiles`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "profiles")]
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
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub kind: String,
    #[sea_orm(column_type = "Char(Some(2))")]
    pub country: Option<String>,
    /// Per-dimension data and completeness.
    pub dimensions: Json,
    /// Overall completeness 0..=1.
    pub completeness: f64,
    pub rfm_recency: Option<i16>,
    pub rfm_frequency: Option<i16>,
    pub rfm_monetary: Option<i16>,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub rfm_segment: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub decision_stage: Option<String>,
    pub stage_evidence: Option<Json>,
    pub p_alive: Option<f64>,
    pub expected_purchases: Option<f64>,
    pub expected_spend_minor: Option<i64>,
    pub clv_minor: Option<i64>,
    #[sea_orm(column_type = "Char(Some(3))")]
    pub currency: Option<String>,
    pub version: i64,
    pub updated_at: UtcDateTime,
    /// Social influence before ranking among the merchant's customers (see profiling).
    pub influence_raw: Option<f64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
