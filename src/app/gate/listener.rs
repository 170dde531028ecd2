//! What this replica's notification listener is called and what it has heard: kept in
//! the gate's state (see `fanout`, which runs the listener).

use std::sync::atomic::AtomicU64;

/// What the listener has done, for tests and operators.
#[derive(Debug, Default)]
pub struct FanoutStats {
    /// Notifications heard.
    pub hints: AtomicU64,
    /// Times the listener (re)connected and the state was read again.
    pub resyncs: AtomicU64,
}

/// The name of this replica's listener in `pg_stat_activity` (`application_name`).
pub fn listener_name() -> String {
    let tag = crate::model::random::uuid_v4()
        .map(|u| u.simple().to_string())
        .unwrap_or_default();
    format!("latchkey-gate-{}", &tag[..tag.len().min(12)])
}
