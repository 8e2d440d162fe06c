//! The recommendation service's errors, mapped to gRPC status codes in exactly one place.

use caravan_platform::FieldViolations;
use caravan_platform::status;
use caravan_store::StoreError;
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum RecommendationError {
    #[error("invalid request: {0}")]
    Invalid(FieldViolations),
    #[error("{0} not found")]
    NotFound(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl From<RecommendationError> for Status {
    fn from(err: RecommendationError) -> Self {
        match err {
            RecommendationError::Invalid(violations) => status::invalid_argument(&violations),
            RecommendationError::NotFound(name) => status::not_found(&name),
            RecommendationError::Store(err) => status::internal("recommendation store", &err),
        }
    }
}
