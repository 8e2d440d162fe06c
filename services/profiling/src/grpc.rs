//! The gRPC face of the profiling service. Every RPC answers UNIMPLEMENTED (generated default
//! stubs) until the profiling issue implements it; the README lists the state of each.

use caravan_proto::caravan::profiling::v1::profiling_service_server::{
    ProfilingService, ProfilingServiceServer,
};
use caravan_store::sea_orm::DatabaseConnection;

/// The profiling service's state.
#[derive(Clone)]
pub struct ProfilingApi {
    #[allow(dead_code, reason = "read by the profile RPCs of the profiling issue")]
    db: DatabaseConnection,
}

impl ProfilingApi {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// The tonic server with the configured message size limit.
    pub fn into_server(self, max_message_bytes: usize) -> ProfilingServiceServer<Self> {
        ProfilingServiceServer::new(self)
            .max_decoding_message_size(max_message_bytes)
            .max_encoding_message_size(max_message_bytes)
    }
}

#[tonic::async_trait]
impl ProfilingService for ProfilingApi {}
