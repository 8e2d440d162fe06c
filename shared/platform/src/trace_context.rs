//! W3C trace context across gRPC hops.
//!
//! Servers read `traceparent` from the request headers and make it the parent of the request
//! span ([`server_span`], installed by [`crate::server`]); clients write the current span's
//! context into the outgoing metadata ([`inject_current_context`], called by
//! `crate::client::CallerInterceptor`). Together they make one
//! trace out of a call that crosses services.

use opentelemetry::propagation::{Extractor, Injector};
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tracing_opentelemetry::OpenTelemetrySpanExt;

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct MetadataInjector<'a>(&'a mut MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        // A propagator only emits header-safe ASCII; anything else is dropped, not fatal.
        if let (Ok(key), Ok(value)) = (
            MetadataKey::from_bytes(key.as_bytes()),
            MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(key, value);
        }
    }
}

/// The span of one incoming gRPC call, child of the caller's span when it sent `traceparent`.
pub fn server_span(request: &http::Request<()>) -> tracing::Span {
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(request.headers()))
    });
    let path = request.uri().path();
    let (service, method) = split_grpc_path(path);
    let span = tracing::info_span!(
        "grpc.server",
        otel.name = %path.trim_start_matches('/'),
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
    );
    // Only fails when the span is disabled by the filter, in which case there is nothing to link.
    let _ = span.set_parent(parent);
    span
}

/// Writes the current span's trace context into outgoing request metadata.
pub fn inject_current_context(metadata: &mut MetadataMap) {
    let context = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut MetadataInjector(metadata));
    });
}

fn split_grpc_path(path: &str) -> (&str, &str) {
    let trimmed = path.trim_start_matches('/');
    trimmed.split_once('/').unwrap_or((trimmed, ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_grpc_paths() {
        assert_eq!(
            split_grpc_path("/caravan.profiling.v1.ProfilingService/GetProfile"),
            ("caravan.profiling.v1.ProfilingService", "GetProfile")
        );
        assert_eq!(split_grpc_path("/odd"), ("odd", ""));
    }
}
