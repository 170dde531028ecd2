//! The broker's one HTTP service. `/gate/…` goes straight to the gate's proxy; everything
//! else goes to the API's router. Each proxied request is an extra hop for its caller, so
//! the gate's path skips the router and its layers and keeps only what a proxy needs: a
//! request id, a span and metrics. The API keeps its timeout and body limit, which must
//! not apply to streams.
//!
//! A [`Front`] serves one connection ([`MakeFront`] makes one per accepted connection),
//! so what belongs to the connection (the caller's address, and its `X-Forwarded-For`
//! value) is worked out once, not on every request.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use axum::serve::{IncomingStream, Listener};
use axum::Router;
use bytes::Bytes;
use tower::Service;

use crate::edges::http::peer::Peer;
use crate::edges::http::request_id::WithRequestId;
use crate::edges::http::state::AppState;

/// Paths the gate's proxy serves.
pub const GATE_PREFIX: &str = "/gate/";
/// The route label of proxied requests in the metrics.
pub(crate) const GATE_ROUTE: &str = "/gate/{resource}/{*path}";

/// Makes a [`Front`] for each accepted connection: for `axum::serve` (plain HTTP) and for
/// `axum_server` (TLS), which hands over the peer's address.
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

    /// The service of one connection from `peer`.
    pub fn front(&self, peer: SocketAddr) -> Front {
        Front(crate::edges::http::request_id::layer(Dispatch {
            api: self.api.clone(),
            state: self.state.clone(),
            peer: Peer::new(peer),
        }))
    }
}

impl<L: Listener<Addr = SocketAddr>> Service<IncomingStream<'_, L>> for MakeFront {
    type Response = Front;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Front, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, conn: IncomingStream<'_, L>) -> Self::Future {
        std::future::ready(Ok(self.front(*conn.remote_addr())))
    }
}

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

/// The API router with the gate in front, for one connection: every request gets its id
/// here, on either path.
#[derive(Clone)]
pub struct Front(WithRequestId<Dispatch>);

impl<B> Service<axum::http::Request<B>> for Front
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = <WithRequestId<Dispatch> as Service<Request>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: axum::http::Request<B>) -> Self::Future {
        let mut req = req.map(Body::new);
        crate::edges::http::request_id::drop_unclean(&mut req);
        self.0.call(req)
    }
}

/// Sends a request with its id to the gate's proxy or to the API's router.
#[derive(Clone)]
pub struct Dispatch {
    api: Router,
    state: AppState,
    peer: Peer,
}

impl Service<Request> for Dispatch {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Service::<Request>::poll_ready(&mut self.api, cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        if !req.uri().path().starts_with(GATE_PREFIX) {
            // The API's extractors read the caller's address from here.
            req.extensions_mut().insert(ConnectInfo(self.peer.addr));
            return Box::pin(self.api.call(req));
        }
        let state = self.state.clone();
        let peer = self.peer.clone();
        Box::pin(async move {
            let metrics = state.metrics.clone();
            let method = req.method().clone();
            // The proxy's future is boxed where it is made: the layers around it then move
            // a pointer, not kilobytes of state, as each is set up.
            let answer = || {
                crate::edges::http::request_id::in_request_context(req, |req| {
                    Box::pin(crate::edges::gate::proxy::proxy(state, peer, req))
                })
            };
            let mut resp = metrics.time(&method, GATE_ROUTE, answer).await;
            // The answer carries the broker's id, never one the upstream chose:
            // `PropagateRequestId` would keep an id already on the answer.
            resp.headers_mut()
                .remove(crate::edges::http::state::REQUEST_ID);
            Ok(resp)
        })
    }
}
