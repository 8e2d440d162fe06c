//! The hook through which every request passes before its RPC runs.
//!
//! The server knows only that a [`RequestGuard`] may let a request go on (perhaps with
//! something added to its extensions, or its body replayed after a look at it) or answer it
//! at once. What it checks, authentication and authorization, lives in `caravan-access`.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use tonic::body::Body;
use tower::{Layer, Service};

/// What to do with one request.
pub type Admission = Result<http::Request<Body>, http::Response<Body>>;

/// Decides, before the RPC runs, whether a request may go on.
pub trait RequestGuard: Send + Sync + 'static {
    /// `Ok(request)` to go on, `Err(response)` to answer without running the RPC.
    fn admit(self: Arc<Self>, request: http::Request<Body>) -> BoxFuture<'static, Admission>;
}

/// Puts a guard in front of every route.
#[derive(Clone)]
pub struct GuardLayer(pub Arc<dyn RequestGuard>);

impl<S> Layer<S> for GuardLayer {
    type Service = Guarded<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Guarded {
            inner,
            guard: Arc::clone(&self.0),
        }
    }
}

/// A service behind a [`RequestGuard`].
#[derive(Clone)]
pub struct Guarded<S> {
    inner: S,
    guard: Arc<dyn RequestGuard>,
}

impl<S> Service<http::Request<Body>> for Guarded<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        // The clone that was polled ready is the one that runs the call (tower's rule).
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let guard = Arc::clone(&self.guard);
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

    use tower::ServiceExt;

    use super::*;

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
        let guarded = GuardLayer(Arc::new(OnlyOpen)).layer(service);
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
