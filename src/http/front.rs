//! The broker's one HTTP service. `/gate/…` goes straight to the gate's proxy; everything
//! else goes to the API's router. Each proxied request is an extra hop for its caller, so
//! the gate's path skips the router and its layers and keeps only what a proxy needs: a
//! request id, a span and metrics. The API keeps its timeout and body limit, which must
//! not apply to streams.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use axum::Router;
use bytes::Bytes;
use tower::Service;

use super::AppState;

/// Paths the gate's proxy serves.
pub const GATE_PREFIX: &str = "/gate/";
/// The route label of proxied requests in the metrics.
const GATE_ROUTE: &str = "/gate/{resource}/{*path}";

/// The API router with the gate in front.
#[derive(Clone)]
pub struct Front {
    api: Router,
    state: AppState,
}

impl Front {
    /// `api` answers everything outside [`GATE_PREFIX`].
    pub fn new(api: Router, state: AppState) -> Self {
        Self { api, state }
    }
}

impl<B> Service<axum::http::Request<B>> for Front
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Service::<Request>::poll_ready(&mut self.api, cx)
    }

    fn call(&mut self, req: axum::http::Request<B>) -> Self::Future {
        let req = req.map(Body::new);
        if !req.uri().path().starts_with(GATE_PREFIX) {
            return Box::pin(self.api.call(req));
        }
        let state = self.state.clone();
        Box::pin(async move {
            let metrics = state.metrics.clone();
            let method = req.method().clone();
            // The proxy's future is boxed where it is made: the layers around it then move
            // a pointer, not kilobytes of state, as each is set up.
            let answer = || {
                super::in_request_context(req, |req| {
                    Box::pin(crate::gate::proxy::proxy(state, req))
                })
            };
            Ok(metrics.time(&method, GATE_ROUTE, answer).await)
        })
    }
}
