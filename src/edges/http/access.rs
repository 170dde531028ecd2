//! `/v1/resources`, `/v1/requests` and `/v1/policy/explain`.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::app::{Access, Core};
use crate::app::{RequestView, ServiceError};
use crate::edges::http::error::ApiError;
use crate::model::access::{AccessRequest, Verdict};
use crate::model::audit::Origin;
use crate::model::domain::Principal;
use crate::model::policy::decide;
use crate::model::policy::decide::{Ask, Decision, Who};
use crate::model::policy::Action;
use crate::model::refusal::Class;
use std::sync::Arc;

type Body<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

/// A duration field of a request body, or 400 `invalid_duration` naming the field.
pub(crate) fn duration(
    field: &'static str,
    v: Option<&str>,
) -> Result<Option<std::time::Duration>, ApiError> {
    v.map(|s| {
        crate::model::duration::parse(s)
            .map_err(|e| ApiError::new(Class::Invalid, "invalid_duration", format!("{field}: {e}")))
    })
    .transpose()
}

/// A role as `latchkey resources` shows it.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RoleView {
    /// Role name.
    pub role: String,
    /// Default duration (s).
    pub default_duration_secs: u64,
    /// Maximum duration (s).
    pub max_duration_secs: u64,
    /// Granted at once for the caller.
    pub auto_approved: bool,
    /// Approvals needed otherwise.
    pub approvals: u32,
    /// Who approves.
    pub reviewers: String,
    /// A reason is required.
    pub reason_required: bool,
    /// Break-glass possible for the caller.
    pub breakglass: bool,
}

/// A resource as `latchkey resources` shows it.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ResourceView {
    /// Name.
    pub name: String,
    /// Provider kind.
    pub kind: String,
    /// Description.
    pub description: String,
    /// Roles the caller may request.
    pub roles: Vec<RoleView>,
}

#[utoipa::path(
    get, path = "/v1/resources", tag = "access",
    summary = "What the caller may request, with each role's limits and reviewers",
    responses(
        (status = 200, description = "OK", body = Vec<ResourceView>),
        super::error::SessionRefusals,
    ),
    security(("session" = [])),
)]
/// `GET /v1/resources`: what the caller may request.
pub async fn resources(State(core): State<Arc<Core>>, p: Principal) -> Json<Vec<ResourceView>> {
    let policy = core.policy.current();
    let name = Core::policy_name(&p);
    let mut out = Vec::new();
    for r in policy.catalogue.resources.values() {
        let roles: Vec<RoleView> = r
            .roles
            .values()
            .filter(|role| {
                policy
                    .check(
                        name,
                        &p.groups,
                        &decide::object(&r.name, &role.name),
                        Action::Request,
                    )
                    .allowed
            })
            .map(|role| {
                let obj = decide::object(&r.name, &role.name);
                RoleView {
                    role: role.name.clone(),
                    default_duration_secs: role.default_duration.as_secs(),
                    max_duration_secs: role.max_duration.as_secs(),
                    auto_approved: role.auto_approve
                        && policy
                            .check(name, &p.groups, &obj, Action::AutoApprove)
                            .allowed,
                    approvals: role.approvals,
                    reviewers: crate::model::policy::review::reviewers_text(&policy, &r.name, role),
                    reason_required: role.reason_required,
                    breakglass: role.breakglass
                        && policy
                            .check(name, &p.groups, &obj, Action::Breakglass)
                            .allowed,
                }
            })
            .collect();
        if !roles.is_empty() {
            let kind = serde_json::to_value(r.kind)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            out.push(ResourceView {
                name: r.name.clone(),
                kind,
                description: r.description.clone(),
                roles,
            });
        }
    }
    Json(out)
}

/// Body of `POST /v1/requests` and `POST /v1/policy/explain`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    /// Resource.
    pub resource: String,
    /// Role.
    pub role: Option<String>,
    /// Duration, e.g. `2h`.
    pub duration: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// Ticket.
    pub ticket: Option<String>,
    /// Break-glass.
    #[serde(default)]
    pub breakglass: bool,
}

impl CreateBody {
    fn into_ask(self) -> Result<Ask, ApiError> {
        Ok(Ask {
            duration: duration("duration", self.duration.as_deref())?,
            resource: self.resource,
            role: self.role,
            reason: self.reason,
            ticket: self.ticket,
            breakglass: self.breakglass,
        })
    }
}

/// A created request and the decision.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Created {
    /// The request.
    pub request: AccessRequest,
    /// Why it is in its state.
    #[schema(value_type = Decision)]
    pub decision: serde_json::Value,
}

#[utoipa::path(
    post, path = "/v1/requests", tag = "access",
    summary = "Request access; decided at once by the policy (auto-approved, break-glass, pending or refused with the decision)",
    params((
        "Idempotency-Key" = Option<String>,
        Header,
        description = "a retry with the same key returns the first request; 1 to 128 visible ASCII characters, anything else is refused",
        min_length = 1,
        max_length = 128,
        pattern = "^[!-~]{1,128}$",
        nullable = false,
    )),
    request_body = CreateBody,
    responses(
        (status = 201, description = "Created", body = inline(Created)),
        (status = 400, response = ApiError), (status = 401, response = ApiError),
        (status = 403, response = ApiError), (status = 404, response = ApiError),
    ),
    security(("session" = [])),
)]
/// `POST /v1/requests` (header `Idempotency-Key` makes a retry return the first request).
pub async fn create(
    State(access): State<Access>,
    p: Principal,
    origin: Origin,
    headers: HeaderMap,
    body: Body<CreateBody>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let Json(b) = body?;
    let key = idempotency_key(&headers)?;
    let ask = b.into_ask()?;
    let (request, decision) = access
        .create_request(&p, ask, key, &origin, Utc::now())
        .await?;
    let decision = serde_json::to_value(&decision).unwrap_or_default();
    Ok((StatusCode::CREATED, Json(Created { request, decision })))
}

/// The `Idempotency-Key` header: absent, or 1 to 128 visible ASCII characters. Any other
/// value is refused, not ignored: a retry the caller believes safe would otherwise make a
/// second request.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(k) if (1..=128).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(k))
        }
        _ => Err(ServiceError::BadRequest(
            "Idempotency-Key must be 1 to 128 visible ASCII characters".into(),
        )
        .into()),
    }
}

/// Query of `GET /v1/requests`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `mine` (default) or `to_review`.
    #[param(schema_with = views)]
    pub view: Option<String>,
}

/// The views of `GET /v1/requests`, as the OpenAPI document lists them.
fn views() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(["mine", "to_review"]))
        .build()
}

#[utoipa::path(
    get, path = "/v1/requests", tag = "access",
    summary = "The caller's requests, or those waiting for the caller's review",
    params(ListQuery),
    responses(
        (status = 200, description = "OK", body = Vec<AccessRequest>),
        super::error::SessionRefusals,
    ),
    security(("session" = [])),
)]
/// `GET /v1/requests?view=mine|to_review`.
pub async fn list(
    State(access): State<Access>,
    p: Principal,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<AccessRequest>>, ApiError> {
    let to_review = match q.view.as_deref() {
        None | Some("mine") => false,
        Some("to_review") => true,
        Some(other) => {
            return Err(ApiError::new(
                Class::Invalid,
                "invalid_view",
                format!("view must be mine or to_review, not {other:?}"),
            ))
        }
    };
    Ok(Json(access.list_requests(&p, to_review).await?))
}

#[utoipa::path(
    get, path = "/v1/requests/{id}", tag = "access",
    summary = "One request with its reviews and who may still review it",
    params(("id" = String, Path, description = "Request id")),
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
    params(("id" = String, Path, description = "Request id")),
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
    params(("id" = String, Path, description = "Request id")),
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
    params(("id" = String, Path, description = "Request id")),
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
    params(("id" = String, Path, description = "Request id")),
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
    params(("id" = String, Path, description = "Request id")),
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
    params(("id" = String, Path, description = "Request id")),
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

#[utoipa::path(
    post, path = "/v1/policy/explain", tag = "policy",
    summary = "The decision the caller would get, with its explanation, without requesting",
    request_body = CreateBody,
    responses(
        (status = 200, description = "OK", body = Decision),
        super::error::SessionRefusals,
    ),
    security(("session" = [])),
)]
/// `POST /v1/policy/explain`: the decision the caller would get, without making a request.
pub async fn explain(
    State(core): State<Arc<Core>>,
    p: Principal,
    body: Body<CreateBody>,
) -> Result<Json<Decision>, ApiError> {
    let Json(b) = body?;
    let ask = b.into_ask()?;
    let policy = core.policy.current();
    let who = Who {
        name: Core::policy_name(&p),
        user_id: &p.user_id,
        groups: &p.groups,
    };
    Ok(Json(decide::decide(&policy, &who, &ask)))
}
