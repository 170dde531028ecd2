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

    /// Warns, once per claim name, that ID tokens lack the configured groups claim;
    /// returns the claim's name for the session to carry.
    fn warn_missing_groups_claim(&self, user: &str) -> String {
        let claim = self
            .verifier
            .as_ref()
            .map(|v| v.config().groups_claim.clone())
            .unwrap_or_default();
        let first = self
            .groups_claim_warned
            .lock()
            .map(|mut seen| seen.insert(claim.clone()))
            .unwrap_or(false);
        if first {
            tracing::warn!(claim = %claim, %user, "the identity provider's ID token has no {claim:?} claim, so this login (and every other without it) has no groups: set oidc.groups_claim (LATCHKEY_OIDC_GROUPS_CLAIM) to the claim that holds them, or make the provider send it; `latchkey serve --check-idp` shows what its tokens carry");
        } else {
            tracing::debug!(claim = %claim, %user, "ID token without the groups claim");
        }
        claim
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
        let missing = verified
            .groups_claim_missing
            .then(|| self.warn_missing_groups_claim(&verified.identity.user_id()));
        let issued = self
            .open_session(&mut tx, verified.identity, false, missing, origin, now)
            .await?;
        tx.commit().await?;
        Ok(issued)
    }
}
