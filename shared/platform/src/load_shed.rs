//! Load shedding: a process answers what it can hold and refuses the rest at once with
//! `RESOURCE_EXHAUSTED` and a `google.rpc.RetryInfo`, instead of queueing calls until they
//! time out or taking memory until the pod is killed. Two limits, both per process
//! (`server.max_concurrent_calls`, `server.max_in_flight_request_bytes`):
//!
//! - calls being handled: a call over the limit is refused before it runs;
//! - request bytes held by calls being handled: counted as the request body arrives, so a
//!   call that would carry the total over the limit fails while it is still being read,
//!   before it is decoded; the bytes are given back when the call ends.
//!
//! Health checks and reflection are never shed: a busy replica must still answer its probes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http_body::Frame;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Status;
use tonic::body::Body;

use crate::middleware::{Answer, FrameWatcher, Inner, Middleware, MiddlewareLayer, Watched};

/// How long a refused caller is told to wait.
pub const SHED_RETRY_AFTER: Duration = Duration::from_millis(500);

/// The limits of one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_concurrent_calls: usize,
    pub max_in_flight_request_bytes: usize,
}

/// What the layer shares between calls.
struct Shared {
    calls: Arc<Semaphore>,
    bytes: AtomicUsize,
    limits: Limits,
}

/// Sheds calls over the limits ([`MiddlewareLayer`]`(LoadShedder::new(..))`).
#[derive(Clone)]
pub struct LoadShedder(Arc<Shared>);

impl LoadShedder {
    pub fn new(limits: Limits) -> Self {
        Self(Arc::new(Shared {
            calls: Arc::new(Semaphore::new(limits.max_concurrent_calls.max(1))),
            bytes: AtomicUsize::new(0),
            limits,
        }))
    }

    /// The layer that puts the limits in front of every route.
    pub fn layer(limits: Limits) -> MiddlewareLayer<Self> {
        MiddlewareLayer(Self::new(limits))
    }
}

/// Probes and reflection: always served.
fn exempt(path: &str) -> bool {
    path.starts_with("/grpc.health.") || path.starts_with("/grpc.reflection.")
}

fn refused(message: String) -> http::Response<Body> {
    crate::status::resource_exhausted(message, SHED_RETRY_AFTER).into_http()
}

impl Middleware for LoadShedder {
    fn call<S: Inner>(&self, request: http::Request<Body>, mut inner: S) -> Answer<S> {
        if exempt(request.uri().path()) {
            return Box::pin(inner.call(request));
        }
        let Ok(permit) = Arc::clone(&self.0.calls).try_acquire_owned() else {
            let max = self.0.limits.max_concurrent_calls;
            return Box::pin(async move {
                Ok(refused(format!(
                    "this replica is handling its limit of {max} calls; retry shortly"
                )))
            });
        };
        let ticket = Arc::new(Ticket {
            shared: Arc::clone(&self.0),
            bytes: AtomicUsize::new(0),
            _permit: permit,
        });
        let request = request.map(|body| Watched::body(body, CountBytes(Arc::clone(&ticket))));
        Box::pin(async move {
            let response = inner.call(request).await?;
            // The call holds its permit and bytes until its response is over.
            Ok(response.map(|body| Watched::body(body, Hold { _ticket: ticket })))
        })
    }
}

/// One admitted call: its concurrency permit and the request bytes it holds, both given
/// back when the last of its bodies is dropped.
struct Ticket {
    shared: Arc<Shared>,
    bytes: AtomicUsize,
    _permit: OwnedSemaphorePermit,
}

impl Ticket {
    /// Counts `n` more request bytes; false if that carries the process over its limit (the
    /// bytes are then not counted).
    fn take(&self, n: usize) -> bool {
        let max = self.shared.limits.max_in_flight_request_bytes;
        let before = self.shared.bytes.fetch_add(n, Ordering::AcqRel);
        if before.saturating_add(n) > max {
            self.shared.bytes.fetch_sub(n, Ordering::AcqRel);
            return false;
        }
        self.bytes.fetch_add(n, Ordering::AcqRel);
        true
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let held = self.bytes.load(Ordering::Acquire);
        self.shared.bytes.fetch_sub(held, Ordering::AcqRel);
    }
}

/// Counts a request body's bytes against the process's limit as they arrive.
struct CountBytes(Arc<Ticket>);

impl FrameWatcher for CountBytes {
    fn frame(&mut self, frame: &mut Frame<Bytes>) -> Result<(), Status> {
        match frame.data_ref() {
            Some(data) if !self.0.take(data.remaining()) => {
                let max = self.0.shared.limits.max_in_flight_request_bytes;
                Err(crate::status::resource_exhausted(
                    format!(
                        "this replica holds its limit of {max} request bytes in calls being handled; retry shortly"
                    ),
                    SHED_RETRY_AFTER,
                ))
            }
            _ => Ok(()),
        }
    }
}

/// Keeps a call's ticket until its response body is done.
struct Hold {
    _ticket: Arc<Ticket>,
}

impl FrameWatcher for Hold {}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use futures::future::BoxFuture;
    use http_body_util::BodyExt;
    use tonic::Code;
    use tonic_types::StatusExt;
    use tower::{Layer, Service, ServiceExt};

    use super::*;

    fn layer(calls: usize, bytes: usize) -> MiddlewareLayer<LoadShedder> {
        LoadShedder::layer(Limits {
            max_concurrent_calls: calls,
            max_in_flight_request_bytes: bytes,
        })
    }

    fn request(path: &str, body: &'static [u8]) -> http::Request<Body> {
        http::Request::builder()
            .uri(path)
            .body(Body::new(
                http_body_util::Full::new(Bytes::from_static(body))
                    .map_err(|e: Infallible| match e {}),
            ))
            .expect("request")
    }

    fn status_of(response: &http::Response<Body>) -> Status {
        Status::from_header_map(response.headers()).unwrap_or_else(|| Status::ok(""))
    }

    /// An answer as a gRPC server sends it: a message, then the status in the trailers (an
    /// empty body would be over at once, and its call with it).
    fn grpc_ok() -> http::Response<Body> {
        let mut trailers = http::HeaderMap::new();
        trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
        let frames = futures::stream::iter([
            Ok::<_, Status>(Frame::data(Bytes::from_static(b"ok"))),
            Ok(Frame::trailers(trailers)),
        ]);
        http::Response::new(Body::new(http_body_util::StreamBody::new(frames)))
    }

    /// Reads the whole request, as tonic does, and answers OK or the body's error.
    fn reader() -> impl Service<
        http::Request<Body>,
        Response = http::Response<Body>,
        Error = Infallible,
        Future = BoxFuture<'static, Result<http::Response<Body>, Infallible>>,
    > + Clone {
        tower::service_fn(|r: http::Request<Body>| -> BoxFuture<'static, _> {
            Box::pin(async move {
                Ok(match r.into_body().collect().await {
                    Ok(_) => grpc_ok(),
                    Err(status) => status.into_http(),
                })
            })
        })
    }

    #[tokio::test]
    async fn a_call_over_the_concurrency_limit_is_refused_with_retry_info() {
        let layer = layer(1, 1 << 20);
        let first = layer
            .layer(reader())
            .oneshot(request("/a.S/M", b"x"))
            .await
            .expect("infallible");
        assert_eq!(status_of(&first).code(), Code::Ok);
        // The first call's response is not over: it still holds the only permit.
        let second = layer
            .layer(reader())
            .oneshot(request("/a.S/M", b"x"))
            .await
            .expect("infallible");
        let status = status_of(&second);
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        assert!(status.get_error_details().retry_info().is_some());
        let probe = layer
            .layer(reader())
            .oneshot(request("/grpc.health.v1.Health/Check", b""))
            .await
            .expect("infallible");
        assert_eq!(status_of(&probe).code(), Code::Ok, "probes are never shed");
        drop(first);
        let third = layer
            .layer(reader())
            .oneshot(request("/a.S/M", b"x"))
            .await
            .expect("infallible");
        assert_eq!(status_of(&third).code(), Code::Ok, "the permit came back");
    }

    #[tokio::test]
    async fn request_bytes_over_the_limit_fail_while_read_and_are_given_back() {
        let layer = layer(8, 10);
        let held = layer
            .layer(reader())
            .oneshot(request("/a.S/M", b"123456"))
            .await
            .expect("infallible");
        assert_eq!(status_of(&held).code(), Code::Ok);
        let over = layer
            .layer(reader())
            .oneshot(request("/a.S/M", b"123456"))
            .await
            .expect("infallible");
        assert_eq!(status_of(&over).code(), Code::ResourceExhausted);
        assert_eq!(
            layer.0.0.bytes.load(Ordering::Acquire),
            6,
            "the refused bytes are not held"
        );
        drop((held, over));
        assert_eq!(layer.0.0.bytes.load(Ordering::Acquire), 0);
        let again = layer
            .layer(reader())
            .oneshot(request("/a.S/M", b"123456"))
            .await
            .expect("infallible");
        assert_eq!(status_of(&again).code(), Code::Ok);
    }
}
