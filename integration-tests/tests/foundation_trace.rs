//! One trace spans the marketing -> profiling hop: marketing's profiling client injects W3C
//! trace context, the profiling server (started through the shared bootstrap) continues it.
//! Spans are captured with OpenTelemetry's in-memory exporter.

use anyhow::{Context, Result, ensure};
use caravan_marketing::ProfileSource;
use caravan_platform::server::{self, ServiceSet};
use caravan_platform::settings::{ClientSettings, ServerSettings};
use opentelemetry::trace::{SpanKind, TraceContextExt as _, TraceId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_from_marketing_to_profiling_carries_the_callers_trace() -> Result<()> {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    // Global: the server handles the call on other runtime threads.
    tracing::subscriber::set_global_default(subscriber).context("install subscriber")?;
    caravan_platform::telemetry::install_propagator();

    // The services run in this process: they read what the binaries sealed.
    caravan_integration_tests::install_test_encryption_key()?;
    let db = caravan_store::testing::sqlite_memory().await?;
    let listener = server::bind("127.0.0.1:0".parse()?).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut services = ServiceSet::new();
    services.add(caravan_profiling::ProfilingApi::new(db).into_server(4 << 20));
    let settings = ServerSettings::default();
    let serving = tokio::spawn(async move {
        server::serve(&settings, listener, services, async {
            let _ = stopped.await;
        })
        .await
    });

    let client = caravan_platform::client::profiling_client(&ClientSettings {
        profiling_addr: Some(format!("http://{addr}")),
        call_timeout_ms: Some(5_000),
        ..Default::default()
    })?;
    let profiles = ProfileSource::new(client);
    let caller = tracing::info_span!("marketing.score_strategies");
    let caller_trace = caller.context().span().span_context().trace_id();
    ensure!(
        caller_trace != TraceId::INVALID,
        "caller span has no trace id"
    );
    // Whatever profiling answers (the profile RPCs come with the profiling issue), the
    // call crosses the hop; the trace is what is under test here.
    let _answer = profiles
        .profile("merchants/acme/customers/c1")
        .instrument(caller)
        .await;

    let _ = stop.send(());
    serving.await??;
    provider.force_flush()?;

    let spans = exporter.get_finished_spans()?;
    let server_span = spans
        .iter()
        .find(|s| s.name == "caravan.profiling.v1.ProfilingService/GetProfile")
        .with_context(|| {
            let names: Vec<_> = spans.iter().map(|s| s.name.to_string()).collect();
            format!("no profiling server span among {names:?}")
        })?;
    ensure!(
        server_span.span_kind == SpanKind::Server,
        "server span kind"
    );
    ensure!(
        server_span.span_context.trace_id() == caller_trace,
        "profiling's span is in trace {}, the caller's is {caller_trace}",
        server_span.span_context.trace_id()
    );
    let client_span = spans
        .iter()
        .find(|s| s.name == "profile")
        .context("marketing's ProfileSource::profile span")?;
    ensure!(
        server_span.parent_span_id == client_span.span_context.span_id(),
        "the server span's parent is marketing's client span"
    );
    Ok(())
}
