//! A merchant (tenant). `id` is the AIP-122 slug; every other table is scoped by it.

use sea_orm::entity::prelude::*;

use crate::UtcDateTime;

/// A row of `merchants`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "merchants")]
pub struct Model {
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(64))"
    )]
    pub id: String,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub display_name: String,
    /// ISO 4217 code all analytics amounts are converted to.
    #[sea_orm(column_type = "Char(Some(3))")]
    pub base_currency: String,
    pub created_at: UtcDateTime,
    pub updated_at: UtcDateTime,
    /// Bumped by every merge and erasure of the merchant's customers (see the migration
    /// `m20261124_000013_identity_version`); 0 for a new merchant.
    pub identity_version: i64,
    /// IANA time zone deciding the merchant's calendar days; NULL means UTC.
    #[sea_orm(column_type = "String(StringLen::N(64))", nullable)]
    pub time_zone: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
