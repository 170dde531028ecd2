//! AWS credentials against a real STS emulator (moto, started by the test command), with
//! the real AWS CLI reading them through `credential_process`. A recording proxy in front
//! of moto shows exactly what the broker sent to STS.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use reqwest::StatusCode as Status;
use serde_json::{json, Value};

use crate::helpers::{assert_error, missing_peer, spawn_app, Options, TestApp};

const BIN: &str = env!("CARGO_BIN_EXE_latchkey");

pub fn moto() -> Option<String> {
    match std::env::var("LATCHKEY_TEST_MOTO_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            missing_peer("the STS emulator (LATCHKEY_TEST_MOTO_URL)");
            None
        }
    }
}

/// The broker's own AWS identity, as the standard chain reads it from the environment.
pub fn broker_identity() {
    // Each test runs in its own process under nextest; every test sets the same values.
    std::env::set_var("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "broker-secret-for-tests");
    std::env::set_var("AWS_REGION", "us-east-1");
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
}

#[derive(Clone)]
struct Proxy {
    upstream: String,
    seen: Arc<Mutex<Vec<String>>>,
}

/// Forwards every request to moto and records its body.
async fn forward(
    State(p): State<Proxy>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap, Bytes) {
    p.seen
        .lock()
        .unwrap()
        .push(String::from_utf8_lossy(&body).to_string());
    pass_on(&p.upstream, method, uri, headers, body).await
}

/// Sends a request on to `upstream` (moto) as it came, and its answer back.
pub async fn pass_on(
    upstream: &str,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap, Bytes) {
    let url = format!(
        "{}{}",
        upstream,
        uri.path_and_query().map(|x| x.as_str()).unwrap_or("/")
    );
    let mut req = reqwest::Client::new().request(method, url).body(body);
    for (k, v) in headers
        .iter()
        .filter(|(k, _)| *k != "host" && *k != "content-length")
    {
        req = req.header(k, v);
    }
    let resp = req.send().await.unwrap();
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
    let mut out = HeaderMap::new();
    if let Some(ct) = resp.headers().get("content-type") {
        out.insert("content-type", ct.clone());
    }
    (status, out, resp.bytes().await.unwrap())
}

async fn recording_proxy(upstream: &str) -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let state = Proxy {
        upstream: upstream.to_string(),
        seen: seen.clone(),
    };
    let app = axum::Router::new().fallback(forward).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

async fn broker_with_sts(endpoint: &str) -> TestApp {
    broker_identity();
    spawn_app(Options {
        dev: true,
        aws_endpoint: Some(endpoint.to_string()),
        ..Options::default()
    })
    .await
}

pub fn cli(home: &std::path::Path) -> std::process::Command {
    let mut c = std::process::Command::new(BIN);
    c.env("XDG_CONFIG_HOME", home).env_remove("LATCHKEY_SERVER");
    c
}

// The CLI runs as a blocking child process: the broker needs threads of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_cli_gets_the_humans_assumed_role_through_credential_process() {
    let Some(moto) = moto() else { return };
    let (proxy, seen) = recording_proxy(&moto).await;
    let app = broker_with_sts(&proxy).await;
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = cli(home.path()).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    run(&[
        "login",
        "--server",
        &app.url,
        "--dev",
        "bob@example.com",
        "--groups",
        "eng",
    ]);
    let created: Value = serde_json::from_str(&run(&[
        "--output",
        "json",
        "request",
        "aws:staging",
        "--role",
        "admin",
    ]))
    .unwrap();
    let grant = created["request"]["id"].as_str().unwrap().to_string();
    let aws_config = home.path().join("aws-config");
    std::fs::write(&aws_config, format!("[profile latchkey]\ncredential_process = {BIN} creds aws aws:staging --format credential-process\n")).unwrap();
    let aws = std::env::var("LATCHKEY_TEST_AWS_CLI").unwrap_or_else(|_| "aws".into());
    let out = std::process::Command::new(&aws)
        .args([
            "--profile",
            "latchkey",
            "--endpoint-url",
            &moto,
            "--region",
            "us-east-1",
            "--output",
            "json",
            "sts",
            "get-caller-identity",
        ])
        .env("AWS_CONFIG_FILE", &aws_config)
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("XDG_CONFIG_HOME", home.path())
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("LATCHKEY_SERVER")
        .output()
        .expect("the AWS CLI runs");
    assert!(
        out.status.success(),
        "aws: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let who: Value = serde_json::from_slice(&out.stdout).unwrap();
    let arn = who["Arn"].as_str().unwrap();
    assert!(
        arn.ends_with(":assumed-role/latchkey-staging-admin/bob@example.com"),
        "{arn}"
    );
    // What reached STS: the role, the human as session name and source identity, the
    // request id and requester as transitive tags, a duration within the role's limits.
    let sent = seen
        .lock()
        .unwrap()
        .iter()
        .find(|b| b.contains("Action=AssumeRole"))
        .cloned()
        .expect("an AssumeRole call");
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(sent.as_bytes())
            .into_owned()
            .collect();
    assert_eq!(
        form["RoleArn"],
        "arn:aws:iam::222222222222:role/latchkey-staging-admin"
    );
    assert_eq!(form["RoleSessionName"], "bob@example.com");
    assert_eq!(form["SourceIdentity"], "bob@example.com");
    assert_eq!(form["DurationSeconds"], "3600");
    let tags: std::collections::HashMap<&str, &str> = (1..=3)
        .filter_map(|i| {
            Some((
                form.get(&format!("Tags.member.{i}.Key"))?.as_str(),
                form.get(&format!("Tags.member.{i}.Value"))?.as_str(),
            ))
        })
        .collect();
    assert_eq!(tags.get("latchkey:request"), Some(&grant.as_str()));
    assert_eq!(tags.get("latchkey:requester"), Some(&"bob@example.com"));
    assert_eq!(
        form.get("TransitiveTagKeys.member.1").map(String::as_str),
        Some("latchkey:request")
    );
    // The second call is served from the 0600 cache, not STS.
    let before = seen.lock().unwrap().len();
    run(&[
        "creds",
        "aws",
        "aws:staging",
        "--format",
        "credential-process",
    ]);
    assert_eq!(seen.lock().unwrap().len(), before);
    // exec puts them in a command's environment, with the broker's region unless the
    // caller has one (else the AWS CLI stops at "You must specify a region").
    let out = cli(home.path())
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .args(["exec", "aws:staging", "--", "sh", "-c"])
        .arg("echo $AWS_ACCESS_KEY_ID $AWS_REGION $AWS_DEFAULT_REGION")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&out.stdout).to_string();
    let words: Vec<&str> = out.split_whitespace().collect();
    assert!(words[0].starts_with("ASIA"), "{out}");
    assert_eq!(words[1..], ["us-east-1", "us-east-1"], "{out}");
    let own = cli(home.path())
        .env("AWS_REGION", "eu-west-1")
        .args(["exec", "aws:staging", "--", "sh", "-c", "echo $AWS_REGION"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&own.stdout).trim(), "eu-west-1");
    assert!(app
        .audit_types(&grant)
        .await
        .contains(&"credential.issued".to_string()));
}

#[tokio::test]
async fn production_admin_sends_its_ticket_external_id_and_session_policy_and_ends_with_the_grant()
{
    let Some(moto) = moto() else { return };
    let (proxy, seen) = recording_proxy(&moto).await;
    let app = broker_with_sts(&proxy).await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let carol = app.dev_login("carol@example.com", &["sre"]).await;
    let req = json!({"resource": "aws:prod", "role": "admin", "reason": "rotate the KMS key", "ticket": "CHG-1234", "duration": "20m"});
    let id = app
        .post_ok("/v1/requests", req, &bob, Status::CREATED)
        .await["request"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post_ok(
        &format!("/v1/requests/{id}/approve"),
        json!({}),
        &carol,
        Status::OK,
    )
    .await;
    app.post_ok(
        &format!("/v1/requests/{id}/activate"),
        json!({}),
        &bob,
        Status::OK,
    )
    .await;
    let creds = app
        .post_ok(
            "/v1/credentials/aws",
            json!({"resource": "aws:prod", "duration": "1h"}),
            &bob,
            Status::CREATED,
        )
        .await;
    assert!(creds["session_token"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));
    let sent = seen
        .lock()
        .unwrap()
        .iter()
        .find(|b| b.contains("Action=AssumeRole"))
        .cloned()
        .unwrap();
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(sent.as_bytes())
            .into_owned()
            .collect();
    assert_eq!(form["ExternalId"], "latchkey-prod");
    assert!(
        form["Policy"].contains("iam:CreateAccessKey") && !form["Policy"].contains('\n'),
        "{}",
        form["Policy"]
    );
    let duration: u64 = form["DurationSeconds"].parse().unwrap();
    assert!(
        (900..=1200).contains(&duration),
        "a 20-minute grant gets at most 20 minutes: {duration}"
    );
    assert!(sent.contains("latchkey%3Aticket") && sent.contains("CHG-1234"));
    // The secret never reaches the audit log; the access key id (which AWS logs) does.
    let mut tx = app.broker.core.store.begin_read().await.unwrap();
    let all = serde_json::to_string(&tx.audit_events(Some(&id), 0, 100).await.unwrap()).unwrap();
    tx.commit().await.unwrap();
    assert!(
        !all.contains(creds["secret_access_key"].as_str().unwrap())
            && !all.contains(creds["session_token"].as_str().unwrap())
    );
    assert!(all.contains(creds["access_key_id"].as_str().unwrap()));
}

// The CLI runs as a blocking child process: the broker needs threads of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_grant_the_cli_names_the_command_and_nothing_reaches_sts() {
    let Some(moto) = moto() else { return };
    let (proxy, seen) = recording_proxy(&moto).await;
    let app = broker_with_sts(&proxy).await;
    let home = tempfile::tempdir().unwrap();
    let out = cli(home.path())
        .args([
            "login",
            "--server",
            &app.url,
            "--dev",
            "bob@example.com",
            "--groups",
            "eng",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = cli(home.path())
        .args([
            "creds",
            "aws",
            "aws:staging",
            "--format",
            "credential-process",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("latchkey request aws:staging --role admin"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn sts_down_is_a_clear_error_nothing_is_issued_and_the_failure_is_audited() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let app = broker_with_sts(&dead).await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let id = app
        .post_ok(
            "/v1/requests",
            json!({"resource": "aws:staging", "role": "admin"}),
            &bob,
            Status::CREATED,
        )
        .await["request"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let resp = app
        .post(
            "/v1/credentials/aws",
            json!({"resource": "aws:staging"}),
            Some(&bob),
        )
        .await;
    let body = assert_error(resp, Status::SERVICE_UNAVAILABLE, "aws_unavailable").await;
    let message = body["error"]["message"].as_str().unwrap();
    one_sentence_naming_what_to_set(message, &dead);
    let events = app.audit_types(&id).await;
    assert!(
        events.contains(&"credential.failed".to_string())
            && !events.contains(&"credential.issued".to_string()),
        "{events:?}"
    );
    // The audit log's reason is the same sentence: short, and free of the SDK's internals.
    let mut tx = app.broker.core.store.begin_read().await.unwrap();
    let failed = tx
        .audit_events(Some(&id), 0, 1000)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.kind == "credential.failed")
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(failed.reason.as_deref(), Some(message));
}

/// Why STS could not be reached, as a person reads it: one sentence under 250 characters
/// that names the endpoint and the settings to check, none of the SDK's own account.
fn one_sentence_naming_what_to_set(message: &str, endpoint: &str) {
    assert!(
        message.len() < 250,
        "{} characters: {message}",
        message.len()
    );
    for internal in [
        "ConnectorError",
        "dispatch failure",
        "DispatchFailure",
        "source:",
        "{",
    ] {
        assert!(!message.contains(internal), "{internal:?} in {message}");
    }
    assert!(
        message.contains("could not be reached")
            && message.contains(endpoint)
            && message.contains("LATCHKEY_AWS_ENDPOINT_URL")
            && message.contains("LATCHKEY_AWS_REGION"),
        "{message}"
    );
    assert_eq!(message.matches(". ").count(), 0, "one sentence: {message}");
}

#[tokio::test]
async fn sts_refusing_is_a_clear_error() {
    // A fake STS that refuses like AWS does, for the codes an emulator cannot produce.
    let app_fake = axum::Router::new().fallback(|| async {
        (
            StatusCode::FORBIDDEN,
            [("content-type", "text/xml")],
            "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User is not authorized to perform: sts:AssumeRole</Message></Error><RequestId>1</RequestId></ErrorResponse>",
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app_fake).await.unwrap() });
    let app = broker_with_sts(&url).await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    app.post_ok(
        "/v1/requests",
        json!({"resource": "aws:staging", "role": "admin"}),
        &bob,
        Status::CREATED,
    )
    .await;
    let resp = app
        .post(
            "/v1/credentials/aws",
            json!({"resource": "aws:staging"}),
            Some(&bob),
        )
        .await;
    let body = assert_error(resp, Status::BAD_GATEWAY, "aws_access_denied").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("trust policy"),
        "{body}"
    );
}

/// A fake STS that always answers with `code`, counting the calls.
async fn refusing_sts(status: u16, code: &'static str) -> (String, Arc<Mutex<usize>>) {
    let hits = Arc::new(Mutex::new(0usize));
    let counter = hits.clone();
    let app = axum::Router::new().fallback(move || {
        let counter = counter.clone();
        async move {
            *counter.lock().unwrap() += 1;
            let body = format!("<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>refused: {code}</Message></Error><RequestId>1</RequestId></ErrorResponse>");
            (StatusCode::from_u16(status).unwrap(), [("content-type", "text/xml")], body)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, hits)
}

#[tokio::test]
async fn each_sts_refusal_has_its_code_and_only_throttling_is_retried() {
    for (status, code, ours, attempts) in [
        (403, "RegionDisabledException", "aws_region_disabled", 1),
        (400, "PackedPolicyTooLarge", "aws_policy_too_large", 1),
        (400, "Throttling", "aws_throttled", 3),
        (400, "ValidationError", "aws_error", 1),
    ] {
        let (url, hits) = refusing_sts(status, code).await;
        let app = broker_with_sts(&url).await;
        let bob = app.dev_login("bob@example.com", &["eng"]).await;
        app.post_ok(
            "/v1/requests",
            json!({"resource": "aws:staging", "role": "admin"}),
            &bob,
            Status::CREATED,
        )
        .await;
        let resp = app
            .post(
                "/v1/credentials/aws",
                json!({"resource": "aws:staging"}),
                Some(&bob),
            )
            .await;
        let want = if ours == "aws_throttled" {
            Status::SERVICE_UNAVAILABLE
        } else {
            Status::BAD_GATEWAY
        };
        assert_error(resp, want, ours).await;
        assert_eq!(*hits.lock().unwrap(), attempts, "{code}");
    }
}
