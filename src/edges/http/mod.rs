//! The HTTP API: the router, its middleware and its routes.
//!
//! - [`error`]: the one error type and its JSON body.
//! - [`extract`]: the authenticated principal and client information.
//! - [`rejection`]: framework answers (rejections, body limit, 405, timeout) in the error shape.
//! - [`request_id`]: `x-request-id` on every request and answer (tower-http).
//! - [`metrics`]: Prometheus counters and histograms.
//! - [`ops`]: `/healthz`, `/readyz`, `/metrics`, `/.well-known/jwks.json`.
//! - [`login`]: `/v1/auth/*` and `/v1/session`.
//! - [`limit`]: per-address rate limits on the endpoints callable without a session.
//! - [`access`]: resources, access requests, reviews, policy explanations.
//! - [`credentials`]: credentials inside active grants.
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
pub mod ops;
pub mod rejection;
pub mod request_id;
pub mod slack;
pub mod slack_signing;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderName, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use tracing::Instrument;

use crate::app::SharedBroker;
use crate::model::refusal::Class;

/// Shared state of every handler: small, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The broker core.
    pub broker: SharedBroker,
    /// Request metrics.
    pub metrics: Arc<metrics::Metrics>,
}

pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

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

/// The whole API, with the gate's proxy in front of it.
pub fn service(state: AppState) -> front::MakeFront {
    let api = routes()
        .merge(crate::edges::gate::proxy::api_routes())
        .fallback(|| async {
            error::ApiError::new(Class::NotFound, "not_found", "no such endpoint")
        })
        .layer(middleware::from_fn_with_state(
            Arc::new(limit::AnonymousLimiter::new(&state.broker.config.limits)),
            limit::anonymous,
        ))
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
        // Outside the limit and the timeout, so their answers are rewritten too.
        .layer(middleware::from_fn(rejection::json_errors))
        .with_state(state.clone())
        .layer(middleware::from_fn(request_context));
    front::MakeFront::new(api, state)
}

/// Middleware: the API's requests in their [`in_request_context`].
async fn request_context(req: Request, next: Next) -> Response {
    in_request_context(req, |req| next.run(req)).await
}

/// Answers `req` with `answer` in the request's context: a span that names its id (set
/// by [`request_id::layer`] around every request), and the id where error bodies read it.
/// A 5xx is logged as an error.
pub async fn in_request_context<F, A>(req: Request, answer: F) -> Response
where
    F: FnOnce(Request) -> A,
    A: std::future::Future<Output = Response>,
{
    let id = request_id::of(&req);
    // Clean ids and new ones are ASCII.
    let id_text = id.to_str().unwrap_or("-");
    // Path only: query strings may carry codes or tokens.
    let span = tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id_text, user = tracing::field::Empty);
    let started = std::time::Instant::now();
    let resp = error::REQUEST_ID
        .scope(id, answer(req))
        .instrument(span.clone())
        .await;
    let status = resp.status();
    let ms = || started.elapsed().as_secs_f64() * 1e3;
    if status.is_server_error() {
        tracing::error!(parent: &span, status = status.as_u16(), latency_ms = ms(), "request failed");
    } else if tracing::enabled!(tracing::Level::DEBUG) {
        tracing::debug!(parent: &span, status = status.as_u16(), latency_ms = ms(), "request answered");
    }
    resp
}
