//! A segment: built-in RFM segment or merchant-defined AIP-160 filter over profile fields.

use sea_orm::entity::prelude::*;

use crate::UtcDateTime;

/// A row of `segments`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "segments")]
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
    #[sea_orm(column_type = "Text")]
    pub filter: String,
    pub builtin: bool,
    pub created_at: UtcDateTime,
    pub updated_at: UtcDateTime,
    #[sea_orm(column_type = "Text")]
    pub description: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
