//! A recommendation training job.

use sea_orm::entity::prelude::*;

use crate::UtcDateTime;

/// A row of `training_jobs`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "training_jobs")]
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
    pub state: String,
    pub progress: f64,
    pub options: Option<Json>,
    pub model_version: Option<i64>,
    #[sea_orm(column_type = "Text")]
    pub error: Option<String>,
    pub created_at: UtcDateTime,
    pub started_at: Option<UtcDateTime>,
    pub finished_at: Option<UtcDateTime>,
    pub updated_at: UtcDateTime,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
