//! Which headers cross the gate: hop-by-hop headers and those `Connection` names stay
//! behind (RFC 9110 §7.6.1), and so do the caller's credentials, cookies and any
//! `X-Latchkey-*` header it set; the identity assertion and forwarding headers are added.

use std::net::SocketAddr;

use axum::extract::Request;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};

use super::admission::Admission;
use super::assertion;

/// Headers that belong to one connection, never forwarded (RFC 9110 §7.6.1).
pub const HOP_BY_HOP: &[&str] = &[
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

/// The bearer credential of a request, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    v.strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Splits `/gate/{resource}/{rest}` (raw) into the decoded resource and the raw rest.
pub fn split_path(path: &str) -> Option<(String, String)> {
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
pub fn end_to_end(from: &HeaderMap, drop_also: &[&str]) -> HeaderMap {
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

pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && connection_tokens(headers).iter().any(|t| t == "upgrade")
}

/// What the upstream receives: end-to-end headers minus the caller's credentials and any
/// `X-Latchkey-*` it tried to set, plus the assertion and forwarding headers.
pub fn upstream_headers(req: &Request, a: &Admission, peer: Option<SocketAddr>) -> HeaderMap {
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
