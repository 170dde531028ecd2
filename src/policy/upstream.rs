//! The upstream of an `http` resource: the base URL the gate proxies to, checked at load
//! so that a typo stops the broker (or the reload) with a message naming the resource.

use super::catalogue::{Kind, UpstreamAuth};

/// Checks `upstream` for resource `name`; returns it without a trailing slash.
pub fn validate<'a>(
    name: &str,
    kind: Kind,
    upstream: Option<String>,
    auth: UpstreamAuth,
    mut roles: impl Iterator<Item = &'a String>,
) -> Result<Option<String>, String> {
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
        if let Some(bad) = roles.find(|r| crate::providers::livestream::team_of_role(r).is_none()) {
            return Err(format!(
                "{name}: with upstream_auth = \"livestream\" every role must name a team as team:N (N > 0), not {bad:?}"
            ));
        }
    }
    Ok(Some(upstream.trim_end_matches('/').to_string()))
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
