//! `latchkey creds aws` (also as an AWS `credential_process`), `creds db` (in `creds_db`),
//! and `latchkey exec` / `latchkey psql`, which run a program with a grant's credentials in
//! its environment.

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use serde_json::json;

use crate::adapters::providers::aws::AwsCredentials;
use crate::edges::cli::aws_cache;
use crate::edges::cli::client::ApiClient;
use crate::edges::cli::creds_db::{self, DbFormat};
use crate::edges::cli::error::CliError;
use crate::model::wire::ResourceView;

/// How `creds aws` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The AWS process-credential JSON, for `credential_process`.
    CredentialProcess,
    /// `export AWS_…=…` lines for a shell.
    Env,
    /// The broker's answer.
    Json,
}

/// `latchkey creds …`.
#[derive(Debug, Subcommand)]
pub enum CredsCommand {
    /// AWS credentials for a resource you hold an active grant on (cached, mode 0600, while the grant lasts).
    Aws {
        /// Resource, e.g. aws:prod.
        resource: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Json)]
        format: Format,
        /// Session length asked (within the role's maximum and the grant).
        #[arg(long = "for", value_name = "DURATION", value_parser = crate::model::duration::checked)]
        duration: Option<String>,
    },
    /// A PostgreSQL login for a resource you hold an active grant on (the grant's own, ended with it).
    Db {
        /// Resource, e.g. db:events.
        resource: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = DbFormat::Text)]
        format: DbFormat,
    },
    /// An OpenSSH certificate for your key, for a resource you hold an active grant on, written beside the key (or given to the ssh-agent).
    Ssh(crate::edges::cli::ssh::CredsSsh),
}

/// Credentials from the cache while they may still be served (see [`aws_cache`]), else
/// from the broker.
pub async fn aws_credentials(
    api: &ApiClient,
    resource: &str,
    duration: Option<&str>,
) -> Result<AwsCredentials, CliError> {
    if let Some(c) = aws_cache::cached(api, resource).await? {
        return Ok(c);
    }
    let creds: AwsCredentials = api
        .post(
            "/v1/credentials/aws",
            &json!({"resource": resource, "duration": duration}),
        )
        .await?;
    aws_cache::save(api.server(), resource, &creds)?;
    Ok(creds)
}

/// Runs `creds`.
pub async fn run(api: &ApiClient, command: CredsCommand) -> Result<(), CliError> {
    let (resource, format, duration) = match command {
        CredsCommand::Aws {
            resource,
            format,
            duration,
        } => (resource, format, duration),
        CredsCommand::Ssh(a) => return crate::edges::cli::ssh::creds(api, a).await,
        CredsCommand::Db { resource, format } => {
            return creds_db::run(api, &resource, format).await
        }
    };
    let c = aws_credentials(api, &resource, duration.as_deref()).await?;
    let expiration = c
        .expiration
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    match format {
        Format::CredentialProcess => println!(
            "{}",
            json!({
                "Version": 1,
                "AccessKeyId": c.access_key_id,
                "SecretAccessKey": c.secret_access_key,
                "SessionToken": c.session_token,
                "Expiration": expiration,
            })
        ),
        Format::Env => {
            println!("export AWS_ACCESS_KEY_ID={}", c.access_key_id);
            println!("export AWS_SECRET_ACCESS_KEY={}", c.secret_access_key);
            println!("export AWS_SESSION_TOKEN={}", c.session_token);
            println!("export AWS_CREDENTIAL_EXPIRATION={expiration}");
            if let Some(region) = default_region(&c) {
                println!("export AWS_REGION={region}");
                println!("export AWS_DEFAULT_REGION={region}");
            }
        }
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&c).map_err(anyhow::Error::from)?
        ),
    }
    Ok(())
}

/// The broker's STS region for the AWS tools, unless the caller already names one
/// (without any, the CLI and SDKs stop at "You must specify a region").
fn default_region(c: &AwsCredentials) -> Option<String> {
    let set = |v| std::env::var_os(v).is_some_and(|r| !r.is_empty());
    if set("AWS_REGION") || set("AWS_DEFAULT_REGION") {
        return None;
    }
    c.region.clone()
}

/// `latchkey exec RESOURCE -- CMD…`: runs CMD with the resource's credentials in its environment.
pub async fn exec(api: &ApiClient, resource: &str, argv: &[String]) -> Result<(), CliError> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| CliError::Other(anyhow::anyhow!("name a command after --")))?;
    let resources: Vec<ResourceView> = api.get("/v1/resources").await?;
    let kind = resources
        .iter()
        .find(|r| r.name == resource)
        .map(|r| r.kind.clone())
        .unwrap_or_default();
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args);
    match kind.as_str() {
        "aws" => {
            let c = aws_credentials(api, resource, None).await?;
            cmd.env("AWS_ACCESS_KEY_ID", &c.access_key_id)
                .env("AWS_SECRET_ACCESS_KEY", &c.secret_access_key)
                .env("AWS_SESSION_TOKEN", &c.session_token)
                .env(
                    "AWS_CREDENTIAL_EXPIRATION",
                    c.expiration
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                )
                .env_remove("AWS_PROFILE");
            if let Some(region) = default_region(&c) {
                cmd.env("AWS_REGION", &region)
                    .env("AWS_DEFAULT_REGION", &region);
            }
        }
        "db" => {
            let c = creds_db::db_credentials(api, resource).await?;
            for var in creds_db::LIBPQ_OVERRIDES {
                cmd.env_remove(var);
            }
            cmd.envs(creds_db::libpq_env(&c, true));
        }
        "token" => {
            let t: crate::app::IssuedToken = api
                .post("/v1/credentials/token", &json!({"resource": resource}))
                .await?;
            cmd.env("LATCHKEY_TOKEN", &t.token);
        }
        "" => {
            return Err(CliError::Other(anyhow::anyhow!(
                "{resource} is not a resource you may request; see `latchkey resources`"
            )))
        }
        other => {
            return Err(CliError::Other(anyhow::anyhow!(
                "latchkey exec does not yet provide {other} credentials"
            )))
        }
    }
    let status = crate::edges::cli::foreground::run_in_foreground(cmd)
        .await
        .with_context(|| format!("running {program}"))?;
    match status.code() {
        Some(0) => Ok(()),
        Some(code) => Err(CliError::Program(
            u8::try_from(code).unwrap_or(1),
            format!("{program} exited with {code}"),
        )),
        None => Err(CliError::Program(
            1,
            format!("{program} was killed by a signal"),
        )),
    }
}
