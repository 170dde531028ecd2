//! Session tokens after login: authenticating one (its session live, its user not
//! locked), and logging out (optionally revoking the caller's grants first).

use chrono::{DateTime, Utc};

use crate::adapters::auth::session;
use crate::app::error::ServiceError;
use crate::app::services::Sessions;
use crate::model::audit::{AuditEvent, EventKind, Origin};
use crate::model::domain::{Principal, SessionState};

impl Sessions {
    /// Checks a session token and that its session is live and its user not locked.
    pub async fn authenticate(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Principal, ServiceError> {
        let claims = session::verify(&self.keyring, &self.core.config.public_url, token, now)?;
        // Development sessions count on a development broker only, whatever the database says.
        if claims.dev && !self.core.config.dev {
            return Err(ServiceError::DevSessionRefused);
        }
        let mut tx = self.core.store.begin_read().await?;
        let record = tx
            .session(&claims.jti)
            .await?
            .ok_or(ServiceError::SessionRevoked)?;
        tx.commit().await?;
        if record.session.user_id != claims.sub {
            return Err(ServiceError::SessionRevoked);
        }
        if record.session.dev && !self.core.config.dev {
            return Err(ServiceError::DevSessionRefused);
        }
        match record.session.state(now, record.locked) {
            SessionState::Active => {}
            SessionState::Locked => return Err(ServiceError::UserLocked),
            SessionState::Revoked => return Err(ServiceError::SessionRevoked),
            SessionState::Expired => {
                return Err(crate::adapters::auth::session::SessionTokenError::Expired.into())
            }
        }
        Ok(Principal {
            user_id: record.session.user_id,
            subject: record.subject,
            email: record.email,
            name: record.name,
            groups: record.groups,
            session_id: record.session.id,
            expires_at: record.session.expires_at,
            dev: record.session.dev,
            auth_time: record.session.auth_time,
            groups_claim_missing: claims.groups_claim_missing,
        })
    }

    /// Ends the caller's session after revoking every live grant of theirs (each with its
    /// audit event and the denial of its AWS sessions, in its own transaction); returns how
    /// many were revoked. A revocation that fails leaves the session as it was.
    pub async fn logout_revoking(
        &self,
        p: &Principal,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<usize, ServiceError> {
        use crate::model::access::State;
        let mut tx = self.core.store.begin_read().await?;
        let live = tx
            .list_requests(Some(&p.user_id), &[State::Approved, State::Active], 1000)
            .await?;
        tx.commit().await?;
        let mut revoked = 0;
        for r in live {
            match self.access.revoke(p, &r.id, origin, now).await {
                Ok(_) => revoked += 1,
                // Ended meanwhile (expired, revoked elsewhere): nothing left to revoke.
                Err(ServiceError::Lifecycle(_)) => {}
                Err(e) => return Err(e),
            }
        }
        self.logout(p, origin, now).await?;
        Ok(revoked)
    }

    /// Ends the caller's session.
    pub async fn logout(
        &self,
        p: &Principal,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<(), ServiceError> {
        let mut tx = self.core.store.begin().await?;
        tx.revoke_session(&p.session_id, "logout", now).await?;
        let mut event = AuditEvent::new(EventKind::SessionEnded, &p.user_id, origin, now)?
            .outcome("success", Some("logout".into()))
            .details(serde_json::json!({ "session_id": p.session_id }));
        event.subject = Some(p.user_id.clone());
        tx.append_audit(&event).await?;
        tx.notify_gate(&format!("session:{}", p.session_id)).await?;
        tx.commit().await?;
        self.gate.end_session(&p.session_id);
        tracing::info!(user = %p.user_id, session = %p.session_id, "session ended by logout");
        Ok(())
    }
}
