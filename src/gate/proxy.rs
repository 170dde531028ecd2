//! The reverse proxy: `/gate/{resource}/{path…}` reaches `{upstream}/{path…}` for a
//! principal admitted to the resource. Bodies stream both ways without buffering
//! (server-sent events, chunked responses); WebSocket and other upgrades are tunnelled.
//! The caller's credentials and cookies never reach the upstream; a signed identity
//! assertion does, in `X-Latchkey-Assertion`.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;

use super::admission::{Admission, Refusal};
use super::assertion;
use super::relay::{ending, Counted, Relay, StreamAudit};
use crate::audit::Origin;
use crate::http::error::ApiError;
use crate::http::AppState;

/// How long the upstream may take to answer with its headers.
const UPSTREAM_HEADERS: Duration = Duration::from_secs(30);
/// Response header naming the grant a proxied answer was served under.
pub const GRANT_HEADER: &str = "x-latchkey-grant";

/// Headers that belong to one connection, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The gate's routes: any method, any path under a resource; and forward-auth with the
/// original path appended and the original method (Envoy's ext_authz sends both).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/gate/{resource}", any(proxy))
        .route("/gate/{resource}/{*path}", any(proxy))
        .route(
            "/v1/gate/auth/{resource}/{*path}",
            any(crate::http::gate::forward_auth_path),
        )
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        ApiError::new(r.status, r.code, r.message)
    }
}

/// The bearer credential of a request, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    v.strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Splits `/gate/{resource}/{rest}` (raw) into the decoded resource and the raw rest.
fn split_path(path: &str) -> Option<(String, String)> {
    let tail = path.strip_prefix("/gate/")?;
    let (raw, rest) = match tail.find('/') {
        Some(i) => (&tail[..i], &tail[i..]),
        None => (tail, "/"),
    };
    let resource = url::form_urlencoded::parse(format!("r={}", raw.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())?;
    // Dot segments could climb out of an upstream's path prefix.
    let dotty = rest.split('/').any(|seg| {
        let s = seg.to_ascii_lowercase().replace("%2e", ".");
        s == "." || s == ".."
    });
    (!resource.is_empty() && !dotty).then(|| (resource, rest.to_string()))
}

fn connection_tokens(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

/// Copies end-to-end headers; drops hop-by-hop ones and those `Connection` names.
fn end_to_end(from: &HeaderMap, drop_also: &[&str]) -> HeaderMap {
    let named = connection_tokens(from);
    let mut out = HeaderMap::with_capacity(from.len());
    for (k, v) in from {
        let n = k.as_str();
        if HOP_BY_HOP.contains(&n) || named.iter().any(|t| t == n) || drop_also.contains(&n) {
            continue;
        }
        out.append(k.clone(), v.clone());
    }
    out
}

fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && connection_tokens(headers).iter().any(|t| t == "upgrade")
}

/// What the upstream receives: end-to-end headers minus the caller's credentials and any
/// `X-Latchkey-*` it tried to set, plus the assertion and forwarding headers.
fn upstream_headers(req: &Request, a: &Admission, peer: Option<SocketAddr>) -> HeaderMap {
    let mut h = end_to_end(
        req.headers(),
        &[
            "authorization",
            "cookie",
            "host",
            "forwarded",
            "x-forwarded-for",
            "x-forwarded-host",
            "x-forwarded-proto",
        ],
    );
    h.retain_latchkey();
    if let Ok(v) = HeaderValue::from_str(&a.assertion) {
        h.insert(HeaderName::from_static(assertion::HEADER), v);
    }
    if let Some(bearer) = &a.upstream_bearer {
        if let Ok(v) = HeaderValue::from_str(&format!("Bearer {bearer}")) {
            h.insert(header::AUTHORIZATION, v);
        }
    }
    if let Some(host) = req.headers().get(header::HOST) {
        h.insert("x-forwarded-host", host.clone());
    }
    if let Some(ip) = peer.and_then(|p| HeaderValue::from_str(&p.ip().to_string()).ok()) {
        h.insert("x-forwarded-for", ip);
    }
    if is_upgrade(req.headers()) {
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        if let Some(u) = req.headers().get(header::UPGRADE) {
            h.insert(header::UPGRADE, u.clone());
        }
    }
    h
}

trait RetainLatchkey {
    fn retain_latchkey(&mut self);
}

impl RetainLatchkey for HeaderMap {
    /// Drops every `x-latchkey-*` header: only the gate sets those.
    fn retain_latchkey(&mut self) {
        let spoofed: Vec<HeaderName> = self
            .keys()
            .filter(|k| k.as_str().starts_with("x-latchkey-"))
            .cloned()
            .collect();
        for k in spoofed {
            self.remove(k);
        }
    }
}

fn bad_gateway(code: &'static str, message: &str) -> Response {
    ApiError::new(StatusCode::BAD_GATEWAY, code, message).into_response()
}

/// `ANY /gate/{resource}/{path…}`.
pub async fn proxy(State(state): State<AppState>, origin: Origin, mut req: Request) -> Response {
    let Some((resource, rest)) = split_path(req.uri().path()) else {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_path",
            "the path must be /gate/{resource}/… without dot segments",
        )
        .into_response();
    };
    let broker = state.broker.clone();
    let admission = match broker
        .admit(
            bearer(req.headers()),
            &resource,
            &origin,
            chrono::Utc::now(),
        )
        .await
    {
        Ok(a) => a,
        Err(r) => return ApiError::from(r).into_response(),
    };
    let target = match req.uri().query() {
        Some(q) => format!("{}{rest}?{q}", admission.upstream),
        None => format!("{}{rest}", admission.upstream),
    };
    let Ok(uri) = target.parse::<Uri>() else {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_path",
            "the path is not a valid URI",
        )
        .into_response();
    };
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let headers = upstream_headers(&req, &admission, peer);
    let upgrade = is_upgrade(req.headers());
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let method = req.method().clone();
    let mut up = hyper::Request::new(req.into_body().boxed_unsync());
    *up.method_mut() = method.clone();
    *up.uri_mut() = uri;
    *up.headers_mut() = headers;
    let mut resp =
        match tokio::time::timeout(UPSTREAM_HEADERS, broker.gate.client.request(up)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, resource = %resource, "upstream unreachable");
                return bad_gateway(
                    "upstream_unavailable",
                    "the upstream service did not answer",
                );
            }
            Err(_) => {
                return ApiError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "upstream_timeout",
                    "the upstream service did not answer in time",
                )
                .into_response()
            }
        };
    let grant_header = HeaderValue::from_str(&admission.grant_id).ok();
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        let Some(client_upgrade) = client_upgrade else {
            return bad_gateway(
                "upstream_protocol",
                "the upstream switched protocols unasked",
            );
        };
        let audit =
            match StreamAudit::open(broker.clone(), admission.clone(), origin, "upgrade", rest)
                .await
            {
                Ok(a) => a,
                Err(e) => return audit_failed(e),
            };
        let upstream_upgrade = hyper::upgrade::on(&mut resp);
        let end = ending(broker, &admission);
        tokio::spawn(tunnel(client_upgrade, upstream_upgrade, end, audit));
        let mut out = Response::new(Body::empty());
        *out.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        *out.headers_mut() = resp.headers().clone();
        return out;
    }
    let (mut parts, body) = resp.into_parts();
    let stream_kind = stream_kind(&method, &parts);
    parts.headers = end_to_end(&parts.headers, &[]);
    if let Some(g) = grant_header {
        parts.headers.insert(GRANT_HEADER, g);
    }
    let Some(kind) = stream_kind else {
        return Response::from_parts(parts, Body::new(body));
    };
    let audit = match StreamAudit::open(broker.clone(), admission.clone(), origin, kind, rest).await
    {
        Ok(a) => a,
        Err(e) => return audit_failed(e),
    };
    let end = ending(broker, &admission);
    Response::from_parts(parts, Body::new(Relay::new(body, end, audit)))
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

fn audit_failed(e: crate::store::StoreError) -> Response {
    tracing::error!(error = %e, "could not audit a stream's opening; refused");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
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
    end: super::relay::Ending,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_the_resource_and_a_rest_without_dot_segments() {
        assert_eq!(
            split_path("/gate/stream:live-events/events"),
            Some(("stream:live-events".into(), "/events".into()))
        );
        assert_eq!(
            split_path("/gate/stream%3Alive-events"),
            Some(("stream:live-events".into(), "/".into()))
        );
        for bad in [
            "/gate/x/../admin",
            "/gate/x/a/%2E%2e/b",
            "/gate/x/./a",
            "/gate//a",
            "/other",
        ] {
            assert_eq!(split_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn hop_by_hop_and_connection_named_headers_are_not_forwarded() {
        let mut h = HeaderMap::new();
        h.insert("connection", HeaderValue::from_static("close, x-secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("te", HeaderValue::from_static("trailers"));
        h.insert("accept", HeaderValue::from_static("text/event-stream"));
        h.insert("cookie", HeaderValue::from_static("s=1"));
        let out = end_to_end(&h, &["cookie"]);
        assert_eq!(out.len(), 1);
        assert!(out.contains_key("accept"));
    }
}
