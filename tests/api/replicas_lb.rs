//! Three replicas on one PostgreSQL database behind nginx balancing over all three: a
//! revocation made through one replica closes a stream held on another within a second,
//! and a signing key rotated through a second is published by the third within a second
//! and trusted by whichever replica the load balancer picks.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::gate::{open_stream, STREAM};
use crate::gate_fixture::{policy_dir, upstream};
use crate::helpers::{fresh_postgres, missing_peer, revoke, spawn_app, Options, TestApp};
use crate::lb_fixture::{answered_by, start_lb};
use crate::nginx::nginx_binary;

/// The kids of the active keys in an answer of `POST /v1/admin/keys/rotate`.
fn active_kids(keys: &Value) -> Vec<String> {
    keys.as_array()
        .unwrap()
        .iter()
        .filter(|k| k["active"] == json!(true))
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

/// Polls `app`'s JWKS every 10 ms for up to 3 s until it holds every kid in `kids`.
async fn published(app: &TestApp, kids: &[String]) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        let body = app
            .get("/.well-known/jwks.json", None)
            .await
            .text()
            .await
            .unwrap();
        if kids.iter().all(|kid| body.contains(kid.as_str())) {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_a_load_balancer_a_revocation_and_a_key_rotation_reach_every_replica_within_a_second(
) {
    let Some(bin) = nginx_binary() else {
        missing_peer("nginx (Debian: apt-get install nginx)");
        return;
    };
    let Some(db) = fresh_postgres().await else {
        return;
    };
    let up = upstream(STREAM).await;
    let policy = policy_dir(up.addr, "");
    let shared = tempfile::tempdir().unwrap();
    let options = Options {
        dev: true,
        policy_dir: Some(policy.path().to_path_buf()),
        data_dir: Some(shared.path().to_path_buf()),
        public_url: Some("http://latchkey.lb.test".into()),
        database_url: Some(db.url.clone()),
        ..Options::default()
    };
    let mut apps = Vec::new();
    for _ in 0..3 {
        apps.push(spawn_app(options.clone()).await);
    }
    let (a, b, c) = (&apps[0], &apps[1], &apps[2]);
    up.trust_as(&a.url, "http://latchkey.lb.test").await;
    let addrs: Vec<String> = apps
        .iter()
        .map(|app| app.url.strip_prefix("http://").unwrap().to_string())
        .collect();
    let lb = start_lb(&bin, &addrs).await;
    let http = reqwest::Client::new();

    // A session and a grant made through the load balancer; the stream held on C.
    let login = http
        .post(format!("{}/v1/auth/dev-login", lb.url))
        .json(&json!({"email": "bob@example.com", "groups": ["eng"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::CREATED);
    let bob = login.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut latencies = Vec::new();
    for _ in 0..5 {
        let made = http
            .post(format!("{}/v1/requests", lb.url))
            .bearer_auth(&bob)
            .json(&json!({"resource": STREAM}))
            .send()
            .await
            .unwrap();
        assert_eq!(made.status(), StatusCode::CREATED);
        let v: Value = made.json().await.unwrap();
        assert_eq!(v["request"]["state"], "active", "{v}");
        let id = v["request"]["id"].as_str().unwrap().to_string();
        let (_, stream) = open_stream(&c.url, &bob).await;
        let revoked = Instant::now();
        revoke(a, &bob, &id).await;
        let ended = tokio::time::timeout(Duration::from_secs(5), stream)
            .await
            .expect("C closes the stream")
            .unwrap();
        let after = ended.saturating_duration_since(revoked);
        assert!(
            after < Duration::from_secs(1),
            "C closed the stream {after:?} after A's revocation"
        );
        latencies.push(after);
    }
    latencies.sort();
    eprintln!(
        "FIGURES revocation on A to C's stream closed, 5 runs: min {:?}, max {:?}",
        latencies[0], latencies[4]
    );
    // And C refuses the revoked grant's requests.
    let refused = http
        .get(format!("{}/gate/{STREAM}/x", c.url))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    // A rotation through B; C publishes the new keys.
    let admin = b.dev_login("root@example.com", &["admin"]).await;
    let keys = b
        .post_ok("/v1/admin/keys/rotate", json!({}), &admin, StatusCode::OK)
        .await;
    let new = active_kids(&keys);
    assert!(!new.is_empty(), "{keys}");
    let took = published(c, &new)
        .await
        .expect("C publishes the keys B rotated");
    eprintln!("FIGURES key rotated on B published by C after {took:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");

    // A signs with a new key as soon as it has it; its session is good on every replica.
    let deadline = Instant::now() + Duration::from_secs(1);
    let carol = loop {
        let t = a.dev_login("carol@example.com", &["eng"]).await;
        let kid = jsonwebtoken::decode_header(&t).unwrap().kid.unwrap();
        if new.contains(&kid) {
            break t;
        }
        assert!(Instant::now() < deadline, "A still signs with {kid}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut answered = HashSet::new();
    for _ in 0..9 {
        let resp = http
            .get(format!("{}/v1/session", lb.url))
            .bearer_auth(&carol)
            .send()
            .await
            .unwrap();
        let by = answered_by(&resp);
        assert_eq!(resp.status(), StatusCode::OK, "through {by}");
        answered.insert(by);
    }
    assert_eq!(
        answered,
        addrs.iter().cloned().collect::<HashSet<_>>(),
        "every replica answered"
    );
    drop(lb);
    for app in apps {
        app.stop().await.unwrap();
    }
    db.drop_db().await;
}
