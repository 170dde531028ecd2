//! nginx as a round-robin load balancer in front of several broker replicas, each answer
//! naming the replica that gave it (`x-upstream`, nginx's `$upstream_addr`).

use crate::cli_and_config::free_port;
use crate::nginx::Nginx;

/// A running load balancer; `url` is its front.
pub struct Lb {
    pub url: String,
    _nginx: Nginx,
}

/// nginx balancing over `replicas` (`host:port` each) in turn; a replica that refuses a
/// connection is passed over (nginx never sends a POST it already sent to another one).
pub async fn start_lb(bin: &str, replicas: &[String]) -> Lb {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let port = free_port();
    let servers: String = replicas
        .iter()
        .map(|r| format!("    server {r} max_fails=1 fail_timeout=10s;\n"))
        .collect();
    let conf = format!(
        "worker_processes 1;\nerror_log {d}/error.log warn;\npid {d}/nginx.pid;\nevents {{ worker_connections 512; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
         upstream latchkey {{\n{servers}    keepalive 16;\n  }}\n\
         server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      proxy_pass http://latchkey;\n      proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n      proxy_buffering off;\n      proxy_connect_timeout 1s;\n      proxy_read_timeout 10s;\n      proxy_next_upstream error timeout;\n      add_header x-upstream $upstream_addr always;\n    }}\n  }}\n}}\n"
    );
    std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
    Lb {
        url: format!("http://127.0.0.1:{port}"),
        _nginx: crate::nginx::run(bin, dir, port).await,
    }
}

/// The replica (`host:port`) that answered through the load balancer: the last one nginx
/// tried.
pub fn answered_by(resp: &reqwest::Response) -> String {
    let tried = resp.headers()["x-upstream"].to_str().unwrap();
    tried.rsplit(", ").next().unwrap().to_string()
}
