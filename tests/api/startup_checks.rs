//! `latchkey serve` checks every file and directory its configuration names before it
//! listens, and a refusal names the setting and its environment variable.

use crate::cli_and_config::{free_port, latchkey, outcome};

const POLICIES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/policies");

/// `serve --dev` on a free port with `env` set: it must refuse to start. Returns stderr.
fn refused_before_listening(dir: &std::path::Path, env: &[(&str, String)]) -> String {
    let mut cmd = latchkey(dir);
    cmd.args(["serve", "--dev", "--listen"])
        .arg(format!("127.0.0.1:{}", free_port()))
        .arg("--data-dir")
        .arg(dir.join("state"))
        .env("LATCHKEY_POLICY_DIR", POLICIES)
        .env("LATCHKEY_GATE_DEV_SOURCE", "off")
        .env("LATCHKEY_DEVELOPMENT_POSTGRES", "off")
        .current_dir(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let (code, _, err) = outcome(&mut cmd);
    assert_eq!(code, Some(1), "serve must exit 1: {err}");
    assert!(!err.contains("listening"), "refused after listening: {err}");
    err
}

#[test]
fn a_missing_tls_certificate_stops_serve_before_it_listens_and_names_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    std::fs::write(&key, "not read").unwrap();
    let err = refused_before_listening(
        dir.path(),
        &[
            (
                "LATCHKEY_TLS_CERT",
                dir.path().join("missing.pem").display().to_string(),
            ),
            ("LATCHKEY_TLS_KEY", key.display().to_string()),
        ],
    );
    assert!(
        err.contains("tls.cert")
            && err.contains("LATCHKEY_TLS_CERT")
            && err.contains("missing.pem"),
        "{err}"
    );
}

#[test]
fn a_certificate_that_is_not_pem_stops_serve_before_it_listens() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, "not a certificate").unwrap();
    std::fs::write(&key, "not a key").unwrap();
    let err = refused_before_listening(
        dir.path(),
        &[
            ("LATCHKEY_TLS_CERT", cert.display().to_string()),
            ("LATCHKEY_TLS_KEY", key.display().to_string()),
        ],
    );
    assert!(
        err.contains("LATCHKEY_TLS_CERT") && err.contains("LATCHKEY_TLS_KEY"),
        "{err}"
    );
}

#[test]
fn an_event_sink_in_a_missing_directory_stops_serve_and_names_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let sink = dir.path().join("not-mounted/events.jsonl");
    let err = refused_before_listening(
        dir.path(),
        &[(
            "LATCHKEY_AUDIT_EVENT_SINK",
            format!("file:{}", sink.display()),
        )],
    );
    assert!(
        err.contains("audit.event_sink") && err.contains("LATCHKEY_AUDIT_EVENT_SINK"),
        "{err}"
    );
    assert!(!sink.parent().unwrap().exists(), "the directory was made");
}

#[test]
fn a_checkpoint_sink_that_cannot_be_written_stops_serve_and_names_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    // A directory under a regular file: no user, root included, can make it.
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let err = refused_before_listening(
        dir.path(),
        &[(
            "LATCHKEY_AUDIT_CHECKPOINT_SINK",
            file.join("checkpoints").display().to_string(),
        )],
    );
    assert!(
        err.contains("audit.checkpoint_sink") && err.contains("LATCHKEY_AUDIT_CHECKPOINT_SINK"),
        "{err}"
    );
}

#[test]
fn a_missing_policy_directory_stops_serve_and_names_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let err = refused_before_listening(
        dir.path(),
        &[(
            "LATCHKEY_POLICY_DIR",
            dir.path().join("no-policies").display().to_string(),
        )],
    );
    assert!(
        err.contains("policy_dir") && err.contains("LATCHKEY_POLICY_DIR"),
        "{err}"
    );
}
