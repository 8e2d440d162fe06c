//! With `telemetry.otlp_endpoint` set, a real binary exports its spans over OTLP/gRPC, and the
//! server span of a call continues the trace named by the caller's `traceparent` header; the
//! profile update an ingested event causes, later and through the outbox, continues the
//! ingest call's trace too. The collector here is a minimal OTLP trace receiver built from
//! the OTLP protos.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use caravan_integration_tests::ServerProcess;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::Span;
use tokio::sync::mpsc;

struct Collector(mpsc::UnboundedSender<ExportTraceServiceRequest>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let _ = self.0.send(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

#[tokio::test(flavor = "multi_thread")]
async fn spans_are_exported_over_otlp_and_continue_the_callers_trace() -> Result<()> {
    let (_workdir, mut server, mut rx) = traced_suite().await?;
    let traceparent = format!("traceparent: 00-{TRACE_ID}-00f067aa0ba902b7-01");
    let created = server.grpcurl(&[
        "-H",
        &traceparent,
        "-d",
        r#"{"merchant_id":"acme","merchant":{"display_name":"ACME","base_currency_code":"EUR"}}"#,
        &server.target(),
        "caravan.ingestion.v1.IngestionService/CreateMerchant",
    ])?;
    ensure!(
        created.status.success(),
        "CreateMerchant failed: {}{}",
        String::from_utf8_lossy(&created.stdout),
        String::from_utf8_lossy(&created.stderr)
    );
    // Shutdown flushes the batch exporter.
    server.sigterm()?;
    let status = server.wait_exit(Duration::from_secs(30))?;
    ensure!(status.success(), "{status}");

    let mut spans = Vec::new();
    while let Ok(Some(export)) = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
        for resource_spans in export.resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref())
                .map(|v| format!("{:?}", v.value))
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    spans.push((service.clone(), span));
                }
            }
        }
        if spans
            .iter()
            .any(|(_, s)| s.name.ends_with("/CreateMerchant"))
        {
            break;
        }
    }
    let (service, span) = spans
        .iter()
        .find(|(_, s)| s.name == "caravan.ingestion.v1.IngestionService/CreateMerchant")
        .with_context(|| {
            let names: Vec<_> = spans.iter().map(|(_, s)| s.name.clone()).collect();
            format!("no CreateMerchant server span exported; got {names:?}")
        })?;
    ensure!(service.contains("caravan"), "service.name: {service}");
    ensure!(
        hex(&span.trace_id) == TRACE_ID,
        "span is in trace {}, the caller sent {TRACE_ID}",
        hex(&span.trace_id)
    );
    ensure!(
        hex(&span.parent_span_id) == "00f067aa0ba902b7",
        "parent span id"
    );
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A collector on a free port: its endpoint, and what it receives.
async fn start_collector() -> Result<(String, mpsc::UnboundedReceiver<ExportTraceServiceRequest>)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Collector(tx)))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    Ok((format!("http://{addr}"), rx))
}

/// `caravan serve` exporting its spans to a collector of this test: the server (with the
/// directory it runs in) and what the collector receives.
async fn traced_suite() -> Result<(
    tempfile::TempDir,
    ServerProcess,
    mpsc::UnboundedReceiver<ExportTraceServiceRequest>,
)> {
    let (endpoint, rx) = start_collector().await?;
    let workdir = tempfile::tempdir()?;
    let server = ServerProcess::start(
        "caravan",
        &["serve"],
        &[("CARAVAN__TELEMETRY__OTLP_ENDPOINT", endpoint.as_str())],
        workdir.path(),
    )?;
    Ok((workdir, server, rx))
}

/// Every span exported until `done` holds for them (or the exports stop for 5 s).
async fn spans_until(
    rx: &mut mpsc::UnboundedReceiver<ExportTraceServiceRequest>,
    done: impl Fn(&[Span]) -> bool,
) -> Vec<Span> {
    let mut spans = Vec::new();
    while let Ok(Some(export)) = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
        for resource_spans in export.resource_spans {
            for scope in resource_spans.scope_spans {
                spans.extend(scope.spans);
            }
        }
        if done(&spans) {
            break;
        }
    }
    spans
}

fn grpcurl_json(
    server: &ServerProcess,
    headers: &[&str],
    body: &str,
    method: &str,
) -> Result<serde_json::Value> {
    let mut args: Vec<&str> = Vec::new();
    for h in headers {
        args.extend(["-H", h]);
    }
    let target = server.target();
    args.extend(["-d", body, target.as_str(), method]);
    let out = server.grpcurl(&args)?;
    ensure!(
        out.status.success(),
        "{method}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

const INGEST_TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";

#[tokio::test(flavor = "multi_thread")]
async fn the_profile_update_continues_the_ingest_calls_trace() -> Result<()> {
    let (_workdir, mut server, mut rx) = traced_suite().await?;
    grpcurl_json(
        &server,
        &[],
        r#"{"merchant_id":"acme","merchant":{"display_name":"ACME","base_currency_code":"EUR"}}"#,
        "caravan.ingestion.v1.IngestionService/CreateMerchant",
    )?;
    let traceparent = format!("traceparent: 00-{INGEST_TRACE_ID}-b7ad6b7169203331-01");
    let ingested = grpcurl_json(
        &server,
        &[&traceparent],
        r#"{"parent":"merchants/acme","events":[{"eventId":"e-1","customerIdentifiers":[{"kind":"IDENTIFIER_KIND_DEVICE_ID","value":"visitor-1"}],"occurTime":"2024-05-01T10:00:00Z","pageView":{"uri":"https://shop.example/p/1"}}]}"#,
        "caravan.ingestion.v1.IngestionService/BatchIngestEvents",
    )?;
    let customer = ingested["results"][0]["customer"]
        .as_str()
        .context("no customer in the ingest response")?
        .to_owned();
    // The consumer applies the event in the background: wait for the profile.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let request = format!(r#"{{"name":"{customer}/profile"}}"#);
    loop {
        let got = server.grpcurl(&[
            "-d",
            &request,
            &server.target(),
            "caravan.profiling.v1.ProfilingService/GetProfile",
        ])?;
        if got.status.success() {
            break;
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "no profile after 30 s: {}",
            String::from_utf8_lossy(&got.stderr)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.sigterm()?;
    let status = server.wait_exit(Duration::from_secs(30))?;
    ensure!(status.success(), "{status}");

    let in_trace = |s: &Span| hex(&s.trace_id) == INGEST_TRACE_ID;
    let spans = spans_until(&mut rx, |spans| {
        spans
            .iter()
            .any(|s| s.name == "profiling.outbox.apply" && in_trace(s))
    })
    .await;
    let apply = spans
        .iter()
        .find(|s| s.name == "profiling.outbox.apply" && in_trace(s))
        .with_context(|| {
            let names: Vec<_> = spans
                .iter()
                .map(|s| format!("{} {}", s.name, hex(&s.trace_id)))
                .collect();
            format!("no outbox span in the ingest call's trace; got {names:?}")
        })?;
    let ingest_spans: Vec<String> = spans
        .iter()
        .filter(|s| in_trace(s) && s.name != "profiling.outbox.apply")
        .map(|s| hex(&s.span_id))
        .collect();
    ensure!(
        ingest_spans.contains(&hex(&apply.parent_span_id)),
        "the outbox span's parent {} is not a span of the ingest call ({ingest_spans:?})",
        hex(&apply.parent_span_id)
    );
    Ok(())
}
