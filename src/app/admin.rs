//! Administration: locking users and rotating the signing keys.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::adapters::keys::stored::KeyKind;
use crate::adapters::keys::{KeyAlg, Keyring};
use crate::app::error::ServiceError;
use crate::app::services::Admin;
use crate::model::audit::{AuditEvent, EventKind, Origin};
use crate::model::domain::{Lock, Principal};

/// The leeway verifiers allow past `exp` (sessions, broker tokens, assertions), with margin.
const VERIFIER_LEEWAY: Duration = Duration::minutes(2);

/// Outcome of a lock.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LockOutcome {
    /// The lock.
    pub lock: Lock,
    /// Sessions it ended.
    pub sessions_ended: u64,
}

fn normalise(identifier: &str) -> Result<String, ServiceError> {
    let id = identifier.trim();
    if id.is_empty() || id.len() > 320 {
        return Err(ServiceError::BadRequest(
            "name the user to lock by email or subject".into(),
        ));
    }
    Ok(if id.contains('@') && !id.contains('|') {
        id.to_lowercase()
    } else {
        id.to_string()
    })
}

impl Admin {
    /// Locks a user by email, subject or user id: their sessions end and new logins are refused.
    pub async fn lock_user(
        &self,
        admin: &Principal,
        identifier: &str,
        reason: Option<String>,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<LockOutcome, ServiceError> {
        let permit = self.core.require_admin(admin, "lock users")?;
        let lock = Lock {
            identifier: normalise(identifier)?,
            reason,
            locked_by: admin.user_id.clone(),
            locked_at: now,
        };
        let mut tx = self.core.store.begin().await?;
        let sessions_ended = tx.lock(&permit, &lock).await?;
        // Their AWS sessions are denied at AWS, queued with the lock.
        let aws_denies_queued = self.core.deny_locked_sessions(&mut tx, &lock, now).await?;
        // And their database logins end, queued with the lock.
        let db_logins_ended = tx.db_logins_end_locked(&lock.identifier, now).await?;
        let mut event = AuditEvent::new(EventKind::UserLocked, &admin.user_id, origin, now)?
            .outcome("success", lock.reason.clone())
            .details(serde_json::json!({ "sessions_ended": sessions_ended, "aws_denies_queued": aws_denies_queued, "db_logins_ending": db_logins_ended }));
        event.subject = Some(lock.identifier.clone());
        tx.append_audit(&event).await?;
        // Every replica's gate hears of it on commit (the identifier stays out of the
        // payload: a hint, bounded in size).
        tx.notify_gate("user_locked").await?;
        tx.commit().await?;
        self.gate.end_user(&lock.identifier);
        self.core.logins_due.notify_one();
        tracing::warn!(user = %lock.identifier, by = %admin.user_id, sessions_ended, "user locked");
        Ok(LockOutcome {
            lock,
            sessions_ended,
        })
    }

    /// Lifts a lock.
    pub async fn unlock_user(
        &self,
        admin: &Principal,
        identifier: &str,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<(), ServiceError> {
        let permit = self.core.require_admin(admin, "unlock users")?;
        let id = normalise(identifier)?;
        let mut tx = self.core.store.begin().await?;
        let existed = tx.unlock(&permit, &id).await?;
        if existed {
            let mut event = AuditEvent::new(EventKind::UserUnlocked, &admin.user_id, origin, now)?;
            event.subject = Some(id.clone());
            tx.append_audit(&event).await?;
        }
        tx.commit().await?;
        if !existed {
            return Err(ServiceError::NotFound(format!("no lock on {id}")));
        }
        tracing::warn!(user = %id, by = %admin.user_id, "user unlocked");
        Ok(())
    }

    /// How long a retired key must stay published and trusted: the longest lifetime of
    /// anything the broker signs with it (sessions, broker tokens, gate assertions), plus
    /// the leeway verifiers allow on `exp`.
    pub fn longest_signed_lifetime(&self) -> Duration {
        let longest = [
            self.core.config.session_lifetime,
            crate::model::policy::Kind::Token.max_credential_ttl(),
            crate::model::policy::Kind::Http.max_credential_ttl(),
        ]
        .into_iter()
        .max()
        .unwrap_or_default();
        let longest = Duration::from_std(longest).unwrap_or(Duration::days(7));
        longest.max(crate::adapters::assertion::LIFETIME) + VERIFIER_LEEWAY
    }

    /// Makes a new signing key; the old one stays published until every token it signed has expired.
    pub async fn rotate_keys(
        &self,
        admin: &Principal,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<String, ServiceError> {
        let permit = self.core.require_admin(admin, "rotate keys")?;
        let keep = self.longest_signed_lifetime();
        let event = |kid: &str| {
            Ok(
                AuditEvent::new(EventKind::KeyRotated, &admin.user_id, origin, now)?.details(
                    serde_json::json!({ "new_kid": kid, "old_keys_trusted_until": now + keep }),
                ),
            )
        };
        let kid = if let Some(shared) = &self.shared_keys {
            let fresh = KeyAlg::ALL
                .into_iter()
                .map(|alg| Keyring::generate(alg, now))
                .collect::<Result<Vec<_>, _>>()?;
            let rings = (&*self.keyring, &*self.ssh_ca);
            shared
                .rotate(
                    &self.core.store,
                    rings,
                    KeyKind::Signing,
                    fresh,
                    keep,
                    now,
                    event,
                )
                .await?
        } else {
            let kid = self.keyring.rotate(&permit, now, keep)?;
            let mut tx = self.core.store.begin().await?;
            tx.append_audit(&event(&kid)?).await?;
            tx.commit().await?;
            kid
        };
        tracing::warn!(kid = %kid, by = %admin.user_id, "signing key rotated");
        Ok(kid)
    }
}
