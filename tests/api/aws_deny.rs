//! A revoked grant's AWS sessions, and a locked user's, are denied at AWS: the broker
//! writes an inline deny policy on the role, read back here with the real AWS CLI from
//! moto (which stores role policies without enforcing them), and removes it once every
//! session it covered has expired (time passed in to the worker). The deny is queued with
//! the revocation, so a broker that could not reach IAM writes it after a restart.

use std::time::Duration;

use chrono::Utc;
use latchkey::adapters::providers::aws_deny::{iam_size, POLICY_NAME, REQUEST_TAG};
use latchkey::app::aws_deny_sync::drain;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::aws::{broker_identity, cli, moto};
use crate::helpers::revoke;
use crate::helpers::{spawn_app, Options, TestApp};

/// A role of its own in moto (tests share one moto), and a policy directory whose
/// `aws:staging#admin` assumes it.
struct Role {
    name: String,
    arn: String,
    policy: tempfile::TempDir,
}

fn aws(moto: &str, args: &[&str]) -> std::process::Output {
    let bin = std::env::var("LATCHKEY_TEST_AWS_CLI").unwrap_or_else(|_| "aws".into());
    std::process::Command::new(bin)
        .args([
            "--endpoint-url",
            moto,
            "--region",
            "us-east-1",
            "--output",
            "json",
        ])
        .args(args)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .expect("the AWS CLI runs")
}

fn role(moto: &str) -> Role {
    broker_identity();
    let name = format!(
        "latchkey-deny-{}",
        &latchkey::model::random::uuid_v4()
            .unwrap()
            .simple()
            .to_string()[..12]
    );
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"]}]}"#;
    let out = aws(
        moto,
        &[
            "iam",
            "create-role",
            "--role-name",
            &name,
            "--assume-role-policy-document",
            trust,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let arn = created["Role"]["Arn"].as_str().unwrap().to_string();
    let policy = tempfile::tempdir().unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    for f in ["catalogue.toml", "model.conf", "policy.csv"] {
        let text = std::fs::read_to_string(src.join(f)).unwrap();
        let text = text.replace(
            "arn:aws:iam::222222222222:role/latchkey-staging-admin",
            &arn,
        );
        std::fs::write(policy.path().join(f), text).unwrap();
    }
    Role { name, arn, policy }
}

/// The role's deny policy as the AWS CLI reads it back; `None` when there is none.
fn deny_policy(moto: &str, role: &str) -> Option<Value> {
    let out = aws(
        moto,
        &[
            "iam",
            "get-role-policy",
            "--role-name",
            role,
            "--policy-name",
            POLICY_NAME,
        ],
    );
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("NoSuchEntity"), "{err}");
        return None;
    }
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    Some(v["PolicyDocument"].clone())
}

fn revoked_grants(doc: &Value) -> Vec<String> {
    doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["Condition"]["StringEquals"][REQUEST_TAG].as_array())
        .flatten()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    for _ in 0..150 {
        if let Some(v) = check() {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn broker(moto: &str, role: &Role, database_url: Option<String>, extra: Options) -> TestApp {
    spawn_app(Options {
        dev: true,
        aws_endpoint: Some(moto.to_string()),
        policy_dir: Some(role.policy.path().to_path_buf()),
        database_url,
        ..extra
    })
    .await
}

/// An active grant on the role (auto-approved for eng), with an AWS session issued.
async fn grant_with_session(app: &TestApp, token: &str, duration: &str) -> String {
    let id = app
        .post_ok(
            "/v1/requests",
            json!({"resource": "aws:staging", "role": "admin", "duration": duration}),
            token,
            StatusCode::CREATED,
        )
        .await["request"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post_ok(
        "/v1/credentials/aws",
        json!({"resource": "aws:staging", "duration": "15m"}),
        token,
        StatusCode::CREATED,
    )
    .await;
    id
}

async fn events(
    app: &TestApp,
    subject: &str,
    kind: &str,
) -> Vec<latchkey::model::audit::AuditEvent> {
    let mut tx = app.broker.core.store.begin_read().await.unwrap();
    let all = tx.audit_events(Some(subject), 0, 10_000).await.unwrap();
    tx.commit().await.unwrap();
    all.into_iter().filter(|e| e.kind == kind).collect()
}

async fn revoked_grant_is_denied_then_the_deny_removed(database_url: Option<String>) {
    let Some(moto) = moto() else { return };
    let role = role(&moto);
    let app = broker(&moto, &role, database_url, Options::default()).await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let other = grant_with_session(&app, &bob, "2h").await;
    // A grant that never had an AWS session has nothing to deny, and costs no IAM call.
    let carol = app.dev_login("carol@example.com", &["eng"]).await;
    let sessionless = app
        .post_ok(
            "/v1/requests",
            json!({"resource": "aws:staging", "role": "admin", "duration": "2h"}),
            &carol,
            StatusCode::CREATED,
        )
        .await["request"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    revoke(&app, &carol, &sessionless).await;
    assert!(
        deny_policy(&moto, &role.name).is_none(),
        "nothing denied before a revocation"
    );
    revoke(&app, &bob, &other).await;
    let doc = eventually("the deny policy", || deny_policy(&moto, &role.name)).await;
    for kind in ["aws.session_denied", "aws.deny_failed"] {
        assert!(events(&app, &sessionless, kind).await.is_empty(), "{kind}");
    }
    let statement = &doc["Statement"][0];
    assert_eq!(statement["Effect"], "Deny");
    assert_eq!(statement["Action"], "*");
    assert_eq!(statement["Resource"], "*");
    assert_eq!(revoked_grants(&doc), vec![other.clone()]);
    let denied = events(&app, &other, "aws.session_denied").await;
    assert_eq!(denied.len(), 1, "audited once");
    assert_eq!(denied[0].details["role_arn"], role.arn.as_str());
    // Not removed while a session of the grant may still live (2h grant, 8h role maximum).
    let now = Utc::now();
    drain(&app.broker.deny_writer, now + chrono::Duration::minutes(90))
        .await
        .unwrap();
    assert!(deny_policy(&moto, &role.name).is_some());
    // Removed once every session it covered has expired.
    let attempted = drain(&app.broker.deny_writer, now + chrono::Duration::hours(3))
        .await
        .unwrap();
    assert_eq!(attempted, 1);
    assert!(
        deny_policy(&moto, &role.name).is_none(),
        "the policy is deleted"
    );
    assert_eq!(events(&app, &other, "aws.deny_removed").await.len(), 1);
    app.stop().await.unwrap();
}

async fn a_deny_queued_while_iam_is_down_is_written_after_a_restart(database_url: Option<String>) {
    let Some(moto) = moto() else { return };
    let role = role(&moto);
    let data = tempfile::tempdir().unwrap();
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let first = Options {
        data_dir: Some(data.path().to_path_buf()),
        iam_endpoint: Some(dead),
        ..Options::default()
    };
    let app = broker(&moto, &role, database_url.clone(), first).await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let id = grant_with_session(&app, &bob, "2h").await;
    revoke(&app, &bob, &id).await;
    // The first attempt failed, and said so.
    for _ in 0..100 {
        if !events(&app, &id, "aws.deny_failed").await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let failed = events(&app, &id, "aws.deny_failed").await;
    assert_eq!(failed.len(), 1, "one failure event, however many retries");
    assert_eq!(failed[0].details["code"], "iam_unavailable");
    app.stop().await.unwrap();
    assert!(deny_policy(&moto, &role.name).is_none());
    // Same data, IAM reachable: the queued deny is written.
    let again = Options {
        data_dir: Some(data.path().to_path_buf()),
        ..Options::default()
    };
    let app = broker(&moto, &role, database_url, again).await;
    let doc = eventually("the deny after the restart", || {
        deny_policy(&moto, &role.name)
    })
    .await;
    assert_eq!(revoked_grants(&doc), vec![id.clone()]);
    // The deny is written to IAM first and recorded after: wait for the record too.
    for _ in 0..100 {
        if !events(&app, &id, "aws.session_denied").await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(events(&app, &id, "aws.session_denied").await.len(), 1);
    app.stop().await.unwrap();
}

crate::helpers::on_both_backends! {
    multi_thread;
    a_revoked_grants_sessions_are_denied_at_aws_and_the_deny_removed_once_they_expired => revoked_grant_is_denied_then_the_deny_removed;
    a_deny_queued_while_iam_is_unreachable_is_written_after_a_restart => a_deny_queued_while_iam_is_down_is_written_after_a_restart;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_users_sessions_are_denied_by_source_identity_when_issued_before_the_lock() {
    let Some(moto) = moto() else { return };
    let role = role(&moto);
    let app = broker(&moto, &role, None, Options::default()).await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let admin = app.dev_login("root@example.com", &["admin"]).await;
    let id = grant_with_session(&app, &bob, "2h").await;
    let before = Utc::now();
    app.post_ok(
        "/v1/admin/locks",
        json!({"user": "bob@example.com", "reason": "laptop stolen"}),
        &admin,
        StatusCode::CREATED,
    )
    .await;
    let doc = eventually("the lock's deny", || deny_policy(&moto, &role.name)).await;
    let statements = doc["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 1, "{doc}");
    let s = &statements[0];
    assert_eq!(s["Effect"], "Deny");
    assert_eq!(
        s["Condition"]["StringEquals"]["aws:SourceIdentity"],
        json!(["bob@example.com"])
    );
    let cutoff: chrono::DateTime<Utc> = s["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // Sessions issued up to the lock are denied, and none issued a second after it.
    assert!(
        cutoff > before && cutoff <= Utc::now() + chrono::Duration::seconds(1),
        "{cutoff}"
    );
    assert!(
        revoked_grants(&doc).is_empty(),
        "the grant itself was not revoked"
    );
    assert_eq!(
        events(&app, "bob@example.com", "aws.session_denied")
            .await
            .len(),
        1
    );
    let locked = events(&app, "bob@example.com", "user.locked").await;
    assert_eq!(locked[0].details["aws_denies_queued"], 1);
    // Removed once the grant's sessions are over.
    drain(
        &app.broker.deny_writer,
        Utc::now() + chrono::Duration::hours(3),
    )
    .await
    .unwrap();
    assert!(deny_policy(&moto, &role.name).is_none());
    assert_eq!(
        events(&app, "bob@example.com", "aws.deny_removed")
            .await
            .len(),
        1
    );
    let _ = id;
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_revocations_stay_within_the_policy_limit_what_does_not_fit_is_audited_and_written_when_room_frees(
) {
    let Some(moto) = moto() else { return };
    let role = role(&moto);
    let budget = 600;
    let options = Options {
        deny_policy_max_chars: Some(budget.to_string()),
        ..Options::default()
    };
    let app = broker(&moto, &role, None, options).await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let mut short = Vec::new();
    for _ in 0..14 {
        let id = grant_with_session(&app, &bob, "20m").await;
        revoke(&app, &bob, &id).await;
        short.push(id);
    }
    let mut long = Vec::new();
    for _ in 0..3 {
        let id = grant_with_session(&app, &bob, "2h").await;
        revoke(&app, &bob, &id).await;
        long.push(id);
    }
    let mut unfit = Vec::new();
    for id in short.iter().chain(&long) {
        for _ in 0..100 {
            let done = !events(&app, id, "aws.session_denied").await.is_empty();
            let failed = events(&app, id, "aws.deny_failed").await;
            if let Some(f) = failed.first() {
                assert_eq!(f.details["code"], "does_not_fit");
                unfit.push(id.clone());
                break;
            }
            if done {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let doc = deny_policy(&moto, &role.name).unwrap();
    let written = revoked_grants(&doc);
    assert!(iam_size(&doc.to_string()) <= budget, "{}", doc);
    assert!(
        !unfit.is_empty(),
        "17 grants do not fit in {budget} characters"
    );
    assert_eq!(written.len() + unfit.len(), 17);
    assert!(long.iter().all(|id| unfit.contains(id)), "the newest wait");
    assert_eq!(&written[..], &short[..written.len()], "oldest first");
    // The 20-minute grants' sessions expire: their entries go, the waiting ones are written.
    drain(
        &app.broker.deny_writer,
        Utc::now() + chrono::Duration::minutes(25),
    )
    .await
    .unwrap();
    let doc = deny_policy(&moto, &role.name).unwrap();
    let mut now_written = revoked_grants(&doc);
    now_written.sort();
    let mut expect = long.clone();
    expect.sort();
    assert_eq!(now_written, expect);
    assert!(iam_size(&doc.to_string()) <= budget);
    for id in &long {
        assert_eq!(events(&app, id, "aws.session_denied").await.len(), 1);
    }
    for id in &written {
        assert_eq!(events(&app, id, "aws.deny_removed").await.len(), 1);
    }
    // Those never written before their sessions ended say so.
    for id in short.iter().filter(|id| unfit.contains(id)) {
        let failed = events(&app, id, "aws.deny_failed").await;
        assert_eq!(failed.len(), 2, "does not fit, then expired unwritten");
    }
    app.stop().await.unwrap();
}

// The CLI runs as a blocking child process: the broker needs threads of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_revoke_the_cli_drops_its_cached_session_and_creds_aws_fails_cleanly() {
    let Some(moto) = moto() else { return };
    let role = role(&moto);
    let app = broker(&moto, &role, None, Options::default()).await;
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| cli(home.path()).args(args).output().unwrap();
    let ok = |args: &[&str]| {
        let out = run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    ok(&[
        "login",
        "--server",
        &app.url,
        "--dev",
        "bob@example.com",
        "--groups",
        "eng",
    ]);
    // A grant on the role, as the CLI asks for it; its request id.
    let request = || {
        let created: Value = serde_json::from_str(&ok(&[
            "--output",
            "json",
            "request",
            "aws:staging",
            "--role",
            "admin",
        ]))
        .unwrap();
        created["request"]["id"].as_str().unwrap().to_string()
    };
    let id = request();
    let creds = [
        "creds",
        "aws",
        "aws:staging",
        "--format",
        "credential-process",
    ];
    let first: Value = serde_json::from_str(&ok(&creds)).unwrap();
    let cache = home.path().join("latchkey").join("cache");
    let cached = || std::fs::read_dir(&cache).map(|d| d.count()).unwrap_or(0);
    assert_eq!(cached(), 1);
    let again: Value = serde_json::from_str(&ok(&creds)).unwrap();
    assert_eq!(
        first["SessionToken"], again["SessionToken"],
        "served from the cache"
    );
    ok(&["revoke", &id]);
    assert_eq!(
        cached(),
        0,
        "the revoked grant's session is gone from the cache"
    );
    let out = run(&creds);
    assert_eq!(out.status.code(), Some(4));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("latchkey request aws:staging"), "{err}");

    // Revoked elsewhere (an administrator, another machine): the cache is not served either.
    let second = request();
    ok(&creds);
    assert_eq!(cached(), 1);
    let admin = app.dev_login("root@example.com", &["admin"]).await;
    revoke(&app, &admin, &second).await;
    let out = run(&creds);
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    assert_eq!(cached(), 0);

    // Logout drops whatever is cached for the server.
    let third = request();
    ok(&creds);
    assert_eq!(cached(), 1);
    // With --revoke the grant ends too, and its sessions are denied at AWS.
    ok(&["logout", "--revoke"]);
    assert_eq!(cached(), 0);
    let mut tx = app.broker.core.store.begin_read().await.unwrap();
    let state = tx.request(&third).await.unwrap().unwrap().state;
    tx.commit().await.unwrap();
    assert_eq!(state, latchkey::model::access::State::Revoked);
    let doc = eventually("the deny of the grant ended by logout", || {
        deny_policy(&moto, &role.name).filter(|d| revoked_grants(d).contains(&third))
    })
    .await;
    assert_eq!(
        revoked_grants(&doc),
        vec![id, second, third],
        "every revoked grant, merged"
    );
    app.stop().await.unwrap();
}
