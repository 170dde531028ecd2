//! The JSON-lines event feed for a SIEM: follows the log in sequence order and writes
//! each committed event once, as the canonical JSON line `events.jsonl` uses. A file
//! feed resumes after its last line when the broker restarts; several replicas each
//! feed their own sink.

use std::time::Duration;

use crate::adapters::sink::EventWriter;
use crate::config::EventSink;
use crate::store::Store;

/// How often the feed looks for new events.
const POLL: Duration = Duration::from_millis(250);

/// Follows the log into `sink` until cancelled.
pub async fn run(store: Store, sink: EventSink) {
    let head = match store.begin_read().await {
        Ok(mut tx) => tx.audit_last_seq().await.unwrap_or(0),
        Err(_) => 0,
    };
    let mut writer = match EventWriter::open(&sink, head) {
        Ok(w) => w,
        Err(e) => return tracing::error!(error = %e, "audit event sink unavailable; no feed"),
    };
    loop {
        let page = match store.begin_read().await {
            Ok(mut tx) => tx.audit_events(None, writer.last_seq, 1000).await,
            Err(e) => Err(e),
        };
        match page {
            Ok(events) if !events.is_empty() => {
                let full = events.len() == 1000;
                if let Err(e) = writer.write(&events) {
                    tracing::error!(error = %e, "writing the audit event feed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                } else if full {
                    continue;
                }
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "reading the audit log for the feed; retrying"),
        }
        tokio::time::sleep(POLL).await;
    }
}
