//! `/v1/credentials/*`: credentials inside the caller's active grants.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use serde::Deserialize;

use crate::app::Credentials;
use crate::app::IssuedToken;
use crate::edges::http::error::ApiError;
use crate::model::audit::Origin;
use crate::model::domain::Principal;

/// Body of `POST /v1/credentials/token`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    /// Resource (of kind `token`).
    pub resource: String,
    /// Lifetime asked, e.g. `10m` (capped by the grant and the provider).
    pub ttl: Option<String>,
}

#[utoipa::path(
    post, path = "/v1/credentials/token", tag = "credentials",
    summary = "A broker token for a resource inside the caller's active grant; lives at most min(ttl, the grant's remaining time, 1h)",
    request_body = TokenBody,
    responses(
        (status = 201, description = "Issued", body = IssuedToken),
        (status = 400, response = ApiError), (status = 401, response = ApiError),
        (status = 403, response = ApiError), (status = 404, response = ApiError),
    ),
    security(("session" = [])),
)]
/// `POST /v1/credentials/token`: a broker token for a resource the caller holds a grant on.
pub async fn token(
    State(credentials): State<Credentials>,
    p: Principal,
    origin: Origin,
    body: Result<Json<TokenBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    let Json(b) = body?;
    let ttl = crate::edges::http::access::duration("ttl", b.ttl.as_deref())?;
    let issued = credentials
        .issue_token(&p, &b.resource, ttl, &origin, Utc::now())
        .await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

/// Body of `POST /v1/credentials/aws`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AwsBody {
    /// Resource (of kind `aws`).
    pub resource: String,
    /// Session length asked, e.g. `1h` (within the role's maximum and the grant).
    pub duration: Option<String>,
}

#[utoipa::path(
    post, path = "/v1/credentials/aws", tag = "credentials",
    summary = "AWS credentials (STS AssumeRole) for a resource inside the caller's active grant; the session never outlives the grant",
    request_body = AwsBody,
    responses(
        (status = 201, description = "Issued", body = crate::model::wire::AwsCredentials),
        (status = 400, response = ApiError), (status = 401, response = ApiError),
        (status = 403, response = ApiError), (status = 404, response = ApiError),
        (status = 409, response = ApiError), (status = 502, response = ApiError),
        (status = 503, response = ApiError),
    ),
    security(("session" = [])),
)]
/// `POST /v1/credentials/aws`: an STS session for a resource the caller holds a grant on.
pub async fn aws(
    State(credentials): State<Credentials>,
    p: Principal,
    origin: Origin,
    body: Result<Json<AwsBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<crate::model::wire::AwsCredentials>), ApiError> {
    let Json(b) = body?;
    let asked = crate::edges::http::access::duration("duration", b.duration.as_deref())?;
    let creds = credentials
        .issue_aws(&p, &b.resource, asked, &origin, Utc::now())
        .await?;
    Ok((StatusCode::CREATED, Json(creds)))
}

/// Body of `POST /v1/credentials/db`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DbBody {
    /// Resource (of kind `db`).
    pub resource: String,
}

#[utoipa::path(
    post, path = "/v1/credentials/db", tag = "credentials",
    summary = "A PostgreSQL login for a resource inside the caller's active grant: the grant's own login (made on first use, then reused), a member of the role's groups only, ended with the grant",
    request_body = DbBody,
    responses(
        (status = 201, description = "Issued", body = crate::model::wire::DbCredentials),
        (status = 400, response = ApiError), (status = 401, response = ApiError),
        (status = 403, response = ApiError), (status = 404, response = ApiError),
        (status = 502, response = ApiError), (status = 503, response = ApiError),
    ),
    security(("session" = [])),
)]
/// `POST /v1/credentials/db`: a database login for a resource the caller holds a grant on.
pub async fn db(
    State(credentials): State<Credentials>,
    p: Principal,
    origin: Origin,
    body: Result<Json<DbBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<crate::model::wire::DbCredentials>), ApiError> {
    let Json(b) = body?;
    let creds = credentials
        .issue_db(&p, &b.resource, &origin, Utc::now())
        .await?;
    Ok((StatusCode::CREATED, Json(creds)))
}
