//! The `latchkey` binary: parse the command line, start telemetry, dispatch.

use clap::Parser;

fn main() -> std::process::ExitCode {
    latchkey::startup::install_crypto_provider();
    let cli = latchkey::edges::cli::Cli::parse();
    latchkey::telemetry::init(cli.default_log_filter());
    // On one core (a container's quota, an affinity mask) a single-threaded scheduler does
    // the same work without the cross-thread hand-offs of a one-worker pool.
    let one_core = std::thread::available_parallelism().is_ok_and(|n| n.get() == 1);
    let runtime = if one_core {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    }
    .enable_all()
    .build();
    match runtime {
        Ok(rt) => rt.block_on(latchkey::startup::commands::run(cli)),
        Err(e) => {
            eprintln!("latchkey: cannot start the async runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
