//! SQL for `api_keys`: the only module that reads or writes the table.

use caravan_store::UtcDateTime;
use caravan_store::entity::api_keys;
use caravan_store::sea_orm::sea_query::ExprTrait as _;
use caravan_store::sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use chrono::{DateTime, Utc};

use crate::api_key::{KeyHash, KeyId};
use crate::principal::MerchantGrant;
use crate::scope::Scopes;

/// A key as stored, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyRecord {
    pub id: KeyId,
    pub hash: KeyHash,
    pub display_name: String,
    pub merchants: MerchantGrant,
    pub scopes: Scopes,
    pub rate_limit_per_second: Option<u32>,
    pub creator: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A stored row that does not parse (edited by hand?): such a key never authenticates.
#[derive(Debug, thiserror::Error)]
#[error("api_keys row {id:?} is invalid: {reason}")]
pub struct CorruptKey {
    pub id: String,
    pub reason: String,
}

impl TryFrom<api_keys::Model> for KeyRecord {
    type Error = CorruptKey;

    fn try_from(row: api_keys::Model) -> Result<Self, Self::Error> {
        let corrupt = |reason: String| CorruptKey {
            id: row.id.clone(),
            reason,
        };
        let hash = hex::decode(&row.key_hash)
            .ok()
            .and_then(|b| KeyHash::from_bytes(&b))
            .ok_or_else(|| corrupt("key_hash is not 32 bytes of hex".to_owned()))?;
        Ok(Self {
            id: KeyId::parse(&row.id).map_err(|e| corrupt(e.to_string()))?,
            hash,
            merchants: MerchantGrant::parse_list(&row.merchants)
                .map_err(|e| corrupt(e.to_string()))?,
            scopes: Scopes::parse_list(&row.scopes).map_err(|e| corrupt(e.to_string()))?,
            rate_limit_per_second: row
                .rate_limit_per_second
                .map(|n| u32::try_from(n).map_err(|_| corrupt(format!("rate limit {n}"))))
                .transpose()?,
            display_name: row.display_name,
            creator: row.creator,
            created_at: row.created_at.get(),
            expires_at: row.expires_at.map(UtcDateTime::get),
            revoked_at: row.revoked_at.map(UtcDateTime::get),
        })
    }
}

pub async fn insert(db: &impl ConnectionTrait, key: &KeyRecord) -> Result<(), DbErr> {
    api_keys::ActiveModel {
        id: Set(key.id.as_str().to_owned()),
        key_hash: Set(hex::encode(key.hash.as_bytes())),
        display_name: Set(key.display_name.clone()),
        merchants: Set(key.merchants.to_list()),
        scopes: Set(key.scopes.to_list()),
        rate_limit_per_second: Set(key
            .rate_limit_per_second
            .map(|n| i32::try_from(n).unwrap_or(i32::MAX))),
        creator: Set(key.creator.clone()),
        created_at: Set(key.created_at.into()),
        expires_at: Set(key.expires_at.map(Into::into)),
        revoked_at: Set(key.revoked_at.map(Into::into)),
    }
    .insert(db)
    .await
    .map(|_| ())
}

/// Every key, revoked and expired ones too (so that callers are told why a key fails).
pub async fn all(db: &impl ConnectionTrait) -> Result<Vec<api_keys::Model>, DbErr> {
    api_keys::Entity::find().all(db).await
}

pub async fn get(db: &impl ConnectionTrait, id: &KeyId) -> Result<Option<api_keys::Model>, DbErr> {
    api_keys::Entity::find_by_id(id.as_str()).one(db).await
}

/// A page of keys, newest first; `after` is the `(created_at, id)` of the previous page's
/// last key.
pub async fn page(
    db: &impl ConnectionTrait,
    after: Option<(DateTime<Utc>, String)>,
    limit: u64,
) -> Result<Vec<api_keys::Model>, DbErr> {
    let mut query = api_keys::Entity::find()
        .order_by_desc(api_keys::Column::CreatedAt)
        .order_by_desc(api_keys::Column::Id)
        .limit(limit);
    if let Some((created_at, id)) = after {
        let created_at = UtcDateTime::from(created_at);
        query = query.filter(
            api_keys::Column::CreatedAt
                .lt(created_at)
                .or(api_keys::Column::CreatedAt
                    .eq(created_at)
                    .and(api_keys::Column::Id.lt(id))),
        );
    }
    query.all(db).await
}

/// Sets `revoked_at` unless the key is revoked already; returns whether the key exists.
pub async fn revoke(
    db: &impl ConnectionTrait,
    id: &KeyId,
    at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let Some(row) = get(db, id).await? else {
        return Ok(false);
    };
    if row.revoked_at.is_none() {
        let mut active: api_keys::ActiveModel = row.into();
        active.revoked_at = Set(Some(at.into()));
        active.update(db).await?;
    }
    Ok(true)
}

pub async fn count(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    api_keys::Entity::find().count(db).await
}

/// Removes a key row (only for a bootstrap key that could not be handed out).
pub async fn delete(db: &impl ConnectionTrait, id: &KeyId) -> Result<(), DbErr> {
    api_keys::Entity::delete_by_id(id.as_str())
        .exec(db)
        .await
        .map(|_| ())
}
