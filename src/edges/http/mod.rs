//! The HTTP API: the router, its middleware and its routes.
//!
//! - [`error`]: the one error type and its JSON body.
//! - [`extract`]: the authenticated principal and client information.
//! - [`rejection`]: framework answers (rejections, body limit, 405, timeout) in the error shape.
//! - [`request_id`]: `x-request-id` on every request and answer (tower-http).
//! - [`metrics`]: Prometheus counters and histograms.
//! - [`ops`]: `/healthz`, `/readyz`, `/metrics`, `/.well-known/jwks.json`.
//! - [`openapi`]: the OpenAPI document, made from the handlers' annotations and the API's
//!   types, served here at `/openapi.json`.
//! - [`login`]: `/v1/auth/*` and `/v1/session`.
//! - [`limit`]: per-address rate limits on the endpoints callable without a session.
//! - [`access`]: resources, creating a request, policy explanations.
//! - [`requests`]: the caller's requests, one request, reviews and the changes to it.
//! - [`credentials`]: credentials inside active grants.
//! - [`ssh`]: SSH certificates, the CA keys hosts trust, the revocation list, the CA's rotation.
//! - [`admin`]: locks and key rotation under `/v1/admin`.
//! - [`slack`]: Slack's signed webhooks and Slack account linking under `/v1/slack`.
//! - [`gate`]: forward-auth, livestream tokens and the livestream authorization callback
//!   (the proxy under `/gate/` is [`crate::edges::gate::proxy`], in front of the API: [`front`]).

pub mod access;
pub mod admin;
pub mod audit;
pub mod bearer;
pub mod credentials;
pub mod error;
pub mod extract;
pub mod front;
pub mod gate;
pub mod limit;
pub mod login;
pub mod metrics;
pub mod openapi;
pub mod ops;
pub mod peer;
pub mod rejection;
pub mod request_id;
pub mod requests;
pub mod slack;
pub mod slack_signing;
pub mod ssh;
pub mod state;

pub use crate::edges::http::request_id::in_request_context;
pub use crate::edges::http::state::AppState;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use utoipa::OpenApi as _;

use crate::model::refusal::Class;

/// Registers every route (`get | post` for a handler that answers both), lists it in
/// [`ROUTES`] and puts its handler's operation (its `#[utoipa::path]`, which a handler
/// must have) in the OpenAPI document, so no route is served undocumented; a test checks
/// the document against [`ROUTES`].
macro_rules! api_routes {
    ($($method:ident $(| $more:ident)* $path:literal => $module:ident :: $handler:ident,)*) => {
        /// Every route the API serves: (method, path).
        pub const ROUTES: &[(&str, &str)] =
            &[$((stringify!($method), $path), $((stringify!($more), $path),)*)*];

        fn routes() -> Router<AppState> {
            Router::new()$(.route(
                $path,
                axum::routing::$method($module::$handler)$(.$more($module::$handler))*,
            ))*
        }

        /// Every route's operation.
        #[derive(utoipa::OpenApi)]
        #[openapi(paths($($module::$handler),*))]
        struct Operations;
    };
}

api_routes! {
    get "/healthz" => ops::healthz,
    get "/readyz" => ops::readyz,
    get "/metrics" => ops::metrics,
    get "/openapi.json" => self::openapi_json,
    get "/.well-known/jwks.json" => ops::jwks,
    get "/v1/keys" => admin::list_keys,
    get "/v1/auth/config" => login::auth_config,
    post "/v1/auth/browser" => login::begin_browser,
    post "/v1/auth/login" => login::login,
    post "/v1/auth/dev-login" => login::dev_login,
    post "/v1/auth/logout" => login::logout,
    get "/v1/session" => login::whoami,
    post "/v1/admin/locks" => admin::lock,
    delete "/v1/admin/locks/{user}" => admin::unlock,
    post "/v1/admin/keys/rotate" => admin::rotate_keys,
    get "/v1/resources" => access::resources,
    get "/v1/requests" => requests::list,
    post "/v1/requests" => access::create,
    get "/v1/requests/{id}" => requests::show,
    post "/v1/requests/{id}/approve" => requests::approve,
    post "/v1/requests/{id}/deny" => requests::deny,
    post "/v1/requests/{id}/activate" => requests::activate,
    post "/v1/requests/{id}/extend" => requests::extend,
    post "/v1/requests/{id}/cancel" => requests::cancel,
    post "/v1/requests/{id}/revoke" => requests::revoke,
    post "/v1/policy/explain" => access::explain,
    post "/v1/credentials/token" => credentials::token,
    post "/v1/credentials/aws" => credentials::aws,
    post "/v1/credentials/db" => credentials::db,
    post "/v1/credentials/ssh" => ssh::certificate,
    get "/v1/ssh/ca" => ssh::ca,
    get "/v1/ssh/krl" => ssh::krl,
    post "/v1/admin/ssh/ca/rotate" => ssh::rotate,
    get "/v1/audit/key" => audit::key,
    get "/v1/audit/events" => audit::events,
    post "/v1/audit/checkpoints" => audit::checkpoint,
    post "/v1/audit/verify" => audit::verify,
    post "/v1/audit/export" => audit::export,
    post "/v1/slack/interactions" => slack::interactions,
    post "/v1/slack/commands" => slack::commands,
    post "/v1/slack/link" => slack::link,
    get "/v1/slack/confirm/{id}" => slack::confirm,
    get "/v1/slack/callback" => slack::callback,
    post "/v1/credentials/livestream" => gate::livestream_token,
    get "/v1/gate/auth/{resource}" => gate::forward_auth,
    get | post "/v1/gate/livestream/authz" => gate::livestream_authz,
}

/// The whole API, with the gate's proxy in front of it.
pub fn service(state: AppState) -> front::MakeFront {
    metrics::know_routes(
        ROUTES
            .iter()
            .map(|(_, path)| *path)
            .chain([front::GATE_ROUTE]),
    );
    let api = routes()
        .route(
            "/v1/gate/auth/{resource}/{*path}",
            axum::routing::any(gate::forward_auth_path),
        )
        .fallback(|| async {
            error::ApiError::new(Class::NotFound, "not_found", "no such endpoint")
        })
        .layer(middleware::from_fn_with_state(
            Arc::new(limit::AnonymousLimiter::new(&state.app.core.config.limits)),
            limit::anonymous,
        ))
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::track,
        ))
        .layer(
            tower::ServiceBuilder::new()
                .layer(tower_http::limit::RequestBodyLimitLayer::new(1 << 20))
                .layer(tower_http::timeout::TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    Duration::from_secs(30),
                )),
        )
        // Outside the limit and the timeout, so their answers are rewritten too.
        .layer(middleware::from_fn(rejection::json_errors))
        .with_state(state.clone())
        .layer(middleware::from_fn(request_context));
    front::MakeFront::new(api, state)
}

/// The OpenAPI document, made once.
static OPENAPI: LazyLock<String> = LazyLock::new(|| {
    // A document of string-keyed maps always serializes.
    serde_json::to_string(&openapi::document(Operations::openapi())).unwrap_or_default()
});

#[utoipa::path(
    get, path = "/openapi.json", tag = "operations",
    summary = "This document",
    responses(
        (status = 200, description = "OK", body = Object),
        (status = 400, response = error::ApiError),
    ),
    security(),
)]
/// `GET /openapi.json`.
async fn openapi_json() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        OPENAPI.as_str(),
    )
}

/// Middleware: the API's requests in their [`in_request_context`].
async fn request_context(req: Request, next: Next) -> Response {
    in_request_context(req, |req| next.run(req)).await
}
