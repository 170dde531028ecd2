//! The development live-events source when its port is taken: it listens on a free one,
//! the catalogue's upstream follows it, the log says where, and `latchkey stream` works.

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::time::Duration;

use crate::cli_and_config::{free_port, latchkey, outcome, wait_ready};

#[test]
fn a_taken_dev_source_port_moves_the_source_and_the_catalogue_with_it() {
    // Whoever holds 8011 (this test, or another development server), it is taken.
    let _held = std::net::TcpListener::bind("127.0.0.1:8011");
    let dir = tempfile::tempdir().unwrap();
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
        .env(
            "LATCHKEY_POLICY_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/policies"),
        )
        .env("LATCHKEY_DEVELOPMENT_POSTGRES", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_ready(&url, &mut server);
    let run = |args: &[&str]| outcome(latchkey(dir.path()).args(args));
    let login = [
        "login",
        "--server",
        &url,
        "--dev",
        "alice@example.com",
        "--groups",
        "eng",
    ];
    let (code, _, err) = run(&login);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = run(&[
        "request",
        "stream:live-events",
        "--reason",
        "watching the launch",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let mut stream = latchkey(dir.path())
        .args(["stream", "live-events"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let out = stream.stdout.take().unwrap();
    std::thread::spawn(move || {
        let mut first = String::new();
        let _ = BufReader::new(out).read_line(&mut first);
        let _ = tx.send(first);
    });
    let first = rx.recv_timeout(Duration::from_secs(15));
    let _ = stream.kill();
    let _ = stream.wait();
    let mut stream_err = String::new();
    let _ = stream
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stream_err);
    let first = first.unwrap_or_else(|_| panic!("no event within 15 s: {stream_err}"));
    assert!(!first.trim().is_empty(), "an event line: {stream_err}");
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let _ = server.wait();
    let mut log = String::new();
    server
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    let moved = log
        .lines()
        .find(|l| l.contains("127.0.0.1:8011 is taken, so it listens on 127.0.0.1:"))
        .unwrap_or_else(|| panic!("the log says where the source went:\n{log}"));
    let at = moved
        .split("listens on ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap();
    assert_ne!(at, "127.0.0.1:8011", "{moved}");
    assert!(
        log.contains(&format!(
            "stream:live-events now proxies to the development live-events source at http://{at}"
        )),
        "the catalogue follows it:\n{log}"
    );
}
