//! Configuration of every Caravan binary, read with the `config` crate.
//!
//! Precedence, lowest first: the defaults in this file < an optional TOML file (`--config`)
//! < environment variables `CARAVAN__SECTION__KEY` (for example `CARAVAN__DATABASE__URL`).
//! Every struct denies unknown fields, so a misspelt key fails start-up with its name instead
//! of being silently ignored. `docs/configuration.md` documents every knob; keep the two in
//! step.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{Config, Environment, File, FileFormat};
use serde::Deserialize;

use crate::secret::{Secret, redact_url};

/// The environment prefix: `CARAVAN__SERVER__LISTEN_ADDR` sets `server.listen_addr`.
pub const ENV_PREFIX: &str = "CARAVAN";
const ENV_SEPARATOR: &str = "__";

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("configuration file {path}: {source}")]
    File {
        path: String,
        #[source]
        source: config::ConfigError,
    },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Every setting of a binary. Sections a binary does not use are accepted and ignored, so one
/// file can configure the whole suite.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub telemetry: TelemetrySettings,
    pub clients: ClientSettings,
    pub ingestion: IngestionSettings,
    pub profiling: ProfilingSettings,
    pub recommendation: RecommendationSettings,
    pub auth: AuthSettings,
    pub privacy: PrivacySettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Where the gRPC server listens. Each binary has its own default port.
    pub listen_addr: SocketAddr,
    /// Upper bound on any call; a client's shorter `grpc-timeout` wins.
    pub request_timeout_ms: u64,
    /// Largest encoded request or response message.
    pub max_message_bytes: usize,
    /// After SIGTERM/SIGINT: how long in-flight calls may take to finish.
    pub shutdown_grace_ms: u64,
    /// HTTP/2 flow-control window of one call: how many bytes a client may send ahead of
    /// what the service has read. Large enough for the next streamed message to arrive
    /// while the current one is being stored.
    pub http2_stream_window_bytes: u32,
    /// HTTP/2 flow-control window of one connection, shared by its calls.
    pub http2_connection_window_bytes: u32,
    /// Largest HTTP/2 header list (all metadata of one call). Generous, so that an absurd
    /// `authorization` value reaches the access check and gets a clear UNAUTHENTICATED
    /// instead of a reset stream.
    pub max_header_list_bytes: u32,
    /// Calls this process handles at once; more are refused with RESOURCE_EXHAUSTED and a
    /// RetryInfo (health checks and reflection are never refused).
    pub max_concurrent_calls: usize,
    /// Request bytes held by the calls being handled; a request that would carry the total
    /// over it is refused (RESOURCE_EXHAUSTED, RetryInfo) while it is still being read.
    pub max_in_flight_request_bytes: usize,
    /// Server TLS; without `cert_file` the server speaks plaintext HTTP/2 (loopback, or
    /// behind a service mesh that terminates mTLS).
    pub tls: ServerTlsSettings,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerTlsSettings {
    /// PEM certificate chain of the server.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of the server.
    pub key_file: Option<PathBuf>,
    /// PEM CA bundle: when set, every client must present a certificate it signed (mTLS).
    pub client_ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `sqlite://path?mode=rwc` (embedded default) or `mysql://user:password@host:port/db`.
    pub url: Secret,
    pub max_connections: u32,
    /// Apply pending migrations at start-up. In Kubernetes a migration Job does it instead.
    pub migrate_on_start: bool,
    /// How long a statement waits for a pooled connection (MySQL): bounds how long a call
    /// takes to answer `UNAVAILABLE` while the database is down.
    pub acquire_timeout_ms: u64,
    /// How often the server checks that the database answers (`SELECT 1`), reporting
    /// `NOT_SERVING` on `grpc.health.v1` while it does not. 0: never checked.
    pub health_check_interval_ms: u64,
}

impl DatabaseSettings {
    pub fn pool_options(&self) -> caravan_store::PoolOptions {
        caravan_store::PoolOptions {
            max_connections: self.max_connections,
            acquire_timeout: Duration::from_millis(self.acquire_timeout_ms.max(1)),
        }
    }

    pub fn health_check_interval(&self) -> Option<Duration> {
        (self.health_check_interval_ms > 0)
            .then(|| Duration::from_millis(self.health_check_interval_ms))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetrySettings {
    pub log_format: LogFormat,
    /// A `tracing_subscriber::EnvFilter` directive such as `info,caravan=debug`.
    pub log_filter: String,
    /// OTLP/gRPC collector, e.g. `http://otel-collector:4317`. Empty: traces are not exported.
    pub otlp_endpoint: String,
    /// `host:port` of the Prometheus endpoint (`GET /metrics`). Unset: the binary's default
    /// (`127.0.0.1:9464` for `caravan serve`, 9471-9474 for ingestion, profiling,
    /// recommendation and marketing); empty: no metrics endpoint.
    pub metrics_listen_addr: Option<String>,
}

impl TelemetrySettings {
    /// Where to serve metrics: the configured address, the binary's default port on
    /// loopback when none is configured, `None` when switched off with an empty value.
    pub fn metrics_addr(&self, default_port: u16) -> Result<Option<SocketAddr>, SettingsError> {
        match self.metrics_listen_addr.as_deref().map(str::trim) {
            None => Ok(Some(SocketAddr::from(([127, 0, 0, 1], default_port)))),
            Some("") => Ok(None),
            Some(addr) => addr.parse().map(Some).map_err(|_| {
                SettingsError::Invalid(format!(
                    "telemetry.metrics_listen_addr {addr:?} is not host:port (or empty to switch metrics off)"
                ))
            }),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientSettings {
    /// Address of the profiling service for marketing and recommendation. Unset: the
    /// single-service binaries use `http://127.0.0.1:50062`, `caravan serve` its own address.
    pub profiling_addr: Option<String>,
    /// Deadline of each call to another Caravan service.
    pub call_timeout_ms: Option<u64>,
    /// API key this service presents to the others (a key with `read` on `*`). `caravan
    /// serve` makes its own in-memory key and ignores this.
    pub api_key: Option<Secret>,
    /// TLS towards the other services; without `ca_file` calls are plaintext.
    pub tls: ClientTlsSettings,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientTlsSettings {
    /// PEM CA bundle that signed the servers' certificates.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate, for servers that require mTLS.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of the client certificate.
    pub key_file: Option<PathBuf>,
    /// Name to verify in the server certificate; unset: the host of the address.
    pub domain: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrivacySettings {
    /// Keys that encrypt personal data at rest (AES-256-GCM), by id: 32 random bytes in
    /// base64 each (`openssl rand -base64 32`). Every key that sealed data still in the
    /// store must stay here until `caravan privacy reseal` has run. Empty: a key of this
    /// installation is made once in `key_file` (loopback only).
    pub encryption_keys: std::collections::BTreeMap<String, Secret>,
    /// The id of the key that encrypts new data (required with `encryption_keys`).
    pub active_encryption_key: String,
    /// Where the installation's own key lives when `encryption_keys` is empty (mode 0600).
    pub key_file: PathBuf,
}

impl Default for PrivacySettings {
    fn default() -> Self {
        Self {
            encryption_keys: std::collections::BTreeMap::new(),
            active_encryption_key: String::new(),
            key_file: PathBuf::from(".caravan/encryption.key"),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// Require an API key on every RPC (health and reflection excepted). Switching it off is
    /// refused unless the server listens on a loopback address.
    pub enabled: bool,
    /// How often every replica re-reads the API keys: a revoked key stops working within
    /// this time (plus one query).
    pub key_refresh_ms: u64,
    /// Calls per second one key may make (bursts up to the same number), unless the key
    /// says otherwise; 0: unlimited.
    pub rate_limit_per_second: u32,
    /// Where `caravan serve` on the embedded default database writes the bootstrap admin
    /// key, once, when the store has no key yet (mode 0600).
    pub bootstrap_key_file: PathBuf,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            key_refresh_ms: 1_000,
            rate_limit_per_second: 1_000,
            bootstrap_key_file: PathBuf::from(".caravan/admin.key"),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestionSettings {
    /// Key of the HMAC that turns emails and phone numbers into matching hashes. Change it and
    /// existing identifiers no longer match: set it once per deployment.
    pub identity_hash_key: Secret,
    /// Most events accepted in one `BatchIngestEvents` call or one streamed message.
    pub max_batch_events: usize,
    /// Customer ids a replica remembers as existing (and where merged ones point) between
    /// batches, in all merchants; 0 looks every batch's customers up in the store.
    pub customer_cache_entries: usize,
    /// Messages of one `IngestEvents` stream stored concurrently (each in its own
    /// transaction); 1 stores them one after the other. Validate-only streams always use 1.
    pub stream_pipeline_depth: usize,
    /// Batch transactions one replica runs at the same time, over all calls and streams;
    /// further batches are checked, then wait their turn.
    pub max_concurrent_batches: usize,
    /// How long DeleteCustomer waits after its transaction before answering: at least two
    /// `recommendation.erasure_poll_ms`, so that every recommendation replica has dropped the
    /// models that held the customer before the caller's next Recommend.
    pub erasure_settle_ms: u64,
    /// Seconds a rejected event is kept in the failed-event store after its last rejection.
    pub failed_event_retention_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProfilingSettings {
    /// Run the outbox consumer that keeps profiles fresh as events arrive. Of several
    /// replicas running it, the one holding the lease consumes and the others stand by
    /// (`caravan_store::consumer_lease`).
    pub consumer_enabled: bool,
    /// Milliseconds between outbox polls when the last poll found nothing.
    pub consumer_poll_ms: u64,
    /// Most outbox entries read per poll. A poll updates each customer it touches once,
    /// applying their new events to their stored event summary.
    pub consumer_batch: u64,
    /// Seconds after which a gap in the outbox sequence is taken as a rolled-back
    /// transaction and passed (see `outbox_cursor`).
    pub outbox_gap_grace_seconds: u64,
    /// Seconds a replica's consumer lease holds without renewal: how long profiles wait
    /// after the consuming replica dies before another takes over. Renewed at every poll
    /// and every third of it during a poll; at least 3 poll intervals.
    pub consumer_lease_seconds: u64,
    /// Partitions of the outbox by customer: each has its own lease and offset, and the
    /// replicas share them (`outbox_partitions`). 1: one replica consumes, the others stand
    /// by. Every replica must be given the same number.
    pub consumer_partitions: u32,
    /// Seconds an outbox row is kept after it was written, once every consumer has applied
    /// it (`outbox_retention`); the consuming replica deletes older applied rows.
    pub outbox_retention_seconds: u64,
    /// Seconds after which the consumer ranks a merchant's buyers again for RFM quintiles;
    /// in between, the customers a poll changes are scored against the last ranking (a poll
    /// that changes a quarter of the ranked buyers or more ranks them all again).
    pub rfm_refresh_seconds: u64,
    /// Milliseconds a value-model fit may run before it gives up (FAILED, saying so).
    pub value_model_fit_budget_ms: u64,
}

impl Default for ProfilingSettings {
    fn default() -> Self {
        Self {
            consumer_enabled: true,
            consumer_poll_ms: 500,
            consumer_batch: 100_000,
            outbox_gap_grace_seconds: 60,
            consumer_lease_seconds: 30,
            consumer_partitions: 1,
            outbox_retention_seconds: 86_400,
            rfm_refresh_seconds: 60,
            value_model_fit_budget_ms: 600_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecommendationSettings {
    /// Milliseconds between checks for a newer serving model version (and catalogue or
    /// country-exclusion changes); every replica polls, so all converge on the same version.
    pub model_poll_ms: u64,
    /// Deadline of the profile read that gives `Recommend` its content affinities; on
    /// expiry (or any profiling error) the call goes on without the content signal.
    pub profile_timeout_ms: u64,
    /// How long the popularity model of a merchant that has never trained (built from its
    /// stored interactions on first use) is served before it is rebuilt.
    pub cold_start_ttl_ms: u64,
    /// Cold-start builds that may run at once across merchants: after a deploy, many
    /// merchants that never trained would otherwise all build at the same time.
    pub max_concurrent_cold_starts: usize,
    /// Milliseconds between checks for erasures: a replica drops the models of a merchant
    /// that erased a customer within this time.
    pub erasure_poll_ms: u64,
}

impl Default for RecommendationSettings {
    fn default() -> Self {
        Self {
            model_poll_ms: 5_000,
            profile_timeout_ms: 100,
            cold_start_ttl_ms: 300_000,
            max_concurrent_cold_starts: 2,
            erasure_poll_ms: 100,
        }
    }
}

/// The default database: an SQLite file below the working directory, created on first use.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://.caravan/caravan.sqlite?mode=rwc";
/// Development-only HMAC key, used when none is configured (start-up warns about it).
pub const DEVELOPMENT_IDENTITY_KEY: &str = "caravan-development-identity-key";

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 50051)),
            request_timeout_ms: 30_000,
            max_message_bytes: 16 * 1024 * 1024,
            shutdown_grace_ms: 25_000,
            http2_stream_window_bytes: 8 << 20,
            http2_connection_window_bytes: 32 << 20,
            max_header_list_bytes: 2 << 20,
            max_concurrent_calls: 1024,
            max_in_flight_request_bytes: 96 << 20,
            tls: ServerTlsSettings::default(),
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: Secret::new(DEFAULT_DATABASE_URL),
            max_connections: 10,
            migrate_on_start: true,
            acquire_timeout_ms: 1_500,
            health_check_interval_ms: 1_000,
        }
    }
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            log_format: LogFormat::Pretty,
            log_filter: "info".to_owned(),
            otlp_endpoint: String::new(),
            metrics_listen_addr: None,
        }
    }
}

impl Default for IngestionSettings {
    fn default() -> Self {
        Self {
            identity_hash_key: Secret::new(DEVELOPMENT_IDENTITY_KEY),
            max_batch_events: 10_000,
            customer_cache_entries: 200_000,
            stream_pipeline_depth: 4,
            max_concurrent_batches: 3,
            erasure_settle_ms: 300,
            failed_event_retention_seconds: 14 * 24 * 3600,
        }
    }
}

impl ServerSettings {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
}

impl ClientSettings {
    pub fn call_timeout(&self) -> Duration {
        Duration::from_millis(self.call_timeout_ms.unwrap_or(5_000))
    }
}

impl DatabaseSettings {
    /// The URL with its password replaced, for logs.
    pub fn redacted_url(&self) -> String {
        redact_url(self.url.expose())
    }
}

impl Settings {
    /// Loads settings from the process environment.
    pub fn load(default_listen: SocketAddr, file: Option<&Path>) -> Result<Self, SettingsError> {
        Self::load_from(default_listen, file, std::env::vars())
    }

    /// Loads settings with an explicit environment, so tests do not touch the process's.
    pub fn load_from(
        default_listen: SocketAddr,
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingsError> {
        let env: config::Map<String, String> = env
            .into_iter()
            .filter(|(key, _)| key.starts_with(&format!("{ENV_PREFIX}{ENV_SEPARATOR}")))
            .collect();
        let mut builder = Config::builder()
            .set_default("server.listen_addr", default_listen.to_string())
            .map_err(|e| SettingsError::Invalid(e.to_string()))?;
        if let Some(path) = file {
            let path_text = path.display().to_string();
            if !path.is_file() {
                return Err(SettingsError::Invalid(format!(
                    "configuration file {path_text} does not exist"
                )));
            }
            builder = builder.add_source(File::new(&path_text, FileFormat::Toml).required(true));
        }
        builder = builder.add_source(
            Environment::with_prefix(ENV_PREFIX)
                .prefix_separator(ENV_SEPARATOR)
                .separator(ENV_SEPARATOR)
                .try_parsing(true)
                .source(Some(env)),
        );
        let loaded = builder.build().map_err(|source| SettingsError::File {
            path: file.map_or_else(|| "<none>".to_owned(), |p| p.display().to_string()),
            source,
        })?;
        let settings: Settings = loaded
            .try_deserialize()
            .map_err(|e| SettingsError::Invalid(e.to_string()))?;
        settings.check()?;
        Ok(settings)
    }

    /// Cross-field checks that serde cannot express.
    fn check(&self) -> Result<(), SettingsError> {
        let url = self.database.url.expose();
        if !(url.starts_with("sqlite:") || url.starts_with("mysql://")) {
            return Err(SettingsError::Invalid(format!(
                "database.url must start with sqlite: or mysql:// (got {})",
                redact_url(url)
            )));
        }
        if self.database.max_connections == 0 {
            return Err(SettingsError::Invalid(
                "database.max_connections must be at least 1".to_owned(),
            ));
        }
        if self.server.max_message_bytes < 1024 {
            return Err(SettingsError::Invalid(
                "server.max_message_bytes must be at least 1024".to_owned(),
            ));
        }
        // HTTP/2 windows are between 65,535 bytes (the protocol's initial) and 2^31 - 1.
        for (name, bytes) in [
            (
                "server.http2_stream_window_bytes",
                self.server.http2_stream_window_bytes,
            ),
            (
                "server.http2_connection_window_bytes",
                self.server.http2_connection_window_bytes,
            ),
        ] {
            if !(65_535..=i32::MAX as u32).contains(&bytes) {
                return Err(SettingsError::Invalid(format!(
                    "{name} must be between 65535 and 2147483647 (got {bytes})"
                )));
            }
        }
        if self.ingestion.stream_pipeline_depth == 0 || self.ingestion.max_concurrent_batches == 0 {
            return Err(SettingsError::Invalid(
                "ingestion.stream_pipeline_depth and ingestion.max_concurrent_batches must be at least 1"
                    .to_owned(),
            ));
        }
        if self.ingestion.max_batch_events == 0 {
            return Err(SettingsError::Invalid(
                "ingestion.max_batch_events must be at least 1".to_owned(),
            ));
        }
        if self.auth.key_refresh_ms == 0 || self.auth.key_refresh_ms > 5_000 {
            return Err(SettingsError::Invalid(format!(
                "auth.key_refresh_ms must be between 1 and 5000 (got {}): revocation must reach every replica within 5 s",
                self.auth.key_refresh_ms
            )));
        }
        if !self.privacy.encryption_keys.is_empty()
            && !self
                .privacy
                .encryption_keys
                .contains_key(&self.privacy.active_encryption_key)
        {
            return Err(SettingsError::Invalid(format!(
                "privacy.active_encryption_key ({:?}) must name one of privacy.encryption_keys",
                self.privacy.active_encryption_key
            )));
        }
        if self.server.tls.cert_file.is_some() != self.server.tls.key_file.is_some() {
            return Err(SettingsError::Invalid(
                "server.tls.cert_file and server.tls.key_file must be set together".to_owned(),
            ));
        }
        if self.server.tls.client_ca_file.is_some() && self.server.tls.cert_file.is_none() {
            return Err(SettingsError::Invalid(
                "server.tls.client_ca_file (mTLS) needs server.tls.cert_file and key_file"
                    .to_owned(),
            ));
        }
        if self.clients.tls.cert_file.is_some() != self.clients.tls.key_file.is_some() {
            return Err(SettingsError::Invalid(
                "clients.tls.cert_file and clients.tls.key_file must be set together".to_owned(),
            ));
        }
        if self.recommendation.model_poll_ms == 0 {
            return Err(SettingsError::Invalid(
                "recommendation.model_poll_ms must be at least 1".to_owned(),
            ));
        }
        if self.recommendation.erasure_poll_ms == 0
            || self.ingestion.erasure_settle_ms
                < self.recommendation.erasure_poll_ms.saturating_mul(2)
        {
            return Err(SettingsError::Invalid(format!(
                "ingestion.erasure_settle_ms ({}) must be at least twice recommendation.erasure_poll_ms ({}), which must be at least 1",
                self.ingestion.erasure_settle_ms, self.recommendation.erasure_poll_ms
            )));
        }
        if self.recommendation.max_concurrent_cold_starts == 0 {
            return Err(SettingsError::Invalid(
                "recommendation.max_concurrent_cold_starts must be at least 1".to_owned(),
            ));
        }
        if self.profiling.consumer_batch == 0 || self.profiling.consumer_poll_ms == 0 {
            return Err(SettingsError::Invalid(
                "profiling.consumer_batch and profiling.consumer_poll_ms must be at least 1"
                    .to_owned(),
            ));
        }
        if !(1..=64).contains(&self.profiling.consumer_partitions) {
            return Err(SettingsError::Invalid(format!(
                "profiling.consumer_partitions ({}) must be between 1 and 64",
                self.profiling.consumer_partitions
            )));
        }
        // Between polls the lease is renewed every poll interval, during one every third
        // of the lease: at least three renewals per lease either way.
        let lease_ms = self.profiling.consumer_lease_seconds.saturating_mul(1000);
        if lease_ms < self.profiling.consumer_poll_ms.saturating_mul(3)
            || self.profiling.consumer_lease_seconds > 86_400
        {
            return Err(SettingsError::Invalid(format!(
                "profiling.consumer_lease_seconds ({}) must be at least 3 times profiling.consumer_poll_ms ({} ms), which renews it, and at most 86400",
                self.profiling.consumer_lease_seconds, self.profiling.consumer_poll_ms
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn addr() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 50062))
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_need_no_configuration() {
        let settings = Settings::load_from(addr(), None, env(&[])).expect("defaults load");
        assert_eq!(settings.server.listen_addr, addr());
        assert_eq!(settings.database.url.expose(), DEFAULT_DATABASE_URL);
        assert!(settings.database.migrate_on_start);
        assert!(settings.telemetry.otlp_endpoint.is_empty());
    }

    #[test]
    fn metrics_listen_on_the_binary_default_unless_configured_or_switched_off() {
        let defaults = Settings::load_from(addr(), None, env(&[])).expect("defaults");
        assert_eq!(
            defaults.telemetry.metrics_addr(9471).expect("default"),
            Some(SocketAddr::from(([127, 0, 0, 1], 9471)))
        );
        let set = |value: &str| {
            Settings::load_from(
                addr(),
                None,
                env(&[("CARAVAN__TELEMETRY__METRICS_LISTEN_ADDR", value)]),
            )
            .expect("loads")
            .telemetry
            .metrics_addr(9471)
        };
        assert_eq!(
            set("0.0.0.0:9464").expect("configured"),
            Some(SocketAddr::from(([0, 0, 0, 0], 9464)))
        );
        assert_eq!(set("").expect("off"), None);
        assert!(set("metrics").is_err());
    }

    #[test]
    fn file_overrides_defaults_and_environment_overrides_file() {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        writeln!(
            file,
            "[server]\nlisten_addr = \"0.0.0.0:6000\"\nrequest_timeout_ms = 1000\n\
             [database]\nurl = \"mysql://u:pw@db/caravan\"\n[telemetry]\nlog_format = \"json\""
        )
        .expect("write config");
        let settings = Settings::load_from(
            addr(),
            Some(file.path()),
            env(&[
                ("CARAVAN__SERVER__REQUEST_TIMEOUT_MS", "2500"),
                ("CARAVAN__CLIENTS__PROFILING_ADDR", "http://profiling:50062"),
                ("CARAVAN_TEST_MYSQL_URL", "ignored: single underscore"),
            ]),
        )
        .expect("layered load");
        assert_eq!(settings.server.listen_addr.to_string(), "0.0.0.0:6000");
        assert_eq!(settings.server.request_timeout_ms, 2500);
        assert_eq!(settings.telemetry.log_format, LogFormat::Json);
        assert_eq!(
            settings.clients.profiling_addr.as_deref(),
            Some("http://profiling:50062")
        );
        assert_eq!(settings.database.redacted_url(), "mysql://u:***@db/caravan");
    }

    #[test]
    fn unknown_keys_are_named_in_the_error() {
        let err = Settings::load_from(addr(), None, env(&[("CARAVAN__SERVER__LISTEN_PORT", "1")]))
            .expect_err("unknown key must fail");
        assert!(err.to_string().contains("listen_port"), "{err}");

        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        writeln!(file, "[databse]\nurl = \"sqlite://x\"").expect("write config");
        let err = Settings::load_from(addr(), Some(file.path()), env(&[]))
            .expect_err("unknown section must fail");
        assert!(err.to_string().contains("databse"), "{err}");
    }

    #[test]
    fn secrets_never_appear_in_debug_output_or_errors() {
        let settings = Settings::load_from(
            addr(),
            None,
            env(&[("CARAVAN__DATABASE__URL", "mysql://u:topsecret@db/x")]),
        )
        .expect("load");
        assert!(!format!("{settings:?}").contains("topsecret"));
        let err = Settings::load_from(
            addr(),
            None,
            env(&[("CARAVAN__DATABASE__URL", "postgres://u:topsecret@db/x")]),
        )
        .expect_err("unsupported scheme");
        assert!(!err.to_string().contains("topsecret"), "{err}");
    }

    #[test]
    fn missing_file_and_bad_values_are_errors() {
        let missing = Settings::load_from(addr(), Some(Path::new("/nonexistent/c.toml")), env(&[]));
        assert!(missing.is_err());
        let bad = Settings::load_from(
            addr(),
            None,
            env(&[("CARAVAN__SERVER__LISTEN_ADDR", "nope")]),
        );
        assert!(bad.is_err());
    }

    #[test]
    fn concurrent_cold_starts_are_bounded_by_a_positive_number() {
        let load = |value: &str| {
            Settings::load_from(
                addr(),
                None,
                env(&[("CARAVAN__RECOMMENDATION__MAX_CONCURRENT_COLD_STARTS", value)]),
            )
        };
        assert_eq!(
            Settings::load_from(addr(), None, env(&[]))
                .expect("defaults")
                .recommendation
                .max_concurrent_cold_starts,
            2
        );
        assert_eq!(
            load("5")
                .expect("load")
                .recommendation
                .max_concurrent_cold_starts,
            5
        );
        let err = load("0").expect_err("zero");
        assert!(
            err.to_string().contains("max_concurrent_cold_starts"),
            "{err}"
        );
    }

    #[test]
    fn ingestion_concurrency_and_http2_windows_are_checked() {
        let load = |key: &str, value: &str| Settings::load_from(addr(), None, env(&[(key, value)]));
        let defaults = load("CARAVAN__INGESTION__MAX_BATCH_EVENTS", "1000").expect("load");
        assert_eq!(defaults.ingestion.stream_pipeline_depth, 4);
        assert_eq!(defaults.ingestion.max_concurrent_batches, 3);
        assert_eq!(defaults.server.http2_stream_window_bytes, 8 << 20);
        for key in [
            "CARAVAN__INGESTION__STREAM_PIPELINE_DEPTH",
            "CARAVAN__INGESTION__MAX_CONCURRENT_BATCHES",
        ] {
            let err = load(key, "0").expect_err("zero");
            assert!(err.to_string().contains("at least 1"), "{err}");
        }
        let two = load("CARAVAN__INGESTION__STREAM_PIPELINE_DEPTH", "2").expect("load");
        assert_eq!(two.ingestion.stream_pipeline_depth, 2);
        let two = load("CARAVAN__INGESTION__MAX_CONCURRENT_BATCHES", "2").expect("load");
        assert_eq!(two.ingestion.max_concurrent_batches, 2);
        let err = load("CARAVAN__SERVER__HTTP2_STREAM_WINDOW_BYTES", "1000").expect_err("small");
        assert!(
            err.to_string().contains("http2_stream_window_bytes"),
            "{err}"
        );
        let err = load(
            "CARAVAN__SERVER__HTTP2_CONNECTION_WINDOW_BYTES",
            "4294967295",
        )
        .expect_err("above 2^31 - 1");
        assert!(err.to_string().contains("2147483647"), "{err}");
    }

    #[test]
    fn the_consumer_lease_must_outlast_the_poll_that_renews_it() {
        let load = |vars: &[(&str, &str)]| Settings::load_from(addr(), None, env(vars));
        let defaults = load(&[]).expect("load");
        assert_eq!(defaults.profiling.consumer_lease_seconds, 30);
        let two = load(&[("CARAVAN__PROFILING__CONSUMER_LEASE_SECONDS", "2")]).expect("load");
        assert_eq!(two.profiling.consumer_lease_seconds, 2);
        for vars in [
            &[("CARAVAN__PROFILING__CONSUMER_LEASE_SECONDS", "0")][..],
            &[
                ("CARAVAN__PROFILING__CONSUMER_LEASE_SECONDS", "2"),
                ("CARAVAN__PROFILING__CONSUMER_POLL_MS", "700"),
            ][..],
            &[("CARAVAN__PROFILING__CONSUMER_LEASE_SECONDS", "86401")][..],
        ] {
            let err = load(vars).expect_err("invalid lease");
            assert!(err.to_string().contains("consumer_lease_seconds"), "{err}");
        }
    }

    #[test]
    fn consumer_partitions_are_between_1_and_64() {
        let load = |vars: &[(&str, &str)]| Settings::load_from(addr(), None, env(vars));
        assert_eq!(load(&[]).expect("load").profiling.consumer_partitions, 1);
        let four = load(&[("CARAVAN__PROFILING__CONSUMER_PARTITIONS", "4")]).expect("load");
        assert_eq!(four.profiling.consumer_partitions, 4);
        for bad in ["0", "65"] {
            let err = load(&[("CARAVAN__PROFILING__CONSUMER_PARTITIONS", bad)])
                .expect_err("out of range");
            assert!(err.to_string().contains("consumer_partitions"), "{err}");
        }
    }
}
