//! The moment a credential is handed out. A provider mints on the strength of a read
//! (the caller's session at authentication, the grant in `live_grant`), and minting can
//! take seconds (STS). So before anything leaves, the grant, the caller's session and the
//! locks are read again and held in the very transaction that records the issuance: a
//! revocation, expiry, logout or lock either committed first, and the credential is
//! discarded (audited as `credential.discarded`, never handed out), or it waits until the
//! issuance has committed, and then ends that credential like any other.

use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::app::error::ServiceError;
pub use crate::app::in_flight::{InFlight, Pause};
use crate::app::services::Credentials;
use crate::model::access::{AccessRequest, State};
use crate::model::audit::{AuditEvent, EventKind, Origin};
use crate::model::domain::{Principal, SessionState};
use crate::store::{Issuance, StoreError, Tx};

/// Whom a credential is for, as the re-check needs them.
#[derive(Debug, Clone)]
pub(crate) struct Holder {
    /// User id.
    pub user_id: String,
    /// Identifiers a lock may name: user id, subject, email (lower case).
    pub lock_keys: Vec<String>,
    /// The session the caller authenticated with, if a session token.
    pub session_id: Option<String>,
}

impl Holder {
    /// The holder behind an authenticated API caller.
    pub fn of(p: &Principal) -> Self {
        let mut lock_keys = vec![p.user_id.clone(), p.subject.clone()];
        lock_keys.extend(p.email.as_ref().map(|e| e.to_lowercase()));
        Self {
            user_id: p.user_id.clone(),
            lock_keys,
            session_id: Some(p.session_id.clone()),
        }
    }
}

/// A credential a provider minted, not yet handed out: its record, the event that
/// records its issuance, and what identifies it (never the secret) if it is discarded.
pub(crate) struct Minted {
    /// The issuance row.
    pub issuance: Issuance,
    /// `credential.issued`.
    pub issued: AuditEvent,
    /// `kind`, `fingerprint` and the credential's identifiers, for `credential.discarded`.
    pub identifiers: serde_json::Value,
    /// A database login made for this credential, recorded as made in the same transaction.
    pub made_login: Option<MadeLogin>,
}

/// A database login made on its database and still recorded as being made.
pub(crate) struct MadeLogin {
    /// Its record.
    pub id: i64,
    /// Its VALID UNTIL.
    pub valid_until: DateTime<Utc>,
    /// `db.login_created`.
    pub created: AuditEvent,
}

/// What ended between the first check and the hand-out.
#[derive(Debug, Clone)]
pub(crate) enum Ended {
    /// The grant is no longer active; as it now stands, if it still exists.
    Grant(Option<Box<AccessRequest>>),
    /// The caller's session was ended (logout, lock) or is gone.
    SessionRevoked,
    /// The caller's session ran out.
    SessionExpired,
    /// The user was locked.
    UserLocked,
}

impl Ended {
    /// The stable code of what ended, as the audit event records it.
    pub fn code(&self, at: DateTime<Utc>) -> &'static str {
        match self {
            Ended::Grant(Some(g)) if g.state == State::Revoked => "grant_revoked",
            Ended::Grant(Some(g))
                if g.state == State::Expired || g.expires_at.is_none_or(|e| e <= at) =>
            {
                "grant_expired"
            }
            Ended::Grant(_) => "grant_ended",
            Ended::SessionRevoked => "session_revoked",
            Ended::SessionExpired => "session_expired",
            Ended::UserLocked => "user_locked",
        }
    }
}

impl Credentials {
    /// Records a minted credential and hands it out, if the grant, the session and the
    /// user are still what the first check found; else records `credential.discarded`
    /// and says what ended. Either way in one transaction that holds them.
    /// `now` is the caller's clock when it began, at `began`.
    pub(crate) async fn hand_out(
        &self,
        holder: &Holder,
        grant_id: &str,
        minted: Minted,
        origin: &Origin,
        (now, began): (DateTime<Utc>, Instant),
    ) -> Result<Result<(), Ended>, ServiceError> {
        self.core.in_flight.pass(minted.issuance.kind).await;
        let mut tx = self.core.store.begin().await?;
        // The moment that counts is now, with the holds taken, not when the call began
        // (told on the caller's clock, which tests drive by hand).
        let at = now + chrono::Duration::from_std(began.elapsed()).unwrap_or_default();
        let ended = recheck(&mut tx, holder, grant_id, at).await?;
        // A login made for it is recorded as made either way (after the holds, in the order
        // a revocation takes them): handed out, it lives for the grant; discarded, the
        // worker ends it at once, its grant no longer standing.
        if let Some(made) = &minted.made_login {
            if !tx.db_login_made(made.id, made.valid_until, at).await? {
                // Held past its lease and ended by the worker meanwhile: never hand it out.
                return Err(ServiceError::DbLoginBusy(grant_id.to_string()));
            }
            tx.append_audit(&made.created).await?;
        }
        match ended {
            None => {
                tx.insert_issuance(&minted.issuance).await?;
                tx.append_audit(&minted.issued).await?;
                tx.commit().await?;
                Ok(Ok(()))
            }
            Some(ended) => {
                let code = ended.code(at);
                let mut details = minted.identifiers;
                details["reason"] = code.into();
                details["expires_at"] = serde_json::json!(minted.issuance.expires_at);
                let mut event =
                    AuditEvent::new(EventKind::CredentialDiscarded, &holder.user_id, origin, at)?
                        .outcome(
                            "refused",
                            Some(format!(
                                "minted but not handed out: {code} before it could be"
                            )),
                        )
                        .details(details);
                event.subject = minted.issued.subject.clone();
                event.resource = minted.issued.resource.clone();
                event.role = minted.issued.role.clone();
                if minted.issuance.kind == "aws" {
                    let denied = self
                        .deny_if_discarded_for_good(&mut tx, grant_id, &ended, at)
                        .await?;
                    event.details["denied_at_aws"] = denied.into();
                }
                tx.append_audit(&event).await?;
                tx.commit().await?;
                tracing::warn!(grant = %grant_id, kind = minted.issuance.kind, code, "minted credential discarded");
                Ok(Err(ended))
            }
        }
    }
}

impl Credentials {
    /// An AWS session cannot be recalled: one minted for a grant that ended, or for a
    /// user who was locked, before it could be handed out is denied at AWS with the
    /// grant's other sessions (queued in `tx`, merged with the revocation's own deny).
    /// One whose caller's session ended while the grant lives on is not: that would end
    /// the grant's sessions held elsewhere, and this one's secret never left the broker.
    async fn deny_if_discarded_for_good(
        &self,
        tx: &mut Tx,
        grant_id: &str,
        ended: &Ended,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let grant = match ended {
            Ended::Grant(Some(g)) => Some(g.as_ref().clone()),
            Ended::UserLocked => tx.request(grant_id).await?,
            Ended::Grant(None) | Ended::SessionRevoked | Ended::SessionExpired => None,
        };
        let Some(grant) = grant else {
            return Ok(false);
        };
        self.core.deny_discarded_session(tx, &grant, at).await?;
        Ok(true)
    }
}

/// Reads again, and holds until `tx` ends, what the first check read: the locks, the
/// session, the grant (in that order, the order a lock takes them, so neither waits on
/// the other). `None` when all still stand at `at`.
async fn recheck(
    tx: &mut Tx,
    holder: &Holder,
    grant_id: &str,
    at: DateTime<Utc>,
) -> Result<Option<Ended>, StoreError> {
    tx.hold_against_locks().await?;
    if let Some(id) = &holder.session_id {
        tx.hold_session(id).await?;
    }
    let grant = tx.hold_request(grant_id).await?;
    if let Some(id) = &holder.session_id {
        let state = tx
            .session(id)
            .await?
            .filter(|r| r.session.user_id == holder.user_id)
            .map(|r| r.session.state(at, r.locked));
        match state {
            Some(SessionState::Active) => {}
            Some(SessionState::Locked) => return Ok(Some(Ended::UserLocked)),
            Some(SessionState::Expired) => return Ok(Some(Ended::SessionExpired)),
            Some(SessionState::Revoked) | None => return Ok(Some(Ended::SessionRevoked)),
        }
    }
    if tx.find_lock(&holder.lock_keys).await?.is_some() {
        return Ok(Some(Ended::UserLocked));
    }
    let live = grant.as_ref().is_some_and(|g| {
        g.requester_id == holder.user_id
            && g.state == State::Active
            && g.expires_at.is_some_and(|e| e > at)
    });
    Ok((!live).then(|| Ended::Grant(grant.map(Box::new))))
}
