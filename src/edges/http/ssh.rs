//! SSH: user certificates inside grants (`POST /v1/credentials/ssh`), the CA keys hosts
//! trust (`GET /v1/ssh/ca`), the revocation list they fetch (`GET /v1/ssh/krl`), and the
//! CA's rotation (`POST /v1/admin/ssh/ca/rotate`).

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;

use crate::app::{Admin, Credentials};
use crate::edges::http::error::ApiError;
use crate::model::audit::Origin;
use crate::model::domain::Principal;
use crate::model::keys::SshCaAlg as CaAlg;
use crate::model::refusal::Class;
use crate::model::wire::{CaPublic, SshCertificate};

/// Body of `POST /v1/credentials/ssh`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SshBody {
    /// Resource (of kind `ssh`).
    pub resource: String,
    /// The OpenSSH public key to certify (`ssh-ed25519 AAAA… comment`).
    pub public_key: String,
    /// Validity asked, e.g. `30m` (at most the role's `max_validity` and the grant's end;
    /// more is refused). Default: as long as both allow.
    pub ttl: Option<String>,
}

#[utoipa::path(
    post, path = "/v1/credentials/ssh", tag = "credentials",
    summary = "An OpenSSH user certificate for a public key, inside the caller's active grant: the role's principals, extensions and options, never valid past the grant",
    request_body = SshBody,
    responses(
        (status = 201, description = "Issued", body = SshCertificate),
        (status = 400, response = ApiError), (status = 401, response = ApiError),
        (status = 403, response = ApiError), (status = 404, response = ApiError),
    ),
    security(("session" = [])),
)]
/// `POST /v1/credentials/ssh`: a certificate for a resource the caller holds a grant on.
pub async fn certificate(
    State(credentials): State<Credentials>,
    p: Principal,
    origin: Origin,
    body: Result<Json<SshBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<SshCertificate>), ApiError> {
    let Json(b) = body?;
    let ttl = crate::edges::http::access::duration("ttl", b.ttl.as_deref())?;
    let cert = credentials
        .issue_ssh(&p, &b.resource, &b.public_key, ttl, &origin, Utc::now())
        .await?;
    Ok((StatusCode::CREATED, Json(cert)))
}

/// Query of `GET /v1/ssh/ca`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CaQuery {
    /// `text` (default): `TrustedUserCAKeys` lines; `json`: each key with its state.
    pub format: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/ssh/ca", tag = "ssh",
    summary = "The SSH user CA keys hosts should trust (sshd's TrustedUserCAKeys file), the signing one first; a rotated key stays until its certificates have expired",
    params(CaQuery),
    responses(
        (status = 200, description = "One key per line, or JSON with format=json", content(
            (String = "text/plain"),
            (Vec<CaPublic> = "application/json"),
        )),
        (status = 400, response = ApiError),
    ),
    security(),
)]
/// `GET /v1/ssh/ca`: public.
pub async fn ca(
    State(credentials): State<Credentials>,
    query: Result<Query<CaQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query?;
    let keys = credentials.ssh_cas(Utc::now());
    match q.format.as_deref() {
        None | Some("text") => {
            let mut body = String::new();
            for k in &keys {
                body.push_str(&k.public_key);
                body.push('\n');
            }
            Ok((
                [
                    (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                    (header::CACHE_CONTROL, "public, max-age=300"),
                ],
                body,
            )
                .into_response())
        }
        Some("json") => Ok(Json(keys).into_response()),
        Some(other) => Err(ApiError::new(
            Class::Invalid,
            "bad_format",
            format!("format {other:?} is not text or json"),
        )),
    }
}

#[utoipa::path(
    get, path = "/v1/ssh/krl", tag = "ssh",
    summary = "The SSH revocation list (OpenSSH's binary KRL, for sshd's RevokedKeys): every certificate whose grant ended early, until it would have expired anyway",
    responses(
        (status = 200, description = "The KRL; ETag and Last-Modified say which", body = Vec<u8>, content_type = "application/octet-stream"),
        (status = 304, description = "Unchanged since the If-None-Match ETag"),
        (status = 400, response = ApiError), (status = 503, response = ApiError),
    ),
    security(),
)]
/// `GET /v1/ssh/krl`: public, like the CA keys (it names serials and key ids only).
pub async fn krl(
    State(credentials): State<Credentials>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let file = credentials.ssh_krl(Utc::now()).await?;
    let etag = HeaderValue::from_str(&file.etag).unwrap_or(HeaderValue::from_static("\"\""));
    let modified = file
        .generated_at
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    let common = [
        (header::ETAG, etag),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=5, must-revalidate"),
        ),
        (
            header::LAST_MODIFIED,
            HeaderValue::from_str(&modified).unwrap_or(HeaderValue::from_static("")),
        ),
    ];
    let matches = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == file.etag || t.trim() == "*");
    if matches {
        return Ok((StatusCode::NOT_MODIFIED, common).into_response());
    }
    let serials = HeaderValue::from(file.serials);
    Ok((
        common,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (
                header::HeaderName::from_static("x-latchkey-krl-serials"),
                serials,
            ),
        ],
        file.bytes.as_ref().clone(),
    )
        .into_response())
}

/// Body of `POST /v1/admin/ssh/ca/rotate`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    /// `ed25519` or `ecdsa-p256` (default: the configured `ssh.ca_algorithm`).
    pub algorithm: Option<String>,
}

#[utoipa::path(
    post, path = "/v1/admin/ssh/ca/rotate", tag = "admin",
    summary = "Give the SSH CA a new signing key (administrators); the old one stays trusted until its certificates have expired",
    request_body = RotateBody,
    responses(
        (status = 200, description = "The keys hosts should trust now", body = Vec<CaPublic>),
        (status = 400, response = ApiError),
        super::error::SessionRefusals,
    ),
    security(("session" = [])),
)]
/// `POST /v1/admin/ssh/ca/rotate`.
pub async fn rotate(
    State(admin): State<Admin>,
    State(credentials): State<Credentials>,
    p: Principal,
    origin: Origin,
    body: Result<Json<RotateBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Vec<CaPublic>>, ApiError> {
    let Json(b) = body?;
    let alg = match b.algorithm.as_deref() {
        None => admin.core.config.ssh_ca_algorithm,
        Some(a) => CaAlg::parse(a).ok_or_else(|| {
            ApiError::new(
                Class::Invalid,
                "bad_algorithm",
                format!("algorithm {a:?} is not ed25519 or ecdsa-p256"),
            )
        })?,
    };
    let now = Utc::now();
    admin.rotate_ssh_ca(&p, alg, &origin, now).await?;
    Ok(Json(credentials.ssh_cas(now)))
}
