//! Key management use cases, shared by `caravan keys ...` and the AccessService RPCs.

use caravan_core::names::MerchantId;
use caravan_platform::FieldViolations;
use caravan_store::entity::merchants;
use caravan_store::sea_orm::{ConnectionTrait, DbErr, EntityTrait};
use chrono::{DateTime, Utc};

use crate::api_key::{KeyId, NewKey};
use crate::key_store::{self, KeyRecord};
use crate::principal::MerchantGrant;
use crate::scope::Scopes;

/// Longest display name.
const MAX_DISPLAY_NAME: usize = 255;

/// What a new key may do.
#[derive(Debug, Clone)]
pub struct KeySpec {
    pub display_name: String,
    pub merchants: MerchantGrant,
    pub scopes: Scopes,
    pub expires_at: Option<DateTime<Utc>>,
    pub rate_limit_per_second: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyAdminError {
    #[error("{0}")]
    Invalid(FieldViolations),
    #[error("{0} not found")]
    NotFound(String),
    #[error("key store: {0}")]
    Store(#[from] DbErr),
}

impl From<FieldViolations> for KeyAdminError {
    fn from(v: FieldViolations) -> Self {
        KeyAdminError::Invalid(v)
    }
}

/// Creates a key; the returned [`NewKey`] is the only copy of the key itself.
pub async fn create_key(
    db: &impl ConnectionTrait,
    spec: KeySpec,
    creator: &str,
    now: DateTime<Utc>,
) -> Result<(NewKey, KeyRecord), KeyAdminError> {
    let mut violations = FieldViolations::new();
    if spec.display_name.chars().count() > MAX_DISPLAY_NAME {
        violations.add(
            "display_name",
            format!("must be at most {MAX_DISPLAY_NAME} characters"),
        );
    }
    if spec.scopes.is_empty() {
        violations.add("scopes", "at least one scope is required");
    }
    if spec.expires_at.is_some_and(|at| at <= now) {
        violations.add("expire_time", "must be in the future");
    }
    if spec
        .rate_limit_per_second
        .is_some_and(|n| n > i32::MAX as u32)
    {
        violations.add("rate_limit_per_second", "is too large");
    }
    if let MerchantGrant::Only(ids) = &spec.merchants {
        for id in ids {
            if !merchant_exists(db, id).await? {
                violations.add(
                    "merchant_ids",
                    format!("merchant {:?} does not exist", id.as_str()),
                );
            }
        }
    }
    violations.into_result()?;
    let key = NewKey::generate();
    let record = KeyRecord {
        id: key.id.clone(),
        hash: key.hash,
        display_name: spec.display_name,
        merchants: spec.merchants,
        scopes: spec.scopes,
        rate_limit_per_second: spec.rate_limit_per_second,
        creator: creator.to_owned(),
        created_at: now,
        expires_at: spec.expires_at,
        revoked_at: None,
    };
    key_store::insert(db, &record).await?;
    tracing::info!(key = %record.id, merchants = %record.merchants.to_list(), scopes = %record.scopes, creator, "API key created");
    Ok((key, record))
}

async fn merchant_exists(db: &impl ConnectionTrait, id: &MerchantId) -> Result<bool, DbErr> {
    Ok(merchants::Entity::find_by_id(id.as_str())
        .one(db)
        .await?
        .is_some())
}

pub async fn get_key(db: &impl ConnectionTrait, id: &KeyId) -> Result<KeyRecord, KeyAdminError> {
    let row = key_store::get(db, id)
        .await?
        .ok_or_else(|| KeyAdminError::NotFound(id.name()))?;
    KeyRecord::try_from(row).map_err(|e| KeyAdminError::Store(DbErr::Custom(e.to_string())))
}

/// Revokes a key (a revoked key stays revoked, with its first revocation time).
pub async fn revoke_key(
    db: &impl ConnectionTrait,
    id: &KeyId,
    now: DateTime<Utc>,
) -> Result<KeyRecord, KeyAdminError> {
    if !key_store::revoke(db, id, now).await? {
        return Err(KeyAdminError::NotFound(id.name()));
    }
    tracing::info!(key = %id, "API key revoked");
    get_key(db, id).await
}

/// Keys, newest first, `limit` at a time after the key `after` (the last of the previous
/// page).
pub async fn list_keys(
    db: &impl ConnectionTrait,
    after: Option<&KeyRecord>,
    limit: u64,
) -> Result<Vec<KeyRecord>, KeyAdminError> {
    let after = after.map(|k| (k.created_at, k.id.as_str().to_owned()));
    key_store::page(db, after, limit)
        .await?
        .into_iter()
        .map(|row| {
            KeyRecord::try_from(row).map_err(|e| KeyAdminError::Store(DbErr::Custom(e.to_string())))
        })
        .collect()
}

/// Parses a lifetime such as `90d`, `12h`, `30m` or `45s`.
pub fn parse_lifetime(text: &str) -> Result<chrono::Duration, String> {
    let text = text.trim();
    let split = text.len().saturating_sub(1);
    let (number, unit) = text
        .split_at_checked(split)
        .ok_or_else(|| format!("{text:?} is not a lifetime"))?;
    let number: i64 = number.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
        format!("{text:?}: expected a positive number followed by d, h, m or s (e.g. 90d)")
    })?;
    let seconds = match unit {
        "d" => number.checked_mul(86_400),
        "h" => number.checked_mul(3_600),
        "m" => number.checked_mul(60),
        "s" => Some(number),
        _ => None,
    }
    .filter(|s| *s <= 100 * 365 * 86_400)
    .ok_or_else(|| {
        format!("{text:?}: expected a positive number followed by d, h, m or s, at most 100 years")
    })?;
    Ok(chrono::Duration::seconds(seconds))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn lifetimes() {
        assert_eq!(parse_lifetime("90d"), Ok(chrono::Duration::days(90)));
        assert_eq!(parse_lifetime("12h"), Ok(chrono::Duration::hours(12)));
        assert_eq!(parse_lifetime("1s"), Ok(chrono::Duration::seconds(1)));
        for bad in [
            "",
            "d",
            "0d",
            "-1d",
            "90",
            "90y",
            "1.5d",
            "99999999999999d",
            "€",
        ] {
            assert!(parse_lifetime(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn any_text_is_a_lifetime_or_an_error(text in ".{0,24}") {
            if let Ok(d) = parse_lifetime(&text) {
                prop_assert!(d > chrono::Duration::zero());
            }
        }
    }
}
