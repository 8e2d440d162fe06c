//! A recommendation model version; `params` is the serialized model (LONGBLOB on
//! MySQL). The serving model is the highest `version` with state `ACTIVE`.

use sea_orm::entity::prelude::*;

use crate::UtcDateTime;

/// A row of `rec_models`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "rec_models")]
pub struct Model {
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(64))"
    )]
    pub merchant_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub version: i64,
    /// ITEM_CF, EASE, POPULARITY, CONTENT, BLEND.
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub kind: String,
    pub blend_weights: Option<Json>,
    #[sea_orm(column_type = "Blob")]
    pub params: Vec<u8>,
    pub metrics: Json,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub state: String,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub training_job_id: Option<String>,
    pub created_at: UtcDateTime,
    pub activated_at: Option<UtcDateTime>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
