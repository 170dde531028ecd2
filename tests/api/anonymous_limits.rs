//! What anonymous callers can make the broker write: rate-limited per address, pending
//! logins bounded, and no request text copied into the audit log unbounded.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_error, fresh_postgres, spawn_app, spawn_dev_app, Options, TestApp};
use crate::idp::TestIdp;

async fn oidc_app(database_url: Option<String>) -> (TestIdp, TestApp) {
    let idp = TestIdp::start().await;
    let app = spawn_app(Options {
        oidc: Some((idp.issuer.clone(), idp.client_id.clone())),
        database_url,
        ..Options::default()
    })
    .await;
    (idp, app)
}

#[tokio::test]
async fn many_anonymous_calls_from_one_address_get_429_with_a_code() {
    let (_idp, app) = oidc_app(None).await;
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..150 {
        let resp = app.post("/v1/auth/browser", json!({}), None).await;
        statuses.push(resp.status());
        if resp.status() == StatusCode::TOO_MANY_REQUESTS && limited.is_none() {
            limited = Some(resp);
        }
    }
    let created = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert!(
        (100..=110).contains(&created),
        "{created} of 150 begun logins were accepted"
    );
    let resp = limited.expect("some calls are refused");
    assert!(resp.headers().get("retry-after").is_some());
    assert_error(resp, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // The exchange endpoint shares the address's bucket; an authenticated call does not.
    assert_error(
        app.post("/v1/auth/login", json!({"id_token": "x"}), None)
            .await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);
}

async fn pending_logins_are_bounded(database_url: Option<String>) {
    let (_idp, app) = oidc_app(database_url).await;
    let now = chrono::Utc::now();
    let later = now + chrono::Duration::minutes(10);
    let mut tx = app.broker.core.store.begin().await.unwrap();
    let stored: Vec<bool> = {
        let mut v = Vec::new();
        for i in 0..4 {
            v.push(
                tx.insert_login_attempt(&format!("a{i}"), "n", later, now, 3)
                    .await
                    .unwrap(),
            );
        }
        v
    };
    assert_eq!(stored, vec![true, true, true, false]);
    // Expired attempts are forgotten to make room.
    let after = later + chrono::Duration::seconds(1);
    assert!(tx
        .insert_login_attempt("b", "n", after + chrono::Duration::minutes(10), after, 3)
        .await
        .unwrap());
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn pending_browser_logins_are_bounded_and_expired_ones_forgotten() {
    pending_logins_are_bounded(None).await;
}

#[tokio::test]
async fn pending_browser_logins_are_bounded_on_postgresql_too() {
    let Some(db) = fresh_postgres().await else {
        return;
    };
    pending_logins_are_bounded(Some(db.url.clone())).await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_browser_login_on_a_broker_without_a_provider_stores_nothing() {
    let app = spawn_dev_app().await;
    assert_error(
        app.post("/v1/auth/browser", json!({}), None).await,
        StatusCode::NOT_FOUND,
        "no_identity_provider",
    )
    .await;
}

/// The `session.refused` events, newest last.
async fn refusals(app: &TestApp) -> Vec<latchkey::model::audit::AuditEvent> {
    let mut tx = app.broker.core.store.begin_read().await.unwrap();
    let events = tx.audit_events(None, 0, 1000).await.unwrap();
    tx.commit().await.unwrap();
    events
        .into_iter()
        .filter(|e| e.kind == "session.refused")
        .collect()
}

#[tokio::test]
async fn a_refused_login_with_a_huge_alg_is_audited_truncated() {
    let (idp, app) = oidc_app(None).await;
    let alg = "A".repeat(700 * 1024);
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg, "typ": "JWT"}).to_string());
    let payload = URL_SAFE_NO_PAD.encode(idp.claims("alice").to_string());
    let resp = app
        .post(
            "/v1/auth/login",
            json!({"id_token": format!("{header}.{payload}.c2ln")}),
            None,
        )
        .await;
    let body = assert_error(
        resp,
        StatusCode::UNAUTHORIZED,
        "id_token_algorithm_not_allowed",
    )
    .await;
    assert!(body.to_string().len() < 2048, "the error echoes the alg");
    let events = refusals(&app).await;
    let e = events.last().expect("the refusal is audited");
    let stored = serde_json::to_string(e).unwrap();
    assert!(
        stored.len() < 4096,
        "the audit row holds {} bytes",
        stored.len()
    );
}

#[tokio::test]
async fn request_text_in_a_refused_dev_login_lands_truncated_with_a_marker() {
    let app = spawn_dev_app().await;
    let email = format!("{}@example.com x", "m".repeat(600 * 1024));
    let resp = app
        .post(
            "/v1/auth/dev-login",
            json!({"email": email, "groups": []}),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let events = refusals(&app).await;
    let e = events.last().expect("the refusal is audited");
    let stored = serde_json::to_string(e).unwrap();
    assert!(
        stored.len() < 4096,
        "the audit row holds {} bytes",
        stored.len()
    );
    assert!(e.actor.contains("…[+"), "{}", &e.actor[..80]);
    assert!(e.reason.as_deref().unwrap_or("").contains("…[+"));
    assert!(e.subject.as_deref().unwrap_or("").len() < 600);
}
