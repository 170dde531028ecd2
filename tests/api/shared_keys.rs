//! Keys shared by replicas through PostgreSQL: a rotation on one replica reaches the
//! other within a second, the keys on disk are imported once (audited), and the database
//! holds only sealed keys that a wrong key-encryption key, or a changed row, cannot open.

use std::time::{Duration, Instant};

use latchkey::startup::Application;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{fresh_postgres, layer, spawn_app, Options, TestApp};

const PUBLIC_URL: &str = "http://127.0.0.1:9";

fn replica(url: &str, data_dir: Option<std::path::PathBuf>) -> Options {
    Options {
        dev: true,
        database_url: Some(url.into()),
        public_url: Some(PUBLIC_URL.into()),
        data_dir,
        ..Options::default()
    }
}

/// Polls `until` on `app` every 20 ms for up to 3 s; the time it took, if it held.
async fn within(app: &TestApp, path: &str, until: impl Fn(&str) -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        let body = app.get(path, None).await.text().await.unwrap();
        if until(&body) {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

#[tokio::test]
async fn a_key_rotated_on_one_replica_is_published_and_trusted_by_the_other_within_a_second() {
    let Some(db) = fresh_postgres().await else {
        return;
    };
    let a = spawn_app(replica(&db.url, None)).await;
    let b = spawn_app(replica(&db.url, None)).await;
    let jwks = |app: &TestApp| app.broker.admin.keyring().jwks(chrono::Utc::now());
    assert_eq!(jwks(&a), jwks(&b), "both replicas load the same keys");
    let admin = a.dev_login("root@example.com", &["admin"]).await;
    let keys = a
        .post_ok("/v1/admin/keys/rotate", json!({}), &admin, StatusCode::OK)
        .await;
    let new: Vec<String> = keys
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["active"] == json!(true))
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(new.len(), 2);
    let took = within(&b, "/.well-known/jwks.json", |body| {
        new.iter().all(|kid| body.contains(kid.as_str()))
    })
    .await
    .expect("B publishes A's new keys");
    eprintln!("B published the rotated keys after {took:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    // A session A signs with its new key is accepted by B.
    let bob = a.dev_login("bob@example.com", &["eng"]).await;
    let kid = jsonwebtoken::decode_header(&bob).unwrap().kid.unwrap();
    assert!(new.contains(&kid), "A signs with its new key");
    let resp = b.get("/v1/session", Some(&bob)).await;
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "{}",
        resp.text().await.unwrap()
    );
    // And the other way: what B signs now, A verifies (B signs with the new key too).
    let carol = b.dev_login("carol@example.com", &["eng"]).await;
    assert_eq!(jsonwebtoken::decode_header(&carol).unwrap().kid, Some(kid));
    assert_eq!(
        a.get("/v1/session", Some(&carol)).await.status(),
        StatusCode::OK
    );
    db.drop_db().await;
}

#[tokio::test]
async fn an_ssh_ca_rotated_on_one_replica_is_trusted_through_the_other_within_a_second() {
    let Some(db) = fresh_postgres().await else {
        return;
    };
    let a = spawn_app(replica(&db.url, None)).await;
    let b = spawn_app(replica(&db.url, None)).await;
    let before = b.get("/v1/ssh/ca", None).await.text().await.unwrap();
    assert_eq!(
        a.get("/v1/ssh/ca", None).await.text().await.unwrap(),
        before
    );
    let admin = a.dev_login("root@example.com", &["admin"]).await;
    let cas = a
        .post_ok("/v1/admin/ssh/ca/rotate", json!({}), &admin, StatusCode::OK)
        .await;
    let active = cas
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["active"] == json!(true))
        .map(|k| k["public_key"].as_str().unwrap().to_string())
        .unwrap();
    assert!(!before.contains(&active));
    let took = within(&b, "/v1/ssh/ca", |body| {
        body.lines().next() == Some(active.as_str())
    })
    .await
    .expect("B serves A's new CA first");
    eprintln!("B served the rotated SSH CA after {took:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    // The old CA stays trusted beside it.
    let now = b.get("/v1/ssh/ca", None).await.text().await.unwrap();
    assert!(now.contains(before.lines().next().unwrap()));
    db.drop_db().await;
}

/// Every key row as stored: (kind, id, sealed).
async fn rows(url: &str) -> Vec<(String, String, String)> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_as("SELECT kind, id, sealed FROM broker_keys ORDER BY kind, id")
        .fetch_all(&mut conn)
        .await
        .unwrap()
}

async fn exec(url: &str, sql: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query(sql).execute(&mut conn).await.unwrap();
}

/// Starting a broker with `options` fails; its whole error.
async fn refused(options: &Options, dir: &std::path::Path, kek: Option<&str>) -> String {
    let mut l = layer(options, dir);
    l.key_encryption_key = kek.map(latchkey::model::secret::Secret::new);
    let config = l.validate().unwrap();
    match Application::build(config).await {
        Ok(_) => panic!("the broker started"),
        Err(e) => format!("{e:#}"),
    }
}

#[tokio::test]
async fn the_keys_on_disk_are_imported_once_audited_and_then_the_database_is_the_truth() {
    let Some(db) = fresh_postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // A broker that kept its keys on disk (SQLite, no KEK).
    let old = spawn_app(Options {
        dev: true,
        public_url: Some(PUBLIC_URL.into()),
        data_dir: Some(data.clone()),
        ..Options::default()
    })
    .await;
    let now = chrono::Utc::now();
    let jwks = sorted(old.broker.admin.keyring().jwks(now));
    let audit_kid = old.broker.audit.audit_key().kid().to_string();
    let ca = old.get("/v1/ssh/ca", None).await.text().await.unwrap();
    old.stop().await.unwrap();
    // Its audit checkpoints belong to its SQLite log, not to the new database's.
    std::fs::remove_dir_all(data.join("checkpoints")).unwrap();
    // Moved to PostgreSQL with a KEK: the same keys, sealed into the database.
    let a = spawn_app(replica(&db.url, Some(data.clone()))).await;
    assert_eq!(sorted(a.broker.admin.keyring().jwks(now)), jwks);
    assert_eq!(a.broker.audit.audit_key().kid(), audit_kid);
    assert_eq!(a.get("/v1/ssh/ca", None).await.text().await.unwrap(), ca);
    let imported = imports(&a).await;
    assert_eq!(imported.len(), 1, "{imported:?}");
    let kinds: Vec<&str> = imported[0]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kind"].as_str().unwrap())
        .collect();
    for kind in ["signing", "ssh_ca", "audit", "db_login"] {
        assert!(kinds.contains(&kind), "{kind} not imported: {kinds:?}");
    }
    // A replica without those files gets the same keys; nothing is imported again.
    let b = spawn_app(replica(&db.url, None)).await;
    assert_eq!(sorted(b.broker.admin.keyring().jwks(now)), jwks);
    assert_eq!(b.broker.audit.audit_key().kid(), audit_kid);
    a.stop().await.unwrap();
    let again = spawn_app(replica(&db.url, Some(data))).await;
    assert_eq!(imports(&again).await.len(), 1);
    db.drop_db().await;
}

/// A JWKS's keys in `kid` order (the disk kept them in the order they were made).
fn sorted(jwks: Value) -> Vec<Value> {
    let mut keys = jwks["keys"].as_array().unwrap().clone();
    keys.sort_by_key(|k| k["kid"].as_str().unwrap().to_string());
    keys
}

/// The `key.imported` events' details.
async fn imports(app: &TestApp) -> Vec<Value> {
    let mut tx = app.broker.core.store.begin_read().await.unwrap();
    let events = tx.audit_events(None, 0, 1000).await.unwrap();
    tx.commit().await.unwrap();
    events
        .into_iter()
        .filter(|e| e.kind == "key.imported")
        .map(|e| e.details)
        .collect()
}

#[tokio::test]
async fn the_database_holds_sealed_keys_that_a_wrong_kek_or_a_changed_row_cannot_open() {
    let Some(db) = fresh_postgres().await else {
        return;
    };
    let a = spawn_app(replica(&db.url, None)).await;
    let stored = rows(&db.url).await;
    let kinds: Vec<&str> = stored.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(kinds, ["audit", "db_login", "signing", "signing", "ssh_ca"]);
    use base64::Engine;
    for (kind, id, sealed) in &stored {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .unwrap();
        // PKCS#8 opens with a DER SEQUENCE holding its version (30 LL 02 01 0V) and names
        // its algorithm's OID; an OpenSSH key is PEM ("-----BEGIN"). None of it shows.
        let pkcs8 = bytes.len() > 4 && bytes[0] == 0x30 && bytes[2..4] == [0x02, 0x01];
        assert!(!pkcs8, "{kind} {id} is PKCS#8, not sealed");
        for plain in [&b"-----BEGIN"[..], b"openssh-key-v1"] {
            assert!(!bytes.starts_with(plain), "{kind} {id} is not sealed");
        }
        let ed25519_oid = b"\x06\x03\x2b\x65\x70";
        let p256_oid = b"\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07";
        assert!(!bytes.windows(5).any(|w| w == ed25519_oid), "{kind} {id}");
        assert!(!bytes.windows(10).any(|w| w == p256_oid), "{kind} {id}");
    }
    a.stop().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let options = replica(&db.url, None);
    // The wrong KEK: a clear refusal.
    let wrong = "ff".repeat(32);
    let err = refused(&options, dir.path(), Some(&wrong)).await;
    assert!(
        err.contains("the key-encryption key does not open the keys in the database (set the one the other replicas use)"),
        "{err}"
    );
    // No KEK on PostgreSQL: refused, naming the setting.
    let err = refused(&options, dir.path(), None).await;
    assert!(err.contains("LATCHKEY_KEY_ENCRYPTION_KEY"), "{err}");
    // A sealed key with one bit changed does not open.
    let (_, id, sealed) = stored.iter().find(|r| r.0 == "signing").unwrap().clone();
    let mut bytes = base64::engine::general_purpose::STANDARD
        .decode(&sealed)
        .unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    let flipped = base64::engine::general_purpose::STANDARD.encode(&bytes);
    exec(
        &db.url,
        &format!("UPDATE broker_keys SET sealed = '{flipped}' WHERE id = '{id}'"),
    )
    .await;
    let err = refused(&options, dir.path(), Some(crate::helpers::TEST_KEK)).await;
    assert!(err.contains("does not open"), "{err}");
    // Restored, it opens; then a row given another key's id (its sealed material moved)
    // does not.
    exec(
        &db.url,
        &format!("UPDATE broker_keys SET sealed = '{sealed}' WHERE id = '{id}'"),
    )
    .await;
    spawn_app(replica(&db.url, None))
        .await
        .stop()
        .await
        .unwrap();
    exec(
        &db.url,
        &format!("UPDATE broker_keys SET id = 'x{id}' WHERE id = '{id}'"),
    )
    .await;
    let err = refused(&options, dir.path(), Some(crate::helpers::TEST_KEK)).await;
    assert!(err.contains("does not open"), "{err}");
    db.drop_db().await;
}

#[tokio::test]
async fn on_sqlite_a_kek_keeps_the_keys_in_the_database_and_none_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let options = Options {
        dev: true,
        data_dir: Some(data.clone()),
        kek: Some(crate::helpers::TEST_KEK.into()),
        ..Options::default()
    };
    let a = spawn_app(options.clone()).await;
    let admin = a.dev_login("root@example.com", &["admin"]).await;
    a.post_ok("/v1/admin/keys/rotate", json!({}), &admin, StatusCode::OK)
        .await;
    let now = chrono::Utc::now();
    let jwks = a.broker.admin.keyring().jwks(now);
    assert_eq!(
        jwks["keys"].as_array().unwrap().len(),
        4,
        "old and new keys"
    );
    a.stop().await.unwrap();
    let on_disk: Vec<_> = std::fs::read_dir(data.join("keys"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(on_disk.is_empty(), "{on_disk:?}");
    let again = spawn_app(options).await;
    assert_eq!(again.broker.admin.keyring().jwks(now), jwks);
}

#[tokio::test]
async fn a_kek_read_from_a_file_opens_what_the_same_kek_sealed_and_a_bad_file_is_named() {
    let Some(db) = fresh_postgres().await else {
        return;
    };
    let a = spawn_app(replica(&db.url, None)).await;
    let jwks = sorted(a.broker.admin.keyring().jwks(chrono::Utc::now()));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kek");
    std::fs::write(&file, format!("{}\n", crate::helpers::TEST_KEK)).unwrap();
    let mut l = layer(&replica(&db.url, None), &dir.path().join("b"));
    l.key_encryption_key = None;
    l.key_encryption_key_file = Some(file.clone());
    let b = Application::build(l.clone().validate().unwrap())
        .await
        .unwrap();
    let keys = b.app().admin.keyring().jwks(chrono::Utc::now());
    assert_eq!(sorted(keys), jwks);
    std::fs::write(&file, "not a key\n").unwrap();
    let err = match Application::build(l.validate().unwrap()).await {
        Ok(_) => panic!("started with a bad KEK file"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains("LATCHKEY_KEY_ENCRYPTION_KEY_FILE") && err.contains("32 bytes"),
        "{err}"
    );
    drop(b);
    a.stop().await.unwrap();
    db.drop_db().await;
}
