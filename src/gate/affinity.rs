//! Each caller connection keeps the upstream connections its requests used. HTTP/1.1
//! answers one request at a time on a connection, so the caller's next request finds its
//! upstream connection idle, with no shared pool to check one out of (a lock and its
//! bookkeeping on every request); an HTTP/2 caller's concurrent requests each keep one,
//! up to [`KEPT`]. A request that finds none idle (the first, one after an upgrade, one to
//! another upstream) opens one; one that could not be sent on a reused connection because
//! the upstream had closed it is sent once more on a new one. Upstream connections live
//! as long as their caller's connection, or until the upstream closes them.

use std::sync::Mutex;

use axum::http::uri::Authority;
use axum::http::{header, HeaderValue, Request, Response, Uri};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use tower::Service;

use super::{Gate, UpstreamBody};

/// An upstream connection held for one caller connection.
struct Held {
    authority: Authority,
    sender: SendRequest<UpstreamBody>,
}

/// Idle upstream connections kept for one caller connection, at most.
pub const KEPT: usize = 16;

/// The idle upstream connections of one caller connection.
#[derive(Default)]
pub struct Affinity(Mutex<Vec<Held>>);

/// Why a request did not reach the upstream.
pub type SendError = Box<dyn std::error::Error + Send + Sync>;

impl Affinity {
    fn held(&self) -> std::sync::MutexGuard<'_, Vec<Held>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// An idle connection to `authority`; closed ones are dropped on the way.
    fn take(&self, authority: &Authority) -> Option<SendRequest<UpstreamBody>> {
        let mut held = self.held();
        held.retain(|h| !h.sender.is_closed());
        let i = held
            .iter()
            .position(|h| h.authority == *authority && h.sender.is_ready())?;
        Some(held.swap_remove(i).sender)
    }

    fn keep(&self, authority: &Authority, sender: SendRequest<UpstreamBody>) {
        let mut held = self.held();
        if held.len() < KEPT {
            held.push(Held {
                authority: authority.clone(),
                sender,
            });
        }
    }

    /// Sends `req` (absolute-form URI) to its upstream on this caller's upstream
    /// connection, opening one when there is none to reuse.
    pub async fn send(
        &self,
        gate: &Gate,
        mut req: Request<UpstreamBody>,
    ) -> Result<Response<Incoming>, SendError> {
        let absolute = req.uri().clone();
        let authority = absolute
            .authority()
            .cloned()
            .ok_or("no upstream authority")?;
        // On a connection of its own, a request names its path, and its host in `Host`.
        let path = absolute
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse::<Uri>()?;
        *req.uri_mut() = path;
        req.headers_mut()
            .insert(header::HOST, HeaderValue::from_str(authority.as_str())?);
        let reused = self.take(&authority);
        let was_reused = reused.is_some();
        let mut sender = match reused {
            Some(s) => s,
            None => connect(gate, &absolute).await?,
        };
        let req = match sender.try_send_request(req).await {
            Ok(resp) => {
                self.keep(&authority, sender);
                return Ok(resp);
            }
            Err(mut e) => match e.take_message() {
                // Never sent: the upstream had closed the idle connection.
                Some(req) if was_reused => req,
                _ => return Err(e.into_error().into()),
            },
        };
        let mut sender = connect(gate, &absolute).await?;
        let resp = sender.send_request(req).await?;
        self.keep(&authority, sender);
        Ok(resp)
    }
}

/// A new HTTP/1.1 connection to `uri`'s upstream (upgrades allowed), driven by a task of
/// its own.
async fn connect(gate: &Gate, uri: &Uri) -> Result<SendRequest<UpstreamBody>, SendError> {
    let io = gate.connector.clone().call(uri.clone()).await?;
    let (sender, conn) = hyper::client::conn::http1::Builder::new()
        .handshake(io)
        .await?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "upstream connection ended");
        }
    });
    Ok(sender)
}
