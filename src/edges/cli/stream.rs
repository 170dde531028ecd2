//! `latchkey stream RESOURCE`: follow a gated server-sent-events stream (the live events
//! stream) and print each event as it arrives. In a terminal, Enter pauses and resumes
//! (events keep arriving and are printed on resume). When the broker closes the stream
//! (revocation, expiry, lock, logout), it says why.

use std::collections::VecDeque;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::Args;
use serde_json::Value;

use crate::edges::cli::client::ApiClient;
use crate::edges::cli::error::CliError;
use crate::edges::cli::output::{exit, Output};

/// Events kept while paused; older ones are dropped (and counted) beyond this.
const PAUSE_BUFFER: usize = 10_000;

/// `latchkey stream` options.
#[derive(Debug, Args)]
pub struct StreamArgs {
    /// Resource: `live-events` is short for `stream:live-events`.
    pub resource: String,
    /// Path on the upstream.
    #[arg(long, default_value = "/events")]
    pub path: String,
    /// Only these events (e.g. `$pageview`; comma-separated).
    #[arg(long = "event", value_name = "NAME")]
    pub event_type: Option<String>,
    /// Only events of this distinct id.
    #[arg(long, value_name = "ID")]
    pub distinct_id: Option<String>,
}

/// The resource a short name stands for.
pub fn resource_name(name: &str) -> String {
    if name.contains(':') {
        name.to_string()
    } else {
        format!("stream:{name}")
    }
}

/// One event as a line: time, event, distinct id, URL.
pub fn event_line(e: &Value) -> String {
    let time = e["timestamp"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.format("%H:%M:%S%.3f").to_string())
        .unwrap_or_else(|| "-".into());
    let url = e["properties"]["$current_url"].as_str().unwrap_or("");
    format!(
        "{time}  {:<14} {:<16} {url}",
        e["event"].as_str().unwrap_or("?"),
        e["distinct_id"].as_str().unwrap_or("?")
    )
}

/// Splits complete server-sent events off the front of `buf`; returns their `data`.
pub fn take_events(buf: &mut String) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(end) = buf.find("\n\n") {
        let block: String = buf.drain(..end + 2).collect();
        let data: Vec<&str> = block
            .lines()
            .filter_map(|l| {
                l.strip_prefix("data:")
                    .map(|d| d.strip_prefix(' ').unwrap_or(d))
            })
            .collect();
        if !data.is_empty() {
            out.push(data.join("\n"));
        }
    }
    out
}

/// Follows the stream until it ends.
pub async fn run(api: &ApiClient, output: Output, args: StreamArgs) -> Result<(), CliError> {
    let resource = resource_name(&args.resource);
    let resp = api.open_stream(&gate_path(&resource, &args)).await?;
    let grant = resp
        .headers()
        .get("x-latchkey-grant")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let paused = pause_on_enter(&resource);
    print_events(resp, output, &paused).await;
    why_it_ended(api, grant, &resource).await
}

/// The gate's path to `args.path` on `resource`, with the event filters as its query.
fn gate_path(resource: &str, args: &StreamArgs) -> String {
    let mut query = Vec::new();
    if let Some(e) = &args.event_type {
        query.push(format!(
            "eventType={}",
            crate::edges::cli::client::urlencode(e)
        ));
    }
    if let Some(d) = &args.distinct_id {
        query.push(format!(
            "distinctId={}",
            crate::edges::cli::client::urlencode(d)
        ));
    }
    format!(
        "/gate/{}/{}{}{}",
        crate::edges::cli::client::urlencode(resource),
        args.path.trim_start_matches('/'),
        if query.is_empty() { "" } else { "?" },
        query.join("&")
    )
}

/// In a terminal, a thread that flips the returned flag on every Enter.
fn pause_on_enter(resource: &str) -> Arc<AtomicBool> {
    let paused = Arc::new(AtomicBool::new(false));
    if std::io::stdin().is_terminal() {
        eprintln!("streaming {resource}; press Enter to pause and resume, Ctrl-C to stop");
        let p = paused.clone();
        std::thread::spawn(move || {
            let mut line = String::new();
            while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {
                let now = !p.fetch_xor(true, Ordering::SeqCst);
                eprintln!(
                    "{}",
                    if now {
                        "-- paused (events are kept) --"
                    } else {
                        "-- resumed --"
                    }
                );
                line.clear();
            }
        });
    }
    paused
}

/// Prints each event of `resp` as it arrives (held while `paused`, at most
/// [`PAUSE_BUFFER`]), until the stream ends; then whatever is still held.
async fn print_events(mut resp: reqwest::Response, output: Output, paused: &AtomicBool) {
    let mut buf = String::new();
    let mut held: VecDeque<String> = VecDeque::new();
    let mut dropped = 0u64;
    let stdout = std::io::stdout();
    loop {
        let chunk = match resp.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => {
                eprintln!("stream interrupted: {e}");
                break;
            }
        };
        buf.push_str(&String::from_utf8_lossy(&chunk));
        for data in take_events(&mut buf) {
            let line = match (output, serde_json::from_str::<Value>(&data)) {
                (Output::Text, Ok(v)) => event_line(&v),
                _ => data,
            };
            held.push_back(line);
            if held.len() > PAUSE_BUFFER {
                held.pop_front();
                dropped += 1;
            }
        }
        if !paused.load(Ordering::SeqCst) {
            let mut out = stdout.lock();
            if dropped > 0 {
                let _ = writeln!(out, "-- {dropped} event(s) dropped while paused --");
                dropped = 0;
            }
            for line in held.drain(..) {
                let _ = writeln!(out, "{line}");
            }
            let _ = out.flush();
        }
    }
    for line in held.drain(..) {
        println!("{line}");
    }
}

/// Why the stream ended, asked of the broker about `grant`: an ended grant is exit code
/// [`exit::ENDED`].
async fn why_it_ended(
    api: &ApiClient,
    grant: Option<String>,
    resource: &str,
) -> Result<(), CliError> {
    let Some(id) = grant else {
        eprintln!("stream closed");
        return Ok(());
    };
    let view: Value = api.get(&format!("/v1/requests/{id}")).await?;
    let state = view["state"].as_str().unwrap_or("unknown");
    if state == "active" {
        eprintln!("stream closed by the service; your grant {id} is still active");
        return Ok(());
    }
    let why = view["end_reason"].as_str().unwrap_or(state);
    Err(CliError::Exit(
        exit::ENDED,
        format!("stream closed: your grant {id} on {resource} is {state} ({why})"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_events_are_taken_and_partial_ones_wait_for_the_rest() {
        let mut buf = "data: {\"a\":1}\n\n: comment\n\ndata: {\"b\"".to_string();
        assert_eq!(take_events(&mut buf), vec!["{\"a\":1}"]);
        buf.push_str(":2}\n\n");
        assert_eq!(take_events(&mut buf), vec!["{\"b\":2}"]);
        assert!(buf.is_empty());
        assert_eq!(resource_name("live-events"), "stream:live-events");
        assert_eq!(resource_name("http:dash"), "http:dash");
    }
}
