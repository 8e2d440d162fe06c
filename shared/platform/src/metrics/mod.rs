//! Prometheus metrics: what an operator watches, in one registry per process (`caravan
//! serve` runs four services in one process, so the `service` label tells them apart),
//! exposed as the Prometheus text format on `GET /metrics` ([`endpoint`]).
//!
//! Metrics are process-global, as Prometheus clients usually are: the gRPC layer, the outbox
//! consumer, ingestion and the model registry record into [`global()`] without threading a
//! handle through every constructor. Values that are cheaper to read than to keep current
//! (database pool usage, outbox lag) are read at scrape time by hooks ([`on_scrape`]).

pub mod endpoint;
pub mod rpc;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// `service` and `method` of a gRPC call, and the status code it ended with.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RpcLabels {
    pub service: String,
    pub method: String,
    pub code: String,
}

/// `service` and `method` of a gRPC call.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabels {
    pub service: String,
    pub method: String,
}

/// One `service`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServiceLabel {
    pub service: String,
}

/// What became of an ingested event.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

/// A connection pool's connections by state.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabel {
    pub state: &'static str,
}

/// A served recommendation model.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabels {
    pub merchant: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// Every metric Caravan exports.
pub struct Metrics {
    registry: Registry,
    pub rpc_requests: Family<RpcLabels, Counter>,
    pub rpc_duration: Family<MethodLabels, Histogram>,
    pub rpc_in_flight: Family<ServiceLabel, Gauge>,
    pub events_ingested: Family<OutcomeLabel, Counter>,
    pub outbox_pending_entries: Gauge,
    pub outbox_oldest_pending_age: FloatGauge,
    pub outbox_consumer_leader: Gauge,
    pub outbox_rows_deleted: Counter,
    pub db_pool_connections: Family<PoolLabel, Gauge>,
    pub store_up: Family<ServiceLabel, Gauge>,
    pub model_version: Family<ModelLabels, Gauge>,
    pub model_age: Family<ModelLabels, FloatGauge>,
    scrape_hooks: Mutex<Vec<ScrapeHook>>,
    /// Merchant -> when its served model was trained; ages are computed at scrape.
    models_trained_at: Mutex<HashMap<String, DateTime<Utc>>>,
}

/// Work done before each scrape to bring read-at-scrape values up to date.
pub type ScrapeHook = Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

/// How long a scrape waits for its hooks before answering with what it has.
const SCRAPE_HOOK_BUDGET: Duration = Duration::from_secs(2);

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("caravan");
        let rpc_requests = Family::<RpcLabels, Counter>::default();
        registry.register(
            "rpc_requests",
            "gRPC calls handled, by service, method and final status code",
            rpc_requests.clone(),
        );
        // 0.5 ms to ~33 s: a Recommend answers in a millisecond, a rebuild in seconds.
        let rpc_duration = Family::<MethodLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 17))
        });
        registry.register(
            "rpc_duration_seconds",
            "gRPC call latency, from request to final status",
            rpc_duration.clone(),
        );
        let rpc_in_flight = Family::<ServiceLabel, Gauge>::default();
        registry.register(
            "rpc_in_flight",
            "gRPC calls being handled now",
            rpc_in_flight.clone(),
        );
        let events_ingested = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "ingestion_events",
            "Events received by ingestion, by outcome (accepted, duplicate, rejected)",
            events_ingested.clone(),
        );
        let outbox_pending_entries = Gauge::default();
        registry.register(
            "outbox_pending_entries",
            "Outbox entries written by ingestion and not yet applied to profiles",
            outbox_pending_entries.clone(),
        );
        let outbox_oldest_pending_age = FloatGauge::default();
        registry.register(
            "outbox_oldest_pending_age_seconds",
            "Age of the oldest outbox entry not yet applied to profiles (0 when caught up)",
            outbox_oldest_pending_age.clone(),
        );
        let outbox_consumer_leader = Gauge::default();
        registry.register(
            "outbox_consumer_leader",
            "1 while this replica holds the profile outbox consumer lease, else 0",
            outbox_consumer_leader.clone(),
        );
        let outbox_rows_deleted = Counter::default();
        registry.register(
            "outbox_rows_deleted",
            "Outbox rows deleted after every consumer applied them and their retention passed",
            outbox_rows_deleted.clone(),
        );
        let db_pool_connections = Family::<PoolLabel, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "Database pool connections by state (idle, in_use, max)",
            db_pool_connections.clone(),
        );
        let store_up = Family::<ServiceLabel, Gauge>::default();
        registry.register(
            "store_up",
            "1 while the service's database answers the readiness ping, else 0",
            store_up.clone(),
        );
        let model_version = Family::<ModelLabels, Gauge>::default();
        registry.register(
            "recommendation_model_version",
            "Version of the recommendation model served for a merchant",
            model_version.clone(),
        );
        let model_age = Family::<ModelLabels, FloatGauge>::default();
        registry.register(
            "recommendation_model_age_seconds",
            "Time since the served recommendation model of a merchant was trained",
            model_age.clone(),
        );
        Self {
            registry,
            rpc_requests,
            rpc_duration,
            rpc_in_flight,
            events_ingested,
            outbox_pending_entries,
            outbox_oldest_pending_age,
            outbox_consumer_leader,
            outbox_rows_deleted,
            db_pool_connections,
            store_up,
            model_version,
            model_age,
            scrape_hooks: Mutex::new(Vec::new()),
            models_trained_at: Mutex::new(HashMap::new()),
        }
    }

    /// Counts ingested events by outcome.
    pub fn count_events(&self, accepted: usize, duplicates: usize, rejected: usize) {
        for (outcome, n) in [
            ("accepted", accepted),
            ("duplicate", duplicates),
            ("rejected", rejected),
        ] {
            if n > 0 {
                self.events_ingested
                    .get_or_create(&OutcomeLabel { outcome })
                    .inc_by(u64::try_from(n).unwrap_or(u64::MAX));
            }
        }
    }

    /// Records that `merchant` is now served `version`, trained at `trained_at`.
    pub fn model_served(&self, merchant: &str, version: i64, trained_at: DateTime<Utc>) {
        let labels = ModelLabels {
            merchant: merchant.to_owned(),
        };
        self.model_version.get_or_create(&labels).set(version);
        if let Ok(mut trained) = self.models_trained_at.lock() {
            trained.insert(merchant.to_owned(), trained_at);
        }
    }

    fn update_model_ages(&self) {
        let now = Utc::now();
        let Ok(trained) = self.models_trained_at.lock() else {
            return;
        };
        for (merchant, at) in trained.iter() {
            let age = (now - *at).to_std().unwrap_or_default().as_secs_f64();
            self.model_age
                .get_or_create(&ModelLabels {
                    merchant: merchant.clone(),
                })
                .set(age);
        }
    }

    /// The registry in the Prometheus text format, after running the scrape hooks.
    pub async fn scrape(&self) -> String {
        let hooks: Vec<ScrapeHook> = self
            .scrape_hooks
            .lock()
            .map(|h| h.clone())
            .unwrap_or_default();
        let refresh = futures::future::join_all(hooks.iter().map(|hook| hook()));
        if tokio::time::timeout(SCRAPE_HOOK_BUDGET, refresh)
            .await
            .is_err()
        {
            tracing::warn!(
                "metrics scrape hooks took longer than 2 s; answering with older values"
            );
        }
        self.update_model_ages();
        self.encode()
    }

    /// The registry in the Prometheus text format, as it is now.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(err) =
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
        {
            tracing::error!(error = %err, "metrics could not be encoded");
        }
        out
    }
}

/// The process's metrics.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// Runs `hook` before every scrape (for values read rather than kept current).
pub fn on_scrape(hook: ScrapeHook) {
    if let Ok(mut hooks) = global().scrape_hooks.lock() {
        hooks.push(hook);
    }
}

/// Reports a database pool's usage at every scrape.
pub fn watch_pool(db: caravan_store::sea_orm::DatabaseConnection) {
    on_scrape(Arc::new(move || {
        let db = db.clone();
        Box::pin(async move {
            if let Some(usage) = caravan_store::pool_usage(&db) {
                let set = |state, n: u32| {
                    global()
                        .db_pool_connections
                        .get_or_create(&PoolLabel { state })
                        .set(i64::from(n));
                };
                set("idle", usage.idle);
                set("in_use", usage.size.saturating_sub(usage.idle));
                set("max", usage.max);
            }
        })
    }));
}
