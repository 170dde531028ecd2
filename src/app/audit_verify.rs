//! Verification of a live log (through the store) and of an exported bundle (offline,
//! with only the audit public key), reporting the first sequence number that cannot be
//! trusted.

use serde::{Deserialize, Serialize};

use crate::model::audit::chain::{ChainVerifier, GENESIS};

use crate::adapters::keys::audit::AuditPublicKey;
use crate::model::audit::checkpoint;
use crate::model::audit::checkpoint::Checkpoint;
use crate::model::audit::problem::Problem;
use crate::store::{Store, StoreError, Tx};

/// The outcome of a verification.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = VerifyReport)]
pub struct Report {
    /// True when nothing was found wrong.
    pub ok: bool,
    /// Events checked.
    pub events: u64,
    /// The last sequence number checked.
    pub last_seq: i64,
    /// Checkpoints checked (well signed, from every source).
    pub checkpoints: usize,
    /// The first sequence number that cannot be trusted.
    pub first_bad_seq: Option<i64>,
    /// Whether `first_bad_seq` is exactly the first event changed or removed, or only the
    /// first the evidence can no longer vouch for.
    #[serde(default)]
    pub first_bad_exact: bool,
    /// What was found, first problem first.
    pub problems: Vec<Problem>,
    /// Problems not tied to one event (a file's hash, the manifest's signature).
    pub errors: Vec<String>,
}

impl Report {
    /// Fills `ok` and `first_bad_seq` from the problems.
    pub fn conclude(mut self) -> Self {
        // The earliest first; of two starting together, the one that pins it exactly.
        self.problems.sort_by_key(|p| (p.seq, !p.exact));
        self.first_bad_seq = self.problems.first().map(|p| p.seq);
        self.first_bad_exact = self.problems.first().is_some_and(|p| p.exact);
        self.ok = self.problems.is_empty() && self.errors.is_empty();
        self
    }
}

/// The anchors a [`ChainVerifier`] checks: (event count, head hash, number).
pub fn anchors(checkpoints: &[Checkpoint]) -> Vec<(i64, String, i64)> {
    checkpoints
        .iter()
        .map(|c| (c.events, c.head_hash.clone(), c.number))
        .collect()
}

/// At most this many problems are listed: past them the log is plainly not to be trusted.
const MAX_PROBLEMS: usize = 100;

/// Verifies the whole live log: every event against the chain, and against every
/// checkpoint from the database and from `outside` (the sink's copies, a caller's), and
/// against `known_head`, the last event the running broker itself appended. Goes on past
/// each problem, so each range in doubt is reported.
pub async fn verify_store(
    store: &Store,
    key: &AuditPublicKey,
    outside: Vec<Checkpoint>,
    known_head: Option<(i64, String)>,
) -> Result<Report, StoreError> {
    let mut tx = store.begin_read().await?;
    // Checkpoints (and, from the caller, the sink's and the broker's memory), then the
    // head, then events up to it only: on PostgreSQL each statement sees what committed
    // meanwhile, and in this order an honest append or checkpoint made while this runs is
    // never taken for a cut tail.
    let stored = tx.checkpoints_between(1, i64::MAX).await?;
    let (head_seq, head_hash) = tx.audit_head().await?.unwrap_or((0, GENESIS.to_string()));
    let (checkpoints, mut problems) = checkpoint::merge(vec![stored, outside], key);
    if let Err(p) = checkpoint::check_series(&checkpoints, key) {
        problems.push(p);
    }
    let mut anchors = anchors(&checkpoints);
    // Number 0: the broker's own memory, as strong as a checkpoint while it runs.
    anchors.extend(known_head.map(|(seq, hash)| (seq, hash, 0)));
    let mut verifier = ChainVerifier::new(1, GENESIS, anchors);
    walk_to_head(&mut tx, &mut verifier, head_seq, &mut problems).await?;
    if let Err(p) = verifier.finish() {
        problems.push(p);
    }
    let last = verifier.next_seq() - 1;
    problems.extend(short_of_head(
        last,
        (head_seq, &head_hash),
        verifier.head_hash(),
    ));
    problems.extend(beyond_head(&mut tx, head_seq).await?);
    Ok(Report {
        events: verifier.checked(),
        last_seq: last,
        checkpoints: checkpoints.len(),
        problems,
        ..Report::default()
    }
    .conclude())
}

/// Feeds the verifier the events up to `head_seq`, page by page, until they end or
/// [`MAX_PROBLEMS`] are found.
async fn walk_to_head(
    tx: &mut Tx,
    verifier: &mut ChainVerifier,
    head_seq: i64,
    problems: &mut Vec<Problem>,
) -> Result<(), StoreError> {
    const PAGE: i64 = 20_000;
    loop {
        let page = tx
            .audit_events_between(None, verifier.next_seq(), head_seq, PAGE)
            .await?;
        if page.is_empty() {
            break;
        }
        let full = page.len() as i64 == PAGE;
        verifier.push_all(&page, problems, MAX_PROBLEMS);
        if !full || problems.len() >= MAX_PROBLEMS {
            break;
        }
    }
    Ok(())
}

/// A log that ends before the head row, or whose last event is not the one the head
/// names. The head row is written with every append: a log shorter than its head lost
/// its tail.
fn short_of_head(
    last: i64,
    (head_seq, head_hash): (i64, &str),
    chain_hash: &str,
) -> Option<Problem> {
    if head_seq > last {
        Some(
            Problem::new(
                last + 1,
                "truncated",
                format!(
                    "events {}-{head_seq} were removed: the chain head says {head_seq} events but the log ends at event {last}",
                    last + 1
                ),
            )
            .through(head_seq)
            .exact(),
        )
    } else if head_seq == last && head_seq > 0 && head_hash != chain_hash {
        Some(
            Problem::new(
                last,
                "truncated",
                format!("event {last} is not the one the chain head names: it was rewritten"),
            )
            .through(last),
        )
    } else {
        None
    }
}

/// Rows beyond the head: an honest append moves the head in the same commit, so a head
/// read after them is at least as far.
async fn beyond_head(tx: &mut Tx, head_seq: i64) -> Result<Option<Problem>, StoreError> {
    let beyond = tx.audit_last_seq().await?;
    if beyond > head_seq {
        let now = tx.audit_head().await?.map_or(0, |h| h.0);
        if beyond > now {
            return Ok(Some(
                Problem::new(
                    now + 1,
                    "inserted",
                    format!(
                        "events {}-{beyond} lie beyond the chain head (event {now})",
                        now + 1
                    ),
                )
                .through(beyond)
                .exact(),
            ));
        }
    }
    Ok(None)
}
