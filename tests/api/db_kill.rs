//! The broker killed with `kill -9` in the middle of a database login's life, as a real
//! process on its own data: between making a login and handing it out, and between a
//! revocation and its cleanup. The next process ends what the dead one left.

use std::process::Child;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::{Connection, SqliteConnection};

use crate::db_fixture::{connect_as, DbFixture};

/// A broker process on a fixed port and data directory, started again after a kill.
struct Proc {
    dir: tempfile::TempDir,
    port: u16,
    http: reqwest::Client,
}

impl Proc {
    fn new(f: &DbFixture) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("latchkey.toml"),
            format!(
                "policy_dir = {:?}\n[gate]\ndev_source = \"off\"\n[development]\npostgres = \"off\"\n",
                f.policy_dir()
            ),
        )
        .unwrap();
        Self {
            dir,
            port: crate::cli_and_config::free_port(),
            http: reqwest::Client::new(),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn store(&self) -> String {
        format!(
            "sqlite://{}",
            self.dir.path().join("data/latchkey.db").display()
        )
    }

    async fn start(&self) -> Child {
        let mut child = crate::cli_and_config::latchkey(self.dir.path())
            .args(["serve", "--dev", "--config"])
            .arg(self.dir.path().join("latchkey.toml"))
            .args([
                "--listen",
                &format!("127.0.0.1:{}", self.port),
                "--data-dir",
            ])
            .arg(self.dir.path().join("data"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..200 {
            if self
                .http
                .get(format!("{}/healthz", self.url()))
                .send()
                .await
                .is_ok()
            {
                return child;
            }
            assert!(child.try_wait().unwrap().is_none(), "the broker exited");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the broker did not start");
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> reqwest::Response {
        let mut r = self.http.post(format!("{}{path}", self.url())).json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().await.unwrap()
    }

    async fn login(&self) -> String {
        let v: Value = self
            .post(
                "/v1/auth/dev-login",
                None,
                json!({"email": "bob@example.com", "groups": ["eng"]}),
            )
            .await
            .json()
            .await
            .unwrap();
        v["token"].as_str().unwrap().to_string()
    }

    async fn grant(&self, bob: &str) -> String {
        let v: Value = self
            .post(
                "/v1/requests",
                Some(bob),
                json!({"resource": "db:test", "role": "readonly"}),
            )
            .await
            .json()
            .await
            .unwrap();
        v["request"]["id"].as_str().unwrap().to_string()
    }
}

fn kill(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

async fn within<F: std::future::Future<Output = bool>>(
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> F,
) {
    let began = Instant::now();
    while !check().await {
        assert!(began.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Killed after the login was made on its database and before the broker recorded it as
/// made, let alone handed it out: the dead broker is held there by a lock the test takes
/// on its own store, after first holding the login's making until its record exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_killed_between_making_a_login_and_handing_it_out_leaves_nothing_past_its_grant() {
    let Some(f) = DbFixture::new().await else {
        return;
    };
    let proc = Proc::new(&f);
    let first = proc.start().await;
    let bob = proc.login().await;
    let id = proc.grant(&bob).await;
    let login = latchkey::model::policy::db::login_name("bob@example.com", &id, 1);
    f.logins.lock().unwrap().push(login.clone());
    // The login's session settings wait on this lock: its CREATE ROLE runs, uncommitted.
    let mut catalog = f.superuser().await;
    sqlx::raw_sql("BEGIN; LOCK TABLE pg_catalog.pg_db_role_setting IN SHARE MODE")
        .execute(&mut catalog)
        .await
        .unwrap();
    let asking = {
        let (http, url, bob) = (proc.http.clone(), proc.url(), bob.clone());
        tokio::spawn(async move {
            http.post(format!("{url}/v1/credentials/db"))
                .bearer_auth(bob)
                .json(&json!({"resource": "db:test"}))
                .send()
                .await
        })
    };
    let mut store = SqliteConnection::connect(&proc.store()).await.unwrap();
    let began = Instant::now();
    loop {
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM db_logins")
            .fetch_optional(&mut store)
            .await
            .unwrap();
        if state.as_deref() == Some("creating") {
            break;
        }
        assert!(
            began.elapsed() < Duration::from_secs(5),
            "the login was never recorded as being made"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Hold the broker's store, then let the making commit on the database.
    sqlx::raw_sql("BEGIN IMMEDIATE")
        .execute(&mut store)
        .await
        .unwrap();
    sqlx::raw_sql("COMMIT").execute(&mut catalog).await.unwrap();
    within(
        "the login exists on the database",
        Duration::from_secs(5),
        || async { !f.existing(std::slice::from_ref(&login)).await.is_empty() },
    )
    .await;
    // Now the broker waits for its store to record the login as made: kill it there.
    kill(first);
    sqlx::raw_sql("ROLLBACK").execute(&mut store).await.unwrap();
    store.close().await.unwrap();
    assert!(asking.await.unwrap().is_err(), "nothing was answered");
    let second = proc.start().await;
    // Ended once the dead maker's lease runs out (30 s), though its grant still lives.
    within(
        "the abandoned login is dropped",
        Duration::from_secs(40),
        || async { f.existing(std::slice::from_ref(&login)).await.is_empty() },
    )
    .await;
    let again: Value = proc
        .post(
            "/v1/credentials/db",
            Some(&bob),
            json!({"resource": "db:test"}),
        )
        .await
        .json()
        .await
        .unwrap();
    f.track(&again);
    assert_eq!(again["user"], format!("{login}_2"), "{again}");
    connect_as(&again)
        .await
        .expect("the grant's next login works");
    let mut store = SqliteConnection::connect(&proc.store()).await.unwrap();
    let issued: Vec<String> = sqlx::query_scalar(
        "SELECT details FROM audit_events WHERE subject = $1 AND type = 'credential.issued'",
    )
    .bind(&id)
    .fetch_all(&mut store)
    .await
    .unwrap();
    assert_eq!(
        issued.len(),
        1,
        "only the second login was handed out: {issued:?}"
    );
    assert!(issued[0].contains(&format!("{login}_2")), "{issued:?}");
    kill(second);
    f.drop_all().await;
}

/// Killed after a revocation committed and before its cleanup could finish (the database
/// refused to end the sessions): the next process picks the queued end up and finishes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_killed_between_revocation_and_cleanup_finishes_it_after_restart() {
    let Some(f) = DbFixture::new().await else {
        return;
    };
    let proc = Proc::new(&f);
    let first = proc.start().await;
    let bob = proc.login().await;
    let id = proc.grant(&bob).await;
    let creds: Value = proc
        .post(
            "/v1/credentials/db",
            Some(&bob),
            json!({"resource": "db:test"}),
        )
        .await
        .json()
        .await
        .unwrap();
    f.track(&creds);
    let mut held = connect_as(&creds).await.unwrap();
    // The database will refuse to end the sessions...
    let mut su = f.superuser().await;
    sqlx::raw_sql(&format!("REVOKE pg_signal_backend FROM {}", f.admin))
        .execute(&mut su)
        .await
        .unwrap();
    let resp = proc
        .post(&format!("/v1/requests/{id}/revoke"), Some(&bob), json!({}))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    // ...so the broker is still retrying when it is killed.
    tokio::time::sleep(Duration::from_millis(300)).await;
    sqlx::query("SELECT 1")
        .execute(&mut held)
        .await
        .expect("not yet ended");
    kill(first);
    sqlx::raw_sql(&format!("GRANT pg_signal_backend TO {}", f.admin))
        .execute(&mut su)
        .await
        .unwrap();
    let second = proc.start().await;
    let began = Instant::now();
    while sqlx::query("SELECT 1").execute(&mut held).await.is_ok() {
        assert!(
            began.elapsed() < Duration::from_secs(5),
            "the restarted broker never ended the session"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    within("the login is dropped", Duration::from_secs(2), || async {
        f.existing(&[creds["user"].as_str().unwrap().to_string()])
            .await
            .is_empty()
    })
    .await;
    kill(second);
    f.drop_all().await;
}
