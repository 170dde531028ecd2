//! The audit log over HTTP: the public audit key, reading and following events,
//! checkpoints on demand, live verification, and evidence exports as one tar stream.

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;

use crate::app::audit::CheckpointTrigger;
use crate::app::audit_verify::Report;
use crate::app::Audit;
use crate::app::ServiceError;
use crate::edges::http::error::ApiError;
use crate::model::audit::checkpoint::Checkpoint;
use crate::model::audit::key::AuditPublicKey;
use crate::model::audit::{AuditEvent, Origin};
use crate::model::domain::Principal;
use crate::model::refusal::Class;

#[utoipa::path(
    get, path = "/v1/audit/key", tag = "audit",
    summary = "The audit public key (Ed25519 JWK) that signs checkpoints and evidence manifests; pin it out of band",
    responses(
        (status = 200, description = "OK", body = AuditPublicKey),
        (status = 400, response = ApiError),
    ),
    security(),
)]
/// `GET /v1/audit/key`: the public half of the audit key (pin it out of band).
pub async fn key(State(audit): State<Audit>) -> Json<AuditPublicKey> {
    Json(audit.audit_key.public().clone())
}

/// Query of `GET /v1/audit/events`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Events after this sequence number (default 0).
    #[serde(default)]
    pub after: i64,
    /// At most this many (default 100, at most 10,000).
    pub limit: Option<i64>,
    /// Seconds to wait for a first new event (long polling, at most 25).
    // utoipa calls a u64 `int64`, whose maximum is below ours: a larger wait is taken (as 25).
    #[param(format = "uint64")]
    pub wait: Option<u64>,
    /// Instead of `after`: the last this many events.
    pub last: Option<i64>,
}

#[utoipa::path(
    get, path = "/v1/audit/events", tag = "audit",
    summary = "Audit events after a sequence number, or the last N; with wait, long-polls for new ones (needs audit_read on audit)",
    params(EventsQuery),
    responses(
        (status = 200, description = "OK", body = Vec<AuditEvent>),
        super::error::SessionRefusals,
    ),
    security(("session" = [])),
)]
/// `GET /v1/audit/events`: events after a sequence number, optionally waiting for new ones.
pub async fn events(
    State(audit): State<Audit>,
    p: Principal,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<AuditEvent>>, ApiError> {
    let Query(q) =
        query.map_err(|e| ApiError::new(Class::Invalid, "bad_request", e.body_text()))?;
    let wait = std::time::Duration::from_secs(q.wait.unwrap_or(0).min(25));
    let after = match q.last {
        Some(n) => audit.audit_head_seq(&p).await? - n.max(0),
        None => q.after,
    };
    let events = audit
        .audit_events(&p, after.max(0), q.limit.unwrap_or(100), wait)
        .await?;
    Ok(Json(events))
}

#[utoipa::path(
    post, path = "/v1/audit/checkpoints", tag = "audit",
    summary = "Sign a checkpoint of the chain head now (administrators and auditors)",
    responses(
        (status = 201, description = "Signed", body = Checkpoint),
        super::error::SessionRefusals,
    ),
    security(("session" = [])),
)]
/// `POST /v1/audit/checkpoints`: sign the head now (administrators and auditors).
pub async fn checkpoint(
    State(audit): State<Audit>,
    p: Principal,
) -> Result<(StatusCode, Json<Checkpoint>), ApiError> {
    if !audit.core.is_admin(&p) && !audit.can_read_audit(&p) {
        return Err(ServiceError::Forbidden(
            "checkpoints on demand are for administrators and auditors".into(),
        )
        .into());
    }
    let cp = audit
        .checkpoint(CheckpointTrigger::OnDemand, Utc::now())
        .await?
        .ok_or_else(|| ApiError::new(Class::Conflict, "conflict", "no checkpoint was made"))?;
    Ok((StatusCode::CREATED, Json(cp)))
}

/// Body of `POST /v1/audit/verify`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyBody {
    /// Checkpoints kept elsewhere, to hold the log against.
    #[serde(default)]
    pub checkpoints: Vec<Checkpoint>,
}

#[utoipa::path(
    post, path = "/v1/audit/verify", tag = "audit",
    summary = "Verify the whole live log against its chain and every checkpoint (database, sink, and those given)",
    request_body = Option<VerifyBody>,
    responses(
        (status = 200, description = "OK", body = Report),
        super::error::SessionRefusals,
    ),
    security(("session" = [])),
)]
/// `POST /v1/audit/verify`: check the whole live log.
pub async fn verify(
    State(audit): State<Audit>,
    p: Principal,
    body: Option<Json<VerifyBody>>,
) -> Result<Json<Report>, ApiError> {
    let outside = body.map(|Json(b)| b.checkpoints).unwrap_or_default();
    Ok(Json(audit.verify_audit(&p, outside).await?))
}

/// Body of `POST /v1/audit/export`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportBody {
    /// First instant (RFC 3339) or day (`YYYY-MM-DD`, from its start) included.
    pub from: String,
    /// Last day included (`YYYY-MM-DD`, to its end) or first instant excluded (RFC 3339).
    pub to: String,
}

#[utoipa::path(
    post, path = "/v1/audit/export", tag = "audit",
    summary = "The evidence bundle of a period as a tar stream (events, CSVs, report.html, signed manifest.json); needs audit_read on audit",
    request_body = ExportBody,
    responses(
        (status = 200, description = "application/x-tar bundle", content(("application/x-tar"))),
        (status = 400, response = ApiError), (status = 401, response = ApiError),
        (status = 403, response = ApiError), (status = 500, response = ApiError),
        (status = 503, response = ApiError),
    ),
    security(("session" = [])),
)]
/// `POST /v1/audit/export`: the evidence bundle of a period, as a tar stream.
pub async fn export(
    State(audit): State<Audit>,
    p: Principal,
    origin: Origin,
    body: Result<Json<ExportBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body?;
    let period = crate::app::export::period::parse(&body.from, &body.to)
        .map_err(|e| ApiError::new(Class::Invalid, "bad_period", e))?;
    let failed = |e: std::io::Error| ServiceError::Export(e.to_string());
    // Under the data directory, which start-up empties of what a crash left behind.
    let exports = audit.core.config.data_dir.join("exports");
    std::fs::create_dir_all(&exports).map_err(failed)?;
    // Removed with its files when the answer is made (or the export fails).
    let work = tempfile::Builder::new()
        .prefix("export-")
        .tempdir_in(&exports)
        .map_err(failed)?;
    let manifest = audit
        .export_audit(&p, period, work.path(), &origin, &|_, _| {}, Utc::now())
        .await?;
    let tar_file = tempfile::Builder::new()
        .prefix("export-")
        .suffix(".tar")
        .tempfile_in(&exports)
        .map_err(failed)?;
    let dir = work.path().to_path_buf();
    let names: Vec<String> = manifest
        .files
        .iter()
        .map(|f| f.name.clone())
        .chain(["manifest.json".to_string()])
        .collect();
    let tar = tar_file.path().to_path_buf();
    tokio::task::spawn_blocking(move || crate::app::export::archive::write(&dir, &names, &tar))
        .await
        .map_err(|e| ServiceError::Export(e.to_string()))?
        .map_err(|e| ServiceError::Export(e.to_string()))?;
    let file = tokio::fs::File::from_std(tar_file.reopen().map_err(failed)?);
    let len = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    // The tar file is unlinked at once: the open handle keeps it readable until the stream ends.
    drop(tar_file);
    drop(work);
    let stream = tokio_util::io::ReaderStream::with_capacity(file, 1 << 16);
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-tar".to_string()),
            (header::CONTENT_LENGTH, len.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"latchkey-evidence-{}.tar\"",
                    manifest.period.from.format("%Y%m%d")
                ),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}
