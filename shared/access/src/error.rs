//! Why a call was refused before its RPC ran, and the one mapping of that to a status.

use std::time::Duration;

use caravan_platform::FieldViolations;
use caravan_platform::status::{invalid_argument, unavailable};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::api_key::KeyFormatError;
use crate::key_ring::KeyRejection;
use crate::principal::Denial;

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("missing credentials: send `authorization: Bearer <API key>` metadata")]
    NoCredentials,
    #[error("{0}")]
    BadCredentials(#[from] KeyFormatError),
    #[error("{0}")]
    Rejected(#[from] KeyRejection),
    #[error("{key}: {denial}")]
    Denied { key: String, denial: Denial },
    #[error("{0}")]
    InvalidRequest(FieldViolations),
    #[error("API key {key} exceeded its rate limit")]
    RateLimited { key: String, retry_after: Duration },
    #[error("compressed requests are not accepted")]
    Compressed,
    #[error("the request message is {len} bytes; the limit is {limit}")]
    TooLarge { len: usize, limit: usize },
    #[error("reading the request failed: {0}")]
    Body(Status),
}

impl AccessError {
    pub fn into_status(self) -> Status {
        match self {
            AccessError::NoCredentials | AccessError::BadCredentials(_) => {
                Status::unauthenticated(self.to_string())
            }
            AccessError::Rejected(KeyRejection::StoreUnavailable) => {
                unavailable(self.to_string(), Duration::from_secs(1))
            }
            AccessError::Rejected(_) => Status::unauthenticated(self.to_string()),
            AccessError::Denied { .. } => Status::permission_denied(self.to_string()),
            AccessError::InvalidRequest(violations) => invalid_argument(&violations),
            AccessError::RateLimited { retry_after, .. } => Status::with_error_details(
                Code::ResourceExhausted,
                format!("{self}; retry after {} ms", retry_after.as_millis().max(1)),
                ErrorDetails::with_retry_info(Some(retry_after)),
            ),
            AccessError::Compressed => Status::unimplemented(self.to_string()),
            AccessError::TooLarge { .. } => Status::resource_exhausted(self.to_string()),
            AccessError::Body(status) => status,
        }
    }

    /// One bad field of the request.
    pub fn field(field: &str, description: impl Into<String>) -> Self {
        let mut violations = FieldViolations::new();
        violations.add(field, description);
        AccessError::InvalidRequest(violations)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_has_its_code() {
        let cases = [
            (AccessError::NoCredentials, Code::Unauthenticated),
            (
                AccessError::BadCredentials(KeyFormatError::Malformed),
                Code::Unauthenticated,
            ),
            (
                AccessError::Rejected(KeyRejection::Unknown),
                Code::Unauthenticated,
            ),
            (
                AccessError::Rejected(KeyRejection::StoreUnavailable),
                Code::Unavailable,
            ),
            (
                AccessError::Denied {
                    key: "apiKeys/x".into(),
                    denial: Denial::PlatformOnly,
                },
                Code::PermissionDenied,
            ),
            (
                AccessError::field("parent", "is required"),
                Code::InvalidArgument,
            ),
            (AccessError::Compressed, Code::Unimplemented),
            (
                AccessError::TooLarge { len: 2, limit: 1 },
                Code::ResourceExhausted,
            ),
        ];
        for (error, code) in cases {
            assert_eq!(error.into_status().code(), code);
        }
    }

    #[test]
    fn rate_limits_tell_when_to_retry() {
        let status = AccessError::RateLimited {
            key: "apiKeys/x".into(),
            retry_after: Duration::from_millis(40),
        }
        .into_status();
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(
            status
                .get_error_details()
                .retry_info()
                .and_then(|r| r.retry_delay),
            Some(Duration::from_millis(40))
        );
    }
}
