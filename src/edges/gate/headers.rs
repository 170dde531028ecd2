//! Which headers cross the gate: hop-by-hop headers and those `Connection` names stay
//! behind (RFC 9110 §7.6.1), and so do the caller's credentials, cookies and any
//! identity or forwarding header it set ([`crate::edges::gate::spoof`]); the identity assertion and
//! the gate's own forwarding headers are added.

use std::borrow::Cow;

use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::model::gate::admission_rules::Admission;
use crate::model::gate::assertion;

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

/// The caller's credentials and forwarding claims: never passed upstream (the gate sets
/// its own forwarding headers, and `Host` to the upstream's).
const CALLER_ONLY: &[&str] = &[
    "authorization",
    "cookie",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
];

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// The bearer credential of a request, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    crate::edges::http::bearer::token(headers.get(header::AUTHORIZATION)?.to_str().ok()?)
}

/// Splits `/gate/{resource}/{rest}` (raw) into the decoded resource and the raw rest
/// (which [`crate::model::gate::paths::check`] must pass before it goes anywhere).
pub fn split_path(path: &str) -> Option<(Cow<'_, str>, &str)> {
    let tail = path.strip_prefix("/gate/")?;
    let (raw, rest) = match tail.find('/') {
        Some(i) => (&tail[..i], &tail[i..]),
        None => (tail, "/"),
    };
    let resource = if raw.contains('%') {
        let decoded =
            url::form_urlencoded::parse(format!("r={}", raw.replace('+', "%2B")).as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())?;
        Cow::Owned(decoded)
    } else {
        Cow::Borrowed(raw)
    };
    // The rest is checked for dot segments on its own ([`crate::model::gate::paths::check`]).
    (!resource.is_empty()).then_some((resource, rest))
}

/// The header names `Connection` lists (lower-case in comparison, not allocated).
fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Keeps end-to-end headers only: removes hop-by-hop ones, those `Connection` names and
/// those `drop` picks, in place. A pass over the names (no hashing, no copy) finds the
/// next to go; most messages lose none or one or two. Those `Connection` names go first,
/// while it is there to name them.
pub fn strip(headers: &mut HeaderMap, drop: impl Fn(&str) -> bool) {
    if headers.contains_key(header::CONNECTION) {
        let named = |h: &HeaderMap, n: &HeaderName| {
            *n != header::CONNECTION
                && connection_tokens(h).any(|t| t.eq_ignore_ascii_case(n.as_str()))
        };
        while let Some(k) = headers.keys().find(|k| named(headers, k)).cloned() {
            headers.remove(k);
        }
    }
    let goes = |n: &str| HOP_BY_HOP.contains(&n) || drop(n);
    while let Some(k) = headers.keys().find(|k| goes(k.as_str())).cloned() {
        headers.remove(k);
    }
}

/// An address as header text (IPv4 without the formatting machinery: it is on every
/// proxied request).
pub fn ip_value(ip: std::net::IpAddr) -> Option<HeaderValue> {
    let std::net::IpAddr::V4(v4) = ip else {
        return HeaderValue::from_str(&ip.to_string()).ok();
    };
    let mut buf = [0u8; 15];
    let mut len = 0;
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            buf[len] = b'.';
            len += 1;
        }
        let digits = [octet / 100, octet / 10 % 10, octet % 10];
        let skip = if octet >= 100 {
            0
        } else if octet >= 10 {
            1
        } else {
            2
        };
        for d in &digits[skip..] {
            buf[len] = b'0' + d;
            len += 1;
        }
    }
    HeaderValue::from_bytes(&buf[..len]).ok()
}

/// Whether a request asks to switch protocols (`Connection: upgrade` and `Upgrade`).
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && connection_tokens(headers).any(|t| t.eq_ignore_ascii_case("upgrade"))
}

/// Turns the caller's headers into what the upstream receives: end-to-end headers minus
/// the caller's credentials and any `X-Latchkey-*` it tried to set, plus the assertion,
/// the upstream's `Host` and forwarding headers; `Upgrade` is kept when the request asks
/// to switch protocols ([`is_upgrade`]).
pub fn upstream_headers(
    h: &mut HeaderMap,
    a: &Admission,
    forwarded_for: Option<&HeaderValue>,
    upgrade: bool,
) {
    let upgrade = if upgrade {
        h.get(header::UPGRADE).cloned()
    } else {
        None
    };
    let caller_host = h.remove(header::HOST);
    // Only the gate says who the caller is and where the request came from
    // (`X-Latchkey-*`, other proxies' identity headers, forwarding claims).
    strip(h, |n| {
        CALLER_ONLY.contains(&n) || crate::edges::gate::spoof::is_spoofable(n)
    });
    h.insert(assertion::HEADER_NAME, a.headers.assertion.clone());
    if let Some(v) = &a.headers.authorization {
        h.insert(header::AUTHORIZATION, v.clone());
    }
    h.insert(header::HOST, a.upstream.host().clone());
    if let Some(host) = caller_host {
        h.insert(X_FORWARDED_HOST, host);
    }
    if let Some(ip) = forwarded_for {
        h.insert(X_FORWARDED_FOR, ip.clone());
    }
    if let Some(u) = upgrade {
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        h.insert(header::UPGRADE, u);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_the_resource_and_the_raw_rest() {
        assert_eq!(
            split_path("/gate/stream:live-events/events"),
            Some(("stream:live-events".into(), "/events"))
        );
        assert_eq!(
            split_path("/gate/stream%3Alive-events"),
            Some(("stream:live-events".into(), "/"))
        );
        for bad in ["/gate//a", "/gate/", "/other"] {
            assert_eq!(split_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_bearer_credential_is_read_from_either_spelling_and_nothing_else() {
        let with = |v: &[u8]| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, HeaderValue::from_bytes(v).unwrap());
            h
        };
        assert_eq!(bearer(&with(b"Bearer abc.def")), Some("abc.def"));
        assert_eq!(bearer(&with(b"bearer  abc ")), Some("abc"));
        assert_eq!(bearer(&with(b"Basic YWxhZGRpbjpvcGVu")), None);
        assert_eq!(bearer(&with(b"Bearer ")), None);
        assert_eq!(bearer(&HeaderMap::new()), None);
        // Credentials are visible ASCII: anything else is none.
        assert_eq!(bearer(&with(b"Bearer \xff\xfe")), None);
        assert_eq!(bearer(&with("Bearer tök".as_bytes())), None);
    }

    #[test]
    fn addresses_become_header_text() {
        for ip in [
            "0.0.0.0",
            "10.0.5.19",
            "127.0.0.1",
            "255.255.255.255",
            "192.168.100.9",
            "::1",
            "fd00::7",
        ] {
            let parsed: std::net::IpAddr = ip.parse().unwrap();
            assert_eq!(ip_value(parsed).unwrap(), ip);
        }
    }

    #[test]
    fn hop_by_hop_and_connection_named_headers_are_not_forwarded() {
        let mut h = HeaderMap::new();
        h.insert("connection", HeaderValue::from_static("close, X-Secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("te", HeaderValue::from_static("trailers"));
        h.insert("accept", HeaderValue::from_static("text/event-stream"));
        h.insert("cookie", HeaderValue::from_static("s=1"));
        h.append("cookie", HeaderValue::from_static("t=2"));
        strip(&mut h, |n| n == "cookie");
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("accept"));
        // Whichever comes first, Connection or what it names.
        let mut h = HeaderMap::new();
        h.insert("x-before", HeaderValue::from_static("1"));
        h.insert("connection", HeaderValue::from_static("X-Before, x-after"));
        h.insert("x-after", HeaderValue::from_static("1"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip(&mut h, |_| false);
        assert_eq!(h.keys().collect::<Vec<_>>(), ["x-kept"]);
    }
}
