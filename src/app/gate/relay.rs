//! Relaying a stream: the upstream's body passes through frame by frame (nothing is
//! buffered), counted, and cut the moment the keeper ends the stream; its opening and
//! closing are audited (`gate.stream_opened`, `gate.stream_closed` with duration,
//! bytes and why), each in its own short transaction.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body::{Body, Frame};

use crate::app::error::ServiceError;
use crate::app::gate::revocation::{End, Liveness, Watch};
use crate::app::services::Gatekeeper;
use crate::model::access::State;
use crate::model::audit::{AuditEvent, EventKind, Origin};
use crate::model::gate::admission_rules::Admission;
use crate::store::StoreError;

/// Resolves when a stream must end.
pub type Ending = Pin<Box<dyn Future<Output = End> + Send>>;

/// Registers a stream with the hub; the future resolves when the keeper ends it: a
/// signal from the hub, or the grant's end (re-read then, since it may have been extended).
pub fn ending(keeper: Gatekeeper, a: &Admission) -> Ending {
    let mut watch: Watch = keeper.gate.hub.register(Liveness {
        grant_id: a.grant_id.clone(),
        user_keys: a.user_keys.clone(),
        session_id: a.session_id.clone(),
    });
    let grant_id = a.grant_id.clone();
    let mut deadline = a.grant_ends;
    Box::pin(async move {
        loop {
            let wait = (deadline - Utc::now()).to_std().unwrap_or_default();
            tokio::select! {
                why = watch.ended() => return why,
                _ = tokio::time::sleep(wait) => {
                    match grant_end(&keeper, &grant_id).await {
                        Ok(Some(later)) if later > Utc::now() => deadline = later,
                        Ok(Some(_)) => return End::Expired,
                        Ok(None) => return End::GrantEnded,
                        // Fail closed: a stream whose grant cannot be checked at its end stops.
                        Err(_) => return End::Expired,
                    }
                }
            }
        }
    })
}

/// The end of an active grant; `None` if it is not active.
async fn grant_end(keeper: &Gatekeeper, id: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    let mut tx = keeper.core.store.begin_read().await?;
    let g = tx.request(id).await?;
    tx.commit().await?;
    Ok(g.filter(|g| g.state == State::Active)
        .and_then(|g| g.expires_at))
}

/// Audits one stream's opening, then its closing.
pub struct StreamAudit {
    keeper: Gatekeeper,
    admission: Arc<Admission>,
    origin: Origin,
    kind: &'static str,
    path: String,
    opened: Instant,
}

impl StreamAudit {
    /// Audits the opening of a stream (`sse`, `chunked` or `upgrade`) of `path`.
    pub async fn open(
        keeper: Gatekeeper,
        admission: Arc<Admission>,
        origin: Origin,
        kind: &'static str,
        path: String,
    ) -> Result<Self, ServiceError> {
        let a = &admission;
        let event = AuditEvent::new(EventKind::GateStreamOpened, &a.user_id, &origin, Utc::now())?
            .about(&a.grant_id, &a.resource, &a.role)
            .details(serde_json::json!({ "kind": kind, "path": path, "session": a.session_id.is_some() }));
        let mut tx = keeper.core.store.begin().await?;
        tx.append_audit(&event).await?;
        tx.commit().await?;
        Ok(Self {
            keeper,
            admission,
            origin,
            kind,
            path,
            opened: Instant::now(),
        })
    }

    /// Audits the closing (in the background: the stream is already gone).
    pub fn close(self, bytes: u64, why: &'static str) {
        let a = &self.admission;
        let duration_ms = self.opened.elapsed().as_millis() as u64;
        tracing::info!(grant = %a.grant_id, why, bytes, duration_ms, "gated stream closed");
        let event = match AuditEvent::new(EventKind::GateStreamClosed, &a.user_id, &self.origin, Utc::now()) {
            Ok(event) => event
                .about(&a.grant_id, &a.resource, &a.role)
                .outcome("success", Some(why.to_string()))
                .details(serde_json::json!({ "kind": self.kind, "path": self.path, "duration_ms": duration_ms, "bytes": bytes, "why": why })),
            Err(e) => {
                tracing::error!(error = %e, "could not audit a stream's closing");
                return;
            }
        };
        let keeper = self.keeper;
        tokio::spawn(async move {
            let written = async {
                let mut tx = keeper.core.store.begin().await?;
                tx.append_audit(&event).await?;
                tx.commit().await
            };
            if let Err(e) = written.await {
                tracing::error!(error = %e, "could not audit a stream's closing");
            }
        });
    }
}

/// A response body relayed from upstream.
pub struct Relay<B> {
    inner: B,
    ending: Ending,
    bytes: u64,
    why: Option<&'static str>,
    audit: Option<StreamAudit>,
}

impl<B> Relay<B> {
    /// Relays `inner` until it ends or `ending` resolves.
    pub fn new(inner: B, ending: Ending, audit: StreamAudit) -> Self {
        Self {
            inner,
            ending,
            bytes: 0,
            why: None,
            audit: Some(audit),
        }
    }
}

impl<B> Body for Relay<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        if this.why.is_some() {
            return Poll::Ready(None);
        }
        if let Poll::Ready(end) = this.ending.as_mut().poll(cx) {
            this.why = Some(end.as_str());
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    this.bytes += d.len() as u64;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.why = Some("upstream_error");
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                this.why = Some("upstream_ended");
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.why.is_some()
    }
}

impl<B> Drop for Relay<B> {
    fn drop(&mut self) {
        if let Some(audit) = self.audit.take() {
            audit.close(self.bytes, self.why.unwrap_or("client_gone"));
        }
    }
}

/// Counts the bytes read through it (for upgraded connections).
pub struct Counted<T> {
    inner: T,
    count: Arc<AtomicU64>,
}

impl<T> Counted<T> {
    /// Wraps `inner`, adding to `count`.
    pub fn new(inner: T, count: Arc<AtomicU64>) -> Self {
        Self { inner, count }
    }
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        self.count.fetch_add(read as u64, Ordering::Relaxed);
        r
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
