//! Whether the log still holds what was signed: before the broker signs a checkpoint, and
//! when it starts, the log since the newest checkpoint known anywhere (the database, the
//! sink, this process's memory) must still end in the event that checkpoint signed and
//! chain from it to the head, with nothing beyond the head. When it does not, the broker
//! signs nothing and refuses to act (see [`crate::store::AuditGuard`]).

use crate::model::audit::chain::ChainVerifier;

use crate::adapters::sink;
use crate::app::audit_findings::{badly_signed, conflicting, removed_from_database, segment_short};
use crate::app::audit_verify as verify;
use crate::app::audit_verify::Report;
use crate::config::CheckpointSink;
use crate::model::audit::checkpoint::Checkpoint;
use crate::model::audit::problem::Problem;
use crate::store::{StoreError, Tx};

use crate::app::error::ServiceError;
use crate::app::services::Audit;

/// Events read at once while checking the segment since the newest checkpoint.
const PAGE: i64 = 5_000;

impl Audit {
    /// At start: the log must agree with the newest checkpoint in the database and in the
    /// sink. Returns what is wrong, as a full verification report, when it does not.
    pub async fn check_audit_at_start(&self) -> Result<Option<Report>, ServiceError> {
        let mut tx = self.core.store.begin().await?;
        let (events, head) = tx.lock_audit_head().await?;
        let problem = match self
            .check_since_checkpoint(&mut tx, (events, &head))
            .await?
        {
            Ok(_) => {
                if events > 0 {
                    self.core.store.audit_guard().record_head(events, &head);
                }
                return Ok(None);
            }
            Err(p) => p,
        };
        drop(tx);
        let mut copies = self.sink_checkpoints();
        copies.extend(self.sink_newest().await.map(|(_, c)| c));
        let report = verify::verify_store(&self.core.store, self.audit_key.public(), copies, None);
        let mut report = report.await?;
        report.problems.push(problem);
        Ok(Some(report.conclude()))
    }

    /// The newest checkpoint held outside the database: the sink directory's newest file,
    /// or the one an `https` sink last acknowledged (remembered in the data directory).
    /// A sink that cannot be read is logged and counts as holding nothing.
    pub(super) async fn sink_newest(&self) -> Option<(String, Checkpoint)> {
        let (place, read) = match &self.core.config.audit.checkpoint_sink {
            None => return None,
            Some(CheckpointSink::Dir(dir)) => {
                let dir = dir.clone();
                let place = format!("the sink directory {}", dir.display());
                let read = tokio::task::spawn_blocking(move || sink::newest_in_dir(&dir)).await;
                (place, read)
            }
            Some(CheckpointSink::Http(_)) => {
                let data = self.core.config.data_dir.clone();
                let place = format!(
                    "the record of the sink's acknowledgements, {}",
                    sink::acknowledged_file(&data).display()
                );
                (
                    place,
                    tokio::task::spawn_blocking(move || sink::acknowledged(&data)).await,
                )
            }
        };
        match read.map_err(|e| e.to_string()).and_then(|r| r) {
            Ok(cp) => cp.map(|cp| (place, cp)),
            Err(e) => {
                tracing::warn!(error = %e, "could not read the newest checkpoint from the audit sink");
                None
            }
        }
    }

    /// Checks the log under the locked head `(seq, hash)` against the newest checkpoint
    /// known anywhere, and the segment after it. Returns that checkpoint (the one a new
    /// checkpoint follows), or the first problem, naming its range of sequence numbers.
    pub(super) async fn check_since_checkpoint(
        &self,
        tx: &mut Tx,
        head: (i64, &str),
    ) -> Result<Result<Option<Checkpoint>, Problem>, StoreError> {
        let db = tx.last_checkpoint().await?;
        let known = self.known_checkpoints(db.clone()).await;
        if let Some(p) = badly_signed(&known, self.audit_key.public()) {
            return Ok(Err(p));
        }
        let Some((place, best)) = known.iter().max_by_key(|(_, c)| c.number).cloned() else {
            return Ok(self
                .check_segment(tx, 0, crate::model::audit::chain::GENESIS, head)
                .await?
                .map(|()| None));
        };
        if let Some(p) = conflicting(&known, &place, &best) {
            return Ok(Err(p));
        }
        if let Err(p) = self.check_anchor(tx, &place, &best, head).await? {
            return Ok(Err(p));
        }
        if let Err(p) = self
            .check_segment(tx, best.events, &best.head_hash, head)
            .await?
        {
            return Ok(Err(p));
        }
        if let Some(p) = removed_from_database(db.as_ref(), &place, &best) {
            return Ok(Err(p));
        }
        self.core.store.audit_guard().record_checkpoint(&best);
        Ok(Ok(Some(best)))
    }

    /// The newest checkpoint of each place that holds one, with the place in words: the
    /// database's (`db`, read by the caller), the sink's, this broker's memory.
    async fn known_checkpoints(&self, db: Option<Checkpoint>) -> Vec<(String, Checkpoint)> {
        let mut known: Vec<(String, Checkpoint)> = Vec::new();
        known.extend(db.map(|c| ("the database".to_string(), c)));
        known.extend(self.sink_newest().await);
        let memory = self.core.store.audit_guard().known_checkpoint();
        known.extend(memory.map(|c| ("this broker's memory".to_string(), c)));
        known
    }

    /// The signed event must still be there, with the signed hash.
    async fn check_anchor(
        &self,
        tx: &mut Tx,
        place: &str,
        cp: &Checkpoint,
        (head_seq, _): (i64, &str),
    ) -> Result<Result<(), Problem>, StoreError> {
        if cp.events == 0 {
            return Ok(Ok(()));
        }
        let stored = tx
            .audit_events_between(None, cp.events, cp.events, 1)
            .await?;
        let last = tx.audit_last_seq().await?.min(head_seq);
        let covers = format!(
            "checkpoint {} in {place} covers seq {} with hash {}",
            cp.number, cp.events, cp.head_hash
        );
        match stored.first() {
            None => Ok(Err(Problem::new(
                last + 1,
                "truncated",
                format!(
                    "events {}-{} were removed or rewritten: {covers}, the log ends at {last}",
                    last + 1,
                    cp.events
                ),
            )
            .through(cp.events)
            .exact())),
            Some(e) if e.hash != cp.head_hash => {
                let before = tx.checkpoints_between(cp.number - 1, cp.number - 1).await?;
                let from = before.first().map_or(1, |b| b.events + 1);
                Ok(Err(Problem::new(
                    from,
                    "checkpoint_mismatch",
                    format!(
                        "events {from}-{} were rewritten: {covers}, the stored event {} has hash {}",
                        cp.events, cp.events, e.hash
                    ),
                )
                .through(cp.events)))
            }
            Some(_) if head_seq < cp.events => Ok(Err(Problem::new(
                head_seq + 1,
                "truncated",
                format!("the chain head was set back to event {head_seq}: {covers}"),
            )
            .through(cp.events)
            .exact())),
            Some(_) => Ok(Ok(())),
        }
    }

    /// Events `from+1..=head` chain from `from_hash` to the head, and nothing lies beyond.
    async fn check_segment(
        &self,
        tx: &mut Tx,
        from: i64,
        from_hash: &str,
        (head_seq, head_hash): (i64, &str),
    ) -> Result<Result<(), Problem>, StoreError> {
        // What this broker appended itself must still be there, as it wrote it.
        let known = self.core.store.audit_guard().known_head();
        let anchors = known.filter(|k| k.0 > from).map(|(s, h)| (s, h, 0));
        let mut verifier = ChainVerifier::new(from + 1, from_hash, anchors.into_iter().collect());
        if let Err(p) = walk_segment(tx, &mut verifier, head_seq).await? {
            return Ok(Err(p));
        }
        if let Err(p) = verifier.finish() {
            return Ok(Err(p));
        }
        if let Some(p) = segment_short(&verifier, from, (head_seq, head_hash)) {
            return Ok(Err(p));
        }
        let beyond = tx.audit_last_seq().await?;
        if beyond > head_seq {
            return Ok(Err(Problem::new(
                head_seq + 1,
                "inserted",
                format!(
                    "events {}-{beyond} lie beyond the chain head (event {head_seq})",
                    head_seq + 1
                ),
            )
            .through(beyond)
            .exact()));
        }
        Ok(Ok(()))
    }
}

/// Feeds the verifier the events up to `head_seq`, page by page; stops at the first problem.
async fn walk_segment(
    tx: &mut Tx,
    verifier: &mut ChainVerifier,
    head_seq: i64,
) -> Result<Result<(), Problem>, StoreError> {
    while verifier.next_seq() <= head_seq {
        let page = tx
            .audit_events_between(None, verifier.next_seq(), head_seq, PAGE)
            .await?;
        if page.is_empty() {
            break;
        }
        if let Err(p) = verifier.push(&page) {
            return Ok(Err(p));
        }
    }
    Ok(Ok(()))
}
