//! Naming a request by a unique prefix of its id (never reaching one the caller may not
//! see), and `view=all` for administrators, audit readers and reviewers.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_dev_app, TestApp};

/// Alice's pending request on db:events#write; its id.
async fn alices_pending(app: &TestApp, alice: &str) -> String {
    let body = json!({"resource": "db:events", "role": "write", "reason": "fix INC-42"});
    let v = app
        .post_ok("/v1/requests", body, alice, StatusCode::CREATED)
        .await;
    v["request"]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_unique_prefix_names_a_request_with_or_without_dashes() {
    let app = spawn_dev_app().await;
    let alice = app.dev_login("alice@example.com", &["eng"]).await;
    let id = alices_pending(&app, &alice).await;
    let undashed: String = id.chars().filter(|c| *c != '-').collect();
    for typed in [
        &id[..8],
        &id[..6],
        &undashed[..12],
        &id[..11].to_uppercase(),
    ] {
        let resp = app
            .get(&format!("/v1/requests/{typed}"), Some(&alice))
            .await;
        assert_eq!(resp.status(), StatusCode::OK, "{typed}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["id"], id.as_str(), "{typed}");
    }
    let resp = app
        .get(&format!("/v1/requests/{}", &id[..5]), Some(&alice))
        .await;
    assert_error(resp, StatusCode::BAD_REQUEST, "request_id_too_short").await;
    // The verbs take it too.
    let v = app
        .post_ok(
            &format!("/v1/requests/{}/cancel", &id[..8]),
            json!({}),
            &alice,
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        (v["id"].as_str(), v["state"].as_str()),
        (Some(id.as_str()), Some("cancelled"))
    );
}

#[tokio::test]
async fn a_prefix_of_someone_elses_request_is_no_such_request_not_a_refusal() {
    let app = spawn_dev_app().await;
    let alice = app.dev_login("alice@example.com", &["eng"]).await;
    let mallory = app.dev_login("mallory@example.com", &["eng"]).await;
    let id = alices_pending(&app, &alice).await;
    let prefix = &id[..8];
    // The same answer as for a prefix nobody's id starts with: no existence oracle.
    let theirs = app
        .get(&format!("/v1/requests/{prefix}"), Some(&mallory))
        .await;
    let body = assert_error(theirs, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(body["error"]["message"], format!("no request {prefix}"));
    for verb in ["cancel", "activate", "revoke", "approve"] {
        let resp = app
            .post(
                &format!("/v1/requests/{prefix}/{verb}"),
                json!({}),
                Some(&mallory),
            )
            .await;
        assert_error(resp, StatusCode::NOT_FOUND, "not_found").await;
    }
    // Still pending: nothing happened to it.
    let resp = app.get(&format!("/v1/requests/{id}"), Some(&alice)).await;
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["state"], "pending");
    // A reviewer may see it, so the prefix finds it for them.
    let carol = app.dev_login("carol@example.com", &["sre"]).await;
    let resp = app
        .get(&format!("/v1/requests/{prefix}"), Some(&carol))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn view_all_is_refused_to_a_plain_user_with_a_stable_code() {
    let app = spawn_dev_app().await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let resp = app.get("/v1/requests?view=all", Some(&bob)).await;
    assert_error(resp, StatusCode::FORBIDDEN, "view_all_forbidden").await;
    let resp = app
        .get("/v1/requests?view=all&user=alice@example.com", Some(&bob))
        .await;
    assert_error(resp, StatusCode::FORBIDDEN, "view_all_forbidden").await;
    // Filters belong to view=all: they do not quietly widen or narrow another view.
    let resp = app
        .get("/v1/requests?user=alice@example.com", Some(&bob))
        .await;
    assert_error(resp, StatusCode::BAD_REQUEST, "filter_needs_view_all").await;
}

#[tokio::test]
async fn administrators_auditors_and_reviewers_list_others_requests_with_filters() {
    let app = spawn_dev_app().await;
    let alice = app.dev_login("alice@example.com", &["eng"]).await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let pending = alices_pending(&app, &alice).await;
    let body = json!({"resource": "aws:staging", "role": "admin", "reason": "deploy"});
    let v = app
        .post_ok("/v1/requests", body, &bob, StatusCode::CREATED)
        .await;
    let active = v["request"]["id"].as_str().unwrap().to_string();
    assert_eq!(v["request"]["state"], "active");
    let ids = |v: Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    let list = |token: String, query: &'static str| {
        let app = &app;
        async move {
            let resp = app
                .get(&format!("/v1/requests?view=all{query}"), Some(&token))
                .await;
            assert_eq!(resp.status(), StatusCode::OK, "{query}");
            ids(resp.json().await.unwrap())
        }
    };
    let admin = app.dev_login("root@example.com", &["admin"]).await;
    let auditor = app.dev_login("audrey@example.com", &["auditor"]).await;
    let reviewer = app.dev_login("carol@example.com", &["sre"]).await;
    for who in [&admin, &auditor, &reviewer] {
        assert_eq!(
            list(who.clone(), "").await,
            [active.clone(), pending.clone()]
        );
    }
    assert_eq!(
        list(admin.clone(), "&user=alice@example.com").await,
        [pending.as_str()]
    );
    assert_eq!(list(admin.clone(), "&active=true").await, [active.as_str()]);
    assert_eq!(
        list(admin.clone(), "&resource=db:events&state=pending").await,
        [pending.as_str()]
    );
    assert!(list(admin.clone(), "&resource=db:events&state=active")
        .await
        .is_empty());
    let resp = app
        .get("/v1/requests?view=all&state=granted", Some(&admin))
        .await;
    assert_error(resp, StatusCode::BAD_REQUEST, "invalid_state").await;
    // The administrator finds the grant and revokes it by its short form.
    let short = &active[..8];
    let v = app
        .post_ok(
            &format!("/v1/requests/{short}/revoke"),
            json!({}),
            &admin,
            StatusCode::OK,
        )
        .await;
    assert_eq!(v["state"], "revoked");
}
