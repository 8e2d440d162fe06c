//! A request tonic cannot decode (invalid UTF-8 in a string field, a truncated or malformed
//! message) is the caller's mistake, but tonic answers it with `INTERNAL`
//! (`tonic-prost`'s codec follows the gRPC status-code document there). Every response
//! passes through here and such answers become `INVALID_ARGUMENT` with a
//! `google.rpc.BadRequest` naming the field prost was decoding: in the headers of a unary
//! call's trailers-only answer, and in the trailers of a streaming one.

use bytes::Bytes;
use http::HeaderMap;
use http_body::Frame;
use tonic::body::Body;
use tonic::{Code, Status};

use crate::middleware::{FrameWatcher, Watched};
use crate::status::{FieldViolations, invalid_argument};

/// How prost's `DecodeError` starts when displayed (`tonic-prost` sends exactly that).
const DECODE_FAILURE: &str = "failed to decode Protobuf message: ";

/// `response` with a decoding failure, if it reports one, turned into `INVALID_ARGUMENT`.
pub(crate) fn fix_response(mut response: http::Response<Body>) -> http::Response<Body> {
    fix_status(response.headers_mut());
    response.map(|inner| Watched::body(inner, TrailerFix))
}

/// Rewrites the status in `headers` (response headers or trailers) when it is tonic's
/// `INTERNAL` for a message it could not decode.
fn fix_status(headers: &mut HeaderMap) {
    if headers.get("grpc-status").map(http::HeaderValue::as_bytes) != Some(b"13") {
        return;
    }
    let Some(status) = Status::from_header_map(headers) else {
        return;
    };
    let Some(reason) = status.message().strip_prefix(DECODE_FAILURE) else {
        return;
    };
    let (field, description) = field_of(reason);
    let mut violations = FieldViolations::new();
    violations.add(
        field,
        format!("the request message could not be decoded: {description}"),
    );
    for name in ["grpc-status", "grpc-message", "grpc-status-details-bin"] {
        headers.remove(name);
    }
    let fixed = invalid_argument(&violations);
    debug_assert_eq!(fixed.code(), Code::InvalidArgument);
    if fixed.add_header(headers).is_err() {
        headers.insert("grpc-status", http::HeaderValue::from_static("3"));
    }
}

/// Splits prost's `Msg.field: Inner.field: description` (innermost message first) into the
/// field path from the request down (`field.field`) and the description.
fn field_of(reason: &str) -> (String, &str) {
    let mut fields = Vec::new();
    let mut rest = reason;
    while let Some((segment, after)) = rest.split_once(": ") {
        let Some((message, field)) = segment.split_once('.') else {
            break;
        };
        let ident =
            |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ident(message) || !ident(field) {
            break;
        }
        fields.push(field);
        rest = after;
    }
    fields.reverse();
    (fields.join("."), rest)
}

/// Gives the trailers of a response [`fix_status`].
struct TrailerFix;

impl FrameWatcher for TrailerFix {
    fn frame(&mut self, frame: &mut Frame<Bytes>) -> Result<(), Status> {
        if let Some(trailers) = frame.trailers_mut() {
            fix_status(trailers);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use tonic_types::StatusExt;

    use super::*;

    fn headers_of(status: &Status) -> HeaderMap {
        let mut headers = HeaderMap::new();
        status.add_header(&mut headers).expect("status headers");
        headers
    }

    #[test]
    fn a_message_tonic_could_not_decode_is_invalid_argument_naming_the_field() {
        let mut headers = headers_of(&Status::internal(
            "failed to decode Protobuf message: PersonDetails.given_name: \
             Customer.details: CreateCustomerRequest.customer: \
             invalid string value: data is not UTF-8 encoded",
        ));
        fix_status(&mut headers);
        let status = Status::from_header_map(&headers).expect("a status");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        let details = status.get_error_details();
        let violation = &details.bad_request().expect("BadRequest").field_violations[0];
        assert_eq!(violation.field, "customer.details.given_name");
        assert!(
            violation
                .description
                .ends_with("invalid string value: data is not UTF-8 encoded"),
            "{violation:?}"
        );
    }

    #[test]
    fn a_decoding_failure_without_a_field_names_none() {
        assert_eq!(
            field_of("invalid varint"),
            (String::new(), "invalid varint")
        );
        assert_eq!(
            field_of("Foo.bar: buffer underflow: at 3"),
            ("bar".to_owned(), "buffer underflow: at 3")
        );
    }

    #[test]
    fn other_statuses_are_left_alone() {
        for status in [
            Status::internal("profiling store: internal error (see server logs)"),
            Status::not_found("merchants/x not found"),
            Status::ok(""),
        ] {
            let mut headers = headers_of(&status);
            let before = headers.clone();
            fix_status(&mut headers);
            assert_eq!(headers, before);
        }
    }
}
