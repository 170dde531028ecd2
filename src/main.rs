//! The `latchkey` binary: parse the command line, start telemetry, dispatch.

fn main() -> std::process::ExitCode {
    latchkey::startup::install_crypto_provider();
    let cli = match latchkey::edges::cli::parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
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
        Err(e) => latchkey::edges::cli::report::failure(
            cli.output,
            &anyhow::Error::new(e)
                .context("cannot start the async runtime")
                .into(),
        ),
    }
}
