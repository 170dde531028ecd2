//! The evidence bundle of a period: the events (with what is needed to check them against
//! signed checkpoints), the access records as CSV, a report for people, and a signed
//! manifest. [`bundle`] verifies one offline.
//!
//! Files: `events.jsonl` (the period's events), `chain_before.jsonl` and
//! `chain_after.jsonl` (the events between the period's edges and the nearest
//! checkpoints, so the period can be checked against them), `access_grants.csv`,
//! `access_list_END.csv`, `policy_changes.csv`, `report.html`, `manifest.json`.

pub mod archive;
pub mod bundle;
pub mod csv;
pub mod period;
pub mod report;
pub mod stats;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::model::audit::chain::{ChainVerifier, GENESIS};

use crate::adapters::keys::audit::{AuditKey, AuditPublicKey};
use crate::model::audit::checkpoint::Checkpoint;
use crate::model::audit::problem::Problem;
use crate::model::audit::{canonical, format_at};
use crate::store::{Store, StoreError};
pub use stats::Period;

/// What the manifest signature is computed over, before the canonical manifest.
pub const MANIFEST_DOMAIN: &[u8] = b"latchkey.manifest.v1\n";

/// The bundle format this broker writes.
pub const FORMAT: &str = "latchkey-evidence/1";

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading the log failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing the bundle failed.
    #[error("writing {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// One file of the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Name inside the bundle.
    pub name: String,
    /// SHA-256, lower-case hex.
    pub sha256: String,
    /// Size.
    pub bytes: u64,
}

/// The chain range a bundle covers, from one checkpoint (or the start) to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainRange {
    /// First event in `chain_before.jsonl` (or `events.jsonl`).
    pub start_seq: i64,
    /// The hash of the event before it ([`GENESIS`] when it is the first).
    pub start_prev_hash: String,
    /// Last event in `chain_after.jsonl` (or `events.jsonl`).
    pub end_seq: i64,
    /// The period's first and last events, if any.
    pub period_seqs: Option<(i64, i64)>,
}

/// `manifest.json`, signed with the audit key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// The broker version that wrote it.
    pub generator: String,
    /// When.
    pub generated_at: String,
    /// Who asked for it.
    pub requested_by: String,
    /// The period, `[from, to)`.
    pub period: Period,
    /// The selection, as queries with their parameters.
    pub query: serde_json::Value,
    /// The chain range covered.
    pub chain: ChainRange,
    /// The checkpoint the bundle ends at.
    pub checkpoint: Option<Checkpoint>,
    /// Every checkpoint from the one before the period to the one it ends at.
    pub checkpoints: Vec<Checkpoint>,
    /// Files and their hashes.
    pub files: Vec<FileEntry>,
    /// The key that signed this manifest and the checkpoints.
    pub audit_key: AuditPublicKey,
    /// Ed25519 over `MANIFEST_DOMAIN || JCS(manifest without "signature")`, base64url.
    #[serde(default)]
    pub signature: String,
}

impl Manifest {
    /// The bytes the signature covers.
    pub fn signed_bytes(&self) -> Result<Vec<u8>, String> {
        let mut v = serde_json::to_value(self).map_err(|e| e.to_string())?;
        if let Some(o) = v.as_object_mut() {
            o.remove("signature");
        }
        let mut out = MANIFEST_DOMAIN.to_vec();
        canonical::write_value(&v, &mut out).map_err(|e| e.to_string())?;
        Ok(out)
    }
}

/// A file being written and hashed at once.
struct HashedFile {
    path: PathBuf,
    out: std::io::BufWriter<std::fs::File>,
    digest: ring::digest::Context,
    bytes: u64,
}

impl HashedFile {
    fn create(dir: &Path, name: &str) -> Result<Self, ExportError> {
        let path = dir.join(name);
        let file = std::fs::File::create(&path).map_err(|source| ExportError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(HashedFile {
            path,
            out: std::io::BufWriter::with_capacity(1 << 20, file),
            digest: ring::digest::Context::new(&ring::digest::SHA256),
            bytes: 0,
        })
    }

    fn write(&mut self, data: &[u8]) -> Result<(), ExportError> {
        self.digest.update(data);
        self.bytes += data.len() as u64;
        self.out.write_all(data).map_err(|source| ExportError::Io {
            path: self.path.clone(),
            source,
        })
    }

    fn finish(mut self) -> Result<FileEntry, ExportError> {
        let path = self.path.clone();
        let io = |source| ExportError::Io {
            path: path.clone(),
            source,
        };
        self.out.flush().map_err(io)?;
        self.out.get_ref().sync_all().map_err(io)?;
        Ok(FileEntry {
            name: self
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            sha256: hex::encode(self.digest.finish()),
            bytes: self.bytes,
        })
    }
}

fn write_file(dir: &Path, name: &str, content: &[u8]) -> Result<FileEntry, ExportError> {
    let mut f = HashedFile::create(dir, name)?;
    f.write(content)?;
    f.finish()
}

/// The name of the access list file for a period: `access_list_YYYY-MM-DD.csv`, the
/// last day of the period.
pub fn access_list_name(period: &Period) -> String {
    let last_day = (period.to - chrono::Duration::milliseconds(1)).date_naive();
    format!("access_list_{}.csv", last_day.format("%Y-%m-%d"))
}

/// Progress: (events written, events to write).
pub type Progress<'a> = &'a (dyn Fn(u64, u64) + Send + Sync);

/// Writes the bundle of `period` into `dir` (which must exist and should be empty).
/// The log is read in one snapshot and verified as it is written.
pub async fn write_bundle(
    store: &Store,
    key: &AuditKey,
    period: Period,
    requested_by: &str,
    dir: &Path,
    progress: Progress<'_>,
) -> Result<(Manifest, Option<Problem>), ExportError> {
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
    let generated_at = format_at(chrono::Utc::now());
    files.extend(write_access(
        dir,
        &span,
        &period,
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
        query: query_description(&period, seqs),
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

/// The part of the log a bundle carries: the period's events, and the chain out to the
/// nearest checkpoints on either side so that the period can be checked against them.
struct Span {
    /// The period's first and last sequence numbers (`None`: no events in it).
    seqs: Option<(i64, i64)>,
    /// The first checkpoint at or after the period's end.
    end: Option<Checkpoint>,
    start_seq: i64,
    start_prev_hash: String,
    end_seq: i64,
    /// The checkpoints from the newest before the period to `end`.
    covered: Vec<Checkpoint>,
}

impl Span {
    fn new(seqs: Option<(i64, i64)>, all: &[Checkpoint]) -> Self {
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
struct Chain {
    files: Vec<FileEntry>,
    tally: stats::EventTally,
    problem: Option<Problem>,
}

/// Writes `chain_before.jsonl`, `events.jsonl` and `chain_after.jsonl` page by page,
/// verifying the chain as it goes.
async fn write_chain(
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
        tally: stats::EventTally::default(),
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

/// Writes the access CSVs and `report.html`.
fn write_access(
    dir: &Path,
    span: &Span,
    period: &Period,
    access: &crate::store::ExportedAccess,
    tally: &stats::EventTally,
    problem: Option<&Problem>,
    generated_at: &str,
) -> Result<Vec<FileEntry>, ExportError> {
    let mut reviews: HashMap<&str, Vec<&crate::model::access::Review>> = HashMap::new();
    for (id, r) in &access.reviews {
        reviews.entry(id.as_str()).or_default().push(r);
    }
    let figures = stats::access_figures(&access.requests, &reviews, period);
    let held = access
        .requests
        .iter()
        .filter(|r| csv::held_at(r, period.to))
        .count();
    let mut files = vec![
        write_file(
            dir,
            "access_grants.csv",
            csv::access_grants(&access.requests, &reviews, &access.issuances, period).as_bytes(),
        )?,
        write_file(
            dir,
            &access_list_name(period),
            csv::access_list(&access.requests, &reviews, period).as_bytes(),
        )?,
        write_file(
            dir,
            "policy_changes.csv",
            csv::policy_changes(&tally.policy).as_bytes(),
        )?,
    ];
    let html = report::render(&report::ReportInput {
        period,
        generated_at: generated_at.to_string(),
        events: tally.by_type.values().sum(),
        seq_range: span.seqs,
        checkpoint: span
            .end
            .as_ref()
            .map(|c| (c.number, c.events, format_at(c.at))),
        chain_problem: problem,
        tally,
        access: &figures,
        requests: access.requests.len(),
        held_at_end: held,
    });
    files.push(write_file(dir, "report.html", html.as_bytes())?);
    Ok(files)
}

/// Anchors of the checkpoints a bundle carries.
pub fn verify_anchors(checkpoints: &[Checkpoint]) -> Vec<(i64, String, i64)> {
    crate::app::audit_verify::anchors(checkpoints)
}

fn query_description(period: &Period, seqs: Option<(i64, i64)>) -> serde_json::Value {
    use crate::model::domain::to_ms;
    serde_json::json!({
        "period_events": "SELECT MIN(seq), MAX(seq) FROM audit_events WHERE at >= $from_ms AND at < $to_ms",
        "events": "SELECT * FROM audit_events WHERE seq >= $first_seq AND seq <= $last_seq ORDER BY seq",
        "chain_before": "SELECT * FROM audit_events WHERE seq >= $chain.start_seq AND seq < $first_seq ORDER BY seq",
        "chain_after": "SELECT * FROM audit_events WHERE seq > $last_seq AND seq <= $chain.end_seq ORDER BY seq",
        "requests": "SELECT * FROM access_requests a WHERE a.created_at < $to_ms AND (a.ended_at IS NULL OR a.ended_at >= $from_ms)",
        "reviews": "SELECT r.* FROM reviews r JOIN access_requests a ON a.id = r.request_id WHERE <requests> AND r.at < $to_ms",
        "credentials": "SELECT i.request_id, COUNT(*) FROM credential_issuances i JOIN access_requests a ON a.id = i.request_id WHERE <requests> AND i.issued_at < $to_ms GROUP BY i.request_id",
        "parameters": {
            "from": format_at(period.from),
            "to": format_at(period.to),
            "from_ms": to_ms(period.from),
            "to_ms": to_ms(period.to),
            "first_seq": seqs.map(|s| s.0),
            "last_seq": seqs.map(|s| s.1),
        },
        "times": "UTC; every time column holds milliseconds since the Unix epoch",
    })
}
