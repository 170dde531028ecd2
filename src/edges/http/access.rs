//! `/v1/resources`, `/v1/requests` and `/v1/policy/explain`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;

use crate::app::ServiceError;
use crate::app::{Access, Core};
use crate::edges::http::error::ApiError;
use crate::model::audit::Origin;
use crate::model::domain::Principal;
use crate::model::policy::decide;
use crate::model::policy::decide::{Ask, Decision, Who};
use crate::model::policy::Action;
use crate::model::refusal::Class;
pub use crate::model::wire::{Created, ResourceView, RoleView};
use std::sync::Arc;

pub(crate) type Body<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

/// A duration field of a request body, or 400 `invalid_duration` naming the field: a
/// duration needs a unit, and none of these (a grant, an extension, a lifetime) can be zero.
pub(crate) fn duration(
    field: &'static str,
    v: Option<&str>,
) -> Result<Option<std::time::Duration>, ApiError> {
    let invalid = |why: String| {
        ApiError::new(
            Class::Invalid,
            "invalid_duration",
            format!("{field}: {why}"),
        )
    };
    v.map(|s| match crate::model::duration::parse(s) {
        Ok(d) if d.is_zero() => Err(invalid(format!(
            "{s:?} is no time at all; ask for e.g. 30m or 1h"
        ))),
        Ok(d) => Ok(d),
        Err(e) => Err(invalid(e.to_string())),
    })
    .transpose()
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
    let name = p.policy_name();
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
                    reason_form: role.reason_form(),
                    ticket_required: role.ticket_required,
                    ticket_form: role.ticket_form(),
                    breakglass: role.breakglass
                        && policy
                            .check(name, &p.groups, &obj, Action::Breakglass)
                            .allowed,
                    ssh_login: role
                        .ssh
                        .as_ref()
                        .and_then(|s| s.login_for(p.email.as_deref(), &p.subject).ok()),
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
                ssh: r.ssh.clone(),
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

#[utoipa::path(
    post, path = "/v1/policy/explain", tag = "policy",
    summary = "The decision the caller would get, with its explanation, without requesting; decided as if the reason, ticket and duration were right, with those a real request would still need in `unmet`",
    request_body = CreateBody,
    responses(
        (status = 200, description = "OK", body = Decision),
        super::error::SessionRefusals,
    ),
    security(("session" = [])),
)]
/// `POST /v1/policy/explain`: the decision the caller would get, without making a request,
/// as if its terms were met (`decide::explain`), the unmet ones listed.
pub async fn explain(
    State(core): State<Arc<Core>>,
    p: Principal,
    body: Body<CreateBody>,
) -> Result<Json<Decision>, ApiError> {
    let Json(b) = body?;
    let ask = b.into_ask()?;
    let policy = core.policy.current();
    let who = Who {
        name: p.policy_name(),
        user_id: &p.user_id,
        groups: &p.groups,
    };
    Ok(Json(decide::explain(&policy, &who, &ask)))
}
