//! RED metrics for every gRPC call: a tower layer in front of every route counts calls by
//! final status code, times them and tracks those in flight. The status of a call is in the
//! response headers when it fails before answering (trailers-only) and in the trailers
//! otherwise, so the body is watched until its trailers pass; a body dropped before them
//! (the client went away) counts as `CANCELLED`.
//!
//! [`MiddlewareLayer`]: crate::middleware::MiddlewareLayer

use std::time::Instant;

use bytes::Bytes;
use http::HeaderMap;
use http_body::Frame;
use tonic::body::Body;
use tonic::{Code, Status};

use super::{MethodLabels, RpcLabels, ServiceLabel, global};
use crate::middleware::{Answer, FrameWatcher, Inner, Middleware, Watched};

/// Counts, times and tracks the calls in flight ([`MiddlewareLayer`]`(RedMetrics)`).
#[derive(Clone, Copy, Debug, Default)]
pub struct RedMetrics;

impl Middleware for RedMetrics {
    fn call<S: Inner>(&self, request: http::Request<Body>, mut inner: S) -> Answer<S> {
        let call = CallRecord::start(request.uri().path());
        Box::pin(async move {
            let response = inner.call(request).await?;
            Ok(match code_in(response.headers()) {
                Some(code) => {
                    call.finish(code);
                    response
                }
                None => response.map(|body| Watched::body(body, CallEnd(Some(call)))),
            })
        })
    }
}

/// The gRPC status code `headers` carry, if any.
fn code_in(headers: &HeaderMap) -> Option<Code> {
    headers.get("grpc-status")?;
    Some(Status::from_header_map(headers).map_or(Code::Unknown, |s| s.code()))
}

/// One call being measured; recorded once, when its status is known. A call dropped before
/// that (the client went away before the response headers, so hyper dropped the handler
/// future) is recorded as `CANCELLED` when it is dropped, so the in-flight gauge cannot leak.
struct CallRecord {
    method: MethodLabels,
    started: Instant,
    recorded: bool,
}

impl CallRecord {
    fn start(path: &str) -> Self {
        let (service, method) = split_path(path);
        let method = MethodLabels {
            service: service.to_owned(),
            method: method.to_owned(),
        };
        global()
            .rpc_in_flight
            .get_or_create(&service_of(&method))
            .inc();
        Self {
            method,
            started: Instant::now(),
            recorded: false,
        }
    }

    fn finish(mut self, code: Code) {
        self.record(code);
    }

    fn record(&mut self, code: Code) {
        if std::mem::replace(&mut self.recorded, true) {
            return;
        }
        let metrics = global();
        metrics
            .rpc_in_flight
            .get_or_create(&service_of(&self.method))
            .dec();
        metrics
            .rpc_duration
            .get_or_create(&self.method)
            .observe(self.started.elapsed().as_secs_f64());
        metrics
            .rpc_requests
            .get_or_create(&RpcLabels {
                service: self.method.service.clone(),
                method: self.method.method.clone(),
                code: code_name(code).to_owned(),
            })
            .inc();
    }
}

impl Drop for CallRecord {
    fn drop(&mut self) {
        self.record(Code::Cancelled);
    }
}

fn service_of(method: &MethodLabels) -> ServiceLabel {
    ServiceLabel {
        service: method.service.clone(),
    }
}

/// `/pkg.Service/Method` as `(pkg.Service, Method)`. Paths that are not gRPC methods are
/// counted under one label, so a scan of random paths cannot grow the label set.
fn split_path(path: &str) -> (&str, &str) {
    match path.strip_prefix('/').and_then(|p| p.split_once('/')) {
        Some((service, method))
            if !service.is_empty() && !method.is_empty() && !method.contains('/') =>
        {
            (service, method)
        }
        _ => ("unknown", "unknown"),
    }
}

/// The canonical name of a status code, as in grpc-go's and the gRPC docs' tables.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Watches a response body for the status that ends its call; dropped before that, its
/// [`CallRecord`] counts the call as `CANCELLED`.
struct CallEnd(Option<CallRecord>);

impl CallEnd {
    fn finish(&mut self, code: Code) {
        if let Some(call) = self.0.take() {
            call.finish(code);
        }
    }
}

impl FrameWatcher for CallEnd {
    fn frame(&mut self, frame: &mut Frame<Bytes>) -> Result<(), Status> {
        if let Some(code) = frame.trailers_ref().and_then(code_in) {
            self.finish(code);
        }
        Ok(())
    }

    fn failed(&mut self, status: &Status) {
        self.finish(status.code());
    }

    /// A body that ends without trailers ended a call that never said how it went.
    fn ended(&mut self) {
        self.finish(Code::Unknown);
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http_body_util::BodyExt;
    use tower::{Layer, ServiceExt};

    use super::*;
    use crate::middleware::MiddlewareLayer;

    fn count(service: &str, method: &str, code: &str) -> u64 {
        global()
            .rpc_requests
            .get_or_create(&RpcLabels {
                service: service.to_owned(),
                method: method.to_owned(),
                code: code.to_owned(),
            })
            .get()
    }

    fn request(path: &str) -> http::Request<Body> {
        http::Request::builder()
            .uri(path)
            .body(Body::empty())
            .expect("request")
    }

    #[tokio::test]
    async fn a_trailers_only_failure_is_counted_with_its_code() {
        let service = tower::service_fn(|_r: http::Request<Body>| async {
            Ok::<_, Infallible>(Status::not_found("x").into_http())
        });
        let before = count("t.Red", "Missing", "NOT_FOUND");
        let response = MiddlewareLayer(RedMetrics)
            .layer(service)
            .oneshot(request("/t.Red/Missing"))
            .await
            .expect("infallible");
        drop(response);
        assert_eq!(count("t.Red", "Missing", "NOT_FOUND"), before + 1);
    }

    #[tokio::test]
    async fn a_status_in_the_trailers_is_counted_when_the_body_ends() {
        let service = tower::service_fn(|_r: http::Request<Body>| async {
            let mut trailers = HeaderMap::new();
            Status::unavailable("down")
                .add_header(&mut trailers)
                .expect("trailers");
            let body = http_body_util::StreamBody::new(futures::stream::iter([
                Ok::<_, Status>(Frame::data(Bytes::from_static(b"x"))),
                Ok(Frame::trailers(trailers)),
            ]));
            Ok::<_, Infallible>(http::Response::new(Body::new(body)))
        });
        let before = count("t.Red", "Stream", "UNAVAILABLE");
        let response = MiddlewareLayer(RedMetrics)
            .layer(service)
            .oneshot(request("/t.Red/Stream"))
            .await
            .expect("infallible");
        assert_eq!(
            count("t.Red", "Stream", "UNAVAILABLE"),
            before,
            "not before the end"
        );
        response.into_body().collect().await.expect("body");
        assert_eq!(count("t.Red", "Stream", "UNAVAILABLE"), before + 1);
    }

    #[tokio::test]
    async fn an_abandoned_call_is_cancelled_and_odd_paths_share_one_label() {
        let service = tower::service_fn(|_r: http::Request<Body>| async {
            Ok::<_, Infallible>(http::Response::new(Body::empty()))
        });
        let before = count("unknown", "unknown", "CANCELLED");
        let response = MiddlewareLayer(RedMetrics)
            .layer(service)
            .oneshot(request("/not/a/grpc/path"))
            .await
            .expect("infallible");
        drop(response);
        assert_eq!(count("unknown", "unknown", "CANCELLED"), before + 1);
        assert_eq!(split_path("/a.B/C"), ("a.B", "C"));
        assert_eq!(split_path("/"), ("unknown", "unknown"));
    }

    #[tokio::test]
    async fn a_call_dropped_before_its_headers_is_cancelled_and_leaves_the_gauge() {
        let service = tower::service_fn(|_r: http::Request<Body>| async {
            std::future::pending::<()>().await;
            Ok::<_, Infallible>(http::Response::new(Body::empty()))
        });
        let in_flight = || {
            global()
                .rpc_in_flight
                .get_or_create(&ServiceLabel {
                    service: "t.Gone".to_owned(),
                })
                .get()
        };
        let before = count("t.Gone", "Slow", "CANCELLED");
        let call = MiddlewareLayer(RedMetrics)
            .layer(service)
            .oneshot(request("/t.Gone/Slow"));
        let timed_out = tokio::time::timeout(std::time::Duration::from_millis(20), call).await;
        assert!(timed_out.is_err(), "the handler never answers");
        assert_eq!(in_flight(), 0, "the abandoned call is no longer in flight");
        assert_eq!(count("t.Gone", "Slow", "CANCELLED"), before + 1);
    }
}
