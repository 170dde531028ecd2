//! The HTTP API: the router, its middleware and its routes.
//!
//! - [`error`]: the one error type and its JSON body.
//! - [`extract`]: the authenticated principal and client information.
//! - [`metrics`]: Prometheus counters and histograms.
//! - [`ops`]: `/healthz`, `/readyz`, `/metrics`, `/.well-known/jwks.json`.
//! - [`login`]: `/v1/auth/*` and `/v1/session`.
//! - [`access`]: resources, access requests, reviews, policy explanations.
//! - [`credentials`]: credentials inside active grants.
//! - [`admin`]: locks and key rotation under `/v1/admin`.
//! - [`slack`]: Slack's signed webhooks and Slack account linking under `/v1/slack`.
//! - [`gate`]: forward-auth, livestream tokens and the livestream authorization callback
//!   (the proxy under `/gate/` is [`crate::gate::proxy`], outside the API's timeout and body limit).

pub mod access;
pub mod admin;
pub mod audit;
pub mod credentials;
pub mod error;
pub mod extract;
pub mod gate;
pub mod login;
pub mod metrics;
pub mod ops;
pub mod slack;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

use crate::service::SharedBroker;

/// Shared state of every handler: small, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The broker core.
    pub broker: SharedBroker,
    /// Request metrics.
    pub metrics: Arc<metrics::Metrics>,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Registers every route and lists it in [`ROUTES`], so the OpenAPI document can be
/// checked against what is really served.
macro_rules! api_routes {
    ($($method:ident $path:literal => $handler:expr,)*) => {
        /// Every route the API serves: (method, path).
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        fn routes() -> Router<AppState> {
            Router::new()$(.route($path, axum::routing::$method($handler)))*
        }
    };
}

api_routes! {
    get "/healthz" => ops::healthz,
    get "/readyz" => ops::readyz,
    get "/metrics" => ops::metrics,
    get "/openapi.json" => ops::openapi,
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
    get "/v1/requests" => access::list,
    post "/v1/requests" => access::create,
    get "/v1/requests/{id}" => access::show,
    post "/v1/requests/{id}/approve" => access::approve,
    post "/v1/requests/{id}/deny" => access::deny,
    post "/v1/requests/{id}/activate" => access::activate,
    post "/v1/requests/{id}/extend" => access::extend,
    post "/v1/requests/{id}/cancel" => access::cancel,
    post "/v1/requests/{id}/revoke" => access::revoke,
    post "/v1/policy/explain" => access::explain,
    post "/v1/credentials/token" => credentials::token,
    post "/v1/credentials/aws" => credentials::aws,
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
    get "/v1/gate/livestream/authz" => gate::livestream_authz,
    post "/v1/gate/livestream/authz" => gate::livestream_authz,
}

/// The whole API, and the gate's proxy beside it.
pub fn router(state: AppState) -> Router {
    let api = routes()
        .fallback(|| async {
            error::ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
        })
        .layer(middleware::from_fn_with_state(
            state.clone(),
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
        .with_state(state.clone());
    // Streams last as long as their grant, and bodies belong to the upstream: no timeout, no limit.
    let gate = crate::gate::proxy::routes()
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .with_state(state);
    gate.merge(api).layer(
        tower::ServiceBuilder::new()
            .layer(middleware::from_fn(sanitize_request_id))
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
                let id = req
                    .extensions()
                    .get::<RequestId>()
                    .and_then(|id| id.header_value().to_str().ok())
                    .unwrap_or("-");
                // Path only: query strings may carry codes or tokens.
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id, user = tracing::field::Empty)
            }))
            .layer(middleware::from_fn(scope_request_id)),
    )
}

/// Drops a caller-supplied request id that is not a short token, so logs stay clean.
async fn sanitize_request_id(mut req: Request, next: Next) -> Response {
    let ok = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        });
    if !ok {
        req.headers_mut().remove(&REQUEST_ID);
    }
    next.run(req).await
}

/// Makes the request id visible to error bodies built anywhere in the handler.
async fn scope_request_id(req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .unwrap_or("-")
        .to_string();
    error::REQUEST_ID.scope(id, next.run(req)).await
}
