//! Forward-auth for proxies that sit elsewhere (nginx `auth_request`, Traefik
//! ForwardAuth, Envoy's HTTP ext_authz): 200 with identity headers the proxy copies
//! upstream, or 401/403 with a stable code in `X-Latchkey-Error` and the JSON body.
//!
//! The proxy in front forwards the caller's own headers and path to the upstream, which
//! the broker cannot clean, so a request carrying another proxy's identity header, or a
//! path that climbs ([`crate::model::gate::paths`]), is refused here. Refusals are 401 or 403 because
//! nginx's `auth_request` turns any other status into a 500 for the caller.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::edges::http::error::ApiError;
use crate::model::gate::admission_rules::{Admission, GateRefusal};
use crate::model::refusal::Class;

/// Where proxies put the caller's original path: nginx (by the documented
/// `proxy_set_header`), Traefik ForwardAuth.
const ORIGINAL_PATH_HEADERS: &[&str] = &["x-original-uri", "x-forwarded-uri"];

/// The caller's request as the proxy describes it, refused when it carries an identity
/// claim of its own or a path an upstream could read as climbing. `appended` is the path
/// Envoy appends to the check's URL (raw, as sent).
pub fn screen(headers: &HeaderMap, appended: Option<&str>) -> Result<(), GateRefusal> {
    if let Some(name) = crate::edges::gate::spoof::identity_claim(headers) {
        return Err(GateRefusal::new(
            Class::Forbidden,
            "identity_header",
            format!(
                "the request carries its own identity header ({name}); only the gate sets those"
            ),
        ));
    }
    let from_headers = ORIGINAL_PATH_HEADERS
        .iter()
        .flat_map(|h| headers.get_all(*h))
        .map(|v| v.to_str().ok());
    for path in appended.map(Some).into_iter().chain(from_headers) {
        // A path that is not text cannot be checked, so it does not pass.
        let path = path.map(|p| p.split_once('?').map_or(p, |(p, _)| p));
        let verdict = path.map_or(
            Err(crate::model::gate::paths::Climb::NotUtf8),
            crate::model::gate::paths::check,
        );
        if let Err(why) = verdict {
            return Err(GateRefusal::new(
                Class::Forbidden,
                "bad_path",
                why.message(),
            ));
        }
    }
    Ok(())
}

/// A group name as one item of `X-Latchkey-Groups`: percent-encoded (RFC 3986) except
/// for letters, digits and `-._~:/@`, so that `,` (the separator), `%`, spaces (which
/// list parsers trim) and anything outside visible ASCII never appear raw.
fn group_item(name: &str, out: &mut String) {
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:/@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// The groups as `X-Latchkey-Groups`: percent-encoded items joined by `,` (split on `,`,
/// then percent-decode each).
pub fn groups_header(groups: &[String]) -> String {
    let mut out = String::new();
    for (i, g) in groups.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        group_item(g, &mut out);
    }
    out
}

/// 200 with the identity headers (values that are not valid header text are left out;
/// the grant and the assertion were checked when the admission was made).
pub fn allowed(a: &Admission) -> Response {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("x-latchkey-user", a.user_id.clone()),
        ("x-latchkey-email", a.email.clone().unwrap_or_default()),
        ("x-latchkey-groups", groups_header(&a.groups)),
        ("x-latchkey-resource", a.resource.clone()),
        ("x-latchkey-role", a.role.clone()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    }
    headers.insert(
        crate::edges::gate::proxy::GRANT_HEADER,
        a.headers.grant.clone(),
    );
    headers.insert(
        crate::model::gate::assertion::HEADER_NAME,
        a.headers.assertion.clone(),
    );
    (StatusCode::OK, headers).into_response()
}

/// The refusal with its code in `X-Latchkey-Error` (nginx passes only the status on).
pub fn refused(r: GateRefusal) -> Response {
    let code = HeaderValue::from_static(r.code);
    let mut resp = ApiError::from(r).into_response();
    resp.headers_mut().insert("x-latchkey-error", code);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What an upstream that trusts the header does: split on `,`, percent-decode each.
    fn parse(header: &str) -> Vec<String> {
        header
            .split(',')
            .map(|item| {
                url::form_urlencoded::parse(format!("g={}", item.replace('+', "%2B")).as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn a_group_with_a_comma_stays_one_group_at_an_upstream_that_splits_the_header() {
        let groups: Vec<String> = [
            "x,admin",
            "eng",
            "50% off",
            " admin",
            "/org/team",
            "é",
            "a+b",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let header = groups_header(&groups);
        assert_eq!(
            header,
            "x%2Cadmin,eng,50%25%20off,%20admin,/org/team,%C3%A9,a%2Bb"
        );
        assert!(HeaderValue::from_str(&header).is_ok());
        assert_eq!(parse(&header), groups);
        // Split naively (and trimmed), `admin` is never one of them.
        assert!(!header.split(',').any(|g| g.trim() == "admin"));
        // Plain names read as before.
        assert_eq!(
            groups_header(&["eng".into(), "oncall".into()]),
            "eng,oncall"
        );
        assert_eq!(groups_header(&[]), "");
    }

    #[test]
    fn forward_auth_refuses_identity_headers_and_climbing_paths_from_the_proxy() {
        let with = |pairs: &[(&str, &str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.append(
                    HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                );
            }
            h
        };
        let code = |h: &HeaderMap, appended| {
            screen(h, appended).map_err(|r| (crate::edges::http::error::status_of(r.class), r.code))
        };
        assert_eq!(
            code(
                &with(&[("accept", "*/*"), ("x-forwarded-for", "10.0.0.1")]),
                None
            ),
            Ok(())
        );
        assert_eq!(
            code(&with(&[("x-original-uri", "/a/b.txt?x=../")]), Some("/ok")),
            Ok(())
        );
        for h in [
            "x-forwarded-user",
            "remote-user",
            "x-auth-request-email",
            "x_latchkey_user",
        ] {
            assert_eq!(
                code(&with(&[(h, "root")]), None),
                Err((StatusCode::FORBIDDEN, "identity_header")),
                "{h}"
            );
        }
        for (h, p) in [
            ("x-original-uri", "/..;/admin"),
            ("x-forwarded-uri", "/%2e%2e%2fadmin?q"),
        ] {
            assert_eq!(
                code(&with(&[(h, p)]), None),
                Err((StatusCode::FORBIDDEN, "bad_path")),
                "{h}: {p}"
            );
        }
        assert_eq!(
            code(&HeaderMap::new(), Some("/..%2Fadmin")),
            Err((StatusCode::FORBIDDEN, "bad_path"))
        );
    }
}
