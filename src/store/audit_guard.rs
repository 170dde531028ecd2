//! The audit log's health as this process knows it: whether the log was found cut short
//! or rewritten (then nothing that writes an audit event commits: no state change, no
//! issuance), the last chain head this process appended or checked, the newest
//! checkpoint it signed or checked, and a signal for every append.
//!
//! It lives in the store because every state change and issuance writes its audit event
//! through [`crate::store::tx::Tx::commit`]: refusing there covers every write path at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::model::audit::checkpoint::Checkpoint;

/// What this process knows of the audit log's integrity; shared by every [`crate::store::tx::Tx`]
/// of one [`crate::store::Store`].
#[derive(Debug, Default)]
pub struct AuditGuard {
    /// Set once with `broken`, read without a lock on hot paths (the gate).
    tripped: AtomicBool,
    broken: Mutex<Option<String>>,
    head: Mutex<Option<(i64, String)>>,
    checkpoint: Mutex<Option<Checkpoint>>,
    appended: tokio::sync::Notify,
}

/// What the operator is told to do once the log is found tampered with.
pub const WHAT_TO_DO: &str = "run `latchkey audit verify` (with --checkpoints DIR for copies kept elsewhere) to see which events are affected, then restore the database from a backup taken before them, or investigate and restart the broker once the log and its checkpoints agree";

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these leaves plain data behind: still usable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl AuditGuard {
    /// Marks the log as broken: from now on nothing that writes an audit event commits.
    /// The first reason is kept; it is logged once, with what to do.
    pub fn trip(&self, why: &str) {
        let mut broken = lock(&self.broken);
        if broken.is_none() {
            tracing::error!(
                problem = why,
                "the audit log was cut short or rewritten: refusing every state change and issuance; {WHAT_TO_DO}"
            );
            *broken = Some(why.to_string());
            self.tripped.store(true, Ordering::SeqCst);
        }
    }

    /// Whether the log was found broken (without taking a lock).
    pub fn is_broken(&self) -> bool {
        self.tripped.load(Ordering::SeqCst)
    }

    /// Why the log was found broken, if it was.
    pub fn broken(&self) -> Option<String> {
        lock(&self.broken).clone()
    }

    /// Refuses when the log was found broken.
    pub fn check(&self) -> Result<(), crate::store::error::StoreError> {
        match self.broken() {
            Some(why) => Err(crate::store::error::StoreError::AuditBroken(why)),
            None => Ok(()),
        }
    }

    /// The newest chain head this process appended or checked: (seq, hash).
    pub fn known_head(&self) -> Option<(i64, String)> {
        lock(&self.head).clone()
    }

    /// Remembers a chain head; an older one than already known is ignored.
    pub fn record_head(&self, seq: i64, hash: &str) {
        let mut head = lock(&self.head);
        if head.as_ref().is_none_or(|(s, _)| *s < seq) {
            *head = Some((seq, hash.to_string()));
        }
    }

    /// The newest checkpoint this process signed or checked.
    pub fn known_checkpoint(&self) -> Option<Checkpoint> {
        lock(&self.checkpoint).clone()
    }

    /// Remembers a checkpoint; an older one than already known is ignored.
    pub fn record_checkpoint(&self, cp: &Checkpoint) {
        let mut known = lock(&self.checkpoint);
        if known.as_ref().is_none_or(|k| k.number < cp.number) {
            *known = Some(cp.clone());
        }
    }

    /// Wakes whoever waits in [`Self::appended`] (called after a commit that appended).
    pub(super) fn notify_appended(&self) {
        self.appended.notify_one();
    }

    /// Waits until this process appends again.
    pub async fn appended(&self) {
        self.appended.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tripped_guard_refuses_and_keeps_its_first_reason() {
        let g = AuditGuard::default();
        assert!(g.check().is_ok());
        g.trip("events 3-4 were removed");
        g.trip("something later");
        assert_eq!(g.broken().as_deref(), Some("events 3-4 were removed"));
        assert!(matches!(
            g.check(),
            Err(crate::store::error::StoreError::AuditBroken(_))
        ));
    }

    #[test]
    fn the_known_head_only_moves_forward() {
        let g = AuditGuard::default();
        g.record_head(5, "a");
        g.record_head(3, "b");
        assert_eq!(g.known_head(), Some((5, "a".into())));
        g.record_head(6, "c");
        assert_eq!(g.known_head(), Some((6, "c".into())));
    }
}
