//! `oidc.groups_claim` naming a claim the provider's ID tokens lack: logins still succeed,
//! with no groups, but the broker warns once in its log and `whoami` tells the person;
//! `latchkey serve --check-idp` shows what the provider's discovery and a test token hold.
//! Against the real OpenID provider the test command starts.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::cli_and_config::free_port;
use crate::oidc_flows::{confirm_device_code, provider, user_code, whoami, Cli};

const BIN: &str = env!("CARGO_BIN_EXE_latchkey");

/// The variables that point a broker at the test provider, groups read from `claim`.
fn provider_env(issuer: &str, claim: &str) -> Vec<(String, String)> {
    vec![
        ("LATCHKEY_OIDC_ISSUER".into(), issuer.into()),
        ("LATCHKEY_OIDC_CLIENT_ID".into(), "latchkey-cli".into()),
        ("LATCHKEY_OIDC_GROUPS_CLAIM".into(), claim.into()),
        (
            "LATCHKEY_POLICY_DIR".into(),
            concat!(env!("CARGO_MANIFEST_DIR"), "/policies").into(),
        ),
    ]
}

/// `latchkey login` through the device flow as `login`; the CLI's config home.
async fn device_login(issuer: &str, server: &str, login: &str) -> tempfile::TempDir {
    let mut cli = Cli::start_with(&["login", "--server", server], &[]);
    let code = cli.wait_for_line(user_code).await;
    confirm_device_code(issuer, &code, login).await;
    cli.finish().await.1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_groups_claim_the_tokens_lack_is_warned_of_once_in_the_log_and_in_whoami() {
    let Some(issuer) = provider() else { return };
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut server = tokio::process::Command::new(BIN)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data.path().join("state"))
        .envs(provider_env(&issuer, "roles"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut log = BufReader::new(server.stderr.take().unwrap()).lines();
    tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(l) = log.next_line().await.unwrap() {
            if l.contains("latchkey listening") {
                return;
            }
        }
        panic!("the broker ended before listening");
    })
    .await
    .expect("listening within 20 s");
    let alice = device_login(&issuer, &url, "alice").await;
    let bob = device_login(&issuer, &url, "bob").await;
    for home in [&alice, &bob] {
        let me = whoami(home).await;
        assert_eq!(me["groups"], serde_json::json!([]), "{me}");
        assert_eq!(me["groups_claim_missing"], "roles", "{me}");
    }
    let text = tokio::process::Command::new(BIN)
        .arg("whoami")
        .env("XDG_CONFIG_HOME", alice.path())
        .env_remove("LATCHKEY_SERVER")
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(r#"warning:  the identity provider's ID token had no "roles" claim"#)
            && text.contains("oidc.groups_claim"),
        "{text}"
    );
    let _ = server.start_kill();
    let mut rest = String::new();
    while let Ok(Ok(Some(l))) = tokio::time::timeout(Duration::from_secs(5), log.next_line()).await
    {
        rest.push_str(&l);
        rest.push('\n');
    }
    let warned = rest
        .lines()
        .filter(|l| l.contains(r#"ID token has no "roles" claim"#))
        .count();
    assert_eq!(warned, 1, "two logins, one warning:\n{rest}");
    assert!(rest.contains("LATCHKEY_OIDC_GROUPS_CLAIM"), "{rest}");
}

/// `latchkey serve --check-idp` with groups read from `claim`, its test login made as
/// alice: the exit code and the report.
async fn check_idp(issuer: &str, claim: &str) -> (Option<i32>, String) {
    let env = provider_env(issuer, claim);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut cli = Cli::start_with(&["serve", "--check-idp"], &env);
    let code = cli.wait_for_line(user_code).await;
    confirm_device_code(issuer, &code, "alice").await;
    let status = tokio::time::timeout(Duration::from_secs(60), cli.child.wait())
        .await
        .expect("the check ends")
        .unwrap();
    let mut out = String::new();
    tokio::io::AsyncReadExt::read_to_string(cli.child.stdout.as_mut().unwrap(), &mut out)
        .await
        .unwrap();
    (status.code(), out)
}

#[tokio::test]
async fn check_idp_reports_the_claims_of_discovery_and_of_a_test_token() {
    let Some(issuer) = provider() else { return };
    let (code, out) = check_idp(&issuer, "roles").await;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!("provider:        {issuer}"))
            && out.contains(
                r#"groups claim:    "roles" (oidc.groups_claim) NOT listed in claims_supported"#
            )
            && out.contains("test token:      alice@example.com")
            && out.contains(r#"groups in token: MISSING: the ID token has no "roles" claim"#),
        "{out}"
    );
    let claims = out
        .lines()
        .find_map(|l| l.strip_prefix("token claims:    "))
        .unwrap_or_else(|| panic!("{out}"));
    let claims: Vec<&str> = claims.split(", ").collect();
    assert!(
        claims.contains(&"groups") && claims.contains(&"email") && claims.contains(&"sub"),
        "{claims:?}"
    );
    let (code, out) = check_idp(&issuer, "groups").await;
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(r#"groups claim:    "groups" (oidc.groups_claim) listed in claims_supported"#)
            && out.contains(r#"groups in token: "groups" present: eng, sre"#),
        "{out}"
    );
}
