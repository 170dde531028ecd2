//! The broker's one HTTP service. `/gate/…` goes straight to the gate's proxy; everything
//! else goes to the API's router. Each proxied request is an extra hop for its caller, so
//! the gate's path skips the router and its layers and keeps only what a proxy needs: a
//! request id, a span and metrics. The API keeps its timeout and body limit, which must
//! not apply to streams.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use axum::serve::{IncomingStream, Listener};
use axum::Router;
use bytes::Bytes;
use tower::Service;

use super::AppState;
use crate::gate::affinity::Affinity;

/// Paths the gate's proxy serves.
pub const GATE_PREFIX: &str = "/gate/";
/// The route label of proxied requests in the metrics.
const GATE_ROUTE: &str = "/gate/{resource}/{*path}";

/// Makes the [`Front`] of each connection.
#[derive(Clone)]
pub struct MakeFront {
    api: Router,
    state: AppState,
}

impl MakeFront {
    /// `api` answers everything outside [`GATE_PREFIX`].
    pub fn new(api: Router, state: AppState) -> Self {
        Self { api, state }
    }

    fn front(&self, peer: SocketAddr) -> Front {
        Front {
            api: self.api.clone(),
            state: self.state.clone(),
            peer: ConnectInfo(peer),
            affinity: Arc::default(),
        }
    }
}

impl<L> Service<IncomingStream<'_, L>> for MakeFront
where
    L: Listener<Addr = SocketAddr>,
{
    type Response = Front;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Front, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, stream: IncomingStream<'_, L>) -> Self::Future {
        std::future::ready(Ok(self.front(*stream.remote_addr())))
    }
}

/// The same, for the TLS server.
impl Service<SocketAddr> for MakeFront {
    type Response = Front;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Front, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, peer: SocketAddr) -> Self::Future {
        std::future::ready(Ok(self.front(peer)))
    }
}

/// The API router with the gate in front, for one connection.
#[derive(Clone)]
pub struct Front {
    api: Router,
    state: AppState,
    /// Where the connection comes from (handlers read [`ConnectInfo`]).
    peer: ConnectInfo<SocketAddr>,
    /// The upstream connection this connection's proxied requests reuse.
    affinity: Arc<Affinity>,
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
        let mut req = req.map(Body::new);
        req.extensions_mut().insert(self.peer);
        if !req.uri().path().starts_with(GATE_PREFIX) {
            return Box::pin(self.api.call(req));
        }
        let (state, affinity) = (self.state.clone(), self.affinity.clone());
        Box::pin(async move {
            let metrics = state.metrics.clone();
            let method = req.method().clone();
            let answer = super::in_request_context(req, |req| {
                crate::gate::proxy::proxy(state, affinity, req)
            });
            Ok(metrics.time(&method, GATE_ROUTE, answer).await)
        })
    }
}
