//! Database logins per grant against the real PostgreSQL: a login reads what its group
//! may and nothing else; it is reused within the grant; revocation, expiry, a lock and a
//! logout end its live sessions within a second and drop it; a login that owns a table is
//! left disabled; the start-up check names what the broker's role lacks; a failed making
//! leaves nothing behind. On SQLite and PostgreSQL as the broker's own store.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Connection;

use crate::db_fixture::{connect_as, DbFixture};
pub(crate) use crate::helpers::revoke;
use crate::helpers::{assert_error, spawn_app, Options, TestApp};

pub(crate) async fn broker(f: &DbFixture, database_url: Option<String>) -> TestApp {
    spawn_app(Options {
        dev: true,
        database_url,
        policy_dir: Some(f.policy_dir()),
        ..Options::default()
    })
    .await
}

/// An active grant of `role` on db:test for `token`'s user; returns its id.
pub(crate) async fn grant(app: &TestApp, token: &str, role: &str, duration: &str) -> String {
    let v = app
        .post_ok(
            "/v1/requests",
            json!({"resource": "db:test", "role": role, "duration": duration}),
            token,
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(v["request"]["state"], "active", "{v}");
    v["request"]["id"].as_str().unwrap().to_string()
}

pub(crate) async fn creds(app: &TestApp, f: &DbFixture, token: &str) -> Value {
    let v = app
        .post_ok(
            "/v1/credentials/db",
            json!({"resource": "db:test"}),
            token,
            StatusCode::CREATED,
        )
        .await;
    f.track(&v);
    v
}

/// Asks for the caller's login on db:test.
pub(crate) async fn ask_creds(app: &TestApp, token: &str) -> reqwest::Response {
    app.post(
        "/v1/credentials/db",
        json!({"resource": "db:test"}),
        Some(token),
    )
    .await
}

/// Waits until a held session is cut off; returns how long it took.
pub(crate) async fn until_cut_off(c: &mut sqlx::PgConnection, within: Duration) -> Duration {
    let began = Instant::now();
    while began.elapsed() < within {
        if sqlx::query("SELECT 1").execute(&mut *c).await.is_err() {
            return began.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the session was still alive {within:?} after the grant ended");
}

/// Waits for an audit event of `kind` about `subject`.
pub(crate) async fn event(app: &TestApp, subject: &str, kind: &str, within: Duration) -> Value {
    let began = Instant::now();
    loop {
        let mut tx = app.broker.core.store.begin_read().await.unwrap();
        let events = tx.audit_events(Some(subject), 0, 1000).await.unwrap();
        tx.commit().await.unwrap();
        if let Some(e) = events.into_iter().find(|e| e.kind == kind) {
            return serde_json::to_value(e).unwrap();
        }
        assert!(
            began.elapsed() < within,
            "no {kind} about {subject} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn login_lives(f: &DbFixture, creds: &Value) -> bool {
    !f.existing(&[creds["user"].as_str().unwrap().to_string()])
        .await
        .is_empty()
}

crate::helpers::on_both_backends! {
    a_login_has_exactly_its_groups_privileges_and_is_reused_within_the_grant => full_path;
    revocation_ends_a_live_session_within_a_second_and_drops_the_login => revoked_mid_session;
}

async fn full_path(database_url: Option<String>) {
    let Some(f) = DbFixture::new().await else {
        return;
    };
    let app = broker(&f, database_url).await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let id = grant(&app, &bob, "readonly", "1h").await;
    let first = creds(&app, &f, &bob).await;
    assert_eq!(first["created"], true);
    let user = first["user"].as_str().unwrap();
    assert!(user.starts_with("lk_bob_") && user.len() <= 63, "{user}");
    assert_eq!(first["groups"], json!([format!("{}_ro", f.prefix)]));
    let mut c = connect_as(&first).await.expect("the login connects");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM readable")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(rows, 2);
    let refused = sqlx::query("SELECT * FROM secret")
        .execute(&mut c)
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&refused), "42501", "{refused}");
    let refused = sqlx::query("INSERT INTO readable VALUES (3, 'x')")
        .execute(&mut c)
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&refused), "42501", "{refused}");
    // Its session settings came from the catalogue.
    let timeout: String = sqlx::query_scalar("SHOW statement_timeout")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(timeout, "30s");
    // The same login, the same password, for the rest of the grant.
    let second = creds(&app, &f, &bob).await;
    assert_eq!(
        (
            second["user"].clone(),
            second["password"].clone(),
            second["created"].clone()
        ),
        (
            first["user"].clone(),
            first["password"].clone(),
            json!(false)
        )
    );
    // The server holds a SCRAM verifier (never the password), the grant's end, the limit.
    let mut su = f.superuser().await;
    let (verifier, until, limit): (String, chrono::DateTime<chrono::Utc>, i32) = sqlx::query_as(
        "SELECT rolpassword, rolvaliduntil, rolconnlimit FROM pg_authid WHERE rolname = $1",
    )
    .bind(user)
    .fetch_one(&mut su)
    .await
    .unwrap();
    assert!(verifier.starts_with("SCRAM-SHA-256$256:"), "{verifier}");
    assert!(!verifier.contains(first["password"].as_str().unwrap()));
    let expires: chrono::DateTime<chrono::Utc> =
        first["expires_at"].as_str().unwrap().parse().unwrap();
    assert!(
        (until - expires).num_milliseconds().abs() < 1000,
        "{until} vs {expires}"
    );
    assert_eq!(limit, 3);
    // No table privilege was granted to the login itself: access is membership only.
    let direct: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.table_privileges WHERE grantee = $1",
    )
    .bind(user)
    .fetch_one(&mut su)
    .await
    .unwrap();
    assert_eq!(direct, 0);
    let created = event(&app, &id, "db.login_created", Duration::from_secs(1)).await;
    assert_eq!(created["details"]["login"], user);
    let types = app.audit_types(&id).await;
    assert_eq!(
        types.iter().filter(|t| *t == "credential.issued").count(),
        2,
        "{types:?}"
    );
    // Someone else's grant is not the caller's: no login for them.
    let carol = app.dev_login("carol@example.com", &["eng"]).await;
    let resp = ask_creds(&app, &carol).await;
    assert_error(resp, StatusCode::FORBIDDEN, "no_active_grant").await;
    c.close().await.unwrap();
    app.stop().await.unwrap();
    f.drop_all().await;
}

async fn revoked_mid_session(database_url: Option<String>) {
    let Some(f) = DbFixture::new().await else {
        return;
    };
    let app = broker(&f, database_url).await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let id = grant(&app, &bob, "readonly", "1h").await;
    let c = creds(&app, &f, &bob).await;
    let mut held = connect_as(&c).await.unwrap();
    let mut second = connect_as(&c).await.unwrap();
    sqlx::query("SELECT 1").execute(&mut held).await.unwrap();
    revoke(&app, &bob, &id).await;
    let took = until_cut_off(&mut held, Duration::from_secs(1)).await;
    let then = until_cut_off(&mut second, Duration::from_secs(1) - took).await;
    eprintln!(
        "revocation to sessions cut off: {took:?}, {:?}",
        took + then
    );
    let refused = connect_as(&c).await.unwrap_err();
    assert!(
        matches!(sqlstate(&refused).as_str(), "28P01" | "28000"),
        "{refused}"
    );
    let terminated = event(&app, &id, "db.sessions_terminated", Duration::from_secs(2)).await;
    assert_eq!(terminated["details"]["count"], 2);
    let dropped = event(&app, &id, "db.login_dropped", Duration::from_secs(2)).await;
    assert_eq!(dropped["details"]["cause"], "grant.revoked");
    assert!(!login_lives(&f, &c).await, "the role is gone");
    // The grant is over: no credential either.
    let resp = ask_creds(&app, &bob).await;
    assert_error(resp, StatusCode::FORBIDDEN, "no_active_grant").await;
    app.stop().await.unwrap();
    f.drop_all().await;
}

pub(crate) fn sqlstate(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(d) => d.code().map(|c| c.to_string()).unwrap_or_default(),
        other => format!("not a database error: {other}"),
    }
}

#[tokio::test]
async fn expiry_lock_and_logout_each_end_the_session_within_a_second() {
    let Some(f) = DbFixture::new().await else {
        return;
    };
    let app = broker(&f, None).await;
    // Expiry: a grant of three seconds.
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let id = grant(&app, &bob, "readonly", "3s").await;
    let c = creds(&app, &f, &bob).await;
    let mut held = connect_as(&c).await.unwrap();
    let ends: chrono::DateTime<chrono::Utc> = c["expires_at"].as_str().unwrap().parse().unwrap();
    until_cut_off(&mut held, Duration::from_secs(5)).await;
    let late = chrono::Utc::now() - ends;
    assert!(
        late < chrono::Duration::seconds(1),
        "cut off {late} after the grant's end"
    );
    let dropped = event(&app, &id, "db.login_dropped", Duration::from_secs(2)).await;
    assert_eq!(dropped["details"]["cause"], "grant.expired");
    // A lock.
    let dave = app.dev_login("dave@example.com", &["eng"]).await;
    let admin = app.dev_login("ada@example.com", &["admin"]).await;
    let id = grant(&app, &dave, "write", "1h").await;
    let c = creds(&app, &f, &dave).await;
    let mut held = connect_as(&c).await.unwrap();
    app.post_ok(
        "/v1/admin/locks",
        json!({"user": "dave@example.com", "reason": "laptop stolen"}),
        &admin,
        StatusCode::CREATED,
    )
    .await;
    until_cut_off(&mut held, Duration::from_secs(1)).await;
    let dropped = event(&app, &id, "db.login_dropped", Duration::from_secs(2)).await;
    assert_eq!(dropped["details"]["cause"], "user.locked");
    // A logout that revokes.
    let erin = app.dev_login("erin@example.com", &["eng"]).await;
    let id = grant(&app, &erin, "readonly", "1h").await;
    let c = creds(&app, &f, &erin).await;
    let mut held = connect_as(&c).await.unwrap();
    let resp = app
        .post(
            "/v1/auth/logout",
            json!({"revoke_grants": true}),
            Some(&erin),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    until_cut_off(&mut held, Duration::from_secs(1)).await;
    event(&app, &id, "db.login_dropped", Duration::from_secs(2)).await;
    assert!(!login_lives(&f, &c).await);
    app.stop().await.unwrap();
    f.drop_all().await;
}

#[tokio::test]
async fn two_grants_of_one_user_get_two_logins_and_one_ends_alone() {
    let Some(f) = DbFixture::new().await else {
        return;
    };
    // A second resource on the same database: two grants of bob's live at once.
    let second = format!(
        "[[resource]]\nname = \"db:test2\"\nkind = \"db\"\ndescription = \"x\"\n[resource.db]\ndsn = \"postgres://{}@{}/{}\"\nsslmode = \"disable\"\n[[resource.role]]\nname = \"write\"\ndefault_duration = \"1h\"\nmax_duration = \"1h\"\nauto_approve = true\n[resource.role.db]\ngroups = [\"{}_rw\"]\n",
        f.admin, f.server, f.name, f.prefix
    );
    f.write_policy(&f.catalogue(&[&second]));
    let app = broker(&f, None).await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    grant(&app, &bob, "readonly", "1h").await;
    let a = creds(&app, &f, &bob).await;
    let v = app
        .post_ok(
            "/v1/requests",
            json!({"resource": "db:test2", "role": "write"}),
            &bob,
            StatusCode::CREATED,
        )
        .await;
    let rw = v["request"]["id"].as_str().unwrap().to_string();
    let b = app
        .post_ok(
            "/v1/credentials/db",
            json!({"resource": "db:test2"}),
            &bob,
            StatusCode::CREATED,
        )
        .await;
    f.track(&b);
    assert_eq!(b["grant_id"], json!(rw));
    assert_ne!(a["user"], b["user"]);
    let mut held_a = connect_as(&a).await.unwrap();
    let mut held_b = connect_as(&b).await.unwrap();
    revoke(&app, &bob, &rw).await;
    until_cut_off(&mut held_b, Duration::from_secs(1)).await;
    sqlx::query("SELECT 1")
        .execute(&mut held_a)
        .await
        .expect("the other grant's session lives on");
    app.stop().await.unwrap();
    f.drop_all().await;
}

#[tokio::test]
async fn an_extension_moves_the_logins_valid_until_to_the_grants_new_end() {
    let Some(f) = DbFixture::new().await else {
        return;
    };
    let app = broker(&f, None).await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let id = grant(&app, &bob, "readonly", "1h").await;
    let c = creds(&app, &f, &bob).await;
    let v = app
        .post_ok(
            &format!("/v1/requests/{id}/extend"),
            json!({"duration": "1h"}),
            &bob,
            StatusCode::OK,
        )
        .await;
    let end: chrono::DateTime<chrono::Utc> = v["expires_at"]
        .as_str()
        .or(v["request"]["expires_at"].as_str())
        .unwrap()
        .parse()
        .unwrap();
    let mut su = f.superuser().await;
    let began = Instant::now();
    loop {
        let until: chrono::DateTime<chrono::Utc> =
            sqlx::query_scalar("SELECT rolvaliduntil FROM pg_authid WHERE rolname = $1")
                .bind(c["user"].as_str().unwrap())
                .fetch_one(&mut su)
                .await
                .unwrap();
        if (until - end).num_milliseconds().abs() < 1000 {
            break;
        }
        assert!(
            began.elapsed() < Duration::from_secs(2),
            "VALID UNTIL stayed {until}, the grant ends {end}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.stop().await.unwrap();
    f.drop_all().await;
}
