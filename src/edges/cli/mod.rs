//! The command line. `serve` and `migrate` run the broker; every other verb is a client
//! of the HTTP API and nothing else. `completions` prints a shell's completion script
//! ([`completions`], here).
//!
//! - [`audit`]: `audit verify | export | tail | checkpoint | key`.
//! - [`aws_cache`]: cached AWS sessions, served only while their grant lasts, dropped when it ends here.
//! - [`client`]: the API client and its error type.
//! - [`creds`]: `creds aws` (an AWS `credential_process`), `exec` and `psql`.
//! - [`creds_db`]: `creds db`: a grant's PostgreSQL login as text, libpq variables, a URI, JSON or a pgpass line.
//! - [`saved_sessions`]: saved sessions under `$XDG_CONFIG_HOME/latchkey/` (mode 0600).
//! - [`login`]: the `login` verb: the OpenID Connect device flow and authorization code + PKCE flow.
//! - [`commands`]: the client verbs and how they print.
//! - [`policy`]: `policy explain`, `policy test`, `policy check`, offline.
//! - [`progress`]: the progress bar of long downloads.
//! - [`report`]: how a failure is told: stderr for people, one JSON object for scripts.
//! - [`foreground`]: running `exec`'s, `psql`'s and `ssh`'s program in the terminal's foreground.
//! - [`error`]: why a verb failed, its stable code and its exit code.
//! - [`idp_refusal`]: the identity provider's refusal of a login, in its own words.
//! - [`output`]: how verbs print, and the exit codes.
//! - [`requests`]: the access verbs (`request`, `approve`, `activate`, …).
//! - [`server`]: `serve` and `migrate`.
//! - [`stream`]: `stream`, following a gated event stream.
//! - [`ssh`]: `ssh`, `creds ssh`, `ssh ca`, `ssh krl`, `ssh-config`.
//! - [`ssh_hosts`]: `ssh ca`, `ssh krl`, `ssh-config`.
//! - [`ssh_keys`]: which key is certified, where its certificate goes, keys made in memory, the ssh-agent.
//! - [`trust`]: the CAs trusted besides the built-in roots (`--ca-cert`), and TLS failures told.
//! - [`browser`]: opening the login URL with `$BROWSER` (else `xdg-open`).

pub mod args;
pub mod audit;
pub mod aws_cache;
pub mod browser;
pub mod client;
pub mod commands;
pub mod creds;
pub mod creds_db;
pub mod error;
pub mod foreground;
pub mod idp_refusal;

pub mod login;
pub mod output;
pub mod policy;
pub mod progress;
pub mod report;
pub mod requests;
pub mod saved_sessions;
pub mod ssh;
pub mod ssh_hosts;
pub mod ssh_keys;

pub mod stream;
pub mod trust;

use std::process::ExitCode;

pub use crate::edges::cli::args::{Cli, Command, ServeArgs};
pub use crate::edges::cli::output::{exit, Output};

/// Writes the completion script of `shell` for every verb and option (clap_complete).
pub fn completions(shell: clap_complete::Shell, out: &mut dyn std::io::Write) {
    clap_complete::generate(
        shell,
        &mut <Cli as clap::CommandFactory>::command(),
        "latchkey",
        out,
    );
}

/// The command line, or the exit code of a refused one (help and `--version` print and
/// end with 0; a usage error is told as [`report::usage`] and ends with [`exit::USAGE`]).
pub fn parse() -> Result<Cli, ExitCode> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    <Cli as clap::Parser>::try_parse_from(&args)
        .map_err(|e| report::usage(&e, args.get(1..).unwrap_or_default()))
}

/// Runs the parsed command and returns the process exit code.
pub async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Serve(_) | Command::Migrate(_) => Err(commands::CliError::Other(anyhow::anyhow!(
            "serve and migrate run the broker: start them through latchkey::startup::commands::run"
        ))),
        Command::Policy { command } => policy::run(cli.output, command)
            .await
            .map_err(commands::CliError::from),
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
        command => commands::run(cli.server, cli.ca_cert.as_deref(), cli.output, command).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report::failure(cli.output, &e),
    }
}
