//! The `latchkey` binary: parse the command line, start telemetry, dispatch.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    latchkey::startup::install_crypto_provider();
    let cli = latchkey::cli::Cli::parse();
    latchkey::telemetry::init(cli.default_log_filter());
    latchkey::cli::run(cli).await
}
