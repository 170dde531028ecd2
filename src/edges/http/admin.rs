//! Administration: locking users, rotating and listing keys.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use serde::Deserialize;

use crate::app::admin::LockOutcome;
use crate::app::Admin;
use crate::edges::http::error::ApiError;
use crate::model::audit::Origin;
use crate::model::domain::Principal;
use crate::model::keys::KeyInfo;

/// Body of `POST /v1/admin/locks`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LockBody {
    /// Email, subject or user id.
    pub user: String,
    /// Why.
    pub reason: Option<String>,
}

#[utoipa::path(
    post, path = "/v1/admin/locks", tag = "admin",
    summary = "Lock a user (administrators): sessions end, logins are refused",
    request_body = LockBody,
    responses(
        (status = 201, description = "Locked", body = LockOutcome),
        (status = 400, response = ApiError), (status = 401, response = ApiError),
        (status = 403, response = ApiError),
    ),
    security(("session" = [])),
)]
/// `POST /v1/admin/locks`: lock a user; their sessions end at once.
pub async fn lock(
    State(service): State<Admin>,
    admin: Principal,
    origin: Origin,
    body: Result<Json<LockBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<LockOutcome>), ApiError> {
    let Json(body) = body?;
    let outcome = service
        .lock_user(&admin, &body.user, body.reason, &origin, Utc::now())
        .await?;
    Ok((StatusCode::CREATED, Json(outcome)))
}

#[utoipa::path(
    delete, path = "/v1/admin/locks/{user}", tag = "admin",
    summary = "Lift a lock (administrators)",
    params(("user" = String, Path, description = "Email, subject or user id")),
    responses(
        (status = 204, description = "No content"),
        super::error::SessionRefusals,
    ),
    security(("session" = [])),
)]
/// `DELETE /v1/admin/locks/{user}`.
pub async fn unlock(
    State(service): State<Admin>,
    admin: Principal,
    origin: Origin,
    Path(user): Path<String>,
) -> Result<StatusCode, ApiError> {
    service
        .unlock_user(&admin, &user, &origin, Utc::now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post, path = "/v1/admin/keys/rotate", tag = "admin",
    summary = "Make a new signing key (administrators)",
    responses(
        (status = 200, description = "OK", body = Vec<KeyInfo>),
        super::error::SessionRefusals,
    ),
    security(("session" = [])),
)]
/// `POST /v1/admin/keys/rotate`.
pub async fn rotate_keys(
    State(service): State<Admin>,
    admin: Principal,
    origin: Origin,
) -> Result<Json<Vec<KeyInfo>>, ApiError> {
    let now = Utc::now();
    service.rotate_keys(&admin, &origin, now).await?;
    Ok(Json(service.keyring.list(now)))
}

#[utoipa::path(
    get, path = "/v1/keys", tag = "keys",
    summary = "Signing keys and their state",
    responses(
        (status = 200, description = "OK", body = Vec<KeyInfo>),
        (status = 400, response = ApiError),
    ),
    security(),
)]
/// `GET /v1/keys`: the signing keys and their state (public information).
pub async fn list_keys(State(service): State<Admin>) -> Json<Vec<KeyInfo>> {
    Json(service.keyring.list(Utc::now()))
}
