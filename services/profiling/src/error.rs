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
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl From<ProfilingError> for Status {
    fn from(err: ProfilingError) -> Self {
        match err {
            ProfilingError::Invalid(violations) => status::invalid_argument(&violations),
            ProfilingError::NotFound(name) => status::not_found(&name),
            ProfilingError::Store(err) => status::internal("profiling store", &err),
        }
    }
}
