//! A fitted customer-value model (BG/NBD, Pareto/NBD, Gamma-Gamma).

use sea_orm::entity::prelude::*;

use crate::UtcDateTime;

/// A row of `value_models`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "value_models")]
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
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub kind: String,
    pub params: Json,
    pub log_likelihood: Option<f64>,
    pub calibration_end: Date,
    pub holdout_end: Option<Date>,
    pub created_at: UtcDateTime,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
