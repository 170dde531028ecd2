//! `manifest.json`: what a bundle holds (its files with their hashes, the chain range,
//! the checkpoints, the selection as queries) and the audit key's signature over it.

use serde::{Deserialize, Serialize};

use crate::adapters::keys::audit::AuditPublicKey;
use crate::app::export::stats::Period;
use crate::model::audit::canonical;
use crate::model::audit::checkpoint::Checkpoint;
use crate::model::audit::format_at;

/// What the manifest signature is computed over, before the canonical manifest.
pub const MANIFEST_DOMAIN: &[u8] = b"latchkey.manifest.v1\n";

/// The bundle format this broker writes.
pub const FORMAT: &str = "latchkey-evidence/1";

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
    /// The hash of the event before it ([`GENESIS`](crate::model::audit::chain::GENESIS) when
    /// it is the first).
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

/// The selection a bundle was made of, as queries with their parameters (the manifest's
/// `query`).
pub(super) fn query_description(
    period: &Period,
    asked: &Period,
    seqs: Option<(i64, i64)>,
) -> serde_json::Value {
    use crate::model::domain::to_ms;
    let mut q = serde_json::json!({
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
    });
    if asked.to != period.to {
        // The period asked for ended in the future; every file stops at the export.
        q["parameters"]["asked_to"] = serde_json::json!(format_at(asked.to));
        q["clipped"] = serde_json::json!(
            "the period asked for ends after the export; `to` is the time of export"
        );
    }
    q
}
