//! Taking, renewing and giving up the periodic jobs' lease ([`crate::app::replica`] says
//! why), and the fence a leader writes with.

use std::sync::Arc;
use std::time::Instant;

use crate::app::core::Core;
use crate::app::replica::{LEASE_TTL, PERIODIC, RENEW_EVERY};
use crate::store::{Fence, StoreError};

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
