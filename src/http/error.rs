//! The one API error type. Every status is chosen here; the body carries a stable `code`
//! and the request id, and a 5xx never echoes internal text.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::auth::session::SessionTokenError;
use crate::service::ServiceError;

tokio::task_local! {
    /// The current request's id, set by the request-id middleware for the handler's task.
    pub static REQUEST_ID: axum::http::HeaderValue;
}

/// The current request id, or `-` outside a request.
pub fn current_request_id() -> String {
    REQUEST_ID
        .try_with(|id| id.to_str().unwrap_or("-").to_string())
        .unwrap_or_else(|_| "-".into())
}

/// What a refused write says while the audit log is found cut short or rewritten.
pub const AUDIT_BROKEN: &str = "the audit log was found cut short or rewritten, so the broker refuses every change and issuance until an operator has checked it (`latchkey audit verify`); quote the request id to the operator";

/// An error answer of the API.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Option<serde_json::Value>,
}

impl ApiError {
    /// An error with an explicit status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }

    /// 401 without credentials.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        use ServiceError as E;
        use StatusCode as S;
        let (status, code) = match &e {
            E::IdToken(inner) => match inner {
                crate::auth::oidc::IdTokenError::ProviderUnavailable(_) => {
                    (S::BAD_GATEWAY, inner.code())
                }
                _ => (S::UNAUTHORIZED, inner.code()),
            },
            E::IdTokenReplayed => (S::UNAUTHORIZED, "id_token_replayed"),
            E::LoginAttemptInvalid => (S::UNAUTHORIZED, "login_attempt_invalid"),
            E::NoProvider => (S::NOT_FOUND, "no_identity_provider"),
            E::DevLoginDisabled => (S::FORBIDDEN, "dev_login_disabled"),
            E::UserLocked => (S::FORBIDDEN, "user_locked"),
            E::Unauthenticated(SessionTokenError::Expired) => (S::UNAUTHORIZED, "session_expired"),
            E::Unauthenticated(_) => (S::UNAUTHORIZED, "invalid_session_token"),
            E::SessionRevoked => (S::UNAUTHORIZED, "session_revoked"),
            E::DevSessionRefused => (S::UNAUTHORIZED, "dev_session_refused"),
            E::TooManyPendingLogins => (S::TOO_MANY_REQUESTS, "too_many_pending_logins"),
            E::Forbidden(_) => (S::FORBIDDEN, "forbidden"),
            E::BadRequest(_) => (S::BAD_REQUEST, "bad_request"),
            E::NotFound(_) => (S::NOT_FOUND, "not_found"),
            E::Store(s) if s.audit_broken() => (S::SERVICE_UNAVAILABLE, "audit_chain_broken"),
            E::Store(crate::store::StoreError::AuditLog(_)) => {
                (S::SERVICE_UNAVAILABLE, "audit_unavailable")
            }
            E::Random(_) => (S::INTERNAL_SERVER_ERROR, "random_unavailable"),
            E::Store(_) | E::Key(_) | E::Sign(_) | E::Export(_) => {
                (S::INTERNAL_SERVER_ERROR, "internal")
            }
            E::Refused(d) => {
                let code = d.code.unwrap_or("not_allowed");
                let status = match code {
                    "unknown_resource" | "unknown_role" => S::NOT_FOUND,
                    "reason_required" | "reason_mismatch" | "ticket_required"
                    | "ticket_mismatch" | "duration_too_long" => S::BAD_REQUEST,
                    _ => S::FORBIDDEN,
                };
                let mut err = Self::new(status, code, e.to_string());
                err.details = serde_json::to_value(d).ok();
                return err;
            }
            E::ReviewRefused(r) => (S::FORBIDDEN, r.code),
            E::Lifecycle(r) => {
                use crate::access::Refusal as R;
                let status = match r {
                    R::Overdue(_) | R::WrongState(..) | R::AlreadyReviewed => S::CONFLICT,
                    R::NotRequester(_) | R::SelfReview | R::NotAllowedToRevoke => S::FORBIDDEN,
                    R::NoExtensionsLeft(_) | R::ExtensionTooLong(_) | R::OverCap(_) => {
                        S::BAD_REQUEST
                    }
                };
                (status, r.code())
            }
            E::Conflict => (S::CONFLICT, "conflict"),
            E::NoActiveGrant { .. } => (S::FORBIDDEN, "no_active_grant"),
            E::GrantEndingSoon { .. } => (S::CONFLICT, "grant_ending_soon"),
            E::Aws(a) => {
                use crate::providers::aws::AwsError as A;
                let status = match a {
                    A::Throttled | A::Unavailable(_) => S::SERVICE_UNAVAILABLE,
                    _ => S::BAD_GATEWAY,
                };
                tracing::warn!(error = %a, "AWS STS failed");
                (status, a.code())
            }
        };
        // Our own failures never echo internal text; a provider's (IdP, STS) is the answer.
        if matches!(
            e,
            E::Store(_) | E::Key(_) | E::Sign(_) | E::Export(_) | E::Random(_)
        ) {
            // Logged once, here, inside the request span, with its whole chain.
            tracing::error!(error = %error_chain(&e), "request failed");
            let message = if code == "audit_chain_broken" {
                AUDIT_BROKEN
            } else if code == "audit_unavailable" {
                "the audit log could not be written, so nothing was done; quote the request id to the operator"
            } else {
                "internal error; quote the request id to the operator"
            };
            return Self::new(status, code, message);
        }
        if status == S::BAD_GATEWAY {
            tracing::warn!(error = %e, "identity provider unavailable");
        }
        Self::new(status, code, e.to_string())
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({
            "error": { "code": self.code, "message": self.message, "request_id": current_request_id() }
        });
        if let Some(d) = self.details {
            body["error"]["decision"] = d;
        }
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            if let Ok(v) = format!(
                "Bearer error=\"invalid_token\", error_description=\"{}\"",
                self.code
            )
            .parse()
            {
                response
                    .headers_mut()
                    .insert(axum::http::header::WWW_AUTHENTICATE, v);
            }
        }
        response
    }
}

impl ApiError {
    /// An answer made before a handler (an extractor's rejection, the body limit, an
    /// unknown method, the timeout), from its status and text: the one place their
    /// statuses and codes are chosen. A body that is not valid JSON, or not the right
    /// JSON, is 400 `invalid_body` wherever it is sent; a 5xx never echoes the text.
    pub fn rejected(status: StatusCode, text: &str) -> Self {
        use StatusCode as S;
        let json_body = text.starts_with("Failed to parse the request body as JSON")
            || text.starts_with("Failed to deserialize the JSON body");
        let text: String = text.chars().take(300).collect();
        let (status, code, message) = match status {
            S::PAYLOAD_TOO_LARGE => (
                status,
                "body_too_large",
                "the request body is larger than 1 MiB".to_string(),
            ),
            S::UNSUPPORTED_MEDIA_TYPE => (status, "unsupported_media_type", text),
            S::UNPROCESSABLE_ENTITY => (S::BAD_REQUEST, "invalid_body", text),
            S::BAD_REQUEST if json_body => (status, "invalid_body", text),
            S::METHOD_NOT_ALLOWED => (
                status,
                "method_not_allowed",
                "this endpoint does not answer that method".to_string(),
            ),
            S::NOT_FOUND => (status, "not_found", "no such endpoint".to_string()),
            S::REQUEST_TIMEOUT => (
                status,
                "request_timeout",
                "the request took too long".to_string(),
            ),
            s if s.is_server_error() => {
                tracing::error!(status = s.as_u16(), error = %text, "request rejected by the framework");
                (
                    s,
                    "internal",
                    "internal error; quote the request id to the operator".to_string(),
                )
            }
            s => (s, "bad_request", text),
        };
        Self::new(status, code, message)
    }
}

/// Turns axum's JSON body rejections into the API's error shape (a body over the limit
/// is 413 whether it came with a length or chunked; a wrong content type 415).
impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(r: axum::extract::rejection::JsonRejection) -> Self {
        use axum::extract::rejection::JsonRejection as J;
        match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE | StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                Self::rejected(r.status(), &r.body_text())
            }
            s if s.is_server_error() => Self::rejected(s, &r.body_text()),
            _ if matches!(r, J::BytesRejection(_)) => Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                "the request body could not be read",
            ),
            _ => Self::new(StatusCode::BAD_REQUEST, "invalid_body", r.body_text()),
        }
    }
}

/// Turns axum's query string rejections into the API's error shape.
impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(r: axum::extract::rejection::QueryRejection) -> Self {
        Self::rejected(r.status(), &r.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failed_random_number_generator_is_a_500_with_a_stable_code_and_no_internal_text() {
        let resp = ApiError::from(ServiceError::Random(crate::random::RandomError)).into_response();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(resp.into_body(), 4096).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "random_unavailable");
        assert_eq!(
            v["error"]["message"],
            "internal error; quote the request id to the operator"
        );
    }
}
