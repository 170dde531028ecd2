//! The HTTP API: the router, its middleware and its routes.
//!
//! - [`error`]: the one error type and its JSON body.
//! - [`extract`]: the authenticated principal and client information.
//! - [`metrics`]: Prometheus counters and histograms.
//! - [`ops`]: `/healthz`, `/readyz`, `/metrics`, `/.well-known/jwks.json`.
//! - [`login`]: `/v1/auth/*` and `/v1/session`.
//! - [`access`]: resources, access requests, reviews, policy explanations.
//! - [`admin`]: locks and key rotation under `/v1/admin`.

pub mod access;
pub mod admin;
pub mod error;
pub mod extract;
pub mod login;
pub mod metrics;
pub mod ops;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
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

/// The whole API.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/.well-known/jwks.json", get(ops::jwks))
        .route("/v1/auth/config", get(login::auth_config))
        .route("/v1/auth/browser", post(login::begin_browser))
        .route("/v1/auth/login", post(login::login))
        .route("/v1/auth/dev-login", post(login::dev_login))
        .route("/v1/auth/logout", post(login::logout))
        .route("/v1/session", get(login::whoami))
        .route("/v1/admin/locks", post(admin::lock))
        .route(
            "/v1/admin/locks/{user}",
            axum::routing::delete(admin::unlock),
        )
        .route("/v1/admin/keys/rotate", post(admin::rotate_keys))
        .route("/v1/keys", get(admin::list_keys))
        .route("/v1/resources", get(access::resources))
        .route("/v1/requests", get(access::list).post(access::create))
        .route("/v1/requests/{id}", get(access::show))
        .route("/v1/requests/{id}/approve", post(access::approve))
        .route("/v1/requests/{id}/deny", post(access::deny))
        .route("/v1/requests/{id}/activate", post(access::activate))
        .route("/v1/requests/{id}/extend", post(access::extend))
        .route("/v1/requests/{id}/cancel", post(access::cancel))
        .route("/v1/requests/{id}/revoke", post(access::revoke))
        .route("/v1/policy/explain", post(access::explain))
        .fallback(|| async {
            error::ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
        })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .with_state(state);
    api.layer(
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
            .layer(middleware::from_fn(scope_request_id))
            .layer(tower_http::limit::RequestBodyLimitLayer::new(1 << 20))
            .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30))),
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
