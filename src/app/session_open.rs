//! Opening a session once a login (OIDC or development) has named its identity: the
//! lock re-checked under the lock barrier, the session token signed, the user and the
//! session recorded with `session.created` in the login's transaction. And the audit of
//! a refused login.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::adapters::auth::registered::RegisteredClaims;
use crate::adapters::auth::session;
use crate::adapters::auth::session::{SessionClaims, SESSION_AUDIENCE};
use crate::adapters::providers::fingerprint;
use crate::app::error::ServiceError;
use crate::app::services::Sessions;
use crate::model::audit::{AuditEvent, EventKind, Origin};
use crate::model::domain::{Identity, Session};
use crate::model::random::random_id;
use crate::store::Tx;

/// A new session and its token.
#[derive(Debug, Clone, Serialize)]
pub struct IssuedSession {
    /// The session token (a bearer secret).
    pub token: String,
    /// Session id.
    pub session_id: String,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// Who.
    pub identity: Identity,
    /// Development session.
    pub dev: bool,
}

impl Sessions {
    /// Opens a session for `identity` in the login's transaction `tx` (committed by the
    /// login): refused if a lock names the identity.
    pub(super) async fn open_session(
        &self,
        tx: &mut Tx,
        identity: Identity,
        dev: bool,
        groups_claim_missing: Option<String>,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<IssuedSession, ServiceError> {
        // Held until the session is committed: a lock committed before is seen here, one
        // being committed waits and then ends this session too.
        tx.hold_against_locks().await?;
        if tx.find_lock(&identity.lock_identifiers()).await?.is_some() {
            tracing::warn!(user = %identity.user_id(), "login refused: user locked");
            return Err(ServiceError::UserLocked);
        }
        let (mut claims, expires_at) = self.session_claims(&identity, dev, now)?;
        claims.groups_claim_missing = groups_claim_missing;
        let (token, kid) = session::issue(&self.keyring, &claims)?;
        tx.upsert_user(&identity, now).await?;
        let session = Session {
            id: claims.jti.clone(),
            user_id: claims.sub.clone(),
            kid,
            dev,
            created_at: now,
            expires_at,
            auth_time: identity.auth_time,
            revoked_at: None,
            client_addr: origin.client.addr.clone(),
            user_agent: origin.client.user_agent.clone(),
        };
        tx.insert_session(&session).await?;
        let mut event = session_created(&session, &token, &identity.groups, origin)?;
        if let (Some(claim), Some(details)) =
            (&claims.groups_claim_missing, event.details.as_object_mut())
        {
            details.insert("groups_claim_missing".into(), claim.clone().into());
        }
        tx.append_audit(&event).await?;
        tracing::info!(user = %claims.sub, session = %claims.jti, dev, "session created");
        Ok(IssuedSession {
            token,
            session_id: claims.registered.jti,
            expires_at,
            identity,
            dev,
        })
    }

    /// The claims of a new session token for `identity`, and when it expires (the
    /// configured session lifetime from now).
    fn session_claims(
        &self,
        identity: &Identity,
        dev: bool,
        now: DateTime<Utc>,
    ) -> Result<(SessionClaims, DateTime<Utc>), ServiceError> {
        let lifetime =
            Duration::from_std(self.core.config.session_lifetime).unwrap_or(Duration::hours(8));
        let expires_at = now + lifetime;
        let claims = SessionClaims {
            registered: RegisteredClaims::new(
                &self.core.config.public_url,
                &identity.user_id(),
                SESSION_AUDIENCE,
                random_id()?,
                now,
                expires_at,
            ),
            email: identity.email.clone(),
            groups: identity.groups.clone(),
            dev,
            groups_claim_missing: None,
        };
        Ok((claims, expires_at))
    }

    /// Writes `session.refused` for a login that was refused (not for internal failures).
    pub(super) async fn audit_refusal(
        &self,
        result: &Result<IssuedSession, ServiceError>,
        who: &str,
        origin: &Origin,
        now: DateTime<Utc>,
    ) {
        let Err(e) = result else { return };
        if matches!(
            e,
            ServiceError::Store(_) | ServiceError::Key(_) | ServiceError::Sign(_)
        ) {
            return;
        }
        let code = match e {
            ServiceError::IdToken(inner) => inner.code(),
            ServiceError::IdTokenReplayed => "id_token_replayed",
            ServiceError::LoginAttemptInvalid => "login_attempt_invalid",
            ServiceError::UserLocked => "user_locked",
            ServiceError::DevLoginDisabled => "dev_login_disabled",
            _ => "refused",
        };
        let mut event = match AuditEvent::new(EventKind::SessionRefused, who, origin, now) {
            Ok(event) => event
                .outcome("refused", Some(e.to_string()))
                .details(serde_json::json!({ "code": code })),
            Err(err) => {
                tracing::error!(error = %err, "could not write session.refused");
                return;
            }
        };
        // `who` is what the caller typed: bounded like every text from a request.
        event.subject = Some(crate::model::audit::bounded::clip(who));
        let written = async {
            let mut tx = self.core.store.begin().await?;
            tx.append_audit(&event).await?;
            tx.commit().await
        };
        if let Err(err) = written.await {
            tracing::error!(error = %err, "could not write session.refused");
        }
    }
}

/// The `session.created` event of a new session. The token itself never reaches the log:
/// only a fingerprint.
fn session_created(
    session: &Session,
    token: &str,
    groups: &[String],
    origin: &Origin,
) -> Result<AuditEvent, ServiceError> {
    let mut event = AuditEvent::new(
        EventKind::SessionCreated,
        &session.user_id,
        origin,
        session.created_at,
    )?
    .details(serde_json::json!({
        "session_id": session.id, "dev": session.dev, "kid": session.kid, "groups": groups,
        "expires_at": session.expires_at, "token_sha256": fingerprint(token),
    }));
    event.subject = Some(session.user_id.clone());
    Ok(event)
}
