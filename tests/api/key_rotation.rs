//! Key rotation keeps every key trusted as long as what it signed, and never leaves the
//! broker without an active key.

use jsonwebtoken::jwk::JwkSet;
use latchkey::adapters::providers::token::verify_offline;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{spawn_app, Options};

const METRICS_AUD: &str = "https://metrics.internal.example.com";

#[tokio::test]
async fn a_broker_token_signed_before_rotation_verifies_until_its_exp_with_a_short_session_lifetime(
) {
    let app = spawn_app(Options {
        dev: true,
        session_lifetime: Some("1m".into()),
        ..Options::default()
    })
    .await;
    let admin = app.dev_login("root@example.com", &["admin"]).await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    app.post_ok(
        "/v1/requests",
        json!({"resource": "token:metrics-api", "role": "read"}),
        &bob,
        StatusCode::CREATED,
    )
    .await;
    let t = app
        .post_ok(
            "/v1/credentials/token",
            json!({"resource": "token:metrics-api", "ttl": "1h"}),
            &bob,
            StatusCode::CREATED,
        )
        .await;
    let old = t["token"].as_str().unwrap().to_string();
    let kid = jsonwebtoken::decode_header(&old).unwrap().kid.unwrap();
    let claims = verify_offline(
        &serde_json::from_value(app.broker.admin.keyring().jwks(chrono::Utc::now())).unwrap(),
        &app.url,
        METRICS_AUD,
        &old,
    )
    .unwrap();
    assert!(claims.exp - claims.iat >= 3500, "a token of about an hour");
    app.post_ok("/v1/admin/keys/rotate", json!({}), &admin, StatusCode::OK)
        .await;
    // A second before the token's end (and past the verifier's leeway), the old key is
    // still published and trusted: the session lifetime (one minute) does not bound it.
    for at in [claims.exp - 1, claims.exp + 30] {
        let when = chrono::DateTime::from_timestamp(at, 0).unwrap();
        let published: JwkSet =
            serde_json::from_value(app.broker.admin.keyring().jwks(when)).unwrap();
        assert!(
            published.find(&kid).is_some(),
            "the key that signed the token is gone {}s before its exp",
            claims.exp - at
        );
        assert!(app
            .broker
            .admin
            .keyring()
            .decoding_key(&kid, when)
            .is_some());
    }
}

// Several worker threads: on the single-threaded test runtime a rotation (synchronous
// inside its handler) could never interleave with a signing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signing_never_fails_while_keys_rotate() {
    let app = spawn_app(Options {
        dev: true,
        ..Options::default()
    })
    .await;
    let admin = app.dev_login("root@example.com", &["admin"]).await;
    // Logins sign session tokens; three streams of them run while the keys are rotated
    // again and again (60 logins stay under the per-address limit on anonymous calls).
    let signers: Vec<_> = (0..3)
        .map(|n| {
            let url = app.url.clone();
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut statuses = Vec::new();
                for i in 0..20 {
                    let resp = http
                        .post(format!("{url}/v1/auth/dev-login"))
                        .json(&json!({"email": format!("u{n}-{i}@example.com"), "groups": ["eng"]}))
                        .send()
                        .await
                        .unwrap();
                    statuses.push(resp.status());
                }
                statuses
            })
        })
        .collect();
    // Rotations run back to back until every login is done.
    let mut rotations = 0;
    while !signers.iter().all(|s| s.is_finished()) {
        app.post_ok("/v1/admin/keys/rotate", json!({}), &admin, StatusCode::OK)
            .await;
        rotations += 1;
    }
    assert!(rotations > 0);
    let mut statuses = Vec::new();
    for s in signers {
        statuses.extend(s.await.unwrap());
    }
    assert!(
        statuses.iter().all(|s| *s == StatusCode::CREATED),
        "{statuses:?}"
    );
}
