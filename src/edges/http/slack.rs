//! `/v1/slack/*`: Slack's interaction and slash-command webhooks (signed by Slack,
//! verified on the raw body before anything is parsed, answered at once, worked after),
//! and `POST /v1/slack/link` for a one-time code that links the caller's Slack account.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Json;
use chrono::Utc;

use crate::app::slack::payload::{self, Interaction};
use crate::app::slack::{commands, deny, fresh, interactions};
use crate::app::{LinkCode, Slack};
use crate::edges::http::error::ApiError;
use crate::edges::http::slack_signing as signing;
use crate::model::audit::Origin;
use crate::model::domain::Principal;
use crate::model::refusal::Class;

fn not_configured() -> ApiError {
    ApiError::new(
        Class::NotFound,
        "slack_not_configured",
        "Slack is not configured on this broker",
    )
}

/// Refuses anything not signed by Slack within the last five minutes.
fn verify(slack: &Slack, headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
    // Unsigned is unsigned whether or not Slack is configured here.
    if !headers.contains_key("x-slack-signature")
        || !headers.contains_key("x-slack-request-timestamp")
    {
        return Err(ApiError::new(
            Class::Unauthenticated,
            "invalid_slack_signature",
            "the request is not signed by Slack",
        ));
    }
    let config = slack
        .core
        .config
        .slack
        .as_ref()
        .ok_or_else(not_configured)?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    signing::verify(
        config.signing_secret.expose(),
        header("x-slack-request-timestamp"),
        header("x-slack-signature"),
        body,
        Utc::now().timestamp(),
    )
    .map_err(|e| {
        tracing::warn!(why = %e, retry = header("x-slack-retry-num").unwrap_or("0"), "Slack request refused");
        ApiError::new(Class::Unauthenticated, "invalid_slack_signature", e.to_string())
    })
}

fn bad_payload(message: String) -> ApiError {
    ApiError::new(Class::Invalid, "invalid_slack_payload", message)
}

/// The form Slack posts to the interaction webhook, as the OpenAPI document shows it: the
/// handler takes the raw body, whose signature it checks before anything is parsed
/// (`payload::parse_interaction`).
#[derive(utoipa::ToSchema)]
pub struct InteractionForm {
    /// The `block_actions` or `view_submission` JSON.
    pub payload: String,
}

/// The fields of Slack's slash-command form that latchkey reads, as the OpenAPI document
/// shows them (parsed by `commands::parse_command`, after the signature); Slack sends more.
#[derive(utoipa::ToSchema)]
pub struct CommandForm {
    /// Who typed it.
    pub user_id: String,
    /// The workspace.
    #[schema(required = false)]
    pub team_id: String,
    /// The words after the command.
    #[schema(required = false)]
    pub text: String,
    /// Where to answer.
    pub response_url: String,
    /// Unique per invocation.
    #[schema(required = false)]
    pub trigger_id: String,
}

#[utoipa::path(
    post, path = "/v1/slack/interactions", tag = "slack",
    summary = "Slack's interaction webhook: form body `payload=<JSON>`, signed by Slack (X-Slack-Signature, X-Slack-Request-Timestamp within 5 minutes). `block_actions` (Approve; Deny opens a modal asking for the reason) is answered 200 at once and the review follows; a `view_submission` of that modal is answered with an empty 200 (the denial follows) or `{\"response_action\": \"errors\"}` when the reason is missing",
    request_body(content = inline(InteractionForm), content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Accepted; for a modal submission without a reason, `{\"response_action\": \"errors\", \"errors\": {\"reason\": …}}`"),
        (status = 400, response = ApiError), (status = 401, response = ApiError),
        (status = 404, response = ApiError),
    ),
    security(("slack_signature" = [])),
)]
/// `POST /v1/slack/interactions`: button clicks (200 at once; the review runs after) and
/// submitted modals (an empty 200 closes the modal; `response_action: errors` keeps it open).
pub async fn interactions(
    State(slack): State<Slack>,
    origin: Origin,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    verify(&slack, &headers, &body)?;
    match payload::parse_interaction(&body).map_err(bad_payload)? {
        Interaction::Actions(p) => {
            tokio::spawn(interactions::handle_actions(slack, p, origin));
        }
        Interaction::Submission(s) => {
            if let Some(answer) = deny::submitted(slack, s, origin).await {
                return Ok(Json(answer).into_response());
            }
        }
        Interaction::Other(kind) => tracing::debug!(%kind, "Slack: interaction not acted on"),
    }
    Ok(StatusCode::OK.into_response())
}

#[utoipa::path(
    post, path = "/v1/slack/commands", tag = "slack",
    summary = "Slack's slash-command webhook: `/latchkey request|status|link …`, signed by Slack; answered 200 at once, the answer follows by response_url",
    request_body(content = inline(CommandForm), content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Accepted"),
        (status = 400, response = ApiError), (status = 401, response = ApiError),
        (status = 404, response = ApiError),
    ),
    security(("slack_signature" = [])),
)]
/// `POST /v1/slack/commands`: `/latchkey …`. 200 at once; the answer follows by `response_url`.
pub async fn commands(
    State(slack): State<Slack>,
    origin: Origin,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    verify(&slack, &headers, &body)?;
    let command = commands::parse_command(&body).map_err(bad_payload)?;
    tokio::spawn(commands::handle_command(slack, command, origin));
    Ok(StatusCode::OK)
}

#[utoipa::path(
    post, path = "/v1/slack/link", tag = "slack",
    summary = "A one-time code (10 minutes) that links the Slack user who types `/latchkey link CODE` to the caller",
    responses(
        (status = 201, description = "Issued", body = LinkCode),
        (status = 401, response = ApiError), (status = 404, response = ApiError),
    ),
    security(("session" = [])),
)]
/// `POST /v1/slack/link`: a one-time code to type in Slack as `/latchkey link CODE`.
pub async fn link(
    State(slack): State<Slack>,
    p: Principal,
    origin: Origin,
) -> Result<(StatusCode, Json<LinkCode>), ApiError> {
    slack
        .core
        .config
        .slack
        .as_ref()
        .ok_or_else(not_configured)?;
    let code = slack.slack_link_code(&p, &origin, Utc::now()).await?;
    Ok((StatusCode::CREATED, Json(code)))
}

#[utoipa::path(
    get, path = "/v1/slack/confirm/{id}", tag = "slack",
    summary = "A fresh-login confirmation link from Slack (roles with reviewer_fresh_login): redirects to the identity provider (code + PKCE, prompt=login)",
    params(("id" = String, Path, description = "The confirmation")),
    responses(
        (status = 303, description = "To the identity provider"),
        (status = 404, response = ApiError), (status = 429, response = ApiError),
        (status = 502, response = ApiError),
    ),
    security(),
)]
/// `GET /v1/slack/confirm/{id}`: the link a reviewer got in Slack; on to the identity provider.
pub async fn confirm(
    State(slack): State<Slack>,
    Path(id): Path<String>,
) -> Result<Redirect, ApiError> {
    slack
        .core
        .config
        .slack
        .as_ref()
        .ok_or_else(not_configured)?;
    let url = fresh::start(&slack, &id, Utc::now()).await?;
    Ok(Redirect::to(&url))
}

/// Query of the provider's redirect.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The OAuth state.
    pub state: Option<String>,
    /// The authorization code.
    pub code: Option<String>,
    /// The provider's refusal.
    pub error: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/slack/callback", tag = "slack",
    summary = "The identity provider's redirect after a fresh-login confirmation; the review counts if the login is the Slack user's bound latchkey user",
    params(CallbackQuery),
    responses(
        (status = 200, description = "HTML page saying what was recorded", body = String, content_type = "text/html"),
        (status = 401, response = ApiError), (status = 403, response = ApiError),
        (status = 404, response = ApiError), (status = 409, response = ApiError),
        (status = 429, response = ApiError), (status = 502, response = ApiError),
    ),
    security(),
)]
/// `GET /v1/slack/callback`: the provider vouched (or not); the review counts now.
pub async fn callback(
    State(slack): State<Slack>,
    origin: Origin,
    Query(q): Query<CallbackQuery>,
) -> Result<Html<String>, ApiError> {
    slack
        .core
        .config
        .slack
        .as_ref()
        .ok_or_else(not_configured)?;
    let (Some(st), Some(code)) = (q.state, q.code) else {
        let why = q.error.unwrap_or_else(|| "no code".into());
        return Err(ApiError::new(
            Class::Forbidden,
            "login_refused",
            format!(
                "the identity provider did not confirm: {}",
                why.chars().take(100).collect::<String>()
            ),
        ));
    };
    let view = fresh::finish(&slack, &st, &code, &origin, Utc::now()).await?;
    let r = &view.request;
    Ok(Html(format!(
        "<!doctype html><title>latchkey</title><p>Review recorded: the request of {} for {}#{} is now {}. You can close this window.</p>",
        crate::model::html::escape(&r.requester_name),
        crate::model::html::escape(&r.resource),
        crate::model::html::escape(&r.role),
        r.state.as_str()
    )))
}
