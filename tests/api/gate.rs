//! The gate: only an active grant passes, nothing of a refused caller reaches the
//! upstream, and a stream closes within a second of its grant's end.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use chrono::Utc;
use latchkey::app::gate::cache::cache_key;
use latchkey::model::audit::Origin;

use crate::cli_and_config::{free_port, wait_ready};
use crate::gate_fixture::{policy_dir, upstream, Upstream};
use crate::helpers::{assert_error, spawn_app, Options, TestApp};

pub const STREAM: &str = "stream:live-events";

pub struct Gated {
    pub app: TestApp,
    pub up: Upstream,
    _policy: tempfile::TempDir,
}

pub async fn gated(options: Options) -> Gated {
    let up = upstream(STREAM).await;
    let policy = policy_dir(up.addr, "");
    let app = spawn_app(Options {
        dev: true,
        policy_dir: Some(policy.path().to_path_buf()),
        ..options
    })
    .await;
    up.trust(&app.url).await;
    Gated {
        app,
        up,
        _policy: policy,
    }
}

pub async fn grant(app: &TestApp, token: &str, resource: &str, extra: Value) -> String {
    let mut body = json!({"resource": resource});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let v = app
        .post_ok("/v1/requests", body, token, StatusCode::CREATED)
        .await;
    assert_eq!(v["request"]["state"], "active", "{v}");
    v["request"]["id"].as_str().unwrap().to_string()
}

/// Opens the event stream through the gate, reads the first event, then keeps reading in
/// the background; the handle resolves with the moment the stream ended.
pub async fn open_stream(url: &str, token: &str) -> (Value, tokio::task::JoinHandle<Instant>) {
    let mut resp = reqwest::Client::new()
        .get(format!("{url}/gate/{STREAM}/events"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut buf = String::new();
    let first = loop {
        let chunk = resp.chunk().await.unwrap().expect("an event");
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
        if let Some(end) = buf.find("\n\n") {
            let line = buf[..end].strip_prefix("data: ").unwrap().to_string();
            break serde_json::from_str::<Value>(&line).unwrap();
        }
    };
    let rest = tokio::spawn(async move {
        while let Ok(Some(_)) = resp.chunk().await {}
        Instant::now()
    });
    (first, rest)
}

/// Waits for the stream's end and returns how long after `since` it came.
async fn closed_after(stream: tokio::task::JoinHandle<Instant>, since: Instant) -> Duration {
    let ended = tokio::time::timeout(Duration::from_secs(5), stream)
        .await
        .expect("the stream closes")
        .unwrap();
    ended.saturating_duration_since(since)
}

async fn audit(app: &TestApp, grant: &str) -> Vec<(String, Value)> {
    let mut tx = app.broker.core.store.begin_read().await.unwrap();
    let events = tx.audit_events(Some(grant), 0, 1000).await.unwrap();
    tx.commit().await.unwrap();
    events.into_iter().map(|e| (e.kind, e.details)).collect()
}

/// The stream's closing, audited in the background: waits for it.
async fn closing(app: &TestApp, grant: &str) -> Value {
    for _ in 0..50 {
        if let Some((_, d)) = audit(app, grant)
            .await
            .into_iter()
            .find(|(k, _)| k == "gate.stream_closed")
        {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no gate.stream_closed for {grant}");
}

#[tokio::test]
async fn refused_callers_get_their_status_and_code_and_nothing_reaches_the_upstream() {
    let g = gated(Options::default()).await;
    let app = &g.app;
    let events = format!("/gate/{STREAM}/events");
    assert_error(
        app.get(&events, None).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    assert_error(
        app.get(&events, Some("not-a-token")).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    assert_error(
        app.get(&events, Some(&bob)).await,
        StatusCode::FORBIDDEN,
        "no_active_grant",
    )
    .await;
    // A grant on another resource does not open this one, by session or by broker token.
    grant(app, &bob, "http:dashboard", json!({})).await;
    assert_error(
        app.get(&events, Some(&bob)).await,
        StatusCode::FORBIDDEN,
        "no_active_grant",
    )
    .await;
    let t = app
        .post_ok(
            "/v1/credentials/token",
            json!({"resource": "http:dashboard"}),
            &bob,
            StatusCode::CREATED,
        )
        .await;
    let dashboard_token = t["token"].as_str().unwrap();
    assert_error(
        app.get(&events, Some(dashboard_token)).await,
        StatusCode::FORBIDDEN,
        "wrong_resource",
    )
    .await;
    assert_error(
        app.get("/gate/aws:prod/x", Some(&bob)).await,
        StatusCode::BAD_REQUEST,
        "not_gated",
    )
    .await;
    assert_error(
        app.get("/gate/nope/x", Some(&bob)).await,
        StatusCode::NOT_FOUND,
        "unknown_resource",
    )
    .await;
    // Revoked.
    let id = grant(app, &bob, STREAM, json!({})).await;
    app.post_ok(
        &format!("/v1/requests/{id}/revoke"),
        json!({}),
        &bob,
        StatusCode::OK,
    )
    .await;
    assert_error(
        app.get(&events, Some(&bob)).await,
        StatusCode::FORBIDDEN,
        "grant_revoked",
    )
    .await;
    // Expired (the dashboard grant lasts five seconds), by session and by broker token.
    tokio::time::sleep(Duration::from_millis(5200)).await;
    assert_error(
        app.get("/gate/http:dashboard/x", Some(&bob)).await,
        StatusCode::FORBIDDEN,
        "grant_expired",
    )
    .await;
    assert_error(
        app.get("/gate/http:dashboard/x", Some(dashboard_token))
            .await,
        StatusCode::FORBIDDEN,
        "grant_expired",
    )
    .await;
    // Locked: the session and a broker token minted before the lock.
    let dave = app.dev_login("dave@example.com", &["eng"]).await;
    grant(app, &dave, STREAM, json!({})).await;
    let t = app
        .post_ok(
            "/v1/credentials/token",
            json!({"resource": STREAM}),
            &dave,
            StatusCode::CREATED,
        )
        .await;
    let dave_token = t["token"].as_str().unwrap();
    let admin = app.dev_login("root@example.com", &["admin"]).await;
    app.post_ok(
        "/v1/admin/locks",
        json!({"user": "dave@example.com"}),
        &admin,
        StatusCode::CREATED,
    )
    .await;
    assert_error(
        app.get(&events, Some(&dave)).await,
        StatusCode::FORBIDDEN,
        "user_locked",
    )
    .await;
    assert_error(
        app.get(&events, Some(dave_token)).await,
        StatusCode::FORBIDDEN,
        "user_locked",
    )
    .await;
    assert_eq!(
        g.up.seen.requests.load(Ordering::SeqCst),
        0,
        "nothing reached the upstream"
    );
    // Refusals of known people are audited.
    let mut tx = app.broker.core.store.begin_read().await.unwrap();
    let all = tx.audit_events(None, 0, 10_000).await.unwrap();
    tx.commit().await.unwrap();
    let refused: Vec<String> = all
        .iter()
        .filter(|e| e.kind == "gate.refused")
        .map(|e| e.details["code"].as_str().unwrap().to_string())
        .collect();
    for code in [
        "no_active_grant",
        "grant_revoked",
        "grant_expired",
        "user_locked",
    ] {
        assert!(
            refused.iter().any(|c| c == code),
            "{code} audited: {refused:?}"
        );
    }
}

#[tokio::test]
async fn the_upstream_verifies_the_assertion_and_never_sees_the_callers_credentials() {
    let g = gated(Options::default()).await;
    let app = &g.app;
    let bob = app.dev_login("bob@example.com", &["eng", "oncall"]).await;
    let id = grant(app, &bob, STREAM, json!({})).await;
    let resp = app
        .http
        .post(format!("{}/gate/{STREAM}/api/things?x=1", app.url))
        .bearer_auth(&bob)
        .header("cookie", "session=secret")
        .header("x-latchkey-user", "dev|root@example.com")
        .header("connection", "x-private")
        .header("x-private", "hop")
        // Forwarding claims a caller makes up are replaced by the gate's own.
        .header("x-forwarded-for", "203.0.113.66")
        .header("x-forwarded-host", "admin.internal")
        .header("forwarded", "for=203.0.113.66")
        .body("payload")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["x-latchkey-grant"], id.as_str());
    let request_id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        v,
        json!({"path": "/api/things", "query": "x=1", "method": "POST"})
    );
    let claims = g.up.seen.claims.lock().unwrap()[0].clone();
    assert_eq!(
        (
            claims.sub.as_str(),
            claims.grant.as_str(),
            claims.role.as_str(),
            claims.email.as_deref()
        ),
        (
            "dev|bob@example.com",
            id.as_str(),
            "team:2",
            Some("bob@example.com")
        )
    );
    assert_eq!(claims.groups, vec!["eng", "oncall"]);
    assert!(claims.exp - claims.iat <= 60);
    let headers = g.up.seen.headers.lock().unwrap()[0].clone();
    for gone in ["authorization", "cookie", "x-latchkey-user", "x-private"] {
        assert!(
            headers.get(gone).is_none(),
            "{gone} reached the upstream: {headers}"
        );
    }
    // The upstream can tie its logs to the broker's: the same request id, and where the
    // request came from.
    assert_eq!(headers["x-request-id"], request_id.as_str());
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(
        headers["x-forwarded-host"].as_str(),
        Some(app.url.trim_start_matches("http://"))
    );
    assert!(headers.get("forwarded").is_none(), "{headers}");
    // The upstream is addressed as itself, not as the broker the caller named.
    assert_eq!(headers["host"], g.up.addr.to_string());
    // A caller's own id reaches the upstream when it is a clean token, and is replaced
    // when it could forge log lines there.
    for (sent, kept) in [("trace-abc.1", true), ("a b\"c", false)] {
        let resp = app
            .http
            .get(format!("{}/gate/{STREAM}/x", app.url))
            .bearer_auth(&bob)
            .header("x-request-id", sent)
            .send()
            .await
            .unwrap();
        let answered = resp.headers()["x-request-id"].to_str().unwrap().to_string();
        let seen = g.up.seen.headers.lock().unwrap().last().unwrap()["x-request-id"].clone();
        assert_eq!(seen, answered.as_str());
        assert_eq!(answered == sent, kept, "{sent:?} became {answered:?}");
    }
    // Proxied requests are counted under one route label, whatever the path.
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains(r#"latchkey_http_requests_total{method="POST",route="/gate/{resource}/{*path}",status="200"} 1"#)
            && metrics.contains(r#"latchkey_http_requests_total{method="GET",route="/gate/{resource}/{*path}",status="200"} 2"#),
        "{metrics}"
    );
    // The assertion is not a credential: replayed to the gate, it is refused.
    let assertion = headers["x-latchkey-assertion"].as_str().unwrap();
    assert_error(
        app.get(&format!("/gate/{STREAM}/x"), Some(assertion)).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
}

#[tokio::test]
async fn upstream_connections_are_reused_and_one_the_upstream_closed_is_replaced() {
    let g = gated(Options::default()).await;
    let app = &g.app;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    grant(app, &bob, STREAM, json!({})).await;
    let get = |path: &str| {
        app.http
            .get(format!("{}/gate/{STREAM}{path}", app.url))
            .bearer_auth(&bob)
            .send()
    };
    // Requests one after another: one upstream connection, kept alive.
    for _ in 0..5 {
        assert_eq!(get("/a").await.unwrap().status(), StatusCode::OK);
    }
    assert_eq!(g.up.seen.connections.load(Ordering::SeqCst), 1);
    // The upstream closes it; the next request goes out on a new one, and succeeds.
    assert_eq!(get("/close").await.unwrap().status(), StatusCode::OK);
    for _ in 0..3 {
        assert_eq!(get("/a").await.unwrap().status(), StatusCode::OK);
    }
    assert_eq!(g.up.seen.connections.load(Ordering::SeqCst), 2);
    assert_eq!(g.up.seen.requests.load(Ordering::SeqCst), 9);
    // An answer still arriving after its head: the connection is reused once it is read
    // to the end.
    for _ in 0..3 {
        let r = get("/chunks").await.unwrap();
        assert_eq!(r.text().await.unwrap(), "chunk 0\nchunk 1\nchunk 2\n");
    }
    assert_eq!(get("/a").await.unwrap().status(), StatusCode::OK);
    assert_eq!(g.up.seen.connections.load(Ordering::SeqCst), 2);
    // One the caller abandons halfway is closed (its rest would be read as the next
    // answer): the next request opens a new connection, and gets its own answer.
    let mut r = get("/events").await.unwrap();
    assert!(r.chunk().await.unwrap().is_some());
    drop(r);
    let r = get("/after").await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["path"], "/after");
    assert_eq!(g.up.seen.connections.load(Ordering::SeqCst), 3);
    assert_eq!(
        app.broker.gate().pool.prune(),
        0,
        "nothing idle is stale yet"
    );
}

/// The race that forgetting on revoke cannot see: a check reads the grant just before its
/// revocation commits and remembers the admission just after. On this replica the end is
/// numbered, and such an admission is not remembered; one an end on another replica
/// overtook (unknown here) is forgotten by the store poll within its interval, and the
/// credential is refused from then on, within the second.
#[tokio::test]
async fn an_admission_remembered_after_its_revocation_is_forgotten_by_the_poll() {
    let g = gated(Options::default()).await;
    let app = &g.app;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let id = grant(app, &bob, STREAM, json!({})).await;
    let cache = &app.broker.gate().admissions;
    let since = cache.since();
    let checked_before = app
        .broker
        .gatekeeper
        .admit(Some(&bob), STREAM, &Origin::default, Utc::now())
        .await
        .expect("admitted");
    app.post_ok(
        &format!("/v1/requests/{id}/revoke"),
        json!({}),
        &bob,
        StatusCode::OK,
    )
    .await;
    let key = cache_key(&bob, STREAM);
    assert!(
        !cache.put(key, checked_before.clone(), since),
        "a check this replica's revocation overtook is not remembered"
    );
    // As if revoked on another replica: this one's ends do not know of it.
    assert!(cache.put(key, checked_before, cache.since()));
    assert!(
        cache.get(&key, Utc::now()).is_some(),
        "the stale admission is in"
    );
    let put = Instant::now();
    loop {
        let status = app
            .get(&format!("/gate/{STREAM}/a"), Some(&bob))
            .await
            .status();
        if status == StatusCode::FORBIDDEN {
            break;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(
            put.elapsed() < Duration::from_secs(1),
            "a revoked grant still admitted a second later"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(cache.get(&key, Utc::now()).is_none());
    assert_error(
        app.get(&format!("/gate/{STREAM}/a"), Some(&bob)).await,
        StatusCode::FORBIDDEN,
        "grant_revoked",
    )
    .await;
}

/// Polls `fut` once: whether it is still pending.
async fn pending_after_one_poll<F: std::future::Future + Unpin>(fut: &mut F) -> bool {
    tokio::select! {
        biased;
        _ = fut => false,
        _ = std::future::ready(()) => true,
    }
}

/// One credential presented by many requests at once while its admission is not
/// remembered: one of them checks it in full, the rest wait for that check.
#[tokio::test]
async fn concurrent_requests_with_one_credential_share_one_admission_check() {
    let g = gated(Options::default()).await;
    let app = &g.app;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    grant(app, &bob, STREAM, json!({})).await;
    let mallory = app.dev_login("mallory@example.com", &["eng"]).await;
    let cache = &app.broker.gate().admissions;
    // Spawned together on this test's one thread, each runs until its check waits on the
    // store, so all of them are in before the first check can finish.
    let admit_all = |token: &str, n: usize| {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..n {
            let (broker, token) = (app.broker.clone(), token.to_string());
            set.spawn(async move {
                broker
                    .gatekeeper
                    .admit(Some(&token), STREAM, &Origin::default, Utc::now())
                    .await
                    .map(|a| a.grant_id.clone())
                    .map_err(|r| r.code)
            });
        }
        set.join_all()
    };
    let before = cache.checks();
    let admitted = admit_all(&bob, 32).await;
    assert_eq!(cache.checks() - before, 1, "one check for 32 requests");
    assert!(admitted.iter().all(|a| a.is_ok()), "{admitted:?}");
    assert_eq!(cache.in_flight(), 0);
    // A refusal is not remembered, so each refused request is checked on its own (those
    // that waited for a check that admitted nobody check side by side): none is let
    // through on another's check.
    let before = cache.checks();
    let refused = admit_all(&mallory, 8).await;
    assert_eq!(cache.checks() - before, 8);
    assert!(
        refused.iter().all(|r| *r == Err("no_active_grant")),
        "{refused:?}"
    );
    assert_eq!(cache.in_flight(), 0);

    // A check abandoned halfway (its caller went away) hands the turn on: the test holds
    // the turn for Carol's credential, as a check in progress would.
    let carol = app.dev_login("carol@example.com", &["eng"]).await;
    grant(app, &carol, STREAM, json!({})).await;
    let origin = Origin::default;
    let checking = cache.turn(cache_key(&carol, STREAM)).await;
    let mut waiting = Box::pin(app.broker.gatekeeper.admit(
        Some(&carol),
        STREAM,
        &origin,
        Utc::now(),
    ));
    assert!(
        pending_after_one_poll(&mut waiting).await,
        "admitted while another check held the turn"
    );
    assert_eq!(cache.in_flight(), 1);
    drop(checking);
    let admitted = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the waiting check runs once the turn is given up");
    assert_eq!(admitted.expect("admitted").user_id, "dev|carol@example.com");
    assert_eq!(cache.in_flight(), 0);
    // One that gives up waiting leaves nothing behind.
    let checking = cache.turn(cache_key(&carol, "stream:other")).await;
    let mut waiting = Box::pin(app.broker.gatekeeper.admit(
        Some(&carol),
        "stream:other",
        &origin,
        Utc::now(),
    ));
    assert!(pending_after_one_poll(&mut waiting).await);
    drop(waiting);
    drop(checking);
    assert_eq!(cache.in_flight(), 0);
    // /metrics counts the full checks.
    let text = app.get("/metrics", None).await.text().await.unwrap();
    let line = format!("latchkey_gate_admission_checks_total {}", cache.checks());
    assert!(text.contains(&line), "{text}");
    assert!(text.contains("latchkey_gate_streams_open 0"), "{text}");
}

#[tokio::test]
async fn a_stream_closes_within_a_second_of_revocation_and_is_audited_with_its_bytes() {
    let g = gated(Options::default()).await;
    let app = &g.app;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let id = grant(app, &bob, STREAM, json!({})).await;
    let (first, stream) = open_stream(&app.url, &bob).await;
    for field in ["uuid", "timestamp", "distinct_id", "event", "properties"] {
        assert!(first.get(field).is_some(), "{field} in {first}");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Revoked from another terminal: an administrator through the API.
    let admin = app.dev_login("root@example.com", &["admin"]).await;
    app.post_ok(
        &format!("/v1/requests/{id}/revoke"),
        json!({}),
        &admin,
        StatusCode::OK,
    )
    .await;
    let revoked = Instant::now();
    let after = closed_after(stream, revoked).await;
    assert!(
        after < Duration::from_secs(1),
        "closed {after:?} after the revocation"
    );
    // The admission the stream was let in by is forgotten with the grant: the same
    // session is refused at once, not when the cached admission would have run out.
    let again = app.get(&format!("/gate/{STREAM}/x"), Some(&bob)).await;
    assert_error(again, StatusCode::FORBIDDEN, "grant_revoked").await;
    let closed = closing(app, &id).await;
    assert_eq!(closed["why"], "revoked");
    assert!(closed["bytes"].as_u64().unwrap() > 100, "{closed}");
    assert!(closed["duration_ms"].as_u64().unwrap() >= 200, "{closed}");
    let kinds: Vec<String> = audit(app, &id).await.into_iter().map(|(k, _)| k).collect();
    assert!(
        kinds.contains(&"gate.stream_opened".to_string()),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn lock_logout_and_expiry_each_close_the_stream_within_a_second() {
    let g = gated(Options::default()).await;
    let app = &g.app;
    let admin = app.dev_login("root@example.com", &["admin"]).await;
    // Lock.
    let dave = app.dev_login("dave@example.com", &["eng"]).await;
    let id = grant(app, &dave, STREAM, json!({})).await;
    let (_, stream) = open_stream(&app.url, &dave).await;
    app.post_ok(
        "/v1/admin/locks",
        json!({"user": "dave@example.com"}),
        &admin,
        StatusCode::CREATED,
    )
    .await;
    let after = closed_after(stream, Instant::now()).await;
    assert!(after < Duration::from_secs(1), "lock: {after:?}");
    assert_eq!(closing(app, &id).await["why"], "user_locked");
    let again = app.get(&format!("/gate/{STREAM}/x"), Some(&dave)).await;
    assert_error(again, StatusCode::FORBIDDEN, "user_locked").await;
    // Logout.
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let id = grant(app, &bob, STREAM, json!({})).await;
    let (_, stream) = open_stream(&app.url, &bob).await;
    let resp = app.post("/v1/auth/logout", json!({}), Some(&bob)).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let after = closed_after(stream, Instant::now()).await;
    assert!(after < Duration::from_secs(1), "logout: {after:?}");
    assert_eq!(closing(app, &id).await["why"], "session_ended");
    let again = app.get(&format!("/gate/{STREAM}/x"), Some(&bob)).await;
    assert_error(again, StatusCode::UNAUTHORIZED, "session_revoked").await;
    // Expiry: a two-second grant.
    let erin = app.dev_login("erin@example.com", &["eng"]).await;
    let id = grant(app, &erin, STREAM, json!({"duration": "2s"})).await;
    let v = app
        .get(&format!("/v1/requests/{id}"), Some(&erin))
        .await
        .json::<Value>()
        .await
        .unwrap();
    let ends: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(v["expires_at"].clone()).unwrap();
    let (_, stream) = open_stream(&app.url, &erin).await;
    let ended = tokio::time::timeout(Duration::from_secs(5), stream)
        .await
        .unwrap()
        .unwrap();
    let late = chrono::Utc::now() - ends - chrono::Duration::from_std(ended.elapsed()).unwrap();
    assert!(
        late < chrono::Duration::seconds(1),
        "expiry: closed {late:?} after the grant's end"
    );
    assert_eq!(closing(app, &id).await["why"], "expired");
    let again = app.get(&format!("/gate/{STREAM}/x"), Some(&erin)).await;
    assert_error(again, StatusCode::FORBIDDEN, "grant_expired").await;
}

/// Two replicas sharing a database (and keys); a grant revoked on one closes the stream
/// the other relays, by the store poll.
async fn replicas_close_each_others_streams(database_url: Option<String>) {
    let up = upstream(STREAM).await;
    let policy = policy_dir(up.addr, "");
    let shared = tempfile::tempdir().unwrap();
    let options = Options {
        dev: true,
        policy_dir: Some(policy.path().to_path_buf()),
        data_dir: Some(shared.path().to_path_buf()),
        public_url: Some("http://latchkey.test".into()),
        database_url,
        ..Options::default()
    };
    let a = spawn_app(options.clone()).await;
    let b = spawn_app(options).await;
    up.trust_as(&a.url, "http://latchkey.test").await;
    let bob = a.dev_login("bob@example.com", &["eng"]).await;
    let id = grant(&a, &bob, STREAM, json!({})).await;
    let (_, stream) = open_stream(&b.url, &bob).await;
    a.post_ok(
        &format!("/v1/requests/{id}/revoke"),
        json!({}),
        &bob,
        StatusCode::OK,
    )
    .await;
    let after = closed_after(stream, Instant::now()).await;
    assert!(
        after < Duration::from_secs(1),
        "closed {after:?} after the other replica's revocation"
    );
    assert_eq!(closing(&b, &id).await["why"], "revoked");
    // The other replica's remembered admission went with it.
    let again = b.get(&format!("/gate/{STREAM}/events"), Some(&bob)).await;
    assert_error(again, StatusCode::FORBIDDEN, "grant_revoked").await;
}

#[tokio::test]
async fn a_revocation_on_one_replica_closes_the_stream_held_by_another() {
    replicas_close_each_others_streams(None).await;
}

#[tokio::test]
async fn replicas_sharing_postgresql_close_each_others_streams_within_a_second() {
    let Some(db) = crate::helpers::fresh_postgres().await else {
        return;
    };
    replicas_close_each_others_streams(Some(db.url.clone())).await;
    db.drop_db().await;
}

#[tokio::test]
async fn an_upgraded_connection_is_tunnelled_and_cut_at_revocation() {
    let g = gated(Options::default()).await;
    let app = &g.app;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let id = grant(app, &bob, STREAM, json!({})).await;
    let addr = app.url.strip_prefix("http://").unwrap();
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET /gate/{STREAM}/upgrade HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {bob}\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n"
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        tcp.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    tcp.write_all(b"ping").await.unwrap();
    let mut echo = [0u8; 4];
    tcp.read_exact(&mut echo).await.unwrap();
    assert_eq!(&echo, b"ping");
    app.post_ok(
        &format!("/v1/requests/{id}/revoke"),
        json!({}),
        &bob,
        StatusCode::OK,
    )
    .await;
    let revoked = Instant::now();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(2), tcp.read_to_end(&mut rest))
        .await
        .expect("the tunnel closes")
        .ok();
    assert!(revoked.elapsed() < Duration::from_secs(1));
    let closed = closing(app, &id).await;
    assert_eq!(
        (closed["kind"].as_str(), closed["why"].as_str()),
        (Some("upgrade"), Some("revoked"))
    );
}

/// The broker as a process on one core, where it runs tokio's single-threaded scheduler:
/// it proxies, streams and cuts a stream at revocation as it does on many.
#[tokio::test]
async fn on_one_core_the_broker_proxies_and_cuts_streams_at_revocation() {
    if std::process::Command::new("taskset")
        .arg("-V")
        .output()
        .is_err()
    {
        return crate::helpers::missing_peer("taskset (util-linux)");
    }
    let up = upstream(STREAM).await;
    let policy = policy_dir(up.addr, "");
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let child = std::process::Command::new("taskset")
        .args(["-c", "0", env!("CARGO_BIN_EXE_latchkey"), "serve", "--dev"])
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data.path())
        .env("LATCHKEY_POLICY_DIR", policy.path())
        .env("LATCHKEY_GATE_DEV_SOURCE", "off")
        .env("RUST_LOG", "error")
        .spawn()
        .unwrap();
    struct Stop(std::process::Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut server = Stop(child);
    wait_ready(&url, &mut server.0);
    up.trust(&url).await;
    let http = reqwest::Client::new();
    let post = |path: String, token: Option<&str>, body: Value| {
        let mut req = http.post(format!("{url}{path}")).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move {
            let r = req.send().await.unwrap();
            let status = r.status();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    let login = |email: &str, group: &str| {
        let body = json!({"email": email, "groups": [group]});
        let sent = post("/v1/auth/dev-login".into(), None, body);
        async move { sent.await.1["token"].as_str().unwrap().to_string() }
    };
    let bob = login("bob@example.com", "eng").await;
    let (_, v) = post(
        "/v1/requests".into(),
        Some(&bob),
        json!({"resource": STREAM}),
    )
    .await;
    assert_eq!(v["request"]["state"], "active", "{v}");
    let id = v["request"]["id"].as_str().unwrap().to_string();
    // Concurrent requests on one thread, each with its own answer.
    let answers = (0..20).map(|i| {
        let (http, url, bob) = (http.clone(), url.clone(), bob.clone());
        async move {
            let v: Value = http
                .get(format!("{url}/gate/{STREAM}/n/{i}"))
                .bearer_auth(&bob)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(v["path"], format!("/n/{i}"));
        }
    });
    let mut set = tokio::task::JoinSet::new();
    for a in answers {
        set.spawn(a);
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    let (_, stream) = open_stream(&url, &bob).await;
    let admin = login("root@example.com", "admin").await;
    let (status, _) = post(format!("/v1/requests/{id}/revoke"), Some(&admin), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let after = closed_after(stream, Instant::now()).await;
    assert!(
        after < Duration::from_secs(1),
        "closed {after:?} after the revocation"
    );
    assert_eq!(up.seen.requests.load(Ordering::SeqCst), 21);
}
