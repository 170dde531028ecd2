//! An operator with write access to the database tampers with the audit log, on a
//! running or a stopped broker, on SQLite and PostgreSQL: each tampering is found by
//! `audit verify` with the narrowest range the evidence allows, and the broker then
//! refuses to act (writes answer 503 `audit_chain_broken` and `/readyz` does too, or the
//! broker refuses to start).

use reqwest::StatusCode;
use serde_json::json;

use latchkey::adapters::sink::{newest_in_dir, read_checkpoint_dir};
use latchkey::app::audit_verify::Report;
use latchkey::model::audit::checkpoint::Checkpoint;
use latchkey::startup::Application;
use latchkey::store::Store;

use crate::audit::{audit_key, auditor, sql};
use crate::helpers::{assert_error, layer, spawn_app, Options, TestApp};

/// A broker's state that outlives it: its data directory and its database.
struct Site {
    data: tempfile::TempDir,
    database_url: Option<String>,
    /// The audit key's public half, as an auditor pins it (`latchkey audit key`) while
    /// the broker runs: on PostgreSQL the key itself is sealed in the database.
    audit_public: std::sync::Mutex<Option<latchkey::adapters::keys::audit::AuditPublicKey>>,
}

impl Site {
    fn new(database_url: Option<String>) -> Self {
        Site {
            data: tempfile::tempdir().unwrap(),
            database_url,
            audit_public: Default::default(),
        }
    }

    fn options(&self) -> Options {
        Options {
            dev: true,
            database_url: self.database_url.clone(),
            data_dir: Some(self.data.path().to_path_buf()),
            ..Options::default()
        }
    }

    async fn start(&self) -> TestApp {
        let app = spawn_app(self.options()).await;
        let public = app.broker.audit.audit_key().public().clone();
        *self.audit_public.lock().unwrap() = Some(public);
        app
    }

    /// Starts a broker that must refuse; returns why.
    async fn refused_start(&self) -> String {
        let config = layer(&self.options(), self.data.path()).validate().unwrap();
        match Application::build(config).await {
            Ok(_) => panic!("the broker started on a tampered log"),
            Err(e) => format!("{e:#}"),
        }
    }

    /// The database, opened as an operator would while the broker is stopped.
    async fn open(&self) -> Store {
        let url = self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}",
                self.data.path().join("latchkey.db").display()
            )
        });
        Store::connect(&url).await.unwrap()
    }

    fn sink(&self) -> std::path::PathBuf {
        self.data.path().join("checkpoints")
    }

    /// `audit verify` with the sink's copies, as `latchkey audit verify --checkpoints DIR`
    /// would ask a broker to run it.
    async fn verify_offline(&self, store: &Store) -> Report {
        let public = self
            .audit_public
            .lock()
            .unwrap()
            .clone()
            .expect("started once");
        let copies = read_checkpoint_dir(&self.sink()).unwrap();
        latchkey::app::audit_verify::verify_store(store, &public, copies, None)
            .await
            .unwrap()
    }
}

/// Requests, some revoked: a few events each. Returns the last seq.
async fn activity(app: &TestApp, who: &str, n: usize) -> i64 {
    let token = app.dev_login(who, &["eng"]).await;
    for i in 0..n {
        app.post_ok(
            "/v1/requests",
            json!({"resource": "aws:staging", "role": "admin", "duration": "1h", "reason": format!("change {i}")}),
            &token,
            StatusCode::CREATED,
        )
        .await;
    }
    last_seq(&app.broker.core.store).await
}

async fn last_seq(store: &Store) -> i64 {
    store
        .begin_read()
        .await
        .unwrap()
        .audit_last_seq()
        .await
        .unwrap()
}

async fn checkpoint(app: &TestApp, token: &str) -> Checkpoint {
    serde_json::from_value(
        app.post_ok(
            "/v1/audit/checkpoints",
            json!({}),
            token,
            StatusCode::CREATED,
        )
        .await,
    )
    .unwrap()
}

async fn verify_live(app: &TestApp, token: &str) -> Report {
    let resp = app.post("/v1/audit/verify", json!({}), Some(token)).await;
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "verification is a read: it answers"
    );
    resp.json().await.unwrap()
}

/// The broker refuses to act: a write, a checkpoint and readiness all answer
/// `audit_chain_broken`, and no checkpoint is signed over the break.
async fn refuses_to_act(app: &TestApp, site: &Site, token: &str, signed_before: i64) {
    let r = app
        .post("/v1/audit/checkpoints", json!({}), Some(token))
        .await;
    assert_error(r, StatusCode::SERVICE_UNAVAILABLE, "audit_chain_broken").await;
    let r = app
        .post(
            "/v1/requests",
            json!({"resource": "aws:staging", "role": "admin", "duration": "1h", "reason": "after the break"}),
            Some(token),
        )
        .await;
    let body = assert_error(r, StatusCode::SERVICE_UNAVAILABLE, "audit_chain_broken").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("latchkey audit verify"),
        "the refusal says what to do: {body}"
    );
    let r = app.get("/readyz", None).await;
    assert_error(r, StatusCode::SERVICE_UNAVAILABLE, "audit_chain_broken").await;
    let r = app
        .get("/v1/audit/events?after=0&limit=5", Some(token))
        .await;
    assert_eq!(r.status(), StatusCode::OK, "reads still answer");
    let newest = newest_in_dir(&site.sink()).unwrap().map_or(0, |c| c.number);
    assert_eq!(
        newest, signed_before,
        "no checkpoint was signed over the break"
    );
}

fn assert_range(r: &Report, from: i64, through: Option<i64>, exact: bool, what: &str) {
    assert!(!r.ok, "{what} goes unnoticed: {r:?}");
    assert_eq!(r.first_bad_seq, Some(from), "{what}: {r:?}");
    assert_eq!(r.first_bad_exact, exact, "{what}: {r:?}");
    // The widest range reported; an unbounded one is the widest of all.
    let widest = r
        .problems
        .iter()
        .map(|p| p.through.unwrap_or(i64::MAX))
        .max();
    assert_eq!(widest, Some(through.unwrap_or(i64::MAX)), "{what}: {r:?}");
}

/// A broker with some activity after a checkpoint: returns it, the auditor, the
/// checkpoint and the last seq.
async fn with_unprotected_tail(site: &Site) -> (TestApp, String, Checkpoint, i64) {
    let app = site.start().await;
    let audra = auditor(&app).await;
    activity(&app, "alice@example.com", 3).await;
    let cp = checkpoint(&app, &audra).await;
    let last = activity(&app, "bob@example.com", 3).await;
    assert!(last > cp.events + 4, "a tail after the checkpoint");
    (app, audra, cp, last)
}

/// Edits event `k`'s actor and recomputes the chain after it with the chain maths, head
/// included, as an attacker without the signing key can.
async fn edit_and_rehash(store: &Store, k: i64) {
    let mut tx = store.begin_read().await.unwrap();
    let mut events = tx
        .audit_events_between(None, k, i64::MAX, 100_000)
        .await
        .unwrap();
    drop(tx);
    let mut prev = events[0].prev_hash.clone();
    events[0].actor = "mallory".into();
    for e in &mut events {
        latchkey::model::audit::chain::link(e, e.seq - 1, &prev).unwrap();
        prev = e.hash.clone();
        sql(
            store,
            &format!(
                "UPDATE audit_events SET actor = '{}', prev_hash = '{}', hash = '{}' WHERE seq = {}",
                e.actor, e.prev_hash, e.hash, e.seq
            ),
        )
        .await;
    }
    sql(store, &format!("UPDATE audit_head SET hash = '{prev}'")).await;
}

async fn delete_tail_and_set_head_back(store: &Store, keep: i64) {
    sql(
        store,
        &format!("DELETE FROM audit_events WHERE seq > {keep}"),
    )
    .await;
    sql(store, &format!("UPDATE audit_head SET seq = {keep}, hash = (SELECT hash FROM audit_events WHERE seq = {keep})")).await;
}

pub async fn an_edited_event_in_the_tail_stops_the_broker_at_its_next_checkpoint(
    db: Option<String>,
) {
    let site = Site::new(db);
    let (app, audra, cp, _) = with_unprotected_tail(&site).await;
    let k = cp.events + 2;
    sql(
        &app.broker.core.store,
        &format!("UPDATE audit_events SET actor = 'mallory' WHERE seq = {k}"),
    )
    .await;
    refuses_to_act(&app, &site, &audra, cp.number).await;
    assert_range(
        &verify_live(&app, &audra).await,
        k,
        Some(k),
        true,
        "an edit",
    );
    app.stop().await.unwrap();
}

pub async fn a_tail_deleted_with_its_head_set_back_is_caught_at_the_next_append(
    db: Option<String>,
) {
    let site = Site::new(db);
    let (app, audra, cp, last) = with_unprotected_tail(&site).await;
    let keep = cp.events + 2;
    delete_tail_and_set_head_back(&app.broker.core.store, keep).await;
    refuses_to_act(&app, &site, &audra, cp.number).await;
    let r = verify_live(&app, &audra).await;
    assert_range(&r, keep + 1, Some(last), true, "a cut tail");
    assert!(
        r.problems[0]
            .message
            .contains("the running broker appended"),
        "{r:?}"
    );
    app.stop().await.unwrap();
}

pub async fn a_tail_deleted_on_a_stopped_broker_is_refused_at_start(db: Option<String>) {
    let site = Site::new(db);
    let (app, _, cp, last) = with_unprotected_tail(&site).await;
    app.stop().await.unwrap();
    let store = site.open().await;
    let keep = cp.events + 2;
    delete_tail_and_set_head_back(&store, keep).await;
    let why = site.refused_start().await;
    assert!(
        why.contains(&format!("events {}-{last}", keep + 1)),
        "{why}"
    );
    assert!(
        why.contains("latchkey audit verify"),
        "says what to do: {why}"
    );
    let r = site.verify_offline(&store).await;
    assert_range(&r, keep + 1, Some(last), true, "a tail cut while stopped");
    store.close().await;
}

pub async fn rows_deleted_with_the_head_left_alone_stop_the_broker_at_its_next_checkpoint(
    db: Option<String>,
) {
    let site = Site::new(db);
    let (app, audra, cp, _) = with_unprotected_tail(&site).await;
    let (a, b) = (cp.events + 2, cp.events + 3);
    sql(
        &app.broker.core.store,
        &format!("DELETE FROM audit_events WHERE seq >= {a} AND seq <= {b}"),
    )
    .await;
    refuses_to_act(&app, &site, &audra, cp.number).await;
    assert_range(
        &verify_live(&app, &audra).await,
        a,
        Some(b),
        true,
        "deleted rows",
    );
    app.stop().await.unwrap();
}

pub async fn a_log_truncated_past_a_checkpoint_is_refused_at_start(db: Option<String>) {
    let site = Site::new(db);
    let (app, _, cp, last) = with_unprotected_tail(&site).await;
    app.stop().await.unwrap();
    let store = site.open().await;
    let keep = cp.events - 2;
    delete_tail_and_set_head_back(&store, keep).await;
    sql(
        &store,
        &format!("DELETE FROM audit_checkpoints WHERE events > {keep}"),
    )
    .await;
    let why = site.refused_start().await;
    assert!(
        why.contains(&format!("events {}-{last}", keep + 1)),
        "{why}"
    );
    let r = site.verify_offline(&store).await;
    assert_range(
        &r,
        keep + 1,
        Some(last),
        true,
        "a truncation past a checkpoint",
    );
    store.close().await;
}

pub async fn swapped_events_are_found_exactly_and_stop_the_broker(db: Option<String>) {
    let site = Site::new(db);
    let (app, audra, cp, _) = with_unprotected_tail(&site).await;
    let k = cp.events - 3;
    let store = &app.broker.core.store;
    crate::audit::swap_events(store, k).await;
    assert_range(
        &verify_live(&app, &audra).await,
        k,
        Some(k + 1),
        true,
        "a swap",
    );
    refuses_to_act(&app, &site, &audra, cp.number).await;
    app.stop().await.unwrap();
}

pub async fn a_chain_rehashed_in_the_tail_is_caught_at_the_next_append(db: Option<String>) {
    let site = Site::new(db);
    let (app, audra, cp, last) = with_unprotected_tail(&site).await;
    edit_and_rehash(&app.broker.core.store, cp.events + 2).await;
    refuses_to_act(&app, &site, &audra, cp.number).await;
    assert_range(
        &verify_live(&app, &audra).await,
        cp.events + 1,
        Some(last),
        false,
        "a rehash",
    );
    app.stop().await.unwrap();
}

pub async fn a_chain_rehashed_on_a_stopped_broker_contradicts_the_checkpoint_outside(
    db: Option<String>,
) {
    let site = Site::new(db);
    let (app, _, cp, last) = with_unprotected_tail(&site).await;
    app.stop().await.unwrap();
    let store = site.open().await;
    edit_and_rehash(&store, cp.events + 2).await;
    let why = site.refused_start().await;
    assert!(
        why.contains("rewritten") && why.contains(&format!("seq {last}")),
        "{why}"
    );
    let r = site.verify_offline(&store).await;
    assert_range(
        &r,
        cp.events + 1,
        Some(last),
        false,
        "a rehash while stopped",
    );
    store.close().await;
}

/// Audit times follow sequence order even when an event was made with an earlier time.
pub async fn audit_times_never_go_back_in_sequence_order(db: Option<String>) {
    let site = Site::new(db);
    let app = site.start().await;
    activity(&app, "alice@example.com", 1).await;
    let store = &app.broker.core.store;
    let past = chrono::Utc::now() - chrono::Duration::hours(1);
    let mut tx = store.begin().await.unwrap();
    // A kind no broker writes: the store orders and reads it like any other.
    let mut stale = latchkey::model::audit::AuditEvent::new(
        latchkey::model::audit::EventKind::PolicyDecided,
        "latchkey",
        &Default::default(),
        past,
    )
    .unwrap();
    stale.kind = "test.stale".into();
    tx.append_audit(&stale).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin_read().await.unwrap();
    let events = tx.audit_events(None, 0, 10_000).await.unwrap();
    for pair in events.windows(2) {
        assert!(
            pair[0].at <= pair[1].at,
            "{} before {}",
            pair[0].seq,
            pair[1].seq
        );
    }
    assert!(
        events.last().unwrap().at > past,
        "moved up to its place's time"
    );
    drop(tx);
    app.stop().await.unwrap();
}

/// An honest log under load is never taken for a tampered one: verification, checkpoints
/// and appends racing each other leave the broker serving.
pub async fn verifying_while_events_are_appended_finds_nothing_and_stops_nothing(
    db: Option<String>,
) {
    let site = Site::new(db);
    let app = std::sync::Arc::new(site.start().await);
    let audra = auditor(&app).await;
    let alice = app.dev_login("alice@example.com", &["eng"]).await;
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (app, alice) = (app.clone(), alice.clone());
            tokio::spawn(async move {
                for i in 0..8 {
                    let body = json!({"resource": "aws:staging", "role": "admin", "duration": "1h", "reason": format!("load {w} {i}")});
                    let r = app.post("/v1/requests", body, Some(&alice)).await;
                    assert_eq!(r.status(), StatusCode::CREATED);
                }
            })
        })
        .collect();
    for _ in 0..6 {
        let r = verify_live(&app, &audra).await;
        assert!(r.ok, "{r:?}");
        checkpoint(&app, &audra).await;
    }
    for w in writers {
        w.await.unwrap();
    }
    assert!(verify_live(&app, &audra).await.ok);
    assert_eq!(app.get("/readyz", None).await.status(), StatusCode::OK);
    let app = std::sync::Arc::try_unwrap(app).ok().unwrap();
    app.stop().await.unwrap();
}

crate::helpers::on_both_backends! {
    multi_thread;
    an_edited_event_in_the_tail_stops_the_broker_at_its_next_checkpoint => super::an_edited_event_in_the_tail_stops_the_broker_at_its_next_checkpoint;
    a_tail_deleted_with_its_head_set_back_is_caught_at_the_next_append => super::a_tail_deleted_with_its_head_set_back_is_caught_at_the_next_append;
    a_tail_deleted_on_a_stopped_broker_is_refused_at_start => super::a_tail_deleted_on_a_stopped_broker_is_refused_at_start;
    rows_deleted_with_the_head_left_alone_stop_the_broker_at_its_next_checkpoint => super::rows_deleted_with_the_head_left_alone_stop_the_broker_at_its_next_checkpoint;
    a_log_truncated_past_a_checkpoint_is_refused_at_start => super::a_log_truncated_past_a_checkpoint_is_refused_at_start;
    swapped_events_are_found_exactly_and_stop_the_broker => super::swapped_events_are_found_exactly_and_stop_the_broker;
    a_chain_rehashed_in_the_tail_is_caught_at_the_next_append => super::a_chain_rehashed_in_the_tail_is_caught_at_the_next_append;
    a_chain_rehashed_on_a_stopped_broker_contradicts_the_checkpoint_outside => super::a_chain_rehashed_on_a_stopped_broker_contradicts_the_checkpoint_outside;
    audit_times_never_go_back_in_sequence_order => super::audit_times_never_go_back_in_sequence_order;
    verifying_while_events_are_appended_finds_nothing_and_stops_nothing => super::verifying_while_events_are_appended_finds_nothing_and_stops_nothing;
}

#[tokio::test]
async fn a_checkpoint_is_signed_every_n_events_and_at_shutdown() {
    let site = Site::new(None);
    let mut options = site.options();
    options.audit = latchkey::config::AuditLayer {
        checkpoint_interval: Some("24h".into()),
        checkpoint_every_events: Some("5".into()),
        ..Default::default()
    };
    let app = spawn_app(options.clone()).await;
    let at_start = newest_in_dir(&site.sink()).unwrap().map_or(0, |c| c.events);
    let last = activity(&app, "alice@example.com", 4).await;
    assert!(last - at_start >= 5, "enough events for one");
    let mut signed = 0;
    for _ in 0..50 {
        signed = newest_in_dir(&site.sink()).unwrap().map_or(0, |c| c.events);
        if signed >= at_start + 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        signed >= at_start + 5,
        "signed after 5 events, not at the 24h interval: {signed}"
    );
    let last = activity(&app, "bob@example.com", 1).await;
    app.stop().await.unwrap();
    let newest = newest_in_dir(&site.sink()).unwrap().unwrap();
    assert_eq!(
        newest.events, last,
        "the shutdown checkpoint covers the last event"
    );
}

#[tokio::test]
async fn an_https_sink_s_acknowledged_checkpoint_is_remembered_outside_the_database() {
    use axum::{routing::post, Router};
    let sink = Router::new().route("/cp", post(|| async { StatusCode::NO_CONTENT }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, sink).await });
    let site = Site::new(None);
    let mut options = site.options();
    options.audit.checkpoint_sink = Some(url);
    let app = spawn_app(options.clone()).await;
    let last = activity(&app, "alice@example.com", 3).await;
    app.stop().await.unwrap();
    let acked = latchkey::adapters::sink::acknowledged(site.data.path())
        .unwrap()
        .unwrap();
    assert_eq!(
        acked.events, last,
        "the shutdown checkpoint was acknowledged and remembered"
    );
    // The attacker removes the tail and every checkpoint from the database.
    let store = site.open().await;
    delete_tail_and_set_head_back(&store, last - 3).await;
    sql(&store, "DELETE FROM audit_checkpoints").await;
    store.close().await;
    let config = layer(&options, site.data.path()).validate().unwrap();
    let why = match Application::build(config).await {
        Ok(_) => panic!("started on a log shorter than its acknowledged checkpoint"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        why.contains(&format!("events {}-{last}", last - 2)),
        "{why}"
    );
}

#[tokio::test]
async fn the_database_and_checkpoints_are_readable_by_the_broker_s_user_only() {
    use std::os::unix::fs::PermissionsExt;
    let site = Site::new(None);
    let app = site.start().await;
    let audra = auditor(&app).await;
    activity(&app, "alice@example.com", 1).await;
    checkpoint(&app, &audra).await;
    let mode = |p: std::path::PathBuf| {
        std::fs::metadata(&p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let data = site.data.path();
    for f in ["latchkey.db", "latchkey.db-wal", "latchkey.db-shm"] {
        assert_eq!(mode(data.join(f)), 0o600, "{f}");
    }
    for dir in [data.to_path_buf(), site.sink(), data.join("keys")] {
        assert_eq!(mode(dir.clone()), 0o700, "{}", dir.display());
    }
    for entry in std::fs::read_dir(site.sink()).unwrap() {
        assert_eq!(mode(entry.unwrap().path()), 0o600, "checkpoint files");
    }
    let _ = audit_key(&app).await;
    app.stop().await.unwrap();
}

#[tokio::test]
async fn the_gate_admits_nobody_once_the_log_is_found_cut_short_remembered_admissions_included() {
    use crate::gate::{grant, STREAM};
    use crate::gate_fixture::{policy_dir, upstream};
    let up = upstream(STREAM).await;
    let policy = policy_dir(up.addr, "");
    let site = Site::new(None);
    let mut options = site.options();
    options.policy_dir = Some(policy.path().to_path_buf());
    let app = spawn_app(options).await;
    let audra = auditor(&app).await;
    let bob = app.dev_login("bob@example.com", &["eng", "oncall"]).await;
    grant(&app, &bob, STREAM, json!({})).await;
    let path = format!("/v1/gate/auth/{STREAM}");
    assert_eq!(
        app.get(&path, Some(&bob)).await.status(),
        StatusCode::OK,
        "admitted and remembered"
    );
    let last = last_seq(&app.broker.core.store).await;
    delete_tail_and_set_head_back(&app.broker.core.store, last - 2).await;
    let r = app
        .post("/v1/audit/checkpoints", json!({}), Some(&audra))
        .await;
    assert_error(r, StatusCode::SERVICE_UNAVAILABLE, "audit_chain_broken").await;
    let resp = app.get(&path, Some(&bob)).await;
    assert_eq!(resp.headers()["x-latchkey-error"], "audit_chain_broken");
    assert_error(resp, StatusCode::SERVICE_UNAVAILABLE, "audit_chain_broken").await;
    app.stop().await.unwrap();
}
