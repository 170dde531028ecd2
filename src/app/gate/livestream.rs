//! PostHog's live events service behind the broker: tokens for the team the granted role
//! names, and the answer to the service's authorization callback (204 while the grant
//! behind the token is active, 403 once it is not), so the service closes its streams
//! when the grant ends.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::adapters::providers::fingerprint;
use crate::adapters::providers::livestream;
use crate::adapters::providers::livestream::{LivestreamClaims, MAX_TTL};
use crate::app::error::ServiceError;
use crate::app::gate::failure::internal;
use crate::app::issuance::Ended;
use crate::app::issuance::Holder;
use crate::app::issuance::Minted;
use crate::app::services::{Credentials, Gatekeeper};
use crate::model::access::{AccessRequest, State};
use crate::model::audit::{AuditEvent, EventKind, Origin};
use crate::model::domain::Principal;
use crate::model::gate::admission_rules::GateRefusal;
use crate::model::policy::Kind;
use crate::model::refusal::Class;
use crate::store::{Issuance, StoreError};

/// The issuance kind of livestream tokens.
pub const KIND: &str = "livestream";

/// A livestream token as the API returns it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IssuedLivestream {
    /// The token (`Authorization: Bearer` at the live events service).
    pub token: String,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// The team it streams.
    pub team_id: i64,
    /// The grant it belongs to.
    pub grant_id: String,
}

impl Credentials {
    /// A livestream token inside the caller's active grant on `resource`.
    pub async fn issue_livestream(
        &self,
        p: &Principal,
        resource: &str,
        ttl: Option<Duration>,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<IssuedLivestream, ServiceError> {
        let began = std::time::Instant::now();
        let settings = self.core.config.livestream.as_ref().ok_or_else(|| {
            ServiceError::NotFound(
                "this broker issues no livestream tokens: set [livestream] secret and api_token"
                    .into(),
            )
        })?;
        let (r, grant) = self
            .live_grant(p, resource, Kind::Http, origin, now)
            .await?;
        let team_id = livestream::team_of_role(&grant.role).ok_or_else(|| {
            ServiceError::BadRequest(format!("the role {} names no team (team:N)", grant.role))
        })?;
        let ttl = ttl.unwrap_or(settings.token_ttl).min(MAX_TTL);
        let expires_at = (now + chrono::Duration::from_std(ttl).unwrap_or_default())
            .min(grant.expires_at.unwrap_or(now));
        let (token, claims) =
            livestream::mint(settings, team_id, p.email.as_deref(), now, expires_at)?;
        let minted = livestream_minted(&grant, &claims, &token, "api", origin, now)?;
        self.hand_out_to(p, &r, &grant, minted, origin, (now, began))
            .await?;
        Ok(IssuedLivestream {
            token,
            expires_at,
            team_id,
            grant_id: grant.id,
        })
    }

    /// A livestream token the gate sends upstream for `grant` (recorded like any
    /// issuance, and refused like an admission if the grant ended meanwhile).
    pub(crate) async fn gate_livestream_token(
        &self,
        holder: &Holder,
        email: Option<&str>,
        grant: &AccessRequest,
        now: DateTime<Utc>,
    ) -> Result<String, GateRefusal> {
        let began = std::time::Instant::now();
        let settings = self.core.config.livestream.as_ref().ok_or_else(|| {
            GateRefusal::new(
                Class::Unavailable,
                "livestream_not_configured",
                "this resource needs [livestream] in the broker's configuration",
            )
        })?;
        let team = livestream::team_of_role(&grant.role).ok_or_else(|| {
            GateRefusal::new(
                Class::Forbidden,
                "no_team",
                "the granted role names no team",
            )
        })?;
        let expires_at = (now + chrono::Duration::from_std(settings.token_ttl).unwrap_or_default())
            .min(grant.expires_at.unwrap_or(now));
        let (token, claims) =
            livestream::mint(settings, team, email, now, expires_at).map_err(internal)?;
        let minted = livestream_minted(grant, &claims, &token, "gate", &Origin::default(), now)
            .map_err(internal)?;
        match self
            .hand_out(holder, &grant.id, minted, &Origin::default(), (now, began))
            .await
            .map_err(internal)?
        {
            Ok(()) => Ok(token),
            Err(ended) => Err(ended_refusal(&grant.resource, ended)),
        }
    }
}

impl Gatekeeper {
    /// The live events service's authorization callback: `Ok` while the grant behind
    /// this token is active and its human unlocked.
    pub async fn livestream_authz(
        &self,
        token: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), GateRefusal> {
        let unauthorized = || {
            GateRefusal::new(
                Class::Unauthenticated,
                "invalid_token",
                "not a livestream token of this broker",
            )
        };
        let settings = self
            .core
            .config
            .livestream
            .as_ref()
            .ok_or_else(unauthorized)?;
        let claims = token
            .and_then(|t| livestream::verify(settings, t))
            .ok_or_else(unauthorized)?;
        let failed = |e: StoreError| {
            tracing::error!(error = %e, "livestream authorization failed");
            GateRefusal::new(Class::Unavailable, "unavailable", "try again")
        };
        let mut tx = self.core.store.begin_read().await.map_err(failed)?;
        let grant = match tx.issuance_grant(&claims.jti, KIND).await.map_err(failed)? {
            Some(id) => tx.request(&id).await.map_err(failed)?,
            None => None,
        };
        let grant = grant.ok_or_else(unauthorized)?;
        let mut keys = vec![grant.requester_id.clone()];
        if let Some(u) = tx.user_profile(&grant.requester_id).await.map_err(failed)? {
            keys.push(u.subject);
            keys.extend(u.email.map(|e| e.to_lowercase()));
        }
        let locked = tx.find_lock(&keys).await.map_err(failed)?.is_some();
        tx.commit().await.map_err(failed)?;
        if locked {
            return Err(GateRefusal::new(
                Class::Forbidden,
                "user_locked",
                "this user is locked",
            ));
        }
        if grant.state != State::Active || grant.expires_at.is_none_or(|e| e <= now) {
            return Err(GateRefusal::no_grant(&grant.resource, Some(&grant), now));
        }
        Ok(())
    }
}

/// A livestream token's record (fingerprint, never the token) and its audit event.
pub(crate) fn livestream_minted(
    grant: &AccessRequest,
    claims: &LivestreamClaims,
    token: &str,
    via: &str,
    origin: &Origin,
    now: DateTime<Utc>,
) -> Result<Minted, crate::model::random::RandomError> {
    let print = fingerprint(token);
    let expires_at = DateTime::from_timestamp(claims.exp, 0).unwrap_or(now);
    Ok(Minted {
        issuance: Issuance {
            id: claims.jti.clone(),
            request_id: grant.id.clone(),
            kind: KIND,
            fingerprint: print.clone(),
            issued_at: now,
            expires_at,
        },
        issued: AuditEvent::new(EventKind::CredentialIssued, &grant.requester_id, origin, now)?
            .about(&grant.id, &grant.resource, &grant.role)
            .details(serde_json::json!({ "kind": KIND, "fingerprint": print, "jti": claims.jti, "team_id": claims.team_id, "expires_at": expires_at, "via": via })),
        identifiers: serde_json::json!({ "kind": KIND, "fingerprint": print, "jti": claims.jti, "via": via }),
        made_login: None,
    })
}

/// The refusal a new admission would get for what ended.
fn ended_refusal(resource: &str, ended: Ended) -> GateRefusal {
    let unauthenticated =
        |code, m: &str| GateRefusal::new(Class::Unauthenticated, code, m.to_string());
    match ended {
        Ended::Grant(latest) => GateRefusal::no_grant(resource, latest.as_deref(), Utc::now()),
        Ended::SessionRevoked => unauthenticated(
            "session_revoked",
            "this session has ended; run `latchkey login`",
        ),
        Ended::SessionExpired => unauthenticated(
            "session_expired",
            "the session has expired; run `latchkey login`",
        ),
        Ended::UserLocked => GateRefusal::new(
            Class::Forbidden,
            "user_locked",
            "this user is locked by an administrator",
        ),
    }
}
