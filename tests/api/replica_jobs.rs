//! Three replicas on one PostgreSQL database: each background job's work done once (every
//! Slack message posted once, each interval's checkpoint signed once, each expiry swept
//! once), one audit chain under appends from all three, each replica's policy hash in
//! `/readyz`, `/metrics` and the audit log, and the periodic jobs' lease: fenced, and taken
//! over within its time when its holder is killed with `kill -9`.

use std::time::{Duration, Instant};

use latchkey::store::{Fence, Store, StoreError};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::audit::{auditor, verify_live};
use crate::helpers::{fresh_postgres, spawn_app, Options, TestApp};
use crate::slack::{eventually, pending_prod_request};
use crate::slack_fake::FakeSlack;

const INTERVAL: Duration = Duration::from_secs(2);

async fn three(db_url: &str, shared: &std::path::Path, slack: &FakeSlack) -> Vec<TestApp> {
    let options = Options {
        dev: true,
        database_url: Some(db_url.to_string()),
        data_dir: Some(shared.to_path_buf()),
        slack_api: Some(slack.api_url()),
        // One issuer for all three: a session opened on one is good on the others.
        public_url: Some("http://latchkey.replicas.test".into()),
        audit: latchkey::config::AuditLayer {
            checkpoint_interval: Some(format!("{}s", INTERVAL.as_secs())),
            checkpoint_every_events: Some("1000000".into()),
            ..Default::default()
        },
        ..Options::default()
    };
    let mut apps = Vec::new();
    for _ in 0..3 {
        apps.push(spawn_app(options.clone()).await);
        // Started apart, as replicas are: their timers do not tick together.
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    apps
}

#[tokio::test(flavor = "multi_thread")]
async fn three_replicas_post_each_slack_message_once_sign_each_interval_once_and_sweep_each_expiry_once(
) {
    let Some(db) = fresh_postgres().await else {
        return;
    };
    let shared = tempfile::tempdir().unwrap();
    let fake = FakeSlack::start().await;
    fake.add_user("UBOB", "bob@example.com", true);
    let apps = three(&db.url, shared.path(), &fake).await;
    let bob = apps[0].dev_login("bob@example.com", &["eng"]).await;
    let carol = apps[1].dev_login("carol@example.com", &["sre"]).await;

    // Six requests, each asked on one replica and approved on the next.
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(pending_prod_request(&apps[i % 3], &bob).await);
    }
    for (i, id) in ids.iter().enumerate() {
        apps[(i + 1) % 3]
            .post_ok(
                &format!("/v1/requests/{id}/approve"),
                json!({}),
                &carol,
                StatusCode::OK,
            )
            .await;
    }
    let channel_posts = |fake: &FakeSlack| {
        fake.posts()
            .into_iter()
            .filter(|p| p["channel"] != "UBOB")
            .count()
    };
    let dms = |fake: &FakeSlack| {
        fake.posts()
            .into_iter()
            .filter(|p| p["channel"] == "UBOB")
            .count()
    };
    eventually("every announcement and direct message", || async {
        (channel_posts(&fake) >= 6 && dms(&fake) >= 6).then_some(())
    })
    .await;

    // A short grant on one replica, run out: one sweep expires it.
    let grant = apps[2]
        .post_ok(
            "/v1/requests",
            json!({"resource": "aws:staging", "role": "admin"}),
            &bob,
            StatusCode::CREATED,
        )
        .await["request"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let past = chrono::Utc::now().timestamp_millis() - 1_000;
    sqlx::query("UPDATE access_requests SET expires_at = $1 WHERE id = $2")
        .bind(past)
        .bind(&grant)
        .execute(&pool)
        .await
        .unwrap();
    eventually("the grant's expiry", || async {
        let v: Value = apps[0]
            .get(&format!("/v1/requests/{grant}"), Some(&bob))
            .await
            .json()
            .await
            .unwrap();
        (v["state"] == "expired").then_some(())
    })
    .await;

    // Three intervals more, for late duplicates to show.
    tokio::time::sleep(INTERVAL * 3).await;
    assert_eq!(
        channel_posts(&fake),
        6,
        "each request announced once: {:?}",
        fake.posts()
    );
    assert_eq!(dms(&fake), 6, "each requester told once");
    let expired = apps[1]
        .audit_types(&grant)
        .await
        .iter()
        .filter(|k| *k == "grant.expired")
        .count();
    assert_eq!(expired, 1, "swept once");

    // The interval's checkpoints: one replica signs them, so they lie an interval apart.
    let mut tx = apps[0].broker.core.store.begin_read().await.unwrap();
    let cps = tx.checkpoints_between(1, 10_000).await.unwrap();
    tx.commit().await.unwrap();
    let at: Vec<i64> = cps.iter().map(|c| c.at.timestamp_millis()).collect();
    assert!(at.len() >= 4, "checkpoints every interval: {at:?}");
    let gaps: Vec<i64> = at.windows(2).map(|w| w[1] - w[0]).collect();
    let least = i64::try_from(INTERVAL.as_millis()).unwrap() * 9 / 10;
    assert!(
        gaps.iter().all(|g| *g >= least),
        "one checkpoint per interval, gaps {gaps:?} ms"
    );
    println!(
        "checkpoints {} over {} ms, gaps {gaps:?} ms",
        at.len(),
        at[at.len() - 1] - at[0]
    );

    for app in apps {
        app.stop().await.unwrap();
    }
    pool.close().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn three_replicas_appending_at_once_keep_one_chain_and_each_reports_its_policy_hash() {
    let Some(db) = fresh_postgres().await else {
        return;
    };
    let shared = tempfile::tempdir().unwrap();
    let fake = FakeSlack::start().await;
    let apps = three(&db.url, shared.path(), &fake).await;
    let mut tokens = Vec::new();
    for (i, app) in apps.iter().enumerate() {
        tokens.push(
            app.dev_login(&format!("user{i}@example.com"), &["eng"])
                .await,
        );
    }
    let mut tasks = Vec::new();
    for i in 0..60 {
        let (app, token) = (&apps[i % 3], &tokens[i % 3]);
        let req = app.http.post(format!("{}/v1/requests", app.url)).bearer_auth(token).json(
            &json!({"resource": "aws:staging", "role": "admin", "reason": format!("parallel {i}")}),
        );
        tasks.push(tokio::spawn(
            async move { req.send().await.unwrap().status() },
        ));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::CREATED);
    }
    let audra = auditor(&apps[2]).await;
    let report = verify_live(&apps[2], &audra).await;
    assert!(report.ok, "{report:?}");
    assert!(
        report.events >= 180,
        "three events a request, none lost: {report:?}"
    );

    // Each replica names the policy it runs, and itself, in all three places.
    let hash = apps[0].broker.core.policy.current().hash.clone();
    let mut replicas = std::collections::HashSet::new();
    for app in &apps {
        let ready: Value = app.get("/readyz", None).await.json().await.unwrap();
        assert_eq!(ready["policy_hash"], hash.as_str(), "{ready}");
        let replica = ready["replica"].as_str().unwrap().to_string();
        let metrics = app.get("/metrics", None).await.text().await.unwrap();
        let line = format!("latchkey_policy_info{{hash=\"{hash}\",replica=\"{replica}\"}} 1");
        assert!(metrics.lines().any(|l| l == line), "{line} in {metrics}");
        replicas.insert(replica);
    }
    assert_eq!(replicas.len(), 3, "{replicas:?}");
    let mut tx = apps[0].broker.core.store.begin_read().await.unwrap();
    let events = tx.audit_events(None, 0, 10_000).await.unwrap();
    tx.commit().await.unwrap();
    let loaded: std::collections::HashSet<String> = events
        .iter()
        .filter(|e| e.kind == "policy.loaded" && e.details["hash"] == hash.as_str())
        .filter_map(|e| e.details["replica"].as_str().map(String::from))
        .collect();
    assert_eq!(loaded, replicas, "each replica audits the policy it loaded");
    for app in apps {
        app.stop().await.unwrap();
    }
    db.drop_db().await;
}

#[tokio::test]
async fn a_leader_whose_lease_another_took_writes_nothing() {
    let Some(db) = fresh_postgres().await else {
        return;
    };
    let store = Store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    let take = |holder: &'static str, ttl: u64| {
        let store = store.clone();
        async move {
            let mut tx = store.begin().await.unwrap();
            let got = tx
                .take_lease("periodic", holder, Duration::from_millis(ttl))
                .await
                .unwrap();
            tx.commit().await.unwrap();
            got
        }
    };
    assert_eq!(take("a", 300).await, Some(1));
    assert_eq!(take("b", 300).await, None, "held by a");
    assert_eq!(take("a", 300).await, Some(1), "renewed, same epoch");
    let fence_a = Fence::Lease {
        job: "periodic",
        holder: "a".into(),
        epoch: 1,
    };
    let mut tx = store.begin().await.unwrap();
    tx.check_fence(&fence_a).await.unwrap();
    tx.commit().await.unwrap();
    // a falls silent; its lease runs out and b takes it with the next epoch.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(take("b", 10_000).await, Some(2));
    let mut tx = store.begin().await.unwrap();
    let lost = tx.check_fence(&fence_a).await.unwrap_err();
    assert!(matches!(lost, StoreError::LeaseLost(_)), "{lost}");
    drop(tx);
    assert_eq!(
        take("a", 300).await,
        None,
        "a cannot take it back while b holds it"
    );
    store.close().await;
    db.drop_db().await;
}

/// A `latchkey serve` process on `db_url`, its checkpoints every second.
async fn serve(db_url: &str, dir: &std::path::Path) -> std::process::Child {
    serve_on(db_url, dir, &[]).await.0
}

/// [`serve`] with `env` besides, and the port it listens on.
pub(crate) async fn serve_on(
    db_url: &str,
    dir: &std::path::Path,
    env: &[(&str, &str)],
) -> (std::process::Child, u16) {
    let port = crate::cli_and_config::free_port();
    let config = dir.join(format!("latchkey-{port}.toml"));
    std::fs::write(
        &config,
        format!(
            "policy_dir = {:?}\ndatabase_url = {db_url:?}\n[audit]\ncheckpoint_interval = \"1s\"\n[gate]\ndev_source = \"off\"\n[development]\npostgres = \"off\"\n",
            concat!(env!("CARGO_MANIFEST_DIR"), "/policies")
        ),
    )
    .unwrap();
    let mut child = crate::cli_and_config::latchkey(dir)
        // Replicas on PostgreSQL share their keys in the database, sealed under one KEK.
        .env("LATCHKEY_KEY_ENCRYPTION_KEY", crate::helpers::TEST_KEK)
        .envs(env.iter().copied())
        .args(["serve", "--dev", "--config"])
        .arg(&config)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.join("data"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..300 {
        if reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
            .await
            .is_ok()
        {
            return (child, port);
        }
        assert!(child.try_wait().unwrap().is_none(), "the broker exited");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the broker did not start");
}

async fn holder(pool: &sqlx::PgPool) -> Option<(String, i64)> {
    sqlx::query_as(
        "SELECT holder, epoch FROM job_leases WHERE job = 'periodic'
        AND expires_at > (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT",
    )
    .fetch_optional(pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn when_the_leader_is_killed_another_replica_takes_the_periodic_jobs_over_within_the_lease() {
    let Some(db) = fresh_postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut children = Vec::new();
    for _ in 0..3 {
        children.push(serve(&db.url, dir.path()).await);
    }
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let (leader, epoch) = holder(&pool).await.expect("a leader");
    let pid: u32 = leader.split(':').nth(1).unwrap().parse().unwrap();
    let at = children
        .iter()
        .position(|c| c.id() == pid)
        .expect("the leader is one of the three");
    // kill -9: no shutdown, no release; its lease runs out by itself.
    children[at].kill().unwrap();
    children[at].wait().unwrap();
    let killed = Instant::now();
    let count = |pool: sqlx::PgPool| async move {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_checkpoints")
            .fetch_one(&pool)
            .await
            .unwrap();
        n
    };
    let before = count(pool.clone()).await;
    let (next, next_epoch) = loop {
        if let Some((h, e)) = holder(&pool).await.filter(|(h, _)| *h != leader) {
            break (h, e);
        }
        assert!(
            killed.elapsed() < Duration::from_secs(20),
            "nobody took over"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let took = killed.elapsed();
    println!(
        "lease taken over {took:?} after the kill (TTL {:?})",
        latchkey::app::replica::LEASE_TTL
    );
    assert_eq!(next_epoch, epoch + 1, "{next} took it with the next epoch");
    assert!(
        took <= latchkey::app::replica::LEASE_TTL
            + latchkey::app::replica::RENEW_EVERY
            + Duration::from_secs(1),
        "{took:?}"
    );
    // And the new leader signs the interval's checkpoints.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert!(
        count(pool.clone()).await > before,
        "checkpoints resume under the new leader"
    );
    for mut c in children {
        let _ = c.kill();
        let _ = c.wait();
    }
    pool.close().await;
    db.drop_db().await;
}
