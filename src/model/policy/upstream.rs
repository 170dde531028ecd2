//! The upstream of an `http` resource: the base URL the gate proxies to, checked at load
//! so that a typo stops the broker (or the reload) with a message naming the resource.

use http::uri::{Authority, PathAndQuery};
use http::{HeaderValue, Uri};

use crate::model::policy::kind::{Kind, UpstreamAuth};

/// An upstream base URL taken apart once: `http://authority[/prefix]`.
#[derive(Debug, Clone)]
pub struct Upstream {
    authority: Authority,
    /// The `Host` header the upstream is sent.
    host: HeaderValue,
    /// The path prefix, without a trailing slash (empty for none).
    prefix: String,
}

impl Upstream {
    /// Takes apart a base URL already checked to be `http://host[:port][/prefix]`.
    fn parse(base: &str) -> Result<Self, String> {
        let uri: Uri = base
            .parse()
            .map_err(|e| format!("upstream {base:?} is not a URI: {e}"))?;
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| format!("upstream {base:?} names no host"))?;
        let host = HeaderValue::from_str(authority.as_str())
            .map_err(|e| format!("upstream {base:?} names no valid host: {e}"))?;
        Ok(Self {
            authority,
            host,
            prefix: uri.path().trim_end_matches('/').to_string(),
        })
    }

    /// Where the upstream listens.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// The `Host` header the upstream is sent.
    pub fn host(&self) -> &HeaderValue {
        &self.host
    }

    /// The origin-form URI (path and query, as sent on the request line) of `rest` (a
    /// path starting with `/`) and `query` under this upstream.
    pub fn target(&self, rest: &str, query: Option<&str>) -> Option<Uri> {
        let mut pq = String::with_capacity(
            self.prefix.len() + rest.len() + query.map_or(0, |q| q.len() + 1),
        );
        pq.push_str(&self.prefix);
        pq.push_str(rest);
        if let Some(q) = query {
            pq.push('?');
            pq.push_str(q);
        }
        PathAndQuery::from_maybe_shared(bytes::Bytes::from(pq))
            .ok()
            .map(Uri::from)
    }
}

/// The development server's move of an upstream: resources whose upstream listens at
/// `from` are sent to `to` instead (the development live-events source, when its usual
/// port was taken or `gate.dev_source` names another).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamMove {
    /// Where the catalogue says the upstream listens (`127.0.0.1:8011`).
    pub from: Authority,
    /// Where it listens in fact.
    pub to: Authority,
}

impl Upstream {
    /// The same upstream at another authority (host and port), path prefix kept.
    pub fn at(&self, authority: &Authority) -> Option<Upstream> {
        Upstream::parse(&format!("http://{authority}{}", self.prefix)).ok()
    }
}

impl std::fmt::Display for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}{}", self.authority, self.prefix)
    }
}

/// Checks `upstream` for resource `name`; returns it taken apart, without a trailing slash.
pub fn validate<'a>(
    name: &str,
    kind: Kind,
    upstream: Option<String>,
    auth: UpstreamAuth,
    mut roles: impl Iterator<Item = &'a String>,
) -> Result<Option<Upstream>, String> {
    let upstream = match (kind, upstream) {
        (Kind::Http, Some(u)) => u,
        (Kind::Http, None) => {
            return Err(format!(
                "{name}: an http resource needs upstream = \"http://host:port\", the service the gate proxies to"
            ))
        }
        (_, Some(_)) => return Err(format!("{name}: upstream belongs to http resources only")),
        (_, None) if auth == UpstreamAuth::Livestream => {
            return Err(format!("{name}: upstream_auth belongs to http resources only"))
        }
        (_, None) => return Ok(None),
    };
    let url = url::Url::parse(&upstream)
        .map_err(|e| format!("{name}: upstream {upstream:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http") || url.host_str().is_none() {
        return Err(format!(
            "{name}: upstream {upstream:?} must be http://host[:port][/prefix] (the gate speaks plain HTTP/1.1 to services on the internal network)"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(format!(
            "{name}: upstream {upstream:?} must not carry credentials, a query or a fragment"
        ));
    }
    if auth == UpstreamAuth::Livestream {
        if let Some(bad) = roles.find(|r| team_of_role(r).is_none()) {
            return Err(format!(
                "{name}: with upstream_auth = \"livestream\" every role must name a team as team:N (N > 0), not {bad:?}"
            ));
        }
    }
    Upstream::parse(upstream.trim_end_matches('/'))
        .map(Some)
        .map_err(|e| format!("{name}: {e}"))
}

/// The team a role names: `team:2` is team 2; anything else, or team 0, names none.
pub fn team_of_role(role: &str) -> Option<i64> {
    role.strip_prefix("team:")?
        .parse::<i64>()
        .ok()
        .filter(|t| *t > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(
        kind: Kind,
        up: Option<&str>,
        auth: UpstreamAuth,
        role: &str,
    ) -> Result<Option<String>, String> {
        let roles = [role.to_string()];
        validate("stream:x", kind, up.map(Into::into), auth, roles.iter())
            .map(|u| u.map(|u| u.to_string()))
    }

    #[test]
    fn targets_keep_the_upstreams_prefix_and_the_callers_path_and_query() {
        let up = Upstream::parse("http://10.0.0.5:8010/svc").unwrap();
        assert_eq!(up.to_string(), "http://10.0.0.5:8010/svc");
        assert_eq!(
            up.target("/a/b", Some("x=1&y=%20")).unwrap().to_string(),
            "/svc/a/b?x=1&y=%20"
        );
        let bare = Upstream::parse("http://live:8011").unwrap();
        assert_eq!(bare.target("/", None).unwrap().to_string(), "/");
        assert_eq!(bare.host(), "live:8011");
        assert_eq!(bare.authority().port_u16(), Some(8011));
        // What the caller's URI could not carry, the upstream's cannot either.
        assert!(bare.target("/a b", None).is_none());
    }

    #[test]
    fn upstreams_are_plain_http_base_urls_on_http_resources_only() {
        let a = UpstreamAuth::Assertion;
        assert_eq!(
            check(Kind::Http, Some("http://10.0.0.5:8010/"), a, "read"),
            Ok(Some("http://10.0.0.5:8010".into()))
        );
        for (kind, up) in [
            (Kind::Http, None),
            (Kind::Http, Some("ftp://x")),
            (Kind::Http, Some("https://x")),
            (Kind::Http, Some("not a url")),
            (Kind::Http, Some("http://user:pw@x")),
            (Kind::Http, Some("http://x/?a=1")),
            (Kind::Token, Some("http://x")),
        ] {
            assert!(check(kind, up, a, "read").is_err(), "{kind:?} {up:?}");
        }
        let l = UpstreamAuth::Livestream;
        assert!(check(Kind::Http, Some("http://x"), l, "team:2").is_ok());
        let e = check(Kind::Http, Some("http://x"), l, "admin").unwrap_err();
        assert!(e.contains("team:N"), "{e}");
    }
}
