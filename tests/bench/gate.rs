//! The gate against its upstream, measured in the same run: `cargo bench --bench gate`.
//! Targets: proxied requests per second >= 70 % of direct, added p99 latency <= 1 ms;
//! server-sent events relayed to one client >= 50,000 per second; 1,000 concurrent
//! streams under 100 MiB resident, all closed within one second of their grants'
//! revocation. The first three run the broker in process; the streams run it as a child
//! process (`latchkey serve --dev`), so its /proc/PID/status shows the broker alone.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Query;
use axum::routing;
use axum::Router;
use bytes::Bytes;
use http_body::Frame;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use latchkey::config::{GateLayer, Layer};
use latchkey::startup::Application;
use serde_json::{json, Value};

type Http = Client<HttpConnector, Empty<Bytes>>;

/// `n` events, sent in frames of 100, as fast as the reader takes them.
struct Burst {
    left: u64,
    frame: Bytes,
}

impl http_body::Body for Burst {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        self.left = self.left.saturating_sub(100);
        Poll::Ready(Some(Ok(Frame::data(self.frame.clone()))))
    }
}

#[derive(serde::Deserialize)]
struct N {
    n: u64,
}

async fn upstream() -> SocketAddr {
    let event = latchkey::gate::devsource::event(1).to_string();
    let frame: Bytes = format!("data: {event}\n\n").repeat(100).into();
    let app = Router::new()
        .route("/hello", routing::get(|| async { "hello from upstream\n" }))
        .route(
            "/burst",
            routing::get(move |Query(q): Query<N>| {
                let frame = frame.clone();
                async move {
                    (
                        [("content-type", "text/event-stream")],
                        Body::new(Burst { left: q.n, frame }),
                    )
                }
            }),
        )
        .merge(latchkey::gate::devsource::router(None));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(l, app).await.expect("serve") });
    addr
}

fn policy(upstream: SocketAddr) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    for f in ["model.conf", "policy.csv"] {
        std::fs::copy(src.join(f), dir.path().join(f)).expect("copy");
    }
    let c = std::fs::read_to_string(src.join("catalogue.toml")).expect("catalogue");
    std::fs::write(
        dir.path().join("catalogue.toml"),
        c.replace("127.0.0.1:8011", &upstream.to_string()),
    )
    .expect("write");
    dir
}

async fn get(http: &Http, url: &str, token: Option<&str>) -> (u16, u64) {
    let mut req = hyper::Request::get(url);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = http
        .request(req.body(Empty::new()).expect("request"))
        .await
        .expect("response");
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut bytes = 0u64;
    while let Some(f) = body.frame().await {
        if let Some(d) = f.expect("frame").data_ref() {
            bytes += d.len() as u64;
        }
    }
    (status, bytes)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

/// Requests per second with `workers` keep-alive clients for `secs`, and the latencies.
async fn load(
    http: &Http,
    url: &str,
    token: Option<&str>,
    workers: usize,
    secs: f64,
) -> (f64, Vec<f64>) {
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (http, url, token) = (http.clone(), url.to_string(), token.map(str::to_string));
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < end {
                let t = Instant::now();
                let (status, _) = get(&http, &url, token.as_deref()).await;
                assert_eq!(status, 200);
                lat.push(t.elapsed().as_secs_f64() * 1e3);
            }
            lat
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("worker"));
    }
    let rps = all.len() as f64 / started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    (rps, all)
}

fn rss_mib(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}

#[tokio::main]
async fn main() {
    let up = upstream().await;
    let policy = policy(up);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Layer {
        listen: Some("127.0.0.1:0".into()),
        data_dir: Some(dir.path().to_path_buf()),
        dev: Some(true),
        policy_dir: Some(policy.path().to_path_buf()),
        gate: GateLayer {
            dev_source: Some("off".into()),
        },
        ..Layer::default()
    }
    .validate()
    .expect("config");
    latchkey::telemetry::init("error");
    let app = Application::build(config).await.expect("broker");
    let broker_url = format!("http://{}", app.local_addr());
    let broker = app.broker();
    tokio::spawn(app.run_until(std::future::pending()));
    let api = reqwest::Client::new();
    let login = |email: String| {
        let api = api.clone();
        let url = broker_url.clone();
        async move {
            let v: Value = api
                .post(format!("{url}/v1/auth/dev-login"))
                .json(&json!({"email": email, "groups": ["eng"]}))
                .send()
                .await
                .expect("login")
                .json()
                .await
                .expect("session");
            v["token"].as_str().expect("token").to_string()
        }
    };
    let request = |token: String| {
        let api = api.clone();
        let url = broker_url.clone();
        async move {
            let v: Value = api
                .post(format!("{url}/v1/requests"))
                .bearer_auth(&token)
                .json(&json!({"resource": "stream:live-events"}))
                .send()
                .await
                .expect("request")
                .json()
                .await
                .expect("grant");
            v["request"]["id"].as_str().expect("id").to_string()
        }
    };
    let token = login("bench@example.com".into()).await;
    request(token.clone()).await;
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let http: Http = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(2048)
        .build(connector);
    let direct = format!("http://{up}/hello");
    let gated = format!("{broker_url}/gate/stream:live-events/hello");
    assert_eq!(get(&http, &gated, Some(&token)).await.0, 200);

    // 1. Latency, one request at a time.
    let serial = |url: String, token: Option<String>| {
        let http = http.clone();
        async move {
            let mut lat = Vec::new();
            for i in 0..3000 {
                let t = Instant::now();
                get(&http, &url, token.as_deref()).await;
                if i >= 500 {
                    lat.push(t.elapsed().as_secs_f64() * 1e3);
                }
            }
            lat.sort_by(f64::total_cmp);
            lat
        }
    };
    let d = serial(direct.clone(), None).await;
    let g = serial(gated.clone(), Some(token.clone())).await;
    println!("latency, one client (ms)   direct p50 {:.3} p99 {:.3} | gate p50 {:.3} p99 {:.3} | added p99 {:.3} ms (target <= 1)",
        pct(&d, 0.5), pct(&d, 0.99), pct(&g, 0.5), pct(&g, 0.99), pct(&g, 0.99) - pct(&d, 0.99));

    // 2. Throughput, 32 keep-alive clients, 3 s each.
    let (drps, dl) = load(&http, &direct, None, 32, 3.0).await;
    let (grps, gl) = load(&http, &gated, Some(&token), 32, 3.0).await;
    println!("throughput, 32 clients     direct {drps:.0} req/s | gate {grps:.0} req/s = {:.0} % of direct (target >= 70 %) | p99 under load direct {:.2} ms gate {:.2} ms",
        100.0 * grps / drps, pct(&dl, 0.99), pct(&gl, 0.99));

    // 3. Server-sent events relayed to one client.
    let n = 300_000u64;
    for (name, url, tok) in [
        ("direct", format!("http://{up}/burst?n={n}"), None),
        (
            "gate",
            format!("{broker_url}/gate/stream:live-events/burst?n={n}"),
            Some(token.as_str()),
        ),
    ] {
        let t = Instant::now();
        let (status, bytes) = get(&http, &url, tok).await;
        assert_eq!(status, 200);
        let secs = t.elapsed().as_secs_f64();
        println!("sse relay, one client      {name}: {n} events ({:.1} MiB) in {secs:.2} s = {:.0} events/s (target >= 50,000 through the gate)", bytes as f64 / 1048576.0, n as f64 / secs);
    }

    // 4. 1,000 concurrent streams: 100 people, 10 streams each, then every grant revoked,
    // through a broker of its own in a child process.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let child_dir = tempfile::tempdir().expect("tempdir");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args([
            "serve",
            "--dev",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(child_dir.path())
        .env("LATCHKEY_POLICY_DIR", policy.path())
        .env("LATCHKEY_GATE_DEV_SOURCE", "off")
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("latchkey serve");
    let broker_url = format!("http://127.0.0.1:{port}");
    let pid = child.id().to_string();
    while api
        .get(format!("{broker_url}/readyz"))
        .send()
        .await
        .map(|r| r.status() != 200)
        .unwrap_or(true)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let login = |email: String| {
        let api = api.clone();
        let url = broker_url.clone();
        async move {
            let v: Value = api
                .post(format!("{url}/v1/auth/dev-login"))
                .json(&json!({"email": email, "groups": ["eng"]}))
                .send()
                .await
                .expect("login")
                .json()
                .await
                .expect("session");
            v["token"].as_str().expect("token").to_string()
        }
    };
    let request = |token: String| {
        let api = api.clone();
        let url = broker_url.clone();
        async move {
            let v: Value = api
                .post(format!("{url}/v1/requests"))
                .bearer_auth(&token)
                .json(&json!({"resource": "stream:live-events"}))
                .send()
                .await
                .expect("request")
                .json()
                .await
                .expect("grant");
            v["request"]["id"].as_str().expect("id").to_string()
        }
    };
    let before = rss_mib(&pid);
    let mut people = Vec::new();
    for i in 0..100 {
        let t = login(format!("viewer{i}@example.com")).await;
        let id = request(t.clone()).await;
        people.push((t, id));
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    let opened = Arc::new(tokio::sync::Semaphore::new(0));
    for (t, id) in &people {
        for _ in 0..10 {
            let (http, url, t, id, tx, opened) = (
                http.clone(),
                format!("{broker_url}/gate/stream:live-events/events?every_ms=1000"),
                t.clone(),
                id.clone(),
                tx.clone(),
                opened.clone(),
            );
            tokio::spawn(async move {
                let req = hyper::Request::get(url)
                    .header("authorization", format!("Bearer {t}"))
                    .body(Empty::new())
                    .expect("request");
                let resp = http.request(req).await.expect("stream");
                assert_eq!(resp.status(), 200);
                opened.add_permits(1);
                let mut body = resp.into_body();
                while let Some(Ok(_)) = body.frame().await {}
                let _ = tx.send((id, Instant::now()));
            });
        }
    }
    let _all = opened.acquire_many(1000).await.expect("opened");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held = rss_mib(&pid);
    println!("1,000 streams held         broker process RSS {held:.1} MiB ({before:.1} MiB idle, before opening; target < 100 MiB)");
    let root: Value = api
        .post(format!("{broker_url}/v1/auth/dev-login"))
        .json(&json!({"email": "root@example.com", "groups": ["admin"]}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("session");
    let root = root["token"].as_str().expect("token").to_string();
    let mut revoked_at = std::collections::HashMap::new();
    let mut revokes = Vec::new();
    for (_, id) in &people {
        let (api, url, root, id) = (api.clone(), broker_url.clone(), root.clone(), id.clone());
        revokes.push(tokio::spawn(async move {
            let r = api
                .post(format!("{url}/v1/requests/{id}/revoke"))
                .bearer_auth(&root)
                .json(&json!({}))
                .send()
                .await
                .expect("revoke");
            assert_eq!(r.status(), 200);
            (id, Instant::now())
        }));
    }
    for r in revokes {
        let (id, at) = r.await.expect("revoke");
        revoked_at.insert(id, at);
    }
    let mut worst = Duration::ZERO;
    drop(tx);
    let mut closed = 0;
    while let Some((id, at)) = rx.recv().await {
        closed += 1;
        worst = worst.max(at.saturating_duration_since(revoked_at[&id]));
    }
    println!("revocation of 100 grants   {closed} of 1000 streams closed; slowest {:.0} ms after its grant's revoke call returned (target < 1000 ms)", worst.as_secs_f64() * 1e3);
    let _ = child.kill();
    let _ = child.wait();
    drop(broker);
}
