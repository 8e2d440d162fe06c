//! A customer (PERSON or ENTERPRISE), keyed by `(merchant_id, id)`.
//!
//! Personal data (`email`, `phone`, names) is sealed in `pii` (`crate::pii`); matching never
//! uses it but the keyed hashes in `customer_identifiers`. A merged customer keeps its row with
//! `merged_into` pointing at the survivor; a deleted one has `deleted_at` set.

use sea_orm::entity::prelude::*;

use crate::UtcDateTime;

/// A row of `customers`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "customers")]
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
    /// `PERSON` or `ENTERPRISE`.
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub kind: String,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub given_name: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub family_name: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(320))")]
    pub email: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub phone: Option<String>,
    /// ISO 3166-1 alpha-2.
    #[sea_orm(column_type = "Char(Some(2))")]
    pub country: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub region: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub city: Option<String>,
    /// 1, 2, 3 or 4 (4 = 4+); null = unknown.
    pub city_tier: Option<i16>,
    pub birth_year: Option<i32>,
    /// `18-24` ... `65+`.
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub age_band: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub gender: Option<String>,
    /// BCP-47 tag.
    #[sea_orm(column_type = "String(StringLen::N(35))")]
    pub language: Option<String>,
    #[sea_orm(column_type = "Char(Some(3))")]
    pub preferred_currency: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub acquisition_channel: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub company_name: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub industry: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub size_band: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub revenue_band: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(512))")]
    pub website: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub business_type: Option<String>,
    pub year_founded: Option<i32>,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub registration_number: Option<String>,
    /// 1..=5.
    pub star_rating: Option<i16>,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub source: Option<String>,
    /// Tags from a seller-backend import (JSON array or object).
    pub import_tags: Option<Json>,
    /// Marketing consent per channel with its time (JSON object).
    pub consents: Option<Json>,
    /// Survivor customer id after an identity merge.
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub merged_into: Option<String>,
    pub deleted_at: Option<UtcDateTime>,
    pub created_at: UtcDateTime,
    pub updated_at: UtcDateTime,
    /// Given and family name, e-mail and phone, sealed (`crate::pii`); the plaintext
    /// columns above are NULL for rows written since.
    #[sea_orm(column_type = "Blob")]
    pub pii: Option<Vec<u8>>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::customer_contacts::Entity")]
    Contacts,
    #[sea_orm(has_many = "super::customer_identifiers::Entity")]
    Identifiers,
}

impl Related<super::customer_contacts::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Contacts.def()
    }
}

impl Related<super::customer_identifiers::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Identifiers.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
