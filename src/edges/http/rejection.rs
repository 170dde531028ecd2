//! Answers made before (or instead of) a handler, in the API's error shape: axum's
//! extractor rejections that a handler did not map itself (a query string, a path, an
//! optional JSON body), the body limit's 413, an unknown method's 405 and the timeout's
//! 408. One layer rewrites them all, so no route can answer `text/plain` (or an empty
//! body) with an error; the status and code are chosen by [`ApiError::rejected`].

use axum::extract::Request;
use axum::http::header::{ALLOW, CONTENT_TYPE};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::edges::http::error::ApiError;

/// How much of a rejection's text is read for the message (axum's are one line).
const TEXT_MAX: usize = 2048;

/// Whether an answer is already the API's JSON.
fn is_json(resp: &Response) -> bool {
    resp.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// Middleware: an error answer that is not JSON becomes the API's error.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&resp) {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = match axum::body::to_bytes(body, TEXT_MAX).await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(_) => String::new(),
    };
    let mut out = ApiError::rejected(status, &text).into_response();
    // A 405 says which methods the endpoint answers.
    if let Some(allow) = parts.headers.get(ALLOW) {
        out.headers_mut().insert(ALLOW, allow.clone());
    }
    out
}

/// For tests: runs `resp` through the rewrite as the layer would.
#[cfg(test)]
async fn rewrite(resp: Response) -> Response {
    let resp = std::sync::Arc::new(std::sync::Mutex::new(Some(resp)));
    let svc = axum::Router::new()
        .fallback(move || {
            let resp = resp.clone();
            async move { resp.lock().unwrap().take().unwrap() }
        })
        .layer(axum::middleware::from_fn(json_errors));
    tower::ServiceExt::oneshot(svc, Request::new(axum::body::Body::empty()))
        .await
        .unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use http_body_util::BodyExt;

    async fn body_of(resp: Response) -> serde_json::Value {
        let b = resp.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&b).unwrap()
    }

    #[tokio::test]
    async fn plain_text_and_empty_errors_become_json_with_a_code_and_json_is_left_alone() {
        for (status, text, want_status, code) in [
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                "length limit exceeded",
                413,
                "body_too_large",
            ),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Failed to deserialize the JSON body into the target type: x",
                400,
                "invalid_body",
            ),
            (
                StatusCode::BAD_REQUEST,
                "Failed to parse the request body as JSON: y",
                400,
                "invalid_body",
            ),
            (
                StatusCode::BAD_REQUEST,
                "Failed to deserialize query string: duplicate field `state`",
                400,
                "bad_request",
            ),
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Expected request with `Content-Type: application/json`",
                415,
                "unsupported_media_type",
            ),
            (
                StatusCode::METHOD_NOT_ALLOWED,
                "",
                405,
                "method_not_allowed",
            ),
            (StatusCode::REQUEST_TIMEOUT, "", 408, "request_timeout"),
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Missing request extension: secret detail",
                500,
                "internal",
            ),
        ] {
            let mut resp = (status, text.to_string()).into_response();
            resp.headers_mut()
                .insert(ALLOW, "GET,HEAD".parse().unwrap());
            let out = rewrite(resp).await;
            assert_eq!(out.status().as_u16(), want_status, "{text}");
            assert!(is_json(&out));
            assert_eq!(out.headers()[ALLOW], "GET,HEAD");
            let v = body_of(out).await;
            assert_eq!(v["error"]["code"], code, "{v}");
            assert!(v["error"]["request_id"].is_string());
            assert!(
                !v.to_string().contains("secret detail"),
                "a 5xx never echoes: {v}"
            );
        }
        let json =
            ApiError::new(crate::model::refusal::Class::Conflict, "conflict", "x").into_response();
        let out = rewrite(json).await;
        assert_eq!(body_of(out).await["error"]["code"], "conflict");
        let fine = rewrite((StatusCode::OK, "ok").into_response()).await;
        assert_eq!(fine.into_body().collect().await.unwrap().to_bytes(), "ok");
    }
}
