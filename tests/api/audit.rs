//! The audit log: tampering with the database is found online and in an export, at the
//! right sequence number, on SQLite and PostgreSQL; an append that fails stops the
//! action; checkpoints reach their sinks; several brokers on one PostgreSQL never fork
//! the chain; the event feed resumes without loss.

use reqwest::StatusCode;
use serde_json::{json, Value};

use latchkey::adapters::keys::audit::AuditPublicKey;
use latchkey::adapters::sink::read_checkpoint_dir;
use latchkey::app::audit_verify::Report;
use latchkey::app::export::archive;
use latchkey::app::export::bundle::verify_bundle;
use latchkey::config::CheckpointSink;
use latchkey::model::audit::checkpoint::Checkpoint;
use latchkey::store::Store;

use crate::helpers::{assert_error, spawn_app, Options, TestApp};

/// Swaps events `k` and `k + 1` in place, as a tampering operator would.
pub async fn swap_events(store: &Store, k: i64) {
    sql(
        store,
        &format!("UPDATE audit_events SET seq = -1 WHERE seq = {k}"),
    )
    .await;
    sql(
        store,
        &format!("UPDATE audit_events SET seq = {k} WHERE seq = {}", k + 1),
    )
    .await;
    sql(
        store,
        &format!("UPDATE audit_events SET seq = {} WHERE seq = -1", k + 1),
    )
    .await;
}

/// Runs SQL straight on the broker's database, as an attacker with write access would.
pub async fn sql(store: &Store, statement: &str) {
    match store {
        Store::Sqlite(s) => sqlx::query(statement).execute(&s.pool).await.map(drop),
        Store::Postgres(p) => sqlx::query(statement).execute(&p.pool).await.map(drop),
    }
    .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

pub async fn auditor(app: &TestApp) -> String {
    app.dev_login("audra@example.com", &["auditor"]).await
}

/// Some activity: sessions, auto-approved grants, revocations. Returns the last seq.
async fn seed(app: &TestApp) -> i64 {
    let alice = app.dev_login("alice@example.com", &["eng"]).await;
    for i in 0..6 {
        let v = app
            .post_ok(
                "/v1/requests",
                json!({"resource": "aws:staging", "role": "admin", "duration": "1h", "reason": format!("deploy number {i}")}),
                &alice,
                StatusCode::CREATED,
            )
            .await;
        if i % 2 == 0 {
            let id = v["request"]["id"].as_str().unwrap().to_string();
            app.post_ok(
                &format!("/v1/requests/{id}/revoke"),
                json!({}),
                &alice,
                StatusCode::OK,
            )
            .await;
        }
    }
    last_seq(app).await
}

async fn last_seq(app: &TestApp) -> i64 {
    let mut tx = app.broker.core.store.begin_read().await.unwrap();
    tx.audit_last_seq().await.unwrap()
}

pub(crate) async fn verify_live(app: &TestApp, token: &str) -> Report {
    let resp = app.post("/v1/audit/verify", json!({}), Some(token)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

pub async fn audit_key(app: &TestApp) -> AuditPublicKey {
    let text = app.get("/v1/audit/key", None).await.text().await.unwrap();
    AuditPublicKey::from_jwk(&text).unwrap()
}

/// Exports `[from, to]` through the API and unpacks it into a new directory.
pub async fn export(app: &TestApp, token: &str, body: Value) -> tempfile::TempDir {
    let resp = app.post("/v1/audit/export", body, Some(token)).await;
    assert_eq!(resp.status(), StatusCode::OK, "export refused");
    assert_eq!(resp.headers()["content-type"], "application/x-tar");
    let bytes = resp.bytes().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    archive::unpack(std::io::Cursor::new(bytes.to_vec()), dir.path()).unwrap();
    dir
}

fn today_body() -> Value {
    let today = chrono::Utc::now().date_naive();
    json!({"from": (today - chrono::Days::new(1)).to_string(), "to": (today + chrono::Days::new(1)).to_string()})
}

fn sink_dir(app: &TestApp) -> std::path::PathBuf {
    match &app.broker.core.config.audit.checkpoint_sink {
        Some(CheckpointSink::Dir(d)) => d.clone(),
        other => panic!("a directory sink was expected, not {other:?}"),
    }
}

/// The tampering each test applies, given the sequence number to aim at and the last one.
#[derive(Clone, Copy, Debug)]
pub enum Tamper {
    Edit,
    Delete,
    Insert,
    Reorder,
    Truncate,
}

async fn tamper(store: &Store, how: Tamper, k: i64, last: i64) -> i64 {
    match how {
        Tamper::Edit => {
            sql(
                store,
                &format!("UPDATE audit_events SET actor = 'mallory' WHERE seq = {k}"),
            )
            .await;
            k
        }
        Tamper::Delete => {
            sql(store, &format!("DELETE FROM audit_events WHERE seq = {k}")).await;
            k
        }
        Tamper::Insert => {
            sql(
                store,
                &format!("UPDATE audit_events SET seq = -seq - 1 WHERE seq >= {k}"),
            )
            .await;
            sql(store, "UPDATE audit_events SET seq = -seq WHERE seq < 0").await;
            sql(
                store,
                &format!(
                    "INSERT INTO audit_events (seq, id, type, at, actor, subject, resource, role, outcome, reason,
                        request_id, client_addr, user_agent, details, prev_hash, hash)
                     SELECT {k}, 'forged', type, at, 'mallory', subject, resource, role, outcome, reason,
                        request_id, client_addr, user_agent, details, prev_hash, hash
                     FROM audit_events WHERE seq = {}",
                    k + 1
                ),
            )
            .await;
            // The head moves too, or the broker's next append would collide and refuse.
            sql(store, "UPDATE audit_head SET seq = seq + 1").await;
            k
        }
        Tamper::Reorder => {
            swap_events(store, k).await;
            k
        }
        Tamper::Truncate => {
            // A careful attacker: the tail, the head row and the checkpoints that cover it.
            let keep = last - 3;
            sql(
                store,
                &format!("DELETE FROM audit_events WHERE seq > {keep}"),
            )
            .await;
            sql(store, &format!("UPDATE audit_head SET seq = {keep}, hash = (SELECT hash FROM audit_events WHERE seq = {keep})")).await;
            sql(
                store,
                &format!("DELETE FROM audit_checkpoints WHERE events > {keep}"),
            )
            .await;
            keep + 1
        }
    }
}

/// Seeds, checkpoints, tampers, then expects both the live check and an exported
/// bundle (checked offline with the sink's checkpoints) to name `expected`.
pub async fn tampering_is_found(database_url: Option<String>, how: Tamper) {
    let app = spawn_app(Options {
        dev: true,
        database_url,
        ..Options::default()
    })
    .await;
    let audra = auditor(&app).await;
    let last = seed(&app).await;
    let cp: Checkpoint = serde_json::from_value(
        app.post_ok(
            "/v1/audit/checkpoints",
            json!({}),
            &audra,
            StatusCode::CREATED,
        )
        .await,
    )
    .unwrap();
    assert!(cp.events >= last, "the checkpoint covers the seeded events");
    let clean = verify_live(&app, &audra).await;
    assert!(clean.ok, "an untouched log verifies: {clean:?}");
    assert!(clean.checkpoints >= 1, "{clean:?}");

    let expected = tamper(&app.broker.core.store, how, 10, cp.events).await;
    let online = verify_live(&app, &audra).await;
    assert!(!online.ok, "{how:?} goes unnoticed online");
    assert_eq!(
        online.first_bad_seq,
        Some(expected),
        "{how:?} online: {online:?}"
    );

    let bundle = export(&app, &audra, today_body()).await;
    let outside = read_checkpoint_dir(&sink_dir(&app)).unwrap();
    let offline = verify_bundle(bundle.path(), &audit_key(&app).await, outside).unwrap();
    assert!(!offline.ok, "{how:?} goes unnoticed in the bundle");
    assert_eq!(
        offline.first_bad_seq,
        Some(expected),
        "{how:?} in the bundle: {offline:?}"
    );
    app.stop().await.unwrap();
}

/// Breaks every insert into the audit log, as a full disk or a lost database would.
async fn break_audit_appends(store: &Store) {
    match store {
        Store::Sqlite(_) => {
            sql(store, "CREATE TRIGGER no_audit BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END").await
        }
        Store::Postgres(_) => {
            sql(store, "CREATE FUNCTION no_audit() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk I/O error'; END $$ LANGUAGE plpgsql").await;
            sql(store, "CREATE TRIGGER no_audit BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION no_audit()").await;
        }
    }
}

async fn count(store: &Store, table: &str) -> i64 {
    let q = format!("SELECT COUNT(*) FROM {table}");
    match store {
        Store::Sqlite(s) => sqlx::query_scalar(&q).fetch_one(&s.pool).await.unwrap(),
        Store::Postgres(p) => sqlx::query_scalar(&q).fetch_one(&p.pool).await.unwrap(),
    }
}

/// With the audit log unwritable, neither a grant nor a credential comes into being.
pub async fn appends_fail_closed(database_url: Option<String>) {
    let app = spawn_app(Options {
        dev: true,
        database_url,
        ..Options::default()
    })
    .await;
    let alice = app.dev_login("alice@example.com", &["eng"]).await;
    let granted = app
        .post_ok(
            "/v1/requests",
            json!({"resource": "token:metrics-api", "role": "read", "duration": "1h"}),
            &alice,
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(granted["request"]["state"], "active");
    let (requests, issued) = (
        count(&app.broker.core.store, "access_requests").await,
        count(&app.broker.core.store, "credential_issuances").await,
    );
    break_audit_appends(&app.broker.core.store).await;

    let resp = app
        .post(
            "/v1/requests",
            json!({"resource": "aws:staging", "role": "admin", "duration": "1h"}),
            Some(&alice),
        )
        .await;
    assert_error(resp, StatusCode::SERVICE_UNAVAILABLE, "audit_unavailable").await;
    let resp = app
        .post(
            "/v1/credentials/token",
            json!({"resource": "token:metrics-api"}),
            Some(&alice),
        )
        .await;
    let body = assert_error(resp, StatusCode::SERVICE_UNAVAILABLE, "audit_unavailable").await;
    assert!(
        body.get("token").is_none() && !body.to_string().contains("eyJ"),
        "no token leaks: {body}"
    );
    assert_eq!(
        count(&app.broker.core.store, "access_requests").await,
        requests,
        "no request was stored"
    );
    assert_eq!(
        count(&app.broker.core.store, "credential_issuances").await,
        issued,
        "no credential was recorded"
    );
    app.stop().await.unwrap();
}

crate::helpers::on_both_backends! {
    an_edited_event_is_found_at_its_sequence_number => |db| tampering_is_found(db, Tamper::Edit);
    a_deleted_event_is_found_at_its_sequence_number => |db| tampering_is_found(db, Tamper::Delete);
    an_inserted_event_is_found_at_its_sequence_number => |db| tampering_is_found(db, Tamper::Insert);
    reordered_events_are_found_at_the_first_moved => |db| tampering_is_found(db, Tamper::Reorder);
    a_truncated_tail_is_found_against_the_checkpoint_held_outside => |db| tampering_is_found(db, Tamper::Truncate);
    a_failed_audit_append_stops_the_grant_and_the_credential => appends_fail_closed;
}

#[tokio::test]
async fn checkpoints_are_signed_every_interval_even_when_nothing_happens_and_posted_to_the_sink() {
    use axum::{extract::State, routing::post, Router};
    type Seen = std::sync::Arc<tokio::sync::Mutex<Vec<Checkpoint>>>;
    let seen: Seen = Default::default();
    let sink = Router::new()
        .route(
            "/checkpoints",
            post(
                |State(seen): State<Seen>, axum::Json(cp): axum::Json<Checkpoint>| async move {
                    seen.lock().await.push(cp);
                    axum::http::StatusCode::NO_CONTENT
                },
            ),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/checkpoints", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, sink).await });
    let app = spawn_app(Options {
        dev: true,
        audit: latchkey::config::AuditLayer {
            checkpoint_interval: Some("1s".into()),
            checkpoint_sink: Some(url),
            ..Default::default()
        },
        ..Options::default()
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(2600)).await;
    let got = seen.lock().await.clone();
    assert!(
        got.len() >= 2,
        "one at start and one a second later: {got:?}"
    );
    let key = audit_key(&app).await;
    for pair in got.windows(2) {
        assert!(pair[1].signature_valid(&key) && pair[0].signature_valid(&key));
        assert_eq!(pair[1].number, pair[0].number + 1);
        assert_eq!(
            pair[1].prev.as_deref(),
            Some(pair[0].hash().as_str()),
            "each names the one before"
        );
        assert_eq!(
            pair[1].events, pair[0].events,
            "nothing happened, and it was signed anyway"
        );
    }
    let mut forged = got[0].clone();
    forged.events += 1;
    assert!(
        !forged.signature_valid(&key),
        "a changed checkpoint no longer verifies"
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_sink_directory_never_overwrites_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let key = latchkey::adapters::keys::audit::AuditKey::load_or_create(keys.path()).unwrap();
    let sink = CheckpointSink::Dir(dir.path().to_path_buf());
    let http = reqwest::Client::new();
    let now = chrono::Utc::now();
    let first = Checkpoint::sign(&key, None, 10, &"a".repeat(64), now);
    latchkey::adapters::sink::deliver(&sink, &http, &first)
        .await
        .unwrap();
    latchkey::adapters::sink::deliver(&sink, &http, &first)
        .await
        .unwrap();
    let rival = Checkpoint::sign(&key, None, 7, &"b".repeat(64), now);
    let refused = latchkey::adapters::sink::deliver(&sink, &http, &rival)
        .await
        .unwrap_err();
    assert!(refused.contains("refusing to overwrite"), "{refused}");
    assert_eq!(read_checkpoint_dir(dir.path()).unwrap(), vec![first]);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_brokers_on_one_postgresql_never_fork_the_chain() {
    let Some(db) = crate::helpers::fresh_postgres().await else {
        return;
    };
    // Replicas share their keys (and so their sessions and audit key), as the README says.
    let shared = tempfile::tempdir().unwrap();
    let options = Options {
        dev: true,
        database_url: Some(db.url.clone()),
        data_dir: Some(shared.path().to_path_buf()),
        ..Options::default()
    };
    let (a, b) = (spawn_app(options.clone()).await, spawn_app(options).await);
    let (ta, tb) = (
        a.dev_login("alice@example.com", &["eng"]).await,
        b.dev_login("dave@example.com", &["eng"]).await,
    );
    let ask = |i: usize| json!({"resource": "aws:staging", "role": "admin", "reason": format!("parallel {i}")});
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (app, token) = if i % 2 == 0 { (&a, &ta) } else { (&b, &tb) };
        let req = app
            .http
            .post(format!("{}/v1/requests", app.url))
            .bearer_auth(token)
            .json(&ask(i));
        tasks.push(tokio::spawn(
            async move { req.send().await.unwrap().status() },
        ));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::CREATED);
    }
    let audra = auditor(&b).await;
    let report = verify_live(&b, &audra).await;
    assert!(report.ok, "{report:?}");
    assert!(
        report.events >= 120,
        "three events per request, none lost: {report:?}"
    );
    a.stop().await.unwrap();
    b.stop().await.unwrap();
    db.drop_db().await;
}

#[tokio::test]
async fn the_event_feed_writes_every_event_once_and_resumes_after_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let feed = data.path().join("siem.jsonl");
    let options = Options {
        dev: true,
        data_dir: Some(data.path().join("state")),
        audit: latchkey::config::AuditLayer {
            event_sink: Some(format!("file:{}", feed.display())),
            ..Default::default()
        },
        ..Options::default()
    };
    let wait_for = |n: i64| {
        let feed = feed.clone();
        async move {
            for _ in 0..100 {
                let last = std::fs::read_to_string(&feed)
                    .unwrap_or_default()
                    .lines()
                    .last()
                    .map(|l| {
                        serde_json::from_str::<Value>(l).unwrap()["seq"]
                            .as_i64()
                            .unwrap()
                    });
                if last == Some(n) {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            panic!("the feed did not reach event {n}");
        }
    };
    let app = spawn_app(options.clone()).await;
    let last = seed(&app).await;
    wait_for(last).await;
    app.stop().await.unwrap();
    let app = spawn_app(options).await;
    let last = seed(&app).await;
    wait_for(last).await;
    let lines: Vec<latchkey::model::audit::AuditEvent> = std::fs::read_to_string(&feed)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seqs: Vec<i64> = lines.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=last).collect::<Vec<_>>(),
        "every event once, in order, across the restart"
    );
    for e in &lines {
        assert_eq!(
            latchkey::model::audit::chain::event_hash(e).unwrap(),
            e.hash,
            "each line checks against its hash"
        );
    }
    app.stop().await.unwrap();
}

#[tokio::test]
async fn events_written_before_the_chain_existed_are_chained_on_the_next_start() {
    let data = tempfile::tempdir().unwrap();
    let options = Options {
        dev: true,
        data_dir: Some(data.path().to_path_buf()),
        ..Options::default()
    };
    let app = spawn_app(options.clone()).await;
    seed(&app).await;
    let store = app.broker.core.store.clone();
    app.stop().await.unwrap();
    // As a database from before migration 0004 would look: no hashes, no head.
    let reopened = Store::connect(&store_url(&store, data.path()))
        .await
        .unwrap();
    sql(
        &reopened,
        "UPDATE audit_events SET prev_hash = NULL, hash = NULL",
    )
    .await;
    sql(&reopened, "DELETE FROM audit_head").await;
    sql(&reopened, "DELETE FROM audit_checkpoints").await;
    reopened.close().await;
    std::fs::remove_dir_all(data.path().join("checkpoints")).unwrap();
    let app = spawn_app(options).await;
    let audra = auditor(&app).await;
    let report = verify_live(&app, &audra).await;
    assert!(report.ok && report.events > 20, "{report:?}");
    app.stop().await.unwrap();
}

fn store_url(_: &Store, data_dir: &std::path::Path) -> String {
    format!("sqlite://{}", data_dir.join("latchkey.db").display())
}
