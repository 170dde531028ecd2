//! The command line as clap reads it: every verb and its flags.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use crate::edges::cli::output::Output;
use crate::edges::cli::{audit, creds, policy, requests, stream};

/// latchkey: just-in-time, short-lived, audited access to infrastructure.
#[derive(Debug, Parser)]
#[command(name = "latchkey", version, about, propagate_version = true)]
pub struct Cli {
    /// The broker's URL (default: the server of the last login).
    #[arg(
        long,
        global = true,
        env = "LATCHKEY_SERVER",
        help_heading = "Global options"
    )]
    pub server: Option<String>,
    /// A PEM file of CA certificates to trust besides the built-in roots (a broker or
    /// identity provider behind a private CA).
    #[arg(
        long,
        global = true,
        env = "LATCHKEY_CA_CERT",
        value_name = "FILE",
        help_heading = "Global options"
    )]
    pub ca_cert: Option<PathBuf>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text, help_heading = "Global options")]
    pub output: Output,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the broker.
    Serve(ServeVerb),
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
    /// Run a command with a resource's credentials in its environment (AWS_* for aws, PG* for db, LATCHKEY_TOKEN for token resources).
    Exec {
        /// Resource.
        resource: String,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Open psql on a database resource with your grant's login (arguments after `--` go to psql).
    Psql {
        /// Resource, e.g. db:events.
        resource: String,
        /// psql's arguments, after `--`.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Log in over SSH with a certificate for your grant (`latchkey ssh ssh:bastion -- uptime`); `ssh ca`, `ssh krl` for hosts.
    Ssh(crate::edges::cli::ssh::SshArgs),
    /// Print ~/.ssh/config Host blocks for the ssh resources you may request.
    SshConfig {
        /// The key the blocks name (default: ~/.ssh/id_ed25519, id_ecdsa or id_rsa).
        #[arg(long, value_name = "PATH")]
        key: Option<PathBuf>,
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

/// `serve`: its options, and what it may do instead of serving.
#[derive(Debug, Args, Default)]
pub struct ServeVerb {
    /// The options `migrate` shares.
    #[command(flatten)]
    pub args: ServeArgs,
    /// Check the identity provider instead of serving: what its discovery document offers,
    /// then a test login (device flow) and what that ID token carries, the groups claim
    /// first. Exits 1 when the token lacks oidc.groups_claim.
    #[arg(long)]
    pub check_idp: bool,
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
    /// The log filter when `RUST_LOG` is not set: the server logs at info, clients only
    /// warnings. The AWS SDK's own warnings (its instance-metadata probes, a connector's
    /// whole account of a failure) are left out: the broker says each failure in one
    /// sentence, with the SDK's account at debug (`RUST_LOG=info,aws_config=debug`).
    pub fn default_log_filter(&self) -> &'static str {
        match self.command {
            Command::Serve(_) | Command::Migrate(_) => {
                "info,sqlx=warn,aws_config=error,aws_smithy_runtime=error,aws_runtime=error"
            }
            _ => "warn",
        }
    }
}
