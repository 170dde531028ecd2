//! Revocations across replicas on one PostgreSQL database: heard by notification (not
//! only the 400 ms poll), after the listener's connection is lost too; and a replica cut
//! off from the database fails closed, then recovers.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Connection;

use crate::gate::{grant, open_stream, STREAM};
use crate::gate_fixture::{policy_dir, upstream, Upstream};
use crate::helpers::{assert_error, fresh_postgres, spawn_app, Options, PgDb, TestApp};
use crate::pg_proxy::Proxy;

/// Two replicas on one database (and one data directory, so one set of keys).
struct Replicas {
    a: TestApp,
    b: TestApp,
    _up: Upstream,
    _policy: tempfile::TempDir,
    _shared: tempfile::TempDir,
}

/// Replica A on `db`; replica B on `b_url` (the same database, perhaps through a proxy).
async fn replicas(db: &PgDb, b_url: &str, b_cutoff: Option<&str>) -> Replicas {
    let up = upstream(STREAM).await;
    let policy = policy_dir(up.addr, "");
    let shared = tempfile::tempdir().unwrap();
    let options = Options {
        dev: true,
        policy_dir: Some(policy.path().to_path_buf()),
        data_dir: Some(shared.path().to_path_buf()),
        public_url: Some("http://latchkey.test".into()),
        database_url: Some(db.url.clone()),
        ..Options::default()
    };
    let a = spawn_app(options.clone()).await;
    let b = spawn_app(Options {
        database_url: Some(b_url.to_string()),
        gate_cutoff_after: b_cutoff.map(String::from),
        ..options
    })
    .await;
    up.trust_as(&a.url, "http://latchkey.test").await;
    Replicas {
        a,
        b,
        _up: up,
        _policy: policy,
        _shared: shared,
    }
}

/// A proxy in front of `db`'s server, and `db`'s URL through it.
async fn proxied(db: &PgDb) -> (Proxy, String) {
    let mut url = url::Url::parse(&db.url).unwrap();
    let to: SocketAddr = format!("127.0.0.1:{}", url.port().unwrap_or(5432))
        .parse()
        .unwrap();
    let proxy = Proxy::start(to).await;
    url.set_port(Some(proxy.addr.port())).unwrap();
    (proxy, url.to_string())
}

/// Waits (at most 5 s) until `done`.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (at most 5 s) for the stream's end; how long after `since` it came.
async fn closed_after(stream: tokio::task::JoinHandle<Instant>, since: Instant) -> Duration {
    let ended = tokio::time::timeout(Duration::from_secs(5), stream)
        .await
        .expect("the stream closes")
        .unwrap();
    ended.saturating_duration_since(since)
}

async fn revoke(app: &TestApp, token: &str, id: &str) {
    app.post_ok(
        &format!("/v1/requests/{id}/revoke"),
        json!({}),
        token,
        StatusCode::OK,
    )
    .await;
}

/// A grant made on A, a stream held through B, revoked on A: how long B took to close it.
async fn revocation_latency(r: &Replicas, bob: &str) -> Duration {
    let id = grant(&r.a, bob, STREAM, json!({})).await;
    let (_, stream) = open_stream(&r.b.url, bob).await;
    revoke(&r.a, bob, &id).await;
    closed_after(stream, Instant::now()).await
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::test]
async fn a_revocation_on_one_replica_is_heard_by_another_and_closes_its_stream_at_once() {
    let Some(db) = fresh_postgres().await else {
        return;
    };
    let r = replicas(&db, &db.url, None).await;
    let bob = r.a.dev_login("bob@example.com", &["eng"]).await;
    let heard = || r.b.broker.gate().fanout.hints.load(Ordering::Relaxed);
    let before = heard();
    let mut figures = Vec::new();
    for _ in 0..20 {
        let after = revocation_latency(&r, &bob).await;
        assert!(
            after < Duration::from_secs(1),
            "closed {after:?} after the other replica's revocation"
        );
        figures.push(after);
    }
    // B heard each revocation by notification (the poll alone would hear none).
    assert!(heard() >= before + 20, "{} hints heard", heard() - before);
    figures.sort();
    let (p50, p99) = (percentile(&figures, 0.5), percentile(&figures, 0.99));
    eprintln!(
        "FIGURES revocation-to-cut-off across replicas over {} revocations: p50 {:?}, p99 {:?} (the poll alone: up to 400 ms)",
        figures.len(),
        p50,
        p99
    );
    // Well under the poll's period typically (the poll alone would make the median ~200 ms).
    assert!(p50 < Duration::from_millis(150), "p50 {p50:?}");
    // The other replica's remembered admission went with the grant.
    let id = grant(&r.a, &bob, STREAM, json!({})).await;
    let ok = r.b.get(&format!("/gate/{STREAM}/x"), Some(&bob)).await;
    assert_eq!(ok.status(), StatusCode::OK);
    revoke(&r.a, &bob, &id).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = r.b.get(&format!("/gate/{STREAM}/x"), Some(&bob)).await;
    assert_error(again, StatusCode::FORBIDDEN, "grant_revoked").await;
    db.drop_db().await;
}

/// The backends of `replica`'s listener: `(pid, client_port)`.
async fn listener_backends(db: &PgDb, replica: &TestApp) -> Vec<(i32, i32)> {
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query_as("SELECT pid, client_port FROM pg_stat_activity WHERE application_name = $1")
        .bind(&replica.broker.gate().listener)
        .fetch_all(&mut conn)
        .await
        .unwrap()
}

/// B listens (its first LISTEN counts as a resync); B's resyncs so far.
async fn listening(r: &Replicas) -> u64 {
    let resyncs = || r.b.broker.gate().fanout.resyncs.load(Ordering::Relaxed);
    eventually("B never listened", || resyncs() > 0).await;
    resyncs()
}

#[tokio::test]
async fn a_revocation_committed_while_a_listener_was_disconnected_still_reaches_its_streams() {
    let Some(db) = fresh_postgres().await else {
        return;
    };
    let (proxy, b_url) = proxied(&db).await;
    let r = replicas(&db, &b_url, None).await;
    let bob = r.a.dev_login("bob@example.com", &["eng"]).await;
    let gate = r.b.broker.gate().clone();
    let before = listening(&r).await;
    let id = grant(&r.a, &bob, STREAM, json!({})).await;
    let (_, stream) = open_stream(&r.b.url, &bob).await;
    // B's listener is disconnected and cannot reconnect (B's pool keeps its connections).
    proxy.refuse_new();
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    for (pid, _) in listener_backends(&db, &r.b).await {
        sqlx::query("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let mut gone = false;
    for _ in 0..100 {
        if listener_backends(&db, &r.b).await.is_empty() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone, "B's listener is gone");
    let heard = gate.fanout.hints.load(Ordering::Relaxed);
    revoke(&r.a, &bob, &id).await;
    let after = closed_after(stream, Instant::now()).await;
    assert!(after < Duration::from_secs(1), "closed {after:?} after");
    assert_eq!(
        gate.fanout.hints.load(Ordering::Relaxed),
        heard,
        "the notification was lost, not heard"
    );
    // Back: B listens again and read the state again.
    proxy.restore();
    eventually("B never listened again", || {
        gate.fanout.resyncs.load(Ordering::Relaxed) > before
    })
    .await;
    let after = revocation_latency(&r, &bob).await;
    assert!(after < Duration::from_secs(1), "closed {after:?} after");
    assert!(
        gate.fanout.hints.load(Ordering::Relaxed) > heard,
        "heard again"
    );
    eprintln!("FIGURES revocation after a listener reconnect closed the stream in {after:?}");
    db.drop_db().await;
}

#[tokio::test]
async fn a_half_open_listener_connection_is_found_by_its_heartbeat_and_replaced() {
    let Some(db) = fresh_postgres().await else {
        return;
    };
    let (proxy, b_url) = proxied(&db).await;
    let r = replicas(&db, &b_url, None).await;
    let gate = r.b.broker.gate().clone();
    let before = listening(&r).await;
    let backends = listener_backends(&db, &r.b).await;
    assert_eq!(backends.len(), 1, "{backends:?}");
    // The listener's bytes stop; its connection stays open (nothing reads an error).
    assert!(
        proxy.freeze(backends[0].1 as u16),
        "the listener's connection is proxied"
    );
    let frozen = Instant::now();
    eventually("the frozen listener was never replaced", || {
        gate.fanout.resyncs.load(Ordering::Relaxed) > before
    })
    .await;
    eprintln!(
        "FIGURES a half-open listener was replaced {:?} after it froze",
        frozen.elapsed()
    );
    // The new listener hears revocations, and the replica was never cut off.
    let bob = r.a.dev_login("bob@example.com", &["eng"]).await;
    let heard = gate.fanout.hints.load(Ordering::Relaxed);
    let after = revocation_latency(&r, &bob).await;
    assert!(after < Duration::from_secs(1), "closed {after:?} after");
    assert!(gate.fanout.hints.load(Ordering::Relaxed) > heard, "heard");
    assert_eq!(readyz(&r.b).await.0, StatusCode::OK);
    db.drop_db().await;
}

async fn readyz(app: &TestApp) -> (StatusCode, Value) {
    let resp = app.get("/readyz", None).await;
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_replica_cut_off_from_the_database_fails_closed_past_the_bound_and_recovers() {
    let Some(db) = fresh_postgres().await else {
        return;
    };
    let (proxy, b_url) = proxied(&db).await;
    let r = replicas(&db, &b_url, Some("2s")).await;
    let bob = r.a.dev_login("bob@example.com", &["eng"]).await;
    grant(&r.a, &bob, STREAM, json!({})).await;
    let (_, stream) = open_stream(&r.b.url, &bob).await;
    assert_eq!(readyz(&r.b).await.0, StatusCode::OK);

    proxy.cut();
    let cut = Instant::now();
    let after = closed_after(stream, cut).await;
    eprintln!("FIGURES cut off at 2s: the stream closed {after:?} after the cut");
    assert!(
        after > Duration::from_millis(1200) && after < Duration::from_secs(4),
        "closed {after:?} after the cut, with gate.cutoff_after = 2s"
    );
    let (status, body) = readyz(&r.b).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "store_unreachable", "{body}");
    let refused = r.b.get(&format!("/gate/{STREAM}/x"), Some(&bob)).await;
    assert_error(
        refused,
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unreachable",
    )
    .await;
    // The other replica is not cut off: it still admits.
    assert_eq!(readyz(&r.a).await.0, StatusCode::OK);
    let ok = r.a.get(&format!("/gate/{STREAM}/x"), Some(&bob)).await;
    assert_eq!(ok.status(), StatusCode::OK);

    proxy.restore();
    let back = Instant::now();
    loop {
        if readyz(&r.b).await.0 == StatusCode::OK {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(15),
            "B never recovered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "FIGURES B ready again {:?} after the database came back",
        back.elapsed()
    );
    let (_, stream) = open_stream(&r.b.url, &bob).await;
    stream.abort();
    db.drop_db().await;
}

#[tokio::test]
async fn on_sqlite_a_replica_has_no_cutoff_and_no_listener() {
    // One process, told of every end directly: nothing to be cut off from.
    let app = spawn_app(Options {
        dev: true,
        gate_cutoff_after: Some("2s".into()),
        ..Options::default()
    })
    .await;
    let gate = app.broker.gate().clone();
    assert!(!gate.reach.bounded());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(gate.fanout.resyncs.load(Ordering::Relaxed), 0);
    assert_eq!(readyz(&app).await.0, StatusCode::OK);
}
