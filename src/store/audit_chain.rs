//! Appending to the audit log: events queued in a transaction are chained under the
//! head's lock at commit and written with the change they record; events written before
//! the chain existed are chained once at start.

use crate::model::audit::{chain, AuditEvent};
use crate::model::domain::to_ms;
use crate::store::audit_row::{AuditRow, AUDIT_COLUMNS};
use crate::store::error::StoreError;
use crate::store::statement::sql;
use crate::store::tx::Backend;
use crate::store::tx::Tx;
use crate::store::{postgres, sqlite};

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
        let (mut seq, mut hash) = self.lock_audit_head().await?;
        let known = self.guard.known_head();
        let probe = known.as_ref().map_or(seq, |k| k.0);
        let (stored, last) = self.audit_events_at(seq, probe).await?;
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
            prev_at = prev_at.max(crate::model::domain::to_ms(e.at));
            e.at = crate::model::domain::from_ms(prev_at);
            chain::link(e, seq, &hash).map_err(|err| StoreError::Corrupt(err.to_string()))?;
            seq = e.seq;
            hash.clone_from(&e.hash);
        }
        self.insert_audit_events(&events).await?;
        self.set_audit_head(seq, &hash).await?;
        self.flushed = Some((seq, hash));
        Ok(())
    }

    /// Locks the chain head and returns it (`(0, GENESIS)` for an empty log); held until
    /// this transaction ends.
    pub async fn lock_audit_head(&mut self) -> Result<(i64, String), StoreError> {
        match self.backend() {
            Backend::Sqlite => sqlite::lock_audit_head(self).await,
            Backend::Postgres => postgres::lock_audit_head(self).await,
        }
    }

    /// Chains events written before the chain existed (run once, at start, before
    /// anything else writes). Returns how many were chained.
    pub async fn chain_legacy_events(&mut self) -> Result<usize, StoreError> {
        // Once the head exists every event since has been chained: no need to look.
        if self.audit_head().await?.is_some() {
            return Ok(0);
        }
        let legacy = self.unchained_audit_events().await?;
        if legacy.is_empty() {
            return Ok(0);
        }
        let (mut seq, mut hash) = self.lock_audit_head().await?;
        for mut e in legacy {
            if e.seq != seq + 1 {
                return Err(StoreError::Corrupt(format!(
                    "audit event {} has no hash but follows chained event {seq}",
                    e.seq
                )));
            }
            chain::link(&mut e, seq, &hash).map_err(|err| StoreError::Corrupt(err.to_string()))?;
            self.set_audit_hashes(e.seq, &e.prev_hash, &e.hash).await?;
            seq = e.seq;
            hash = e.hash;
        }
        self.set_audit_head(seq, &hash).await?;
        self.flushed = Some((seq, hash));
        Ok(usize::try_from(seq).unwrap_or(0))
    }

    /// Inserts events that already have their places in the chain, many rows per
    /// statement.
    async fn insert_audit_events(&mut self, events: &[AuditEvent]) -> Result<(), StoreError> {
        // 16 parameters a row; PostgreSQL allows 65,535 in one statement.
        for chunk in events.chunks(1000) {
            let marks = match self.backend() {
                Backend::Sqlite => sqlite::row_marks(chunk.len(), 16),
                Backend::Postgres => postgres::row_marks(chunk.len(), 16),
            };
            let mut q = sql(format!(
                "INSERT INTO audit_events (seq, id, type, at, actor, subject, resource, role, outcome, reason,
                    request_id, client_addr, user_agent, details, prev_hash, hash) VALUES {marks}"
            ));
            for e in chunk {
                let details = crate::model::audit::canonical::to_string(&e.details)
                    .map_err(|err| StoreError::Corrupt(err.to_string()))?;
                q = q
                    .bind(e.seq)
                    .bind(&e.id)
                    .bind(&e.kind)
                    .bind(to_ms(e.at))
                    .bind(&e.actor)
                    .bind(&e.subject)
                    .bind(&e.resource)
                    .bind(&e.role)
                    .bind(&e.outcome)
                    .bind(&e.reason)
                    .bind(&e.request_id)
                    .bind(&e.client_addr)
                    .bind(&e.user_agent)
                    .bind(details)
                    .bind(&e.prev_hash)
                    .bind(&e.hash);
            }
            q.execute(self).await?;
        }
        Ok(())
    }

    /// Moves the chain head (the caller holds its lock).
    async fn set_audit_head(&mut self, seq: i64, hash: &str) -> Result<(), StoreError> {
        sql("INSERT INTO audit_head (id, seq, hash) VALUES (1, $1, $2)
             ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash")
        .bind(seq)
        .bind(hash)
        .execute(self)
        .await?;
        Ok(())
    }

    /// Events written before the chain existed (no hash yet), in order.
    async fn unchained_audit_events(&mut self) -> Result<Vec<AuditEvent>, StoreError> {
        let rows: Vec<AuditRow> = sql(format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE hash IS NULL ORDER BY seq"
        ))
        .fetch_all(self)
        .await?;
        Ok(rows.into_iter().map(AuditEvent::from).collect())
    }

    /// Gives a pre-chain event its hashes.
    async fn set_audit_hashes(
        &mut self,
        seq: i64,
        prev_hash: &str,
        hash: &str,
    ) -> Result<(), StoreError> {
        sql("UPDATE audit_events SET prev_hash = $2, hash = $3 WHERE seq = $1")
            .bind(seq)
            .bind(prev_hash)
            .bind(hash)
            .execute(self)
            .await?;
        Ok(())
    }

    /// The stored events at sequence numbers `a` and `b` as (seq, hash, at), and the
    /// last sequence number in the log: what an append compares the head with.
    async fn audit_events_at(
        &mut self,
        a: i64,
        b: i64,
    ) -> Result<(Vec<(i64, Option<String>, i64)>, Option<i64>), StoreError> {
        let rows = sql("SELECT seq, hash, at FROM audit_events WHERE seq = $1 OR seq = $2")
            .bind(a)
            .bind(b)
            .fetch_all(self)
            .await?;
        let (last,): (Option<i64>,) = sql("SELECT MAX(seq) FROM audit_events")
            .fetch_one(self)
            .await?;
        Ok((rows, last))
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
