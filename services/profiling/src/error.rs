//! The profiling service's errors, mapped to gRPC status codes in exactly one place.

use caravan_platform::FieldViolations;
use caravan_platform::status;
use caravan_store::StoreError;
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum ProfilingError {
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
    /// A stored document that cannot be read (never written by this service version).
    #[error("unreadable stored data: {0}")]
    Corrupt(String),
}

impl ProfilingError {
    /// A request with one invalid field.
    pub fn invalid(field: &str, description: impl Into<String>) -> Self {
        let mut violations = FieldViolations::new();
        violations.add(field, description);
        Self::Invalid(violations)
    }
}

impl From<caravan_store::sea_orm::DbErr> for ProfilingError {
    fn from(err: caravan_store::sea_orm::DbErr) -> Self {
        Self::Store(StoreError::Db(err))
    }
}

impl From<FieldViolations> for ProfilingError {
    fn from(violations: FieldViolations) -> Self {
        Self::Invalid(violations)
    }
}

impl From<ProfilingError> for Status {
    fn from(err: ProfilingError) -> Self {
        match err {
            ProfilingError::Invalid(violations) => status::invalid_argument(&violations),
            ProfilingError::NotFound(name) => status::not_found(&name),
            ProfilingError::AlreadyExists(name) => {
                Status::already_exists(format!("{name} already exists"))
            }
            ProfilingError::FailedPrecondition(message) => Status::failed_precondition(message),
            ProfilingError::Store(err) => status::store_failure("profiling store", &err),
            ProfilingError::Corrupt(what) => status::internal("profiling store", &what),
        }
    }
}
