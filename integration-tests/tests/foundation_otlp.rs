//! With `telemetry.otlp_endpoint` set, a real binary exports its spans over OTLP/gRPC, and the
//! server span of a call continues the trace named by the caller's `traceparent` header.
//! The collector here is a minimal OTLP trace receiver built from the OTLP protos.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use caravan_integration_tests::ServerProcess;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
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
    let (tx, mut rx) = mpsc::unbounded_channel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let collector_addr = listener.local_addr()?;
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Collector(tx)))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    let workdir = tempfile::tempdir()?;
    let endpoint = format!("http://{collector_addr}");
    let mut server = ServerProcess::start(
        "caravan",
        &["serve"],
        &[("CARAVAN__TELEMETRY__OTLP_ENDPOINT", endpoint.as_str())],
        workdir.path(),
    )?;
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
