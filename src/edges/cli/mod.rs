//! The command line. `serve` and `migrate` run the broker; every other verb is a client
//! of the HTTP API and nothing else. `completions` prints a shell's completion script
//! ([`completions`], here).
//!
//! - [`audit`]: `audit verify | export | tail | checkpoint | key`.
//! - [`aws_cache`]: cached AWS sessions, served only while their grant lasts, dropped when it ends here.
//! - [`client`]: the API client and its error type.
//! - [`creds`]: `creds aws` (an AWS `credential_process`) and `exec`.
//! - [`saved_sessions`]: saved sessions under `$XDG_CONFIG_HOME/latchkey/` (mode 0600).
//! - [`login`]: the OpenID Connect device flow and authorization code + PKCE flow.
//! - [`commands`]: the client verbs and how they print.
//! - [`policy`]: `policy explain`, `policy test`, `policy check`, offline.
//! - [`progress`]: the progress bar of long downloads.
//! - [`requests`]: the access verbs (`request`, `approve`, `activate`, …).
//! - [`server`]: `serve` and `migrate`.
//! - [`stream`]: `stream`, following a gated event stream.

pub mod audit;
pub mod aws_cache;
pub mod client;
pub mod commands;
pub mod creds;

pub mod login;
pub mod policy;
pub mod progress;
pub mod requests;
pub mod saved_sessions;

pub mod server;
pub mod stream;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Exit codes scripts can rely on.
pub mod exit {
    /// Something failed (network, server error, bad input).
    pub const FAILURE: u8 = 1;
    /// Usage error (clap's own).
    pub const USAGE: u8 = 2;
    /// Not logged in, or the session ended: run `latchkey login`.
    pub const UNAUTHENTICATED: u8 = 3;
    /// Logged in but not allowed.
    pub const FORBIDDEN: u8 = 4;
    /// `--wait`: the request was denied.
    pub const DENIED: u8 = 5;
    /// `--wait`: the request expired before it was decided.
    pub const EXPIRED: u8 = 6;
    /// `--wait`: the request was cancelled or revoked.
    pub const ENDED: u8 = 7;
    /// `audit verify`: the log or bundle does not verify (tampered, truncated, unsigned).
    pub const TAMPERED: u8 = 8;
}

/// latchkey: just-in-time, short-lived, audited access to infrastructure.
#[derive(Debug, Parser)]
#[command(name = "latchkey", version, about, propagate_version = true)]
pub struct Cli {
    /// The broker's URL (default: the server of the last login).
    #[arg(long, global = true, env = "LATCHKEY_SERVER")]
    pub server: Option<String>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// How client verbs print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// For people.
    Text,
    /// One JSON document on stdout.
    Json,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the broker.
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate(ServeArgs),
    /// Log in with the identity provider (device flow by default).
    Login(LoginArgs),
    /// Show who you are logged in as.
    Whoami,
    /// End your session.
    Logout {
        /// Revoke every live grant of yours first (their AWS sessions are denied at AWS).
        #[arg(long)]
        revoke: bool,
    },
    /// Lock a user (administrators): their sessions end and logins are refused.
    Lock {
        /// Email, subject or user id.
        user: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Lift a lock (administrators).
    Unlock {
        /// Email, subject or user id, as locked.
        user: String,
    },
    /// Review policy like code: explain a decision, run table tests, lint.
    Policy {
        /// What to do.
        #[command(subcommand)]
        command: policy::PolicyCommand,
    },
    /// Access requests and grants.
    #[command(flatten)]
    Access(requests::AccessCommand),
    /// Credentials inside your active grants.
    Creds {
        /// Which kind.
        #[command(subcommand)]
        command: creds::CredsCommand,
    },
    /// Run a command with a resource's credentials in its environment.
    Exec {
        /// Resource.
        resource: String,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// The tamper-evident audit log: verify, export evidence, follow.
    Audit {
        /// What to do.
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// Follow a gated event stream (e.g. `live-events`) inside your active grant.
    Stream(stream::StreamArgs),
    /// The broker's signing keys.
    Keys {
        /// What to do.
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Slack approvals.
    Slack {
        /// What to do.
        #[command(subcommand)]
        command: SlackCommand,
    },
    /// Print a shell completion script (e.g. `latchkey completions bash > /etc/bash_completion.d/latchkey`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `latchkey slack …`.
#[derive(Debug, Subcommand)]
pub enum SlackCommand {
    /// A one-time code that links your Slack account to you: type `/latchkey link CODE` in Slack.
    Link,
}

/// `latchkey keys …`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the published keys.
    List,
    /// Make a new signing key; the old one stays published until its tokens expire.
    Rotate,
}

/// `latchkey login` options.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Use the authorization code flow with PKCE and a loopback redirect instead of the device flow.
    #[arg(long, conflicts_with = "dev")]
    pub browser: bool,
    /// Development login as this email (only a `serve --dev` server on loopback accepts it).
    #[arg(long, value_name = "EMAIL")]
    pub dev: Option<String>,
    /// Groups for the development login, comma-separated.
    #[arg(long, value_delimiter = ',', requires = "dev")]
    pub groups: Vec<String>,
}

/// Options of `serve` and `migrate`; each overrides the file and the environment.
#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Development mode: loopback only, SQLite, development login, example policies.
    #[arg(long)]
    pub dev: bool,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// State directory (SQLite database, keys).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://…
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// The URL clients use to reach the broker.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// Allow plain HTTP off loopback: a TLS-terminating proxy sits in front.
    #[arg(long)]
    pub behind_tls_proxy: bool,
}

impl Cli {
    /// The log filter when `RUST_LOG` is not set: the server logs at info, clients only warnings.
    pub fn default_log_filter(&self) -> &'static str {
        match self.command {
            Command::Serve(_) | Command::Migrate(_) => "info,sqlx=warn",
            _ => "warn",
        }
    }
}

/// Writes the completion script of `shell` for every verb and option (clap_complete).
pub fn completions(shell: clap_complete::Shell, out: &mut dyn std::io::Write) {
    clap_complete::generate(
        shell,
        &mut <Cli as clap::CommandFactory>::command(),
        "latchkey",
        out,
    );
}

/// Runs the parsed command and returns the process exit code.
pub async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Serve(args) => server::serve(args).await.map_err(commands::CliError::Other),
        Command::Migrate(args) => server::migrate(args)
            .await
            .map_err(commands::CliError::Other),
        Command::Policy { command } => policy::run(cli.output, command)
            .await
            .map_err(commands::CliError::Other),
        Command::Audit {
            command:
                audit::AuditCommand::Verify {
                    bundle: Some(bundle),
                    key: Some(key),
                    checkpoints,
                },
        } => audit::verify_offline(cli.output, &bundle, &key, checkpoints.as_deref()),
        Command::Completions { shell } => {
            completions(shell, &mut std::io::stdout());
            Ok(())
        }
        command => commands::run(cli.server, cli.output, command).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
