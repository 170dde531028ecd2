//! Forward-auth for proxies that sit elsewhere (nginx `auth_request`, Traefik
//! ForwardAuth, Envoy's HTTP ext_authz): 200 with identity headers the proxy copies
//! upstream, or 401/403 with a stable code in `X-Latchkey-Error` and the JSON body.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::admission::{Admission, Refusal};
use crate::http::error::ApiError;

/// 200 with the identity headers (values that are not valid header text are left out;
/// the grant and the assertion were checked when the admission was made).
pub fn allowed(a: &Admission) -> Response {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("x-latchkey-user", a.user_id.clone()),
        ("x-latchkey-email", a.email.clone().unwrap_or_default()),
        ("x-latchkey-groups", a.groups.join(",")),
        ("x-latchkey-resource", a.resource.clone()),
        ("x-latchkey-role", a.role.clone()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    }
    headers.insert(super::proxy::GRANT_HEADER, a.headers.grant.clone());
    headers.insert(super::assertion::HEADER_NAME, a.headers.assertion.clone());
    (StatusCode::OK, headers).into_response()
}

/// The refusal with its code in `X-Latchkey-Error` (nginx passes only the status on).
pub fn refused(r: Refusal) -> Response {
    let code = HeaderValue::from_static(r.code);
    let mut resp = ApiError::from(r).into_response();
    resp.headers_mut().insert("x-latchkey-error", code);
    resp
}
