//! Channels to other Caravan services.
//!
//! Services call each other over gRPC even inside the all-in-one process, so a call always
//! crosses the same code path (deadline, trace propagation, retries by the caller) whether the
//! suite runs as one binary or as separate Kubernetes Deployments.

use std::time::Duration;

use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use caravan_proto::caravan::profiling::v1::profiling_service_client::ProfilingServiceClient;

use crate::settings::ClientSettings;
use crate::trace_context::TraceContextInterceptor;

/// A channel whose every call carries the caller's W3C trace context.
pub type TracedChannel = InterceptedService<Channel, TraceContextInterceptor>;

#[derive(Debug, thiserror::Error)]
#[error("invalid service address {addr:?}: {reason}")]
pub struct ClientError {
    addr: String,
    reason: String,
}

/// A channel that connects on first use (and reconnects after failures), so a service starts
/// even while the one it depends on is still coming up.
pub fn lazy_channel(addr: &str, call_timeout: Duration) -> Result<TracedChannel, ClientError> {
    let endpoint = Endpoint::from_shared(addr.to_owned()).map_err(|e| ClientError {
        addr: addr.to_owned(),
        reason: e.to_string(),
    })?;
    let channel = endpoint
        .connect_timeout(Duration::from_secs(2))
        .timeout(call_timeout)
        .tcp_nodelay(true)
        .connect_lazy();
    Ok(InterceptedService::new(channel, TraceContextInterceptor))
}

/// Where `caravan serve` and the single-service binaries find profiling when
/// `clients.profiling_addr` is not configured.
pub const DEFAULT_PROFILING_ADDR: &str = "http://127.0.0.1:50062";

/// A profiling client for marketing and recommendation, per `clients.*` settings.
pub fn profiling_client(
    settings: &ClientSettings,
) -> Result<ProfilingServiceClient<TracedChannel>, ClientError> {
    let addr = settings
        .profiling_addr
        .as_deref()
        .unwrap_or(DEFAULT_PROFILING_ADDR);
    Ok(ProfilingServiceClient::new(lazy_channel(
        addr,
        settings.call_timeout(),
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rejects_malformed_addresses() {
        let err = lazy_channel("not a uri", Duration::from_secs(1)).expect_err("bad uri");
        assert!(err.to_string().contains("not a uri"));
        lazy_channel("http://127.0.0.1:1", Duration::from_secs(1)).expect("lazy channel");
    }
}
