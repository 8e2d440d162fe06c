//! The last outbox `seq` a named consumer has processed, and which replica may consume
//! (see `crate::consumer_lease`).

use sea_orm::entity::prelude::*;

use crate::UtcDateTime;

/// A row of `consumer_offsets`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "consumer_offsets")]
pub struct Model {
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(64))"
    )]
    pub consumer: String,
    pub last_seq: i64,
    pub updated_at: UtcDateTime,
    /// The replica holding the lease, if any.
    #[sea_orm(column_type = "String(StringLen::N(128))", nullable)]
    pub lease_owner: Option<String>,
    /// Until when the lease holds unless renewed.
    pub lease_until: Option<UtcDateTime>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
