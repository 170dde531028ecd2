//! `[audit]`: how often checkpoints are signed, where they go, and the event sink.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::error::{invalid, ConfigError};
use crate::config::layer::AuditLayer;
use crate::model::duration;

/// Validated `[audit]` settings.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// How often the chain head is signed, even when nothing happened.
    pub checkpoint_interval: Duration,
    /// A checkpoint is also signed once this many events were appended since the last.
    pub checkpoint_every_events: i64,
    /// Where checkpoints are written besides the database.
    pub checkpoint_sink: Option<CheckpointSink>,
    /// Where every event is written as a JSON line, for a SIEM.
    pub event_sink: Option<EventSink>,
}

/// Somewhere outside the database that keeps every checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointSink {
    /// One write-once file per checkpoint in this directory (mount it from elsewhere).
    Dir(PathBuf),
    /// A JSON POST of each checkpoint to this URL.
    Http(String),
}

/// Where the JSON-lines event feed goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventSink {
    /// Standard output.
    Stdout,
    /// Appended to a file; after a restart the feed resumes after the file's last event.
    File(PathBuf),
}

/// `audit.checkpoint_every_events` when unset.
pub const DEFAULT_EVERY_EVENTS: i64 = 100;

/// `[audit]`, setting by setting.
pub(super) fn validate(
    layer: AuditLayer,
    dev: bool,
    data_dir: &Path,
) -> Result<AuditConfig, ConfigError> {
    Ok(AuditConfig {
        checkpoint_interval: checkpoint_interval(layer.checkpoint_interval)?,
        checkpoint_every_events: checkpoint_every_events(layer.checkpoint_every_events)?,
        checkpoint_sink: checkpoint_sink(layer.checkpoint_sink, dev, data_dir)?,
        event_sink: event_sink(layer.event_sink)?,
    })
}

/// How often the head is signed: 10m by default, from 1s to 24h.
fn checkpoint_interval(interval: Option<String>) -> Result<Duration, ConfigError> {
    const INTERVAL: &str = "audit.checkpoint_interval (LATCHKEY_AUDIT_CHECKPOINT_INTERVAL)";
    let checkpoint_interval = match interval {
        None => Duration::from_secs(600),
        Some(s) => duration::parse(&s).map_err(|e| invalid(INTERVAL, e.to_string()))?,
    };
    if checkpoint_interval < Duration::from_secs(1)
        || checkpoint_interval > Duration::from_secs(86_400)
    {
        return Err(invalid(INTERVAL, "must be between 1s and 24h"));
    }
    Ok(checkpoint_interval)
}

/// After how many events a checkpoint is also signed: [`DEFAULT_EVERY_EVENTS`] by
/// default, from 1 to a million.
fn checkpoint_every_events(every: Option<String>) -> Result<i64, ConfigError> {
    const EVERY: &str = "audit.checkpoint_every_events (LATCHKEY_AUDIT_CHECKPOINT_EVERY_EVENTS)";
    match every.as_deref() {
        // Small: the events after the last checkpoint are the ones that can be removed
        // unnoticed, and a checkpoint costs one signature and a check of that many events.
        None => Ok(DEFAULT_EVERY_EVENTS),
        Some(s) => s
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=1_000_000).contains(n))
            .ok_or_else(|| invalid(EVERY, "must be a whole number from 1 to 1000000")),
    }
}

/// Where checkpoints go: a directory, or an https URL (http on loopback); the development
/// server's by default beside its data.
fn checkpoint_sink(
    sink: Option<String>,
    dev: bool,
    data_dir: &Path,
) -> Result<Option<CheckpointSink>, ConfigError> {
    const SINK: &str = "audit.checkpoint_sink (LATCHKEY_AUDIT_CHECKPOINT_SINK)";
    Ok(match sink {
        // The development server keeps its checkpoints beside its data, for the walkthrough.
        None if dev => Some(CheckpointSink::Dir(data_dir.join("checkpoints"))),
        None => None,
        Some(s) if s.starts_with("https://") || s.starts_with("http://") => {
            let url = url::Url::parse(&s).map_err(|e| invalid(SINK, format!("not a URL: {e}")))?;
            let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
            if url.scheme() == "http" && !loopback {
                return Err(invalid(
                    SINK,
                    "must be https:// (plain http only on loopback)",
                ));
            }
            Some(CheckpointSink::Http(s))
        }
        Some(s) if s.contains("://") => {
            return Err(invalid(SINK, "write a directory path or an https:// URL"));
        }
        Some(s) => Some(CheckpointSink::Dir(PathBuf::from(s))),
    })
}

/// The event feed: `stdout` or `file:PATH`.
fn event_sink(sink: Option<String>) -> Result<Option<EventSink>, ConfigError> {
    Ok(match sink.as_deref() {
        None => None,
        Some("stdout") => Some(EventSink::Stdout),
        Some(s) => match s.strip_prefix("file:") {
            Some(path) if !path.is_empty() => Some(EventSink::File(PathBuf::from(path))),
            _ => {
                return Err(invalid(
                    "audit.event_sink (LATCHKEY_AUDIT_EVENT_SINK)",
                    "write stdout or file:PATH",
                ))
            }
        },
    })
}
