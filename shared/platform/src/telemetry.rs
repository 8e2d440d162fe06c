//! Logs and traces for every binary.
//!
//! `tracing` is the one instrumentation API. Logs go to stderr as pretty text or JSON. Spans
//! are always bridged to OpenTelemetry so that W3C trace context flows through every gRPC hop
//! (see [`crate::trace_context`]); they are exported over OTLP/gRPC only when
//! `telemetry.otlp_endpoint` is set.

use std::io::IsTerminal;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::settings::{LogFormat, TelemetrySettings};

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("telemetry.log_filter {filter:?} is not a valid filter: {reason}")]
    Filter { filter: String, reason: String },
    #[error("cannot build the OTLP exporter for {endpoint}: {reason}")]
    Exporter { endpoint: String, reason: String },
    #[error("a global tracing subscriber is already installed: {0}")]
    AlreadyInstalled(String),
}

/// Flushes and stops trace export when dropped: keep it alive for the life of `main`.
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        // Export what is buffered; failure to reach a collector at exit is not worth a panic.
        if let Err(err) = self.provider.shutdown() {
            eprintln!("telemetry shutdown: {err}");
        }
    }
}

/// Installs the global subscriber and the W3C trace-context propagator.
pub fn init(
    settings: &TelemetrySettings,
    service_name: &str,
) -> Result<TelemetryGuard, TelemetryError> {
    install_propagator();
    let provider = tracer_provider(settings, service_name)?;
    let tracer = provider.tracer(service_name.to_owned());
    let filter = EnvFilter::try_new(&settings.log_filter).map_err(|e| TelemetryError::Filter {
        filter: settings.log_filter.clone(),
        reason: e.to_string(),
    })?;
    let fmt_layer = match settings.log_format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            // Colours only for a person at a terminal, never into files or collectors.
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .boxed(),
    };
    Registry::default()
        .with(filter)
        .with(fmt_layer)
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .try_init()
        .map_err(|e| TelemetryError::AlreadyInstalled(e.to_string()))?;
    Ok(TelemetryGuard { provider })
}

/// W3C `traceparent`/`tracestate` is what every Caravan hop reads and writes.
pub fn install_propagator() {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
}

fn tracer_provider(
    settings: &TelemetrySettings,
    service_name: &str,
) -> Result<SdkTracerProvider, TelemetryError> {
    let resource = Resource::builder()
        .with_service_name(service_name.to_owned())
        .build();
    let builder = SdkTracerProvider::builder().with_resource(resource);
    if settings.otlp_endpoint.is_empty() {
        // No exporter: spans still get ids, so the context a caller sent is passed on.
        return Ok(builder.build());
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(settings.otlp_endpoint.clone())
        .build()
        .map_err(|e| TelemetryError::Exporter {
            endpoint: settings.otlp_endpoint.clone(),
            reason: e.to_string(),
        })?;
    Ok(builder.with_batch_exporter(exporter).build())
}
