//! The broker's role on each database and what it must hold: the start-up check naming
//! each missing grant with its fix, a group that does not exist, a cleanup refused for want
//! of `pg_signal_backend`, and PostgreSQL 16 and later, where CREATEROLE grants only roles
//! held WITH ADMIN OPTION.

use std::time::Duration;

use reqwest::StatusCode;

use crate::db::{ask_creds, broker, creds, event, grant, revoke, until_cut_off};
use crate::db_faults::gone_within;
use crate::db_fixture::{connect_as, DbFixture};
use crate::helpers::assert_error;

#[tokio::test]
async fn a_missing_group_fails_with_its_code_and_leaves_nothing_behind() {
    let Some(f) = DbFixture::new().await else {
        return;
    };
    f.write_policy(
        &f.catalogue(&[])
            .replace(&format!("\"{}_rw\"", f.prefix), "\"no_such_group_zz\""),
    );
    let app = broker(&f, None).await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let id = grant(&app, &bob, "write", "1h").await;
    let resp = ask_creds(&app, &bob).await;
    let body = assert_error(resp, StatusCode::BAD_GATEWAY, "db_no_such_group").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no_such_group_zz"),
        "{body}"
    );
    let failed = event(&app, &id, "credential.failed", Duration::from_secs(1)).await;
    assert_eq!(failed["details"]["sqlstate"], "42704");
    let mut su = f.superuser().await;
    let left: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'lk\\_bob\\_%' AND rolname LIKE $1",
    )
    .bind(format!("%{}%", &id.replace('-', "")[..8]))
    .fetch_one(&mut su)
    .await
    .unwrap();
    assert_eq!(left, 0, "a failed making is rolled back on the database");
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
    revoke(&app, &bob, &id).await;
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
    let resp = ask_creds(&app, &bob).await;
    assert_error(resp, StatusCode::BAD_GATEWAY, "db_missing_grant").await;
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
    revoke(&app, &bob, &id).await;
    until_cut_off(&mut held, Duration::from_secs(1)).await;
    gone_within(&f, c["user"].as_str().unwrap(), Duration::from_secs(1)).await;
    app.stop().await.unwrap();
    f.drop_all().await;
}
