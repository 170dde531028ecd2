//! The audit log as a service: checkpoints (signed, stored, sent outside), live
//! verification, reading and following the log (evidence exports are in
//! `audit_export`). Reading the log needs `audit_read` on `audit`.

use chrono::{DateTime, Utc};

use crate::adapters::sink;
use crate::app::audit_verify as verify;
use crate::app::audit_verify::Report;
use crate::app::error::ServiceError;
use crate::app::services::Audit;
use crate::model::audit::checkpoint::Checkpoint;
use crate::model::audit::AuditEvent;
use crate::model::domain::Principal;
use crate::model::policy::Action;
use crate::store::Fence;

/// Why a checkpoint is being made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointTrigger {
    /// The interval timer: skipped if another replica made one less than half an interval ago.
    Interval,
    /// Events were appended: signed once `audit.checkpoint_every_events` have been since the last.
    Events,
    /// Graceful shutdown: signed if anything happened since the last, so a stopped broker
    /// leaves no unprotected tail.
    Shutdown,
    /// Someone asked (the API, an export).
    OnDemand,
}

impl Audit {
    /// Whether the policy lets `p` read and export the audit log.
    pub fn can_read_audit(&self, p: &Principal) -> bool {
        self.core
            .policy
            .current()
            .check(p.policy_name(), &p.groups, "audit", Action::AuditRead)
            .allowed
    }

    pub(super) fn require_audit_read(&self, p: &Principal) -> Result<(), ServiceError> {
        if self.can_read_audit(p) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(
                "reading the audit log needs `audit_read` on `audit` in the policy".into(),
            ))
        }
    }

    /// Signs the chain head as a new checkpoint, stores it, and sends every checkpoint
    /// the sink lacks. Returns the new checkpoint, or `None` when the trigger found no
    /// need (a fresh one made by another replica, too few events since the last).
    ///
    /// First the log since the newest checkpoint is checked ([`Audit::check_since_checkpoint`]):
    /// if it does not hold, nothing is signed and the broker refuses to act from then on.
    pub async fn checkpoint(
        &self,
        trigger: CheckpointTrigger,
        now: DateTime<Utc>,
    ) -> Result<Option<Checkpoint>, ServiceError> {
        self.checkpoint_fenced(trigger, now, &Fence::Sole).await
    }

    /// [`Audit::checkpoint`], written only while `fence` holds: the interval's checkpoint
    /// is the leader's, so one replica signs it.
    pub async fn checkpoint_fenced(
        &self,
        trigger: CheckpointTrigger,
        now: DateTime<Utc>,
        fence: &Fence,
    ) -> Result<Option<Checkpoint>, ServiceError> {
        let guard = self.core.store.audit_guard().clone();
        guard.check()?;
        let mut tx = self.core.store.begin().await?;
        let (events, head) = tx.lock_audit_head().await?;
        tx.check_fence(fence).await?;
        let last = tx.last_checkpoint().await?;
        let half = chrono::Duration::from_std(self.core.config.audit.checkpoint_interval / 2)
            .unwrap_or_default();
        let since = events - last.as_ref().map_or(0, |l| l.events);
        let skip = match trigger {
            CheckpointTrigger::Interval => last.as_ref().is_some_and(|l| now - l.at < half),
            CheckpointTrigger::Events => since < self.core.config.audit.checkpoint_every_events,
            CheckpointTrigger::Shutdown => last.is_some() && since == 0,
            CheckpointTrigger::OnDemand => false,
        };
        if skip {
            // Another replica's checkpoint, if genuine, is as good as one of ours.
            if let Some(l) = last
                .as_ref()
                .filter(|l| l.signature_valid(self.audit_key.public()))
            {
                guard.record_checkpoint(l);
            }
            return Ok(None);
        }
        let prev = match self
            .check_since_checkpoint(&mut tx, (events, &head))
            .await?
        {
            Ok(prev) => prev,
            Err(problem) => {
                let why = format!("{}: {}", problem.range(), problem.message);
                guard.trip(&why);
                return Err(crate::store::StoreError::AuditBroken(why).into());
            }
        };
        let cp = Checkpoint::sign(&self.audit_key, prev.as_ref(), events, &head, now);
        tx.insert_checkpoint(&cp).await?;
        tx.commit().await?;
        guard.record_checkpoint(&cp);
        tracing::debug!(
            number = cp.number,
            events,
            ?trigger,
            "audit checkpoint signed"
        );
        self.deliver_checkpoints().await;
        Ok(Some(cp))
    }

    /// Sends undelivered checkpoints to the sink, oldest first; a failure is logged and
    /// retried on the next round.
    pub async fn deliver_checkpoints(&self) {
        let Some(sink_config) = &self.core.config.audit.checkpoint_sink else {
            return;
        };
        let pending = match self.undelivered().await {
            Ok(p) => p,
            Err(e) => return tracing::error!(error = %e, "reading undelivered checkpoints"),
        };
        for cp in pending {
            let mut outcome = sink::deliver(sink_config, &self.http, &cp).await;
            if outcome.is_ok() && matches!(sink_config, crate::config::CheckpointSink::Http(_)) {
                let (dir, acked) = (self.core.config.data_dir.clone(), cp.clone());
                outcome =
                    tokio::task::spawn_blocking(move || sink::remember_acknowledged(&dir, &acked))
                        .await
                        .map_err(|e| e.to_string())
                        .and_then(|r| r);
            }
            if let Err(e) = &outcome {
                tracing::error!(number = cp.number, error = %e, "audit checkpoint not delivered to its sink; retrying later");
            }
            if let Err(e) = self.record_delivery(cp.number, &outcome).await {
                tracing::error!(error = %e, "recording a checkpoint delivery");
            }
            if outcome.is_err() {
                break;
            }
        }
    }

    async fn undelivered(&self) -> Result<Vec<Checkpoint>, crate::store::StoreError> {
        self.core
            .store
            .begin_read()
            .await?
            .undelivered_checkpoints()
            .await
    }

    async fn record_delivery(
        &self,
        number: i64,
        outcome: &Result<(), String>,
    ) -> Result<(), crate::store::StoreError> {
        let (at, error) = match outcome {
            Ok(()) => (Some(Utc::now()), None),
            Err(e) => (None, Some(e.as_str())),
        };
        let mut tx = self.core.store.begin().await?;
        tx.mark_checkpoint_delivery(number, at, error).await?;
        tx.commit().await
    }

    /// The checkpoints held outside: the sink directory's files, when the sink is one.
    pub(super) fn sink_checkpoints(&self) -> Vec<Checkpoint> {
        match &self.core.config.audit.checkpoint_sink {
            Some(crate::config::CheckpointSink::Dir(dir)) if dir.exists() => {
                sink::read_checkpoint_dir(dir).unwrap_or_else(|e| {
                    tracing::error!(error = %e, "reading the checkpoint sink");
                    Vec::new()
                })
            }
            _ => Vec::new(),
        }
    }

    /// Verifies the whole live log against its chain and every checkpoint: the database's,
    /// the sink directory's, and `outside` (the caller's copies).
    pub async fn verify_audit(
        &self,
        p: &Principal,
        outside: Vec<Checkpoint>,
    ) -> Result<Report, ServiceError> {
        self.require_audit_read(p)?;
        let guard = self.core.store.audit_guard();
        let mut copies = self.sink_checkpoints();
        copies.extend(self.sink_newest().await.map(|(_, c)| c));
        copies.extend(guard.known_checkpoint());
        let from_caller = !outside.is_empty();
        copies.extend(outside);
        let report = verify::verify_store(
            &self.core.store,
            self.audit_key.public(),
            copies,
            guard.known_head(),
        )
        .await?;
        // What the log itself shows stops the broker; a caller's badly signed copy does not.
        if let Some(p) = report
            .problems
            .iter()
            .find(|p| !(from_caller && p.code == "checkpoint_signature"))
        {
            guard.trip(&format!("{}: {}", p.range(), p.message));
        }
        Ok(report)
    }

    /// The last event's sequence number.
    pub async fn audit_head_seq(&self, p: &Principal) -> Result<i64, ServiceError> {
        self.require_audit_read(p)?;
        Ok(self.core.store.begin_read().await?.audit_last_seq().await?)
    }

    /// Events after `after`, at most `limit`. With `wait`, waits up to that long for the
    /// first new event (long polling, so `latchkey audit tail` follows the log).
    pub async fn audit_events(
        &self,
        p: &Principal,
        after: i64,
        limit: i64,
        wait: std::time::Duration,
    ) -> Result<Vec<AuditEvent>, ServiceError> {
        self.require_audit_read(p)?;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let events = self
                .core
                .store
                .begin_read()
                .await?
                .audit_events(None, after, limit.clamp(1, 10_000))
                .await?;
            if !events.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(events);
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
}
