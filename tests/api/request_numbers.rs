//! Extreme numbers in requests (durations, TTLs, sequence numbers, limits) get an answer,
//! never a panic or a 5xx.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::spawn_dev_app;

#[tokio::test]
async fn extreme_durations_ttls_and_audit_numbers_never_panic_or_answer_5xx() {
    let app = spawn_dev_app().await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let auditor = app.dev_login("audrey@example.com", &["auditor"]).await;
    let huge = ["9999999999999d", "18446744073709551615", "213503982334601d"];
    for d in huge {
        for resource in ["aws:staging", "token:metrics-api", "aws:prod"] {
            let resp = app
                .post(
                    "/v1/requests",
                    json!({"resource": resource, "role": "readonly", "duration": d, "reason": "x"}),
                    Some(&bob),
                )
                .await;
            assert!(
                resp.status().is_client_error(),
                "{resource} {d}: {}",
                resp.status()
            );
        }
    }
    let grant = app
        .post_ok(
            "/v1/requests",
            json!({"resource": "token:metrics-api", "role": "read"}),
            &bob,
            StatusCode::CREATED,
        )
        .await["request"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for d in huge {
        let resp = app
            .post(
                &format!("/v1/requests/{grant}/extend"),
                json!({"duration": d}),
                Some(&bob),
            )
            .await;
        assert!(
            resp.status().is_client_error(),
            "extend {d}: {}",
            resp.status()
        );
        let resp = app
            .post(
                "/v1/credentials/token",
                json!({"resource": "token:metrics-api", "ttl": d}),
                Some(&bob),
            )
            .await;
        assert!(
            !resp.status().is_server_error(),
            "ttl {d}: {}",
            resp.status()
        );
    }
    let (min, max) = (i64::MIN, i64::MAX);
    for q in [
        format!("after={min}"),
        format!("after={max}"),
        format!("limit={min}"),
        format!("limit={max}"),
        format!("last={min}"),
        format!("last={max}"),
        "after=99999999999999999999".to_string(),
        "wait=18446744073709551615&after=0".to_string(),
    ] {
        let resp = app
            .get(&format!("/v1/audit/events?{q}"), Some(&auditor))
            .await;
        assert!(!resp.status().is_server_error(), "{q}: {}", resp.status());
    }
    assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);
}
