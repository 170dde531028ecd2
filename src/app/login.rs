//! Logging in through the OpenID provider: a browser login (authorization code + PKCE,
//! its nonce remembered for a while) or the device flow, each an ID token exchanged for
//! a session (`session_open`). Refused logins are audited.

use chrono::{DateTime, Duration, Utc};

use crate::app::error::ServiceError;
use crate::app::services::Sessions;
use crate::app::session_open::IssuedSession;
use crate::model::audit::Origin;
use crate::model::random::random_id;
pub use crate::model::wire::BrowserLogin;

/// How long a browser login may take between start and the ID token arriving.
const BROWSER_LOGIN_WINDOW: i64 = 600;

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
}
