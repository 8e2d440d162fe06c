//! Channels to other Caravan services.
//!
//! Services call each other over gRPC even inside the all-in-one process, so a call always
//! crosses the same code path (deadline, trace propagation, credentials, TLS, retries by the
//! caller) whether the suite runs as one binary or as separate Kubernetes Deployments.

use std::time::Duration;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use caravan_proto::caravan::profiling::v1::profiling_service_client::ProfilingServiceClient;

use crate::secret::Secret;
use crate::settings::{ClientSettings, ClientTlsSettings};
use crate::trace_context::inject_current_context;

/// A channel whose every call carries the caller's W3C trace context and, when configured,
/// this service's API key.
pub type ServiceChannel = InterceptedService<Channel, CallerInterceptor>;

#[derive(Debug, thiserror::Error)]
#[error("invalid service address {addr:?}: {reason}")]
pub struct ClientError {
    addr: String,
    reason: String,
}

/// Adds the trace context and the `authorization` metadata to every outgoing call.
#[derive(Clone, Default)]
pub struct CallerInterceptor {
    authorization: Option<MetadataValue<Ascii>>,
}

impl CallerInterceptor {
    /// An interceptor that sends `authorization: Bearer <key>`; `None` sends no credential.
    pub fn new(api_key: Option<&Secret>) -> Result<Self, String> {
        let authorization = api_key
            .map(|key| {
                MetadataValue::try_from(format!("Bearer {}", key.expose()))
                    .map_err(|_| "the API key is not valid header text".to_owned())
            })
            .transpose()?;
        Ok(Self { authorization })
    }
}

impl std::fmt::Debug for CallerInterceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallerInterceptor")
            .field("authorization", &self.authorization.as_ref().map(|_| "***"))
            .finish()
    }
}

impl tonic::service::Interceptor for CallerInterceptor {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        inject_current_context(request.metadata_mut());
        // A call that carries a credential already acts for its original caller (a
        // delegated call); the service's own key is for the others.
        if let Some(value) = &self.authorization
            && !request.metadata().contains_key("authorization")
        {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A channel that connects on first use (and reconnects after failures), so a service starts
/// even while the one it depends on is still coming up.
pub fn lazy_channel(addr: &str, settings: &ClientSettings) -> Result<ServiceChannel, ClientError> {
    let error = |reason: String| ClientError {
        addr: addr.to_owned(),
        reason,
    };
    let mut endpoint = Endpoint::from_shared(addr.to_owned()).map_err(|e| error(e.to_string()))?;
    if let Some(tls) = client_tls(&settings.tls).map_err(error)? {
        if !addr.starts_with("https://") {
            return Err(error(
                "clients.tls is set: the address must start with https://".to_owned(),
            ));
        }
        endpoint = endpoint.tls_config(tls).map_err(|e| error(e.to_string()))?;
    }
    let channel = endpoint
        .connect_timeout(Duration::from_secs(2))
        .timeout(settings.call_timeout())
        .tcp_nodelay(true)
        .connect_lazy();
    let interceptor = CallerInterceptor::new(settings.api_key.as_ref()).map_err(error)?;
    Ok(InterceptedService::new(channel, interceptor))
}

fn client_tls(settings: &ClientTlsSettings) -> Result<Option<ClientTlsConfig>, String> {
    let Some(ca) = &settings.ca_file else {
        return Ok(None);
    };
    let read = |path: &std::path::Path| {
        std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    let mut config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(ca)?));
    if let (Some(cert), Some(key)) = (&settings.cert_file, &settings.key_file) {
        config = config.identity(Identity::from_pem(read(cert)?, read(key)?));
    }
    if let Some(domain) = &settings.domain {
        config = config.domain_name(domain.clone());
    }
    Ok(Some(config))
}

/// Where `caravan serve` and the single-service binaries find profiling when
/// `clients.profiling_addr` is not configured.
pub const DEFAULT_PROFILING_ADDR: &str = "http://127.0.0.1:50062";

/// A profiling client for marketing and recommendation, per `clients.*` settings.
pub fn profiling_client(
    settings: &ClientSettings,
) -> Result<ProfilingServiceClient<ServiceChannel>, ClientError> {
    let addr = settings
        .profiling_addr
        .as_deref()
        .unwrap_or(DEFAULT_PROFILING_ADDR);
    Ok(ProfilingServiceClient::new(lazy_channel(addr, settings)?))
}

#[cfg(test)]
mod tests {
    use tonic::service::Interceptor;

    use super::*;

    #[tokio::test]
    async fn rejects_malformed_addresses() {
        let settings = ClientSettings::default();
        let err = lazy_channel("not a uri", &settings).expect_err("bad uri");
        assert!(err.to_string().contains("not a uri"));
        lazy_channel("http://127.0.0.1:1", &settings).expect("lazy channel");
    }

    #[tokio::test]
    async fn tls_needs_an_https_address() {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not really a certificate").expect("write");
        let mut settings = ClientSettings::default();
        settings.tls.ca_file = Some(ca);
        let err = lazy_channel("http://127.0.0.1:1", &settings).expect_err("plaintext address");
        assert!(err.to_string().contains("https://"), "{err}");
    }

    #[test]
    fn sends_the_key_as_a_bearer_token_and_never_prints_it() {
        let key = Secret::new("cvn_abcdefghijkl_secret");
        let mut interceptor = CallerInterceptor::new(Some(&key)).expect("valid");
        let request = interceptor
            .call(tonic::Request::new(()))
            .expect("intercepted");
        assert_eq!(
            request
                .metadata()
                .get("authorization")
                .map(|v| v.to_str().ok()),
            Some(Some("Bearer cvn_abcdefghijkl_secret"))
        );
        assert!(!format!("{interceptor:?}").contains("secret"));
        let mut delegated = tonic::Request::new(());
        delegated
            .metadata_mut()
            .insert("authorization", "Bearer the-caller".parse().expect("ascii"));
        let delegated = interceptor.call(delegated).expect("intercepted");
        assert_eq!(
            delegated
                .metadata()
                .get("authorization")
                .map(|v| v.to_str().ok()),
            Some(Some("Bearer the-caller")),
            "the caller's credential is kept"
        );
        let mut anonymous = CallerInterceptor::default();
        let request = anonymous
            .call(tonic::Request::new(()))
            .expect("intercepted");
        assert!(request.metadata().get("authorization").is_none());
    }
}
