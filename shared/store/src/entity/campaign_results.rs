//! Campaign results aggregated per segment and time bucket starting at `bucket_start`.

use sea_orm::entity::prelude::*;

use crate::UtcDateTime;

/// A row of `campaign_results`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "campaign_results")]
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
    pub campaign_id: String,
    /// The segment the row is for; `""` is the campaign's own target.
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(64))"
    )]
    pub segment_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub bucket_start: UtcDateTime,
    pub bucket_seconds: i32,
    pub impressions: i64,
    pub clicks: i64,
    pub conversions: i64,
    pub revenue_minor: i64,
    pub spend_minor: i64,
    #[sea_orm(column_type = "Char(Some(3))")]
    pub currency: String,
    pub updated_at: UtcDateTime,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Foreign key with `ON DELETE CASCADE`, as in the migration.
    #[sea_orm(
        belongs_to = "super::campaigns::Entity",
        from = "(Column::MerchantId, Column::CampaignId)",
        to = "(super::campaigns::Column::MerchantId, super::campaigns::Column::Id)",
        on_update = "Cascade",
        on_delete = "Cascade"
    )]
    Campaign,
}

impl Related<super::campaigns::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Campaign.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
