//! Session tokens: logout, locks, the development login's limits, key rotation.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, spawn_dev_app, Options};
use crate::idp::TestIdp;

#[tokio::test]
async fn the_dev_login_is_refused_by_a_server_not_in_dev_mode() {
    let idp = TestIdp::start().await;
    let app = spawn_app(Options {
        oidc: Some((idp.issuer.clone(), idp.client_id.clone())),
        ..Options::default()
    })
    .await;
    let resp = app
        .post(
            "/v1/auth/dev-login",
            json!({"email": "alice@example.com", "groups": ["admin"]}),
            None,
        )
        .await;
    assert_error(resp, StatusCode::FORBIDDEN, "dev_login_disabled").await;
    let config: Value = app.get("/v1/auth/config", None).await.json().await.unwrap();
    assert_eq!(config["dev_login"], false);
    assert_eq!(config["issuer"], idp.issuer);
}

#[tokio::test]
async fn a_dev_session_is_marked_as_such() {
    let app = spawn_dev_app().await;
    let token = app.dev_login("Alice@Example.com", &["eng", "sre"]).await;
    let me: Value = app
        .get("/v1/session", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["dev"], true);
    assert_eq!(me["email"], "alice@example.com");
    assert_eq!(me["groups"], json!(["eng", "sre"]));
    assert_eq!(me["admin"], false);
}

#[tokio::test]
async fn a_logged_out_session_is_refused() {
    let app = spawn_dev_app().await;
    let token = app.dev_login("alice@example.com", &[]).await;
    assert_eq!(
        app.post("/v1/auth/logout", json!({}), Some(&token))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_error(
        app.get("/v1/session", Some(&token)).await,
        StatusCode::UNAUTHORIZED,
        "session_revoked",
    )
    .await;
    assert_error(
        app.post("/v1/auth/logout", json!({}), Some(&token)).await,
        StatusCode::UNAUTHORIZED,
        "session_revoked",
    )
    .await;
}

#[tokio::test]
async fn a_locked_user_loses_every_session_and_cannot_log_in_again() {
    let idp = TestIdp::start().await;
    let app = spawn_app(Options {
        dev: true,
        oidc: Some((idp.issuer.clone(), idp.client_id.clone())),
        ..Options::default()
    })
    .await;
    let admin = app.dev_login("root@example.com", &["admin"]).await;
    let bob: Value = app
        .login(&idp.token("bob"), None)
        .await
        .json()
        .await
        .unwrap();
    let bob_token = bob["token"].as_str().unwrap();
    let bob2: Value = app
        .login(&idp.token("bob"), None)
        .await
        .json()
        .await
        .unwrap();
    let resp = app
        .post(
            "/v1/admin/locks",
            json!({"user": "BOB@example.com", "reason": "laptop stolen"}),
            Some(&admin),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let lock: Value = resp.json().await.unwrap();
    assert_eq!(lock["sessions_ended"], 2);
    assert_error(
        app.get("/v1/session", Some(bob_token)).await,
        StatusCode::FORBIDDEN,
        "user_locked",
    )
    .await;
    assert_error(
        app.get("/v1/session", bob2["token"].as_str()).await,
        StatusCode::FORBIDDEN,
        "user_locked",
    )
    .await;
    assert_error(
        app.login(&idp.token("bob"), None).await,
        StatusCode::FORBIDDEN,
        "user_locked",
    )
    .await;
    // Unlocked, a new login works; the old sessions stay ended.
    let resp = app
        .http
        .delete(format!("{}/v1/admin/locks/bob@example.com", app.url))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.get("/v1/session", Some(bob_token)).await,
        StatusCode::UNAUTHORIZED,
        "session_revoked",
    )
    .await;
    assert_eq!(
        app.login(&idp.token("bob"), None).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn a_lock_can_come_before_the_first_login() {
    let app = spawn_dev_app().await;
    let admin = app.dev_login("root@example.com", &["admin"]).await;
    app.post(
        "/v1/admin/locks",
        json!({"user": "eve@example.com"}),
        Some(&admin),
    )
    .await;
    let resp = app
        .post(
            "/v1/auth/dev-login",
            json!({"email": "eve@example.com"}),
            None,
        )
        .await;
    assert_error(resp, StatusCode::FORBIDDEN, "user_locked").await;
}

#[tokio::test]
async fn only_administrators_lock_users_or_rotate_keys() {
    let app = spawn_dev_app().await;
    let alice = app.dev_login("alice@example.com", &["eng"]).await;
    assert_error(
        app.post(
            "/v1/admin/locks",
            json!({"user": "bob@example.com"}),
            Some(&alice),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_error(
        app.post("/v1/admin/keys/rotate", json!({}), Some(&alice))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_error(
        app.post("/v1/admin/locks", json!({"user": "bob@example.com"}), None)
            .await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
}

#[tokio::test]
async fn forged_and_foreign_session_tokens_are_refused() {
    let app = spawn_dev_app().await;
    let other = spawn_dev_app().await;
    let foreign = other.dev_login("alice@example.com", &["admin"]).await;
    assert_error(
        app.get("/v1/session", Some(&foreign)).await,
        StatusCode::UNAUTHORIZED,
        "invalid_session_token",
    )
    .await;
    let resp = app
        .http
        .get(format!("{}/v1/session", app.url))
        .header("authorization", "Basic YTpi")
        .send()
        .await
        .unwrap();
    assert_error(resp, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert_error(
        app.get("/v1/session", Some("a.b.c")).await,
        StatusCode::UNAUTHORIZED,
        "invalid_session_token",
    )
    .await;
}

#[tokio::test]
async fn a_session_past_its_lifetime_is_refused() {
    let app = spawn_app(Options {
        dev: true,
        session_lifetime: Some("1m".into()),
        ..Options::default()
    })
    .await;
    let token = app.dev_login("alice@example.com", &[]).await;
    let now = chrono::Utc::now();
    let later = now + chrono::Duration::seconds(61);
    let err = app
        .broker
        .sessions
        .authenticate(&token, later)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the session has expired; run `latchkey login`"
    );
    assert!(app.broker.sessions.authenticate(&token, now).await.is_ok());
}

#[tokio::test]
async fn key_rotation_keeps_old_sessions_valid_and_publishes_both_keys() {
    let app = spawn_dev_app().await;
    let admin = app.dev_login("root@example.com", &["admin"]).await;
    let old_kid = app.broker.admin.keyring().active().0;
    let keys: Value = app
        .post("/v1/admin/keys/rotate", json!({}), Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        keys.as_array().unwrap().len(),
        4,
        "old and new, Ed25519 and P-256"
    );
    let new_kid = app.broker.admin.keyring().active().0;
    assert_ne!(old_kid, new_kid);
    let jwks: Value = app
        .get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()));
    // The session signed by the old key still works, and new sessions use the new key.
    assert_eq!(
        app.get("/v1/session", Some(&admin)).await.status(),
        StatusCode::OK
    );
    let fresh = app.dev_login("alice@example.com", &[]).await;
    let header = jsonwebtoken::decode_header(&fresh).unwrap();
    assert_eq!(header.kid.as_deref(), Some(new_kid.as_str()));
    // Once the old key's retirement time passes, its tokens are refused.
    let after = chrono::Utc::now() + chrono::Duration::hours(9);
    assert!(app
        .broker
        .admin
        .keyring()
        .decoding_key(&old_kid, after)
        .is_none());
    assert!(app
        .broker
        .sessions
        .authenticate(&admin, after)
        .await
        .is_err());
}
