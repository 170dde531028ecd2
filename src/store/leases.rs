//! Leases of periodic jobs when several replicas share the database: taken and renewed
//! for a bounded time, with an epoch that grows with every change of holder, and checked
//! inside each transaction the leader writes in (fencing).

use std::time::Duration;

use crate::store::error::StoreError;
use crate::store::statement::sql;
use crate::store::tx::{Backend, Tx};
use crate::store::{postgres, sqlite};

/// The right to write as a periodic job's leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fence {
    /// The only process on its database (SQLite): nobody to fence against.
    Sole,
    /// The lease of `job`, held by `holder` at `epoch`.
    Lease {
        /// The job.
        job: &'static str,
        /// The replica holding it.
        holder: String,
        /// Its epoch when taken.
        epoch: i64,
    },
}

impl Tx {
    fn now_ms(&self) -> &'static str {
        match self.backend() {
            Backend::Sqlite => sqlite::NOW_MS,
            Backend::Postgres => postgres::NOW_MS,
        }
    }

    /// Takes the lease of `job` for `holder` until `ttl` from now, or renews it: taken if
    /// nobody holds it or its holder let it run out (the epoch grows), renewed if `holder`
    /// holds it (the epoch stays). Returns the epoch held, `None` while another holds it.
    pub async fn take_lease(
        &mut self,
        job: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<i64>, StoreError> {
        let now = self.now_ms();
        let ttl = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let held: Option<(i64,)> = sql(format!(
            "INSERT INTO job_leases (job, holder, epoch, expires_at) VALUES ($1, $2, 1, {now} + $3)
             ON CONFLICT (job) DO UPDATE SET
                epoch = CASE WHEN job_leases.holder = excluded.holder
                        THEN job_leases.epoch ELSE job_leases.epoch + 1 END,
                holder = excluded.holder, expires_at = excluded.expires_at
             WHERE job_leases.holder = excluded.holder OR job_leases.expires_at <= {now}
             RETURNING epoch"
        ))
        .bind(job)
        .bind(holder)
        .bind(ttl)
        .fetch_optional(self)
        .await?;
        Ok(held.map(|h| h.0))
    }

    /// Lets the lease of `job` run out now if `holder` holds it (a graceful stop), so
    /// another replica takes over at once.
    pub async fn release_lease(&mut self, job: &str, holder: &str) -> Result<(), StoreError> {
        sql("UPDATE job_leases SET expires_at = 0 WHERE job = $1 AND holder = $2")
            .bind(job)
            .bind(holder)
            .execute(self)
            .await?;
        Ok(())
    }

    /// Checks that `fence` still holds, and keeps its lease from changing hands until this
    /// transaction ends: a leader that lost its lease (cut off longer than its time, and
    /// another took over) writes nothing.
    pub async fn check_fence(&mut self, fence: &Fence) -> Result<(), StoreError> {
        let Fence::Lease { job, holder, epoch } = fence else {
            return Ok(());
        };
        let lock = match self.backend() {
            Backend::Sqlite => sqlite::SHARE_LOCK,
            Backend::Postgres => postgres::SHARE_LOCK,
        };
        let now = self.now_ms();
        let held: Option<(i64,)> = sql(format!(
            "SELECT epoch FROM job_leases
             WHERE job = $1 AND holder = $2 AND epoch = $3 AND expires_at > {now}{lock}"
        ))
        .bind(*job)
        .bind(holder)
        .bind(*epoch)
        .fetch_optional(self)
        .await?;
        match held {
            Some(_) => Ok(()),
            None => Err(StoreError::LeaseLost(format!(
                "{holder} no longer holds the lease of {job} at epoch {epoch}"
            ))),
        }
    }

    /// Who holds the lease of `job` now, and at which epoch (`None`: nobody, or it ran out).
    pub async fn lease_holder(&mut self, job: &str) -> Result<Option<(String, i64)>, StoreError> {
        let now = self.now_ms();
        sql(format!(
            "SELECT holder, epoch FROM job_leases WHERE job = $1 AND expires_at > {now}"
        ))
        .bind(job)
        .fetch_optional(self)
        .await
    }
}
