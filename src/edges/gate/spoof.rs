//! Headers a caller could use to pose as someone, or as somewhere, at an upstream that
//! trusts an identity-aware proxy in front of it. The gate is that proxy for its
//! upstreams, so none of these crosses it from a caller: the reverse proxy removes them,
//! and forward-auth, which cannot remove what the proxy in front forwards, refuses a
//! request that carries an identity claim.
//!
//! Names are compared with `_` read as `-`: CGI, WSGI, Rack, PHP and many frameworks map
//! `X-Forwarded-User` and `X_Forwarded_User` to the same variable, so the underscore
//! spelling is the same claim.

/// Identity headers set by widely used identity-aware proxies (exact names, lower case,
/// `-` for `_`): oauth2-proxy, Authelia, Authentik, Traefik and nginx forward-auth
/// set-ups, the Kubernetes authenticating proxy, Apache `mod_auth_*`, Grafana's auth
/// proxy, Vouch, Tailscale.
const IDENTITY: &[&str] = &[
    // oauth2-proxy (`--pass-user-headers`, `--pass-access-token`, `Gap-Auth`).
    "x-forwarded-user",
    "x-forwarded-email",
    "x-forwarded-groups",
    "x-forwarded-preferred-username",
    "x-forwarded-access-token",
    "gap-auth",
    // nginx/Traefik recipes that copy `X-Auth-Request-*` on.
    "x-user",
    "x-email",
    "x-groups",
    "x-username",
    // Authelia, Authentik, tinyauth (trusted-header SSO).
    "remote-user",
    "remote-groups",
    "remote-email",
    "remote-name",
    // Apache `REMOTE_USER`, the Kubernetes authenticating proxy.
    "x-remote-user",
    "x-remote-group",
    "x-authenticated-user",
    "x-authenticated-userid",
    "x-webauth-user",
    "x-webauth-email",
    "x-webauth-name",
    "x-webauth-groups",
    // Google IAP's signed header; Azure App Service's principal (also `-id`, `-name`, `-idp`).
    "x-goog-iap-jwt-assertion",
    "x-ms-client-principal",
];

/// Identity header families, by prefix: oauth2-proxy's `X-Auth-Request-*`, Pomerium's
/// `X-Pomerium-Jwt-Assertion` and `X-Pomerium-Claim-*`, Google IAP's
/// `X-Goog-Authenticated-User-*`, Cloudflare Access's `Cf-Access-*`, the AWS ALB's
/// `X-Amzn-Oidc-*`, Azure App Service's `X-Ms-Client-Principal*` and `X-Ms-Token-*`,
/// Kubernetes' `X-Remote-Extra-*`, Vouch's `X-Vouch-*`, Tailscale's `Tailscale-User-*`,
/// and the broker's own `X-Latchkey-*`.
const IDENTITY_PREFIXES: &[&str] = &[
    "x-auth-request-",
    "x-pomerium-",
    "x-goog-authenticated-user-",
    "cf-access-",
    "x-amzn-oidc-",
    "x-ms-client-principal",
    "x-ms-token-",
    "x-remote-extra-",
    "x-vouch-",
    "tailscale-user-",
    "x-latchkey-",
];

/// Where a request came from or which path it "really" asked for, as a proxy in front
/// would say: the gate says it itself (`X-Forwarded-For`, `X-Forwarded-Host`) or not at
/// all. `X-Original-URL` and `X-Rewrite-URL` make Symfony, Laravel and IIS route by the
/// header instead of the request line, past any path rule in front of them.
const ROUTING: &[&str] = &[
    "forwarded",
    "x-real-ip",
    "x-client-ip",
    "true-client-ip",
    "cf-connecting-ip",
    "x-cluster-client-ip",
    "x-original-url",
    "x-original-uri",
    "x-rewrite-url",
    "x-original-host",
    "x-original-method",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// `X-Forwarded-*` of every kind (`-For`, `-Host`, `-Proto`, `-Prefix`, `-Uri`, `-Method`,
/// `-Port`, `-Server`, `-User`, …): a caller's word on any of them is not the gate's.
const ROUTING_PREFIX: &str = "x-forwarded-";

/// A lower-case header name with `_` read as `-`, without allocating when there is none.
fn canonical(name: &str) -> std::borrow::Cow<'_, str> {
    if name.contains('_') {
        std::borrow::Cow::Owned(name.replace('_', "-"))
    } else {
        std::borrow::Cow::Borrowed(name)
    }
}

/// Whether `name` (lower case, as `HeaderName` keeps it) claims who the caller is.
pub fn is_identity(name: &str) -> bool {
    let n = canonical(name);
    IDENTITY.contains(&n.as_ref()) || IDENTITY_PREFIXES.iter().any(|p| n.starts_with(p))
}

/// Whether `name` must not reach an upstream from a caller: an identity claim, a
/// forwarding or rewriting claim, or any header spelled with `_` (which a CGI-style
/// upstream would read as the `-` spelling of another, perhaps the gate's own).
pub fn is_spoofable(name: &str) -> bool {
    name.contains('_') || is_identity(name) || {
        ROUTING.contains(&name) || name.starts_with(ROUTING_PREFIX)
    }
}

/// The first identity claim among `headers`, if any (for forward-auth's refusal).
pub fn identity_claim(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .keys()
        .map(axum::http::HeaderName::as_str)
        .find(|n| is_identity(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_identity_proxys_headers_and_their_underscore_spellings_are_caught() {
        for n in [
            "x-forwarded-user",
            "x-forwarded-email",
            "x-forwarded-groups",
            "x-forwarded-preferred-username",
            "x-auth-request-user",
            "x-auth-request-email",
            "x-auth-request-groups",
            "x-auth-request-access-token",
            "x-remote-user",
            "remote-user",
            "remote-groups",
            "remote-email",
            "remote-name",
            "x-authenticated-user",
            "x-pomerium-jwt-assertion",
            "x-pomerium-claim-email",
            "x-goog-authenticated-user-email",
            "x-goog-authenticated-user-id",
            "x-goog-iap-jwt-assertion",
            "cf-access-authenticated-user-email",
            "cf-access-jwt-assertion",
            "x-amzn-oidc-data",
            "x-amzn-oidc-identity",
            "x-amzn-oidc-accesstoken",
            "x-ms-client-principal",
            "x-ms-client-principal-name",
            "x-ms-client-principal-id",
            "x-ms-token-aad-id-token",
            "x-latchkey-user",
            "x_latchkey_user",
            "x_latchkey_assertion",
            "x_forwarded_user",
            "remote_user",
        ] {
            assert!(is_identity(n), "{n}");
            assert!(is_spoofable(n), "{n}");
        }
        for n in [
            "x-real-ip",
            "x-original-url",
            "x-original-uri",
            "x-rewrite-url",
            "x-forwarded-prefix",
            "x-forwarded-uri",
            "x-forwarded-proto",
            "x_forwarded_for",
            "x_anything",
            "forwarded",
        ] {
            assert!(is_spoofable(n), "{n}");
        }
        for n in [
            "accept",
            "content-type",
            "user-agent",
            "x-request-id",
            "x-remote",
            "remote",
            "x-forwarded",
        ] {
            assert!(!is_spoofable(n), "{n}");
        }
        // Forwarding headers a proxy in front adds for forward-auth are not identity claims.
        for n in [
            "x-forwarded-for",
            "x-forwarded-uri",
            "x-real-ip",
            "x-original-uri",
        ] {
            assert!(!is_identity(n), "{n}");
        }
    }
}
