//! The gate's API routes: forward-auth, PostHog livestream tokens and the livestream
//! service's authorization callback. The proxy itself is [`crate::edges::gate::proxy`].

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;

use crate::app::gate::livestream::IssuedLivestream;
use crate::app::{Credentials, Gatekeeper};
use crate::edges::gate::forward_auth;
use crate::edges::gate::headers::bearer;
use crate::edges::http::error::ApiError;
use crate::model::audit::Origin;
use crate::model::domain::Principal;
use crate::model::refusal::Class;

#[utoipa::path(
    get, path = "/v1/gate/auth/{resource}", tag = "gate",
    summary = "Forward-auth (nginx auth_request, Traefik ForwardAuth, Envoy ext_authz): 200 with X-Latchkey-User, -Email, -Groups, -Resource, -Grant, -Role and -Assertion while the bearer (session or broker token) holds an active grant on the resource; 401 or 403 with the code in X-Latchkey-Error. For Envoy, which appends the original path and keeps the original method, /v1/gate/auth/{resource}/{path} answers the same to any method",
    params(("resource" = String, Path, description = "The gated resource")),
    responses(
        (status = 200, description = "Allowed; identity in the X-Latchkey-* headers"),
        (status = 400, response = ApiError), (status = 401, response = ApiError),
        (status = 403, response = ApiError), (status = 404, response = ApiError),
        (status = 503, response = ApiError),
    ),
    security(("session" = [])),
)]
/// `GET /v1/gate/auth/{resource}`: may the bearer reach this resource now?
pub async fn forward_auth(
    keeper: State<Gatekeeper>,
    Path(resource): Path<String>,
    origin: Origin,
    headers: HeaderMap,
) -> Response {
    check(keeper, &resource, None, origin, headers).await
}

/// `ANY /v1/gate/auth/{resource}/{*path}`: the same, for Envoy, which appends the original
/// path and keeps the original method.
pub async fn forward_auth_path(
    keeper: State<Gatekeeper>,
    uri: Uri,
    origin: Origin,
    headers: HeaderMap,
) -> Response {
    // Read from the raw path, not a `Path` extractor: the appended path is checked as
    // sent, and one that does not decode is refused here like any other bad path.
    let raw = uri.path().strip_prefix("/v1/gate").unwrap_or("");
    let raw = format!("/gate{}", raw.strip_prefix("/auth").unwrap_or(""));
    let Some((resource, appended)) = crate::edges::gate::headers::split_path(&raw) else {
        return ApiError::new(Class::NotFound, "not_found", "no such endpoint").into_response();
    };
    check(keeper, &resource, Some(appended), origin, headers).await
}

async fn check(
    State(keeper): State<Gatekeeper>,
    resource: &str,
    appended: Option<&str>,
    origin: Origin,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = forward_auth::screen(&headers, appended) {
        return forward_auth::refused(r);
    }
    match keeper
        .admit(bearer(&headers), resource, &|| origin.clone(), Utc::now())
        .await
    {
        Ok(a) => forward_auth::allowed(&a),
        Err(r) => forward_auth::refused(r),
    }
}

/// Body of `POST /v1/credentials/livestream`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LivestreamBody {
    /// Resource (of kind `http`, with a `team:N` role).
    pub resource: String,
    /// Lifetime asked, e.g. `5m` (at most 15m and the grant).
    pub ttl: Option<String>,
}

#[utoipa::path(
    post, path = "/v1/credentials/livestream", tag = "credentials",
    summary = "A PostHog live events token (HS256 with the service's own secret, aud posthog:livestream, team_id from the granted role team:N) inside the caller's active grant; lives at most min(ttl, 15m, the grant)",
    request_body = LivestreamBody,
    responses(
        (status = 201, description = "Issued", body = IssuedLivestream),
        (status = 400, response = ApiError), (status = 401, response = ApiError),
        (status = 403, response = ApiError), (status = 404, response = ApiError),
    ),
    security(("session" = [])),
)]
/// `POST /v1/credentials/livestream`: a PostHog live events token inside the caller's grant.
pub async fn livestream_token(
    State(credentials): State<Credentials>,
    p: Principal,
    origin: Origin,
    body: Result<Json<LivestreamBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<IssuedLivestream>), ApiError> {
    let Json(b) = body?;
    let ttl = crate::edges::http::access::duration("ttl", b.ttl.as_deref())?;
    let issued = credentials
        .issue_livestream(&p, &b.resource, ttl, &origin, Utc::now())
        .await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

#[utoipa::path(
    method(get, post), path = "/v1/gate/livestream/authz", tag = "gate",
    summary = "The live events service's authorization callback, with the stream's own livestream token as bearer: 204 while its grant is active, 403 once it is not, 401 for a token this broker did not issue",
    description = "The same callback answers POST, for services that POST it.",
    responses(
        (status = 204, description = "No content"),
        super::error::SessionRefusals,
    ),
    security(("livestream" = [])),
)]
/// `GET|POST /v1/gate/livestream/authz`: the live events service's callback, with the
/// stream's own bearer token: 204 while its grant is active, 403 once it is not.
pub async fn livestream_authz(State(keeper): State<Gatekeeper>, headers: HeaderMap) -> Response {
    match keeper.livestream_authz(bearer(&headers), Utc::now()).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => forward_auth::refused(r),
    }
}
