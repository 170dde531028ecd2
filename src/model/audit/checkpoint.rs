//! Signed checkpoints: at intervals, and on demand, the broker signs (event count, head
//! hash, time, previous checkpoint) with its Ed25519 audit key and hands the result to
//! an outside sink. Someone who can write to the database cannot rewrite or cut the log
//! without contradicting a checkpoint held elsewhere, and cannot sign a new one.
//!
//! Signed bytes: `"latchkey.checkpoint.v1\n" || JCS({at, events, head_hash, kid, number, prev})`.
//! A checkpoint's own hash (the next one's `prev`) is the SHA-256 hex of the JCS of all
//! its members, signature included.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::model::audit::canonical;
use crate::model::audit::key::{AuditKey, AuditPublicKey};
use crate::model::audit::problem::Problem;

/// What a checkpoint signature is computed over, before the canonical body.
pub const DOMAIN: &[u8] = b"latchkey.checkpoint.v1\n";

/// One signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Checkpoint {
    /// 1, 2, 3, …: each checkpoint follows the one before.
    pub number: i64,
    /// How many events the log held (the sequence number of the head).
    pub events: i64,
    /// The hash of event `events` ([`crate::model::audit::chain::GENESIS`] for an empty log).
    pub head_hash: String,
    /// When it was signed (UTC, milliseconds).
    #[serde(with = "at_millis")]
    pub at: DateTime<Utc>,
    /// The hash of the previous checkpoint, `null` for the first.
    pub prev: Option<String>,
    /// The audit key's id (its RFC 7638 thumbprint).
    pub kid: String,
    /// Ed25519 signature, base64url without padding.
    pub signature: String,
    /// Whether the outside sink has it (bookkeeping, not signed).
    #[serde(skip)]
    pub delivered: bool,
}

mod at_millis {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::model::audit::format_at(*at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

impl Checkpoint {
    fn body(&self) -> serde_json::Value {
        json!({
            "number": self.number,
            "events": self.events,
            "head_hash": self.head_hash,
            "at": crate::model::audit::format_at(self.at),
            "prev": self.prev,
            "kid": self.kid,
        })
    }

    fn signed_bytes(&self) -> Vec<u8> {
        let mut out = DOMAIN.to_vec();
        // The body holds strings and integers only.
        let _ = canonical::write_value(&self.body(), &mut out);
        out
    }

    /// Signs a new checkpoint after `prev` over a log of `events` events whose head is `head_hash`.
    pub fn sign(
        key: &AuditKey,
        prev: Option<&Checkpoint>,
        events: i64,
        head_hash: &str,
        at: DateTime<Utc>,
    ) -> Checkpoint {
        let mut cp = Checkpoint {
            number: prev.map_or(1, |p| p.number + 1),
            events,
            head_hash: head_hash.to_string(),
            // Milliseconds, as it is signed and stored.
            at: crate::model::domain::from_ms(crate::model::domain::to_ms(at)),
            prev: prev.map(Checkpoint::hash),
            kid: key.kid().to_string(),
            signature: String::new(),
            delivered: false,
        };
        cp.signature = URL_SAFE_NO_PAD.encode(key.sign(&cp.signed_bytes()));
        cp
    }

    /// This checkpoint's hash: what the next one names as `prev`.
    pub fn hash(&self) -> String {
        let mut v = self.body();
        v["signature"] = json!(self.signature);
        let mut out = Vec::new();
        let _ = canonical::write_value(&v, &mut out);
        crate::model::digest::sha256_hex(&out)
    }

    /// Whether the signature is the audit key's, over exactly these fields.
    pub fn signature_valid(&self, key: &AuditPublicKey) -> bool {
        if self.kid != key.kid {
            return false;
        }
        let Ok(sig) = URL_SAFE_NO_PAD.decode(&self.signature) else {
            return false;
        };
        key.verify(&self.signed_bytes(), &sig)
    }

    /// The canonical JSON of the checkpoint, as sinks and bundles store it.
    pub fn to_json(&self) -> String {
        let mut v = self.body();
        v["signature"] = json!(self.signature);
        canonical::to_string(&v).unwrap_or_default()
    }
}

/// Checks a run of checkpoints: each signed by `key`, numbered one after another, naming
/// the one before, never covering fewer events than the one before. Returns the first
/// problem; its `seq` is the first event the bad checkpoint claims to cover.
pub fn check_series(series: &[Checkpoint], key: &AuditPublicKey) -> Result<(), Problem> {
    let mut before: Option<&Checkpoint> = None;
    for cp in series {
        let first = before.map_or(1, |b| b.events + 1);
        if !cp.signature_valid(key) {
            return Err(Problem::new(
                first.min(cp.events.max(1)),
                "checkpoint_signature",
                format!(
                    "checkpoint {} is not signed by the audit key {}",
                    cp.number, key.kid
                ),
            ));
        }
        if let Some(b) = before {
            if cp.number == b.number + 1 && cp.prev.as_deref() != Some(b.hash().as_str()) {
                return Err(Problem::new(
                    first,
                    "checkpoint_chain",
                    format!(
                        "checkpoint {} does not name checkpoint {} as its predecessor",
                        cp.number, b.number
                    ),
                ));
            }
            if cp.events < b.events {
                return Err(Problem::new(
                    cp.events + 1,
                    "checkpoint_chain",
                    format!(
                        "checkpoint {} covers {} events, fewer than checkpoint {} ({})",
                        cp.number, cp.events, b.number, b.events
                    ),
                ));
            }
        }
        before = Some(cp);
    }
    Ok(())
}

/// Merges checkpoints from several places (database, outside sink, caller) by number,
/// keeping only those signed by `key`. A badly signed checkpoint, or two different
/// well-signed ones with one number, is a problem: at most one history can be genuine.
pub fn merge(
    sources: Vec<Vec<Checkpoint>>,
    key: &AuditPublicKey,
) -> (Vec<Checkpoint>, Vec<Problem>) {
    let mut by_number: std::collections::BTreeMap<i64, Checkpoint> = Default::default();
    let mut problems = Vec::new();
    for cp in sources.into_iter().flatten() {
        if !cp.signature_valid(key) {
            problems.push(Problem::new(
                cp.events.max(1),
                "checkpoint_signature",
                format!(
                    "checkpoint {} is not signed by the audit key {}",
                    cp.number, key.kid
                ),
            ));
            continue;
        }
        match by_number.get(&cp.number) {
            Some(existing) if existing.to_json() != cp.to_json() => problems.push(Problem::new(
                // What they agree on at most: the shorter history; the first event after it is in doubt.
                existing.events.min(cp.events) + 1,
                "checkpoint_conflict",
                format!(
                    "two different signed checkpoints are numbered {}",
                    cp.number
                ),
            )),
            Some(_) => {}
            None => {
                by_number.insert(cp.number, cp);
            }
        }
    }
    (by_number.into_values().collect(), problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> (tempfile::TempDir, AuditKey) {
        let dir = tempfile::tempdir().unwrap();
        let key = AuditKey::load_or_create(dir.path()).unwrap();
        (dir, key)
    }

    #[test]
    fn a_checkpoint_signed_by_another_key_or_out_of_line_is_refused() {
        let ((_a, ours), (_b, theirs)) = (keys(), keys());
        let now = chrono::Utc::now();
        let first = Checkpoint::sign(&ours, None, 5, &"a".repeat(64), now);
        let second = Checkpoint::sign(&ours, Some(&first), 9, &"b".repeat(64), now);
        assert!(check_series(&[first.clone(), second.clone()], ours.public()).is_ok());
        // Another key's checkpoint under our number: dropped and reported.
        let rival = Checkpoint::sign(&theirs, Some(&first), 7, &"c".repeat(64), now);
        let (kept, problems) = merge(vec![vec![first.clone(), rival]], ours.public());
        assert_eq!(kept, vec![first.clone()]);
        assert_eq!(problems[0].code, "checkpoint_signature");
        // Ours, but not naming its predecessor: the series is broken there.
        let orphan = Checkpoint::sign(&ours, None, 9, &"b".repeat(64), now);
        let orphan = Checkpoint {
            number: 2,
            ..orphan
        };
        let p = check_series(&[first.clone(), orphan], ours.public()).unwrap_err();
        assert_eq!(
            p.code, "checkpoint_signature",
            "renumbering breaks its signature: {p:?}"
        );
        // A shorter history signed after a longer one is a truncation.
        let shorter = Checkpoint::sign(&ours, Some(&second), 6, &"d".repeat(64), now);
        let p = check_series(&[first, second, shorter], ours.public()).unwrap_err();
        assert_eq!((p.code.as_str(), p.seq), ("checkpoint_chain", 7));
    }
}
