//! The README walkthrough from the binary: request `stream:live-events`, follow it with
//! `latchkey stream live-events`, revoke from another terminal, the stream closes.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::cli_and_config::{free_port, latchkey, wait_ready};
use crate::gate_fixture::policy_dir;

#[test]
fn latchkey_stream_prints_events_until_a_revocation_from_another_terminal_closes_it() {
    let dir = tempfile::tempdir().unwrap();
    let source: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let policy = policy_dir(source, "");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut server = latchkey(dir.path())
        .args([
            "serve",
            "--dev",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path().join("state"))
        .env("LATCHKEY_POLICY_DIR", policy.path())
        .env("LATCHKEY_GATE_DEV_SOURCE", source.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_ready(&url, &mut server);
    let home = |who: &str| dir.path().join(who);
    let run = |who: &str, args: &[&str]| {
        let out = latchkey(&home(who)).args(args).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{args:?}: {text}");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    run(
        "alice",
        &[
            "login",
            "--server",
            &url,
            "--dev",
            "alice@example.com",
            "--groups",
            "eng",
        ],
    );
    run(
        "root",
        &[
            "login",
            "--server",
            &url,
            "--dev",
            "root@example.com",
            "--groups",
            "admin",
        ],
    );
    let out = run(
        "alice",
        &[
            "--output",
            "json",
            "request",
            "stream:live-events",
            "--reason",
            "watching a launch",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let id = v["request"]["id"]
        .as_str()
        .or(v["id"].as_str())
        .unwrap()
        .to_string();
    let mut stream = latchkey(&home("alice"))
        .args(["stream", "live-events"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(stream.stdout.take().unwrap()).lines();
    for _ in 0..2 {
        let line = lines.next().expect("an event").unwrap();
        assert!(
            line.contains("user-") && line.contains("https://example.com"),
            "{line}"
        );
    }
    run("root", &["revoke", &id]);
    let revoked = Instant::now();
    let status = loop {
        if let Some(s) = stream.try_wait().unwrap() {
            break s;
        }
        assert!(
            revoked.elapsed() < Duration::from_secs(5),
            "the stream did not close"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let closed_after = revoked.elapsed();
    let mut err = String::new();
    std::io::Read::read_to_string(stream.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(7), "{err}");
    assert!(err.contains("revoked"), "{err}");
    // The command's exit includes one API call to say why; the stream itself closes sooner.
    assert!(
        closed_after < Duration::from_millis(1500),
        "{closed_after:?}"
    );
    let _ = server.kill();
    let _ = server.wait();
}
