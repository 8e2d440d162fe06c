//! One marketing contact of a customer, for frequency caps.

use sea_orm::entity::prelude::*;

use crate::UtcDateTime;

/// A row of `contact_log`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "contact_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub merchant_id: String,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub customer_id: String,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub strategy_id: String,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub campaign_id: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub channel: Option<String>,
    pub contacted_at: UtcDateTime,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
