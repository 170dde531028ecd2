//! The gate against its upstream, measured in the same run: `cargo bench --bench gate`.
//! Targets: proxied requests per second >= 70 % of direct, added p99 latency <= 1 ms;
//! server-sent events relayed to one client >= 50,000 per second; 1,000 concurrent
//! streams under 100 MiB resident, all closed within one second of their grants'
//! revocation.
//!
//! Every part is its own process, as in a deployment: the upstream (this binary again,
//! with `LATCHKEY_BENCH_ROLE=upstream`), the broker (`latchkey serve --dev`) and the load
//! generator (`wrk` when it is installed, else this process). Throughput is measured in
//! two placements:
//! - shared: every process may run on every core;
//! - own core: the gate on a core of its own, as its own replicas would be, and the load
//!   generator with the upstream on another. Direct and gated runs see the same core for
//!   load generator and upstream, so the ratio says whether the gate holds the service
//!   back.
//!
//! Each placement is measured against two upstreams: `/hello`, which does nothing, so the
//! gate's whole cost shows against an upstream that costs almost nothing, and `/recent`,
//! an API that builds 20 events as JSON on each call (about 6 KiB), as the dashboards and
//! APIs behind the gate do some work. CPU per request is split into user time (the
//! process's own code) and kernel time (system calls and the loopback network stack).
//!
//! The same runs go through two reference reverse proxies placed where the gate is:
//! nginx, when installed (the test command installs it), and a bare proxy in this binary
//! (`LATCHKEY_BENCH_ROLE=bare-proxy`: hyper and the gate's upstream pool, nothing
//! checked, headers passed as they come), the floor of the gate's own stack. A proxy,
//! whatever its code, reads and writes every request and answer once more than the
//! direct path does; the references show what that costs on the machine at hand, and
//! what the gate costs beyond it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Query;
use axum::http::uri::Authority;
use axum::routing;
use axum::Router;
use bytes::Bytes;
use http_body::Frame;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use latchkey::adapters::upstream::{Pool, Pooled, UpstreamError};
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

/// The upstream's process: `/hello`, `/burst?n=` and the dev live-events source.
async fn serve_upstream() {
    let event = latchkey::edges::gate::devsource::event(1)
        .unwrap()
        .to_string();
    let frame: Bytes = format!("data: {event}\n\n").repeat(100).into();
    let app = Router::new()
        .route("/hello", routing::get(|| async { "hello from upstream\n" }))
        // An API that does some work: the `n` latest events as JSON, built on each call.
        .route(
            "/recent",
            routing::get(|Query(q): Query<N>| async move {
                let events: Vec<Value> = (0..q.n)
                    .map(|n| latchkey::edges::gate::devsource::event(n).unwrap())
                    .collect();
                axum::Json(events)
            }),
        )
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
        .merge(latchkey::edges::gate::devsource::router(None));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    println!("{}", l.local_addr().expect("addr"));
    axum::serve(l, app).await.expect("serve");
}

/// The floor of the stack: a bare reverse proxy on hyper and the gate's own upstream
/// pool that checks nothing and passes headers as they come. What the gate costs beyond
/// it is its admission, headers, request context and metrics.
fn bare_proxy(upstream: SocketAddr) {
    async fn forward(
        req: hyper::Request<Incoming>,
        upstream: Authority,
        pool: Arc<Pool>,
    ) -> Result<hyper::Response<Pooled>, UpstreamError> {
        let (mut parts, body) = req.into_parts();
        parts.uri = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse()
            .expect("path");
        let req = hyper::Request::from_parts(parts, Body::new(body));
        pool.send(&upstream, req).await
    }

    let one_core = std::thread::available_parallelism().map_or(1, |n| n.get()) == 1;
    let rt = if one_core {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    }
    .enable_all()
    .build()
    .expect("runtime");
    rt.block_on(async move {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        println!("{}", l.local_addr().expect("addr"));
        let pool = Arc::new(Pool::default());
        let upstream: Authority = upstream.to_string().parse().expect("authority");
        loop {
            let (tcp, _) = l.accept().await.expect("accept");
            tcp.set_nodelay(true).expect("nodelay");
            let (pool, upstream) = (pool.clone(), upstream.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    forward(req, upstream.clone(), pool.clone())
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
}

/// A child process in a process group of its own (see [`on_cpus`]), stopped with the
/// group when dropped: SIGTERM first, SIGKILL if it is still there a second later, so no
/// worker (nginx's) outlives the run.
struct Proc(Child);

impl Proc {
    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let signal = |s: &str| {
            let _ = Command::new("kill")
                .args([s, "--", &group])
                .stderr(Stdio::null())
                .status();
        };
        signal("-TERM");
        for _ in 0..20 {
            if let Ok(Some(_)) = self.0.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        signal("-KILL");
        let _ = self.0.wait();
    }
}

/// Starts a command, on `cpus` from its start when given (so that it sizes its threads to
/// them, as a process given those cores would).
fn on_cpus(program: impl AsRef<std::ffi::OsStr>, cpus: Option<&str>) -> Command {
    let mut cmd = match cpus {
        Some(c) => {
            let mut cmd = Command::new("taskset");
            cmd.args(["-c", c]).arg(program);
            cmd
        }
        None => Command::new(program),
    };
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd
}

fn upstream(cpus: Option<&str>) -> (Proc, SocketAddr) {
    child_role("upstream", None, cpus)
}

/// This binary again in `role` (the upstream, or the bare proxy to `to`), and the
/// address it listens on.
fn child_role(role: &str, to: Option<SocketAddr>, cpus: Option<&str>) -> (Proc, SocketAddr) {
    let mut cmd = on_cpus(std::env::current_exe().expect("exe"), cpus);
    if let Some(to) = to {
        cmd.env("LATCHKEY_BENCH_UPSTREAM", to.to_string());
    }
    let mut child = cmd
        .env("LATCHKEY_BENCH_ROLE", role)
        .stdout(Stdio::piped())
        .spawn()
        .expect("upstream");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("address");
    (Proc(child), line.trim().parse().expect("address"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
}

fn policy_for(upstream: SocketAddr) -> tempfile::TempDir {
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

/// The broker in a child process, so that its CPU time and RSS are its own, with a
/// person holding a grant on `stream:live-events`.
struct Broker {
    proc: Proc,
    url: String,
    token: String,
    _data: tempfile::TempDir,
}

impl Broker {
    /// Starts one, on `cpus` when given.
    async fn start(api: &reqwest::Client, policy: &std::path::Path, cpus: Option<&str>) -> Self {
        let port = free_port();
        let data = tempfile::tempdir().expect("tempdir");
        let child = on_cpus(env!("CARGO_BIN_EXE_latchkey"), cpus)
            .args([
                "serve",
                "--dev",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(data.path())
            .env("LATCHKEY_POLICY_DIR", policy)
            .env("LATCHKEY_GATE_DEV_SOURCE", "off")
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("latchkey serve");
        let proc = Proc(child);
        let url = format!("http://127.0.0.1:{port}");
        while api
            .get(format!("{url}/readyz"))
            .send()
            .await
            .map(|r| r.status() != 200)
            .unwrap_or(true)
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let token = login(api, &url, "bench@example.com", "eng").await;
        request(api, &url, &token).await;
        Self {
            proc,
            url,
            token,
            _data: data,
        }
    }
}

/// nginx as a reference reverse proxy to `upstream`, if it is installed.
fn nginx(
    upstream: SocketAddr,
    dir: &std::path::Path,
    cpus: Option<&str>,
    workers: usize,
) -> Option<(Proc, String)> {
    let bin = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())?;
    let port = free_port();
    let conf = format!(
        "worker_processes {workers};\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
         upstream up {{ server {upstream}; keepalive 64; }}\n\
         server {{ listen 127.0.0.1:{port};\n    location / {{ proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_buffering off; }} }}\n}}\n",
        d = dir.display()
    );
    std::fs::write(dir.join("nginx.conf"), conf).ok()?;
    let child = on_cpus(bin, cpus)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-p")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..50 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some((Proc(child), url));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
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

/// Requests per second and p99 latency (ms) with 32 keep-alive clients for `secs`: `wrk`
/// when installed, else this process (slower: the figures then say so).
async fn load(
    http: &Http,
    url: &str,
    token: Option<&str>,
    secs: u64,
    on_cpu: Option<u32>,
) -> (f64, f64) {
    if let Some(wrk) = which("wrk") {
        let cpu = on_cpu.map(|c| c.to_string());
        let mut cmd = on_cpus(wrk, cpu.as_deref());
        cmd.args(["-t1", "-c32", &format!("-d{secs}s"), "--latency"]);
        if let Some(t) = token {
            cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
        }
        let out = cmd.arg(url).output().expect("wrk");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(!text.contains("Non-2xx"), "wrk saw errors:\n{text}");
        let field = |prefix: &str| -> String {
            text.lines()
                .find_map(|l| l.trim().strip_prefix(prefix))
                .unwrap_or_else(|| panic!("wrk printed no {prefix}:\n{text}"))
                .trim()
                .to_string()
        };
        let rps: f64 = field("Requests/sec:").parse().expect("rps");
        let p99 = field("99%");
        let ms = match p99.strip_suffix("us") {
            Some(us) => us.parse::<f64>().expect("p99") / 1e3,
            None => match p99.strip_suffix("ms") {
                Some(ms) => ms.parse().expect("p99"),
                None => p99.trim_end_matches('s').parse::<f64>().expect("p99") * 1e3,
            },
        };
        return (rps, ms);
    }
    let end = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..32 {
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
    (rps, pct(&all, 0.99))
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| std::path::Path::new(d).join(name))
        .find(|p| p.exists())
}

/// CPU time a process (and its children: nginx's workers) spent, in seconds: in its own
/// code (user) and in the kernel on its behalf (system calls, the network stack).
#[derive(Clone, Copy, Default)]
struct Cpu {
    user: f64,
    kernel: f64,
}

impl Cpu {
    fn of(pid: u32) -> Self {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let after = stat.rsplit(')').next().unwrap_or("");
        let f: Vec<f64> = after
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0.0))
            .collect();
        // Fields 14 and 15 of stat (utime, stime) are 12 and 13 after the command's ')'.
        let mut cpu = Cpu {
            user: f.get(11).unwrap_or(&0.0) / 100.0,
            kernel: f.get(12).unwrap_or(&0.0) / 100.0,
        };
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
            cpu = cpu.plus(Cpu::of(child));
        }
        cpu
    }

    fn plus(self, o: Cpu) -> Cpu {
        Cpu {
            user: self.user + o.user,
            kernel: self.kernel + o.kernel,
        }
    }

    fn since(self, before: Cpu) -> Cpu {
        Cpu {
            user: self.user - before.user,
            kernel: self.kernel - before.kernel,
        }
    }

    /// Microseconds per request over `n` requests: total (user + kernel).
    fn per(self, n: f64) -> String {
        let us = |s: f64| s / n * 1e6;
        format!(
            "{:.1} µs ({:.1} user + {:.1} kernel)",
            us(self.user + self.kernel),
            us(self.user),
            us(self.kernel)
        )
    }
}

fn rss_mib(pid: u32) -> f64 {
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

async fn login(api: &reqwest::Client, url: &str, email: &str, group: &str) -> String {
    let v: Value = api
        .post(format!("{url}/v1/auth/dev-login"))
        .json(&json!({"email": email, "groups": [group]}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("session");
    v["token"].as_str().expect("token").to_string()
}

async fn request(api: &reqwest::Client, url: &str, token: &str) -> String {
    let v: Value = api
        .post(format!("{url}/v1/requests"))
        .bearer_auth(token)
        .json(&json!({"resource": "stream:live-events"}))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("grant");
    v["request"]["id"].as_str().expect("id").to_string()
}

fn main() {
    match std::env::var("LATCHKEY_BENCH_ROLE").as_deref() {
        Ok("upstream") => {
            tokio::runtime::Runtime::new()
                .expect("runtime")
                .block_on(serve_upstream());
            return;
        }
        Ok("bare-proxy") => {
            let to = std::env::var("LATCHKEY_BENCH_UPSTREAM").expect("LATCHKEY_BENCH_UPSTREAM");
            bare_proxy(to.parse().expect("upstream address"));
            return;
        }
        _ => {}
    }
    // The load generator (when it is this process) takes one thread, like wrk.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(bench());
}

async fn bench() {
    let (up_proc, up) = upstream(None);
    let policy = policy_for(up);
    let api = reqwest::Client::new();
    let shared = Broker::start(&api, policy.path(), None).await;
    let (broker_url, token) = (shared.url.clone(), shared.token.clone());
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let http: Http = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(2048)
        .build(connector);
    let direct = format!("http://{up}/hello");
    let gated = format!("{broker_url}/gate/stream:live-events/hello");
    assert_eq!(get(&http, &gated, Some(&token)).await.0, 200);
    let bpid = shared.proc.pid();

    // 1. Latency, one request at a time, direct and gated in turn so that both see the
    // same moments of a noisy machine (the first 500 of each warm up).
    let (mut d, mut g) = (Vec::new(), Vec::new());
    for i in 0..5500 {
        for (lat, url, tok) in [
            (&mut d, &direct, None),
            (&mut g, &gated, Some(token.as_str())),
        ] {
            let t = Instant::now();
            assert_eq!(get(&http, url, tok).await.0, 200);
            if i >= 500 {
                lat.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
    }
    d.sort_by(f64::total_cmp);
    g.sort_by(f64::total_cmp);
    println!("latency, one client (ms)   direct p50 {:.3} p99 {:.3} | gate p50 {:.3} p99 {:.3} | added p99 {:.3} ms (target <= 1)",
        pct(&d, 0.5), pct(&d, 0.99), pct(&g, 0.5), pct(&g, 0.99), pct(&g, 0.99) - pct(&d, 0.99));

    // 2. Throughput, 32 keep-alive clients, direct and gated (and through nginx) in each
    // placement.
    let loader = if which("wrk").is_some() {
        "wrk -t1 -c32"
    } else {
        "this process, 1 thread (install wrk for the reference figures)"
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let can_place = cores >= 2 && which("taskset").is_some() && which("wrk").is_some();
    let placements: &[(&str, bool)] = if can_place {
        &[("shared", false), ("own core", true)]
    } else {
        &[("shared", false)]
    };
    println!("throughput, 32 clients     load generator: {loader}");
    if !can_place {
        println!("  own core                 skipped: needs 2 cores, taskset and wrk");
    }
    for &(name, pinned) in placements {
        // Each placement starts its own processes where they run, so that each sizes its
        // threads to its cores: the gate (and nginx) on core 1, the upstream and the load
        // generator on core 0.
        let (lg_cpu, gate_cpus, rest_cpus) = if pinned {
            (Some(0), Some("1"), Some("0"))
        } else {
            (None, None, None)
        };
        let placed = pinned.then(|| upstream(rest_cpus));
        let (up_pid, up_addr) = placed
            .as_ref()
            .map_or((up_proc.pid(), up), |(p, a)| (p.pid(), *a));
        let placed_policy = placed.as_ref().map(|(_, a)| policy_for(*a));
        let own = match &placed_policy {
            Some(p) => Some(Broker::start(&api, p.path(), gate_cpus).await),
            None => None,
        };
        let gate = own.as_ref().unwrap_or(&shared);
        let ngx_dir = tempfile::tempdir().expect("tempdir");
        // The reference proxies, where the gate runs: nginx (when installed) and the bare
        // hyper proxy (the floor of the gate's own stack).
        let mut references: Vec<(&str, Proc, String)> = Vec::new();
        if let Some((p, url)) = nginx(
            up_addr,
            ngx_dir.path(),
            gate_cpus,
            if pinned { 1 } else { cores },
        ) {
            references.push(("nginx", p, url));
        }
        let (bare, bare_addr) = child_role("bare-proxy", Some(up_addr), gate_cpus);
        references.push(("bare proxy", bare, format!("http://{bare_addr}")));
        // Two upstreams: one that does nothing (the gate's own cost, in full) and an API
        // that does some work for each answer, as the dashboards and APIs behind the gate
        // do (20 events built and sent as JSON, about 6 KiB).
        for (what, path) in [("/hello", "/hello"), ("/recent", "/recent?n=20")] {
            let direct = format!("http://{up_addr}{path}");
            let gated = format!("{}/gate/stream:live-events{path}", gate.url);
            // Rounds of direct, gated and each reference in turn, so that a machine whose
            // speed drifts (a shared VM) weighs on all alike; figures are over all rounds.
            let (rounds, secs) = (3, 3);
            let (mut drps, mut grps) = (0.0, 0.0);
            let mut refs = vec![(0.0, Cpu::default()); references.len()];
            let (mut dp99, mut gp99) = (0.0f64, 0.0f64);
            let (mut gate_cpu, mut up_cpu) = (Cpu::default(), 0.0);
            for _ in 0..rounds {
                let (d, dp) = load(&http, &direct, None, secs, lg_cpu).await;
                let (cpu_b, cpu_u) = (Cpu::of(gate.proc.pid()), Cpu::of(up_pid));
                let (g, gp) = load(&http, &gated, Some(&gate.token), secs, lg_cpu).await;
                gate_cpu = gate_cpu.plus(Cpu::of(gate.proc.pid()).since(cpu_b));
                let up = Cpu::of(up_pid).since(cpu_u);
                up_cpu += up.user + up.kernel;
                for ((_, p, url), (rps, cpu)) in references.iter().zip(refs.iter_mut()) {
                    let before = Cpu::of(p.pid());
                    *rps += load(&http, &format!("{url}{path}"), None, secs, lg_cpu)
                        .await
                        .0
                        / rounds as f64;
                    *cpu = cpu.plus(Cpu::of(p.pid()).since(before));
                }
                drps += d / rounds as f64;
                grps += g / rounds as f64;
                dp99 = dp99.max(dp);
                gp99 = gp99.max(gp);
            }
            let n = grps * (rounds * secs) as f64;
            let up_us = up_cpu / n * 1e6;
            let row = format!("  {name:<9} {what:<8}      ");
            println!("{row} direct {drps:.0} req/s | gate {grps:.0} req/s = {:.0} % of direct (target >= 70 %)", 100.0 * grps / drps);
            for ((who, _, _), (rps, cpu)) in references.iter().zip(&refs) {
                println!("{row}   {who:<10} as the proxy {rps:.0} req/s = {:.0} % of direct; the gate does {:.0} % of its requests per second | CPU per request {}", 100.0 * rps / drps, 100.0 * grps / rps, cpu.per(rps * (rounds * secs) as f64));
            }
            if !references.iter().any(|(who, _, _)| *who == "nginx") {
                println!("{row}   nginx not installed: no reference proxy");
            }
            println!("{row} p99 under load (worst round) direct {dp99:.2} ms gate {gp99:.2} ms | CPU per request: gate {}, upstream {up_us:.1} µs", gate_cpu.per(n));
        }
    }

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

    // 4. 1,000 concurrent streams: 100 people, 10 streams each, then every grant revoked.
    let before = rss_mib(bpid);
    let mut people = Vec::new();
    for i in 0..100 {
        let t = login(&api, &broker_url, &format!("viewer{i}@example.com"), "eng").await;
        let id = request(&api, &broker_url, &t).await;
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
    let held = rss_mib(bpid);
    println!("1,000 streams held         broker process RSS {held:.1} MiB ({before:.1} MiB before opening them; target < 100 MiB)");
    let root = login(&api, &broker_url, "root@example.com", "admin").await;
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
    drop(shared);
    drop(up_proc);
}
