//! Verification of a live log (through the store) and of an exported bundle (offline,
//! with only the audit public key), reporting the first sequence number that cannot be
//! trusted.

use serde::{Deserialize, Serialize};

use super::chain::{ChainVerifier, Problem, GENESIS};
use super::checkpoint::{self, Checkpoint};
use crate::keys::audit::AuditPublicKey;
use crate::store::{Store, StoreError};

/// The outcome of a verification.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// What was found, first problem first.
    pub problems: Vec<Problem>,
    /// Problems not tied to one event (a file's hash, the manifest's signature).
    pub errors: Vec<String>,
}

impl Report {
    /// Fills `ok` and `first_bad_seq` from the problems.
    pub fn conclude(mut self) -> Self {
        self.problems.sort_by_key(|p| p.seq);
        self.first_bad_seq = self.problems.first().map(|p| p.seq);
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

/// Verifies the whole live log: every event against the chain, and against every
/// checkpoint from the database and from `outside` (the sink's copies, a caller's).
pub async fn verify_store(
    store: &Store,
    key: &AuditPublicKey,
    outside: Vec<Checkpoint>,
) -> Result<Report, StoreError> {
    const PAGE: i64 = 20_000;
    let mut tx = store.begin_read().await?;
    let stored = tx.checkpoints_between(1, i64::MAX).await?;
    let (checkpoints, mut problems) = checkpoint::merge(vec![stored, outside], key);
    if let Err(p) = checkpoint::check_series(&checkpoints, key) {
        problems.push(p);
    }
    let mut verifier = ChainVerifier::new(1, GENESIS, anchors(&checkpoints));
    let mut chain_broken = false;
    loop {
        let page = tx
            .audit_events_between(None, verifier.next_seq(), i64::MAX, PAGE)
            .await?;
        if page.is_empty() {
            break;
        }
        let full = page.len() as i64 == PAGE;
        if let Err(p) = verifier.push(&page) {
            problems.push(p);
            chain_broken = true;
            break;
        }
        if !full {
            break;
        }
    }
    // Past a break the tail cannot be judged; before one, a checkpoint beyond the end can.
    if !chain_broken {
        if let Err(p) = verifier.finish() {
            problems.push(p);
        }
        // The head row is written with every append: a log shorter than its head lost its tail.
        let (head_seq, head_hash) = tx.audit_head().await?.unwrap_or((0, GENESIS.to_string()));
        let last = verifier.next_seq() - 1;
        if head_seq > last
            || (head_seq == last && head_seq > 0 && head_hash != verifier.head_hash())
        {
            problems.push(Problem::new(
                last + 1,
                "truncated",
                format!("the chain head says {head_seq} events but the log ends at event {last}"),
            ));
        }
    }
    Ok(Report {
        events: verifier.checked(),
        last_seq: verifier.next_seq() - 1,
        checkpoints: checkpoints.len(),
        problems,
        ..Report::default()
    }
    .conclude())
}
