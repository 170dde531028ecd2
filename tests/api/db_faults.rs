//! Database logins when things go wrong: a revocation landing while a login is being
//! handed out, the state a maker's death leaves behind, a database that refuses to end
//! the sessions or cannot be reached, and a broker role short of grants (also on
//! PostgreSQL 16 and later). In each, nothing outlives its grant. (`kill -9`: `db_kill`.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::sync::{Notify, Semaphore};

use crate::db::{creds, event, until_cut_off};
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

async fn gone_within(f: &DbFixture, login: &str, within: Duration) {
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
    app.post_ok(
        &format!("/v1/requests/{id}/revoke"),
        json!({}),
        &bob,
        StatusCode::OK,
    )
    .await;
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
    let again = app
        .post_ok(
            "/v1/credentials/db",
            json!({"resource": "db:test"}),
            &bob,
            StatusCode::CREATED,
        )
        .await;
    f.track(&again);
    assert_eq!(again["user"], format!("{user}_2"));
    connect_as(&again).await.expect("the new login works");
    app.stop().await.unwrap();
    f.drop_all().await;
}

#[tokio::test]
async fn the_start_up_check_names_each_missing_grant_with_its_fix() {
    let Some(f) = DbFixture::with(false).await else {
        return;
    };
    let app = broker(&f, None).await;
    let postgres = latchkey::adapters::providers::postgres::Postgres::default();
    let fixes = |checked: Vec<latchkey::app::db_check::Checked>| -> Vec<String> {
        assert_eq!(checked.len(), 1);
        checked[0]
            .found
            .as_ref()
            .expect("reachable")
            .iter()
            .map(|p| p.fix.clone())
            .collect()
    };
    // Refused at the door first.
    let first = fixes(latchkey::app::db_check::check(&app.broker.core, &postgres).await);
    assert_eq!(
        first,
        [format!(
            "GRANT CONNECT ON DATABASE \"{}\" TO \"{}\";",
            f.name, f.admin
        )]
    );
    let mut su = f.superuser().await;
    sqlx::raw_sql(&first[0]).execute(&mut su).await.unwrap();
    let postgres = latchkey::adapters::providers::postgres::Postgres::default();
    let checked = latchkey::app::db_check::check(&app.broker.core, &postgres).await;
    assert_eq!(checked.len(), 1);
    let problems = checked[0].found.as_ref().expect("reachable");
    let fixes: Vec<&str> = problems.iter().map(|p| p.fix.as_str()).collect();
    let admin = &f.admin;
    assert!(
        fixes.contains(&format!("GRANT pg_signal_backend TO \"{admin}\";").as_str()),
        "{fixes:?}"
    );
    for g in ["ro", "rw"] {
        let connect = format!(
            "GRANT CONNECT ON DATABASE \"{}\" TO \"{}_{g}\";",
            f.name, f.prefix
        );
        assert!(fixes.contains(&connect.as_str()), "{fixes:?}");
    }
    app.stop().await.unwrap();
    f.drop_all().await;
}

#[tokio::test]
async fn without_pg_signal_backend_the_cleanup_fails_audited_once_and_recovers_once_granted() {
    let Some(f) = DbFixture::with(false).await else {
        return;
    };
    let mut su = f.superuser().await;
    for s in [format!(
        "GRANT CONNECT ON DATABASE {} TO {}, {p}_ro, {p}_rw",
        f.name,
        f.admin,
        p = f.prefix
    )] {
        sqlx::raw_sql(&s).execute(&mut su).await.unwrap();
    }
    let app = broker(&f, None).await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let id = crate::db::grant(&app, &bob, "readonly", "1h").await;
    let c = creds(&app, &f, &bob).await;
    let mut held = connect_as(&c).await.unwrap();
    app.post_ok(
        &format!("/v1/requests/{id}/revoke"),
        json!({}),
        &bob,
        StatusCode::OK,
    )
    .await;
    let failed = event(&app, &id, "db.cleanup_failed", Duration::from_secs(2)).await;
    assert_eq!(failed["details"]["sqlstate"], "42501", "{failed}");
    assert_eq!(failed["details"]["code"], "db_missing_grant");
    // NOLOGIN came first: no new session while the old one waits to be ended.
    assert!(connect_as(&c).await.is_err());
    sqlx::raw_sql(&format!("GRANT pg_signal_backend TO {}", f.admin))
        .execute(&mut su)
        .await
        .unwrap();
    // Retried with backoff (1 s after the first failure).
    until_cut_off(&mut held, Duration::from_secs(4)).await;
    event(&app, &id, "db.login_dropped", Duration::from_secs(2)).await;
    let types = app.audit_types(&id).await;
    assert_eq!(
        types.iter().filter(|t| *t == "db.cleanup_failed").count(),
        1,
        "{types:?}"
    );
    app.stop().await.unwrap();
    f.drop_all().await;
}

/// PostgreSQL 16 changed CREATEROLE: it grants only roles held WITH ADMIN OPTION. On a
/// second server of 16 or later (the test command starts PostgreSQL 18): without that
/// option the check names it and a login fails with its code, leaving nothing; with the
/// README's statements, the whole path works, sessions ended and the login dropped.
#[tokio::test]
async fn on_postgresql_16_and_later_the_broker_needs_admin_option_and_works_with_it() {
    let Ok(server) = std::env::var("LATCHKEY_TEST_PG_NEW_URL") else {
        crate::helpers::missing_peer("a PostgreSQL 16 or later server (LATCHKEY_TEST_PG_NEW_URL)");
        return;
    };
    let Some(f) = DbFixture::at(&server, false).await else {
        return;
    };
    let mut su = f.superuser().await;
    let version: i32 = sqlx::query_scalar("SELECT current_setting('server_version_num')::int")
        .fetch_one(&mut su)
        .await
        .unwrap();
    assert!(version >= 160_000, "{version}");
    let p = &f.prefix;
    sqlx::raw_sql(&format!(
        "GRANT CONNECT ON DATABASE {} TO {}, {p}_ro, {p}_rw; GRANT pg_signal_backend TO {}",
        f.name, f.admin, f.admin
    ))
    .execute(&mut su)
    .await
    .unwrap();
    let app = broker(&f, None).await;
    let postgres = latchkey::adapters::providers::postgres::Postgres::default();
    let checked = latchkey::app::db_check::check(&app.broker.core, &postgres).await;
    let fixes: Vec<String> = checked[0]
        .found
        .as_ref()
        .unwrap()
        .iter()
        .map(|p| p.fix.clone())
        .collect();
    let admin_option = format!("GRANT \"{p}_ro\" TO \"{}\" WITH ADMIN OPTION;", f.admin);
    assert!(fixes.contains(&admin_option), "{fixes:?}");
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let id = crate::db::grant(&app, &bob, "readonly", "1h").await;
    let resp = app
        .post(
            "/v1/credentials/db",
            json!({"resource": "db:test"}),
            Some(&bob),
        )
        .await;
    crate::helpers::assert_error(resp, StatusCode::BAD_GATEWAY, "db_missing_grant").await;
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'lk\\_bob\\_%'")
            .fetch_one(&mut su)
            .await
            .unwrap();
    assert_eq!(left, 0, "nothing half-made");
    // The README's statement for 16 and later, then the whole path.
    sqlx::raw_sql(&admin_option).execute(&mut su).await.unwrap();
    let c = creds(&app, &f, &bob).await;
    let mut held = connect_as(&c).await.expect("the login connects");
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM readable")
        .fetch_one(&mut held)
        .await
        .unwrap();
    assert_eq!(n, 2);
    app.post_ok(
        &format!("/v1/requests/{id}/revoke"),
        json!({}),
        &bob,
        StatusCode::OK,
    )
    .await;
    until_cut_off(&mut held, Duration::from_secs(1)).await;
    gone_within(&f, c["user"].as_str().unwrap(), Duration::from_secs(1)).await;
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
    app.post_ok(
        &format!("/v1/requests/{id}/revoke"),
        json!({}),
        &bob,
        StatusCode::OK,
    )
    .await;
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
    assert_eq!(
        f.existing(std::slice::from_ref(&stranger)).await,
        [stranger.clone()]
    );
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
