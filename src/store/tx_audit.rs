//! [`Tx`] operations on the audit log: queued appends chained at commit, reads for
//! verification and export, and checkpoints.

use chrono::{DateTime, Utc};

use super::{StoreError, Tx};
use crate::audit::checkpoint::Checkpoint;
use crate::audit::{chain, AuditEvent};

/// The access records of an export period.
#[derive(Debug, Default)]
pub struct ExportedAccess {
    /// Requests alive at some time in the period.
    pub requests: Vec<crate::access::AccessRequest>,
    /// Their reviews made before the period's end, as (request id, review).
    pub reviews: Vec<(String, crate::access::Review)>,
    /// Credentials issued before the period's end, per request.
    pub issuances: std::collections::HashMap<String, i64>,
}

impl Tx {
    /// Queues an audit event. At commit, under the chain's lock, it gets the next
    /// sequence number and the previous event's hash, and is written with the change it
    /// records; if it cannot be written, nothing of the transaction is.
    pub async fn append_audit(&mut self, e: &AuditEvent) -> Result<(), StoreError> {
        if !self.writer {
            // A read transaction on SQLite could not take the chain's lock safely.
            return Err(StoreError::Corrupt(format!(
                "audit event {} appended in a read transaction",
                e.kind
            )));
        }
        self.audit.push(e.clone());
        Ok(())
    }

    /// Chains and writes the queued events. The head is locked last in every
    /// transaction, and held only while the events are written and the transaction
    /// commits.
    pub(super) async fn flush_audit(&mut self) -> Result<(), StoreError> {
        if self.audit.is_empty() {
            return Ok(());
        }
        let mut events = std::mem::take(&mut self.audit);
        let (mut seq, mut hash) = dispatch!(self, lock_audit_head())?;
        for e in &mut events {
            chain::link(e, seq, &hash).map_err(|err| StoreError::Corrupt(err.to_string()))?;
            seq = e.seq;
            hash.clone_from(&e.hash);
        }
        dispatch!(self, insert_audit_events(&events))?;
        dispatch!(self, set_audit_head(seq, &hash))
    }

    /// Locks the chain head and returns it (`(0, GENESIS)` for an empty log); held until
    /// this transaction ends.
    pub async fn lock_audit_head(&mut self) -> Result<(i64, String), StoreError> {
        dispatch!(self, lock_audit_head())
    }

    /// Events with sequence numbers in `from..=to`, in order, at most `limit`, optionally
    /// about one subject.
    pub async fn audit_events_between(
        &mut self,
        subject: Option<&str>,
        from: i64,
        to: i64,
        limit: i64,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        dispatch!(self, audit_events_page(subject, from, to, limit))
    }

    /// Audit events after `after_seq`, optionally about one subject.
    pub async fn audit_events(
        &mut self,
        subject: Option<&str>,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        dispatch!(
            self,
            audit_events_page(subject, after_seq.saturating_add(1), i64::MAX, limit)
        )
    }

    /// First and last sequence numbers of the events written in `[from, to)`.
    pub async fn audit_seq_range(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Option<(i64, i64)>, StoreError> {
        dispatch!(self, audit_seq_range(from, to))
    }

    /// The last sequence number, 0 for an empty log.
    pub async fn audit_last_seq(&mut self) -> Result<i64, StoreError> {
        dispatch!(self, audit_last_seq())
    }

    /// Chains events written before the chain existed (run once, at start, before
    /// anything else writes). Returns how many were chained.
    pub async fn chain_legacy_events(&mut self) -> Result<usize, StoreError> {
        // Once the head exists every event since has been chained: no need to look.
        if self.audit_head().await?.is_some() {
            return Ok(0);
        }
        let legacy = dispatch!(self, unchained_audit_events())?;
        if legacy.is_empty() {
            return Ok(0);
        }
        let (mut seq, mut hash) = dispatch!(self, lock_audit_head())?;
        for mut e in legacy {
            if e.seq != seq + 1 {
                return Err(StoreError::Corrupt(format!(
                    "audit event {} has no hash but follows chained event {seq}",
                    e.seq
                )));
            }
            chain::link(&mut e, seq, &hash).map_err(|err| StoreError::Corrupt(err.to_string()))?;
            dispatch!(self, set_audit_hashes(e.seq, &e.prev_hash, &e.hash))?;
            seq = e.seq;
            hash = e.hash;
        }
        dispatch!(self, set_audit_head(seq, &hash))?;
        Ok(usize::try_from(seq).unwrap_or(0))
    }

    /// The chain head without locking it; `None` before the first chained event.
    pub async fn audit_head(&mut self) -> Result<Option<(i64, String)>, StoreError> {
        dispatch!(self, audit_head())
    }

    /// Requests alive at some time in `[from, to)`, with their reviews before `to` and
    /// how many credentials each had issued before `to`: what an evidence export reports.
    pub async fn export_access(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<ExportedAccess, StoreError> {
        Ok(ExportedAccess {
            requests: dispatch!(self, export_requests(from, to))?,
            reviews: dispatch!(self, export_reviews(from, to))?,
            issuances: dispatch!(self, export_issuances(from, to))?
                .into_iter()
                .collect(),
        })
    }

    /// Stores a signed checkpoint.
    pub async fn insert_checkpoint(&mut self, cp: &Checkpoint) -> Result<(), StoreError> {
        dispatch!(self, insert_checkpoint(cp))
    }

    /// Checkpoints numbered `from..=to`.
    pub async fn checkpoints_between(
        &mut self,
        from: i64,
        to: i64,
    ) -> Result<Vec<Checkpoint>, StoreError> {
        dispatch!(self, checkpoints_between(from, to))
    }

    /// The latest checkpoint.
    pub async fn last_checkpoint(&mut self) -> Result<Option<Checkpoint>, StoreError> {
        dispatch!(self, last_checkpoint())
    }

    /// The last checkpoint before event `seq` and the first at or after it.
    pub async fn checkpoints_around(
        &mut self,
        seq: i64,
    ) -> Result<(Option<Checkpoint>, Option<Checkpoint>), StoreError> {
        dispatch!(self, checkpoints_around(seq))
    }

    /// Checkpoints not yet written to the outside sink.
    pub async fn undelivered_checkpoints(&mut self) -> Result<Vec<Checkpoint>, StoreError> {
        dispatch!(self, undelivered_checkpoints())
    }

    /// Records whether a checkpoint reached the sink.
    pub async fn mark_checkpoint_delivery(
        &mut self,
        number: i64,
        delivered_at: Option<DateTime<Utc>>,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        dispatch!(self, mark_checkpoint_delivery(number, delivered_at, error))
    }
}
