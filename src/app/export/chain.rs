//! The chain files of a bundle: the period's events and the chain out to the nearest
//! checkpoints on either side ([`Span`]), written page by page and verified as they go.

use std::path::Path;

use crate::app::export::files::{ExportError, HashedFile};
use crate::app::export::manifest::FileEntry;
use crate::app::export::stats::EventTally;
use crate::model::audit::chain::{ChainVerifier, GENESIS};
use crate::model::audit::checkpoint::Checkpoint;
use crate::model::audit::problem::Problem;

/// Progress: (events written, events to write).
pub type Progress<'a> = &'a (dyn Fn(u64, u64) + Send + Sync);

/// The part of the log a bundle carries: the period's events, and the chain out to the
/// nearest checkpoints on either side so that the period can be checked against them.
pub(super) struct Span {
    /// The period's first and last sequence numbers (`None`: no events in it).
    pub(super) seqs: Option<(i64, i64)>,
    /// The first checkpoint at or after the period's end.
    pub(super) end: Option<Checkpoint>,
    /// The first event carried (the one after the checkpoint before the period).
    pub(super) start_seq: i64,
    /// The hash of the event before `start_seq`.
    pub(super) start_prev_hash: String,
    /// The last event carried (`end`'s, or the period's last).
    pub(super) end_seq: i64,
    /// The checkpoints from the newest before the period to `end`.
    pub(super) covered: Vec<Checkpoint>,
}

impl Span {
    /// The span of a period whose events are `seqs`, among the checkpoints `all`.
    pub(super) fn new(seqs: Option<(i64, i64)>, all: &[Checkpoint]) -> Self {
        let (before, end) = match seqs {
            Some((first, last)) => (
                all.iter().rev().find(|c| c.events < first).cloned(),
                all.iter().find(|c| c.events >= last).cloned(),
            ),
            None => (None, None),
        };
        let (_, last) = seqs.unwrap_or((1, 0));
        let start_seq = before
            .as_ref()
            .map_or(if seqs.is_some() { 1 } else { 0 }, |c| c.events + 1);
        let start_prev_hash = before
            .as_ref()
            .map_or(GENESIS.to_string(), |c| c.head_hash.clone());
        let end_seq = end.as_ref().map_or(last, |c| c.events);
        let covered: Vec<Checkpoint> = all
            .iter()
            .filter(|c| {
                seqs.is_some()
                    && before.as_ref().is_none_or(|b| c.number >= b.number)
                    && end.as_ref().is_none_or(|e| c.number <= e.number)
            })
            .cloned()
            .collect();
        Self {
            seqs,
            end,
            start_seq,
            start_prev_hash,
            end_seq,
            covered,
        }
    }
}

/// The chain files written, the period's counts, and what verification found.
pub(super) struct Chain {
    /// `chain_before.jsonl`, `events.jsonl`, `chain_after.jsonl`.
    pub(super) files: Vec<FileEntry>,
    /// The period's counts.
    pub(super) tally: EventTally,
    /// The first break verification found.
    pub(super) problem: Option<Problem>,
}

/// Writes `chain_before.jsonl`, `events.jsonl` and `chain_after.jsonl` page by page,
/// verifying the chain as it goes.
pub(super) async fn write_chain(
    tx: &mut crate::store::Tx,
    span: &Span,
    dir: &Path,
    progress: Progress<'_>,
) -> Result<Chain, ExportError> {
    const PAGE: i64 = 10_000;
    let (first, last) = span.seqs.unwrap_or((1, 0));
    let mut verifier = ChainVerifier::new(
        span.start_seq.max(1),
        &span.start_prev_hash,
        verify_anchors(&span.covered),
    );
    let mut out = Chain {
        files: Vec::new(),
        tally: EventTally::default(),
        problem: None,
    };
    let total = if span.seqs.is_some() {
        (span.end_seq - span.start_seq + 1).max(0) as u64
    } else {
        0
    };
    let mut done = 0u64;
    let segments = [
        ("chain_before.jsonl", span.start_seq, first - 1, false),
        ("events.jsonl", first, last, true),
        ("chain_after.jsonl", last + 1, span.end_seq, false),
    ];
    for (name, from_seq, to_seq, in_period) in segments {
        let mut file = HashedFile::create(dir, name)?;
        let mut next = from_seq;
        while span.seqs.is_some() && next <= to_seq {
            let page = tx.audit_events_between(None, next, to_seq, PAGE).await?;
            let Some(last_in_page) = page.last().map(|e| e.seq) else {
                break;
            };
            let (buf, links) = crate::model::audit::lines::encode_lines(&page);
            if out.problem.is_none() {
                out.problem = verifier.push_links(&links).err();
            }
            if in_period {
                page.iter().for_each(|e| out.tally.add(e));
            }
            file.write(&buf)?;
            done += page.len() as u64;
            progress(done, total);
            next = last_in_page + 1;
        }
        out.files.push(file.finish()?);
    }
    if out.problem.is_none() && span.seqs.is_some() {
        out.problem = verifier.finish().err();
    }
    Ok(out)
}

/// Anchors of the checkpoints a bundle carries.
pub fn verify_anchors(checkpoints: &[Checkpoint]) -> Vec<(i64, String, i64)> {
    crate::app::audit_verify::anchors(checkpoints)
}
