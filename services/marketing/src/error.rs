//! The marketing service's errors, mapped to gRPC status codes in exactly one place.

use std::time::Duration;

use caravan_platform::FieldViolations;
use caravan_platform::status;
use caravan_store::StoreError;
use tonic::Status;

/// How long a caller should wait before retrying when profiling is unreachable.
const PROFILING_RETRY_AFTER: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum MarketingError {
    #[error("invalid request: {0}")]
    Invalid(FieldViolations),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
    /// Scores are never made up: without the profile there is no score.
    #[error("the profiling service is unavailable: {0}")]
    ProfilingUnavailable(String),
    /// Profiling refused the read because it is at a limit (load shedding): the caller
    /// is told the same, so overload reads as RESOURCE_EXHAUSTED end to end, not as an
    /// outage that pages.
    #[error("the profiling service is busy: {message}")]
    ProfilingBusy {
        message: String,
        retry_after: Duration,
    },
    /// Profiling answered with an error that is not about availability.
    #[error("profiling answered {code:?}: {message}")]
    Profiling { code: tonic::Code, message: String },
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl MarketingError {
    /// A request with one invalid field.
    pub fn invalid(field: &str, description: impl Into<String>) -> Self {
        let mut violations = FieldViolations::new();
        violations.add(field, description);
        Self::Invalid(violations)
    }
}

impl From<caravan_store::sea_orm::DbErr> for MarketingError {
    fn from(err: caravan_store::sea_orm::DbErr) -> Self {
        Self::Store(StoreError::Db(err))
    }
}

impl From<FieldViolations> for MarketingError {
    fn from(violations: FieldViolations) -> Self {
        Self::Invalid(violations)
    }
}

impl From<MarketingError> for Status {
    fn from(err: MarketingError) -> Self {
        match err {
            MarketingError::Invalid(violations) => status::invalid_argument(&violations),
            MarketingError::NotFound(name) => status::not_found(&name),
            MarketingError::AlreadyExists(name) => {
                Status::already_exists(format!("{name} already exists"))
            }
            MarketingError::FailedPrecondition(message) => Status::failed_precondition(message),
            MarketingError::ProfilingUnavailable(reason) => status::unavailable(
                format!("profiling is unavailable, no score was computed: {reason}"),
                PROFILING_RETRY_AFTER,
            ),
            MarketingError::ProfilingBusy {
                message,
                retry_after,
            } => status::resource_exhausted(
                format!("profiling is busy, no score was computed: {message}"),
                retry_after,
            ),
            MarketingError::Profiling { code, message } => {
                Status::new(code, format!("profiling: {message}"))
            }
            MarketingError::Store(err) => status::store_failure("marketing store", &err),
        }
    }
}
