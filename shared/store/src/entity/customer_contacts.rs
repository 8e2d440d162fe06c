//! A contact person of an ENTERPRISE customer (B2B).

use sea_orm::entity::prelude::*;

use crate::UtcDateTime;

/// A row of `customer_contacts`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "customer_contacts")]
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
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(64))"
    )]
    pub id: String,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub name: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub job_title: Option<String>,
    pub decision_maker: bool,
    #[sea_orm(column_type = "String(StringLen::N(320))")]
    pub email: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub phone: Option<String>,
    /// email, WhatsApp, TradeManager, WeChat, phone, LinkedIn.
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub preferred_channel: Option<String>,
    pub created_at: UtcDateTime,
    pub updated_at: UtcDateTime,
    /// Name, e-mail and phone, sealed (`crate::pii`); the plaintext columns above are NULL
    /// for rows written since.
    #[sea_orm(column_type = "Blob")]
    pub pii: Option<Vec<u8>>,
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
