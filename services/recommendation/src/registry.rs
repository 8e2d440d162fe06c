//! The models in memory: per merchant, the serving version with its catalogue view, behind
//! an atomic swap.
//!
//! A request takes an `Arc` of the merchant's current [`Loaded`] (a read lock held for one
//! clone) and works on it to the end; installing a new version replaces the `Arc` in the
//! map, so calls in flight finish on the version they started with and no call ever sees a
//! half-built model or waits for a load. Loading (read blob, inflate, decode, index) runs
//! before the swap, on a blocking thread.
//!
//! Every replica runs [`Registry::poll`]: at start and then every `model_poll_ms` it reads
//! the serving version of every merchant (one grouped query) and loads any that differs
//! from its own, and reloads a merchant's catalogue view when the products' fingerprint or
//! the country exclusions changed. So replicas converge on the same version within one poll
//! interval of a deploy.
//!
//! Erasure: every replica also runs [`Registry::watch_erasures`], which reads the erasures
//! committed since its last look every `erasure_poll_ms` and forgets everything it holds of
//! those merchants (serving, pinned and cold-start models). A load or build that was under
//! way when a merchant was forgotten installs nothing: it may have read what was erased.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use caravan_store::UtcDateTime;
use caravan_store::sea_orm::DatabaseConnection;

use crate::engine::model::ModelKind;
use crate::engine::model_codec;
use crate::engine::serving::{CatalogView, Exclusions, ServingModel};
use crate::engine::training::{TrainSpec, TrainingData, train};
use crate::error::RecommendationError;
use crate::merchant_locks::MerchantLocks;
use crate::{exclusion_store, interaction_store, model_store};

/// One model version ready to serve, with the catalogue it is filtered against.
#[derive(Debug)]
pub struct Loaded {
    pub merchant: String,
    pub version: i64,
    /// When the version was trained (`None` for a cold-start model, built in memory).
    pub trained_at: Option<UtcDateTime>,
    pub model: Arc<ServingModel>,
    pub catalog: Arc<CatalogView>,
    catalogue_stamp: (i64, Option<UtcDateTime>),
    exclusions: Exclusions,
    /// The merchant's erasure generation when the load began ([`Registry::generation`]).
    generation: u64,
}

/// Version number of a cold-start model: built in memory, never stored.
pub const COLD_START_VERSION: i64 = 0;
/// Interactions a cold-start model is built from: the last year, as training defaults to.
const COLD_START_WINDOW: chrono::Duration = chrono::Duration::days(365);

/// A merchant's cold-start model and when it was built.
type ColdStart = (Instant, Arc<Loaded>);

/// Versions requested explicitly (`Recommend.model`) kept besides the serving ones.
const PINNED_CAPACITY: usize = 8;

pub struct Registry {
    db: DatabaseConnection,
    serving: RwLock<HashMap<String, Arc<Loaded>>>,
    pinned: RwLock<HashMap<(String, i64), Arc<Loaded>>>,
    /// Serialises loads so that a poll and a request do not decode the same blob twice.
    load_lock: tokio::sync::Mutex<()>,
    /// Popularity models of merchants that have never trained, rebuilt after `cold_ttl`.
    cold: RwLock<HashMap<String, ColdStart>>,
    /// One cold-start build per merchant at a time; other merchants build meanwhile...
    cold_locks: MerchantLocks,
    /// ...but at most this many at once (`recommendation.max_concurrent_cold_starts`): a
    /// build reads a year of interactions and trains in memory.
    cold_builds: tokio::sync::Semaphore,
    cold_ttl: Duration,
    /// Per merchant, how many times an erasure made this replica forget its models.
    generations: RwLock<HashMap<String, u64>>,
    /// The last erasure seen (`erased_customers.seq`); -1 before the first look.
    erasure_mark: AtomicI64,
}

fn read<T: Clone, K: std::hash::Hash + Eq>(map: &RwLock<HashMap<K, T>>, key: &K) -> Option<T> {
    // A poisoned lock only means a panic elsewhere while holding it; the map is still whole
    // (every write is a single insert).
    let guard = map.read().unwrap_or_else(|e| e.into_inner());
    guard.get(key).cloned()
}

impl Registry {
    /// `cold_ttl`: how long a cold-start model is served before it is rebuilt;
    /// `cold_builds`: how many cold-start builds may run at once (at least 1).
    pub fn new(db: DatabaseConnection, cold_ttl: Duration, cold_builds: usize) -> Self {
        Self {
            db,
            serving: RwLock::new(HashMap::new()),
            pinned: RwLock::new(HashMap::new()),
            load_lock: tokio::sync::Mutex::new(()),
            cold: RwLock::new(HashMap::new()),
            cold_locks: MerchantLocks::default(),
            cold_builds: tokio::sync::Semaphore::new(cold_builds.max(1)),
            cold_ttl,
            generations: RwLock::new(HashMap::new()),
            erasure_mark: AtomicI64::new(-1),
        }
    }

    /// The merchant's erasure generation: it grows whenever an erasure made this replica
    /// forget the merchant's models.
    fn generation(&self, merchant: &str) -> u64 {
        read(&self.generations, &merchant.to_owned()).unwrap_or(0)
    }

    /// Whether a model loaded or built in `generation` may still be installed.
    fn current_generation(&self, loaded: &Loaded) -> bool {
        self.generation(&loaded.merchant) == loaded.generation
    }

    /// Forgets every model of `merchant` in memory (an erasure may have removed customers
    /// they hold); the next request loads what the store has now.
    pub fn forget_merchant(&self, merchant: &str) {
        {
            let mut generations = self.generations.write().unwrap_or_else(|e| e.into_inner());
            *generations.entry(merchant.to_owned()).or_insert(0) += 1;
        }
        self.serving
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(merchant);
        self.pinned
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(m, _), _| m != merchant);
        self.forget_cold_start(merchant);
    }

    /// Reads the erasures committed since the last look and forgets their merchants; the
    /// first look (at start) forgets everything loaded before it. Returns whether there were
    /// any.
    pub async fn poll_erasures(&self) -> Result<bool, RecommendationError> {
        let mark = self.erasure_mark.load(Ordering::Acquire);
        if mark < 0 {
            let last = caravan_store::erasure::last_erasure(&self.db)
                .await
                .map_err(caravan_store::StoreError::from)?;
            let merchants: Vec<String> = {
                let serving = self.serving.read().unwrap_or_else(|e| e.into_inner());
                let cold = self.cold.read().unwrap_or_else(|e| e.into_inner());
                serving.keys().chain(cold.keys()).cloned().collect()
            };
            merchants.iter().for_each(|m| self.forget_merchant(m));
            self.erasure_mark.store(last, Ordering::Release);
            return Ok(false);
        }
        let erasures = caravan_store::erasure::erasures_after(&self.db, mark)
            .await
            .map_err(caravan_store::StoreError::from)?;
        let Some(&(last, _)) = erasures.last() else {
            return Ok(false);
        };
        for (_, merchant) in &erasures {
            self.forget_merchant(merchant);
        }
        tracing::info!(
            erasures = erasures.len(),
            "models of merchants with erased customers forgotten"
        );
        self.erasure_mark.store(last, Ordering::Release);
        Ok(true)
    }

    /// The merchant's cold-start model if one was built less than `cold_ttl` ago (no I/O).
    pub fn fresh_cold_start(&self, merchant: &str) -> Option<Arc<Loaded>> {
        let guard = self.cold.read().unwrap_or_else(|e| e.into_inner());
        guard
            .get(merchant)
            .filter(|(built, _)| built.elapsed() < self.cold_ttl)
            .map(|(_, l)| l.clone())
    }

    /// For a merchant without a trained model: a POPULARITY model (country, segment and
    /// global popularity, plus bought-together neighbours for context) built in memory
    /// from the stored interactions of the last year, cached for `cold_ttl`. `None` when
    /// the merchant has no interactions at all (not cached: the first ones count at once).
    /// Callers check that the merchant exists, so the cache holds real merchants only.
    pub async fn cold_start(
        &self,
        merchant: &str,
    ) -> Result<Option<Arc<Loaded>>, RecommendationError> {
        if let Some(l) = self.fresh_cold_start(merchant) {
            return Ok(Some(l));
        }
        // One build per merchant at a time; the callers that waited take its result.
        let _guard = self.cold_locks.lock(merchant).await;
        if let Some(l) = self.fresh_cold_start(merchant) {
            return Ok(Some(l));
        }
        let built = {
            // Never closed, so acquiring cannot fail; a closed one would just not limit.
            let _slot = self.cold_builds.acquire().await.ok();
            self.build_cold_start(merchant).await?
        };
        if let Some(l) = built.as_ref().filter(|l| self.current_generation(l)) {
            let mut guard = self.cold.write().unwrap_or_else(|e| e.into_inner());
            guard.insert(merchant.to_owned(), (Instant::now(), l.clone()));
        }
        Ok(built)
    }

    fn forget_cold_start(&self, merchant: &str) {
        self.cold
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(merchant);
    }

    async fn build_cold_start(
        &self,
        merchant: &str,
    ) -> Result<Option<Arc<Loaded>>, RecommendationError> {
        let generation = self.generation(merchant);
        let end = chrono::Utc::now();
        let interactions =
            interaction_store::load_interactions(&self.db, merchant, end - COLD_START_WINDOW, end)
                .await?;
        if interactions.is_empty() {
            return Ok(None);
        }
        let countries = interaction_store::load_countries(&self.db, merchant).await?;
        let segments = interaction_store::load_segments(&self.db, merchant).await?;
        let catalogue_stamp = interaction_store::catalogue_stamp(&self.db, merchant).await?;
        let catalogue = interaction_store::load_catalogue(&self.db, merchant).await?;
        let exclusions = exclusion_store::load(&self.db, merchant).await?;
        let merchant = merchant.to_owned();
        let loaded = tokio::task::spawn_blocking(move || {
            let spec = TrainSpec {
                kind: ModelKind::Popularity,
                ..TrainSpec::default()
            };
            let data = TrainingData {
                interactions: &interactions,
                countries: &countries,
                segments: &segments,
                attributes: &HashMap::new(),
                now: end.timestamp(),
            };
            let model = Arc::new(ServingModel::new(Arc::new(train(&data, &spec, &|_| {}))));
            let catalog = Arc::new(CatalogView::build(&model.model, &catalogue, &exclusions));
            Loaded {
                merchant,
                version: COLD_START_VERSION,
                trained_at: None,
                model,
                catalog,
                catalogue_stamp,
                exclusions,
                generation,
            }
        })
        .await
        .map_err(|e| RecommendationError::Internal(format!("cold-start build task: {e}")))?;
        tracing::info!(
            merchant = loaded.merchant,
            items = loaded.model.model.n_items(),
            "cold-start popularity model built (no trained model yet)"
        );
        Ok(Some(Arc::new(loaded)))
    }

    /// The merchant's serving model as currently loaded (no I/O).
    pub fn current(&self, merchant: &str) -> Option<Arc<Loaded>> {
        read(&self.serving, &merchant.to_owned())
    }

    fn install(&self, loaded: Arc<Loaded>) {
        if !self.current_generation(&loaded) {
            return;
        }
        // A trained model replaces the merchant's cold-start model for good.
        self.forget_cold_start(&loaded.merchant);
        if let Some(trained_at) = loaded.trained_at {
            caravan_platform::metrics::global().model_served(
                &loaded.merchant,
                loaded.version,
                trained_at.get(),
            );
        }
        let mut guard = self.serving.write().unwrap_or_else(|e| e.into_inner());
        guard.insert(loaded.merchant.clone(), loaded);
    }

    /// The serving model, loading it from the store if this replica has none yet.
    pub async fn serving(
        &self,
        merchant: &str,
    ) -> Result<Option<Arc<Loaded>>, RecommendationError> {
        if let Some(l) = self.current(merchant) {
            return Ok(Some(l));
        }
        let _guard = self.load_lock.lock().await;
        if let Some(l) = self.current(merchant) {
            return Ok(Some(l));
        }
        let Some(version) = model_store::serving_version(&self.db, merchant).await? else {
            return Ok(None);
        };
        let loaded = self.load(merchant, version).await?;
        if let Some(l) = &loaded {
            self.install(l.clone());
        }
        Ok(loaded)
    }

    /// A specific version (A/B tests), cached in a small side table.
    pub async fn version(
        &self,
        merchant: &str,
        version: i64,
    ) -> Result<Option<Arc<Loaded>>, RecommendationError> {
        if let Some(l) = self.current(merchant).filter(|l| l.version == version) {
            return Ok(Some(l));
        }
        let key = (merchant.to_owned(), version);
        if let Some(l) = read(&self.pinned, &key) {
            return Ok(Some(l));
        }
        let _guard = self.load_lock.lock().await;
        let loaded = self.load(merchant, version).await?;
        if let Some(l) = loaded.as_ref().filter(|l| self.current_generation(l)) {
            let mut guard = self.pinned.write().unwrap_or_else(|e| e.into_inner());
            if guard.len() >= PINNED_CAPACITY {
                guard.clear();
            }
            guard.insert(key, l.clone());
        }
        Ok(loaded)
    }

    /// Reads, decodes and indexes a version with the current catalogue.
    async fn load(
        &self,
        merchant: &str,
        version: i64,
    ) -> Result<Option<Arc<Loaded>>, RecommendationError> {
        let generation = self.generation(merchant);
        let Some((blob, trained_at)) = model_store::get_params(&self.db, merchant, version).await?
        else {
            return Ok(None);
        };
        let catalogue_stamp = interaction_store::catalogue_stamp(&self.db, merchant).await?;
        let catalogue = interaction_store::load_catalogue(&self.db, merchant).await?;
        let exclusions = exclusion_store::load(&self.db, merchant).await?;
        let merchant = merchant.to_owned();
        let loaded = tokio::task::spawn_blocking(move || {
            let trained = model_codec::decode(&blob)?;
            let model = Arc::new(ServingModel::new(Arc::new(trained)));
            let catalog = Arc::new(CatalogView::build(&model.model, &catalogue, &exclusions));
            Ok::<_, RecommendationError>(Loaded {
                merchant,
                version,
                trained_at: Some(trained_at),
                model,
                catalog,
                catalogue_stamp,
                exclusions,
                generation,
            })
        })
        .await
        .map_err(|e| RecommendationError::Internal(format!("model load task: {e}")))??;
        tracing::info!(
            merchant = loaded.merchant,
            version,
            items = loaded.model.model.n_items(),
            "model version loaded"
        );
        Ok(Some(Arc::new(loaded)))
    }

    /// Installs `version` as the merchant's serving model now (after a deploy on this
    /// replica; the others pick it up on their next poll).
    pub async fn activate(&self, merchant: &str, version: i64) -> Result<(), RecommendationError> {
        let _guard = self.load_lock.lock().await;
        if self.current(merchant).is_some_and(|l| l.version == version) {
            return Ok(());
        }
        if let Some(l) = self.load(merchant, version).await? {
            self.install(l);
        }
        Ok(())
    }

    /// Rebuilds the merchant's catalogue view now (after a change of exclusions here).
    pub async fn refresh_catalogue(&self, merchant: &str) -> Result<(), RecommendationError> {
        // A cold-start model is rebuilt (with the new catalogue view) on its next use.
        self.forget_cold_start(merchant);
        let Some(current) = self.current(merchant) else {
            return Ok(());
        };
        let _guard = self.load_lock.lock().await;
        self.refresh_view(&current, true).await
    }

    async fn refresh_view(&self, current: &Loaded, force: bool) -> Result<(), RecommendationError> {
        let merchant = current.merchant.as_str();
        let stamp = interaction_store::catalogue_stamp(&self.db, merchant).await?;
        let exclusions = exclusion_store::load(&self.db, merchant).await?;
        if !force && stamp == current.catalogue_stamp && exclusions == current.exclusions {
            return Ok(());
        }
        let catalogue = interaction_store::load_catalogue(&self.db, merchant).await?;
        let model = current.model.clone();
        let excl = exclusions.clone();
        let catalog = tokio::task::spawn_blocking(move || {
            Arc::new(CatalogView::build(&model.model, &catalogue, &excl))
        })
        .await
        .map_err(|e| RecommendationError::Internal(format!("catalogue task: {e}")))?;
        // Only swap if the version did not change meanwhile.
        if self
            .current(merchant)
            .is_some_and(|l| l.version == current.version)
        {
            self.install(Arc::new(Loaded {
                merchant: merchant.to_owned(),
                version: current.version,
                trained_at: current.trained_at,
                model: current.model.clone(),
                catalog,
                catalogue_stamp: stamp,
                exclusions,
                generation: current.generation,
            }));
        }
        Ok(())
    }

    /// One poll: newer serving versions and changed catalogues.
    pub async fn poll_once(&self) -> Result<(), RecommendationError> {
        let versions = model_store::serving_versions(&self.db).await?;
        for (merchant, version) in versions {
            let current = self.current(&merchant);
            if current.as_ref().is_some_and(|l| l.version == version) {
                continue;
            }
            let _guard = self.load_lock.lock().await;
            if let Some(l) = self.load(&merchant, version).await? {
                self.install(l);
            }
        }
        let merchants: Vec<Arc<Loaded>> = {
            let guard = self.serving.read().unwrap_or_else(|e| e.into_inner());
            guard.values().cloned().collect()
        };
        for current in merchants {
            let _guard = self.load_lock.lock().await;
            self.refresh_view(&current, false).await?;
        }
        // Cold-start models follow catalogue and exclusion changes within a poll too.
        let cold: Vec<Arc<Loaded>> = {
            let guard = self.cold.read().unwrap_or_else(|e| e.into_inner());
            guard.values().map(|(_, l)| l.clone()).collect()
        };
        for l in cold {
            let stamp = interaction_store::catalogue_stamp(&self.db, &l.merchant).await?;
            let exclusions = exclusion_store::load(&self.db, &l.merchant).await?;
            if stamp != l.catalogue_stamp || exclusions != l.exclusions {
                self.forget_cold_start(&l.merchant);
            }
        }
        Ok(())
    }

    /// Polls forever (spawned at start-up); errors are logged and retried next tick.
    pub async fn poll(self: Arc<Self>, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.poll_once().await {
                tracing::warn!(error = %e, "model poll failed; retrying next interval");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn cold_start_builds_wait_for_a_free_slot() {
        let db = caravan_store::testing::sqlite_memory()
            .await
            .expect("in-memory store");
        let registry = Registry::new(db, Duration::from_secs(60), 1);
        let held = registry.cold_builds.acquire().await.expect("the only slot");
        let waited =
            tokio::time::timeout(Duration::from_millis(300), registry.cold_start("acme")).await;
        assert!(waited.is_err(), "a build started without a free slot");
        drop(held);
        let built = registry.cold_start("acme").await.expect("build");
        assert!(built.is_none(), "no interactions: no model");
    }
}
