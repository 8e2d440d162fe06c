//! W3C trace context across gRPC hops.
//!
//! Servers read `traceparent` from the request headers and make it the parent of the request
//! span ([`server_span`], installed by [`crate::server`]); clients write the current span's
//! context into the outgoing metadata ([`inject_current_context`], called by
//! `crate::client::CallerInterceptor`). Together they make one
//! trace out of a call that crosses services.

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
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

/// The current span's trace context as a W3C `traceparent` value, to store beside work that
/// another process will do later (an outbox row); `None` when there is no sampled-or-not
/// valid context (tracing off).
pub fn current_traceparent() -> Option<String> {
    use opentelemetry::trace::TraceContextExt as _;
    let context = tracing::Span::current().context();
    let span = context.span();
    let sc = span.span_context();
    sc.is_valid().then(|| {
        format!(
            "00-{}-{}-{:02x}",
            sc.trace_id(),
            sc.span_id(),
            sc.trace_flags().to_u8()
        )
    })
}

/// The remote span a stored `traceparent` names; `None` if it is not a valid one.
pub fn span_context_of(traceparent: &str) -> Option<opentelemetry::trace::SpanContext> {
    use opentelemetry::trace::TraceContextExt as _;
    let carrier =
        std::collections::HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let context = opentelemetry_sdk::propagation::TraceContextPropagator::new().extract(&carrier);
    let sc = context.span().span_context().clone();
    sc.is_valid().then_some(sc)
}

/// Most links one span carries to the traces it continues besides its parent's.
const MAX_LINKS: usize = 128;

/// Makes `span` continue the traces of `traceparents` (work done for several callers at
/// once, such as one batch of outbox rows): the first valid one becomes its parent, the
/// others are linked (OpenTelemetry's way for batch consumers).
pub fn continue_traces<'a>(span: &tracing::Span, traceparents: impl IntoIterator<Item = &'a str>) {
    use opentelemetry::trace::TraceContextExt as _;
    let mut contexts = traceparents.into_iter().filter_map(span_context_of);
    let Some(first) = contexts.next() else {
        return;
    };
    let parent = opentelemetry::Context::new().with_remote_span_context(first.clone());
    let _ = span.set_parent(parent);
    let mut linked = std::collections::HashSet::from([first.span_id()]);
    for sc in contexts {
        if linked.len() > MAX_LINKS {
            break;
        }
        if linked.insert(sc.span_id()) {
            span.add_link(sc);
        }
    }
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

    #[test]
    fn traceparents_are_read_back_and_garbage_is_not() {
        let sc = span_context_of("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .expect("valid");
        assert_eq!(
            sc.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(sc.span_id().to_string(), "00f067aa0ba902b7");
        assert!(sc.is_remote());
        for bad in [
            "",
            "00-zz-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        ] {
            assert!(span_context_of(bad).is_none(), "{bad}");
        }
    }
}
