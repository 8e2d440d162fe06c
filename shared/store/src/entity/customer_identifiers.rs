//! One way a customer is known: `(merchant_id, kind, value_hash)` is unique, so an
//! identifier resolves to exactly one customer.
//!
//! `value_hash` is the lowercase hex HMAC-SHA256 of the normalised value for PII kinds (email,
//! phone) and the raw value for non-PII ids (platform buyer id, device id, external id,
//! registration number).

use sea_orm::entity::prelude::*;

use crate::UtcDateTime;

/// A row of `customer_identifiers`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "customer_identifiers")]
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
        column_type = "String(StringLen::N(32))"
    )]
    pub kind: String,
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(255))"
    )]
    pub value_hash: String,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub customer_id: String,
    pub created_at: UtcDateTime,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Foreign key with `ON DELETE CASCADE`, as in the migration.
    #[sea_orm(
        belongs_to = "super::customers::Entity",
        from = "(Column::MerchantId, Column::CustomerId)",
        to = "(super::customers::Column::MerchantId, super::customers::Column::Id)",
        on_update = "Cascade",
        on_delete = "Cascade"
    )]
    Customer,
}

impl Related<super::customers::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Customer.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
