//! A full profile rebuild job of the profiling service.

use sea_orm::entity::prelude::*;

use crate::UtcDateTime;

/// A row of `rebuild_jobs`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "rebuild_jobs")]
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
    /// 0..=1.
    pub progress: f64,
    pub processed: i64,
    pub total: Option<i64>,
    #[sea_orm(column_type = "Text")]
    pub error: Option<String>,
    pub created_at: UtcDateTime,
    pub started_at: Option<UtcDateTime>,
    pub finished_at: Option<UtcDateTime>,
    pub updated_at: UtcDateTime,
    /// The request: `{"customers": [...], "full": bool}`.
    pub options: Option<Json>,
    pub failed: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
