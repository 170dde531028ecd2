use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{assert_error, spawn_dev_app};

#[tokio::test]
async fn healthz_and_readyz_answer_once_the_database_and_keys_are_there() {
    let app = spawn_dev_app().await;
    let resp = app.get("/healthz", None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let ready: Value = app.get("/readyz", None).await.json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["database"], "sqlite");
    assert_eq!(ready["keys"], 2, "an Ed25519 and a P-256 key");
}

#[tokio::test]
async fn readyz_fails_when_the_database_is_gone() {
    let app = spawn_dev_app().await;
    app.broker.core.store.close().await;
    assert_error(
        app.get("/readyz", None).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "not_ready",
    )
    .await;
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_a_clean_caller_id_is_kept() {
    let app = spawn_dev_app().await;
    let resp = app.get("/healthz", None).await;
    let id = resp.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let resp = app
        .http
        .get(format!("{}/healthz", app.url))
        .header("x-request-id", "trace-abc.123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "trace-abc.123");
    // Something that could forge log lines is replaced.
    let resp = app
        .http
        .get(format!("{}/healthz", app.url))
        .header("x-request-id", "a b\"c")
        .send()
        .await
        .unwrap();
    assert_ne!(resp.headers()["x-request-id"], "a b\"c");
}

#[tokio::test]
async fn unknown_paths_and_bad_bodies_get_stable_error_codes() {
    let app = spawn_dev_app().await;
    assert_error(
        app.get("/v1/nope", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let resp = app
        .http
        .post(format!("{}/v1/auth/dev-login", app.url))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_error(resp, StatusCode::BAD_REQUEST, "invalid_body").await;
    let resp = app
        .post(
            "/v1/auth/dev-login",
            serde_json::json!({"email": "a@b.c", "extra": 1}),
            None,
        )
        .await;
    assert_error(resp, StatusCode::BAD_REQUEST, "invalid_body").await;
}

#[tokio::test]
async fn metrics_are_prometheus_text_with_request_counts_by_route() {
    let app = spawn_dev_app().await;
    app.get("/healthz", None).await;
    let resp = app.get("/metrics", None).await;
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = resp.text().await.unwrap();
    assert!(
        text.contains(
            "latchkey_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains("# TYPE latchkey_http_request_duration_seconds histogram"));
    assert!(text.contains("latchkey_build_info{"));
    // Every sample line is `name{labels} value` or `name value`.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "bad sample line {line:?}");
    }
}

#[tokio::test]
async fn the_jwks_publishes_the_signing_key() {
    let app = spawn_dev_app().await;
    let jwks: Value = app
        .get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(
        (
            keys[0]["kty"].as_str(),
            keys[0]["crv"].as_str(),
            keys[0]["alg"].as_str()
        ),
        (Some("OKP"), Some("Ed25519"), Some("EdDSA"))
    );
    assert_eq!(
        (
            keys[1]["kty"].as_str(),
            keys[1]["crv"].as_str(),
            keys[1]["alg"].as_str()
        ),
        (Some("EC"), Some("P-256"), Some("ES256"))
    );
    for k in keys {
        assert!(k.get("d").is_none(), "never the private part");
        assert!(k["kid"].is_string());
    }
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_request_finish() {
    let idp = crate::idp::TestIdp::start().await;
    let app = crate::helpers::spawn_app(crate::helpers::Options {
        oidc: Some((idp.issuer.clone(), idp.client_id.clone())),
        ..Default::default()
    })
    .await;
    // The provider's keys arrive slowly, so the login is in flight when the signal comes.
    idp.set_jwks_delay(std::time::Duration::from_millis(1500));
    let token = idp.token("alice");
    let url = app.url.clone();
    let login = tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!("{url}/v1/auth/login"))
            .json(&serde_json::json!({"id_token": token}))
            .send()
            .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let url = app.url.clone();
    app.stop().await.unwrap();
    let resp = login.await.unwrap().unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert!(
        reqwest::get(format!("{url}/healthz")).await.is_err(),
        "no longer listening"
    );
}
