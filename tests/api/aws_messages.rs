//! What the AWS SDK says stays out of a person's way: a development server without AWS
//! credentials of its own answers `creds aws` with one sentence that says what to set,
//! and its log holds that sentence, not the SDK's instance-metadata warnings and dumps.

use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

use crate::cli_and_config::{free_port, latchkey, outcome, wait_ready};

#[test]
fn creds_aws_without_broker_credentials_is_one_sentence_and_the_log_has_no_sdk_dump() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let log_file = dir.path().join("serve.log");
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
        .env("LATCHKEY_GATE_DEV_SOURCE", "off")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_file).unwrap())
        .spawn()
        .unwrap();
    wait_ready(&url, &mut server);
    let run = |args: &[&str]| outcome(latchkey(dir.path()).args(args));
    let login = [
        "login",
        "--server",
        &url,
        "--dev",
        "bob@example.com",
        "--groups",
        "eng",
    ];
    assert_eq!(run(&login).0, Some(0));
    let (code, _, err) = run(&["request", "aws:staging", "--role", "admin", "--for", "1h"]);
    assert_eq!(code, Some(0), "{err}");
    // The broker has no AWS identity: the SDK's chain runs dry (its last link asks the
    // instance metadata service) and the call is never sent.
    let (code, _, err) = run(&["creds", "aws", "aws:staging"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("AWS STS was not called: the broker has no AWS credentials of its own (set AWS_ACCESS_KEY_ID")
            && err.contains("(aws_unavailable, request "),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    std::thread::sleep(Duration::from_millis(300));
    let _ = server.kill();
    let _ = server.wait();
    let mut log = String::new();
    std::fs::File::open(&log_file)
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("AWS STS failed"))
        .unwrap_or_else(|| panic!("the broker logs the failure:\n{log}"));
    assert!(line.len() < 600, "{} characters: {line}", line.len());
    for noise in [
        "IMDS",
        "ConnectorError",
        "dispatch failure",
        "DispatchFailure",
    ] {
        assert!(!log.contains(noise), "{noise:?} in the log:\n{log}");
    }
}
