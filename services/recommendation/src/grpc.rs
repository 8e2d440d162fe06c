//! The gRPC face of the recommendation service. Every RPC answers UNIMPLEMENTED (generated
//! default stubs) until the recommendation issue implements it.

use caravan_platform::client::TracedChannel;
use caravan_proto::caravan::profiling::v1::profiling_service_client::ProfilingServiceClient;
use caravan_proto::caravan::recommendation::v1::recommendation_service_server::{
    RecommendationService, RecommendationServiceServer,
};
use caravan_store::sea_orm::DatabaseConnection;

/// The recommendation service's state: the store and the profiling client (preferences).
#[derive(Clone)]
pub struct RecommendationApi {
    #[allow(
        dead_code,
        reason = "read by the training and serving RPCs of the recommendation issue"
    )]
    db: DatabaseConnection,
    #[allow(dead_code, reason = "read by Recommend for content affinity")]
    profiling: ProfilingServiceClient<TracedChannel>,
}

impl RecommendationApi {
    pub fn new(db: DatabaseConnection, profiling: ProfilingServiceClient<TracedChannel>) -> Self {
        Self { db, profiling }
    }

    /// The tonic server with the configured message size limit.
    pub fn into_server(self, max_message_bytes: usize) -> RecommendationServiceServer<Self> {
        RecommendationServiceServer::new(self)
            .max_decoding_message_size(max_message_bytes)
            .max_encoding_message_size(max_message_bytes)
    }
}

#[tonic::async_trait]
impl RecommendationService for RecommendationApi {}
