//! Over HTTP on SQLite, one client: a request to an auto-approved, active grant
//! (target: median <= 5 ms), and a broker token inside that grant (target: median <= 1 ms).
//! `cargo bench --bench http` prints median, p90 and p99.

use std::time::Instant;

use latchkey::config::{Layer, OidcLayer};
use latchkey::startup::Application;
use serde_json::{json, Value};

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Layer {
        listen: Some("127.0.0.1:0".into()),
        data_dir: Some(dir.path().to_path_buf()),
        dev: Some(true),
        policy_dir: Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies")),
        oidc: OidcLayer::default(),
        ..Layer::default()
    }
    .validate()
    .expect("config");
    let app = Application::build(config).await.expect("broker");
    let url = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until(std::future::pending()));
    let http = reqwest::Client::new();
    let session: Value = http
        .post(format!("{url}/v1/auth/dev-login"))
        .json(&json!({"email": "bob@example.com", "groups": ["eng"]}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("session");
    let token = session["token"].as_str().expect("token").to_string();
    let body = json!({"resource": "aws:staging", "role": "admin"});
    let once = || async {
        let t = Instant::now();
        let resp = http
            .post(format!("{url}/v1/requests"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 201);
        let v: Value = resp.json().await.expect("body");
        assert_eq!(v["request"]["state"], "active");
        t.elapsed().as_secs_f64() * 1e3
    };
    for _ in 0..100 {
        once().await;
    }
    let runs = 1_000;
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        samples.push(once().await);
    }
    report("POST /v1/requests -> auto-approved, active grant", samples);
    let grant = json!({"resource": "token:metrics-api", "role": "read"});
    let resp = http
        .post(format!("{url}/v1/requests"))
        .bearer_auth(&token)
        .json(&grant)
        .send()
        .await
        .expect("grant");
    assert_eq!(resp.status(), 201);
    let ask = json!({"resource": "token:metrics-api", "ttl": "5m"});
    let mut samples = Vec::with_capacity(runs);
    for i in 0..runs + 100 {
        let t = Instant::now();
        let resp = http
            .post(format!("{url}/v1/credentials/token"))
            .bearer_auth(&token)
            .json(&ask)
            .send()
            .await
            .expect("token");
        assert_eq!(resp.status(), 201);
        let _: Value = resp.json().await.expect("body");
        if i >= 100 {
            samples.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    report(
        "POST /v1/credentials/token (broker token in an active grant)",
        samples,
    );
}

fn report(name: &str, mut samples: Vec<f64>) {
    samples.sort_by(|a, b| a.total_cmp(b));
    let pick = |q: usize| samples[samples.len() * q / 100];
    println!(
        "{name:<62} median {:.2} ms   p90 {:.2} ms   p99 {:.2} ms   ({} runs)",
        pick(50),
        pick(90),
        pick(99),
        samples.len()
    );
}
