//! Broker tokens: issued only inside an active grant, verified offline against the JWKS.

use jsonwebtoken::jwk::JwkSet;
use latchkey::adapters::providers::token::{verify_offline, VerifyError};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_dev_app, TestApp};

const METRICS_AUD: &str = "https://metrics.internal.example.com";

async fn jwks(app: &TestApp) -> JwkSet {
    app.get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap()
}

async fn grant(app: &TestApp, token: &str, body: Value) -> String {
    app.post_ok("/v1/requests", body, token, StatusCode::CREATED)
        .await["request"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_token_inside_a_grant_verifies_offline_and_carries_the_grant() {
    let app = spawn_dev_app().await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let id = grant(
        &app,
        &bob,
        json!({"resource": "token:metrics-api", "role": "read"}),
    )
    .await;
    let t = app
        .post_ok(
            "/v1/credentials/token",
            json!({"resource": "token:metrics-api", "ttl": "10m"}),
            &bob,
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(
        (t["algorithm"].as_str(), t["grant_id"].as_str()),
        (Some("EdDSA"), Some(id.as_str()))
    );
    let token = t["token"].as_str().unwrap();
    let claims = verify_offline(&jwks(&app).await, &app.url, METRICS_AUD, token).unwrap();
    assert_eq!(
        (
            claims.grant.as_str(),
            claims.role.as_str(),
            claims.sub.as_str()
        ),
        (id.as_str(), "read", "dev|bob@example.com")
    );
    assert_eq!(claims.exp - claims.iat, 600);
    // The wrong audience, another issuer, a tampered payload: refused.
    assert!(matches!(
        verify_offline(
            &jwks(&app).await,
            &app.url,
            "https://billing.internal",
            token
        ),
        Err(VerifyError::Invalid(_))
    ));
    assert!(matches!(
        verify_offline(&jwks(&app).await, "https://evil", METRICS_AUD, token),
        Err(VerifyError::Invalid(_))
    ));
    let parts: Vec<&str> = token.split('.').collect();
    let forged_claims = json!({"iss": app.url, "sub": "dev|root@example.com", "aud": METRICS_AUD, "exp": claims.exp, "nbf": claims.nbf, "iat": claims.iat, "jti": "x", "grant": id, "resource": "token:metrics-api", "role": "admin"});
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            forged_claims.to_string()
        ),
        parts[2]
    );
    assert!(verify_offline(&jwks(&app).await, &app.url, METRICS_AUD, &forged).is_err());
    // The issuance is audited by fingerprint, never the token.
    let events = app.audit_types(&id).await;
    assert_eq!(events.last().map(String::as_str), Some("credential.issued"));
    let mut tx = app.broker.core.store.begin_read().await.unwrap();
    let all = serde_json::to_string(&tx.audit_events(Some(&id), 0, 100).await.unwrap()).unwrap();
    tx.commit().await.unwrap();
    assert!(!all.contains(token) && all.contains("fingerprint"));
}

#[tokio::test]
async fn es256_tokens_for_verifiers_without_eddsa() {
    let app = spawn_dev_app().await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let carol = app.dev_login("carol@example.com", &["sre"]).await;
    let id = grant(&app, &bob, json!({"resource": "token:billing-api", "role": "read", "reason": "invoice dispute", "duration": "30m"})).await;
    app.post_ok(
        &format!("/v1/requests/{id}/approve"),
        json!({}),
        &carol,
        StatusCode::OK,
    )
    .await;
    let active = app
        .post_ok(
            &format!("/v1/requests/{id}/activate"),
            json!({}),
            &bob,
            StatusCode::OK,
        )
        .await;
    // Asking for longer than the grant has left: the token ends with the grant.
    let t = app
        .post_ok(
            "/v1/credentials/token",
            json!({"resource": "token:billing-api", "ttl": "1h"}),
            &bob,
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(t["algorithm"], "ES256");
    assert_eq!(
        t["expires_at"].as_str().map(|s| &s[..19]),
        active["expires_at"].as_str().map(|s| &s[..19])
    );
    let token = t["token"].as_str().unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(token).unwrap().alg,
        jsonwebtoken::Algorithm::ES256
    );
    let claims = verify_offline(&jwks(&app).await, &app.url, "token:billing-api", token).unwrap();
    assert_eq!(claims.grant, id);
}

#[tokio::test]
async fn no_grant_an_expired_grant_or_a_revoked_grant_issues_nothing_and_says_what_to_do() {
    let app = spawn_dev_app().await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let ask = json!({"resource": "token:metrics-api"});
    let body = assert_error(
        app.post("/v1/credentials/token", ask.clone(), Some(&bob))
            .await,
        StatusCode::FORBIDDEN,
        "no_active_grant",
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("latchkey request token:metrics-api --role read"),
        "{body}"
    );
    let id = grant(
        &app,
        &bob,
        json!({"resource": "token:metrics-api", "role": "read"}),
    )
    .await;
    app.post_ok(
        &format!("/v1/requests/{id}/revoke"),
        json!({}),
        &bob,
        StatusCode::OK,
    )
    .await;
    assert_error(
        app.post("/v1/credentials/token", ask.clone(), Some(&bob))
            .await,
        StatusCode::FORBIDDEN,
        "no_active_grant",
    )
    .await;
    grant(
        &app,
        &bob,
        json!({"resource": "token:metrics-api", "role": "read"}),
    )
    .await;
    app.broker
        .access
        .sweep(chrono::Utc::now() + chrono::Duration::hours(9))
        .await
        .unwrap();
    assert_error(
        app.post("/v1/credentials/token", ask.clone(), Some(&bob))
            .await,
        StatusCode::FORBIDDEN,
        "no_active_grant",
    )
    .await;
    // Someone else's grant is not yours.
    let dave = app.dev_login("dave@example.com", &["eng"]).await;
    grant(
        &app,
        &dave,
        json!({"resource": "token:metrics-api", "role": "read"}),
    )
    .await;
    assert_error(
        app.post("/v1/credentials/token", ask, Some(&bob)).await,
        StatusCode::FORBIDDEN,
        "no_active_grant",
    )
    .await;
    // Another provider's resource.
    assert_error(
        app.post(
            "/v1/credentials/token",
            json!({"resource": "aws:staging"}),
            Some(&bob),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
}

#[tokio::test]
async fn after_rotation_old_tokens_verify_until_their_key_is_retired() {
    let app = spawn_dev_app().await;
    let admin = app.dev_login("root@example.com", &["admin"]).await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    grant(
        &app,
        &bob,
        json!({"resource": "token:metrics-api", "role": "read"}),
    )
    .await;
    let old = app
        .post_ok(
            "/v1/credentials/token",
            json!({"resource": "token:metrics-api"}),
            &bob,
            StatusCode::CREATED,
        )
        .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    app.post_ok("/v1/admin/keys/rotate", json!({}), &admin, StatusCode::OK)
        .await;
    let new = app
        .post_ok(
            "/v1/credentials/token",
            json!({"resource": "token:metrics-api"}),
            &bob,
            StatusCode::CREATED,
        )
        .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(
        jsonwebtoken::decode_header(&old).unwrap().kid,
        jsonwebtoken::decode_header(&new).unwrap().kid
    );
    let published = jwks(&app).await;
    verify_offline(&published, &app.url, METRICS_AUD, &old)
        .expect("the old key is still published");
    verify_offline(&published, &app.url, METRICS_AUD, &new).unwrap();
    // Once the old key's time is up, the JWKS no longer has it and its tokens fail.
    let later: JwkSet = serde_json::from_value(
        app.broker
            .admin
            .keyring()
            .jwks(chrono::Utc::now() + chrono::Duration::hours(9)),
    )
    .unwrap();
    assert_eq!(
        verify_offline(&later, &app.url, METRICS_AUD, &old),
        Err(VerifyError::UnknownKey)
    );
}
