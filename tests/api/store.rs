//! One store suite, run against SQLite and against PostgreSQL (a fresh database per test).

use chrono::{Duration, Utc};
use latchkey::domain::{Identity, Lock, Session};
use latchkey::store::Store;

use crate::helpers::fresh_postgres;

fn identity(sub: &str) -> Identity {
    Identity {
        issuer: "https://idp.example.com".into(),
        subject: sub.into(),
        email: Some(format!("{sub}@example.com")),
        name: Some(sub.to_uppercase()),
        groups: vec!["eng".into()],
        auth_time: Some(Utc::now()),
    }
}

fn session(id: &str, who: &Identity) -> Session {
    let now = Utc::now();
    Session {
        id: id.into(),
        user_id: who.user_id(),
        kid: "kid-1".into(),
        dev: false,
        created_at: now,
        expires_at: now + Duration::hours(8),
        auth_time: who.auth_time,
        revoked_at: None,
        client_addr: Some("127.0.0.1".into()),
        user_agent: Some("test".into()),
    }
}

async fn sessions_round_trip(store: Store) {
    let alice = identity("alice");
    let s = session("s1", &alice);
    let mut tx = store.begin().await.unwrap();
    tx.upsert_user(&alice, Utc::now()).await.unwrap();
    tx.insert_session(&s).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    let got = tx.session("s1").await.unwrap().unwrap();
    assert_eq!(got.session.id, "s1");
    assert_eq!(
        got.session.expires_at.timestamp_millis(),
        s.expires_at.timestamp_millis()
    );
    assert_eq!(got.groups, vec!["eng".to_string()]);
    assert_eq!(got.email.as_deref(), Some("alice@example.com"));
    assert!(!got.locked);
    assert!(tx.session("nope").await.unwrap().is_none());
    // A second login refreshes the user's groups.
    let mut changed = alice.clone();
    changed.groups = vec!["sre".into()];
    tx.upsert_user(&changed, Utc::now()).await.unwrap();
    assert_eq!(
        tx.session("s1").await.unwrap().unwrap().groups,
        vec!["sre".to_string()]
    );
    tx.commit().await.unwrap();
}

async fn revocation_happens_once(store: Store) {
    let alice = identity("alice");
    let mut tx = store.begin().await.unwrap();
    tx.upsert_user(&alice, Utc::now()).await.unwrap();
    tx.insert_session(&session("s1", &alice)).await.unwrap();
    assert!(tx.revoke_session("s1", "logout", Utc::now()).await.unwrap());
    assert!(!tx.revoke_session("s1", "logout", Utc::now()).await.unwrap());
    assert!(tx
        .session("s1")
        .await
        .unwrap()
        .unwrap()
        .session
        .revoked_at
        .is_some());
    tx.commit().await.unwrap();
}

async fn a_lock_ends_the_users_sessions_only(store: Store) {
    let (alice, bob) = (identity("alice"), identity("bob"));
    let mut tx = store.begin().await.unwrap();
    for (id, who) in [("a1", &alice), ("a2", &alice), ("b1", &bob)] {
        tx.upsert_user(who, Utc::now()).await.unwrap();
        tx.insert_session(&session(id, who)).await.unwrap();
    }
    let lock = Lock {
        identifier: "alice@example.com".into(),
        reason: None,
        locked_by: "admin".into(),
        locked_at: Utc::now(),
    };
    assert_eq!(tx.lock(&lock).await.unwrap(), 2);
    assert!(tx.session("a1").await.unwrap().unwrap().locked);
    assert!(!tx.session("b1").await.unwrap().unwrap().locked);
    assert!(tx
        .session("b1")
        .await
        .unwrap()
        .unwrap()
        .session
        .revoked_at
        .is_none());
    let found = tx
        .find_lock(&alice.lock_identifiers())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.locked_by, "admin");
    assert!(tx
        .find_lock(&bob.lock_identifiers())
        .await
        .unwrap()
        .is_none());
    // Locking by subject works too, and unlocking removes exactly that lock.
    let by_sub = Lock {
        identifier: "bob".into(),
        ..lock.clone()
    };
    assert_eq!(tx.lock(&by_sub).await.unwrap(), 1);
    assert!(tx.unlock("bob").await.unwrap());
    assert!(!tx.unlock("bob").await.unwrap());
    assert!(tx
        .find_lock(&bob.lock_identifiers())
        .await
        .unwrap()
        .is_none());
    tx.commit().await.unwrap();
}

async fn a_login_attempt_is_taken_once_and_not_after_expiry(store: Store) {
    let now = Utc::now();
    let mut tx = store.begin().await.unwrap();
    tx.insert_login_attempt("l1", "n1", now + Duration::minutes(10), now, 100)
        .await
        .unwrap();
    tx.insert_login_attempt("l2", "n2", now - Duration::seconds(1), now, 100)
        .await
        .unwrap();
    assert_eq!(
        tx.take_login_attempt("l1", now).await.unwrap().as_deref(),
        Some("n1")
    );
    assert_eq!(tx.take_login_attempt("l1", now).await.unwrap(), None);
    assert_eq!(tx.take_login_attempt("l2", now).await.unwrap(), None);
    tx.commit().await.unwrap();
}

async fn an_id_token_is_marked_used_once(store: Store) {
    let now = Utc::now();
    let mut tx = store.begin().await.unwrap();
    assert!(tx
        .mark_id_token_used("h1", now + Duration::minutes(5), now)
        .await
        .unwrap());
    assert!(!tx
        .mark_id_token_used("h1", now + Duration::minutes(5), now)
        .await
        .unwrap());
    tx.commit().await.unwrap();
    // Two transactions racing for the same token: exactly one wins.
    let (a, b) = tokio::join!(
        async {
            let mut tx = store.begin().await.unwrap();
            let won = tx
                .mark_id_token_used("h2", now + Duration::minutes(5), now)
                .await
                .unwrap();
            tx.commit().await.map(|_| won)
        },
        async {
            let mut tx = store.begin().await.unwrap();
            let won = tx
                .mark_id_token_used("h2", now + Duration::minutes(5), now)
                .await
                .unwrap();
            tx.commit().await.map(|_| won)
        }
    );
    let wins = [a, b].into_iter().filter(|r| matches!(r, Ok(true))).count();
    assert_eq!(wins, 1);
}

async fn a_rolled_back_transaction_leaves_nothing(store: Store) {
    let alice = identity("alice");
    let mut tx = store.begin().await.unwrap();
    tx.upsert_user(&alice, Utc::now()).await.unwrap();
    tx.insert_session(&session("s1", &alice)).await.unwrap();
    drop(tx);
    let mut tx = store.begin().await.unwrap();
    assert!(tx.session("s1").await.unwrap().is_none());
    tx.commit().await.unwrap();
}

async fn migrations_are_idempotent(store: Store) {
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
}

macro_rules! store_suite {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let dir = tempfile::tempdir().unwrap();
                    let url = format!("sqlite://{}", dir.path().join("t.db").display());
                    let store = latchkey::store::Store::connect(&url).await.unwrap();
                    store.migrate().await.unwrap();
                    super::$case(store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some(db) = crate::helpers::fresh_postgres().await else { return };
                    let store = latchkey::store::Store::connect(&db.url).await.unwrap();
                    store.migrate().await.unwrap();
                    super::$case(store.clone()).await;
                    store.close().await;
                    db.drop_db().await;
                }
            )*
        }
    };
}

store_suite!(
    sessions_round_trip,
    revocation_happens_once,
    a_lock_ends_the_users_sessions_only,
    a_login_attempt_is_taken_once_and_not_after_expiry,
    an_id_token_is_marked_used_once,
    a_rolled_back_transaction_leaves_nothing,
    migrations_are_idempotent,
);

#[tokio::test]
async fn the_broker_runs_on_postgresql() {
    let Some(db) = fresh_postgres().await else {
        return;
    };
    let app = crate::helpers::spawn_app(crate::helpers::Options {
        dev: true,
        database_url: Some(db.url.clone()),
        ..Default::default()
    })
    .await;
    let token = app.dev_login("alice@example.com", &["eng"]).await;
    let ready: serde_json::Value = app.get("/readyz", None).await.json().await.unwrap();
    assert_eq!(ready["database"], "postgres");
    assert_eq!(
        app.get("/v1/session", Some(&token)).await.status(),
        reqwest::StatusCode::OK
    );
    app.stop().await.unwrap();
    db.drop_db().await;
}
