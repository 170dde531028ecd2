//! `audit tail`: events as lines of text or canonical JSON, optionally followed.

use std::io::Write;

use crate::edges::cli::client::ApiClient;
use crate::edges::cli::error::CliError;
use crate::edges::cli::output::Output;
use crate::model::audit::{format_at, AuditEvent};

/// One event on one line: seq, time, kind, actor, outcome, subject, resource#role, reason.
fn line(e: &AuditEvent) -> String {
    let what = match (&e.resource, &e.role) {
        (Some(r), Some(role)) => format!(" {r}#{role}"),
        _ => String::new(),
    };
    format!(
        "{:>7}  {}  {:<20} {} {}{}{}{}",
        e.seq,
        format_at(e.at),
        e.kind,
        e.actor,
        e.outcome,
        e.subject
            .as_deref()
            .map(|s| format!(" {s}"))
            .unwrap_or_default(),
        what,
        e.reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    )
}

/// Prints events after `after` (default: the last 20); with `follow`, keeps waiting for
/// more. A closed stdout ends it quietly.
pub(super) async fn tail(
    api: &ApiClient,
    output: Output,
    after: Option<i64>,
    follow: bool,
) -> Result<(), CliError> {
    let mut after = match after {
        Some(a) => a,
        None => {
            let last: Vec<AuditEvent> = api.get("/v1/audit/events?last=20&limit=20").await?;
            last.first().map_or(0, |e| e.seq - 1)
        }
    };
    let mut stdout = std::io::stdout();
    loop {
        let wait = if follow { 20 } else { 0 };
        let page: Vec<AuditEvent> = api
            .get(&format!(
                "/v1/audit/events?after={after}&limit=1000&wait={wait}"
            ))
            .await?;
        for e in &page {
            let text = match output {
                Output::Json => {
                    let mut buf = Vec::new();
                    crate::model::audit::chain::write_event(e, true, &mut buf)
                        .map_err(|e| anyhow::anyhow!(e))?;
                    String::from_utf8_lossy(&buf).into_owned()
                }
                Output::Text => line(e),
            };
            if writeln!(stdout, "{text}").is_err() {
                return Ok(());
            }
            after = e.seq;
        }
        let _ = stdout.flush();
        if page.is_empty() && !follow {
            return Ok(());
        }
    }
}
