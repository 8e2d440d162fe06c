//! A customer-value model (BG/NBD or Pareto/NBD, optionally Gamma-Gamma) of one merchant.
//!
//! `params` holds the fitted parameters, holdout metrics and fit settings as JSON (profiling
//! owns its shape). At most one model per merchant has `is_current` set.

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
    /// Frequency model: BG_NBD, PARETO_NBD.
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub kind: String,
    /// FITTING, READY, FAILED.
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub state: String,
    pub is_current: bool,
    pub params: Json,
    pub log_likelihood: Option<f64>,
    pub calibration_end: Date,
    pub holdout_end: Option<Date>,
    #[sea_orm(column_type = "Text")]
    pub error_message: Option<String>,
    pub created_at: UtcDateTime,
    pub fit_time: Option<UtcDateTime>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
