//! Running a program in the foreground of the terminal, as `exec`, `psql` and `ssh` do.

/// Runs a child in the foreground and waits for it. Ctrl-C reaches the child (it is in the
/// terminal's process group); here it is caught, not fatal, so `psql` cancels its query
/// and carries on instead of losing its parent and the terminal with it.
pub(crate) async fn run_in_foreground(
    mut cmd: tokio::process::Command,
) -> std::io::Result<std::process::ExitStatus> {
    let mut interrupts = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut child = cmd.spawn()?;
    loop {
        tokio::select! {
            status = child.wait() => return status,
            _ = interrupts.recv() => {}
        }
    }
}
