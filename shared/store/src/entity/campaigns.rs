//! A campaign running a strategy (variant) on a channel for a segment.

use sea_orm::entity::prelude::*;

use crate::UtcDateTime;

/// A row of `campaigns`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "campaigns")]
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
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub strategy_id: String,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub variant: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub channel: String,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub segment_id: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub state: String,
    pub budget_minor: Option<i64>,
    #[sea_orm(column_type = "Char(Some(3))")]
    pub currency: String,
    pub started_at: Option<UtcDateTime>,
    pub ended_at: Option<UtcDateTime>,
    pub created_at: UtcDateTime,
    pub updated_at: UtcDateTime,
    /// The experiment whose variant this campaign is (added by a later migration, so last).
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub experiment: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::campaign_results::Entity")]
    Results,
}

impl Related<super::campaign_results::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Results.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
