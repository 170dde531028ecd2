//! Login, the development login, logout and `whoami`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use serde::Deserialize;

use crate::app::{BrowserLogin, IssuedSession};
use crate::app::{Core, Sessions};
use crate::edges::http::error::ApiError;
use crate::model::audit::Origin;
use crate::model::domain::Principal;
pub use crate::model::wire::{AuthConfig, SessionResponse, WhoAmI};
use std::sync::Arc;

#[utoipa::path(
    get, path = "/v1/auth/config", tag = "auth",
    summary = "The identity provider's issuer, client id and scopes; whether the development login is on",
    responses(
        (status = 200, description = "OK", body = AuthConfig),
        (status = 400, response = ApiError),
    ),
    security(),
)]
/// `GET /v1/auth/config`.
pub async fn auth_config(State(core): State<Arc<Core>>) -> Json<AuthConfig> {
    let c = &core.config;
    Json(AuthConfig {
        issuer: c.oidc.as_ref().map(|o| o.issuer.clone()),
        client_id: c.oidc.as_ref().map(|o| o.client_id.clone()),
        scopes: c
            .oidc
            .as_ref()
            .map(|o| o.scopes.clone())
            .unwrap_or_default(),
        dev_login: c.dev && c.listen.ip().is_loopback(),
    })
}

#[utoipa::path(
    post, path = "/v1/auth/browser", tag = "auth",
    summary = "Start a browser (authorization code + PKCE) login: a single-use login id and nonce",
    responses(
        (status = 200, description = "OK", body = BrowserLogin),
        (status = 400, response = ApiError), (status = 404, response = ApiError),
        (status = 429, response = ApiError),
    ),
    security(),
)]
/// `POST /v1/auth/browser`: a nonce for an authorization-code login.
pub async fn begin_browser(
    State(sessions): State<Sessions>,
) -> Result<Json<BrowserLogin>, ApiError> {
    Ok(Json(sessions.begin_browser_login(Utc::now()).await?))
}

/// Body of `POST /v1/auth/login`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    /// The provider's ID token.
    pub id_token: String,
    /// The browser login it answers, if any.
    pub login_id: Option<String>,
}

impl From<IssuedSession> for SessionResponse {
    fn from(s: IssuedSession) -> Self {
        SessionResponse {
            user_id: s.identity.user_id(),
            token: s.token,
            session_id: s.session_id,
            expires_at: s.expires_at,
            email: s.identity.email,
            groups: s.identity.groups,
            dev: s.dev,
        }
    }
}

#[utoipa::path(
    post, path = "/v1/auth/login", tag = "auth",
    summary = "Exchange a provider's ID token for a session",
    request_body = LoginBody,
    responses(
        (status = 201, description = "Session created", body = SessionResponse),
        (status = 400, response = ApiError), (status = 401, response = ApiError),
        (status = 403, response = ApiError), (status = 404, response = ApiError),
        (status = 429, response = ApiError), (status = 502, response = ApiError),
    ),
    security(),
)]
/// `POST /v1/auth/login`: ID token in, session out.
pub async fn login(
    State(sessions): State<Sessions>,
    origin: Origin,
    body: Result<Json<LoginBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<SessionResponse>), ApiError> {
    let Json(body) = body?;
    let issued = sessions
        .login(
            &body.id_token,
            body.login_id.as_deref(),
            &origin,
            Utc::now(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(issued.into())))
}

/// Body of `POST /v1/auth/dev-login`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DevLoginBody {
    /// Email to log in as.
    pub email: String,
    /// Groups to carry.
    #[serde(default)]
    pub groups: Vec<String>,
}

#[utoipa::path(
    post, path = "/v1/auth/dev-login", tag = "auth",
    summary = "Development login (servers started with --dev on loopback only)",
    request_body = DevLoginBody,
    responses(
        (status = 201, description = "Session created", body = SessionResponse),
        (status = 400, response = ApiError), (status = 403, response = ApiError),
        (status = 429, response = ApiError),
    ),
    security(),
)]
/// `POST /v1/auth/dev-login`: development servers only.
pub async fn dev_login(
    State(sessions): State<Sessions>,
    origin: Origin,
    body: Result<Json<DevLoginBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<SessionResponse>), ApiError> {
    let Json(body) = body?;
    let issued = sessions
        .dev_login(&body.email, body.groups, &origin, Utc::now())
        .await?;
    Ok((StatusCode::CREATED, Json(issued.into())))
}

/// Body of `POST /v1/auth/logout` (optional).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogoutBody {
    /// Revoke every live grant of the caller first (their AWS sessions are denied at AWS).
    #[serde(default)]
    pub revoke_grants: bool,
}

#[utoipa::path(
    post, path = "/v1/auth/logout", tag = "auth",
    summary = "End the caller's session; with revoke_grants, revoke every live grant of the caller first (their AWS sessions are denied at AWS)",
    request_body = Option<LogoutBody>,
    responses(
        (status = 204, description = "No content"),
        super::error::SessionRefusals,
    ),
    security(("session" = [])),
)]
/// `POST /v1/auth/logout`: ends the caller's session, and with `revoke_grants` their grants.
pub async fn logout(
    State(sessions): State<Sessions>,
    principal: Principal,
    origin: Origin,
    body: Result<Json<LogoutBody>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let body = match body {
        Ok(Json(b)) => b,
        // No JSON body at all: a plain logout, as before the option existed.
        Err(axum::extract::rejection::JsonRejection::MissingJsonContentType(_)) => {
            LogoutBody::default()
        }
        Err(e) => return Err(e.into()),
    };
    if body.revoke_grants {
        sessions
            .logout_revoking(&principal, &origin, Utc::now())
            .await?;
    } else {
        sessions.logout(&principal, &origin, Utc::now()).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get, path = "/v1/session", tag = "auth",
    summary = "Who the caller is",
    responses(
        (status = 200, description = "OK", body = WhoAmI),
        super::error::SessionRefusals,
    ),
    security(("session" = [])),
)]
/// `GET /v1/session`.
pub async fn whoami(State(core): State<Arc<Core>>, principal: Principal) -> Json<WhoAmI> {
    let admin = core.is_admin(&principal);
    Json(WhoAmI { principal, admin })
}
