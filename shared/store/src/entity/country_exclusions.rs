//! Categories (by path prefix) not to recommend in a country.

use sea_orm::entity::prelude::*;

use crate::UtcDateTime;

/// A row of `country_exclusions`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "country_exclusions")]
pub struct Model {
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(64))"
    )]
    pub merchant_id: String,
    #[sea_orm(primary_key, auto_increment = false, column_type = "Char(Some(2))")]
    pub country: String,
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(512))"
    )]
    pub category_prefix: String,
    pub created_at: UtcDateTime,
    /// Why the category is excluded, e.g. "import ban".
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
