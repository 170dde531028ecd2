//! Forward-auth answers, PostHog livestream tokens (claim by claim against the live
//! events service's rules) and the service's authorization callback.

use std::collections::BTreeMap;

use base64::Engine;
use latchkey::config::LivestreamLayer;
use latchkey::model::secret::Secret;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::gate::{grant, STREAM};
use crate::gate_fixture::{policy_dir, upstream};
use crate::helpers::{assert_error, spawn_app, Options};

const SECRET: &str = "livestream-only-secret";
const ORG: &str = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";

fn livestream() -> LivestreamLayer {
    LivestreamLayer {
        secret: Some(Secret::new(SECRET)),
        api_token: Some("phc_project_token".into()),
        organization_id: Some(ORG.into()),
        user_ids: Some(BTreeMap::from([("bob@example.com".to_string(), 42)])),
        token_ttl: None,
    }
}

fn payload(token: &str) -> (Value, Value) {
    let part = |i: usize| -> Value {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').nth(i).unwrap())
            .unwrap();
        serde_json::from_slice(&raw).unwrap()
    };
    (part(0), part(1))
}

#[tokio::test]
async fn forward_auth_answers_200_with_identity_headers_or_the_refusal_code() {
    let up = upstream(STREAM).await;
    let policy = policy_dir(up.addr, "");
    let app = spawn_app(Options {
        dev: true,
        policy_dir: Some(policy.path().to_path_buf()),
        ..Options::default()
    })
    .await;
    let path = format!("/v1/gate/auth/{STREAM}");
    let resp = app.get(&path, None).await;
    assert_eq!(resp.headers()["x-latchkey-error"], "unauthenticated");
    assert_error(resp, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let bob = app.dev_login("bob@example.com", &["eng", "oncall"]).await;
    let resp = app.get(&path, Some(&bob)).await;
    assert_eq!(resp.headers()["x-latchkey-error"], "no_active_grant");
    assert_error(resp, StatusCode::FORBIDDEN, "no_active_grant").await;
    let id = grant(&app, &bob, STREAM, json!({})).await;
    for p in [path.clone(), format!("{path}/events/anything")] {
        let resp = app.get(&p, Some(&bob)).await;
        assert_eq!(resp.status(), StatusCode::OK, "{p}");
        let h = resp.headers();
        assert_eq!(h["x-latchkey-user"], "dev|bob@example.com");
        assert_eq!(h["x-latchkey-email"], "bob@example.com");
        assert_eq!(h["x-latchkey-groups"], "eng,oncall");
        assert_eq!(h["x-latchkey-grant"], id.as_str());
        assert_eq!(h["x-latchkey-role"], "team:2");
        assert!(h.contains_key("x-latchkey-assertion"));
    }
    // Envoy keeps the original method and appends the original path.
    let resp = app
        .http
        .delete(format!("{}{path}/things/1", app.url))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    app.post_ok(
        &format!("/v1/requests/{id}/revoke"),
        json!({}),
        &bob,
        StatusCode::OK,
    )
    .await;
    let resp = app.get(&path, Some(&bob)).await;
    assert_eq!(resp.headers()["x-latchkey-error"], "grant_revoked");
}

#[tokio::test]
async fn a_livestream_token_meets_the_services_rules_claim_by_claim() {
    let up = upstream(STREAM).await;
    let policy = policy_dir(up.addr, "");
    let app = spawn_app(Options {
        dev: true,
        policy_dir: Some(policy.path().to_path_buf()),
        livestream: Some(livestream()),
        ..Options::default()
    })
    .await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let body = json!({"resource": STREAM});
    assert_error(
        app.post("/v1/credentials/livestream", body.clone(), Some(&bob))
            .await,
        StatusCode::FORBIDDEN,
        "no_active_grant",
    )
    .await;
    let id = grant(&app, &bob, STREAM, json!({"duration": "1h"})).await;
    let issued = app
        .post_ok(
            "/v1/credentials/livestream",
            body,
            &bob,
            StatusCode::CREATED,
        )
        .await;
    let token = issued["token"].as_str().unwrap();
    let (header, claims) = payload(token);
    assert_eq!(header["alg"], "HS256");
    // aud: exactly the string, not an array.
    assert_eq!(claims["aud"], json!("posthog:livestream"));
    // team_id: a non-zero JSON integer, from the granted role team:2.
    assert!(claims["team_id"].is_i64(), "{claims}");
    assert_eq!(claims["team_id"], 2);
    assert_eq!(claims["api_token"], "phc_project_token");
    assert!(claims["user_id"].is_i64());
    assert_eq!(claims["user_id"], 42);
    assert!(uuid::Uuid::parse_str(claims["organization_id"].as_str().unwrap()).is_ok());
    let now = chrono::Utc::now().timestamp();
    let exp = claims["exp"].as_i64().unwrap();
    assert!(
        exp > now && exp <= now + 5 * 60 + 1,
        "short exp: {exp} at {now}"
    );
    assert_eq!(
        (issued["team_id"].as_i64(), issued["grant_id"].as_str()),
        (Some(2), Some(id.as_str()))
    );
    // Signed with the service's own secret, HS256: what the service verifies.
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    v.set_audience(&["posthog:livestream"]);
    jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes()),
        &v,
    )
    .expect("the service's secret verifies it");
    // Never a broker key: the JWKS cannot verify it.
    assert!(header.get("kid").is_none());
    // The callback: 204 while the grant lives, 403 once revoked, 401 for foreign tokens.
    let authz = |t: String| {
        let http = app.http.clone();
        let url = format!("{}/v1/gate/livestream/authz", app.url);
        async move { http.get(url).bearer_auth(t).send().await.unwrap() }
    };
    assert_eq!(
        authz(token.to_string()).await.status(),
        StatusCode::NO_CONTENT
    );
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"guessed"),
    )
    .unwrap();
    assert_eq!(authz(forged).await.status(), StatusCode::UNAUTHORIZED);
    app.post_ok(
        &format!("/v1/requests/{id}/revoke"),
        json!({}),
        &bob,
        StatusCode::OK,
    )
    .await;
    let resp = authz(token.to_string()).await;
    assert_eq!(resp.headers()["x-latchkey-error"], "grant_revoked");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let kinds = app.audit_types(&id).await;
    assert!(
        kinds.contains(&"credential.issued".to_string()),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn a_livestream_upstream_receives_a_token_for_the_granted_team_not_the_callers_session() {
    let up = upstream("stream:posthog").await;
    let policy = policy_dir(
        up.addr,
        &format!("\n[[resource]]\nname = \"stream:posthog\"\nkind = \"http\"\ndescription = \"p\"\nupstream = \"http://{}\"\nupstream_auth = \"livestream\"\n\n[[resource.role]]\nname = \"team:7\"\ndefault_duration = \"1h\"\nmax_duration = \"1h\"\nauto_approve = true\n", up.addr),
    );
    let app = spawn_app(Options {
        dev: true,
        policy_dir: Some(policy.path().to_path_buf()),
        livestream: Some(livestream()),
        ..Options::default()
    })
    .await;
    up.trust(&app.url).await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    grant(&app, &bob, "stream:posthog", json!({"role": "team:7"})).await;
    let resp = app
        .get(
            "/gate/stream:posthog/events?eventType=$pageview",
            Some(&bob),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    drop(resp);
    let headers = up.seen.headers.lock().unwrap()[0].clone();
    let bearer = headers["authorization"]
        .as_str()
        .unwrap()
        .strip_prefix("Bearer ")
        .unwrap();
    assert_ne!(bearer, bob);
    let (_, claims) = payload(bearer);
    assert_eq!(
        (claims["team_id"].as_i64(), claims["aud"].as_str()),
        (Some(7), Some("posthog:livestream"))
    );
}
