//! The two shapes every layer in front of the routes takes, written once: a tower layer that
//! hands each request to a [`Middleware`] with the inner service, and a body that shows each
//! frame to a [`FrameWatcher`] as it passes (and drops the watcher with the body, so what it
//! holds lives as long as the call's body does).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body::Frame;
use tonic::Status;
use tonic::body::Body;
use tower::{Layer, Service};

/// The service behind a layer: the routes, or the next layer.
pub trait Inner:
    Service<
        http::Request<Body>,
        Response = http::Response<Body>,
        Future: Send + 'static,
        Error: Send + 'static,
    > + Send
    + 'static
{
}

impl<S> Inner for S where
    S: Service<
            http::Request<Body>,
            Response = http::Response<Body>,
            Future: Send + 'static,
            Error: Send + 'static,
        > + Send
        + 'static
{
}

/// What a layer does with one request, given the service behind it.
pub trait Middleware: Clone + Send + Sync + 'static {
    fn call<S: Inner>(&self, request: http::Request<Body>, inner: S) -> Answer<S>;
}

/// What a [`Middleware`] answers: the response, or the inner service's error.
pub type Answer<S> =
    BoxFuture<'static, Result<http::Response<Body>, <S as Service<http::Request<Body>>>::Error>>;

/// Puts a [`Middleware`] in front of every route.
#[derive(Clone)]
pub struct MiddlewareLayer<M>(pub M);

impl<M: Clone, S> Layer<S> for MiddlewareLayer<M> {
    type Service = Wrapped<M, S>;

    fn layer(&self, inner: S) -> Self::Service {
        Wrapped {
            middleware: self.0.clone(),
            inner,
        }
    }
}

/// A service behind a [`Middleware`].
#[derive(Clone)]
pub struct Wrapped<M, S> {
    middleware: M,
    inner: S,
}

impl<M: Middleware, S: Inner + Clone> Service<http::Request<Body>> for Wrapped<M, S> {
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        // The clone that was polled ready is the one that runs the call (tower's rule).
        let ready = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, ready);
        self.middleware.call(request, inner)
    }
}

/// Sees the frames of a body as they pass.
pub trait FrameWatcher: Send + Sync + Unpin + 'static {
    /// A frame on its way; an error ends the body with that status instead.
    fn frame(&mut self, _frame: &mut Frame<Bytes>) -> Result<(), Status> {
        Ok(())
    }

    /// The body failed with `status`.
    fn failed(&mut self, _status: &Status) {}

    /// The body ended.
    fn ended(&mut self) {}
}

/// A body whose frames a [`FrameWatcher`] sees; the watcher is dropped with the body.
pub struct Watched<W> {
    inner: Body,
    watcher: W,
}

impl<W: FrameWatcher> Watched<W> {
    /// `body` watched by `watcher`, as a tonic body. (A body already at its end is not
    /// wrapped by tonic, so its watcher is dropped at once.)
    pub fn body(inner: Body, watcher: W) -> Body {
        Body::new(Self { inner, watcher })
    }
}

impl<W: FrameWatcher> http_body::Body for Watched<W> {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        // `Watched` holds nothing pinned: `Body` and the watcher are `Unpin`.
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(mut frame))) => match this.watcher.frame(&mut frame) {
                Ok(()) => Poll::Ready(Some(Ok(frame))),
                Err(status) => Poll::Ready(Some(Err(status))),
            },
            Poll::Ready(Some(Err(status))) => {
                this.watcher.failed(&status);
                Poll::Ready(Some(Err(status)))
            }
            Poll::Ready(None) => {
                this.watcher.ended();
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
