//! The broker terminating TLS itself with rustls.

use std::process::Command;

use crate::helpers::{spawn_app, Options};

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A private CA in `dir` and a server certificate it signs for 127.0.0.1 and localhost,
/// as an operator's PKI would make them: the paths of the CA certificate, the server
/// certificate and its key.
pub(crate) fn private_ca(dir: &std::path::Path) -> (String, String, String) {
    let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let (ca, ca_key, cert, key, csr, ext) = (
        p("ca.pem"),
        p("ca.key"),
        p("cert.pem"),
        p("key.pem"),
        p("req.csr"),
        p("ext.cnf"),
    );
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    // A CA, and a server certificate it signs, as an operator's PKI would.
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-days",
                "1",
                "-subj",
                "/CN=latchkey test CA",
                "-keyout",
                &ca_key,
                "-out",
                &ca,
            ],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &["-subj", "/CN=localhost", "-keyout", &key, "-out", &csr],
        ]
        .concat(),
    );
    std::fs::write(&ext, "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        &ext,
        "-out",
        &cert,
    ]);
    (ca, cert, key)
}

#[tokio::test]
async fn the_broker_serves_https_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = private_ca(dir.path());
    let app = spawn_app(Options {
        dev: true,
        tls: Some((cert.into(), key.into())),
        ..Options::default()
    })
    .await;
    assert!(app.url.starts_with("https://"));
    let root = reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(root)
        .build()
        .unwrap();
    let resp = client
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::OK);
    // Plain HTTP on the TLS port gets nothing useful.
    let plain = reqwest::get(format!(
        "{}/healthz",
        app.url.replace("https://", "http://")
    ))
    .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    app.stop().await.unwrap();
}

/// Runs the CLI as `home`'s user against a broker in this process: exit code, stdout, stderr.
async fn cli(home: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = tokio::process::Command::from(crate::cli_and_config::latchkey(home));
    cmd.args(args).envs(env.iter().copied());
    let out = cmd.output().await.unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

// The CLI runs as a process while the broker serves from this one: two threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_says_a_private_ca_is_not_trusted_and_trusts_it_with_ca_cert() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = private_ca(dir.path());
    let app = spawn_app(Options {
        dev: true,
        tls: Some((cert.into(), key.into())),
        ..Options::default()
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let login = ["login", "--dev", "alice@example.com", "--server", &app.url];
    // Without the CA: a TLS failure, said to be one, with what to set.
    let (code, out, err) = cli(
        home.path(),
        &[&login[..], &["--output", "json"]].concat(),
        &[],
    )
    .await;
    assert_eq!(code, 1, "{out}{err}");
    let failure: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(failure["code"], "tls_untrusted", "{failure}{err}");
    assert!(
        err.contains("TLS failure")
            && err.contains("--ca-cert")
            && err.contains("LATCHKEY_CA_CERT"),
        "{err}"
    );
    // With the CA, by flag; then by variable for the next verb.
    let (code, out, err) = cli(
        home.path(),
        &[&login[..], &["--ca-cert", &ca]].concat(),
        &[],
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("alice@example.com"), "{out}");
    let (code, out, err) = cli(home.path(), &["whoami"], &[("LATCHKEY_CA_CERT", &ca)]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("alice@example.com"), "{out}");
    // Or through the system's store, where an operator installs the company CA (here its
    // file named by SSL_CERT_FILE, which OpenSSL and the CLI both read).
    let (code, out, err) = cli(home.path(), &["whoami"], &[("SSL_CERT_FILE", &ca)]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("alice@example.com"), "{out}");
    // A CA file that is not one is named, with its own code.
    let (code, out, _) = cli(
        home.path(),
        &[
            "whoami",
            "--output",
            "json",
            "--ca-cert",
            &not_a_certificate(dir.path()),
        ],
        &[],
    )
    .await;
    assert_eq!(code, 1, "{out}");
    let failure: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(failure["code"], "invalid_ca_cert", "{failure}");
    app.stop().await.unwrap();
}

/// A file that holds no certificate: the CSR's extension file.
fn not_a_certificate(dir: &std::path::Path) -> String {
    dir.join("ext.cnf").display().to_string()
}
