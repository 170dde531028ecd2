//! The evidence bundle of a period: the events (with what is needed to check them against
//! signed checkpoints), the access records as CSV, a report for people, and a signed
//! manifest. [`bundle`] verifies one offline.
//!
//! Writing one: [`chain`] writes and verifies the events, [`access_files`] the CSVs and
//! the report ([`csv`], [`stats`], [`report`], each reading a request's state at the
//! period's end through [`as_of`]), [`manifest`] describes and signs it all, [`files`]
//! hashes each file as it is written; [`period`] reads the period asked for and clips it
//! to the time of export, and [`archive`] carries the directory as one tar stream.
//!
//! Files: `events.jsonl` (the period's events), `chain_before.jsonl` and
//! `chain_after.jsonl` (the events between the period's edges and the nearest
//! checkpoints, so the period can be checked against them), `access_grants.csv`,
//! `access_list_END.csv`, `policy_changes.csv`, `report.html`, `manifest.json`.

mod access_files;
pub mod archive;
pub mod as_of;
pub mod bundle;
mod chain;
pub mod csv;
mod files;
mod manifest;
pub mod period;
pub mod report;
pub mod stats;

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::adapters::keys::audit::AuditKey;
use crate::model::audit::format_at;
use crate::model::audit::problem::Problem;
use crate::store::{Store, StoreError};

pub use self::access_files::access_list_name;
pub use self::chain::{verify_anchors, Progress};
use self::chain::{write_chain, Chain, Span};
use self::files::write_file;
pub use self::files::ExportError;
use self::manifest::query_description;
pub use self::manifest::{ChainRange, FileEntry, Manifest, FORMAT, MANIFEST_DOMAIN};
pub use self::stats::Period;

/// Writes the bundle of `asked` into `dir` (which must exist and should be empty), the
/// period clipped to `now`, the time of export (see [`period::clip`]), for every file alike; the report and
/// the manifest's query say when it was clipped. The log is read in one snapshot and
/// verified as it is written.
pub async fn write_bundle(
    store: &Store,
    key: &AuditKey,
    asked: Period,
    requested_by: &str,
    dir: &Path,
    progress: Progress<'_>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(Manifest, Option<Problem>), ExportError> {
    let period = period::clip(asked, now).ok_or(ExportError::NotStarted)?;
    let mut tx = store.begin_read().await?;
    let seqs = tx.audit_seq_range(period.from, period.to).await?;
    let span = Span::new(seqs, &tx.checkpoints_between(1, i64::MAX).await?);
    let chain = write_chain(&mut tx, &span, dir, progress).await?;
    let access = tx.export_access(period.from, period.to).await?;
    drop(tx);
    let Chain {
        mut files,
        tally,
        problem,
    } = chain;
    let generated_at = format_at(now);
    files.extend(access_files::write_access(
        dir,
        &span,
        &access_files::Periods {
            period: &period,
            asked: &asked,
        },
        &access,
        &tally,
        problem.as_ref(),
        &generated_at,
    )?);
    let mut manifest = Manifest {
        format: FORMAT.into(),
        generator: concat!("latchkey ", env!("CARGO_PKG_VERSION")).into(),
        generated_at,
        requested_by: requested_by.to_string(),
        period,
        query: query_description(&period, &asked, seqs),
        chain: ChainRange {
            start_seq: span.start_seq,
            start_prev_hash: span.start_prev_hash,
            end_seq: span.end_seq,
            period_seqs: seqs,
        },
        checkpoint: span.end,
        checkpoints: span.covered,
        files,
        audit_key: key.public().clone(),
        signature: String::new(),
    };
    let signed = manifest.signed_bytes().map_err(StoreError::Corrupt)?;
    manifest.signature = URL_SAFE_NO_PAD.encode(key.sign(&signed));
    let json =
        serde_json::to_vec_pretty(&manifest).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    write_file(dir, "manifest.json", &json)?;
    Ok((manifest, problem))
}
