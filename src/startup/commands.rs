//! `latchkey serve` and `latchkey migrate`: the two verbs that run the broker rather than
//! talk to one. The binary starts here; every other verb goes to the CLI's edge.

use std::process::ExitCode;

use anyhow::Context;

use crate::config::{Config, Layer};
use crate::edges::cli::args::{Cli, Command, ServeArgs};
use crate::edges::cli::error::CliError;
use crate::startup;
use crate::startup::check_idp;
use crate::startup::Application;

fn flags(args: &ServeArgs) -> Layer {
    Layer {
        dev: args.dev.then_some(true),
        listen: args.listen.clone(),
        data_dir: args.data_dir.clone(),
        database_url: args.database_url.clone(),
        public_url: args.public_url.clone(),
        behind_tls_proxy: args.behind_tls_proxy.then_some(true),
        ..Layer::default()
    }
}

/// Defaults ← file ← environment ← flags, validated.
pub fn load_config(args: &ServeArgs) -> anyhow::Result<Config> {
    let file = match &args.config {
        Some(path) => Layer::from_file(path)?,
        None => Layer::default(),
    };
    let mut env = Layer::from_env(std::env::vars())?;
    if args.dev && env.data_dir.is_none() && file.data_dir.is_none() && args.data_dir.is_none() {
        env.data_dir = Some(".latchkey-dev".into());
    }
    let config = flags(args)
        .over(env.over(file))
        .validate()
        .context("invalid configuration")?;
    Ok(config)
}

/// Runs the broker until SIGTERM or Ctrl-C.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = load_config(&args)?;
    let app = Application::build(config).await?;
    app.run_until(startup::shutdown_signal()).await
}

/// `serve --check-idp`: the provider's discovery and a test login, reported; `false` when
/// the test token lacks the groups claim.
async fn check(args: &ServeArgs) -> anyhow::Result<bool> {
    check_idp::run(&load_config(args)?).await
}

/// Applies migrations and exits.
pub async fn migrate(args: ServeArgs) -> anyhow::Result<()> {
    let config = load_config(&args)?;
    startup::open_store(&config).await?;
    eprintln!(
        "migrations applied to {}",
        crate::model::secret::redact_url(&config.database_url)
    );
    Ok(())
}

/// Runs the parsed command line: `serve` and `migrate` here, every client verb through
/// [`crate::edges::cli::run`].
pub async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Serve(verb) if verb.check_idp => match check(&verb.args).await {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::from(1),
            Err(e) => Err(e),
        },
        Command::Serve(verb) => serve(verb.args).await,
        Command::Migrate(args) => migrate(args).await,
        _ => return crate::edges::cli::run(cli).await,
    };
    match result.map_err(CliError::Other) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => crate::edges::cli::report::failure(cli.output, &e),
    }
}
