//! Operational endpoints: liveness, readiness, metrics and the public keys.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;

use super::error::ApiError;
use super::AppState;
use crate::refusal::Class;

/// `GET /healthz`: the process answers.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz`: the database answers, the audit log was not found broken, and signing
/// keys are loaded.
pub async fn readyz(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let broker = &state.broker;
    if let Err(e) = broker.store.ping().await {
        tracing::warn!(error = %e, "not ready: database");
        return Err(ApiError::new(
            Class::Unavailable,
            "not_ready",
            "the database does not answer",
        ));
    }
    if let Some(why) = broker.store.audit_guard().broken() {
        return Err(ApiError::new(
            Class::Unavailable,
            "audit_chain_broken",
            format!("the audit log was found cut short or rewritten ({why}); the broker refuses every change and issuance: {}", crate::store::audit_guard::WHAT_TO_DO),
        ));
    }
    if broker.keyring.is_empty() {
        return Err(ApiError::new(
            Class::Unavailable,
            "not_ready",
            "no signing key is loaded",
        ));
    }
    Ok(Json(serde_json::json!({
        "status": "ready",
        "database": broker.store.backend(),
        "keys": broker.keyring.len(),
        "dev": broker.config.dev,
    })))
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let extra = format!(
        "# HELP latchkey_build_info Build of the running broker.\n# TYPE latchkey_build_info gauge\nlatchkey_build_info{{version=\"{}\",database=\"{}\"}} 1\n\
         # HELP latchkey_signing_keys Signing keys published.\n# TYPE latchkey_signing_keys gauge\nlatchkey_signing_keys {}\n\
         # HELP latchkey_gate_admission_checks_total Gate admissions checked in full (credential verified, grant read from the store); the others were answered from the admission cache.\n# TYPE latchkey_gate_admission_checks_total counter\nlatchkey_gate_admission_checks_total {}\n\
         # HELP latchkey_gate_streams_open Gated streams open now (server-sent events, chunked answers, upgraded connections).\n# TYPE latchkey_gate_streams_open gauge\nlatchkey_gate_streams_open {}\n",
        env!("CARGO_PKG_VERSION"),
        state.broker.store.backend(),
        state.broker.keyring.len(),
        state.broker.gate.admissions.checks(),
        state.broker.gate.hub.open_streams(),
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(&extra),
    )
}

/// `GET /.well-known/jwks.json`: every key a verifier should trust now.
pub async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(state.broker.keyring.jwks(chrono::Utc::now())),
    )
}

/// The OpenAPI document of this API.
pub const OPENAPI: &str = include_str!("openapi.json");

/// `GET /openapi.json`.
pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}
