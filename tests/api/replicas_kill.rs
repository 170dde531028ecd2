//! Three `latchkey serve` processes on one PostgreSQL database behind nginx, under load,
//! one killed with `kill -9` mid-load: every answer a client got stands in the audit log
//! exactly once, nothing is doubled, the chain verifies, and the survivors keep answering.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;
use latchkey::app::audit_verify::Report;
use latchkey::store::Store;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{fresh_postgres, missing_peer};
use crate::lb_fixture::{answered_by, start_lb};
use crate::nginx::nginx_binary;
use crate::replica_jobs::serve_on;

const LOAD: Duration = Duration::from_secs(3);
const KILL_AT: Duration = Duration::from_millis(1200);
/// One issuer for the three (a session opened on one is good on the others), and room for
/// the clients' logins: all come from one address, an anonymous caller's.
const REPLICA_ENV: &[(&str, &str)] = &[
    ("LATCHKEY_PUBLIC_URL", "http://latchkey.replicas.test"),
    ("LATCHKEY_LIMITS_ANONYMOUS_BURST", "100000"),
    ("LATCHKEY_LIMITS_ANONYMOUS_PER_MINUTE", "100000"),
];

/// What one client saw: the grants and tokens it was answered 2xx for, and the rest.
#[derive(Default)]
struct Seen {
    grants: Vec<String>,
    jtis: Vec<String>,
    failed: usize,
    /// Each refusal's status and code, or the transport error, with its count.
    refusals: HashMap<String, usize>,
    answers: HashMap<String, usize>,
}

/// POSTs `body` through the load balancer; the JSON of a 2xx answer, else `None`.
async fn post(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: Value,
    seen: &mut Seen,
) -> Option<Value> {
    let mut req = http.post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            let what = if e.is_timeout() {
                "timeout"
            } else {
                "transport"
            };
            *seen.refusals.entry(what.into()).or_default() += 1;
            return None;
        }
    };
    if resp.headers().contains_key("x-upstream") {
        *seen.answers.entry(answered_by(&resp)).or_default() += 1;
    }
    if !resp.status().is_success() {
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        let what = format!("{} {}", status.as_u16(), body["error"]["code"]);
        *seen.refusals.entry(what).or_default() += 1;
        return None;
    }
    resp.json().await.ok()
}

/// The `jti` claim of a broker token (read, not verified: the broker's own answer).
fn jti(token: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice::<Value>(&bytes).unwrap()["jti"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Client `n`: a fresh user per round, who logs in, is granted a token resource
/// (auto-approved) and is issued a token, until `LOAD` is over.
async fn client(n: usize, front: String, start: Instant) -> Seen {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut seen = Seen::default();
    let mut round = 0;
    while start.elapsed() < LOAD {
        round += 1;
        let email = format!("load{n}-{round}@example.com");
        let login = json!({"email": email, "groups": ["eng"]});
        let url = |p: &str| format!("{front}{p}");
        let Some(session) = post(&http, &url("/v1/auth/dev-login"), None, login, &mut seen).await
        else {
            seen.failed += 1;
            continue;
        };
        let token = session["token"].as_str().unwrap().to_string();
        let ask = json!({"resource": "token:metrics-api", "role": "read", "reason": format!("load {n}.{round}")});
        let Some(made) = post(&http, &url("/v1/requests"), Some(&token), ask, &mut seen).await
        else {
            seen.failed += 1;
            continue;
        };
        assert_eq!(made["request"]["state"], "active", "{made}");
        seen.grants
            .push(made["request"]["id"].as_str().unwrap().to_string());
        let issue = json!({"resource": "token:metrics-api", "ttl": "10m"});
        let url = url("/v1/credentials/token");
        match post(&http, &url, Some(&token), issue, &mut seen).await {
            Some(t) => seen.jtis.push(jti(t["token"].as_str().unwrap())),
            None => seen.failed += 1,
        }
    }
    seen
}

async fn lease_holder(pool: &sqlx::PgPool) -> Option<String> {
    sqlx::query_scalar(
        "SELECT holder FROM job_leases WHERE job = 'periodic'
        AND expires_at > (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT",
    )
    .fetch_optional(pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_killed_mid_load_loses_no_answered_request_and_doubles_nothing() {
    let Some(bin) = nginx_binary() else {
        missing_peer("nginx (Debian: apt-get install nginx)");
        return;
    };
    let Some(db) = fresh_postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut children = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..3 {
        let (child, port) = serve_on(&db.url, dir.path(), REPLICA_ENV).await;
        children.push(child);
        ports.push(port);
    }
    let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let lb = start_lb(&bin, &addrs).await;
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    // The replica to kill: the periodic jobs' leader, the one with the most to lose.
    let leader = lease_holder(&pool).await.expect("a leader");
    let pid: u32 = leader.split(':').nth(1).unwrap().parse().unwrap();
    let victim = children.iter().position(|c| c.id() == pid).unwrap();

    let start = Instant::now();
    let clients: Vec<_> = (0..3)
        .map(|n| tokio::spawn(client(n, lb.url.clone(), start)))
        .collect();
    tokio::time::sleep(KILL_AT).await;
    children[victim].kill().unwrap();
    children[victim].wait().unwrap();
    eprintln!(
        "FIGURES killed {} (the leader) {:?} into the load",
        addrs[victim],
        start.elapsed()
    );
    let mut seen = Seen::default();
    for c in clients {
        let s = c.await.unwrap();
        seen.grants.extend(s.grants);
        seen.jtis.extend(s.jtis);
        seen.failed += s.failed;
        for (k, v) in s.refusals {
            *seen.refusals.entry(k).or_default() += v;
        }
        for (k, v) in s.answers {
            *seen.answers.entry(k).or_default() += v;
        }
    }
    eprintln!(
        "FIGURES over {:?}: {} grants and {} tokens answered 2xx, {} calls failed {:?}; answers by replica {:?}",
        start.elapsed(),
        seen.grants.len(),
        seen.jtis.len(),
        seen.failed,
        seen.refusals,
        seen.answers
    );
    assert!(
        seen.grants.len() >= 10,
        "the load ran: {}",
        seen.grants.len()
    );
    // Only the calls in flight on the killed replica fail (one a client at most): nginx
    // passes the rest over to the survivors.
    assert!(
        seen.failed <= 3,
        "{} failed: {:?}",
        seen.failed,
        seen.refusals
    );
    assert!(
        seen.answers.len() == 3,
        "all three answered: {:?}",
        seen.answers
    );

    // Every answered grant and token in the audit log exactly once; nothing doubled.
    let store = Store::connect(&db.url).await.unwrap();
    let mut tx = store.begin_read().await.unwrap();
    let events = tx.audit_events(None, 0, 1_000_000).await.unwrap();
    tx.commit().await.unwrap();
    let mut created: HashMap<String, usize> = HashMap::new();
    let mut issued: HashMap<String, usize> = HashMap::new();
    for e in &events {
        match e.kind.as_str() {
            "request.created" => *created.entry(e.subject.clone().unwrap()).or_default() += 1,
            "credential.issued" => {
                let jti = e.details["jti"].as_str().unwrap().to_string();
                *issued.entry(jti).or_default() += 1;
            }
            _ => {}
        }
    }
    for id in &seen.grants {
        assert_eq!(created.get(id), Some(&1), "request.created for {id}");
    }
    for jti in &seen.jtis {
        assert_eq!(issued.get(jti), Some(&1), "credential.issued for {jti}");
    }
    assert!(created.values().all(|n| *n == 1), "a request audited twice");
    assert!(issued.values().all(|n| *n == 1), "a token audited twice");
    let (grants, users): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(DISTINCT requester_id) FROM access_requests
        WHERE resource = 'token:metrics-api'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(grants, users, "one grant per user, none doubled");
    assert_eq!(grants as usize, created.len(), "every grant audited");
    let (tokens, per_grant): (i64, i64) =
        sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT request_id) FROM credential_issuances")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(tokens, per_grant, "one token per grant, none doubled");
    assert_eq!(tokens as usize, issued.len(), "every token audited");
    eprintln!(
        "FIGURES in the database: {grants} grants, {tokens} tokens (answered: {}, {}); {} events",
        seen.grants.len(),
        seen.jtis.len(),
        events.len()
    );

    // The chain verifies, and the survivors answer directly and through the balancer.
    let survivor = &addrs[(victim + 1) % 3];
    let http = reqwest::Client::new();
    let audra: Value = http
        .post(format!("http://{survivor}/v1/auth/dev-login"))
        .json(&json!({"email": "audra@example.com", "groups": ["auditor"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let report: Report = http
        .post(format!("http://{survivor}/v1/audit/verify"))
        .bearer_auth(audra["token"].as_str().unwrap())
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    eprintln!("FIGURES the chain after the kill: {report:?}");
    assert!(report.ok, "{report:?}");
    assert!(report.events as usize >= events.len(), "{report:?}");
    for (i, addr) in addrs.iter().enumerate().filter(|(i, _)| *i != victim) {
        let ready = http.get(format!("http://{addr}/readyz")).send().await;
        assert_eq!(ready.unwrap().status(), StatusCode::OK, "replica {i}");
    }
    for _ in 0..6 {
        let resp = http.get(format!("{}/readyz", lb.url)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "via {}", answered_by(&resp));
        assert_ne!(answered_by(&resp), addrs[victim]);
    }
    for mut c in children {
        let _ = c.kill();
        let _ = c.wait();
    }
    store.close().await;
    pool.close().await;
    db.drop_db().await;
}
