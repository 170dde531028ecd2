//! Identifying the human behind a gate credential: a session token (checked as the API
//! checks it, locks included) or a broker token for the resource's audience (verified
//! offline, its user's profile read from the store). The grant is looked at later
//! (`standing`).

use base64::Engine;
use chrono::{DateTime, Utc};

use crate::adapters::assertion;
use crate::adapters::auth::session::{SessionTokenError, SESSION_AUDIENCE};
use crate::adapters::providers::token::{BrokerTokenClaims, OfflineVerifier, VerifyError};
use crate::app::error::ServiceError;
use crate::app::gate::failure::internal;
use crate::app::services::Gatekeeper;
use crate::model::gate::admission_rules::GateRefusal;
use crate::model::refusal::Class;

/// The human behind a credential, before the grant is looked at.
pub(super) struct Who {
    pub(super) user_id: String,
    pub(super) subject: String,
    pub(super) email: Option<String>,
    pub(super) groups: Vec<String>,
    pub(super) session_id: Option<String>,
    /// The grant a broker token names.
    pub(super) grant_id: Option<String>,
    /// When the credential ends (exactly: no leeway).
    pub(super) credential_ends: DateTime<Utc>,
}

/// The `aud` of a JWT, read without verifying (only to choose how to verify it).
fn audience_of(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("aud")?.as_str().map(str::to_string)
}

fn unauthenticated(code: &'static str, m: &str) -> GateRefusal {
    GateRefusal::new(Class::Unauthenticated, code, m.to_string())
}

impl Gatekeeper {
    /// Verifies the credential: a session token, or a broker token for `audience`.
    pub(super) async fn identify(&self, token: &str, audience: &str) -> Result<Who, GateRefusal> {
        if assertion::is_assertion(token) {
            return Err(unauthenticated(
                "invalid_token",
                "an identity assertion is not a credential",
            ));
        }
        let now = Utc::now();
        if audience_of(token).as_deref() == Some(SESSION_AUDIENCE) {
            return self.identify_session(token, now).await;
        }
        self.identify_broker_token(token, audience, now).await
    }

    /// A session token, authenticated as the API authenticates it.
    async fn identify_session(&self, token: &str, now: DateTime<Utc>) -> Result<Who, GateRefusal> {
        let p = self
            .sessions
            .authenticate(token, now)
            .await
            .map_err(session_refusal)?;
        Ok(Who {
            user_id: p.user_id,
            subject: p.subject,
            email: p.email,
            groups: p.groups,
            session_id: Some(p.session_id),
            grant_id: None,
            credential_ends: p.expires_at,
        })
    }

    /// A broker token for `audience`, verified offline against the broker's own keys, and
    /// the profile of its user.
    async fn identify_broker_token(
        &self,
        token: &str,
        audience: &str,
        now: DateTime<Utc>,
    ) -> Result<Who, GateRefusal> {
        let jwks = serde_json::from_value(self.keyring.jwks(now)).map_err(internal)?;
        let claims: BrokerTokenClaims =
            OfflineVerifier::new(&jwks, &self.core.config.public_url, audience)
                .verify(token)
                .map_err(broker_token_refusal)?;
        // The verifier allows downstream services some clock skew past `exp`; the broker
        // signed the token by its own clock, so for the gate it ends at `exp` exactly
        // (refused in `admit_who`, after the grant, whose end is the likelier reason).
        let credential_ends = DateTime::from_timestamp(claims.exp, 0).unwrap_or_default();
        let mut tx = self.core.store.begin_read().await.map_err(internal)?;
        let profile = tx.user_profile(&claims.sub).await.map_err(internal)?;
        tx.commit().await.map_err(internal)?;
        let profile = profile.ok_or_else(|| unauthenticated("invalid_token", "unknown user"))?;
        Ok(Who {
            user_id: claims.registered.sub,
            subject: profile.subject,
            email: profile.email,
            groups: profile.groups,
            session_id: None,
            grant_id: Some(claims.grant),
            credential_ends,
        })
    }
}

/// What the gate says of a session token the API would refuse.
fn session_refusal(e: ServiceError) -> GateRefusal {
    match e {
        ServiceError::UserLocked => GateRefusal::new(
            Class::Forbidden,
            "user_locked",
            "this user is locked by an administrator",
        ),
        ServiceError::SessionRevoked => unauthenticated(
            "session_revoked",
            "this session has ended; run `latchkey login`",
        ),
        ServiceError::Unauthenticated(SessionTokenError::Expired) => unauthenticated(
            "session_expired",
            "the session has expired; run `latchkey login`",
        ),
        ServiceError::Unauthenticated(_) => {
            unauthenticated("invalid_token", "the session token is invalid")
        }
        other => internal(other),
    }
}

/// What the gate says of a broker token that does not verify.
fn broker_token_refusal(e: VerifyError) -> GateRefusal {
    match e {
        VerifyError::Invalid(why) if why == "wrong audience" => GateRefusal::new(
            Class::Forbidden,
            "wrong_resource",
            "this broker token is for another resource",
        ),
        VerifyError::Invalid(why) if why == "expired" => {
            unauthenticated("token_expired", "the broker token has expired")
        }
        _ => unauthenticated(
            "invalid_token",
            "the credential is not a valid session or broker token",
        ),
    }
}
