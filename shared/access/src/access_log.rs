//! The access log: every reveal of a customer's personal data and every export, with who,
//! when and through which RPC. Written by the RPCs that reveal; read by admins
//! (`ListAccessLogEntries`); erased with the customer.

use caravan_core::names::MerchantId;
use caravan_store::entity::access_log;
use caravan_store::sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use crate::principal::Principal;

/// What was done with a customer's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessAction {
    RevealPii,
    Export,
}

impl AccessAction {
    pub fn code(self) -> &'static str {
        match self {
            AccessAction::RevealPii => "REVEAL_PII",
            AccessAction::Export => "EXPORT",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        [AccessAction::RevealPii, AccessAction::Export]
            .into_iter()
            .find(|a| a.code() == code)
    }
}

/// One access, as it is recorded.
#[derive(Debug, Clone)]
pub struct AccessRecord<'a> {
    pub principal: &'a Principal,
    pub merchant: &'a MerchantId,
    pub customer_id: &'a str,
    /// `/package.Service/Method`.
    pub rpc: &'a str,
    pub action: AccessAction,
}

/// Writes one entry.
pub async fn record(db: &impl ConnectionTrait, access: AccessRecord<'_>) -> Result<(), DbErr> {
    access_log::ActiveModel {
        merchant_id: Set(access.merchant.as_str().to_owned()),
        customer_id: Set(access.customer_id.to_owned()),
        key_id: Set(access
            .principal
            .key
            .as_ref()
            .map_or_else(|| "local".to_owned(), |k| k.as_str().to_owned())),
        rpc: Set(access.rpc.to_owned()),
        action: Set(access.action.code().to_owned()),
        occurred_at: Set(caravan_store::now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    tracing::info!(
        target: "audit",
        caller = %access.principal,
        merchant = %access.merchant,
        rpc = access.rpc,
        action = access.action.code(),
        "personal data accessed"
    );
    Ok(())
}

/// A merchant's entries, newest first, after the entry with id `before` (exclusive).
pub async fn page(
    db: &impl ConnectionTrait,
    merchant: &MerchantId,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<access_log::Model>, DbErr> {
    let mut query = access_log::Entity::find()
        .filter(access_log::Column::MerchantId.eq(merchant.as_str()))
        .order_by_desc(access_log::Column::Id)
        .limit(limit);
    if let Some(before) = before {
        query = query.filter(access_log::Column::Id.lt(before));
    }
    query.all(db).await
}

/// The entries about the customers `ids` of a merchant, oldest first (for exports).
pub async fn for_customers(
    db: &impl ConnectionTrait,
    merchant: &MerchantId,
    ids: &[String],
) -> Result<Vec<access_log::Model>, DbErr> {
    access_log::Entity::find()
        .filter(access_log::Column::MerchantId.eq(merchant.as_str()))
        .filter(access_log::Column::CustomerId.is_in(ids.iter().cloned()))
        .order_by_asc(access_log::Column::Id)
        .all(db)
        .await
}
