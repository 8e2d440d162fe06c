//! The gRPC server every Caravan binary runs.
//!
//! It adds what operators rely on to whatever services a binary hosts: `grpc.health.v1`
//! with a status per service, server reflection in v1 and v1alpha (grpcurl 1.8 only speaks
//! v1alpha), a request span that continues the caller's trace, a per-call deadline, and a
//! graceful shutdown that first reports NOT_SERVING, then stops accepting connections and lets
//! in-flight calls finish within `server.shutdown_grace_ms`.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::service::RoutesBuilder;
use tonic::transport::Server;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tower::Service;

use crate::guard::{Admission, Guard, RequestGuard};
use crate::middleware::MiddlewareLayer;
use crate::settings::{ServerSettings, ServerTlsSettings};
use crate::trace_context::server_span;

const HEALTH_SERVICE: &str = "grpc.health.v1.Health";
/// The `grpc.health.v1` name a liveness probe asks for: `SERVING` for as long as the process
/// answers at all, whatever its database does (the services' own names are for readiness).
pub const LIVENESS_SERVICE: &str = "liveness";
const REFLECTION_V1: &str = "grpc.reflection.v1.ServerReflection";
const REFLECTION_V1ALPHA: &str = "grpc.reflection.v1alpha.ServerReflection";

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("reflection descriptors are invalid: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("gRPC transport failed: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("in-flight calls did not finish within the {0:?} shutdown grace period")]
    DrainTimeout(Duration),
    #[error(
        "refusing to serve on {0} without an access guard: only loopback addresses may go unauthenticated"
    )]
    Unguarded(SocketAddr),
    #[error("TLS: cannot read {path}: {source}")]
    TlsFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Most time the work registered with [`ServiceSet::after_stop`] gets, all of it together
/// (it must fit in the pod's termination grace period after the drain; see deploy/README).
const AFTER_STOP_GRACE: Duration = Duration::from_secs(3);

/// The application services one binary hosts, collected before the server starts.
#[derive(Default)]
pub struct ServiceSet {
    routes: RoutesBuilder,
    names: Vec<&'static str>,
    after_stop: Vec<futures::future::BoxFuture<'static, ()>>,
    guard: Option<Arc<dyn RequestGuard>>,
    store_check: Option<crate::database::StoreHealth>,
    repeated_limits: Vec<crate::repeated_limit::RepeatedFieldLimit>,
}

impl ServiceSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one generated tonic server (`IngestionServiceServer::new(..)`, ...).
    pub fn add<S>(&mut self, service: S) -> &mut Self
    where
        S: Service<http::Request<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        self.names.push(S::NAME);
        self.routes.add_service(service);
        self
    }

    pub fn names(&self) -> &[&'static str] {
        &self.names
    }

    /// The guard every request passes before its RPC runs (authentication and
    /// authorization, `caravan-access`). Without one the server serves loopback only.
    pub fn guard(&mut self, guard: Arc<dyn RequestGuard>) -> &mut Self {
        self.guard = Some(guard);
        self
    }

    /// Checks (every `health.every`, when set) that the store answers, and reports the
    /// services `NOT_SERVING` on `grpc.health.v1` while it does not (`SERVING` again once
    /// it does): a readiness probe then takes the replica out of rotation during a database
    /// outage. The store's pool is also watched for the pool metrics.
    pub fn store_health(&mut self, health: crate::database::StoreHealth) -> &mut Self {
        self.store_check = Some(health);
        self
    }

    /// Limits on repeated fields enforced while requests arrive, before decoding
    /// ([`crate::repeated_limit`]).
    pub fn limit_repeated(
        &mut self,
        limits: impl IntoIterator<Item = crate::repeated_limit::RepeatedFieldLimit>,
    ) -> &mut Self {
        self.repeated_limits.extend(limits);
        self
    }

    /// Work to do once the server has stopped, before the process exits: stopping
    /// background tasks and handing back what they hold (e.g. the outbox consumer's
    /// lease). Runs in order, within 3 s in all, also when draining failed.
    pub fn after_stop(&mut self, work: impl Future<Output = ()> + Send + 'static) -> &mut Self {
        self.after_stop.push(Box::pin(work));
        self
    }

    /// For a server that will not start after all (its port could not be bound): runs the
    /// [`ServiceSet::after_stop`] work, so that background tasks started with the services
    /// still hand back what they hold.
    pub async fn abandon(self) {
        run_after_stop(self.after_stop).await;
    }
}

async fn run_after_stop(work: Vec<futures::future::BoxFuture<'static, ()>>) {
    if work.is_empty() {
        return;
    }
    let all = async {
        for w in work {
            w.await;
        }
    };
    if tokio::time::timeout(AFTER_STOP_GRACE, all).await.is_err() {
        tracing::warn!(
            grace = ?AFTER_STOP_GRACE,
            "work after the server stopped did not finish in time"
        );
    }
}

/// Binds the configured address. Binding is separate from serving so that callers (tests,
/// `caravan serve`) can learn the real port of `:0` before the server runs.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })
}

/// Serves `services` on `listener` until `shutdown` completes, then drains.
pub async fn serve(
    settings: &ServerSettings,
    listener: TcpListener,
    services: ServiceSet,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let local = listener.local_addr().ok();
    let local_addr = local.map(|addr| addr.to_string()).unwrap_or_default();
    let guard = match (services.guard.clone(), local) {
        (Some(guard), _) => guard,
        (None, Some(addr)) if addr.ip().is_loopback() => Arc::new(AdmitAll),
        (None, addr) => {
            run_after_stop(services.after_stop).await;
            return Err(ServerError::Unguarded(addr.unwrap_or(settings.listen_addr)));
        }
    };
    let tls = match tls_config(&settings.tls) {
        Ok(tls) => tls,
        Err(err) => {
            run_after_stop(services.after_stop).await;
            return Err(err);
        }
    };
    let (reporter, health_service) = tonic_health::server::health_reporter();
    for name in &services.names {
        reporter
            .set_service_status(*name, ServingStatus::Serving)
            .await;
    }
    // Liveness is not readiness: a replica whose database is down is alive and must not be
    // restarted (it would not start without its database); it is only taken out of rotation.
    reporter
        .set_service_status(LIVENESS_SERVICE, ServingStatus::Serving)
        .await;
    let after_stop = services.after_stop;
    let mut routes = services.routes;
    routes.add_service(health_service);
    if let Err(err) = add_reflection(&mut routes, &services.names) {
        run_after_stop(after_stop).await;
        return Err(err);
    }

    let (signal_seen_tx, signal_seen_rx) = watch::channel(false);
    if let Some(health) = services.store_check {
        crate::metrics::watch_pool(health.store.clone());
        if let Some(every) = health.every {
            tokio::spawn(crate::readiness::follow_store(
                health.probe,
                every,
                reporter.clone(),
                services.names.clone(),
                signal_seen_rx.clone(),
            ));
        }
    }
    let names = services.names.clone();
    let signal = async move {
        shutdown.await;
        // Long computations off the runtime (fits, trainings) give up at their next check.
        caravan_core::shutdown::request();
        tracing::info!("shutdown requested: reporting NOT_SERVING and draining in-flight calls");
        report_not_serving(&reporter, &names).await;
        let _ = signal_seen_tx.send(true);
    };

    tracing::info!(
        address = %local_addr,
        services = ?services.names,
        tls = tls.is_some(),
        "gRPC server listening"
    );
    let mut builder = Server::builder();
    if let Some(tls) = tls {
        builder = builder.tls_config(tls)?;
    }
    let server = builder
        .timeout(settings.request_timeout())
        .tcp_nodelay(true)
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .initial_stream_window_size(settings.http2_stream_window_bytes)
        .initial_connection_window_size(settings.http2_connection_window_bytes)
        .http2_max_header_list_size(settings.max_header_list_bytes)
        .trace_fn(server_span)
        // Outermost, so that refused calls (authentication, load shedding) are counted too.
        .layer(MiddlewareLayer(crate::metrics::rpc::RedMetrics))
        // Before the guard, which reads the first message: its bytes count too.
        .layer(crate::load_shed::LoadShedder::layer(
            crate::load_shed::Limits {
                max_concurrent_calls: settings.max_concurrent_calls,
                max_in_flight_request_bytes: settings.max_in_flight_request_bytes,
            },
        ))
        .layer(MiddlewareLayer(Guard(guard)))
        // After the access check (a stranger's batch is UNAUTHENTICATED, not too long), before
        // the decoder.
        .layer(MiddlewareLayer(crate::repeated_limit::RepeatedLimits::new(
            services.repeated_limits,
        )))
        .layer(tower::util::MapResponseLayer::new(
            crate::decode_errors::fix_response,
        ))
        .add_routes(routes.routes())
        // `tcp_nodelay` above only applies to listeners tonic binds itself; accepted streams
        // of our own listener need it set here, or small responses wait ~40 ms for the
        // peer's delayed ACK (Nagle).
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            signal,
        );
    let result = drain_within(settings.shutdown_grace(), server, signal_seen_rx).await;
    run_after_stop(after_stop).await;
    result
}

/// The guard of a loopback server that was given none (in-process tests).
struct AdmitAll;

impl RequestGuard for AdmitAll {
    fn admit(
        self: Arc<Self>,
        request: http::Request<tonic::body::Body>,
    ) -> futures::future::BoxFuture<'static, Admission> {
        Box::pin(std::future::ready(Ok(request)))
    }
}

/// Server TLS from PEM files, and client-certificate verification when a client CA is set.
fn tls_config(
    settings: &ServerTlsSettings,
) -> Result<Option<tonic::transport::ServerTlsConfig>, ServerError> {
    let (Some(cert), Some(key)) = (&settings.cert_file, &settings.key_file) else {
        return Ok(None);
    };
    let identity = tonic::transport::Identity::from_pem(read_pem(cert)?, read_pem(key)?);
    let mut config = tonic::transport::ServerTlsConfig::new().identity(identity);
    if let Some(ca) = &settings.client_ca_file {
        config = config.client_ca_root(tonic::transport::Certificate::from_pem(read_pem(ca)?));
    }
    Ok(Some(config))
}

/// Reads a PEM file named by the settings.
pub fn read_pem(path: &std::path::Path) -> Result<Vec<u8>, ServerError> {
    std::fs::read(path).map_err(|source| ServerError::TlsFile {
        path: path.display().to_string(),
        source,
    })
}

/// Runs the server, but gives up on in-flight calls once the grace period after the shutdown
/// signal is over, so a stuck call cannot hold a pod in Terminating forever.
async fn drain_within(
    grace: Duration,
    server: impl Future<Output = Result<(), tonic::transport::Error>>,
    mut signal_seen: watch::Receiver<bool>,
) -> Result<(), ServerError> {
    let deadline = async move {
        while !*signal_seen.borrow() {
            if signal_seen.changed().await.is_err() {
                // The signal future is gone without firing: the server itself ended.
                std::future::pending::<()>().await;
            }
        }
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        result = server => {
            result?;
            tracing::info!("gRPC server stopped");
            Ok(())
        }
        () = deadline => Err(ServerError::DrainTimeout(grace)),
    }
}

async fn report_not_serving(reporter: &HealthReporter, names: &[&'static str]) {
    report(reporter, names, ServingStatus::NotServing).await;
}

/// Sets `status` for every service of `names` and for the server as a whole (`""`).
pub(crate) async fn report(
    reporter: &HealthReporter,
    names: &[&'static str],
    status: ServingStatus,
) {
    for name in names {
        reporter.set_service_status(*name, status).await;
    }
    reporter.set_service_status("", status).await;
}

/// Adds reflection, v1 and v1alpha, advertising exactly the services this binary serves.
fn add_reflection(routes: &mut RoutesBuilder, names: &[&'static str]) -> Result<(), ServerError> {
    let builder = || {
        let mut builder = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(caravan_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            // google.rpc error details, so grpcurl can print BadRequest field violations.
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
            .with_service_name(HEALTH_SERVICE)
            .with_service_name(REFLECTION_V1)
            .with_service_name(REFLECTION_V1ALPHA);
        for name in names {
            builder = builder.with_service_name(*name);
        }
        builder
    };
    routes
        .add_service(builder().build_v1()?)
        .add_service(builder().build_v1alpha()?);
    Ok(())
}

/// Completes on SIGTERM (Kubernetes) or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drain_returns_when_the_server_finishes_in_time() {
        let (tx, rx) = watch::channel(false);
        let server = async move {
            let _ = tx.send(true);
            tokio::time::sleep(Duration::from_millis(10)).await;
            Ok(())
        };
        drain_within(Duration::from_secs(5), server, rx)
            .await
            .expect("server finished within grace");
    }

    #[tokio::test]
    async fn drain_gives_up_after_the_grace_period() {
        let (tx, rx) = watch::channel(false);
        let server = async move {
            let _ = tx.send(true);
            std::future::pending::<Result<(), tonic::transport::Error>>().await
        };
        let err = drain_within(Duration::from_millis(20), server, rx)
            .await
            .expect_err("stuck call must time out");
        assert!(matches!(err, ServerError::DrainTimeout(_)));
    }
}
