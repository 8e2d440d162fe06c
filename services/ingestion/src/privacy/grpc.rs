//! The gRPC face of exports: parse the request, start the export, stream its parts.

use caravan_core::names::parse_child_name;
use caravan_proto::caravan::privacy::v1 as pb;
use caravan_proto::caravan::privacy::v1::privacy_service_server::{
    PrivacyService, PrivacyServiceServer,
};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::export::{ExportRequest, export};
use crate::error::IngestionError;
use crate::grpc::IngestionApi;

/// The stream of an export's parts.
type PartStream = tonic::codegen::BoxStream<pb::ExportCustomerDataResponse>;

/// Parts in flight between the export and the caller: a slow caller slows the export.
const IN_FLIGHT_PARTS: usize = 64;

#[derive(Clone)]
pub struct PrivacyApi {
    ingestion: IngestionApi,
}

impl PrivacyApi {
    /// Exports read what ingestion stores, and the profile through `ingestion`'s profiling
    /// client ([`IngestionApi::with_profiling`]).
    pub fn new(ingestion: IngestionApi) -> Self {
        Self { ingestion }
    }

    pub fn into_server(self, max_message_bytes: usize) -> PrivacyServiceServer<Self> {
        PrivacyServiceServer::new(self)
            .max_decoding_message_size(max_message_bytes)
            .max_encoding_message_size(max_message_bytes)
    }
}

#[tonic::async_trait]
impl PrivacyService for PrivacyApi {
    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn export_customer_data(
        &self,
        request: Request<pb::ExportCustomerDataRequest>,
    ) -> Result<Response<PartStream>, Status> {
        let caller = caravan_access::caller(&request);
        let credential = request.metadata().get("authorization").cloned();
        let request = request.into_inner();
        let (merchant, customer_id) = parse_child_name(&request.name, "customers")
            .map_err(|e| IngestionError::invalid("name", e.to_string()))?;
        let export_request = ExportRequest {
            merchant,
            customer_id,
            reveal: request.reveal_pii,
            caller,
            credential,
        };
        let (sink, parts) = tokio::sync::mpsc::channel(IN_FLIGHT_PARTS);
        let api = self.ingestion.clone();
        tokio::spawn(
            async move {
                if let Err(e) = export(&api, export_request, &sink).await {
                    // The caller may be gone already; then nobody is left to tell.
                    let _ = sink.send(Err(Status::from(e))).await;
                }
            }
            .in_current_span(),
        );
        Ok(Response::new(Box::pin(ReceiverStream::new(parts))))
    }
}

use tracing::Instrument as _;
