//! Operational endpoints: liveness, readiness, metrics and the public keys.

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use axum::Json;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::app::Admin;
use crate::edges::http::error::ApiError;
use crate::edges::http::metrics::Format;
use crate::edges::http::state::AppState;
use crate::model::refusal::Class;

#[utoipa::path(
    get, path = "/healthz", tag = "operations",
    summary = "Liveness: the process answers",
    responses(
        (status = 200, description = "OK", body = String, content_type = "text/plain"),
        (status = 400, response = ApiError),
    ),
    security(),
)]
/// `GET /healthz`: the process answers.
pub async fn healthz() -> &'static str {
    "ok\n"
}

#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    summary = "Readiness: database reachable, audit log not found broken, keys loaded (503 not_ready or audit_chain_broken otherwise); names the policy hash in force and the replica",
    responses(
        (status = 200, description = "OK", body = Object),
        (status = 400, response = ApiError),
    ),
    security(),
)]
/// `GET /readyz`: the database answers, the audit log was not found broken, and signing
/// keys are loaded.
pub async fn readyz(State(admin): State<Admin>) -> Result<Json<serde_json::Value>, ApiError> {
    let ready = admin
        .readiness()
        .await
        .map_err(|why| ApiError::new(Class::Unavailable, why.code(), why.message()))?;
    Ok(Json(serde_json::json!({
        "status": "ready",
        "database": ready.database,
        "keys": ready.keys,
        "dev": ready.dev,
        "policy_hash": ready.policy_hash,
        "replica": ready.replica,
    })))
}

#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    summary = "Prometheus metrics, text format 0.0.4 (OpenMetrics 1.0.0 when Accept asks for it)",
    responses(
        (status = 200, description = "OK", content((String = "text/plain"), (String = "application/openmetrics-text"))),
        (status = 400, response = ApiError),
    ),
    security(),
)]
/// `GET /metrics`: Prometheus text format, or OpenMetrics when the scraper's `Accept`
/// asks for it.
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> impl IntoResponse {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::from_accept(accept);
    let text = state.metrics.render(&scrape_time_metrics(&state), format);
    ([(header::CONTENT_TYPE, format.content_type())], text)
}

/// The metrics read from the broker when scraped, in a registry of their own.
fn scrape_time_metrics(state: &AppState) -> Registry {
    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct Build {
        version: &'static str,
        database: &'static str,
    }
    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct PolicyInForce {
        hash: String,
        replica: String,
    }
    let app = &state.app;
    let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    let mut r = Registry::default();
    r.register(
        "latchkey_build",
        "Build of the running broker",
        Info::new(Build {
            version: env!("CARGO_PKG_VERSION"),
            database: app.core.store.backend(),
        }),
    );
    // `latchkey_policy_info{hash,replica} 1`: replicas running different policies show
    // as more than one hash.
    r.register(
        "latchkey_policy",
        "The policy in force on this replica, by hash",
        Info::new(PolicyInForce {
            hash: app.core.policy.current().hash.clone(),
            replica: app.core.replica.id.clone(),
        }),
    );
    r.register(
        "latchkey_signing_keys",
        "Signing keys published",
        ConstGauge::new(count(app.admin.keyring.len())),
    );
    r.register(
        "latchkey_gate_admission_checks",
        "Gate admissions checked in full (credential verified, grant read from the store); the others were answered from the admission cache",
        ConstCounter::new(app.gate().admissions.checks()),
    );
    r.register(
        "latchkey_gate_streams_open",
        "Gated streams open now (server-sent events, chunked answers, upgraded connections)",
        ConstGauge::new(count(app.gate().hub.open_streams())),
    );
    r
}

#[utoipa::path(
    get, path = "/.well-known/jwks.json", tag = "keys",
    summary = "The broker's public signing keys (JWK set)",
    responses(
        (status = 200, description = "OK", body = Object),
        (status = 400, response = ApiError),
    ),
    security(),
)]
/// `GET /.well-known/jwks.json`: every key a verifier should trust now.
pub async fn jwks(State(admin): State<Admin>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(admin.keyring.jwks(chrono::Utc::now())),
    )
}
