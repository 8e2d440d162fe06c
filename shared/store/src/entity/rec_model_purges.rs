//! A serving recommendation model that erasure dropped: the recommendation service retrains
//! it with the same options (one replica claims it) and deletes the row when done.

use sea_orm::entity::prelude::*;

use crate::UtcDateTime;

/// A row of `rec_model_purges`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "rec_model_purges")]
pub struct Model {
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(64))"
    )]
    pub merchant_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub version: i64,
    /// The job that trained the dropped version (its options are reused).
    #[sea_orm(column_type = "String(StringLen::N(64))", nullable)]
    pub training_job_id: Option<String>,
    pub purged_at: UtcDateTime,
    /// The replica retraining it, and since when.
    #[sea_orm(column_type = "String(StringLen::N(128))", nullable)]
    pub claimed_by: Option<String>,
    pub claimed_at: Option<UtcDateTime>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
