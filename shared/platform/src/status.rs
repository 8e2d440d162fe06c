//! Building `tonic::Status` values that carry `google.rpc` details.
//!
//! Every service crate has its own error enum and maps it to a `Status` in one place; these
//! helpers are what those mappings use, so that validation failures always carry a
//! `google.rpc.BadRequest` with one field violation per problem.

use std::time::Duration;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

/// Problems found in one request, each tied to the field path that caused it
/// (`customer.person.country`, `events[3].order.lines[0].quantity`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldViolations {
    violations: Vec<Violation>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub field: String,
    pub description: String,
}

impl FieldViolations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.violations.push(Violation {
            field: field.into(),
            description: description.into(),
        });
    }

    /// Adds every violation of `other`, with `prefix.` in front of its field path.
    /// Adds every violation of `other` unchanged.
    pub fn extend(&mut self, other: FieldViolations) {
        self.violations.extend(other.violations);
    }

    pub fn extend_prefixed(&mut self, prefix: &str, other: FieldViolations) {
        for v in other.violations {
            let field = if v.field.is_empty() {
                prefix.to_owned()
            } else {
                format!("{prefix}.{}", v.field)
            };
            self.add(field, v.description);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.violations.is_empty()
    }

    pub fn len(&self) -> usize {
        self.violations.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Violation> {
        self.violations.iter()
    }

    /// `Ok(())` when nothing was found, the violations otherwise.
    pub fn into_result(self) -> Result<(), FieldViolations> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }

    /// A one-line summary such as `customer.person.country: unknown ISO 3166-1 code "XX"`.
    pub fn summary(&self) -> String {
        self.violations
            .iter()
            .map(|v| format!("{}: {}", v.field, v.description))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl std::fmt::Display for FieldViolations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.summary())
    }
}

/// `INVALID_ARGUMENT` with a `google.rpc.BadRequest` listing every violation.
pub fn invalid_argument(violations: &FieldViolations) -> Status {
    let details = ErrorDetails::with_bad_request(
        violations
            .iter()
            .map(|v| FieldViolation::new(v.field.clone(), v.description.clone()))
            .collect::<Vec<_>>(),
    );
    Status::with_error_details(
        Code::InvalidArgument,
        format!("invalid request: {}", violations.summary()),
        details,
    )
}

/// The field violations an `INVALID_ARGUMENT` from another Caravan service carries, so a
/// service that forwarded a caller's field can answer about it as if it had checked it.
pub fn violations_of(status: &Status) -> Option<FieldViolations> {
    if status.code() != Code::InvalidArgument {
        return None;
    }
    let mut out = FieldViolations::new();
    for v in status
        .get_error_details()
        .bad_request()?
        .field_violations
        .iter()
    {
        out.add(v.field.clone(), v.description.clone());
    }
    (!out.is_empty()).then_some(out)
}

/// `UNAVAILABLE` with a `google.rpc.RetryInfo` telling the caller when to try again.
pub fn unavailable(message: impl Into<String>, retry_after: Duration) -> Status {
    Status::with_error_details(
        Code::Unavailable,
        message,
        ErrorDetails::with_retry_info(Some(retry_after)),
    )
}

/// `RESOURCE_EXHAUSTED` with a `google.rpc.RetryInfo`: the service is at a limit now, and
/// the same call may succeed after `retry_after`.
pub fn resource_exhausted(message: impl Into<String>, retry_after: Duration) -> Status {
    Status::with_error_details(
        Code::ResourceExhausted,
        message,
        ErrorDetails::with_retry_info(Some(retry_after)),
    )
}

/// The `google.rpc.RetryInfo` delay a status carries, if any: what an upstream's refusal
/// asked for, to pass on to our own caller.
pub fn retry_delay_of(status: &Status) -> Option<Duration> {
    status.get_details_retry_info()?.retry_delay
}

/// `NOT_FOUND` naming the resource, as AIP-193 asks.
pub fn not_found(resource_name: &str) -> Status {
    Status::not_found(format!("{resource_name} not found"))
}

/// How long a caller is told to wait before retrying a call that failed because the store
/// did not answer.
pub const STORE_RETRY_AFTER: Duration = Duration::from_secs(1);

/// A store failure: `UNAVAILABLE` with `RetryInfo` when the database could not be reached
/// (the same call may succeed once it is back), `INTERNAL` without internals otherwise.
pub fn store_failure(context: &str, err: &caravan_store::StoreError) -> Status {
    if err.is_unavailable() {
        tracing::warn!(error = %err, "{context}: the store is unavailable");
        return unavailable(
            format!("{context}: the database is unavailable; retry later"),
            STORE_RETRY_AFTER,
        );
    }
    internal(context, err)
}

/// `INTERNAL` without internals: the cause is logged, the caller gets a generic message.
pub fn internal(context: &str, cause: &dyn std::fmt::Display) -> Status {
    tracing::error!(error = %cause, "{context}");
    Status::internal(format!("{context}: internal error (see server logs)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_carries_every_field_violation() {
        let mut violations = FieldViolations::new();
        violations.add(
            "customer.person.country",
            "unknown ISO 3166-1 alpha-2 code \"XX\"",
        );
        let mut nested = FieldViolations::new();
        nested.add("quantity", "must be positive");
        violations.extend_prefixed("events[2].order.lines[0]", nested);

        let status = invalid_argument(&violations);
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let bad_request = details.bad_request().expect("BadRequest detail");
        let fields: Vec<_> = bad_request
            .field_violations
            .iter()
            .map(|v| v.field.as_str())
            .collect();
        assert_eq!(
            fields,
            [
                "customer.person.country",
                "events[2].order.lines[0].quantity"
            ]
        );
        assert!(status.message().contains("must be positive"));
    }

    #[test]
    fn empty_violations_are_ok() {
        assert!(FieldViolations::new().into_result().is_ok());
    }

    #[test]
    fn unavailable_carries_retry_info() {
        let status = unavailable("profiling unreachable", Duration::from_secs(2));
        assert_eq!(status.code(), Code::Unavailable);
        let retry = status.get_error_details();
        assert_eq!(
            retry.retry_info().and_then(|r| r.retry_delay),
            Some(Duration::from_secs(2))
        );
        assert_eq!(retry_delay_of(&status), Some(Duration::from_secs(2)));
        assert_eq!(retry_delay_of(&Status::internal("x")), None);
    }
}
