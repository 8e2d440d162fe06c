//! What a portrait keeps of its customer's events (profiling's `EventSummary`), sealed like
//! the profile itself, with how far into the outbox it has been brought.

use sea_orm::entity::prelude::*;

use crate::UtcDateTime;

/// A row of `profile_event_summaries`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "profile_event_summaries")]
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
    pub customer_id: String,
    /// The summary, sealed (`sealing`), versioned by profiling.
    #[sea_orm(column_type = "Blob")]
    pub summary: Vec<u8>,
    /// The outbox `seq` through which the customer's event entries are in the summary.
    pub applied_through: i64,
    /// When the summary was last built from all of the customer's stored events.
    pub rebuilt_at: UtcDateTime,
    pub updated_at: UtcDateTime,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
