//! Access requests over HTTP: decisions, reviews, the clocks, races, crash safety.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, spawn_dev_app, Options, TestApp};

async fn people(app: &TestApp) -> (String, String, String, String) {
    (
        app.dev_login("bob@example.com", &["eng"]).await,
        app.dev_login("carol@example.com", &["sre"]).await,
        app.dev_login("dave@example.com", &["eng"]).await,
        app.dev_login("frank@example.com", &["security"]).await,
    )
}

fn prod_read() -> Value {
    json!({"resource": "aws:prod", "role": "readonly", "reason": "debugging INC-42 latency"})
}

#[tokio::test]
async fn an_auto_approved_request_is_active_at_once_with_its_audit_trail() {
    let app = spawn_dev_app().await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let v = app
        .post_ok(
            "/v1/requests",
            json!({"resource": "aws:staging", "role": "admin"}),
            &bob,
            StatusCode::CREATED,
        )
        .await;
    let r = &v["request"];
    assert_eq!(r["state"], "active");
    assert_eq!(r["auto_approved"], true);
    assert_eq!(v["decision"]["outcome"], "auto_approved");
    assert!(v["decision"]["explanation"]
        .to_string()
        .contains("auto-approved by `p, group:eng, aws:staging#*, auto_approve, allow`"));
    let id = r["id"].as_str().unwrap();
    assert_eq!(
        app.audit_types(id).await,
        vec!["policy.decided", "request.created", "grant.activated"]
    );
}

#[tokio::test]
async fn a_reviewed_request_goes_through_approval_activation_extension_and_revocation() {
    let app = spawn_dev_app().await;
    let (bob, carol, dave, _) = people(&app).await;
    let v = app
        .post_ok("/v1/requests", prod_read(), &bob, StatusCode::CREATED)
        .await;
    assert_eq!(v["request"]["state"], "pending");
    let id = v["request"]["id"].as_str().unwrap().to_string();
    let path = |verb: &str| format!("/v1/requests/{id}/{verb}");
    // Nobody reviews their own request; an engineer is no reviewer; the requester cannot activate before approval.
    assert_error(
        app.post(&path("approve"), json!({}), Some(&bob)).await,
        StatusCode::FORBIDDEN,
        "self_review",
    )
    .await;
    let refusal = assert_error(
        app.post(&path("approve"), json!({}), Some(&dave)).await,
        StatusCode::FORBIDDEN,
        "not_a_reviewer",
    )
    .await;
    assert!(
        refusal["error"]["message"]
            .as_str()
            .unwrap()
            .contains("group:sre"),
        "says who can: {refusal}"
    );
    assert_error(
        app.post(&path("activate"), json!({}), Some(&bob)).await,
        StatusCode::CONFLICT,
        "wrong_state",
    )
    .await;
    // To review: carol sees it, bob does not.
    let queue: Value = app
        .get("/v1/requests?view=to_review", Some(&carol))
        .await
        .json()
        .await
        .unwrap();
    assert!(queue
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["id"] == id.as_str()));
    let mine: Value = app
        .get("/v1/requests?view=to_review", Some(&bob))
        .await
        .json()
        .await
        .unwrap();
    assert!(mine.as_array().unwrap().is_empty());
    let view = app
        .post_ok(
            &path("approve"),
            json!({"comment": "go"}),
            &carol,
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        (view["state"].as_str(), view["approvals"].as_u64()),
        (Some("approved"), Some(1))
    );
    assert_error(
        app.post(&path("approve"), json!({}), Some(&carol)).await,
        StatusCode::CONFLICT,
        "already_reviewed",
    )
    .await;
    assert_error(
        app.post(&path("activate"), json!({}), Some(&carol)).await,
        StatusCode::FORBIDDEN,
        "not_requester",
    )
    .await;
    let active = app
        .post_ok(&path("activate"), json!({}), &bob, StatusCode::OK)
        .await;
    assert_eq!(active["state"], "active");
    // Extensions: at most 1h each, within the 4h cap, twice.
    assert_error(
        app.post(&path("extend"), json!({"duration": "2h"}), Some(&bob))
            .await,
        StatusCode::BAD_REQUEST,
        "extension_too_long",
    )
    .await;
    app.post_ok(
        &path("extend"),
        json!({"duration": "1h"}),
        &bob,
        StatusCode::OK,
    )
    .await;
    app.post_ok(
        &path("extend"),
        json!({"duration": "1h"}),
        &bob,
        StatusCode::OK,
    )
    .await;
    assert_error(
        app.post(&path("extend"), json!({"duration": "1h"}), Some(&bob))
            .await,
        StatusCode::BAD_REQUEST,
        "no_extensions_left",
    )
    .await;
    // Someone else may not revoke it; the requester may.
    assert_error(
        app.post(&path("revoke"), json!({}), Some(&dave)).await,
        StatusCode::FORBIDDEN,
        "not_allowed_to_revoke",
    )
    .await;
    let ended = app
        .post_ok(&path("revoke"), json!({}), &bob, StatusCode::OK)
        .await;
    assert_eq!(ended["state"], "revoked");
    assert_eq!(
        app.audit_types(&id).await,
        vec![
            "policy.decided",
            "request.created",
            "review.refused",
            "review.refused",
            "review.submitted",
            "request.approved",
            "grant.activated",
            "grant.extended",
            "grant.extended",
            "grant.revoked"
        ]
    );
}

#[tokio::test]
async fn a_denial_ends_the_request_and_needs_a_reason() {
    let app = spawn_dev_app().await;
    let (bob, carol, _, frank) = people(&app).await;
    let v = app
        .post_ok("/v1/requests", prod_read(), &bob, StatusCode::CREATED)
        .await;
    let id = v["request"]["id"].as_str().unwrap();
    assert_error(
        app.post(&format!("/v1/requests/{id}/deny"), json!({}), Some(&frank))
            .await,
        StatusCode::BAD_REQUEST,
        "reason_required",
    )
    .await;
    let denied = app
        .post_ok(
            &format!("/v1/requests/{id}/deny"),
            json!({"comment": "use staging"}),
            &frank,
            StatusCode::OK,
        )
        .await;
    assert_eq!(denied["state"], "denied");
    assert_error(
        app.post(
            &format!("/v1/requests/{id}/approve"),
            json!({}),
            Some(&carol),
        )
        .await,
        StatusCode::CONFLICT,
        "wrong_state",
    )
    .await;
}

#[tokio::test]
async fn refusals_say_why_and_what_would_make_it_possible() {
    let app = spawn_dev_app().await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let body = assert_error(
        app.post(
            "/v1/requests",
            json!({"resource": "aws:prod", "role": "admin", "reason": "rotate the key now"}),
            Some(&bob),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "ticket_required",
    )
    .await;
    assert_eq!(
        body["error"]["decision"]["hint"],
        "give a ticket (like INC-123 or CHG-123)"
    );
    let body = assert_error(
        app.post("/v1/requests", json!({"resource": "aws:moon"}), Some(&bob))
            .await,
        StatusCode::NOT_FOUND,
        "unknown_resource",
    )
    .await;
    assert!(body["error"]["decision"]["hint"]
        .as_str()
        .unwrap()
        .contains("aws:prod"));
    let erin = app.dev_login("erin@example.com", &["auditor"]).await;
    let body = assert_error(
        app.post(
            "/v1/requests",
            json!({"resource": "stream:live-events"}),
            Some(&erin),
        )
        .await,
        StatusCode::FORBIDDEN,
        "not_allowed",
    )
    .await;
    assert_eq!(
        body["error"]["decision"]["hint"],
        "refused by the rule `p, group:auditor, *, request, deny`"
    );
    // A refusal is audited, and nothing is created.
    let mine: Value = app
        .get("/v1/requests", Some(&erin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine, json!([]));
}

#[tokio::test]
async fn the_same_idempotency_key_creates_one_request() {
    let app = spawn_dev_app().await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let send = || async {
        let resp = app
            .http
            .post(format!("{}/v1/requests", app.url))
            .bearer_auth(&bob)
            .header("idempotency-key", "k-1")
            .json(&prod_read())
            .send()
            .await
            .unwrap();
        resp.json::<Value>().await.unwrap()["request"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(send().await, send().await);
    let mine: Value = app
        .get("/v1/requests", Some(&bob))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_idempotency_key_that_could_not_be_kept_is_refused_not_ignored() {
    let app = spawn_dev_app().await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    // Ignoring such a key (as the broker once did) would make each retry a new request.
    for key in ["x".repeat(129), String::new(), "with space".into()] {
        let resp = app
            .http
            .post(format!("{}/v1/requests", app.url))
            .bearer_auth(&bob)
            .header("idempotency-key", &key)
            .json(&prod_read())
            .send()
            .await
            .unwrap();
        assert_error(resp, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    let mine: Value = app
        .get("/v1/requests", Some(&bob))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine, json!([]));
}

#[tokio::test]
async fn break_glass_is_active_at_once_capped_and_queued_for_review() {
    let app = spawn_dev_app().await;
    let alice = app.dev_login("alice@example.com", &["sre"]).await;
    let frank = app.dev_login("frank@example.com", &["security"]).await;
    let too_long = json!({"resource": "aws:prod", "role": "admin", "reason": "db on fire INC-9", "breakglass": true, "duration": "1h"});
    assert_error(
        app.post("/v1/requests", too_long, Some(&alice)).await,
        StatusCode::BAD_REQUEST,
        "duration_too_long",
    )
    .await;
    let no_reason = json!({"resource": "aws:prod", "role": "admin", "breakglass": true});
    assert_error(
        app.post("/v1/requests", no_reason, Some(&alice)).await,
        StatusCode::BAD_REQUEST,
        "reason_required",
    )
    .await;
    let v = app.post_ok("/v1/requests", json!({"resource": "aws:prod", "role": "admin", "reason": "db on fire INC-9", "breakglass": true}), &alice, StatusCode::CREATED).await;
    let r = &v["request"];
    assert_eq!(
        (r["state"].as_str(), r["breakglass"].as_bool()),
        (Some("active"), Some(true))
    );
    let id = r["id"].as_str().unwrap();
    assert!(app
        .audit_types(id)
        .await
        .contains(&"breakglass.used".to_string()));
    let queue: Value = app
        .get("/v1/requests?view=to_review", Some(&frank))
        .await
        .json()
        .await
        .unwrap();
    assert!(queue.as_array().unwrap().iter().any(|q| q["id"] == id));
    let reviewed = app
        .post_ok(
            &format!("/v1/requests/{id}/deny"),
            json!({"comment": "not an emergency"}),
            &frank,
            StatusCode::OK,
        )
        .await;
    assert_eq!(reviewed["state"], "revoked");
}

#[tokio::test]
async fn the_sweeper_expires_each_clock_and_a_restart_expires_before_serving() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(Options {
        dev: true,
        data_dir: Some(dir.path().to_path_buf()),
        ..Options::default()
    })
    .await;
    let (bob, carol, _, _) = people(&app).await;
    let pending = app
        .post_ok("/v1/requests", prod_read(), &bob, StatusCode::CREATED)
        .await["request"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let approved = app
        .post_ok("/v1/requests", prod_read(), &bob, StatusCode::CREATED)
        .await["request"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post_ok(
        &format!("/v1/requests/{approved}/approve"),
        json!({}),
        &carol,
        StatusCode::OK,
    )
    .await;
    let active = app
        .post_ok(
            "/v1/requests",
            json!({"resource": "aws:staging", "role": "admin"}),
            &bob,
            StatusCode::CREATED,
        )
        .await["request"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let now = chrono::Utc::now();
    // 40 minutes on: only the activation window (30m) has run out.
    assert_eq!(
        app.broker
            .access
            .sweep(now + chrono::Duration::minutes(40))
            .await
            .unwrap(),
        1
    );
    app.stop().await.unwrap();
    // Pretend the broker was down for three hours: every clock has run out. Rewind the
    // stored clocks instead of the wall clock, then start again on the same data.
    {
        let store = latchkey::store::Store::connect(&format!(
            "sqlite://{}",
            dir.path().join("latchkey.db").display()
        ))
        .await
        .unwrap();
        let latchkey::store::Store::Sqlite(latchkey::store::SqliteStore { pool, .. }) = &store
        else {
            unreachable!()
        };
        let shift = chrono::Duration::hours(3).num_milliseconds();
        sqlx::query("UPDATE access_requests SET pending_until = pending_until - $1, expires_at = expires_at - $1")
            .bind(shift).execute(pool).await.unwrap();
        store.close().await;
    }
    let again = spawn_app(Options {
        dev: true,
        data_dir: Some(dir.path().to_path_buf()),
        ..Options::default()
    })
    .await;
    let bob = again.dev_login("bob@example.com", &["eng"]).await;
    for (id, kind) in [
        (&pending, "request.expired"),
        (&approved, "request.expired"),
        (&active, "grant.expired"),
    ] {
        let v: Value = again
            .get(&format!("/v1/requests/{id}"), Some(&bob))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(v["state"], "expired", "{id}: {v}");
        assert_eq!(
            again.audit_types(id).await.last().map(String::as_str),
            Some(kind)
        );
    }
}

/// Races, on the backend `options` selects: exactly one outcome, one audit event per change.
pub async fn races(options: Options) {
    let app = spawn_app(options).await;
    let (bob, carol, _, frank) = people(&app).await;
    for round in 0..5 {
        // Two reviewers deciding at once.
        let id = app
            .post_ok("/v1/requests", prod_read(), &bob, StatusCode::CREATED)
            .await["request"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let (approve_path, deny_path) = (
            format!("/v1/requests/{id}/approve"),
            format!("/v1/requests/{id}/deny"),
        );
        let approve = app.post(&approve_path, json!({}), Some(&carol));
        let deny = app.post(&deny_path, json!({"comment": "no"}), Some(&frank));
        let (a, d) = tokio::join!(approve, deny);
        let (a, d) = (a.status(), d.status());
        let v: Value = app
            .get(&format!("/v1/requests/{id}"), Some(&bob))
            .await
            .json()
            .await
            .unwrap();
        let events = app.audit_types(&id).await;
        let decided = events
            .iter()
            .filter(|e| *e == "request.approved" || *e == "request.denied")
            .count();
        // A denial wins whenever it lands: before the approval, or after it but before activation.
        assert_eq!(v["state"], "denied", "round {round}: {a} {d} {v}");
        assert!((1..=2).contains(&decided), "{events:?}");
        assert_eq!(
            events.iter().filter(|e| *e == "review.submitted").count(),
            v["reviews"].as_array().unwrap().len()
        );

        // Revoke against activate.
        let id = app
            .post_ok("/v1/requests", prod_read(), &bob, StatusCode::CREATED)
            .await["request"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        app.post_ok(
            &format!("/v1/requests/{id}/approve"),
            json!({}),
            &carol,
            StatusCode::OK,
        )
        .await;
        let (act_path, rev_path) = (
            format!("/v1/requests/{id}/activate"),
            format!("/v1/requests/{id}/revoke"),
        );
        let (act, rev) = tokio::join!(
            app.post(&act_path, json!({}), Some(&bob)),
            app.post(&rev_path, json!({}), Some(&bob))
        );
        let (act, rev) = (act.status(), rev.status());
        assert_eq!(
            rev,
            StatusCode::OK,
            "an approved or active grant can always be revoked by its requester"
        );
        let events = app.audit_types(&id).await;
        assert_eq!(events.last().map(String::as_str), Some("grant.revoked"));
        assert_eq!(
            events.iter().filter(|e| *e == "grant.activated").count(),
            usize::from(act == StatusCode::OK),
            "{events:?}"
        );

        // A decision against expiry: the sweeper at the pending deadline and an approval.
        let id = app
            .post_ok("/v1/requests", prod_read(), &bob, StatusCode::CREATED)
            .await["request"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let pending_until: chrono::DateTime<chrono::Utc> = {
            let v: Value = app
                .get(&format!("/v1/requests/{id}"), Some(&bob))
                .await
                .json()
                .await
                .unwrap();
            serde_json::from_value(v["pending_until"].clone()).unwrap()
        };
        let broker = app.broker.clone();
        let sweep = tokio::spawn(async move { broker.access.sweep(pending_until).await.unwrap() });
        // The approval comes a millisecond before the deadline, the sweep at it.
        let reviewer = app
            .broker
            .sessions
            .authenticate(&carol, chrono::Utc::now())
            .await
            .unwrap();
        let just_before = pending_until - chrono::Duration::milliseconds(1);
        let origin = latchkey::model::audit::Origin::default();
        let approve = app
            .broker
            .access
            .review(
                &reviewer,
                &id,
                latchkey::model::access::Verdict::Approve,
                None,
                &origin,
                just_before,
            )
            .await;
        let approve = if approve.is_ok() {
            StatusCode::OK
        } else {
            StatusCode::CONFLICT
        };
        let swept = sweep.await.unwrap();
        let v: Value = app
            .get(&format!("/v1/requests/{id}"), Some(&bob))
            .await
            .json()
            .await
            .unwrap();
        let events = app.audit_types(&id).await;
        match v["state"].as_str() {
            Some("approved") => assert!(
                approve == StatusCode::OK && !events.contains(&"request.expired".to_string())
            ),
            Some("expired") => assert!(
                approve != StatusCode::OK
                    && swept >= 1
                    && !events.contains(&"request.approved".to_string())
            ),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn races_on_sqlite_have_one_outcome_each() {
    races(Options {
        dev: true,
        ..Options::default()
    })
    .await;
}

#[tokio::test]
async fn races_on_postgresql_have_one_outcome_each() {
    let Some(db) = crate::helpers::fresh_postgres().await else {
        return;
    };
    races(Options {
        dev: true,
        database_url: Some(db.url.clone()),
        ..Options::default()
    })
    .await;
    db.drop_db().await;
}
