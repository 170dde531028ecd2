//! Forwarding an admitted request to its upstream: through the gate's pool of kept-alive
//! connections, waiting a bounded time for the answer's head. The edge hands the request
//! over and gets the answer, or why there is none; it never reaches the pool itself.

use std::time::Duration;

use axum::http::uri::Authority;

use crate::adapters::upstream::{Pooled, UpstreamBody};
use crate::app::services::Gatekeeper;

/// How long the upstream may take to answer with its headers.
pub const UPSTREAM_HEADERS: Duration = Duration::from_secs(30);

/// An upstream's answer; its body streams as it arrives.
pub type UpstreamResponse = hyper::Response<Pooled>;

/// Why an upstream did not answer.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// No connection, or it failed before the answer's head.
    #[error("{0}")]
    Unreachable(#[from] crate::adapters::upstream::UpstreamError),
    /// No answer's head within [`UPSTREAM_HEADERS`].
    #[error("the upstream did not answer within {UPSTREAM_HEADERS:?}")]
    TimedOut,
}

impl Gatekeeper {
    /// Sends `req` (origin-form URI, `Host` set) to the upstream at `authority`.
    pub async fn forward(
        &self,
        authority: &Authority,
        req: hyper::Request<UpstreamBody>,
    ) -> Result<UpstreamResponse, ForwardError> {
        match tokio::time::timeout(UPSTREAM_HEADERS, self.gate.pool.send(authority, req)).await {
            Ok(answer) => Ok(answer?),
            Err(_) => Err(ForwardError::TimedOut),
        }
    }
}
