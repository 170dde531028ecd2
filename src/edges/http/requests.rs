//! `/v1/requests` and `/v1/requests/{id}/…`: the caller's requests and those to review,
//! one request with its reviews, and the changes to it (approve, deny, activate, extend,
//! cancel, revoke). Creating one is in `access`.

use axum::extract::{Path, Query, State};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;

use crate::app::{Access, RequestView};
use crate::edges::http::access::{duration, Body};
use crate::edges::http::error::ApiError;
use crate::model::access::RequestFilter;
use crate::model::access::{AccessRequest, Verdict};
use crate::model::audit::Origin;
use crate::model::domain::Principal;
use crate::model::refusal::Class;

/// Query of `GET /v1/requests`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `mine` (default), `to_review`, or `all` (administrators and audit readers: every
    /// request; reviewers: those they may review; anyone else: 403 `view_all_forbidden`).
    #[param(schema_with = views)]
    pub view: Option<String>,
    /// `view=all` only: the requester, by user id or name.
    pub user: Option<String>,
    /// `view=all` only: the resource, e.g. `aws:prod`.
    pub resource: Option<String>,
    /// `view=all` only: the state, e.g. `active`.
    pub state: Option<String>,
    /// `view=all` only: `true` for grants active now.
    pub active: Option<bool>,
}

/// The views of `GET /v1/requests`, as the OpenAPI document lists them.
fn views() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(["mine", "to_review", "all"]))
        .build()
}

#[utoipa::path(
    get, path = "/v1/requests", tag = "access",
    summary = "The caller's requests, those waiting for the caller's review, or (view=all, filtered) every request the caller may see",
    params(ListQuery),
    responses(
        (status = 200, description = "OK", body = Vec<AccessRequest>),
        super::error::SessionRefusals,
    ),
    security(("session" = [])),
)]
/// `GET /v1/requests?view=mine|to_review|all&user=&resource=&state=&active=`.
pub async fn list(
    State(access): State<Access>,
    p: Principal,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<AccessRequest>>, ApiError> {
    let filtered =
        q.user.is_some() || q.resource.is_some() || q.state.is_some() || q.active.is_some();
    match q.view.as_deref() {
        Some("all") => {
            let state = match q.state.as_deref() {
                None => None,
                Some(s) => Some(crate::model::access::State::parse(s).ok_or_else(|| {
                    ApiError::new(
                        Class::Invalid,
                        "invalid_state",
                        format!("state must be pending, approved, active, denied, expired, cancelled or revoked, not {s:?}"),
                    )
                })?),
            };
            let filter = RequestFilter {
                user: q.user.as_deref(),
                resource: q.resource.as_deref(),
                state,
                live_at: (q.active == Some(true)).then(Utc::now),
            };
            Ok(Json(access.list_all(&p, &filter).await?))
        }
        _ if filtered => Err(ApiError::new(
            Class::Invalid,
            "filter_needs_view_all",
            "user, resource, state and active filter view=all only",
        )),
        None | Some("mine") => Ok(Json(access.list_requests(&p, false).await?)),
        Some("to_review") => Ok(Json(access.list_requests(&p, true).await?)),
        Some(other) => Err(ApiError::new(
            Class::Invalid,
            "invalid_view",
            format!("view must be mine, to_review or all, not {other:?}"),
        )),
    }
}

#[utoipa::path(
    get, path = "/v1/requests/{id}", tag = "access",
    summary = "One request with its reviews and who may still review it",
    params(("id" = String, Path, description = "Request id, or a unique prefix of it (at least 6 hex digits, dashes optional) among the requests the caller may see")),
    responses(
        (status = 200, description = "OK", body = RequestView),
        super::error::SessionRefusals,
    ),
    security(("session" = [])),
)]
/// `GET /v1/requests/{id}`.
pub async fn show(
    State(access): State<Access>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<RequestView>, ApiError> {
    Ok(Json(access.request_view(&p, &id, Utc::now()).await?))
}

/// Body of approve and deny.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewBody {
    /// Comment; for a denial, the reason (required).
    pub comment: Option<String>,
}

#[utoipa::path(
    post, path = "/v1/requests/{id}/approve", tag = "access",
    summary = "Approve (eligible reviewers; never the requester)",
    params(("id" = String, Path, description = "Request id, or a unique prefix of it (at least 6 hex digits, dashes optional) among the requests the caller may see")),
    request_body = ReviewBody,
    responses(
        (status = 200, description = "OK", body = RequestView),
        super::error::SessionRefusals,
    ),
    security(("session" = [])),
)]
/// `POST /v1/requests/{id}/approve`.
pub async fn approve(
    State(access): State<Access>,
    p: Principal,
    origin: Origin,
    Path(id): Path<String>,
    body: Body<ReviewBody>,
) -> Result<Json<RequestView>, ApiError> {
    let Json(b) = body?;
    Ok(Json(
        access
            .review(&p, &id, Verdict::Approve, b.comment, &origin, Utc::now())
            .await?,
    ))
}

#[utoipa::path(
    post, path = "/v1/requests/{id}/deny", tag = "access",
    summary = "Deny, with a reason",
    description = "The comment is the reason: a denial without one is refused (400 reason_required).",
    params(("id" = String, Path, description = "Request id, or a unique prefix of it (at least 6 hex digits, dashes optional) among the requests the caller may see")),
    request_body = ReviewBody,
    responses(
        (status = 200, description = "OK", body = RequestView),
        super::error::SessionRefusals,
    ),
    security(("session" = [])),
)]
/// `POST /v1/requests/{id}/deny`: a reason is required.
pub async fn deny(
    State(access): State<Access>,
    p: Principal,
    origin: Origin,
    Path(id): Path<String>,
    body: Body<ReviewBody>,
) -> Result<Json<RequestView>, ApiError> {
    let Json(b) = body?;
    let Some(reason) = b.comment.filter(|c| !c.trim().is_empty()) else {
        return Err(ApiError::new(
            Class::Invalid,
            "reason_required",
            "a denial needs a reason (comment)",
        ));
    };
    Ok(Json(
        access
            .review(&p, &id, Verdict::Deny, Some(reason), &origin, Utc::now())
            .await?,
    ))
}

#[utoipa::path(
    post, path = "/v1/requests/{id}/activate", tag = "access",
    summary = "Start an approved grant (the requester)",
    params(("id" = String, Path, description = "Request id, or a unique prefix of it (at least 6 hex digits, dashes optional) among the requests the caller may see")),
    responses(
        (status = 200, description = "OK", body = AccessRequest),
        super::error::SessionRefusals,
    ),
    security(("session" = [])),
)]
/// `POST /v1/requests/{id}/activate`.
pub async fn activate(
    State(access): State<Access>,
    p: Principal,
    origin: Origin,
    Path(id): Path<String>,
) -> Result<Json<AccessRequest>, ApiError> {
    Ok(Json(access.activate(&p, &id, &origin, Utc::now()).await?))
}

/// Body of extend.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendBody {
    /// How much longer, e.g. `1h`.
    pub duration: String,
}

#[utoipa::path(
    post, path = "/v1/requests/{id}/extend", tag = "access",
    summary = "Extend a live grant within its caps (the requester)",
    params(("id" = String, Path, description = "Request id, or a unique prefix of it (at least 6 hex digits, dashes optional) among the requests the caller may see")),
    request_body = ExtendBody,
    responses(
        (status = 200, description = "OK", body = AccessRequest),
        super::error::SessionRefusals,
    ),
    security(("session" = [])),
)]
/// `POST /v1/requests/{id}/extend`.
pub async fn extend(
    State(access): State<Access>,
    p: Principal,
    origin: Origin,
    Path(id): Path<String>,
    body: Body<ExtendBody>,
) -> Result<Json<AccessRequest>, ApiError> {
    let Json(b) = body?;
    let by = duration("duration", Some(&b.duration))?.unwrap_or_default();
    Ok(Json(access.extend(&p, &id, by, &origin, Utc::now()).await?))
}

#[utoipa::path(
    post, path = "/v1/requests/{id}/cancel", tag = "access",
    summary = "Withdraw a request that is not yet active (the requester)",
    params(("id" = String, Path, description = "Request id, or a unique prefix of it (at least 6 hex digits, dashes optional) among the requests the caller may see")),
    responses(
        (status = 200, description = "OK", body = AccessRequest),
        super::error::SessionRefusals,
    ),
    security(("session" = [])),
)]
/// `POST /v1/requests/{id}/cancel`.
pub async fn cancel(
    State(access): State<Access>,
    p: Principal,
    origin: Origin,
    Path(id): Path<String>,
) -> Result<Json<AccessRequest>, ApiError> {
    Ok(Json(access.cancel(&p, &id, &origin, Utc::now()).await?))
}

#[utoipa::path(
    post, path = "/v1/requests/{id}/revoke", tag = "access",
    summary = "End a grant now (the requester or an administrator)",
    params(("id" = String, Path, description = "Request id, or a unique prefix of it (at least 6 hex digits, dashes optional) among the requests the caller may see")),
    responses(
        (status = 200, description = "OK", body = AccessRequest),
        super::error::SessionRefusals,
    ),
    security(("session" = [])),
)]
/// `POST /v1/requests/{id}/revoke`.
pub async fn revoke(
    State(access): State<Access>,
    p: Principal,
    origin: Origin,
    Path(id): Path<String>,
) -> Result<Json<AccessRequest>, ApiError> {
    Ok(Json(access.revoke(&p, &id, &origin, Utc::now()).await?))
}
