//! What a login tells the person at the terminal: the URL opened with `$BROWSER` and
//! printed, and the identity provider's own refusal, at once, for a wrong client id
//! (device flow) or a refusal redirected back to the loopback listener (PKCE). Against the
//! real OpenID provider, through the `latchkey` binary.

use std::process::Stdio;
use std::time::Duration;

use reqwest::Url;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use crate::helpers::{spawn_app, Options};
use crate::oidc_flows::{broker_for, browser, provider};

const BIN: &str = env!("CARGO_BIN_EXE_latchkey");

/// `latchkey ARGS` with its own config home and `env`; stdout and stderr piped.
fn start(home: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> tokio::process::Child {
    tokio::process::Command::new(BIN)
        .args(args)
        .env("XDG_CONFIG_HOME", home)
        .env_remove("LATCHKEY_SERVER")
        .env_remove("LATCHKEY_NO_BROWSER")
        .env_remove("BROWSER")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

type Stderr = tokio::io::Lines<BufReader<tokio::process::ChildStderr>>;

/// The first line of stderr that is a URL, and the rest of stderr (kept open: the CLI
/// writes to it again).
async fn printed_url(child: &mut tokio::process::Child) -> (String, Stderr) {
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let read = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.trim().starts_with("http") {
                return line.trim().to_string();
            }
        }
        panic!("the CLI printed no URL");
    };
    let url = tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("a URL within 30 s");
    (url, lines)
}

/// Waits (30 s at most) for the CLI to end: its exit code, stdout and stderr.
async fn ended(mut child: tokio::process::Child, stderr: Option<Stderr>) -> (i32, String, String) {
    let mut err = String::new();
    if let Some(mut lines) = stderr {
        while let Ok(Some(l)) = lines.next_line().await {
            err.push_str(&l);
            err.push('\n');
        }
    } else if let Some(mut e) = child.stderr.take() {
        e.read_to_string(&mut err).await.unwrap();
    }
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the CLI stops at once")
        .unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    (status.code().unwrap_or(-1), out, err)
}

#[tokio::test]
async fn login_browser_opens_the_authorization_url_with_browser_and_prints_it() {
    let Some(issuer) = provider() else { return };
    let app = broker_for(&issuer).await;
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("opened");
    let script = dir.path().join("record-browser");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > {}.tmp && mv {0}.tmp {0}\n",
            record.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // As xdg-open reads it: the first command does not exist, the second fails, the third
    // records what it was given (the URL appended, as it holds no %s).
    let var = format!(
        "{0}/no-such-browser %s:false:{1} --new-window",
        dir.path().display(),
        script.display()
    );
    let mut cli = start(
        dir.path(),
        &["login", "--browser", "--server", &app.url],
        &[("BROWSER", &var)],
    );
    let (printed, _stderr) = printed_url(&mut cli).await;
    let mut opened = None;
    for _ in 0..200 {
        if let Ok(text) = std::fs::read_to_string(&record) {
            opened = Some(text);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let opened = opened.expect("$BROWSER's third command was run");
    let args: Vec<&str> = opened.lines().collect();
    assert_eq!(
        args,
        ["--new-window", printed.as_str()],
        "opened with {opened:?}, printed {printed}"
    );
    // It is the provider's authorization URL for this broker's client and a loopback redirect.
    let discovery: Value = reqwest::get(format!("{issuer}/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = Url::parse(&printed).unwrap();
    assert_eq!(
        format!(
            "{}://{}{}",
            url.scheme(),
            url.host_str().unwrap(),
            url.port().map(|p| format!(":{p}")).unwrap_or_default()
        ) + url.path(),
        discovery["authorization_endpoint"].as_str().unwrap()
    );
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], "latchkey-cli");
    assert!(q["redirect_uri"].starts_with("http://127.0.0.1:"), "{q:?}");
    drop(cli);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_wrong_client_id_shows_the_providers_error_in_the_device_flow() {
    let Some(issuer) = provider() else { return };
    let app = spawn_app(Options {
        oidc: Some((issuer.clone(), "no-such-client".into())),
        ..Options::default()
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let cli = start(
        home.path(),
        &["login", "--server", &app.url, "--output", "json"],
        &[],
    );
    let (code, out, err) = ended(cli, None).await;
    assert_eq!(code, 1, "{out}{err}");
    let failure: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(failure["code"], "idp_client_rejected", "{failure}");
    assert_eq!(failure["details"]["error"], "invalid_client", "{failure}");
    assert_eq!(
        failure["details"]["error_description"], "client authentication failed",
        "{failure}"
    );
    assert!(
        err.contains("invalid_client: client authentication failed")
            && err.contains("LATCHKEY_OIDC_CLIENT_ID"),
        "{err}"
    );
    assert!(!err.contains("401"), "{err}");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_refusal_redirected_to_the_loopback_listener_ends_the_login_at_once_with_its_words() {
    let Some(issuer) = provider() else { return };
    let app = broker_for(&issuer).await;
    let home = tempfile::tempdir().unwrap();
    let mut cli = start(
        home.path(),
        &[
            "login",
            "--browser",
            "--server",
            &app.url,
            "--output",
            "json",
        ],
        &[("LATCHKEY_NO_BROWSER", "1")],
    );
    let (url, stderr) = printed_url(&mut cli).await;
    // The person cancels at the provider's login page; the provider redirects back with
    // `error=access_denied` and its description, and the browser follows to the CLI.
    let http = browser();
    let mut next = Url::parse(&url).unwrap();
    let callback = loop {
        let resp = http.get(next.clone()).send().await.unwrap();
        if resp.status().is_redirection() {
            let to = next
                .join(resp.headers()["location"].to_str().unwrap())
                .unwrap();
            if to.path() == "/callback" && to.host_str() == Some("127.0.0.1") {
                break to;
            }
            next = to;
            continue;
        }
        let page = resp.text().await.unwrap();
        let at = page
            .find("/abort\"")
            .expect("a Cancel link on the provider's page");
        let start = page[..at].rfind("href=\"").unwrap() + 6;
        next = next.join(&page[start..at + 6]).unwrap();
    };
    assert!(
        callback.query().unwrap().contains("error=access_denied"),
        "{callback}"
    );
    let started = std::time::Instant::now();
    let page = reqwest::get(callback).await.unwrap().text().await.unwrap();
    assert!(page.contains("refused"), "{page}");
    let (code, out, err) = ended(cli, Some(stderr)).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(code, 1, "{out}{err}");
    let failure: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(failure["code"], "login_denied", "{failure}");
    assert_eq!(failure["details"]["error"], "access_denied", "{failure}");
    assert!(
        failure["message"]
            .as_str()
            .unwrap()
            .contains("End-User aborted interaction"),
        "{failure}"
    );
    app.stop().await.unwrap();
}
