//! An API key: its public id, the SHA-256 of the whole key (never the key), what it may do.

use sea_orm::entity::prelude::*;

use crate::UtcDateTime;

/// A row of `api_keys`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(64))"
    )]
    pub id: String,
    /// SHA-256 of the whole key, hex.
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub key_hash: String,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub display_name: String,
    /// `*` or merchant ids separated by commas.
    #[sea_orm(column_type = "Text")]
    pub merchants: String,
    /// Scopes separated by commas (`read,write`).
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub scopes: String,
    pub rate_limit_per_second: Option<i32>,
    /// `apiKeys/{id}` of the creating key's id, or `cli`.
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub creator: String,
    pub created_at: UtcDateTime,
    pub expires_at: Option<UtcDateTime>,
    pub revoked_at: Option<UtcDateTime>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
