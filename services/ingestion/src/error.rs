//! The ingestion service's errors, mapped to gRPC status codes in exactly one place.

use caravan_platform::FieldViolations;
use caravan_platform::status;
use caravan_store::StoreError;
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum IngestionError {
    #[error("invalid request: {0}")]
    Invalid(FieldViolations),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The replica cannot take the work now.
    #[error("{0}")]
    Unavailable(String),
}

impl IngestionError {
    /// A request with one invalid field.
    pub fn invalid(field: &str, description: impl Into<String>) -> Self {
        let mut violations = FieldViolations::new();
        violations.add(field, description);
        Self::Invalid(violations)
    }
}

impl From<sea_orm::DbErr> for IngestionError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::Store(StoreError::Db(err))
    }
}

impl From<FieldViolations> for IngestionError {
    fn from(violations: FieldViolations) -> Self {
        Self::Invalid(violations)
    }
}

impl From<IngestionError> for Status {
    fn from(err: IngestionError) -> Self {
        match err {
            IngestionError::Invalid(violations) => status::invalid_argument(&violations),
            IngestionError::NotFound(name) => status::not_found(&name),
            IngestionError::AlreadyExists(name) => {
                Status::already_exists(format!("{name} already exists"))
            }
            IngestionError::FailedPrecondition(message) => Status::failed_precondition(message),
            IngestionError::Store(err) => status::store_failure("ingestion store", &err),
            IngestionError::Unavailable(message) => Status::unavailable(message),
        }
    }
}
