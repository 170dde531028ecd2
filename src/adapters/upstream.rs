//! The gate's connections to its upstreams: plain HTTP/1.1, kept alive and reused.
//!
//! An HTTP/1.1 connection carries one exchange at a time, so a connection goes back to
//! the idle list when its answer has been read to the end (at once when the answer came
//! whole with its head): the next request takes the most recently used one that is ready
//! and opens a new one when none is. An answer the caller abandons closes its connection,
//! since its unread rest would be read as the next answer. A request that could not be
//! sent because the upstream closed an idle connection goes out once more on a new one.
//!
//! Idle connections are closed after [`IDLE_TIMEOUT`], and at most [`MAX_IDLE`] stay
//! idle per upstream.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::http::uri::Authority;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// The body type sent upstream: the caller's, as it arrives.
pub type UpstreamBody = axum::body::Body;

/// How long an idle upstream connection is kept.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Idle connections kept per upstream.
pub const MAX_IDLE: usize = 256;
/// How long opening a connection to an upstream may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why an upstream exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No connection could be opened.
    #[error("cannot connect to {0}: {1}")]
    Connect(Authority, std::io::Error),
    /// The connection failed before an answer's head arrived.
    #[error("upstream exchange failed: {0}")]
    Exchange(#[from] hyper::Error),
}

struct Idle {
    sender: SendRequest<UpstreamBody>,
    since: Instant,
}

/// FNV-1a, for the pool's keys: they come from the policy, not from callers, so a hash
/// that an adversary could flood is not a concern, and this one costs a few instructions
/// per byte instead of SipHash's setup on every request.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Idle connections by authority, as written in the policy (compared byte for byte).
type ByAuthority = HashMap<Box<str>, Vec<Idle>, std::hash::BuildHasherDefault<Fnv>>;

/// Keep-alive connections to upstreams, by authority.
#[derive(Default)]
pub struct Pool {
    idle: Mutex<ByAuthority>,
}

impl Pool {
    /// Sends `req` (origin-form URI, `Host` set) to the upstream at `authority`.
    pub async fn send(
        self: &Arc<Self>,
        authority: &Authority,
        req: Request<UpstreamBody>,
    ) -> Result<Response<Pooled>, UpstreamError> {
        // Connecting is boxed: its futures are large, and most requests reuse a connection.
        let (mut sender, reused) = match self.checkout(authority) {
            Some(s) => (s, true),
            None => (Box::pin(connect(authority)).await?, false),
        };
        let resp = match sender.try_send_request(req).await {
            Ok(r) => r,
            Err(mut e) => match e.take_message() {
                // Not sent: the idle connection was closing. Once more, on a new one.
                Some(req) if reused => {
                    sender = Box::pin(connect(authority)).await?;
                    sender.send_request(req).await?
                }
                _ => return Err(e.into_error().into()),
            },
        };
        // A 101 hands the connection to the upgrade; it never comes back.
        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            return Ok(resp.map(|body| Pooled { body, back: None }));
        }
        let back = Back {
            pool: self.clone(),
            authority: authority.clone(),
            sender,
        };
        // Ready already: the whole answer came with its head.
        let back = if back.sender.is_ready() {
            back.put();
            None
        } else {
            Some(back)
        };
        Ok(resp.map(|body| Pooled { body, back }))
    }

    /// The most recently used idle connection to `authority` that is ready; closed ones
    /// are dropped on the way.
    fn checkout(&self, authority: &Authority) -> Option<SendRequest<UpstreamBody>> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let list = idle.get_mut(authority.as_str())?;
        let mut i = list.len();
        while i > 0 {
            i -= 1;
            if list[i].sender.is_ready() {
                return Some(list.remove(i).sender);
            }
            if list[i].sender.is_closed() {
                list.remove(i);
            }
        }
        None
    }

    fn put(&self, authority: Authority, sender: SendRequest<UpstreamBody>) {
        if sender.is_closed() {
            return;
        }
        let now = Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let list = match idle.get_mut(authority.as_str()) {
            Some(l) => l,
            None => idle.entry(authority.as_str().into()).or_default(),
        };
        let stale = list
            .iter()
            .take_while(|c| now.duration_since(c.since) >= IDLE_TIMEOUT)
            .count();
        let over = (list.len() - stale + 1).saturating_sub(MAX_IDLE);
        list.drain(..stale + over);
        list.push(Idle { sender, since: now });
    }

    /// Closes connections idle for [`IDLE_TIMEOUT`] or closed by their upstream.
    pub fn prune(&self) -> usize {
        let now = Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let mut closed = 0;
        for list in idle.values_mut() {
            let before = list.len();
            list.retain(|c| !c.sender.is_closed() && now.duration_since(c.since) < IDLE_TIMEOUT);
            closed += before - list.len();
        }
        idle.retain(|_, l| !l.is_empty());
        closed
    }
}

/// Opens a connection to `authority` and runs it on its own task.
async fn connect(authority: &Authority) -> Result<SendRequest<UpstreamBody>, UpstreamError> {
    let failed = |e| UpstreamError::Connect(authority.clone(), e);
    let port = authority.port_u16().unwrap_or(80);
    // An IPv6 literal comes bracketed (`[::1]`); the resolver wants it bare.
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let tcp = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio::net::TcpStream::connect((host, port)),
    )
    .await
    .map_err(|_| failed(std::io::ErrorKind::TimedOut.into()))?
    .map_err(failed)?;
    tcp.set_nodelay(true).map_err(failed)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "upstream connection ended");
        }
    });
    Ok(sender)
}

/// A connection on its way back to the pool.
struct Back {
    pool: Arc<Pool>,
    authority: Authority,
    sender: SendRequest<UpstreamBody>,
}

impl Back {
    fn put(self) {
        self.pool.put(self.authority, self.sender);
    }
}

/// An upstream's answer body; its connection goes back to the pool when it has been read
/// to the end.
pub struct Pooled {
    body: Incoming,
    back: Option<Back>,
}

impl Body for Pooled {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        let ended = match &polled {
            Poll::Ready(None) => true,
            Poll::Ready(Some(Ok(_))) => self.body.is_end_stream(),
            // An error leaves the connection unusable: dropped with this body.
            _ => false,
        };
        if ended {
            if let Some(back) = self.back.take() {
                back.put();
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// An upstream answering "ok", and how many connections it accepted.
    async fn upstream(bind: &str) -> Option<(Authority, Arc<AtomicUsize>)> {
        let listener = tokio::net::TcpListener::bind(bind).await.ok()?;
        let addr = listener.local_addr().ok()?;
        let accepted = Arc::new(AtomicUsize::new(0));
        let counted = accepted.clone();
        let listener = axum::serve::ListenerExt::tap_io(listener, move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
        });
        let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Some((addr.to_string().parse().ok()?, accepted))
    }

    async fn get(pool: &Arc<Pool>, authority: &Authority) -> String {
        let req = Request::builder()
            .uri("/")
            .header("host", authority.as_str())
            .body(UpstreamBody::empty())
            .unwrap();
        let resp = pool.send(authority, req).await.unwrap();
        let body = http_body_util::BodyExt::collect(resp.into_body()).await;
        String::from_utf8(body.unwrap().to_bytes().to_vec()).unwrap()
    }

    #[tokio::test]
    async fn connections_are_reused_for_ipv4_and_bracketed_ipv6_upstreams() {
        let pool = Arc::new(Pool::default());
        let mut tried = 0;
        for bind in ["127.0.0.1:0", "[::1]:0"] {
            // A machine without IPv6 loopback cannot run the second half.
            let Some((authority, accepted)) = upstream(bind).await else {
                continue;
            };
            tried += 1;
            for _ in 0..3 {
                assert_eq!(get(&pool, &authority).await, "ok", "{authority}");
            }
            assert_eq!(accepted.load(Ordering::SeqCst), 1, "{authority}");
            assert_eq!(pool.prune(), 0);
        }
        assert!(tried >= 1);
    }
}
