//! Merchants in the store.

use caravan_store::entity::merchants;
use caravan_store::sea_orm::sea_query::{Expr, ExprTrait};
use caravan_store::sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use caravan_store::{UtcDateTime, is_unique_violation};

use crate::error::IngestionError;
use crate::merchant_rules::{MerchantUpdate, NewMerchant};

pub async fn insert(
    db: &DatabaseConnection,
    merchant: NewMerchant,
) -> Result<merchants::Model, IngestionError> {
    let now = UtcDateTime::now();
    let row = merchants::ActiveModel {
        id: Set(merchant.id.as_str().to_owned()),
        display_name: Set(merchant.display_name),
        base_currency: Set(merchant.base_currency),
        created_at: Set(now),
        updated_at: Set(now),
        identity_version: Set(0),
        time_zone: Set(merchant.time_zone.map(|z| z.name().to_owned())),
    };
    match merchants::Entity::insert(row).exec(db).await {
        Ok(_) => get(db, merchant.id.as_str()).await,
        Err(err) if is_unique_violation(&err) => {
            Err(IngestionError::AlreadyExists(merchant.id.name()))
        }
        Err(err) => Err(err.into()),
    }
}

pub async fn get(db: &DatabaseConnection, id: &str) -> Result<merchants::Model, IngestionError> {
    merchants::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .ok_or_else(|| IngestionError::NotFound(format!("merchants/{id}")))
}

/// Applies an update (the fields it sets) and returns the merchant as stored.
pub async fn update(
    db: &DatabaseConnection,
    id: &str,
    update: MerchantUpdate,
) -> Result<merchants::Model, IngestionError> {
    let current = get(db, id).await?;
    let mut row: merchants::ActiveModel = current.into();
    if let Some(display_name) = update.display_name {
        row.display_name = Set(display_name);
    }
    if let Some(time_zone) = update.time_zone {
        row.time_zone = Set(time_zone.map(|z| z.name().to_owned()));
    }
    row.updated_at = Set(UtcDateTime::now());
    Ok(row.update(db).await?)
}

/// One page of merchants ordered by id, starting after `after` (keyset pagination).
pub async fn list(
    db: &DatabaseConnection,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<merchants::Model>, IngestionError> {
    let mut query = merchants::Entity::find().order_by_asc(merchants::Column::Id);
    if let Some(after) = after {
        query = query.filter(merchants::Column::Id.gt(after));
    }
    Ok(query.limit(limit).all(db).await?)
}

/// The merchant's identity version, read under a shared lock held until the transaction
/// ends: merges and erasures ([`bump_identity_version`]) wait for it, so nothing read about
/// customers in this transaction goes stale before it commits. (SQLite has no row locks;
/// its one writer connection serialises transactions anyway.)
pub async fn lock_identity_version<C: ConnectionTrait>(
    txn: &C,
    id: &str,
) -> Result<i64, IngestionError> {
    merchants::Entity::find_by_id(id.to_owned())
        .select_only()
        .column(merchants::Column::IdentityVersion)
        .lock_shared()
        .into_tuple()
        .one(txn)
        .await?
        .ok_or_else(|| IngestionError::NotFound(format!("merchants/{id}")))
}

/// Records a change of which customers exist or where they point (a merge, an erasure).
/// Call it first in the transaction: it waits for the ingestion batches in flight, and
/// taking it before any customer row keeps the lock order the same as theirs.
pub async fn bump_identity_version<C: ConnectionTrait>(
    txn: &C,
    id: &str,
) -> Result<(), IngestionError> {
    merchants::Entity::update_many()
        .col_expr(
            merchants::Column::IdentityVersion,
            Expr::col(merchants::Column::IdentityVersion).add(1),
        )
        .filter(merchants::Column::Id.eq(id))
        .exec(txn)
        .await?;
    Ok(())
}
