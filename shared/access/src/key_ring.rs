//! Every replica's in-memory copy of the API keys, re-read from the store every
//! `auth.key_refresh_ms` so that a revocation reaches all replicas within that time.
//!
//! A call checks its key against this copy only: no query per call. A key id the copy does
//! not know (a key created a moment ago, maybe on another replica) is looked up by id at once;
//! such lookups are limited to [`MISS_LOOKUPS_PER_SECOND`] per replica, so a flood of made-up
//! keys costs the store at most that many primary-key reads a second.

use std::collections::{BTreeSet, HashMap};
use std::num::NonZeroU32;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use caravan_core::names::MerchantId;
use caravan_store::entity::merchants;
use caravan_store::sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect,
};
use chrono::{DateTime, Utc};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::api_key::{KeyId, NewKey, PresentedKey};
use crate::key_store::{self, KeyRecord};
use crate::principal::{MerchantGrant, Principal};
use crate::scope::Scope;

/// Most look-ups of unknown key ids per second and replica.
pub const MISS_LOOKUPS_PER_SECOND: u32 = 20;

/// Why a presented key does not authenticate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRejection {
    #[error("API key not recognised")]
    Unknown,
    #[error("API key {id} was revoked at {at}")]
    Revoked { id: KeyId, at: DateTime<Utc> },
    #[error("API key {id} expired at {at}")]
    Expired { id: KeyId, at: DateTime<Utc> },
    #[error("the merchants of API key {0} no longer exist")]
    MerchantsGone(KeyId),
    #[error("API keys cannot be checked: the key store is unreachable")]
    StoreUnavailable,
}

/// An authenticated caller and the rate limiter of its key.
#[derive(Clone)]
pub struct Authenticated {
    pub principal: Principal,
    pub limiter: Option<Arc<DefaultDirectRateLimiter>>,
}

#[derive(Clone)]
struct RingEntry {
    record: KeyRecord,
    /// The key's merchants that still exist; `None` for a key of every merchant.
    live_merchants: Option<BTreeSet<MerchantId>>,
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
}

/// A key only this process knows: what `caravan serve`'s services present to each other.
struct InternalKey {
    presented: PresentedKey,
    principal: Principal,
}

pub struct KeyRing {
    db: DatabaseConnection,
    default_rate: u32,
    entries: RwLock<Arc<HashMap<KeyId, RingEntry>>>,
    /// Serialises re-reads, so a look-up's result cannot be overwritten by an older re-read.
    reloading: tokio::sync::Mutex<()>,
    miss_lookups: DefaultDirectRateLimiter,
    internal: Option<InternalKey>,
}

impl KeyRing {
    /// An empty ring; call [`KeyRing::reload`] before serving.
    pub fn new(db: DatabaseConnection, default_rate_per_second: u32) -> Self {
        Self {
            db,
            default_rate: default_rate_per_second,
            entries: RwLock::new(Arc::default()),
            reloading: tokio::sync::Mutex::new(()),
            miss_lookups: RateLimiter::direct(Quota::per_second(
                NonZeroU32::new(MISS_LOOKUPS_PER_SECOND).unwrap_or(NonZeroU32::MIN),
            )),
            internal: None,
        }
    }

    /// Makes a key that exists only in this process, with `read` on every merchant, for
    /// services of the same process to call each other. Returned once; never stored.
    pub fn add_internal_key(&mut self) -> NewKey {
        let key = NewKey::generate();
        self.internal = Some(InternalKey {
            presented: PresentedKey {
                id: key.id.clone(),
                hash: key.hash,
            },
            principal: Principal {
                key: Some(key.id.clone()),
                merchants: MerchantGrant::All,
                scopes: [Scope::Read].into_iter().collect(),
            },
        });
        key
    }

    /// Re-reads every key from the store.
    pub async fn reload(&self) -> Result<(), DbErr> {
        let _one_at_a_time = self.reloading.lock().await;
        let records = parse_rows(key_store::all(&self.db).await?);
        let existing = self.existing_merchants(&records).await?;
        let previous = self.snapshot();
        let entries = records
            .into_iter()
            .map(|record| (record.id.clone(), self.entry(record, &existing, &previous)))
            .collect();
        *self.entries.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(entries);
        Ok(())
    }

    /// Reads one key the copy does not know and adds it; `false` when the store has none.
    async fn look_up(&self, id: &KeyId) -> Result<bool, DbErr> {
        let _one_at_a_time = self.reloading.lock().await;
        let Some(record) =
            parse_rows(key_store::get(&self.db, id).await?.into_iter().collect()).pop()
        else {
            return Ok(false);
        };
        let existing = self
            .existing_merchants(std::slice::from_ref(&record))
            .await?;
        let previous = self.snapshot();
        let mut entries = HashMap::clone(&previous);
        entries.insert(record.id.clone(), self.entry(record, &existing, &previous));
        *self.entries.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(entries);
        Ok(true)
    }

    fn entry(
        &self,
        record: KeyRecord,
        existing: &BTreeSet<MerchantId>,
        previous: &HashMap<KeyId, RingEntry>,
    ) -> RingEntry {
        let live_merchants = match &record.merchants {
            MerchantGrant::All => None,
            MerchantGrant::Only(ids) => Some(ids.intersection(existing).cloned().collect()),
        };
        let limiter = self.limiter_for(&record, previous.get(&record.id));
        RingEntry {
            record,
            live_merchants,
            limiter,
        }
    }

    async fn existing_merchants(
        &self,
        records: &[KeyRecord],
    ) -> Result<BTreeSet<MerchantId>, DbErr> {
        let named: BTreeSet<&str> = records
            .iter()
            .filter_map(|r| match &r.merchants {
                MerchantGrant::Only(ids) => Some(ids.iter().map(MerchantId::as_str)),
                MerchantGrant::All => None,
            })
            .flatten()
            .collect();
        if named.is_empty() {
            return Ok(BTreeSet::new());
        }
        let ids: Vec<String> = merchants::Entity::find()
            .select_only()
            .column(merchants::Column::Id)
            .filter(merchants::Column::Id.is_in(named))
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(ids
            .iter()
            .filter_map(|id| MerchantId::parse(id).ok())
            .collect())
    }

    /// Keeps a key's limiter (and so its state) across reloads while its rate is unchanged.
    fn limiter_for(
        &self,
        record: &KeyRecord,
        previous: Option<&RingEntry>,
    ) -> Option<Arc<DefaultDirectRateLimiter>> {
        let rate = record.rate_limit_per_second.unwrap_or(self.default_rate);
        let rate = NonZeroU32::new(rate)?;
        if let Some(previous) = previous
            && previous.record.rate_limit_per_second == record.rate_limit_per_second
            && previous.limiter.is_some()
        {
            return previous.limiter.clone();
        }
        Some(Arc::new(RateLimiter::direct(
            Quota::per_second(rate).allow_burst(rate),
        )))
    }

    fn snapshot(&self) -> Arc<HashMap<KeyId, RingEntry>> {
        Arc::clone(&self.entries.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Re-reads the store every `every` until the returned task is aborted.
    pub fn spawn_refresh(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let ring = Arc::clone(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                // The previous copy stays in use: a store outage must not lock every caller
                // out. Revocations wait for the store anyway.
                if let Err(e) = ring.reload().await {
                    tracing::warn!(error = %e, "cannot re-read API keys; keeping the previous copy");
                }
            }
        })
    }

    /// Checks a presented key.
    pub async fn authenticate(
        &self,
        presented: &PresentedKey,
        now: DateTime<Utc>,
    ) -> Result<Authenticated, KeyRejection> {
        if let Some(internal) = &self.internal
            && internal.presented.id == presented.id
        {
            return if internal.presented.hash.matches(&presented.hash) {
                Ok(Authenticated {
                    principal: internal.principal.clone(),
                    limiter: None,
                })
            } else {
                Err(KeyRejection::Unknown)
            };
        }
        let mut entries = self.snapshot();
        if !entries.contains_key(&presented.id) {
            if self.miss_lookups.check().is_err() {
                return Err(KeyRejection::Unknown);
            }
            match self.look_up(&presented.id).await {
                Ok(true) => entries = self.snapshot(),
                Ok(false) => return Err(KeyRejection::Unknown),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot look up an unknown key id");
                    return Err(KeyRejection::StoreUnavailable);
                }
            }
        }
        let entry = entries.get(&presented.id).ok_or(KeyRejection::Unknown)?;
        check(entry, presented, now)
    }
}

fn parse_rows(rows: Vec<caravan_store::entity::api_keys::Model>) -> Vec<KeyRecord> {
    rows.into_iter()
        .filter_map(|row| {
            KeyRecord::try_from(row)
                .inspect_err(|e| tracing::error!(error = %e, "ignoring an invalid API key"))
                .ok()
        })
        .collect()
}

fn check(
    entry: &RingEntry,
    presented: &PresentedKey,
    now: DateTime<Utc>,
) -> Result<Authenticated, KeyRejection> {
    let record = &entry.record;
    if !record.hash.matches(&presented.hash) {
        return Err(KeyRejection::Unknown);
    }
    if let Some(at) = record.revoked_at {
        return Err(KeyRejection::Revoked {
            id: record.id.clone(),
            at,
        });
    }
    if let Some(at) = record.expires_at.filter(|at| *at <= now) {
        return Err(KeyRejection::Expired {
            id: record.id.clone(),
            at,
        });
    }
    let merchants = match &entry.live_merchants {
        None => MerchantGrant::All,
        Some(live) if live.is_empty() => {
            return Err(KeyRejection::MerchantsGone(record.id.clone()));
        }
        Some(live) => MerchantGrant::Only(live.clone()),
    };
    Ok(Authenticated {
        principal: Principal {
            key: Some(record.id.clone()),
            merchants,
            scopes: record.scopes,
        },
        limiter: entry.limiter.clone(),
    })
}

#[cfg(test)]
mod tests {
    use caravan_store::entity::merchants;
    use caravan_store::sea_orm::{ActiveModelTrait, EntityTrait, Set};

    use super::*;
    use crate::key_admin::{self, KeySpec};
    use crate::scope::Scopes;

    async fn store_with_merchant(id: &str) -> DatabaseConnection {
        let db = caravan_store::testing::sqlite_memory()
            .await
            .expect("store");
        let now = caravan_store::now();
        merchants::ActiveModel {
            id: Set(id.to_owned()),
            display_name: Set(id.to_owned()),
            base_currency: Set("EUR".to_owned()),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&db)
        .await
        .expect("merchant");
        db
    }

    fn spec(merchants: &str) -> KeySpec {
        KeySpec {
            display_name: "test".into(),
            merchants: MerchantGrant::parse_list(merchants).expect("grant"),
            scopes: Scopes::parse_list("read").expect("scopes"),
            expires_at: None,
            rate_limit_per_second: Some(5),
        }
    }

    fn presented(key: &NewKey) -> PresentedKey {
        PresentedKey::parse(key.reveal()).expect("own key")
    }

    #[tokio::test]
    async fn a_key_created_after_start_is_found_and_a_revoked_one_refused() {
        let db = store_with_merchant("acme").await;
        let ring = KeyRing::new(db.clone(), 100);
        ring.reload().await.expect("empty ring");
        let (key, _) = key_admin::create_key(&db, spec("acme"), "test", Utc::now())
            .await
            .expect("key");
        let caller = ring
            .authenticate(&presented(&key), Utc::now())
            .await
            .expect("found by re-reading");
        assert_eq!(caller.principal.key.as_ref(), Some(&key.id));
        assert!(caller.limiter.is_some());

        key_admin::revoke_key(&db, &key.id, Utc::now())
            .await
            .expect("revoke");
        ring.reload().await.expect("reload");
        assert!(matches!(
            ring.authenticate(&presented(&key), Utc::now()).await,
            Err(KeyRejection::Revoked { .. })
        ));
    }

    #[tokio::test]
    async fn expired_forged_and_orphaned_keys_are_refused() {
        let db = store_with_merchant("acme").await;
        let ring = KeyRing::new(db.clone(), 0);
        let mut expiring = spec("acme");
        expiring.expires_at = Some(Utc::now() + chrono::Duration::seconds(60));
        let (key, _) = key_admin::create_key(&db, expiring, "test", Utc::now())
            .await
            .expect("key");
        ring.reload().await.expect("reload");
        let later = Utc::now() + chrono::Duration::seconds(61);
        assert!(matches!(
            ring.authenticate(&presented(&key), later).await,
            Err(KeyRejection::Expired { .. })
        ));
        assert!(
            ring.authenticate(&presented(&key), Utc::now())
                .await
                .is_ok()
        );

        // Same id, another secret.
        let forged = PresentedKey {
            id: key.id.clone(),
            hash: NewKey::generate().hash,
        };
        assert_eq!(
            ring.authenticate(&forged, Utc::now()).await.err(),
            Some(KeyRejection::Unknown)
        );

        merchants::Entity::delete_by_id("acme")
            .exec(&db)
            .await
            .expect("delete merchant");
        ring.reload().await.expect("reload");
        assert!(matches!(
            ring.authenticate(&presented(&key), Utc::now()).await,
            Err(KeyRejection::MerchantsGone(_))
        ));
    }

    #[tokio::test]
    async fn the_internal_key_exists_only_in_memory() {
        let db = store_with_merchant("acme").await;
        let mut ring = KeyRing::new(db.clone(), 0);
        let key = ring.add_internal_key();
        ring.reload().await.expect("reload");
        let caller = ring
            .authenticate(&presented(&key), Utc::now())
            .await
            .expect("internal");
        assert_eq!(caller.principal.merchants, MerchantGrant::All);
        assert!(caller.principal.scopes.contains(Scope::Read));
        assert!(!caller.principal.scopes.contains(Scope::Write));
        assert_eq!(key_store::count(&db).await.expect("count"), 0);
    }

    #[tokio::test]
    async fn unknown_ids_are_looked_up_at_most_so_often() {
        let db = store_with_merchant("acme").await;
        let ring = KeyRing::new(db.clone(), 0);
        ring.reload().await.expect("reload");
        for _ in 0..MISS_LOOKUPS_PER_SECOND {
            let stranger = presented(&NewKey::generate());
            assert_eq!(
                ring.authenticate(&stranger, Utc::now()).await.err(),
                Some(KeyRejection::Unknown)
            );
        }
        // The look-ups of this second are spent: even a real new key waits for the next one.
        let (key, _) = key_admin::create_key(&db, spec("acme"), "test", Utc::now())
            .await
            .expect("key");
        assert_eq!(
            ring.authenticate(&presented(&key), Utc::now()).await.err(),
            Some(KeyRejection::Unknown)
        );
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        assert!(
            ring.authenticate(&presented(&key), Utc::now())
                .await
                .is_ok()
        );
    }
}
