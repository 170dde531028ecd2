//! Every error the API answers is JSON with a stable code and the request id, including
//! those made before a handler runs: the body limit (with a length or chunked), a
//! malformed or mistyped body, a repeated query parameter, an unknown route or method.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_error, spawn_dev_app};

/// Posts `len` bytes of JSON whitespace to `path`, chunked (no length given), with `token`;
/// returns the status, the content type and the body.
async fn post_chunked(url: &str, path: &str, token: &str, len: usize) -> (u16, String, String) {
    use http_body_util::BodyExt;
    let addr = url.trim_start_matches("http://");
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let reader = std::io::Cursor::new(vec![b' '; len]);
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(reader));
    let req = axum::http::Request::post(path)
        .header("host", addr)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(body)
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, ct, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_json_whether_it_has_a_length_or_comes_chunked() {
    let app = spawn_dev_app().await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let big = vec![b' '; (1 << 20) + 10];
    let resp = app
        .http
        .post(format!("{}/v1/requests", app.url))
        .bearer_auth(&bob)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_error(resp, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large").await;
    for path in ["/v1/requests", "/v1/audit/verify", "/v1/auth/dev-login"] {
        let (status, ct, body) = post_chunked(&app.url, path, &bob, (1 << 20) + 10).await;
        assert_eq!(
            (status, ct.as_str()),
            (413, "application/json"),
            "{path}: {body}"
        );
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"]["code"], "body_too_large", "{path}: {v}");
        assert!(v["error"]["request_id"].is_string());
    }
}

#[tokio::test]
async fn malformed_and_mistyped_bodies_get_json_errors_on_every_endpoint() {
    let app = spawn_dev_app().await;
    let root = app.dev_login("root@example.com", &["admin"]).await;
    for path in ["/v1/audit/verify", "/v1/requests", "/v1/policy/explain"] {
        let resp = app
            .http
            .post(format!("{}{path}", app.url))
            .bearer_auth(&root)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_error(resp, StatusCode::BAD_REQUEST, "invalid_body").await;
        // Well-formed JSON of the wrong shape.
        let resp = app
            .http
            .post(format!("{}{path}", app.url))
            .bearer_auth(&root)
            .json(&json!({"checkpoints": 7, "resource": [], "nope": true}))
            .send()
            .await
            .unwrap();
        assert_error(resp, StatusCode::BAD_REQUEST, "invalid_body").await;
    }
    let resp = app
        .http
        .post(format!("{}/v1/requests", app.url))
        .bearer_auth(&root)
        .header("content-type", "text/plain")
        .body(r#"{"resource":"aws:prod"}"#)
        .send()
        .await
        .unwrap();
    assert_error(
        resp,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
}

#[tokio::test]
async fn a_repeated_query_parameter_unknown_routes_and_methods_get_json_errors() {
    let app = spawn_dev_app().await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    for path in [
        "/v1/requests?view=mine&view=to_review",
        "/v1/audit/events?after=1&after=2",
    ] {
        assert_error(
            app.get(path, Some(&bob)).await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        )
        .await;
    }
    assert_error(
        app.get("/v1/nope", Some(&bob)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    for (method, path) in [
        ("DELETE", "/v1/requests"),
        ("PUT", "/healthz"),
        ("PATCH", "/v1/session"),
    ] {
        let resp = app
            .http
            .request(method.parse().unwrap(), format!("{}{path}", app.url))
            .bearer_auth(&bob)
            .send()
            .await
            .unwrap();
        assert!(resp.headers().contains_key("allow"), "{method} {path}");
        assert_error(resp, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    }
}
