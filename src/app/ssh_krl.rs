//! The SSH CA as hosts see it: the keys they trust (`TrustedUserCAKeys`) and the
//! revocation list they read (`RevokedKeys`). The list names, under the CA that signed
//! them, the serial and key id of every certificate still within its validity whose grant
//! ended early or whose user is locked; a certificate drops off once it would have
//! expired anyway, so the list stays small. It is made from the database on each fetch
//! (one indexed query) and reused while its content is unchanged, so its bytes, its
//! `ETag` and its generation time stay the same until something is revoked or expires.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::adapters::keys::ssh_ca::{CaAlg, CaPublic, SshCa};
use crate::adapters::keys::stored::KeyKind;
use crate::app::error::ServiceError;
pub use crate::app::krl_cache::{KrlCache, KrlFile};
use crate::app::services::{Admin, Credentials};
use crate::model::audit::{AuditEvent, EventKind, Origin};
use crate::model::domain::Principal;
use crate::model::krl::{Krl, Revoked};
use crate::model::policy::ssh::MAX_VALIDITY;

impl Credentials {
    /// The CA keys hosts should trust now, the signing one first.
    pub fn ssh_cas(&self, now: DateTime<Utc>) -> Vec<CaPublic> {
        self.ssh_ca.trusted(now)
    }

    /// The revocation list as it stands at `now`.
    pub async fn ssh_krl(&self, now: DateTime<Utc>) -> Result<KrlFile, ServiceError> {
        let mut tx = self.core.store.begin_read().await?;
        let revoked = tx.ssh_certs_revoked(now).await?;
        tx.commit().await?;
        let cas = self.ssh_ca.trusted(now);
        let mut by_ca: BTreeMap<&str, Revoked> = BTreeMap::new();
        for c in &revoked {
            // A CA retired from the ring signed nothing still valid (it is kept as long as
            // the longest certificate); a row naming one is past its validity.
            let Some(ca) = cas.iter().find(|k| k.fingerprint == c.ca) else {
                continue;
            };
            let entry = by_ca
                .entry(ca.fingerprint.as_str())
                .or_insert_with(|| Revoked {
                    ca_key: ca.blob.clone(),
                    ..Revoked::default()
                });
            entry.serials.insert(u64::try_from(c.serial).unwrap_or(0));
            entry.key_ids.insert(c.key_id.clone());
        }
        let mut krl = Krl {
            version: 0,
            generated_at: 0,
            comment: format!("latchkey {}", self.core.config.public_url),
            authorities: by_ca.into_values().collect(),
        };
        // What the list says, apart from when it was made.
        let content = crate::model::digest::sha256_hex(&krl.encode());
        let mut last = self.krl.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((seen, file)) = last.as_ref() {
            if *seen == content {
                return Ok(file.clone());
            }
        }
        let previous = last.as_ref().map_or(0, |(_, f)| f.generated_at.timestamp());
        let generated_at = if now.timestamp() > previous {
            now
        } else {
            // The clock stepped back: the version still moves forward.
            DateTime::from_timestamp(previous + 1, 0).unwrap_or(now)
        };
        let serials = krl.authorities.iter().map(|r| r.serials.len()).sum();
        krl.version = u64::try_from(generated_at.timestamp()).unwrap_or(0);
        krl.generated_at = krl.version;
        let bytes = krl.encode();
        let file = KrlFile {
            etag: format!("\"{}\"", &crate::model::digest::sha256_hex(&bytes)[..32]),
            bytes: Arc::new(bytes),
            generated_at,
            serials,
        };
        *last = Some((content, file.clone()));
        Ok(file)
    }
}

impl Admin {
    /// Gives the SSH CA a new signing key of `alg`. The old key stays trusted (and in
    /// the revocation list) as long as a certificate it signed can live.
    pub async fn rotate_ssh_ca(
        &self,
        admin: &Principal,
        alg: CaAlg,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<String, ServiceError> {
        let permit = self.core.require_admin(admin, "rotate the SSH CA")?;
        let keep = Duration::from_std(MAX_VALIDITY).unwrap_or_default();
        let event = |fingerprint: &str| {
            Ok(AuditEvent::new(EventKind::SshCaRotated, &admin.user_id, origin, now)?
                .details(serde_json::json!({ "new_ca": fingerprint, "algorithm": alg, "old_cas_trusted_until": now + keep })))
        };
        let fingerprint = if let Some(shared) = &self.shared_keys {
            let fresh = vec![SshCa::generate(alg, now)?];
            let rings = (&*self.keyring, &*self.ssh_ca);
            shared
                .rotate(
                    &self.core.store,
                    rings,
                    KeyKind::SshCa,
                    fresh,
                    keep,
                    now,
                    event,
                )
                .await?
        } else {
            let fingerprint = self.ssh_ca.rotate(&permit, alg, now, keep)?;
            let mut tx = self.core.store.begin().await?;
            tx.append_audit(&event(&fingerprint)?).await?;
            tx.commit().await?;
            fingerprint
        };
        tracing::warn!(ca = %fingerprint, by = %admin.user_id, "SSH CA rotated");
        Ok(fingerprint)
    }
}
