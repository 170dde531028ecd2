//! Both login flows against the real OpenID provider (`oidc-provider`, started by the
//! test command), driven over HTTP without a browser, through the `latchkey` binary.

use std::process::Stdio;
use std::time::Duration;

use reqwest::{redirect, StatusCode, Url};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::{missing_peer, spawn_app, Options, TestApp};

const BIN: &str = env!("CARGO_BIN_EXE_latchkey");

pub(crate) fn provider() -> Option<String> {
    match std::env::var("LATCHKEY_TEST_OIDC_ISSUER") {
        Ok(issuer) if !issuer.is_empty() => Some(issuer),
        _ => {
            missing_peer("the OpenID provider (LATCHKEY_TEST_OIDC_ISSUER)");
            None
        }
    }
}

/// The value of the first `name="NAME" value="…"` input in a page.
fn input_value(page: &str, name: &str) -> Option<String> {
    let at = page.find(&format!("name=\"{name}\""))?;
    let rest = &page[at..];
    let v = rest.find("value=\"")? + 7;
    Some(rest[v..v + rest[v..].find('"')?].to_string())
}

/// The action of the form that holds the `prompt` input.
fn prompt_form_action(page: &str) -> Option<String> {
    let at = page.find("name=\"prompt\"")?;
    let form = page[..at].rfind("<form")?;
    let tag = &page[form..at];
    let a = tag.find("action=\"")? + 8;
    Some(tag[a..a + tag[a..].find('"')?].replace("&amp;", "&"))
}

/// A person at the provider: follows redirects, logs in as `login`, consents, until a
/// redirect satisfies `stop` (returned) or a final page is reached (`None`).
pub(crate) async fn act_as_user(
    http: &reqwest::Client,
    start: reqwest::RequestBuilder,
    login: &str,
    stop: impl Fn(&Url) -> bool,
) -> Option<Url> {
    let mut next = start;
    for _ in 0..20 {
        let resp = next.send().await.expect("provider answers");
        let base = resp.url().clone();
        if resp.status().is_redirection() {
            let location = resp.headers()["location"].to_str().unwrap().to_string();
            let target = base.join(&location).unwrap();
            if stop(&target) {
                return Some(target);
            }
            next = http.get(target);
            continue;
        }
        let page = resp.text().await.unwrap();
        let action = prompt_form_action(&page);
        match (input_value(&page, "prompt").as_deref(), action) {
            (Some("login"), Some(action)) => {
                next = http.post(base.join(&action).unwrap()).form(&[
                    ("prompt", "login"),
                    ("login", login),
                    ("password", "any"),
                ]);
            }
            (Some("consent"), Some(action)) => {
                next = http
                    .post(base.join(&action).unwrap())
                    .form(&[("prompt", "consent")]);
            }
            _ => return None,
        }
    }
    panic!("too many steps at the provider");
}

pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(redirect::Policy::none())
        .build()
        .unwrap()
}

pub(crate) struct Cli {
    pub(crate) child: tokio::process::Child,
    pub(crate) lines: tokio::io::Lines<BufReader<tokio::process::ChildStderr>>,
    pub(crate) home: tempfile::TempDir,
}

impl Cli {
    fn start(args: &[&str]) -> Self {
        Self::start_with(args, &[])
    }

    /// The binary with `args` and the variables `env`, its stderr read line by line.
    pub(crate) fn start_with(args: &[&str], env: &[(&str, &str)]) -> Self {
        let home = tempfile::tempdir().unwrap();
        let mut child = tokio::process::Command::new(BIN)
            .args(args)
            .envs(env.iter().copied())
            .env("XDG_CONFIG_HOME", home.path())
            .env("LATCHKEY_NO_BROWSER", "1")
            .env_remove("LATCHKEY_SERVER")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stderr.take().unwrap()).lines();
        Cli { child, lines, home }
    }

    /// Reads stderr until a line satisfies `pick`.
    pub(crate) async fn wait_for_line(&mut self, pick: impl Fn(&str) -> Option<String>) -> String {
        let read = async {
            while let Some(line) = self.lines.next_line().await.unwrap() {
                if let Some(found) = pick(&line) {
                    return found;
                }
            }
            panic!("the CLI ended without the expected prompt");
        };
        tokio::time::timeout(Duration::from_secs(30), read)
            .await
            .expect("prompt within 30 s")
    }

    pub(crate) async fn finish(mut self) -> (String, tempfile::TempDir) {
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("login finishes")
            .unwrap();
        let mut rest = String::new();
        while let Ok(Some(l)) = self.lines.next_line().await {
            rest.push_str(&l);
        }
        assert!(status.success(), "login failed: {rest}");
        let mut out = String::new();
        tokio::io::AsyncReadExt::read_to_string(self.child.stdout.as_mut().unwrap(), &mut out)
            .await
            .unwrap();
        (out, self.home)
    }
}

pub(crate) async fn whoami(home: &tempfile::TempDir) -> Value {
    let out = tokio::process::Command::new(BIN)
        .args(["whoami", "--output", "json"])
        .env("XDG_CONFIG_HOME", home.path())
        .env_remove("LATCHKEY_SERVER")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

pub(crate) async fn broker_for(issuer: &str) -> TestApp {
    spawn_app(Options {
        oidc: Some((issuer.to_string(), "latchkey-cli".into())),
        ..Options::default()
    })
    .await
}

#[tokio::test]
async fn the_device_flow_against_the_real_provider_ends_in_whoami_with_its_groups() {
    let Some(issuer) = provider() else { return };
    let app = broker_for(&issuer).await;
    let mut cli = Cli::start(&["login", "--server", &app.url]);
    let user_code = cli.wait_for_line(user_code).await;
    confirm_device_code(&issuer, &user_code, "alice").await;
    let (out, home) = cli.finish().await;
    assert!(out.contains("alice@example.com"), "{out}");
    let me = whoami(&home).await;
    assert_eq!(me["email"], "alice@example.com");
    assert_eq!(me["groups"], serde_json::json!(["eng", "sre"]));
    assert_eq!(me["user_id"], format!("{issuer}|alice"));
    assert_eq!(me["dev"], false);
    assert!(me.get("groups_claim_missing").is_none(), "{me}");
}

/// The device code a prompt line shows (`… enter the code CODE`).
pub(crate) fn user_code(line: &str) -> Option<String> {
    line.split_once("enter the code ")
        .map(|(_, c)| c.trim().to_string())
}

/// The person opens the verification page, types the code, confirms, logs in as `login`,
/// consents.
pub(crate) async fn confirm_device_code(issuer: &str, user_code: &str, login: &str) {
    let http = browser();
    let device = format!("{issuer}/device");
    let page = http
        .get(&device)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let xsrf = input_value(&page, "xsrf").expect("xsrf on the code page");
    let confirm = http
        .post(&device)
        .form(&[("xsrf", xsrf.as_str()), ("user_code", user_code)])
        .send()
        .await
        .unwrap();
    assert_eq!(confirm.status(), StatusCode::OK);
    let page = confirm.text().await.unwrap();
    let xsrf = input_value(&page, "xsrf").expect("xsrf on the confirm page");
    let start = http.post(&device).form(&[
        ("xsrf", xsrf.as_str()),
        ("user_code", user_code),
        ("confirm", "yes"),
    ]);
    assert!(act_as_user(&http, start, login, |_| false).await.is_none());
}

#[tokio::test]
async fn the_pkce_loopback_flow_against_the_real_provider_ends_in_whoami_with_its_groups() {
    let Some(issuer) = provider() else { return };
    let app = broker_for(&issuer).await;
    let mut cli = Cli::start(&["login", "--browser", "--server", &app.url]);
    let url = cli
        .wait_for_line(|l| l.trim().starts_with("http").then(|| l.trim().to_string()))
        .await;
    let auth = Url::parse(&url).unwrap();
    let q: std::collections::HashMap<_, _> = auth.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q.contains_key("nonce") && q.contains_key("state"));
    let http = browser();
    // `prompt=consent` is what a first login shows anyway; the provider's login and consent follow.
    let callback = act_as_user(&http, http.get(url), "bob", |u| {
        u.path() == "/callback" && u.host_str() == Some("127.0.0.1")
    })
    .await
    .expect("redirected back to the loopback listener");
    // The browser follows the redirect to the CLI's loopback listener.
    let resp = reqwest::get(callback).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (_, home) = cli.finish().await;
    let me = whoami(&home).await;
    assert_eq!(me["email"], "bob@example.com");
    assert_eq!(me["groups"], serde_json::json!(["eng"]));
}

#[tokio::test]
async fn a_login_with_a_tampered_state_is_refused_by_the_cli() {
    let Some(issuer) = provider() else { return };
    let app = broker_for(&issuer).await;
    let mut cli = Cli::start(&["login", "--browser", "--server", &app.url]);
    let url = cli
        .wait_for_line(|l| l.trim().starts_with("http").then(|| l.trim().to_string()))
        .await;
    let http = browser();
    let mut callback = act_as_user(&http, http.get(url), "bob", |u| u.path() == "/callback")
        .await
        .unwrap();
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .to_string();
    callback.set_query(Some(&format!("code={code}&state=forged")));
    reqwest::get(callback).await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), cli.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(!status.success());
    let mut err = String::new();
    while let Ok(Some(l)) = cli.lines.next_line().await {
        err.push_str(&l);
    }
    assert!(err.contains("state does not match"), "{err}");
    let _ = cli.home;
}
