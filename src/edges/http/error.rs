//! The one API error type. Every status is chosen here, from a refusal's [`Class`] (or,
//! for an answer made before a handler, from axum's own); the body ([`ErrorBody`])
//! carries a stable `code` and the request id, and a 5xx never echoes internal text.
//! In the OpenAPI document every error status refers to one shared response, `Error`
//! ([`ApiError`]'s `ToResponse`), whose schema is [`ErrorBody`].

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};

use crate::app::ServiceError;
use crate::model::error_chain::error_chain;
use crate::model::policy::decide::Decision;
use crate::model::refusal::Class;
use crate::model::wire::RequestCandidate;

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
    decision: Option<Box<Decision>>,
    candidates: Option<Vec<RequestCandidate>>,
}

/// The body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// What went wrong.
    #[schema(inline)]
    pub error: ErrorDetail,
}

/// An error's stable code, its words and the request id.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable: clients and runbooks match on it.
    pub code: &'static str,
    /// In words; a 5xx never carries internal text.
    pub message: String,
    /// The request's `x-request-id`, to quote to an operator.
    pub request_id: String,
    /// A refusal by the policy: its decision, with the explanation and a hint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Box<Decision>>,
    /// An ambiguous request id (`ambiguous_request_id`): the requests it could mean.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidates: Option<Vec<RequestCandidate>>,
}

/// The HTTP status of a refusal class: the one place a class becomes a status.
pub fn status_of(class: Class) -> StatusCode {
    match class {
        Class::Unauthenticated => StatusCode::UNAUTHORIZED,
        Class::Forbidden => StatusCode::FORBIDDEN,
        Class::NotFound => StatusCode::NOT_FOUND,
        Class::Conflict => StatusCode::CONFLICT,
        Class::Invalid => StatusCode::BAD_REQUEST,
        Class::TooMany => StatusCode::TOO_MANY_REQUESTS,
        Class::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Class::UpstreamFailed => StatusCode::BAD_GATEWAY,
        Class::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
        Class::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The class an answer's status says, for a client of the API (the CLI); `None` for a
/// status no refusal class answers.
pub fn class_of(status: u16) -> Option<Class> {
    [
        Class::Unauthenticated,
        Class::Forbidden,
        Class::NotFound,
        Class::Conflict,
        Class::Invalid,
        Class::TooMany,
        Class::Unavailable,
        Class::UpstreamFailed,
        Class::UpstreamTimeout,
        Class::Internal,
    ]
    .into_iter()
    .find(|c| status_of(*c).as_u16() == status)
}

impl ApiError {
    /// A refusal of `class` with its stable code and message.
    pub fn new(class: Class, code: &'static str, message: impl Into<String>) -> Self {
        Self::with_status(status_of(class), code, message)
    }

    /// An answer whose status axum chose (see [`ApiError::rejected`]).
    fn with_status(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            decision: None,
            candidates: None,
        }
    }

    /// 401 without credentials.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(Class::Unauthenticated, "unauthenticated", message)
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        use ServiceError as E;
        let (class, code) = e.refusal();
        if let E::Aws(a) = &e {
            tracing::warn!(error = %a, "AWS STS failed");
        }
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
            return Self::new(class, code, message);
        }
        if class == Class::UpstreamFailed {
            tracing::warn!(error = %e, "identity provider unavailable");
        }
        let mut err = Self::new(class, code, e.to_string());
        match e {
            E::Refused(d) => err.decision = Some(d),
            E::AmbiguousRequestId { candidates, .. } => err.candidates = Some(candidates),
            _ => {}
        }
        err
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                request_id: current_request_id(),
                decision: self.decision,
                candidates: self.candidates,
            },
        };
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
        Self::with_status(status, code, message)
    }
}

/// The one error response of the OpenAPI document, `components/responses/Error`.
impl<'r> utoipa::ToResponse<'r> for ApiError {
    fn response() -> (&'r str, RefOr<utoipa::openapi::Response>) {
        let json = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Error")))
            .build();
        let response = ResponseBuilder::new()
            .description("Error with a stable code")
            .content("application/json", json)
            .build();
        ("Error", response.into())
    }
}

/// The statuses an operation behind a session may refuse with, whatever it does: the
/// body or a parameter is invalid (400), the session is not valid (401), the caller may
/// not (403), what it names does not exist (404), or it conflicts with the state (409).
pub struct SessionRefusals;

impl utoipa::IntoResponses for SessionRefusals {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        refusals(&[400, 401, 403, 404, 409])
    }
}

/// Each of `statuses` answered with the shared `Error` response.
fn refusals(statuses: &[u16]) -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
    statuses
        .iter()
        .map(|s| (s.to_string(), Ref::from_response_name("Error").into()))
        .collect()
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
                Class::Invalid,
                "invalid_body",
                "the request body could not be read",
            ),
            _ => Self::new(Class::Invalid, "invalid_body", r.body_text()),
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
        let resp =
            ApiError::from(ServiceError::Random(crate::model::random::RandomError)).into_response();
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
