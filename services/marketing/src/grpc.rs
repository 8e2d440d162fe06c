//! The gRPC face of the marketing-strategy scoring service. Every RPC answers UNIMPLEMENTED
//! (generated default stubs) until the marketing issue implements it.

use caravan_proto::caravan::marketing::v1::strategy_scoring_service_server::{
    StrategyScoringService, StrategyScoringServiceServer,
};
use caravan_store::sea_orm::DatabaseConnection;

use crate::profile_source::ProfileSource;

/// The scoring service's state: the store and the profiling client.
#[derive(Clone)]
pub struct ScoringApi {
    #[allow(dead_code, reason = "read by the strategy RPCs of the marketing issue")]
    db: DatabaseConnection,
    #[allow(dead_code, reason = "read by the scoring RPCs of the marketing issue")]
    profiles: ProfileSource,
}

impl ScoringApi {
    pub fn new(db: DatabaseConnection, profiles: ProfileSource) -> Self {
        Self { db, profiles }
    }

    /// The tonic server with the configured message size limit.
    pub fn into_server(self, max_message_bytes: usize) -> StrategyScoringServiceServer<Self> {
        StrategyScoringServiceServer::new(self)
            .max_decoding_message_size(max_message_bytes)
            .max_encoding_message_size(max_message_bytes)
    }
}

#[tonic::async_trait]
impl StrategyScoringService for ScoringApi {}
