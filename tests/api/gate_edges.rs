//! The gate's edges, as an attacker probes them: identity headers of other proxies sent
//! by a caller, paths that an upstream would decode into a parent segment, group names
//! that would split in a comma-separated header, a remembered admission outliving its
//! credential, and a malformed chunked body.

use std::sync::atomic::Ordering;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::gate::{gated, grant, STREAM};
use crate::helpers::{assert_error, Options};

/// Headers an identity-aware proxy sets, each sent by the caller, with the value a
/// naive upstream would trust.
const SPOOFED: &[&str] = &[
    "x-forwarded-user",
    "x-forwarded-email",
    "x-forwarded-groups",
    "x-forwarded-preferred-username",
    "x-forwarded-access-token",
    "x-forwarded-prefix",
    "x-forwarded-uri",
    "x-forwarded-proto",
    "x-auth-request-user",
    "x-auth-request-email",
    "x-auth-request-groups",
    "x-auth-request-preferred-username",
    "x-auth-request-access-token",
    "x-remote-user",
    "x-remote-group",
    "remote-user",
    "remote-groups",
    "remote-email",
    "remote-name",
    "x-real-ip",
    "x-original-url",
    "x-rewrite-url",
    "x-original-uri",
    "x-authenticated-user",
    "x-pomerium-jwt-assertion",
    "x-pomerium-claim-email",
    "x-goog-authenticated-user-email",
    "x-goog-authenticated-user-id",
    "x-goog-iap-jwt-assertion",
    "cf-access-authenticated-user-email",
    "cf-access-jwt-assertion",
    "x-amzn-oidc-data",
    "x-amzn-oidc-identity",
    "x-amzn-oidc-accesstoken",
    "x-ms-client-principal",
    "x-ms-client-principal-name",
    "x-ms-client-principal-id",
    "x-ms-client-principal-idp",
    "x-latchkey-user",
    "x-latchkey-groups",
    "x_latchkey_user",
    "x_latchkey_assertion",
    "x_latchkey_groups",
    "x_forwarded_user",
    "x_forwarded_for",
    "remote_user",
];

#[tokio::test]
async fn identity_headers_of_other_proxies_sent_by_a_caller_never_reach_the_upstream() {
    let g = gated(Options::default()).await;
    let app = &g.app;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    grant(app, &bob, STREAM, json!({})).await;
    let mut req = app
        .http
        .get(format!("{}/gate/{STREAM}/api/me", app.url))
        .bearer_auth(&bob)
        .header("accept", "application/json")
        .header("x-kept", "1");
    for h in SPOOFED {
        req = req.header(*h, "root@example.com");
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let seen = g.up.seen.headers.lock().unwrap().last().unwrap().clone();
    for h in SPOOFED {
        let reached = seen
            .get(*h)
            .is_some_and(|v| v.as_str() == Some("root@example.com"));
        assert!(!reached, "{h} reached the upstream: {seen}");
    }
    // Only the gate's own identity and forwarding headers are there, with its values.
    assert_eq!(seen["x-forwarded-for"], "127.0.0.1");
    assert!(seen.get("x-latchkey-user").is_none(), "{seen}");
    assert!(seen["x-latchkey-assertion"].is_string());
    assert_eq!(seen["x-kept"], "1");
    assert_eq!(seen["accept"], "application/json");
}

#[tokio::test]
async fn forward_auth_refuses_a_request_carrying_its_own_identity_header() {
    let g = gated(Options::default()).await;
    let app = &g.app;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    grant(app, &bob, STREAM, json!({})).await;
    let path = format!("{}/v1/gate/auth/{STREAM}", app.url);
    for h in SPOOFED.iter().filter(|h| {
        // Forwarding headers are the proxy's own on the check; identity claims are not.
        latchkey::edges::gate::spoof::is_identity(h)
    }) {
        let resp = app
            .http
            .get(&path)
            .bearer_auth(&bob)
            .header(*h, "root@example.com")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["x-latchkey-error"], "identity_header", "{h}");
        assert_error(resp, StatusCode::FORBIDDEN, "identity_header").await;
    }
    // What nginx and Traefik add to the check themselves passes.
    let resp = app
        .http
        .get(&path)
        .bearer_auth(&bob)
        .header("x-forwarded-for", "10.0.0.9")
        .header("x-real-ip", "10.0.0.9")
        .header("x-forwarded-proto", "https")
        .header("x-original-uri", "/app/page?x=1")
        .header("x-forwarded-uri", "/app/page")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

/// Sends `raw` (a whole request) on a new connection and returns the status and body.
async fn raw_exchange(addr: &str, raw: &[u8]) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(raw).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

/// Every path form an upstream could decode or normalise into a parent segment.
const CLIMBING: &[&str] = &[
    "/..;/admin",
    "/a/..;jsessionid=x/admin",
    "/..%2Fadmin",
    "/..%2fadmin",
    "/%2e%2e%2fadmin",
    "/%2E%2E%2Fadmin",
    "/%2e%2e/admin",
    "/.%2e/admin",
    "/%2e./admin",
    "/..%5Cadmin",
    "/%252e%252e%252fadmin",
    "/..%252fadmin",
    "/a%00.json",
    "/a%2500.json",
    "/%c0%ae%c0%ae/admin",
    "/%EF%BC%8E%EF%BC%8E/admin",
    "/..%20/admin",
    "/...%2fadmin",
    "/a%zz",
];

#[tokio::test]
async fn every_spelling_of_a_parent_segment_is_refused_before_the_upstream() {
    let g = gated(Options::default()).await;
    let app = &g.app;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    grant(app, &bob, STREAM, json!({})).await;
    let addr = app.url.trim_start_matches("http://");
    let before = g.up.seen.requests.load(Ordering::SeqCst);
    // A backslash is not allowed in a request target: the server refuses it unread.
    let mut forms: Vec<String> = CLIMBING.iter().map(|s| s.to_string()).collect();
    forms.extend(["/..\\admin".to_string(), "/a\\..\\admin".to_string()]);
    for form in &forms {
        let raw = format!(
            "GET /gate/{STREAM}{form} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {bob}\r\nConnection: close\r\n\r\n"
        );
        let (status, body) = raw_exchange(addr, raw.as_bytes()).await;
        assert_eq!(status, 400, "{form}: {body}");
        if !form.contains('\\') {
            let v: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{form}: {body}"));
            assert_eq!(v["error"]["code"], "bad_path", "{form}: {v}");
        }
    }
    assert_eq!(
        g.up.seen.requests.load(Ordering::SeqCst),
        before,
        "a climbing path reached the upstream"
    );
    // Forward-auth refuses the same paths, from Envoy's appended path and nginx's header.
    for form in CLIMBING {
        let raw = format!(
            "GET /v1/gate/auth/{STREAM}{form} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {bob}\r\nConnection: close\r\n\r\n"
        );
        let (status, body) = raw_exchange(addr, raw.as_bytes()).await;
        assert_eq!(status, 403, "envoy {form}: {body}");
        assert!(body.contains("\"bad_path\""), "envoy {form}: {body}");
        let raw = format!(
            "GET /v1/gate/auth/{STREAM} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {bob}\r\nX-Original-URI: {form}?q=1\r\nConnection: close\r\n\r\n"
        );
        let (status, body) = raw_exchange(addr, raw.as_bytes()).await;
        assert_eq!(status, 403, "nginx {form}: {body}");
        assert!(body.contains("\"bad_path\""), "nginx {form}: {body}");
    }
    // Ordinary paths with dots, escapes and a literal percent still pass.
    for ok in [
        "/file.txt",
        "/a..b/c",
        "/v1/projects/group%2Fproject",
        "/search/100%25",
    ] {
        let raw = format!(
            "GET /gate/{STREAM}{ok} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {bob}\r\nConnection: close\r\n\r\n"
        );
        let (status, body) = raw_exchange(addr, raw.as_bytes()).await;
        assert_eq!(status, 200, "{ok}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["path"], ok, "the upstream receives the path verbatim");
    }
}

#[tokio::test]
async fn a_group_named_with_a_comma_stays_one_group_in_forward_auth_headers() {
    let g = gated(Options::default()).await;
    let app = &g.app;
    let eve = app.dev_login("eve@example.com", &["x,admin", "eng"]).await;
    grant(app, &eve, STREAM, json!({})).await;
    let resp = app
        .get(&format!("/v1/gate/auth/{STREAM}"), Some(&eve))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let header = resp.headers()["x-latchkey-groups"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(header, "x%2Cadmin,eng");
    let split: Vec<&str> = header.split(',').map(str::trim).collect();
    assert!(!split.contains(&"admin"), "{header}");
}

#[tokio::test]
async fn a_broker_token_that_expires_while_its_admission_is_remembered_is_refused_right_after() {
    token_expiring_while_remembered(Options::default()).await;
}

#[tokio::test]
async fn on_postgresql_a_broker_token_expiring_while_remembered_is_refused_right_after() {
    let Some(db) = crate::helpers::fresh_postgres().await else {
        return;
    };
    token_expiring_while_remembered(Options {
        database_url: Some(db.url.clone()),
        ..Options::default()
    })
    .await;
    db.drop_db().await;
}

/// A broker token for an active grant, admitted and remembered, then used again just
/// after its `exp`: refused, though the grant is still active and the cache entry young.
async fn token_expiring_while_remembered(options: Options) {
    let g = gated(options).await;
    let app = &g.app;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let id = grant(app, &bob, STREAM, json!({})).await;
    // A token that ends two seconds from now (the API's shortest is a minute).
    let now = chrono::Utc::now();
    let grant_row = {
        let mut tx = app.broker.core.store.begin_read().await.unwrap();
        let g = tx.request(&id).await.unwrap().unwrap();
        tx.commit().await.unwrap();
        g
    };
    let resource = app.broker.core.policy.current().catalogue.resources[STREAM].clone();
    let exp = chrono::DateTime::from_timestamp(now.timestamp() + 2, 0).unwrap();
    let (token, _) = latchkey::adapters::providers::token::mint(
        app.broker.admin.keyring(),
        &app.broker.core.config.public_url,
        &resource,
        &grant_row,
        Some("bob@example.com".into()),
        now,
        exp,
    )
    .unwrap();
    let url = format!("/gate/{STREAM}/x");
    assert_eq!(app.get(&url, Some(&token)).await.status(), StatusCode::OK);
    let checks = app.broker.gate().admissions.checks();
    assert_eq!(app.get(&url, Some(&token)).await.status(), StatusCode::OK);
    assert_eq!(app.broker.gate().admissions.checks(), checks, "remembered");
    let wait = (exp - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(50)).await;
    assert_error(
        app.get(&url, Some(&token)).await,
        StatusCode::UNAUTHORIZED,
        "token_expired",
    )
    .await;
}

#[tokio::test]
async fn a_malformed_chunked_body_through_the_gate_is_the_callers_fault() {
    let g = gated(Options::default()).await;
    let app = &g.app;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    grant(app, &bob, STREAM, json!({})).await;
    let addr = app.url.trim_start_matches("http://");
    let raw = format!(
        "POST /gate/{STREAM}/body HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {bob}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\nZZ\r\nnot a chunk\r\n"
    );
    let (status, body) = raw_exchange(addr, raw.as_bytes()).await;
    assert_eq!(status, 400, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["code"], "bad_body", "{v}");
    assert!(v["error"]["request_id"].is_string());
}
