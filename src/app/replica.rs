//! This broker process among the replicas sharing its database: its identity, and the
//! lease that makes one of them the leader of the periodic jobs (the expiry sweep and
//! checkpoints by interval). Work kept in rows (the Slack outbox, AWS denies, database
//! logins) is claimed row by row instead, by whichever replica comes first.
//!
//! The lease is a row in `job_leases` with a bounded time ([`LEASE_TTL`]) and an epoch
//! that grows with every change of holder, renewed every [`RENEW_EVERY`]. The leader
//! checks it inside each transaction it writes in ([`crate::store::Tx::check_fence`]),
//! so a leader whose connection died silently, or whose process stalled past its lease,
//! writes nothing once another took over. Only PostgreSQL needs it: on SQLite the one
//! process is always the leader, as before.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::app::core::Core;
use crate::store::{Fence, StoreError};

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

    fn held(&self) -> Option<(i64, Instant)> {
        *self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set_held(&self, held: Option<(i64, Instant)>) {
        *self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = held;
    }
}

impl Core {
    /// The right to run the periodic jobs now, if this replica leads: always on SQLite;
    /// on PostgreSQL while its lease holds by this process's clock, counted from before
    /// the renewal that took it (so it runs out here no later than in the database).
    pub fn fence(&self) -> Option<Fence> {
        if self.store.backend() == "sqlite" {
            return Some(Fence::Sole);
        }
        let (epoch, since) = self.replica.held()?;
        (since.elapsed() < LEASE_TTL).then(|| Fence::Lease {
            job: PERIODIC,
            holder: self.replica.id.clone(),
            epoch,
        })
    }

    /// Takes or renews the lease; returns whether this replica holds it now.
    pub async fn renew_lease(&self) -> Result<bool, StoreError> {
        if self.store.backend() == "sqlite" {
            return Ok(true);
        }
        let began = Instant::now();
        let mut tx = self.store.begin().await?;
        let epoch = tx.take_lease(PERIODIC, &self.replica.id, LEASE_TTL).await?;
        tx.commit().await?;
        let before = self.replica.held().map(|h| h.0);
        if before != epoch {
            match epoch {
                Some(epoch) => {
                    tracing::info!(replica = %self.replica.id, epoch, "leading the periodic jobs")
                }
                None => {
                    tracing::warn!(replica = %self.replica.id, "another replica leads the periodic jobs")
                }
            }
        }
        self.replica.set_held(epoch.map(|e| (e, began)));
        Ok(epoch.is_some())
    }

    /// Gives the lease up (a graceful stop), so another replica takes over at once.
    pub async fn release_lease(&self) {
        if self.store.backend() == "sqlite" || self.replica.held().is_none() {
            return;
        }
        self.replica.set_held(None);
        let released = async {
            let mut tx = self.store.begin().await?;
            tx.release_lease(PERIODIC, &self.replica.id).await?;
            tx.commit().await
        };
        if let Err(e) = released.await {
            tracing::warn!(error = %e, "could not give up the lease; it runs out by itself");
        }
    }
}

/// Takes or renews the lease every [`RENEW_EVERY`] until the task is aborted. A failed
/// renewal is logged; the lease then runs out here (and in the database) by itself.
pub async fn hold_forever(core: Arc<Core>) {
    let mut tick = tokio::time::interval(RENEW_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = core.renew_lease().await {
            tracing::error!(error = %e, "renewing the periodic jobs' lease failed; retrying");
        }
    }
}
