//! Database logins when things go wrong: a revocation landing while a login is being
//! handed out, the state a maker's death leaves behind, a database that does not exist or
//! cannot be reached, a dropped login that comes back, and a login that owns a table. In
//! each, nothing outlives its grant. (`kill -9` as a real process: `db_kill`; the broker
//! role's grants: `db_grants`.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::sync::{Notify, Semaphore};

use crate::db::{creds, event, revoke, until_cut_off};
use crate::db_fixture::{connect_as, DbFixture};
use crate::helpers::{spawn_app, Options, TestApp};

async fn broker(f: &DbFixture, data_dir: Option<std::path::PathBuf>) -> TestApp {
    spawn_app(Options {
        dev: true,
        data_dir,
        policy_dir: Some(f.policy_dir()),
        ..Options::default()
    })
    .await
}

async fn grant(app: &TestApp, token: &str) -> String {
    let v = app
        .post_ok(
            "/v1/requests",
            json!({"resource": "db:test", "role": "readonly", "duration": "1h"}),
            token,
            StatusCode::CREATED,
        )
        .await;
    v["request"]["id"].as_str().unwrap().to_string()
}

pub(crate) async fn gone_within(f: &DbFixture, login: &str, within: Duration) {
    let began = Instant::now();
    while !f.existing(&[login.to_string()]).await.is_empty() {
        assert!(
            began.elapsed() < within,
            "{login} still exists after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The login of a grant, as the broker recorded it.
async fn recorded_login(app: &TestApp, grant: &str) -> Option<(String, String)> {
    let mut tx = app.broker.core.store.begin_read().await.unwrap();
    let row = tx.db_login_open(grant).await.unwrap();
    tx.commit().await.unwrap();
    row.map(|r| (r.login, r.state))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_landing_while_a_login_is_handed_out_discards_it_and_drops_the_login() {
    let Some(f) = DbFixture::new().await else {
        return;
    };
    let app = broker(&f, None).await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let id = grant(&app, &bob).await;
    // Stall the hand-out of the db credential: the login is made, not yet handed out.
    let entered = Arc::new(Semaphore::new(0));
    let release = Arc::new(Notify::new());
    let (e, r) = (entered.clone(), release.clone());
    let pause: latchkey::app::Pause = Arc::new(move |what: &'static str| {
        let (e, r) = (e.clone(), r.clone());
        Box::pin(async move {
            if what == "db" {
                e.add_permits(1);
                r.notified().await;
            }
        })
    });
    app.broker.core.in_flight.set(Some(pause));
    let asking = {
        let (http, url, bob) = (app.http.clone(), app.url.clone(), bob.clone());
        tokio::spawn(async move {
            http.post(format!("{url}/v1/credentials/db"))
                .bearer_auth(bob)
                .json(&json!({"resource": "db:test"}))
                .send()
                .await
                .unwrap()
        })
    };
    let _ = entered.acquire().await.unwrap();
    let (login, state) = recorded_login(&app, &id).await.expect("made and recorded");
    // Made on its database; recorded as made only with the hand-out, in its transaction.
    assert_eq!(state, "creating");
    assert!(
        !f.existing(std::slice::from_ref(&login)).await.is_empty(),
        "made on the database"
    );
    revoke(&app, &bob, &id).await;
    release.notify_one();
    let resp = asking.await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "no_active_grant", "{body}");
    gone_within(&f, &login, Duration::from_secs(1)).await;
    let types = app.audit_types(&id).await;
    assert!(
        types.contains(&"credential.discarded".to_string()),
        "{types:?}"
    );
    assert!(
        !types.contains(&"credential.issued".to_string()),
        "{types:?}"
    );
    app.broker.core.in_flight.set(None);
    f.logins.lock().unwrap().push(login);
    app.stop().await.unwrap();
    f.drop_all().await;
}

/// What a kill between making a login and recording it leaves: the role on its
/// database, its record still `creating` under a lease nobody will release. The next
/// broker ends it once the lease runs out, whether or not its grant still lives.
#[tokio::test]
async fn a_login_whose_maker_died_is_ended_by_the_next_broker() {
    let Some(f) = DbFixture::new().await else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let app = broker(&f, Some(data.path().to_path_buf())).await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let id = grant(&app, &bob).await;
    let user = latchkey::model::policy::db::login_name("bob@example.com", &id, 1);
    let view: Value = app
        .get(&format!("/v1/requests/{id}"), Some(&bob))
        .await
        .json()
        .await
        .unwrap();
    let requester = view["requester_id"].as_str().unwrap().to_string();
    // The maker's first step, then its second (on the database), then the kill.
    let now = chrono::Utc::now();
    let mut tx = app.broker.core.store.begin().await.unwrap();
    let target = format!("{}/{}", f.server, f.name);
    let recorded = tx
        .db_login_insert(
            &latchkey::store::NewLogin {
                request_id: &id,
                user_id: &requester,
                resource: "db:test",
                role: "readonly",
                target: &target,
                login: &user,
                incarnation: 1,
                valid_until: now + chrono::Duration::hours(1),
                // Its lease ran out a moment ago: the maker is gone.
                lease_until: now - chrono::Duration::seconds(1),
            },
            now - chrono::Duration::seconds(61),
        )
        .await
        .unwrap();
    assert!(recorded.is_some());
    tx.commit().await.unwrap();
    let mut su = f.superuser().await;
    sqlx::raw_sql(&format!(
        "CREATE ROLE {user} LOGIN PASSWORD 'x' IN ROLE {}_ro",
        f.prefix
    ))
    .execute(&mut su)
    .await
    .unwrap();
    f.logins.lock().unwrap().push(user.clone());
    app.stop().await.unwrap();
    let app = broker(&f, Some(data.path().to_path_buf())).await;
    gone_within(&f, &user, Duration::from_secs(2)).await;
    let types = app.audit_types(&id).await;
    assert!(types.contains(&"db.login_dropped".to_string()), "{types:?}");
    // The grant still lives: asking again makes the grant's next login.
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let again = creds(&app, &f, &bob).await;
    assert_eq!(again["user"], format!("{user}_2"));
    connect_as(&again).await.expect("the new login works");
    app.stop().await.unwrap();
    f.drop_all().await;
}

/// A database that does not exist, and a server that does not answer: each a clear
/// refusal with its code, audited, and nothing recorded as made.
#[tokio::test]
async fn an_unknown_database_and_an_unreachable_server_are_refused_with_their_codes() {
    let Some(f) = DbFixture::new().await else {
        return;
    };
    let extra = |name: &str, dsn: String| {
        format!(
            "[[resource]]\nname = \"{name}\"\nkind = \"db\"\ndescription = \"x\"\n[resource.db]\ndsn = \"{dsn}\"\nsslmode = \"disable\"\n[[resource.role]]\nname = \"readonly\"\ndefault_duration = \"1h\"\nmax_duration = \"1h\"\nauto_approve = true\n[resource.role.db]\ngroups = [\"{}_ro\"]\n",
            f.prefix
        )
    };
    let gone = extra(
        "db:gone",
        format!("postgres://{}@{}/no_such_database_zz", f.admin, f.server),
    );
    let down = extra("db:down", format!("postgres://{}@127.0.0.1:9/x", f.admin));
    f.write_policy(&f.catalogue(&[&gone, &down]));
    let app = broker(&f, None).await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    for (resource, status, code) in [
        ("db:gone", StatusCode::BAD_GATEWAY, "db_unknown_database"),
        ("db:down", StatusCode::SERVICE_UNAVAILABLE, "db_unreachable"),
    ] {
        let v = app
            .post_ok(
                "/v1/requests",
                json!({"resource": resource, "role": "readonly"}),
                &bob,
                StatusCode::CREATED,
            )
            .await;
        let id = v["request"]["id"].as_str().unwrap().to_string();
        let began = Instant::now();
        let resp = app
            .post(
                "/v1/credentials/db",
                json!({"resource": resource}),
                Some(&bob),
            )
            .await;
        crate::helpers::assert_error(resp, status, code).await;
        assert!(
            began.elapsed() < Duration::from_secs(7),
            "bounded: {:?}",
            began.elapsed()
        );
        let failed = event(&app, &id, "credential.failed", Duration::from_secs(1)).await;
        assert_eq!(failed["details"]["code"], code);
        assert!(
            recorded_login(&app, &id).await.is_none(),
            "nothing recorded as made"
        );
    }
    app.stop().await.unwrap();
    f.drop_all().await;
}

/// A login the broker dropped that is back on its database (a restore from a backup):
/// the scan finds it and ends it again; a role with the prefix it never made is left alone.
#[tokio::test]
async fn a_dropped_login_that_comes_back_is_ended_again_and_a_stranger_is_left_alone() {
    let Some(f) = DbFixture::new().await else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let app = broker(&f, Some(data.path().to_path_buf())).await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let id = grant(&app, &bob).await;
    let c = creds(&app, &f, &bob).await;
    let login = c["user"].as_str().unwrap().to_string();
    revoke(&app, &bob, &id).await;
    gone_within(&f, &login, Duration::from_secs(1)).await;
    app.stop().await.unwrap();
    // The backup brings it back, with its membership; someone makes an lk_ role by hand.
    let stranger = format!("lk_{}_stranger", f.prefix);
    let mut su = f.superuser().await;
    sqlx::raw_sql(&format!(
        "CREATE ROLE {login} LOGIN IN ROLE {p}_ro; CREATE ROLE {stranger} NOLOGIN",
        p = f.prefix
    ))
    .execute(&mut su)
    .await
    .unwrap();
    f.logins.lock().unwrap().push(stranger.clone());
    // The next broker's first scan (5 s after start) ends it again.
    let app = broker(&f, Some(data.path().to_path_buf())).await;
    gone_within(&f, &login, Duration::from_secs(8)).await;
    assert_eq!(f.existing(std::slice::from_ref(&stranger)).await.len(), 1);
    let dropped = app
        .audit_types(&id)
        .await
        .into_iter()
        .filter(|t| t == "db.login_dropped")
        .count();
    assert_eq!(dropped, 2, "dropped, and dropped again");
    app.stop().await.unwrap();
    f.drop_all().await;
}

#[tokio::test]
async fn a_login_that_owns_a_table_is_left_disabled_without_memberships_once() {
    let Some(f) = DbFixture::new().await else {
        return;
    };
    let app = crate::db::broker(&f, None).await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let id = crate::db::grant(&app, &bob, "write", "1h").await;
    let c = creds(&app, &f, &bob).await;
    let mut held = connect_as(&c).await.unwrap();
    sqlx::raw_sql("CREATE TABLE mine (x int)")
        .execute(&mut held)
        .await
        .unwrap();
    revoke(&app, &bob, &id).await;
    until_cut_off(&mut held, Duration::from_secs(1)).await;
    let disabled = event(&app, &id, "db.login_disabled", Duration::from_secs(2)).await;
    assert!(
        disabled["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("owns objects"),
        "{disabled}"
    );
    let mut su = f.superuser().await;
    let (can_login, members): (bool, i64) = sqlx::query_as(
        "SELECT r.rolcanlogin, (SELECT count(*) FROM pg_auth_members m WHERE m.member = r.oid) FROM pg_roles r WHERE r.rolname = $1",
    )
    .bind(c["user"].as_str().unwrap())
    .fetch_one(&mut su)
    .await
    .unwrap();
    assert_eq!((can_login, members), (false, 0));
    // Once: no storm of retries or failures afterwards.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let types = app.audit_types(&id).await;
    let db_events: Vec<&String> = types.iter().filter(|t| t.starts_with("db.")).collect();
    assert_eq!(
        db_events,
        [
            "db.login_created",
            "db.sessions_terminated",
            "db.login_disabled"
        ],
        "{types:?}"
    );
    app.stop().await.unwrap();
    f.drop_all().await;
}
