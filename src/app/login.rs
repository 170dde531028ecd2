//! Logging in (OIDC and development), authenticating a session token, logging out.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::adapters::auth::registered::RegisteredClaims;
use crate::adapters::auth::session;
use crate::adapters::auth::session::{SessionClaims, SESSION_AUDIENCE};
use crate::adapters::providers::fingerprint;
use crate::app::error::ServiceError;
use crate::app::services::Sessions;
use crate::model::audit::{AuditEvent, EventKind, Origin};
use crate::model::domain::{Identity, Principal, Session, SessionState};
use crate::model::random::random_id;

/// How long a browser login may take between start and the ID token arriving.
const BROWSER_LOGIN_WINDOW: i64 = 600;
/// The issuer recorded for identities from the development login.
pub const DEV_ISSUER: &str = "dev";

/// A browser login's single-use handle and the nonce to send to the provider.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct BrowserLogin {
    /// Handle to present with the ID token.
    pub login_id: String,
    /// Nonce for the authorization request.
    pub nonce: String,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
}

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
    /// Starts a browser (authorization code + PKCE) login: a nonce the ID token must carry.
    pub async fn begin_browser_login(
        &self,
        now: DateTime<Utc>,
    ) -> Result<BrowserLogin, ServiceError> {
        // Without a provider no browser login can finish: store nothing.
        if self.verifier.is_none() {
            return Err(ServiceError::NoProvider);
        }
        let login = BrowserLogin {
            login_id: random_id()?,
            nonce: random_id()?,
            expires_at: now + Duration::seconds(BROWSER_LOGIN_WINDOW),
        };
        let mut tx = self.core.store.begin().await?;
        let max = i64::from(self.core.config.limits.pending_logins);
        if !tx
            .insert_login_attempt(&login.login_id, &login.nonce, login.expires_at, now, max)
            .await?
        {
            tracing::warn!(max, "browser login refused: too many pending logins");
            return Err(ServiceError::TooManyPendingLogins);
        }
        tx.commit().await?;
        Ok(login)
    }

    /// Exchanges a provider's ID token for a session. `login_id` names the browser login
    /// whose nonce the token must carry; the device flow has none. Refusals are audited.
    pub async fn login(
        &self,
        id_token: &str,
        login_id: Option<&str>,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<IssuedSession, ServiceError> {
        let result = self.login_inner(id_token, login_id, origin, now).await;
        self.audit_refusal(&result, "unknown", origin, now).await;
        result
    }

    async fn login_inner(
        &self,
        id_token: &str,
        login_id: Option<&str>,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<IssuedSession, ServiceError> {
        let verifier = self.verifier.as_ref().ok_or(ServiceError::NoProvider)?;
        // The attempt is consumed in its own transaction, so it stays consumed whatever
        // follows, and no write lock is held while the provider's keys are fetched.
        let nonce = match login_id {
            Some(id) => {
                let mut tx = self.core.store.begin().await?;
                let nonce = tx.take_login_attempt(id, now).await?;
                tx.commit().await?;
                Some(nonce.ok_or(ServiceError::LoginAttemptInvalid)?)
            }
            None => None,
        };
        let verified = verifier.verify(id_token, nonce.as_deref(), now).await?;
        let mut tx = self.core.store.begin().await?;
        if !tx
            .mark_id_token_used(&verified.replay_key, verified.remember_until, now)
            .await?
        {
            return Err(ServiceError::IdTokenReplayed);
        }
        let issued = self
            .open_session(&mut tx, verified.identity, false, origin, now)
            .await?;
        tx.commit().await?;
        Ok(issued)
    }

    /// The development login: any email and groups, on a development server only.
    pub async fn dev_login(
        &self,
        email: &str,
        groups: Vec<String>,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<IssuedSession, ServiceError> {
        let result = self.dev_login_inner(email, groups, origin, now).await;
        self.audit_refusal(&result, email, origin, now).await;
        result
    }

    async fn dev_login_inner(
        &self,
        email: &str,
        groups: Vec<String>,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<IssuedSession, ServiceError> {
        if !self.core.config.dev || !self.core.config.listen.ip().is_loopback() {
            return Err(ServiceError::DevLoginDisabled);
        }
        let email = email.trim().to_lowercase();
        if !email.contains('@') || email.len() > 254 || email.chars().any(char::is_whitespace) {
            return Err(ServiceError::BadRequest(format!(
                "{email:?} is not an email address"
            )));
        }
        let identity = Identity {
            issuer: DEV_ISSUER.into(),
            subject: email.clone(),
            email: Some(email),
            name: None,
            groups,
            auth_time: Some(now),
        };
        let mut tx = self.core.store.begin().await?;
        let issued = self
            .open_session(&mut tx, identity, true, origin, now)
            .await?;
        tx.commit().await?;
        Ok(issued)
    }

    /// Writes `session.refused` for a login that was refused (not for internal failures).
    async fn audit_refusal(
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

    async fn open_session(
        &self,
        tx: &mut crate::store::Tx,
        identity: Identity,
        dev: bool,
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
        };
        let (token, kid) = session::issue(&self.keyring, &claims)?;
        tx.upsert_user(&identity, now).await?;
        tx.insert_session(&Session {
            id: claims.jti.clone(),
            user_id: claims.sub.clone(),
            kid: kid.clone(),
            dev,
            created_at: now,
            expires_at,
            auth_time: identity.auth_time,
            revoked_at: None,
            client_addr: origin.client.addr.clone(),
            user_agent: origin.client.user_agent.clone(),
        })
        .await?;
        // The token itself never reaches the log: only a fingerprint.
        let mut event = AuditEvent::new(EventKind::SessionCreated, &claims.sub, origin, now)?
            .details(serde_json::json!({
                "session_id": claims.jti, "dev": dev, "kid": kid, "groups": identity.groups,
                "expires_at": expires_at, "token_sha256": fingerprint(&token),
            }));
        event.subject = Some(claims.sub.clone());
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
        tx.commit().await?;
        self.gate.end_session(&p.session_id);
        tracing::info!(user = %p.user_id, session = %p.session_id, "session ended by logout");
        Ok(())
    }
}
