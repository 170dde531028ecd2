//! Credentials in flight when their grant ends. A provider that stalls (a fake STS in
//! front of moto that holds AssumeRole; the broker's own test seam, `in_flight`, for
//! broker and livestream tokens and gate admissions), an end committed during the stall,
//! then: nothing handed out after the end's answer, and the audit log saying exactly what
//! happened (`grant.revoked`, then `credential.discarded`; no `credential.issued` after).
//! Each on SQLite and PostgreSQL, 30 trials at once.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode as AxumStatus, Uri};
use latchkey::app::Pause;
use latchkey::config::LivestreamLayer;
use latchkey::model::audit::AuditEvent;
use latchkey::model::secret::Secret;
use latchkey::store::Store;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::sync::{watch, Semaphore};

use crate::gate::{grant, STREAM};
use crate::gate_fixture::{policy_dir, upstream};
use crate::helpers::{missing_peer, spawn_app, Options, TestApp};

const TRIALS: usize = 30;

/// A provider that stalls: each stalled call counts in, then waits for [`Stall::release`]
/// (or at most ten seconds, so that a failing test cannot hang).
#[derive(Clone)]
pub(crate) struct Stall {
    entered: Arc<Semaphore>,
    open: Arc<watch::Sender<bool>>,
}

impl Stall {
    pub(crate) fn new() -> Self {
        Self {
            entered: Arc::new(Semaphore::new(0)),
            open: Arc::new(watch::channel(false).0),
        }
    }

    /// The pause for the broker's seam, stalling only at `kind`.
    pub(crate) fn pause(&self, kind: &'static str) -> Pause {
        let stall = self.clone();
        Arc::new(move |what: &'static str| {
            let stall = stall.clone();
            boxed(async move {
                if what == kind {
                    stall.hold().await;
                }
            })
        })
    }

    async fn hold(&self) {
        let mut open = self.open.subscribe();
        self.entered.add_permits(1);
        let _ = tokio::time::timeout(Duration::from_secs(10), open.wait_for(|o| *o)).await;
    }

    /// Waits until `n` calls are stalled.
    pub(crate) async fn entered(&self, n: usize) {
        let all = self.entered.acquire_many(n as u32);
        tokio::time::timeout(Duration::from_secs(10), all)
            .await
            .expect("every call reached the stall")
            .unwrap()
            .forget();
    }

    pub(crate) fn release(&self) {
        self.open.send_replace(true);
    }
}

fn boxed(f: impl Future<Output = ()> + Send + 'static) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(f)
}

/// A pause that lets the first five calls at `kind` through, holds the others until the
/// stall is released, then lets them go 5 ms apart (so that they race whatever the test
/// does at the release).
fn racing(stall: &Stall, kind: &'static str) -> Pause {
    let calls = Arc::new(AtomicU64::new(0));
    let stall = stall.clone();
    Arc::new(move |what: &'static str| {
        let n = calls.fetch_add(u64::from(what == kind), Ordering::SeqCst);
        let stall = stall.clone();
        boxed(async move {
            if what == kind && n >= 5 {
                stall.hold().await;
                tokio::time::sleep(Duration::from_millis(5 * (n - 5))).await;
            }
        })
    })
}

#[derive(Clone)]
struct FakeSts {
    moto: String,
    pause: Pause,
}

/// STS as a slow one would be: each AssumeRole waits on `pause`, then moto answers it.
async fn slow_sts(
    State(s): State<FakeSts>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (AxumStatus, HeaderMap, Bytes) {
    if String::from_utf8_lossy(&body).contains("Action=AssumeRole") {
        (s.pause)("aws").await;
    }
    crate::aws::pass_on(&s.moto, method, uri, headers, body).await
}

async fn fake_sts(moto: &str, pause: Pause) -> String {
    let app = axum::Router::new().fallback(slow_sts).with_state(FakeSts {
        moto: moto.to_string(),
        pause,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// A kind of credential, where it is asked for, and on what grant.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Token,
    Aws,
    Livestream,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Token => "token",
            Kind::Aws => "aws",
            Kind::Livestream => "livestream",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Kind::Token => "/v1/credentials/token",
            Kind::Aws => "/v1/credentials/aws",
            Kind::Livestream => "/v1/credentials/livestream",
        }
    }

    fn grant(self) -> Value {
        match self {
            Kind::Token => json!({"resource": "token:metrics-api", "role": "read"}),
            Kind::Aws => json!({"resource": "aws:staging", "role": "admin"}),
            Kind::Livestream => json!({"resource": "stream:posthog", "role": "team:7"}),
        }
    }
}

/// A broker whose provider of `kind` waits on `pause`.
struct Broker {
    app: TestApp,
    _policy: Option<tempfile::TempDir>,
}

async fn broker(db: Option<String>, kind: Kind, pause: Pause) -> Option<Broker> {
    let mut options = Options {
        dev: true,
        database_url: db,
        ..Options::default()
    };
    let mut policy = None;
    match kind {
        Kind::Token => {}
        Kind::Aws => {
            let Some(moto) = std::env::var("LATCHKEY_TEST_MOTO_URL")
                .ok()
                .filter(|u| !u.is_empty())
            else {
                missing_peer("the STS emulator (LATCHKEY_TEST_MOTO_URL)");
                return None;
            };
            std::env::set_var("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE");
            std::env::set_var("AWS_SECRET_ACCESS_KEY", "broker-secret-for-tests");
            std::env::set_var("AWS_REGION", "us-east-1");
            std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
            options.aws_endpoint = Some(fake_sts(&moto, pause.clone()).await);
        }
        Kind::Livestream => {
            let dir = policy_dir("127.0.0.1:9".parse().unwrap(), POSTHOG);
            options.policy_dir = Some(dir.path().to_path_buf());
            options.livestream = Some(livestream());
            policy = Some(dir);
        }
    }
    let app = spawn_app(options).await;
    if kind != Kind::Aws {
        app.broker.core.in_flight.set(Some(pause));
    }
    Some(Broker {
        app,
        _policy: policy,
    })
}

const POSTHOG: &str = "\n[[resource]]\nname = \"stream:posthog\"\nkind = \"http\"\ndescription = \"p\"\nupstream = \"http://127.0.0.1:9\"\nupstream_auth = \"livestream\"\n\n[[resource.role]]\nname = \"team:7\"\ndefault_duration = \"1h\"\nmax_duration = \"1h\"\nauto_approve = true\n";

fn livestream() -> LivestreamLayer {
    LivestreamLayer {
        secret: Some(Secret::new("livestream-only-secret")),
        api_token: Some("phc_project_token".into()),
        ..LivestreamLayer::default()
    }
}

/// `n` humans, each with a session and an active grant of `kind`.
async fn holders(app: &TestApp, kind: Kind, n: usize) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for i in 0..n {
        let token = app.dev_login(&format!("u{i}@example.com"), &["eng"]).await;
        let v = app
            .post_ok("/v1/requests", kind.grant(), &token, StatusCode::CREATED)
            .await;
        assert_eq!(v["request"]["state"], "active", "{v}");
        out.push((token, v["request"]["id"].as_str().unwrap().to_string()));
    }
    out
}

/// Asks for a credential of `kind` in the background: its status and body.
fn ask(app: &TestApp, kind: Kind, token: &str) -> tokio::task::JoinHandle<(StatusCode, Value)> {
    let req = app
        .http
        .post(format!("{}{}", app.url, kind.path()))
        .bearer_auth(token)
        .json(&json!({"resource": kind.grant()["resource"]}));
    tokio::spawn(async move {
        let resp = req.send().await.unwrap();
        (resp.status(), resp.json().await.unwrap())
    })
}

async fn events(app: &TestApp, subject: &str) -> Vec<AuditEvent> {
    let mut tx = app.broker.core.store.begin_read().await.unwrap();
    let events = tx.audit_events(Some(subject), 0, 1000).await.unwrap();
    tx.commit().await.unwrap();
    events
}

async fn issuances(store: &Store, grant: &str) -> i64 {
    let q = "SELECT COUNT(*) FROM credential_issuances WHERE request_id = $1";
    match store {
        Store::Sqlite(s) => sqlx::query_scalar(q)
            .bind(grant)
            .fetch_one(&s.pool)
            .await
            .unwrap(),
        Store::Postgres(p) => sqlx::query_scalar(q)
            .bind(grant)
            .fetch_one(&p.pool)
            .await
            .unwrap(),
    }
}

/// The grant's events from its end on: the end, then only what was discarded.
fn after(events: &[AuditEvent], end: &str) -> Vec<AuditEvent> {
    let at = events
        .iter()
        .position(|e| e.kind == end)
        .unwrap_or_else(|| panic!("no {end} in {:?}", kinds(events)));
    events[at + 1..].to_vec()
}

/// Only the events about credentials (others, such as the AWS deny, may follow an end).
fn credentials(events: Vec<AuditEvent>) -> Vec<AuditEvent> {
    events
        .into_iter()
        .filter(|e| e.kind.starts_with("credential."))
        .collect()
}

fn kinds(events: &[AuditEvent]) -> Vec<&str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

/// 30 credentials of `kind` stalled at the provider, their grants revoked meanwhile: all
/// refused as a new request would be, none recorded, each audited as discarded.
async fn revoked_while_minting(db: Option<String>, kind: Kind) {
    let stall = Stall::new();
    let Some(b) = broker(db, kind, stall.pause(kind.name())).await else {
        return;
    };
    let app = &b.app;
    let held = holders(app, kind, TRIALS).await;
    let calls: Vec<_> = held.iter().map(|(t, _)| ask(app, kind, t)).collect();
    stall.entered(TRIALS).await;
    let revokes: Vec<_> = held
        .iter()
        .map(|(t, id)| {
            let req = app
                .http
                .post(format!("{}/v1/requests/{id}/revoke", app.url))
                .bearer_auth(t)
                .json(&json!({}));
            tokio::spawn(async move { req.send().await.unwrap().status() })
        })
        .collect();
    for r in revokes {
        assert_eq!(r.await.unwrap(), StatusCode::OK);
    }
    // Every revocation has answered: now the provider answers.
    stall.release();
    for (call, (_, id)) in calls.into_iter().zip(&held) {
        let (status, body) = call.await.unwrap();
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("no_active_grant")),
            "{body}"
        );
        assert_eq!(issuances(&app.broker.core.store, id).await, 0);
        let all = events(app, id).await;
        assert!(
            !kinds(&all).contains(&"credential.issued"),
            "{:?}",
            kinds(&all)
        );
        let tail = credentials(after(&all, "grant.revoked"));
        assert_eq!(kinds(&tail), ["credential.discarded"]);
        let d = &tail[0].details;
        assert_eq!(
            (d["kind"].as_str(), d["reason"].as_str()),
            (Some(kind.name()), Some("grant_revoked"))
        );
        assert_eq!(d["fingerprint"].as_str().map(str::len), Some(16), "{d}");
        let id_field = if kind == Kind::Aws {
            "access_key_id"
        } else {
            "jti"
        };
        assert!(d[id_field].is_string(), "{d}");
        assert_eq!(tail[0].outcome, "refused");
    }
}

/// 30 issuances on one grant: five go through, and the rest, held, are let go 5 ms apart
/// just as the grant is revoked: whatever was handed out was recorded before the
/// revocation committed, and everything else was discarded.
async fn racing_one_revoke(db: Option<String>, kind: Kind) {
    let stall = Stall::new();
    let Some(b) = broker(db, kind, racing(&stall, kind.name())).await else {
        return;
    };
    let app = &b.app;
    let (token, id) = holders(app, kind, 1).await.remove(0);
    let (done, mut answers) = tokio::sync::mpsc::unbounded_channel();
    for _ in 0..TRIALS {
        let (call, done) = (ask(app, kind, &token), done.clone());
        tokio::spawn(async move { done.send(call.await.unwrap()).unwrap() });
    }
    let first = answers.recv().await.unwrap();
    assert_eq!(
        first.0,
        StatusCode::CREATED,
        "before the revocation: {}",
        first.1
    );
    stall.entered(TRIALS - 5).await;
    let revoke = app
        .http
        .post(format!("{}/v1/requests/{id}/revoke", app.url))
        .bearer_auth(&token)
        .json(&json!({}));
    let revoke = tokio::spawn(async move { revoke.send().await.unwrap().status() });
    stall.release();
    assert_eq!(revoke.await.unwrap(), StatusCode::OK);
    let mut handed = vec![first.1];
    for _ in 1..TRIALS {
        let (status, body) = answers.recv().await.unwrap();
        match status {
            StatusCode::CREATED => handed.push(body),
            _ => assert_eq!(body["error"]["code"], "no_active_grant", "{body}"),
        }
    }
    let all = events(app, &id).await;
    let tail = credentials(after(&all, "grant.revoked"));
    assert!(
        tail.iter().all(|e| e.kind == "credential.discarded"),
        "{:?}",
        kinds(&tail)
    );
    let issued = all.iter().filter(|e| e.kind == "credential.issued").count();
    assert_eq!(
        issued,
        handed.len(),
        "every credential handed out was recorded before the revocation"
    );
    assert_eq!(
        issued + tail.len(),
        TRIALS,
        "and every other one was discarded"
    );
    assert_eq!(
        issuances(&app.broker.core.store, &id).await as usize,
        handed.len()
    );
    eprintln!(
        "{} handed out before the revocation, {} discarded",
        handed.len(),
        tail.len()
    );
    assert!(
        !handed.is_empty() && !tail.is_empty(),
        "the revocation fell amid the issuances ({} handed out)",
        handed.len()
    );
}

/// A token in flight when its session is logged out, its user locked or its grant
/// expires: refused with the code a new request would get, and audited as discarded.
async fn every_end_in_flight(db: Option<String>) {
    let stall = Stall::new();
    let Some(b) = broker(db, Kind::Token, stall.pause("token")).await else {
        return;
    };
    let app = &b.app;
    let held = holders(app, Kind::Token, 3).await;
    let admin = app.dev_login("root@example.com", &["admin"]).await;
    let calls: Vec<_> = held.iter().map(|(t, _)| ask(app, Kind::Token, t)).collect();
    stall.entered(3).await;
    let logout = app
        .post("/v1/auth/logout", json!({}), Some(&held[0].0))
        .await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    app.post_ok(
        "/v1/admin/locks",
        json!({"user": "u1@example.com"}),
        &admin,
        StatusCode::CREATED,
    )
    .await;
    let swept = app
        .broker
        .access
        .sweep(chrono::Utc::now() + chrono::Duration::hours(9))
        .await
        .unwrap();
    assert!(swept >= 3, "{swept}");
    stall.release();
    let expected = [
        (StatusCode::UNAUTHORIZED, "session_revoked"),
        (StatusCode::FORBIDDEN, "user_locked"),
        (StatusCode::FORBIDDEN, "no_active_grant"),
    ];
    let reasons = ["session_revoked", "user_locked", "grant_expired"];
    for ((call, (_, id)), (want, reason)) in calls
        .into_iter()
        .zip(&held)
        .zip(expected.iter().zip(reasons))
    {
        let (status, body) = call.await.unwrap();
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (want.0, Some(want.1)),
            "{body}"
        );
        let all = events(app, id).await;
        assert!(
            !kinds(&all).contains(&"credential.issued"),
            "{:?}",
            kinds(&all)
        );
        let discarded: Vec<_> = all
            .iter()
            .filter(|e| e.kind == "credential.discarded")
            .collect();
        assert_eq!(discarded.len(), 1, "{:?}", kinds(&all));
        assert_eq!(discarded[0].details["reason"], reason);
        assert_eq!(issuances(&app.broker.core.store, id).await, 0);
    }
}

/// 30 gate admissions (and, for a livestream upstream, the token minted for it) checked
/// before their grants were revoked and finished after: none let through, none
/// remembered, each refused as `grant_revoked`.
async fn admissions_overtaken(db: Option<String>, livestream: bool) {
    let stall = Stall::new();
    let (resource, pause) = if livestream {
        ("stream:posthog", "livestream")
    } else {
        (STREAM, "admission")
    };
    let up = upstream(resource).await;
    let extra = POSTHOG.replace("127.0.0.1:9", &up.addr.to_string());
    let policy = policy_dir(up.addr, if livestream { &extra } else { "" });
    let app = spawn_app(Options {
        dev: true,
        database_url: db,
        policy_dir: Some(policy.path().to_path_buf()),
        livestream: livestream.then(self::livestream),
        ..Options::default()
    })
    .await;
    up.trust(&app.url).await;
    let app = &app;
    app.broker.core.in_flight.set(Some(stall.pause(pause)));
    let mut held = Vec::new();
    for i in 0..TRIALS {
        let t = app.dev_login(&format!("u{i}@example.com"), &["eng"]).await;
        let extra = if livestream {
            json!({"role": "team:7"})
        } else {
            json!({})
        };
        let id = grant(app, &t, resource, extra).await;
        held.push((t, id));
    }
    let calls: Vec<_> = held
        .iter()
        .map(|(t, _)| {
            let req = app
                .http
                .get(format!("{}/gate/{resource}/a", app.url))
                .bearer_auth(t);
            tokio::spawn(async move { req.send().await.unwrap().status() })
        })
        .collect();
    stall.entered(TRIALS).await;
    for (t, id) in &held {
        app.post_ok(
            &format!("/v1/requests/{id}/revoke"),
            json!({}),
            t,
            StatusCode::OK,
        )
        .await;
    }
    stall.release();
    for call in calls {
        assert_eq!(call.await.unwrap(), StatusCode::FORBIDDEN);
    }
    for (t, id) in &held {
        let resp = app.get(&format!("/gate/{resource}/a"), Some(t)).await;
        crate::helpers::assert_error(resp, StatusCode::FORBIDDEN, "grant_revoked").await;
        if livestream {
            let all = events(app, id).await;
            let tail = credentials(after(&all, "grant.revoked"));
            assert_eq!(kinds(&tail), ["credential.discarded"]);
            assert!(
                !kinds(&all).contains(&"credential.issued"),
                "{:?}",
                kinds(&all)
            );
        }
    }
    assert_eq!(
        up.seen.requests.load(Ordering::SeqCst),
        0,
        "nothing reached the upstream"
    );
}

/// What the re-check holds, a revocation, a logout and a lock wait for: each is still
/// unanswered while a transaction holds the grant, the session or the locks, and goes
/// through once it commits (on PostgreSQL this is the row and advisory locks; on SQLite,
/// the one writer).
async fn ends_wait_for_a_hold(db: Option<String>) {
    let Some(b) = broker(db, Kind::Token, Stall::new().pause("none")).await else {
        return;
    };
    let app = &b.app;
    let held = holders(app, Kind::Token, 3).await;
    let admin = app.dev_login("root@example.com", &["admin"]).await;
    let session = |token: &str| {
        let payload = token.split('.').nth(1).unwrap();
        let raw =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
                .unwrap();
        serde_json::from_slice::<Value>(&raw).unwrap()["jti"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let ends = [
        (
            format!("/v1/requests/{}/revoke", held[0].1),
            json!({}),
            held[0].0.clone(),
        ),
        ("/v1/auth/logout".to_string(), json!({}), held[1].0.clone()),
        (
            "/v1/admin/locks".to_string(),
            json!({"user": "u2@example.com"}),
            admin,
        ),
    ];
    for (i, (path, body, token)) in ends.into_iter().enumerate() {
        let mut tx = app.broker.core.store.begin().await.unwrap();
        match i {
            0 => drop(tx.hold_request(&held[0].1).await.unwrap()),
            1 => tx.hold_session(&session(&held[1].0)).await.unwrap(),
            _ => tx.hold_against_locks().await.unwrap(),
        }
        let req = app
            .http
            .post(format!("{}{path}", app.url))
            .bearer_auth(token)
            .json(&body);
        let mut end = tokio::spawn(async move { req.send().await.unwrap().status() });
        let waited = tokio::time::timeout(Duration::from_millis(200), &mut end).await;
        assert!(waited.is_err(), "{path} went through a hold: {waited:?}");
        tx.commit().await.unwrap();
        assert!(end.await.unwrap().is_success(), "{path} after the hold");
    }
}

crate::helpers::on_both_backends! {
    broker_tokens_minted_while_their_grants_are_revoked_are_discarded_not_handed_out => |db| revoked_while_minting(db, Kind::Token);
    aws_sessions_from_a_stalled_sts_while_their_grants_are_revoked_are_discarded => |db| revoked_while_minting(db, Kind::Aws);
    livestream_tokens_minted_while_their_grants_are_revoked_are_discarded => |db| revoked_while_minting(db, Kind::Livestream);
    concurrent_tokens_racing_one_revoke_are_handed_out_only_if_recorded_before_it => |db| racing_one_revoke(db, Kind::Token);
    concurrent_aws_sessions_racing_one_revoke_are_handed_out_only_if_recorded_before_it => |db| racing_one_revoke(db, Kind::Aws);
    a_token_in_flight_across_a_logout_a_lock_or_an_expiry_is_refused_as_a_new_request_would_be => every_end_in_flight;
    a_revocation_a_logout_and_a_lock_wait_for_an_issuance_holding_what_they_end => ends_wait_for_a_hold;
    gate_admissions_checked_before_their_revocation_committed_are_neither_used_nor_remembered => |db| admissions_overtaken(db, false);
    gate_livestream_tokens_minted_while_their_grants_are_revoked_never_reach_the_upstream => |db| admissions_overtaken(db, true);
}
