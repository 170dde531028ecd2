//! The client verbs: each resolves the server and session, calls the API, prints.

use std::path::Path;

use serde::Serialize;

use crate::adapters::keys::KeyInfo;
use crate::edges::cli::args::{Command, KeysCommand, LoginArgs, SlackCommand};
use crate::edges::cli::client::{urlencode, ApiClient, ApiClientError};
pub use crate::edges::cli::error::CliError;
use crate::edges::cli::login;
use crate::edges::cli::output::Output;
use crate::edges::cli::saved_sessions::{config_dir, Saved};
use crate::edges::cli::trust::Trust;
use crate::model::domain::Principal;
use crate::model::wire::WhoAmI;

fn print<T: Serialize>(
    output: Output,
    value: &T,
    text: impl FnOnce() -> String,
) -> Result<(), CliError> {
    match output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(value).map_err(anyhow::Error::from)?
        ),
        Output::Text => println!("{}", text()),
    }
    Ok(())
}

/// Runs a client verb: `login` saves a session; every other verb uses the saved one.
pub async fn run(
    server: Option<String>,
    ca_cert: Option<&Path>,
    output: Output,
    command: Command,
) -> Result<(), CliError> {
    let trust = Trust::load(ca_cert).map_err(anyhow::Error::from)?;
    let dir = config_dir()?;
    let mut saved = Saved::load(&dir)?;
    let server = server_of(server, &saved)?;
    if let Command::Login(args) = command {
        return log_in_and_save(output, &dir, &mut saved, &server, &args, &trust).await;
    }
    if let Command::Ssh(crate::edges::cli::ssh::SshArgs {
        command: Some(c), ..
    }) = command
    {
        // The CA keys and the revocation list are public: hosts fetch them without a login.
        let token = saved.sessions.get(&server).map(|s| s.token.clone());
        return crate::edges::cli::ssh_hosts::public(&ApiClient::new(&server, token, &trust), c)
            .await;
    }
    let token = token_for(&saved, &server)?;
    let api = ApiClient::new(&server, Some(token), &trust);
    match command {
        Command::Whoami => whoami(&api, output, &server).await,
        Command::Logout { revoke } => logout(&api, output, &dir, &mut saved, revoke).await,
        Command::Lock { user, reason } => lock(&api, output, &user, reason).await,
        Command::Unlock { user } => unlock(&api, output, &user).await,
        Command::Access(command) => crate::edges::cli::requests::run(&api, output, command).await,
        Command::Audit { command } => crate::edges::cli::audit::run(&api, output, command).await,
        Command::Creds { command } => crate::edges::cli::creds::run(&api, command).await,
        Command::Exec { resource, command } => {
            crate::edges::cli::creds::exec(&api, &resource, &command).await
        }
        Command::Psql { resource, args } => {
            let argv: Vec<String> = std::iter::once("psql".to_string()).chain(args).collect();
            crate::edges::cli::creds::exec(&api, &resource, &argv).await
        }
        Command::Ssh(a) => {
            let resource = a.resource.unwrap_or_default();
            crate::edges::cli::ssh::login(&api, &resource, a.key.as_deref(), &a.args).await
        }
        Command::SshConfig { key } => {
            crate::edges::cli::ssh_hosts::config(&api, key.as_deref()).await
        }
        Command::Stream(args) => crate::edges::cli::stream::run(&api, output, args).await,
        Command::Keys { command } => keys(&api, output, command).await,
        Command::Slack {
            command: SlackCommand::Link,
        } => slack_link(&api, output).await,
        Command::Serve(_)
        | Command::Migrate(_)
        | Command::Login(_)
        | Command::Policy { .. }
        | Command::Completions { .. } => Ok(()),
    }
}

/// The server named by `--server` (or `LATCHKEY_SERVER`), else the one logged in to last.
fn server_of(server: Option<String>, saved: &Saved) -> Result<String, CliError> {
    match server.or_else(|| saved.current.clone()) {
        Some(s) => Ok(s.trim_end_matches('/').to_string()),
        None => Err(CliError::NotLoggedIn(
            "no server: pass --server URL (or set LATCHKEY_SERVER) to log in".into(),
        )),
    }
}

/// The saved session token for `server`.
fn token_for(saved: &Saved, server: &str) -> Result<String, CliError> {
    saved
        .sessions
        .get(server)
        .map(|s| s.token.clone())
        .ok_or_else(|| {
            CliError::NotLoggedIn(format!(
                "not logged in to {server}; run `latchkey login --server {server}`"
            ))
        })
}

/// `login`: logs in to `server` and saves the session as the current one.
async fn log_in_and_save(
    output: Output,
    dir: &Path,
    saved: &mut Saved,
    server: &str,
    args: &LoginArgs,
    trust: &Trust,
) -> Result<(), CliError> {
    let session = login::log_in(server, args, trust).await?;
    let shown = session.clone();
    saved.current = Some(server.to_string());
    saved.sessions.insert(server.to_string(), session);
    saved.save(dir)?;
    print(output, &shown, || {
        format!(
            "Logged in to {server} as {} (groups: {}){}\nSession expires {}",
            shown.email.as_deref().unwrap_or(&shown.user_id),
            shown.groups.join(", "),
            if shown.dev {
                " [development session]"
            } else {
                ""
            },
            shown.expires_at.format("%Y-%m-%d %H:%M UTC")
        )
    })
}

/// `whoami`: the session's principal as the broker sees it.
async fn whoami(api: &ApiClient, output: Output, server: &str) -> Result<(), CliError> {
    let me: WhoAmI = api.get("/v1/session").await?;
    let p = &me.principal;
    print(output, &me, || whoami_text(server, p, me.admin))
}

/// `logout`: ends the session at the broker (and its grants with `--revoke`), forgets it
/// and every cached credential of the server.
async fn logout(
    api: &ApiClient,
    output: Output,
    dir: &Path,
    saved: &mut Saved,
    revoke: bool,
) -> Result<(), CliError> {
    let server = api.server();
    let body = serde_json::json!({ "revoke_grants": revoke });
    let result: Result<(), _> = api.post("/v1/auth/logout", &body).await;
    saved.sessions.remove(server);
    saved.save(dir)?;
    crate::edges::cli::aws_cache::forget(server, None)?;
    match result {
        // A session the broker already ended is as logged out as it gets.
        Ok(()) | Err(ApiClientError::Api { status: 401, .. }) => {}
        Err(e) => return Err(e.into()),
    }
    print(output, &serde_json::json!({"logged_out": server}), || {
        format!("Logged out of {server}")
    })
}

/// `lock USER`: ends the user's sessions and refuses their logins.
async fn lock(
    api: &ApiClient,
    output: Output,
    user: &str,
    reason: Option<String>,
) -> Result<(), CliError> {
    let out: serde_json::Value = api
        .post(
            "/v1/admin/locks",
            &serde_json::json!({"user": user, "reason": reason}),
        )
        .await?;
    let ended = out["sessions_ended"].as_u64().unwrap_or(0);
    // Locked oneself: this session has ended, and with it every cached credential.
    if let Err(ApiClientError::Api { status: 401, .. }) = api.get::<WhoAmI>("/v1/session").await {
        crate::edges::cli::aws_cache::forget(api.server(), None)?;
    }
    print(output, &out, || {
        format!("Locked {user}: {ended} session(s) ended; new logins are refused")
    })
}

/// `unlock USER`.
async fn unlock(api: &ApiClient, output: Output, user: &str) -> Result<(), CliError> {
    let () = api
        .delete(&format!("/v1/admin/locks/{}", urlencode(user)))
        .await?;
    print(output, &serde_json::json!({"unlocked": user}), || {
        format!("Unlocked {user}")
    })
}

/// `keys list` and `keys rotate`: the broker's signing keys, after rotating for the latter.
async fn keys(api: &ApiClient, output: Output, command: KeysCommand) -> Result<(), CliError> {
    let keys: Vec<KeyInfo> = match command {
        KeysCommand::List => api.get("/v1/keys").await?,
        KeysCommand::Rotate => {
            api.post("/v1/admin/keys/rotate", &serde_json::json!({}))
                .await?
        }
    };
    print(output, &keys, || keys_text(&keys))
}

/// `slack link`: a one-time code to type in Slack.
async fn slack_link(api: &ApiClient, output: Output) -> Result<(), CliError> {
    let code: crate::app::LinkCode = api.post("/v1/slack/link", &serde_json::json!({})).await?;
    print(output, &code, || {
        format!(
            "In Slack, type:\n\n    {}\n\nThe code works once, until {}.",
            code.command,
            code.expires_at.format("%H:%M UTC")
        )
    })
}

fn whoami_text(server: &str, p: &Principal, admin: bool) -> String {
    let mut lines = vec![
        format!("user:     {}", p.policy_name()),
        format!("subject:  {}", p.user_id),
        format!(
            "groups:   {}",
            if p.groups.is_empty() {
                "(none)".into()
            } else {
                p.groups.join(", ")
            }
        ),
        format!("server:   {server}"),
        format!("expires:  {}", p.expires_at.format("%Y-%m-%d %H:%M:%S UTC")),
    ];
    if admin {
        lines.push("role:     administrator".into());
    }
    if p.dev {
        lines.push("session:  development login (not valid on a production broker)".into());
    }
    if let Some(claim) = &p.groups_claim_missing {
        lines.push(format!(
            "warning:  the identity provider's ID token had no {claim:?} claim at login, so you have no groups here; the operator sets oidc.groups_claim (`latchkey serve --check-idp` shows what the tokens carry)"
        ));
    }
    lines.join("\n")
}

fn keys_text(keys: &[KeyInfo]) -> String {
    keys.iter()
        .map(|k| {
            let state = match (k.active, k.retire_at) {
                (true, _) => "active".to_string(),
                (false, Some(t)) => format!("retiring at {}", t.format("%Y-%m-%d %H:%M UTC")),
                (false, None) => "published".to_string(),
            };
            format!(
                "{}  created {}  {state}",
                k.kid,
                k.created_at.format("%Y-%m-%d %H:%M UTC")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
