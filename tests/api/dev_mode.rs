//! A development session does not outlive development mode on the same data.

use reqwest::StatusCode;

use crate::helpers::{assert_error, fresh_postgres, spawn_app, Options};
use crate::idp::TestIdp;

/// Both brokers answer as the same URL, so the session token's issuer matches.
const PUBLIC_URL: &str = "http://127.0.0.1:9";

async fn dev_session_refused_after_leaving_dev(database_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let dev = spawn_app(Options {
        dev: true,
        data_dir: Some(dir.path().to_path_buf()),
        database_url: database_url.clone(),
        public_url: Some(PUBLIC_URL.into()),
        ..Options::default()
    })
    .await;
    let token = dev.dev_login("mallory@example.com", &["admin"]).await;
    assert_eq!(
        dev.get("/v1/session", Some(&token)).await.status(),
        StatusCode::OK
    );
    dev.stop().await.unwrap();

    let idp = TestIdp::start().await;
    let prod = spawn_app(Options {
        oidc: Some((idp.issuer.clone(), idp.client_id.clone())),
        data_dir: Some(dir.path().to_path_buf()),
        database_url,
        public_url: Some(PUBLIC_URL.into()),
        ..Options::default()
    })
    .await;
    for path in ["/v1/session", "/v1/requests"] {
        assert_error(
            prod.get(path, Some(&token)).await,
            StatusCode::UNAUTHORIZED,
            "dev_session_refused",
        )
        .await;
    }
    // Ended at start, and audited.
    let mut tx = prod.broker.core.store.begin_read().await.unwrap();
    let events = tx
        .audit_events(Some("dev|mallory@example.com"), 0, 100)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let ended = events
        .iter()
        .find(|e| e.kind == "session.ended")
        .expect("a session.ended event");
    assert_eq!(ended.details["dev"], true);
    assert_eq!(ended.actor, "latchkey");
    // Real logins work as ever.
    assert_eq!(
        prod.login(&idp.token("alice"), None).await.status(),
        StatusCode::CREATED
    );
    prod.stop().await.unwrap();
}

#[tokio::test]
async fn a_dev_session_is_refused_after_the_broker_restarts_without_dev_on_the_same_data() {
    dev_session_refused_after_leaving_dev(None).await;
}

#[tokio::test]
async fn a_dev_session_is_refused_after_leaving_dev_on_postgresql_too() {
    let Some(db) = fresh_postgres().await else {
        return;
    };
    dev_session_refused_after_leaving_dev(Some(db.url.clone())).await;
    db.drop_db().await;
}
