//! The hook through which every request passes before its RPC runs.
//!
//! The server knows only that a [`RequestGuard`] may let a request go on (perhaps with
//! something added to its extensions, or its body replayed after a look at it) or answer it
//! at once. What it checks, authentication and authorization, lives in `caravan-access`.

use std::sync::Arc;

use futures::future::BoxFuture;
use tonic::body::Body;

use crate::middleware::{Answer, Inner, Middleware};

/// What to do with one request.
pub type Admission = Result<http::Request<Body>, http::Response<Body>>;

/// Decides, before the RPC runs, whether a request may go on.
pub trait RequestGuard: Send + Sync + 'static {
    /// `Ok(request)` to go on, `Err(response)` to answer without running the RPC.
    fn admit(self: Arc<Self>, request: http::Request<Body>) -> BoxFuture<'static, Admission>;
}

/// Puts a guard in front of every route: `MiddlewareLayer(Guard(guard))`.
#[derive(Clone)]
pub struct Guard(pub Arc<dyn RequestGuard>);

impl Middleware for Guard {
    fn call<S: Inner>(&self, request: http::Request<Body>, mut inner: S) -> Answer<S> {
        let guard = Arc::clone(&self.0);
        Box::pin(async move {
            match guard.admit(request).await {
                Ok(request) => inner.call(request).await,
                Err(response) => Ok(response),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use tower::{Layer, ServiceExt};

    use super::*;
    use crate::middleware::MiddlewareLayer;

    /// Lets requests whose path ends in `/Open` through and answers the others itself.
    struct OnlyOpen;

    impl RequestGuard for OnlyOpen {
        fn admit(self: Arc<Self>, request: http::Request<Body>) -> BoxFuture<'static, Admission> {
            Box::pin(async move {
                if request.uri().path().ends_with("/Open") {
                    Ok(request)
                } else {
                    Err(tonic::Status::permission_denied("closed").into_http())
                }
            })
        }
    }

    #[tokio::test]
    async fn the_guard_decides_before_the_service_runs() {
        let ran = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&ran);
        let service = tower::service_fn(move |_request: http::Request<Body>| {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { Ok::<_, Infallible>(http::Response::new(Body::empty())) }
        });
        let guarded = MiddlewareLayer(Guard(Arc::new(OnlyOpen))).layer(service);
        let request = |path: &str| {
            http::Request::builder()
                .uri(path)
                .body(Body::empty())
                .expect("request")
        };

        let denied = guarded
            .clone()
            .oneshot(request("/x.S/Closed"))
            .await
            .expect("infallible");
        assert_eq!(
            denied.headers().get("grpc-status").map(|v| v.as_bytes()),
            Some(&b"7"[..])
        );
        assert_eq!(ran.load(std::sync::atomic::Ordering::SeqCst), 0);

        guarded
            .oneshot(request("/x.S/Open"))
            .await
            .expect("infallible");
        assert_eq!(ran.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
