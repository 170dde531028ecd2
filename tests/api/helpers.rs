//! `spawn_app` and friends: a broker on port 0 with a fresh database, and HTTP helpers.

use std::path::PathBuf;

use latchkey::app::App;
use latchkey::config::{AdminLayer, Layer, OidcLayer, TlsLayer};
use latchkey::startup::Application;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// How a test broker is configured.
#[derive(Default, Clone)]
pub struct Options {
    pub dev: bool,
    /// `development.postgres` (default off in tests).
    pub dev_postgres: Option<String>,
    /// Issuer and client id of the provider.
    pub oidc: Option<(String, String)>,
    pub database_url: Option<String>,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub session_lifetime: Option<String>,
    /// Reuse a state directory (to restart a broker on the same data).
    pub data_dir: Option<PathBuf>,
    /// Another policy directory than the example one.
    pub policy_dir: Option<PathBuf>,
    /// `hooks.breakglass_url`.
    pub breakglass_hook: Option<String>,
    /// `aws.endpoint_url`.
    pub aws_endpoint: Option<String>,
    /// `aws.iam_endpoint_url` (default: the same as `aws_endpoint`, moto serves both; else a
    /// closed loopback port).
    pub iam_endpoint: Option<String>,
    /// `aws.deny_policy_max_chars`.
    pub deny_policy_max_chars: Option<String>,
    /// `[audit]`.
    pub audit: latchkey::config::AuditLayer,
    /// `[slack]` pointing at a fake Web API (`slack.api_url`); see `slack::SECRET`.
    pub slack_api: Option<String>,
    /// `public_url` (replicas share one).
    pub public_url: Option<String>,
    /// `[livestream]`.
    pub livestream: Option<latchkey::config::LivestreamLayer>,
    /// `[limits]` (anonymous callers).
    pub limits: latchkey::config::LimitsLayer,
    /// `gate.cutoff_after`.
    pub gate_cutoff_after: Option<String>,
    /// `LATCHKEY_KEY_ENCRYPTION_KEY`; on PostgreSQL [`TEST_KEK`] unless set.
    pub kek: Option<String>,
}

/// The key-encryption key brokers on PostgreSQL get in tests (replicas share it).
pub const TEST_KEK: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

pub struct TestApp {
    pub url: String,
    pub broker: App,
    pub http: reqwest::Client,
    _data_dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// A peer the tests need is missing: fatal in CI, a visible skip elsewhere.
pub fn missing_peer(what: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{what} is required in CI; the test command starts it (see README)");
    }
    eprintln!("SKIPPED: {what} is not available; run the README's test command to start it");
}

pub fn layer(options: &Options, data_dir: &std::path::Path) -> Layer {
    Layer {
        listen: Some("127.0.0.1:0".into()),
        public_url: options.public_url.clone(),
        data_dir: Some(data_dir.to_path_buf()),
        dev: Some(options.dev),
        database_url: options.database_url.clone(),
        key_encryption_key: options
            .kek
            .clone()
            .or_else(|| {
                let pg = options.database_url.as_ref();
                pg.filter(|u| u.starts_with("postgres"))
                    .map(|_| TEST_KEK.into())
            })
            .map(latchkey::model::secret::Secret::new),
        session_lifetime: options.session_lifetime.clone(),
        tls: TlsLayer {
            cert: options.tls.as_ref().map(|t| t.0.clone()),
            key: options.tls.as_ref().map(|t| t.1.clone()),
        },
        oidc: OidcLayer {
            issuer: options.oidc.as_ref().map(|o| o.0.clone()),
            client_id: options.oidc.as_ref().map(|o| o.1.clone()),
            jwks_min_refresh: Some("1s".into()),
            ..OidcLayer::default()
        },
        policy_dir: Some(
            options
                .policy_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/policies"))),
        ),
        hooks: latchkey::config::HooksLayer {
            breakglass_url: options.breakglass_hook.clone(),
        },
        aws: latchkey::config::AwsLayer {
            region: Some("us-east-1".into()),
            endpoint_url: options.aws_endpoint.clone(),
            // Never AWS's own IAM: a test that revokes an AWS grant without moto queues a
            // deny, and its worker must not reach past loopback. Nothing listens on port 9.
            iam_endpoint_url: options
                .iam_endpoint
                .clone()
                .or(options.aws_endpoint.clone())
                .or(Some("http://127.0.0.1:9".into())),
            deny_policy_max_chars: options.deny_policy_max_chars.clone(),
        },
        admin: AdminLayer {
            groups: Some(vec!["admin".into()]),
            users: None,
        },
        audit: options.audit.clone(),
        slack: options
            .slack_api
            .as_ref()
            .map(|url| crate::slack::slack_layer(url))
            .unwrap_or_default(),
        livestream: options.livestream.clone().unwrap_or_default(),
        limits: options.limits.clone(),
        // Tests run their own upstreams; the development source's fixed port would collide.
        gate: latchkey::config::GateLayer {
            dev_source: Some("off".into()),
            cutoff_after: options.gate_cutoff_after.clone(),
        },
        // Nor its example databases, unless the test asks (they are shared by every test).
        development: latchkey::config::DevelopmentLayer {
            postgres: options.dev_postgres.clone().or(Some("off".into())),
        },
        ..Layer::default()
    }
}

pub async fn spawn_app(options: Options) -> TestApp {
    latchkey::telemetry::init("warn");
    let data_dir = tempfile::tempdir().unwrap();
    let dir = options
        .data_dir
        .clone()
        .unwrap_or_else(|| data_dir.path().to_path_buf());
    let config = layer(&options, &dir)
        .validate()
        .expect("valid test configuration");
    let app = Application::build(config).await.expect("broker starts");
    let scheme = if options.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let url = format!("{scheme}://{}", app.local_addr());
    let broker = app.app();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    TestApp {
        url,
        broker,
        http: reqwest::Client::new(),
        _data_dir: data_dir,
        stop: Some(stop),
        task: Some(task),
    }
}

pub async fn spawn_dev_app() -> TestApp {
    spawn_app(Options {
        dev: true,
        ..Options::default()
    })
    .await
}

impl TestApp {
    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    /// POSTs and returns the JSON body, asserting the status.
    pub async fn post_ok(&self, path: &str, body: Value, token: &str, status: StatusCode) -> Value {
        let resp = self.post(path, body, Some(token)).await;
        let got = resp.status();
        let v: Value = resp.json().await.unwrap();
        assert_eq!(got, status, "{path}: {v}");
        v
    }

    /// The audit events about one subject, oldest first.
    pub async fn audit_types(&self, subject: &str) -> Vec<String> {
        let mut tx = self.broker.core.store.begin_read().await.unwrap();
        let events = tx.audit_events(Some(subject), 0, 1000).await.unwrap();
        tx.commit().await.unwrap();
        events.into_iter().map(|e| e.kind).collect()
    }

    pub async fn post(&self, path: &str, body: Value, token: Option<&str>) -> reqwest::Response {
        let mut req = self.http.post(format!("{}{path}", self.url)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    /// A development session token for `email` with `groups`.
    pub async fn dev_login(&self, email: &str, groups: &[&str]) -> String {
        let resp = self
            .post(
                "/v1/auth/dev-login",
                json!({"email": email, "groups": groups}),
                None,
            )
            .await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        resp.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Exchanges an ID token; returns the response.
    pub async fn login(&self, id_token: &str, login_id: Option<&str>) -> reqwest::Response {
        let mut body = json!({ "id_token": id_token });
        if let Some(id) = login_id {
            body["login_id"] = json!(id);
        }
        self.post("/v1/auth/login", body, None).await
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.take().unwrap().await.unwrap()
    }
}

/// Revokes a grant as `token`'s user (the requester or an administrator).
pub async fn revoke(app: &TestApp, token: &str, id: &str) {
    app.post_ok(
        &format!("/v1/requests/{id}/revoke"),
        json!({}),
        token,
        StatusCode::OK,
    )
    .await;
}

/// Asserts an API error's status and stable code; returns the body.
pub async fn assert_error(resp: reqwest::Response, status: StatusCode, code: &str) -> Value {
    let got = resp.status();
    let request_id = resp
        .headers()
        .get("x-request-id")
        .map(|v| v.to_str().unwrap().to_string());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        (got, body["error"]["code"].as_str()),
        (status, Some(code)),
        "body: {body}"
    );
    assert_eq!(
        body["error"]["request_id"].as_str().map(String::from),
        request_id,
        "error body carries the request id"
    );
    body
}

/// A database of its own on the PostgreSQL server, dropped by [`PgDb::drop_db`].
pub struct PgDb {
    pub url: String,
    admin_url: String,
    name: String,
}

fn pg_admin_url() -> String {
    std::env::var("LATCHKEY_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh PostgreSQL database, or `None` (after [`missing_peer`]) if the server is unreachable.
pub async fn fresh_postgres() -> Option<PgDb> {
    fresh_postgres_at(&pg_admin_url()).await
}

/// A fresh database on the server `admin_url` names, or `None` (after [`missing_peer`]).
pub async fn fresh_postgres_at(admin_url: &str) -> Option<PgDb> {
    use sqlx::Connection;
    let admin_url = admin_url.to_string();
    let mut conn = match sqlx::PgConnection::connect(&admin_url).await {
        Ok(c) => c,
        Err(e) => {
            missing_peer(&format!("PostgreSQL at {admin_url} ({e})"));
            return None;
        }
    };
    let name = format!(
        "latchkey_test_{}",
        latchkey::model::random::uuid_v4().unwrap().simple()
    );
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let mut url = url::Url::parse(&admin_url).unwrap();
    url.set_path(&name);
    Some(PgDb {
        url: url.to_string(),
        admin_url,
        name,
    })
}

impl PgDb {
    /// The server's administrative URL (its `postgres` database).
    pub fn admin_url(&self) -> String {
        self.admin_url.clone()
    }

    pub async fn drop_db(self) {
        use sqlx::Connection;
        if let Ok(mut conn) = sqlx::PgConnection::connect(&self.admin_url).await {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn)
            .await;
        }
    }
}

/// Each `name => body;` becomes two tests, `sqlite::name` and `postgres::name`, that call
/// `body(database_url)`: `None` (a fresh SQLite file) or a fresh PostgreSQL database
/// (dropped afterwards; missing outside CI, a skip). Bodies are resolved in the calling
/// module. With `multi_thread;` first, the tests run on a two-thread runtime.
macro_rules! on_both_backends {
    (@test $test:meta; $($name:ident => $body:expr;)*) => {
        mod sqlite {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[$test]
                async fn $name() {
                    ($body)(None).await;
                }
            )*
        }
        mod postgres {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[$test]
                async fn $name() {
                    let Some(db) = crate::helpers::fresh_postgres().await else { return };
                    ($body)(Some(db.url.clone())).await;
                    db.drop_db().await;
                }
            )*
        }
    };
    (multi_thread; $($rest:tt)*) => {
        crate::helpers::on_both_backends!(@test tokio::test(flavor = "multi_thread", worker_threads = 2); $($rest)*);
    };
    ($($rest:tt)*) => {
        crate::helpers::on_both_backends!(@test tokio::test; $($rest)*);
    };
}
pub(crate) use on_both_backends;
