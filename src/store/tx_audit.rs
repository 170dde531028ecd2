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

/// Whether the locked head `(seq, hash)` agrees with the stored log (`stored`: the rows at
/// the head and at the `known` head's seq as (seq, hash, at); `last`: the highest seq) and
/// with the head this process last knew. Returns the head event's `at` in milliseconds
/// (`i64::MIN` for an empty log), or what is wrong, naming the sequence numbers.
fn head_agrees(
    (seq, hash): (i64, &str),
    stored: &[(i64, Option<String>, i64)],
    last: Option<i64>,
    known: Option<&(i64, String)>,
) -> Result<i64, String> {
    let at_seq = |s: i64| stored.iter().find(|r| r.0 == s);
    let last = last.unwrap_or(0);
    if last > seq {
        return Err(format!(
            "events {}-{last} lie beyond the chain head (event {seq}): they were inserted, or the head was set back",
            seq + 1
        ));
    }
    if let Some((k, khash)) = known {
        if *k > seq {
            return Err(format!(
                "events {}-{k} were removed: this broker appended event {k} (hash {khash}), but the chain head says {seq} events",
                seq + 1
            ));
        }
        if at_seq(*k).is_some_and(|r| r.1.as_deref() != Some(khash.as_str())) {
            return Err(format!(
                "event {k} was rewritten: this broker appended it with hash {khash}, the stored one differs"
            ));
        }
    }
    if seq == 0 {
        return Ok(i64::MIN);
    }
    match at_seq(seq) {
        None => Err(format!(
            "events {}-{seq} were removed: the chain head names event {seq} but the log ends at event {last}",
            last + 1
        )),
        Some((_, h, _)) if h.as_deref() != Some(hash) => Err(format!(
            "event {seq} was rewritten: the chain head names hash {hash}, the stored event has another"
        )),
        Some((_, _, at)) => Ok(*at),
    }
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
    ///
    /// Refused once the log was found broken. Under the lock the head is compared with
    /// the stored log (the event it names must be there with its hash, and nothing after
    /// it) and with the last head this process knew; a mismatch marks the log broken.
    /// Each event's `at` is settled here, never earlier than the event before it, so
    /// `seq` and `at` grow together even if the clock steps back.
    pub(super) async fn flush_audit(&mut self) -> Result<(), StoreError> {
        if self.audit.is_empty() {
            return Ok(());
        }
        self.guard.check()?;
        let mut events = std::mem::take(&mut self.audit);
        let (mut seq, mut hash) = dispatch!(self, lock_audit_head())?;
        let known = self.guard.known_head();
        let probe = known.as_ref().map_or(seq, |k| k.0);
        let (stored, last) = dispatch!(self, audit_events_at(seq, probe))?;
        let mut prev_at = match head_agrees((seq, &hash), &stored, last, known.as_ref()) {
            Ok(at) => at,
            Err(why) => {
                self.guard.trip(&why);
                return Err(StoreError::AuditBroken(why));
            }
        };
        for e in &mut events {
            // The caller's clock (time is passed in, so tests drive it), but never earlier
            // than the event before: an event made before a slow call, or under a clock
            // that stepped back, takes its place's time rather than contradicting it.
            prev_at = prev_at.max(crate::domain::to_ms(e.at));
            e.at = crate::domain::from_ms(prev_at);
            chain::link(e, seq, &hash).map_err(|err| StoreError::Corrupt(err.to_string()))?;
            seq = e.seq;
            hash.clone_from(&e.hash);
        }
        dispatch!(self, insert_audit_events(&events))?;
        dispatch!(self, set_audit_head(seq, &hash))?;
        self.flushed = Some((seq, hash));
        Ok(())
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
        self.flushed = Some((seq, hash));
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

#[cfg(test)]
mod tests {
    use super::head_agrees;

    fn rows(r: &[(i64, &str)]) -> Vec<(i64, Option<String>, i64)> {
        r.iter()
            .map(|(s, h)| (*s, Some(h.to_string()), *s * 10))
            .collect()
    }

    #[test]
    fn an_append_refuses_a_head_at_odds_with_the_log_or_with_what_it_appended() {
        let fine = rows(&[(7, "h7")]);
        assert_eq!(head_agrees((7, "h7"), &fine, Some(7), None), Ok(70));
        assert_eq!(head_agrees((0, "g"), &[], None, None), Ok(i64::MIN));
        // Rows beyond the head.
        let e = head_agrees((7, "h7"), &fine, Some(9), None).unwrap_err();
        assert!(e.starts_with("events 8-9 lie beyond"), "{e}");
        // The head's event gone, or another.
        let e = head_agrees((7, "h7"), &[], Some(5), None).unwrap_err();
        assert!(e.starts_with("events 6-7 were removed"), "{e}");
        let e = head_agrees((7, "h7"), &rows(&[(7, "x")]), Some(7), None).unwrap_err();
        assert!(e.starts_with("event 7 was rewritten"), "{e}");
        // Set back below what this broker appended, or its event rewritten.
        let e = head_agrees((7, "h7"), &fine, Some(7), Some(&(12, "h12".into()))).unwrap_err();
        assert!(e.starts_with("events 8-12 were removed"), "{e}");
        let both = rows(&[(7, "h7"), (5, "other")]);
        let e = head_agrees((7, "h7"), &both, Some(7), Some(&(5, "h5".into()))).unwrap_err();
        assert!(e.starts_with("event 5 was rewritten"), "{e}");
    }
}
