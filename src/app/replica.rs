//! This broker process among the replicas sharing its database: its identity, and the
//! lease that makes one of them the leader of the periodic jobs (the expiry sweep and
//! checkpoints by interval). Work kept in rows (the Slack outbox, AWS denies, database
//! logins) is claimed row by row instead, by whichever replica comes first.
//!
//! The lease is a row in `job_leases` with a bounded time ([`LEASE_TTL`]) and an epoch
//! that grows with every change of holder, renewed every [`RENEW_EVERY`]. The leader
//! checks it inside each transaction it writes in ([`crate::store::Tx::check_fence`]),
//! so a leader whose connection died silently, or whose process stalled past its lease,
//! writes nothing once another took over (`lease` takes, renews and checks it). Only
//! PostgreSQL needs it: on SQLite the one process is always the leader, as before.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The lease every periodic job runs under.
pub const PERIODIC: &str = "periodic";
/// How long a lease holds without renewal: a dead leader's jobs resume on another
/// replica within this time.
pub const LEASE_TTL: Duration = Duration::from_secs(10);
/// How often the holder renews (and the others try to take it).
pub const RENEW_EVERY: Duration = Duration::from_secs(2);

/// This process among the replicas.
pub struct Replica {
    /// `HOSTNAME:PID:RANDOM`: who holds a lease, and who wrote `policy.loaded`.
    pub id: String,
    /// The lease this replica holds: its epoch and when the renewal that took it began.
    held: Mutex<Option<(i64, Instant)>>,
}

impl Replica {
    /// A new identity for this process (random, so brokers in one process differ too).
    pub fn new() -> Result<Self, crate::model::random::RandomError> {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into());
        let mut tag = [0u8; 4];
        crate::model::random::fill(&mut tag)?;
        let tag: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        Ok(Self {
            id: format!("{host}:{}:{tag}", std::process::id()),
            held: Mutex::new(None),
        })
    }

    pub(super) fn held(&self) -> Option<(i64, Instant)> {
        *self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) fn set_held(&self, held: Option<(i64, Instant)>) {
        *self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = held;
    }
}
