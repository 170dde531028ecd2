//! The policy at run time: reloads on file change (a broken one is refused), fresh-login
//! reviewers, the break-glass hook, and the login and admin audit events.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, Options};
use crate::idp::TestIdp;

async fn audit_kinds(app: &crate::helpers::TestApp) -> Vec<(String, String)> {
    let mut tx = app.broker.core.store.begin_read().await.unwrap();
    let events = tx.audit_events(None, 0, 10_000).await.unwrap();
    tx.commit().await.unwrap();
    events.into_iter().map(|e| (e.kind, e.outcome)).collect()
}

#[tokio::test]
async fn an_edited_policy_is_reloaded_and_a_broken_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    for f in ["catalogue.toml", "model.conf", "policy.csv"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    let app = spawn_app(Options {
        dev: true,
        policy_dir: Some(dir.path().to_path_buf()),
        ..Options::default()
    })
    .await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let ask = json!({"resource": "db:events", "role": "write", "reason": "backfill"});
    let explain = |token: String| {
        let app_url = app.url.clone();
        let ask = ask.clone();
        async move {
            let v: Value = reqwest::Client::new()
                .post(format!("{app_url}/v1/policy/explain"))
                .bearer_auth(token)
                .json(&ask)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["outcome"].as_str().unwrap().to_string()
        }
    };
    assert_eq!(explain(bob.clone()).await, "needs_review");
    let csv = std::fs::read_to_string(dir.path().join("policy.csv")).unwrap();
    std::fs::write(
        dir.path().join("policy.csv"),
        format!("{csv}\np, group:eng, db:events#write, auto_approve, allow\n"),
    )
    .unwrap();
    // The role itself must allow auto-approval too.
    let cat = std::fs::read_to_string(dir.path().join("catalogue.toml")).unwrap();
    std::fs::write(
        dir.path().join("catalogue.toml"),
        cat.replace(
            "reviewers = { groups = [\"sre\"] }\nreason_required = true",
            "reviewers = { groups = [\"sre\"] }\nreason_required = true\nauto_approve = true",
        ),
    )
    .unwrap();
    let mut reloaded = false;
    for _ in 0..50 {
        if explain(bob.clone()).await == "auto_approved" {
            reloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reloaded, "the edit was not picked up within 5 s");
    std::fs::write(
        dir.path().join("policy.csv"),
        "p, group:eng, *, fly, allow\n",
    )
    .unwrap();
    let mut refused = false;
    for _ in 0..50 {
        if audit_kinds(&app)
            .await
            .iter()
            .any(|(k, o)| k == "policy.reloaded" && o == "refused")
        {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused, "the broken policy was not refused within 5 s");
    assert_eq!(
        explain(bob).await,
        "auto_approved",
        "the previous policy stays in force"
    );
    let kinds = audit_kinds(&app).await;
    assert!(kinds.contains(&("policy.loaded".into(), "success".into())));
    assert!(kinds.contains(&("policy.reloaded".into(), "success".into())));
}

#[tokio::test]
async fn a_reviewer_whose_login_is_stale_must_log_in_again_to_review_production_admin() {
    let idp = TestIdp::start().await;
    let app = spawn_app(Options {
        dev: true,
        oidc: Some((idp.issuer.clone(), idp.client_id.clone())),
        ..Options::default()
    })
    .await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let req = json!({"resource": "aws:prod", "role": "admin", "reason": "rotate the KMS key", "ticket": "CHG-7"});
    let id = app
        .post_ok("/v1/requests", req, &bob, StatusCode::CREATED)
        .await["request"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // carol authenticated at the provider 13 hours ago; the role wants 12.
    let mut claims = idp.claims("carol");
    claims["groups"] = json!(["sre"]);
    claims["auth_time"] = json!(chrono::Utc::now().timestamp() - 13 * 3600);
    let stale: Value = app
        .login(&idp.key().sign(&claims), None)
        .await
        .json()
        .await
        .unwrap();
    let resp = app
        .post(
            &format!("/v1/requests/{id}/approve"),
            json!({}),
            stale["token"].as_str(),
        )
        .await;
    let body = assert_error(resp, StatusCode::FORBIDDEN, "login_not_fresh").await;
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("latchkey login"));
    claims["auth_time"] = json!(chrono::Utc::now().timestamp() - 60);
    claims["jti"] = json!("fresh");
    let fresh: Value = app
        .login(&idp.key().sign(&claims), None)
        .await
        .json()
        .await
        .unwrap();
    let v = app
        .post_ok(
            &format!("/v1/requests/{id}/approve"),
            json!({}),
            fresh["token"].as_str().unwrap(),
            StatusCode::OK,
        )
        .await;
    assert_eq!(v["state"], "approved");
}

#[tokio::test]
async fn break_glass_calls_the_notification_hook() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Value>(4);
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(v).await;
                StatusCode::NO_CONTENT
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });
    let app = spawn_app(Options {
        dev: true,
        breakglass_hook: Some(hook),
        ..Options::default()
    })
    .await;
    let alice = app.dev_login("alice@example.com", &["sre"]).await;
    let body = json!({"resource": "aws:prod", "role": "admin", "reason": "db on fire INC-9", "breakglass": true});
    let id = app
        .post_ok("/v1/requests", body, &alice, StatusCode::CREATED)
        .await["request"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let got = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("hook called")
        .unwrap();
    assert_eq!(got["event"], "breakglass.used");
    assert_eq!(got["request_id"], id.as_str());
    assert_eq!(got["requester"], "alice@example.com");
}

#[tokio::test]
async fn logins_refusals_locks_and_rotations_are_audited_without_secrets() {
    let app = spawn_app(Options {
        dev: true,
        ..Options::default()
    })
    .await;
    let admin = app.dev_login("root@example.com", &["admin"]).await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    app.post("/v1/auth/logout", json!({}), Some(&bob)).await;
    app.post_ok(
        "/v1/admin/locks",
        json!({"user": "eve@example.com", "reason": "left"}),
        &admin,
        StatusCode::CREATED,
    )
    .await;
    app.post(
        "/v1/auth/dev-login",
        json!({"email": "eve@example.com"}),
        None,
    )
    .await;
    app.post_ok("/v1/admin/keys/rotate", json!({}), &admin, StatusCode::OK)
        .await;
    let kinds = audit_kinds(&app).await;
    for want in [
        ("session.created", "success"),
        ("session.ended", "success"),
        ("user.locked", "success"),
        ("session.refused", "refused"),
        ("key.rotated", "success"),
    ] {
        assert!(
            kinds.contains(&(want.0.to_string(), want.1.to_string())),
            "{want:?} missing from {kinds:?}"
        );
    }
    let mut tx = app.broker.core.store.begin_read().await.unwrap();
    let all = serde_json::to_string(&tx.audit_events(None, 0, 10_000).await.unwrap()).unwrap();
    tx.commit().await.unwrap();
    assert!(
        !all.contains(&admin) && !all.contains(&bob),
        "a session token reached the audit log"
    );
}
