//! The reverse proxy: `/gate/{resource}/{path…}` reaches `{upstream}/{path…}` for a
//! principal admitted to the resource. Bodies stream both ways without buffering
//! (server-sent events, chunked responses); WebSocket and other upgrades are tunnelled.
//! The caller's credentials and cookies never reach the upstream; a signed identity
//! assertion does, in `X-Latchkey-Assertion`.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::header;
use axum::http::{HeaderName, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;

use crate::app::gate::relay::{ending, Counted, Relay, StreamAudit};
use crate::app::gate::{ForwardError, UpstreamResponse};
use crate::app::{Gatekeeper, ServiceError};
use crate::edges::gate::headers::{bearer, is_upgrade, split_path, strip, upstream_headers};
use crate::edges::http::error::ApiError;
use crate::edges::http::extract::Caller;
use crate::edges::http::peer::Peer;
use crate::edges::http::state::AppState;
use crate::model::gate::admission_rules::{Admission, GateRefusal};
use crate::model::refusal::Class;

/// Response header naming the grant a proxied answer was served under.
pub const GRANT_HEADER: HeaderName = HeaderName::from_static("x-latchkey-grant");

impl From<GateRefusal> for ApiError {
    fn from(r: GateRefusal) -> Self {
        ApiError::new(r.class, r.code, r.message)
    }
}

fn bad_gateway(code: &'static str, message: &str) -> ApiError {
    ApiError::new(Class::UpstreamFailed, code, message)
}

/// `ANY /gate/{resource}/{path…}`.
pub async fn proxy(state: AppState, peer: Peer, mut req: Request) -> Response {
    let caller = Caller::with_peer(Some(peer.addr), req.headers());
    // A cheap copy (shared bytes), so the path outlives the request handed upstream.
    let caller_uri = req.uri().clone();
    let (resource, rest) = match gate_path(caller_uri.path()) {
        Ok(split) => split,
        Err(refused) => return refused.into_response(),
    };
    let keeper = state.app.gatekeeper.clone();
    let admission = match keeper
        .admit(
            bearer(req.headers()),
            &resource,
            &|| caller.origin(),
            chrono::Utc::now(),
        )
        .await
    {
        Ok(a) => a,
        Err(r) => return ApiError::from(r).into_response(),
    };
    let Some(uri) = admission.upstream.target(rest, caller_uri.query()) else {
        return ApiError::new(Class::Invalid, "bad_path", "the path is not a valid URI")
            .into_response();
    };
    let upgrade = is_upgrade(req.headers());
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let method = req.method().clone();
    let upstream = Upstream {
        keeper: &keeper,
        admission: &admission,
        resource: &resource,
    };
    let resp = match upstream.send(req, uri, &peer, upgrade).await {
        Ok(r) => r,
        Err(refused) => return refused.into_response(),
    };
    let opened = Opened {
        keeper,
        admission,
        caller: &caller,
        path: rest,
    };
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        return opened.upgraded(client_upgrade, resp).await;
    }
    opened.answer(&method, resp).await
}

/// The resource and the rest of a `/gate/{resource}/…` path, refused when it has no
/// resource or climbs (before the credential is looked at: whoever sends it).
fn gate_path(path: &str) -> Result<(std::borrow::Cow<'_, str>, &str), ApiError> {
    let (resource, rest) = split_path(path).ok_or_else(|| {
        ApiError::new(
            Class::Invalid,
            "bad_path",
            "the path must be /gate/{resource}/…",
        )
    })?;
    crate::model::gate::paths::check(rest)
        .map_err(|why| ApiError::new(Class::Invalid, "bad_path", why.message()))?;
    Ok((resource, rest))
}

/// An admitted request on its way to the upstream.
struct Upstream<'a> {
    keeper: &'a Gatekeeper,
    admission: &'a Admission,
    resource: &'a str,
}

impl Upstream<'_> {
    /// Sends the caller's request, cleaned, and waits for the upstream's headers.
    async fn send(
        &self,
        req: Request,
        uri: axum::http::Uri,
        peer: &Peer,
        upgrade: bool,
    ) -> Result<UpstreamResponse, ApiError> {
        let (mut parts, body) = req.into_parts();
        let a = self.admission;
        upstream_headers(&mut parts.headers, a, peer.forwarded_for.as_ref(), upgrade);
        let (body, body_failed) = crate::edges::gate::inbound::watch(body);
        let mut up = hyper::Request::new(body);
        *up.method_mut() = parts.method;
        *up.uri_mut() = uri;
        *up.headers_mut() = parts.headers;
        match self.keeper.forward(a.upstream.authority(), up).await {
            Ok(r) => Ok(r),
            Err(ForwardError::Unreachable(_)) if body_failed.get() => Err(ApiError::new(
                Class::Invalid,
                "bad_body",
                "the request body was malformed or cut short",
            )),
            Err(ForwardError::Unreachable(e)) => {
                tracing::warn!(error = %e, resource = %self.resource, "upstream unreachable");
                Err(bad_gateway(
                    "upstream_unavailable",
                    "the upstream service did not answer",
                ))
            }
            Err(ForwardError::TimedOut) => Err(ApiError::new(
                Class::UpstreamTimeout,
                "upstream_timeout",
                "the upstream service did not answer in time",
            )),
        }
    }
}

/// The upstream's answer on its way back to the caller.
struct Opened<'a> {
    keeper: Gatekeeper,
    admission: Arc<Admission>,
    caller: &'a Caller,
    path: &'a str,
}

impl Opened<'_> {
    /// Opens the audit of a stream of `kind`.
    async fn audit(&self, kind: &'static str) -> Result<StreamAudit, Response> {
        Box::pin(StreamAudit::open(
            self.keeper.clone(),
            self.admission.clone(),
            self.caller.origin(),
            kind,
            self.path.to_string(),
        ))
        .await
        .map_err(audit_failed)
    }

    /// A switched protocol: tunnelled both ways until either side closes or access ends.
    async fn upgraded(
        self,
        client_upgrade: Option<hyper::upgrade::OnUpgrade>,
        mut resp: UpstreamResponse,
    ) -> Response {
        let Some(client_upgrade) = client_upgrade else {
            return bad_gateway(
                "upstream_protocol",
                "the upstream switched protocols unasked",
            )
            .into_response();
        };
        let audit = match self.audit("upgrade").await {
            Ok(a) => a,
            Err(refused) => return refused,
        };
        let upstream_upgrade = hyper::upgrade::on(&mut resp);
        let end = ending(self.keeper, &self.admission);
        tokio::spawn(tunnel(client_upgrade, upstream_upgrade, end, audit));
        let mut out = Response::new(Body::empty());
        *out.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        *out.headers_mut() = resp.headers().clone();
        out
    }

    /// An answer: passed as it comes, or, for a stream, relayed, audited and ended with
    /// access.
    async fn answer(self, method: &Method, resp: UpstreamResponse) -> Response {
        let (mut parts, body) = resp.into_parts();
        let stream_kind = stream_kind(method, &parts);
        strip(&mut parts.headers, |_| false);
        parts
            .headers
            .insert(GRANT_HEADER, self.admission.headers.grant.clone());
        let Some(kind) = stream_kind else {
            return Response::from_parts(parts, Body::new(body));
        };
        let audit = match self.audit(kind).await {
            Ok(a) => a,
            Err(refused) => return refused,
        };
        let end = ending(self.keeper, &self.admission);
        Response::from_parts(parts, Body::new(Relay::new(body, end, audit)))
    }
}

/// A stream is a server-sent-events answer, or one of unknown length (chunked).
fn stream_kind(method: &Method, parts: &axum::http::response::Parts) -> Option<&'static str> {
    let sse = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if sse {
        return Some("sse");
    }
    let bodiless = *method == Method::HEAD
        || parts.status.is_informational()
        || parts.status == StatusCode::NO_CONTENT
        || parts.status == StatusCode::NOT_MODIFIED;
    (!bodiless && !parts.headers.contains_key(header::CONTENT_LENGTH)).then_some("chunked")
}

fn audit_failed(e: ServiceError) -> Response {
    tracing::error!(error = %e, "could not audit a stream's opening; refused");
    if matches!(&e, ServiceError::Store(s) if s.audit_broken()) {
        return ApiError::from(e).into_response();
    }
    ApiError::new(
        Class::Unavailable,
        "audit_unavailable",
        "the stream cannot be audited, so it is not opened",
    )
    .into_response()
}

/// Copies both ways between the upgraded connections until either side closes or the
/// broker ends the stream.
async fn tunnel(
    client: hyper::upgrade::OnUpgrade,
    upstream: hyper::upgrade::OnUpgrade,
    end: crate::app::gate::relay::Ending,
    audit: StreamAudit,
) {
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(pair) => pair,
        Err(e) => {
            tracing::warn!(error = %e, "upgrade failed");
            audit.close(0, "upgrade_failed");
            return;
        }
    };
    let count = Arc::new(AtomicU64::new(0));
    let mut client = TokioIo::new(client);
    let mut upstream = Counted::new(TokioIo::new(upstream), count.clone());
    let why = tokio::select! {
        r = tokio::io::copy_bidirectional(&mut client, &mut upstream) => if r.is_ok() { "closed" } else { "connection_error" },
        end = end => end.as_str(),
    };
    audit.close(count.load(std::sync::atomic::Ordering::Relaxed), why);
}
