//! The recommendation service's errors, mapped to gRPC status codes in exactly one place.

use caravan_platform::FieldViolations;
use caravan_platform::status;
use caravan_store::StoreError;
use tonic::Status;

use crate::engine::model_codec::CodecError;

#[derive(Debug, thiserror::Error)]
pub enum RecommendationError {
    #[error("invalid request: {0}")]
    Invalid(FieldViolations),
    #[error("{0} not found")]
    NotFound(String),
    /// The request is valid but the merchant is not ready for it (e.g. no model serves yet).
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A stored model blob could not be decoded.
    #[error("{0}")]
    Codec(#[from] CodecError),
    /// A background task failed (panicked or was cancelled).
    #[error("{0}")]
    Internal(String),
}

impl RecommendationError {
    /// One field violation.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        let mut v = FieldViolations::new();
        v.add(field, description);
        Self::Invalid(v)
    }
}

impl From<FieldViolations> for RecommendationError {
    fn from(v: FieldViolations) -> Self {
        Self::Invalid(v)
    }
}

impl From<RecommendationError> for Status {
    fn from(err: RecommendationError) -> Self {
        match err {
            RecommendationError::Invalid(violations) => status::invalid_argument(&violations),
            RecommendationError::NotFound(name) => status::not_found(&name),
            RecommendationError::FailedPrecondition(why) => Status::failed_precondition(why),
            RecommendationError::Store(err) => status::store_failure("recommendation store", &err),
            RecommendationError::Codec(err) => status::internal("recommendation model", &err),
            RecommendationError::Internal(why) => status::internal("recommendation", &why),
        }
    }
}
