//! Forward-auth behind a real nginx (Debian's package) with `auth_request`, running the
//! example configuration in `deploy/gate/nginx.conf` with the test's addresses.

use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::gate::{grant, STREAM};
use crate::gate_fixture::{policy_dir, upstream};
use crate::helpers::{missing_peer, spawn_app, Options};

pub(crate) fn nginx_binary() -> Option<String> {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .find(|p| Path::new(p).exists())
        .map(|p| p.to_string())
}

pub(crate) struct Nginx {
    pub(crate) child: tokio::process::Child,
    pub(crate) _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    /// Stops nginx with its workers: SIGKILL to the master alone leaves them running.
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(std::process::Stdio::null())
                .status();
        }
        let _ = self.child.start_kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// nginx as a child process with the example server block, in a temporary prefix.
async fn start_nginx(bin: &str, broker: &str, upstream: &str, port: u16) -> Nginx {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/gate/nginx.conf"
    ))
    .unwrap()
    .replace("server 127.0.0.1:8080;", &format!("server {broker};"))
    .replace("server 127.0.0.1:8011;", &format!("server {upstream};"))
    .replace(
        "listen 127.0.0.1:8088;",
        &format!("listen 127.0.0.1:{port};"),
    );
    std::fs::write(dir.path().join("latchkey.conf"), example).unwrap();
    let main = format!(
        "worker_processes 1;\nerror_log {d}/error.log warn;\npid {d}/nginx.pid;\nevents {{ worker_connections 64; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  include {d}/latchkey.conf;\n}}\n"
    );
    std::fs::write(dir.path().join("nginx.conf"), main).unwrap();
    run(bin, dir, port).await
}

/// Runs nginx on the `nginx.conf` in `dir` (which it keeps), once it listens on `port`.
pub(crate) async fn run(bin: &str, dir: tempfile::TempDir, port: u16) -> Nginx {
    let d = dir.path().display().to_string();
    let child = tokio::process::Command::new(bin)
        .args([
            "-p",
            &d,
            "-c",
            &format!("{d}/nginx.conf"),
            "-e",
            &format!("{d}/error.log"),
            "-g",
            "daemon off;",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        // A process group of its own, so that dropping it stops the workers too.
        .process_group(0)
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Nginx { child, _dir: dir };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
    panic!("nginx did not start: {log}");
}

#[tokio::test]
async fn nginx_auth_request_lets_through_only_an_active_grant_with_a_verified_assertion() {
    let Some(bin) = nginx_binary() else {
        missing_peer("nginx (Debian: apt-get install nginx)");
        return;
    };
    let up = upstream(STREAM).await;
    let policy = policy_dir(up.addr, "");
    let app = spawn_app(Options {
        dev: true,
        policy_dir: Some(policy.path().to_path_buf()),
        ..Options::default()
    })
    .await;
    up.trust(&app.url).await;
    let port = free_port();
    let _nginx = start_nginx(
        &bin,
        app.url.strip_prefix("http://").unwrap(),
        &up.addr.to_string(),
        port,
    )
    .await;
    let front = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let get = |token: Option<String>| {
        let mut req = http.get(format!("{front}/api/things"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    assert_eq!(get(None).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    assert_eq!(
        get(Some(bob.clone())).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        up.seen.requests.load(Ordering::SeqCst),
        0,
        "refused requests never reach the service"
    );
    let id = grant(&app, &bob, STREAM, json!({})).await;
    let resp = get(Some(bob.clone())).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let claims = up.seen.claims.lock().unwrap()[0].clone();
    assert_eq!(
        (claims.sub.as_str(), claims.grant.as_str()),
        ("dev|bob@example.com", id.as_str())
    );
    let headers = up.seen.headers.lock().unwrap()[0].clone();
    assert_eq!(headers["x-latchkey-user"], "dev|bob@example.com");
    assert!(headers.get("authorization").is_none(), "{headers}");
    app.post_ok(
        &format!("/v1/requests/{id}/revoke"),
        json!({}),
        &bob,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        get(Some(bob)).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
}
