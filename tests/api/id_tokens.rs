//! Every way an ID token must be refused, each with its stable code.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, Options, TestApp};
use crate::idp::{TestIdp, TestKey};

async fn setup() -> (TestIdp, TestApp) {
    let idp = TestIdp::start().await;
    let app = spawn_app(Options {
        oidc: Some((idp.issuer.clone(), idp.client_id.clone())),
        ..Options::default()
    })
    .await;
    (idp, app)
}

async fn refused_with(app: &TestApp, token: &str, code: &str) {
    assert_error(app.login(token, None).await, StatusCode::UNAUTHORIZED, code).await;
}

#[tokio::test]
async fn a_valid_id_token_becomes_a_session_with_the_providers_groups() {
    let (idp, app) = setup().await;
    let resp = app.login(&idp.token("alice"), None).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let session: Value = resp.json().await.unwrap();
    assert_eq!(session["email"], "alice@example.com");
    assert_eq!(session["dev"], false);
    let me: Value = app
        .get("/v1/session", session["token"].as_str())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["groups"], json!(["eng", "sre"]));
    assert_eq!(me["user_id"], format!("{}|alice", idp.issuer));
}

#[tokio::test]
async fn wrong_audience_is_refused() {
    let (idp, app) = setup().await;
    let mut c = idp.claims("alice");
    c["aud"] = json!("another-client");
    refused_with(&app, &idp.key().sign(&c), "id_token_wrong_audience").await;
    // Several audiences including ours, but authorised for another party.
    c["aud"] = json!([idp.client_id, "another-client"]);
    c["azp"] = json!("another-client");
    refused_with(&app, &idp.key().sign(&c), "id_token_wrong_audience").await;
}

#[tokio::test]
async fn wrong_issuer_is_refused() {
    let (idp, app) = setup().await;
    let mut c = idp.claims("alice");
    c["iss"] = json!(format!("{}/", idp.issuer));
    refused_with(&app, &idp.key().sign(&c), "id_token_wrong_issuer").await;
}

#[tokio::test]
async fn expired_is_refused_beyond_the_clock_skew() {
    let (idp, app) = setup().await;
    let now = chrono::Utc::now().timestamp();
    let mut c = idp.claims("alice");
    c["iat"] = json!(now - 900);
    c["exp"] = json!(now - 120);
    refused_with(&app, &idp.key().sign(&c), "id_token_expired").await;
    // Within the default 60 s skew it still counts.
    c["exp"] = json!(now - 10);
    assert_eq!(
        app.login(&idp.key().sign(&c), None).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn not_yet_valid_and_issued_in_the_future_are_refused() {
    let (idp, app) = setup().await;
    let now = chrono::Utc::now().timestamp();
    let mut c = idp.claims("alice");
    c["nbf"] = json!(now + 300);
    refused_with(&app, &idp.key().sign(&c), "id_token_not_yet_valid").await;
    let mut c = idp.claims("alice");
    c["iat"] = json!(now + 300);
    refused_with(&app, &idp.key().sign(&c), "id_token_issued_in_future").await;
}

#[tokio::test]
async fn a_tampered_signature_or_payload_is_refused() {
    let (idp, app) = setup().await;
    let token = idp.token("alice");
    let parts: Vec<&str> = token.split('.').collect();
    let mut c = idp.claims("alice");
    c["groups"] = json!(["admin"]);
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(c.to_string()),
        parts[2]
    );
    refused_with(&app, &forged, "id_token_bad_signature").await;
    let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    sig[5] ^= 0x01;
    let flipped = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(sig));
    refused_with(&app, &flipped, "id_token_bad_signature").await;
    refused_with(&app, "not-a-jwt", "id_token_malformed").await;
}

#[tokio::test]
async fn a_key_the_provider_does_not_publish_is_refused() {
    let (idp, app) = setup().await;
    let stranger = TestKey::generate("key-1-lookalike");
    refused_with(
        &app,
        &stranger.sign(&idp.claims("alice")),
        "id_token_unknown_key",
    )
    .await;
    // Same kid as the real key, different key material: the signature fails.
    let impostor = TestKey::generate(&idp.key().kid);
    refused_with(
        &app,
        &impostor.sign(&idp.claims("alice")),
        "id_token_bad_signature",
    )
    .await;
}

#[tokio::test]
async fn a_rotated_provider_key_is_fetched_on_first_sight_of_its_kid() {
    let (idp, app) = setup().await;
    assert_eq!(
        app.login(&idp.token("alice"), None).await.status(),
        StatusCode::CREATED
    );
    let new = idp.rotate("key-2");
    // An unknown kid refetches at most once per jwks_min_refresh (1 s in tests).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        app.login(&new.sign(&idp.claims("bob")), None)
            .await
            .status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn alg_none_is_refused() {
    let (idp, app) = setup().await;
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(idp.claims("alice").to_string());
    refused_with(
        &app,
        &format!("{header}.{payload}."),
        "id_token_algorithm_not_allowed",
    )
    .await;
}

#[tokio::test]
async fn hs256_signed_with_the_providers_public_key_is_refused() {
    let (idp, app) = setup().await;
    let key = idp.key();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(key.kid.clone());
    // The classic confusion: the public key (as published) used as an HMAC secret.
    for secret in [
        key.jwk.to_string(),
        key.jwk["x"].as_str().unwrap().to_string(),
    ] {
        let token = jsonwebtoken::encode(
            &header,
            &idp.claims("alice"),
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap();
        refused_with(&app, &token, "id_token_algorithm_not_allowed").await;
    }
}

#[tokio::test]
async fn an_id_token_logs_in_once() {
    let (idp, app) = setup().await;
    let token = idp.token("alice");
    assert_eq!(app.login(&token, None).await.status(), StatusCode::CREATED);
    refused_with(&app, &token, "id_token_replayed").await;
}

#[tokio::test]
async fn the_browser_flow_nonce_must_match_and_is_single_use() {
    let (idp, app) = setup().await;
    let begin = |app: &TestApp| {
        let app_url = app.url.clone();
        async move {
            let v: Value = reqwest::Client::new()
                .post(format!("{app_url}/v1/auth/browser"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (
                v["login_id"].as_str().unwrap().to_string(),
                v["nonce"].as_str().unwrap().to_string(),
            )
        }
    };
    // Wrong nonce.
    let (login_id, _nonce) = begin(&app).await;
    let mut c = idp.claims("alice");
    c["nonce"] = json!("some-other-nonce");
    assert_error(
        app.login(&idp.key().sign(&c), Some(&login_id)).await,
        StatusCode::UNAUTHORIZED,
        "id_token_nonce_mismatch",
    )
    .await;
    // The attempt was consumed by the failure: replaying it with a good token fails too.
    let (login_id2, nonce2) = begin(&app).await;
    let mut good = idp.claims("alice");
    good["nonce"] = json!(nonce2);
    let good_token = idp.key().sign(&good);
    assert_error(
        app.login(&good_token, Some(&login_id)).await,
        StatusCode::UNAUTHORIZED,
        "login_attempt_invalid",
    )
    .await;
    // A token minted for a browser login cannot be slipped in as a device login.
    assert_error(
        app.login(&good_token, None).await,
        StatusCode::UNAUTHORIZED,
        "id_token_nonce_mismatch",
    )
    .await;
    // A missing nonce in a browser login.
    let (login_id3, _) = begin(&app).await;
    assert_error(
        app.login(&idp.token("alice"), Some(&login_id3)).await,
        StatusCode::UNAUTHORIZED,
        "id_token_nonce_mismatch",
    )
    .await;
    // The right nonce with its own attempt works, once.
    assert_eq!(
        app.login(&good_token, Some(&login_id2)).await.status(),
        StatusCode::CREATED
    );
    assert_error(
        app.login(&good_token, Some(&login_id2)).await,
        StatusCode::UNAUTHORIZED,
        "login_attempt_invalid",
    )
    .await;
}

#[tokio::test]
async fn an_unverified_email_is_not_taken_as_the_users_email() {
    let (idp, app) = setup().await;
    let mut c = idp.claims("mallory");
    c["email"] = json!("ceo@example.com");
    c["email_verified"] = json!(false);
    let session: Value = app
        .login(&idp.key().sign(&c), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(session["email"], Value::Null);
}

#[tokio::test]
async fn the_provider_being_down_is_a_502_not_a_hang() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let app = spawn_app(Options {
        oidc: Some((dead, "latchkey-cli".into())),
        ..Options::default()
    })
    .await;
    let idp = TestIdp::start().await;
    assert_error(
        app.login(&idp.token("alice"), None).await,
        StatusCode::BAD_GATEWAY,
        "identity_provider_unavailable",
    )
    .await;
}
