//! What the check since the newest checkpoint (`audit_check`) can find wrong, each a
//! [`Problem`] with its range of sequence numbers: judgements over what was read, with
//! no reads of their own.

use crate::adapters::keys::audit::AuditPublicKey;
use crate::model::audit::chain::ChainVerifier;
use crate::model::audit::checkpoint::Checkpoint;
use crate::model::audit::problem::Problem;

/// A checkpoint, of those `known`, not signed by the audit key.
pub(super) fn badly_signed(
    known: &[(String, Checkpoint)],
    key: &AuditPublicKey,
) -> Option<Problem> {
    let (place, cp) = known.iter().find(|(_, c)| !c.signature_valid(key))?;
    Some(Problem::new(
        cp.events.max(1),
        "checkpoint_signature",
        format!(
            "checkpoint {} in {place} is not signed by the audit key {}",
            cp.number, key.kid
        ),
    ))
}

/// Another place holding a different checkpoint under the number of the newest, `best`.
pub(super) fn conflicting(
    known: &[(String, Checkpoint)],
    place: &str,
    best: &Checkpoint,
) -> Option<Problem> {
    let (other, cp) = known
        .iter()
        .find(|(_, c)| c.number == best.number && c.to_json() != best.to_json())?;
    Some(Problem::new(
        best.events.min(cp.events) + 1,
        "checkpoint_conflict",
        format!(
            "{place} and {other} hold two different checkpoints numbered {}",
            best.number
        ),
    ))
}

/// The database lacking checkpoints up to `best`, which `place` holds.
pub(super) fn removed_from_database(
    db: Option<&Checkpoint>,
    place: &str,
    best: &Checkpoint,
) -> Option<Problem> {
    let db_number = db.map_or(0, |c| c.number);
    (db_number < best.number).then(|| {
        Problem::new(
            best.events + 1,
            "checkpoint_removed",
            format!(
                "checkpoints {}-{} were removed from the database: {place} holds checkpoint {} (covering {} events)",
                db_number + 1,
                best.number,
                best.number,
                best.events
            ),
        )
    })
}

/// A segment that ends before the head, or whose last event is not the one the head names.
pub(super) fn segment_short(
    verifier: &ChainVerifier,
    from: i64,
    (head_seq, head_hash): (i64, &str),
) -> Option<Problem> {
    let last = verifier.next_seq() - 1;
    if last < head_seq {
        return Some(
            Problem::new(
                last + 1,
                "truncated",
                format!(
                    "events {}-{head_seq} were removed: the chain head says {head_seq} events but the log ends at {last}",
                    last + 1
                ),
            )
            .through(head_seq)
            .exact(),
        );
    }
    if head_seq > from && verifier.head_hash() != head_hash {
        return Some(
            Problem::new(
                head_seq,
                "truncated",
                format!("event {head_seq} is not the one the chain head names: it was rewritten"),
            )
            .through(head_seq),
        );
    }
    None
}
