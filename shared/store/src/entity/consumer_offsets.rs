//! The last outbox `seq` a named consumer has processed.

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
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
