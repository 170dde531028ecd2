//! Credentials inside grants: issued only inside an active grant, living at most
//! min(asked, the grant's remaining time, the provider's limit), each issuance recorded
//! (fingerprint and expiry, never the secret) with its audit event in one transaction,
//! the one that checks the grant again before anything is handed out (`issuance`).
//! Broker tokens are here; AWS sessions in `credentials_aws`.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::adapters::auth::session::SessionTokenError;
use crate::adapters::providers::{fingerprint, token};
use crate::app::error::ServiceError;
use crate::app::issuance::{Ended, Holder, Minted};
use crate::app::services::Credentials;
use crate::model::access::AccessRequest;
use crate::model::audit::{AuditEvent, EventKind, Origin};
use crate::model::domain::Principal;
use crate::model::policy::{Kind, Resource};
use crate::store::Issuance;

/// How long a broker token lives when the caller does not say.
const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);

/// A broker token as the API returns it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IssuedToken {
    /// The token.
    pub token: String,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// Its `aud`.
    pub audience: String,
    /// The grant it belongs to.
    pub grant_id: String,
    /// The role granted.
    pub role: String,
    /// `EdDSA` or `ES256`.
    pub algorithm: String,
}

impl Credentials {
    /// The caller's live grant on `resource`, or a refusal that says how to get one.
    pub(crate) async fn live_grant(
        &self,
        p: &Principal,
        resource: &str,
        kind: Kind,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<(Resource, AccessRequest), ServiceError> {
        let r = self.served(resource, kind)?;
        let mut tx = self.core.store.begin_read().await?;
        let grant = tx.active_grant(&p.user_id, resource, now).await?;
        tx.commit().await?;
        match grant {
            Some(g) => Ok((r, g)),
            None => Err(self.no_grant(p, &r, origin, now).await?),
        }
    }

    /// The catalogue's `resource`, if `kind`'s provider serves it.
    pub(crate) fn served(&self, resource: &str, kind: Kind) -> Result<Resource, ServiceError> {
        let policy = self.core.policy.current();
        let r = policy
            .catalogue
            .resources
            .get(resource)
            .cloned()
            .ok_or_else(|| ServiceError::NotFound(format!("there is no resource {resource:?}")))?;
        if r.kind != kind {
            return Err(ServiceError::BadRequest(format!(
                "{resource} is served by the {:?} provider, not the {kind:?} one",
                r.kind
            )));
        }
        Ok(r)
    }

    /// Audits a credential asked for without an active grant on `r`; the refusal to answer.
    pub(crate) async fn no_grant(
        &self,
        p: &Principal,
        r: &Resource,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<ServiceError, ServiceError> {
        let mut event = AuditEvent::new(EventKind::CredentialFailed, &p.user_id, origin, now)?
            .outcome("refused", Some("no active grant".into()));
        event.resource = Some(r.name.clone());
        let mut tx = self.core.store.begin().await?;
        tx.append_audit(&event).await?;
        tx.commit().await?;
        Ok(no_active_grant(r))
    }

    /// Hands out a minted credential if the grant, session and user still stand (see
    /// `issuance`); else the refusal a new request would get now.
    pub(crate) async fn hand_out_to(
        &self,
        p: &Principal,
        r: &Resource,
        grant: &AccessRequest,
        minted: Minted,
        origin: &Origin,
        clock: (DateTime<Utc>, Instant),
    ) -> Result<(), ServiceError> {
        match self
            .hand_out(&Holder::of(p), &grant.id, minted, origin, clock)
            .await?
        {
            Ok(()) => Ok(()),
            Err(Ended::Grant(_)) => Err(no_active_grant(r)),
            Err(Ended::SessionRevoked) => Err(ServiceError::SessionRevoked),
            Err(Ended::SessionExpired) => Err(SessionTokenError::Expired.into()),
            Err(Ended::UserLocked) => Err(ServiceError::UserLocked),
        }
    }

    /// Issues a broker token for `resource` inside the caller's active grant.
    pub async fn issue_token(
        &self,
        p: &Principal,
        resource: &str,
        ttl: Option<Duration>,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<IssuedToken, ServiceError> {
        let began = Instant::now();
        // Broker tokens serve token resources, and http resources behind the gate.
        let kind = match self.core.policy.current().catalogue.resources.get(resource) {
            Some(r) if r.kind == Kind::Http => Kind::Http,
            _ => Kind::Token,
        };
        let (r, grant) = self.live_grant(p, resource, kind, origin, now).await?;
        let grant_end = grant.expires_at.unwrap_or(now);
        let asked = chrono::Duration::from_std(
            ttl.unwrap_or(DEFAULT_TOKEN_TTL)
                .min(Kind::Token.max_credential_ttl()),
        )
        .unwrap_or_default();
        // Never outlives the grant.
        let expires_at = (now + asked).min(grant_end);
        let (jwt, claims) = token::mint(
            &self.keyring,
            &self.core.config.public_url,
            &r,
            &grant,
            p.email.clone(),
            now,
            expires_at,
        )?;
        let print = fingerprint(&jwt);
        let minted = Minted {
            issuance: Issuance {
                id: claims.jti.clone(),
                request_id: grant.id.clone(),
                kind: "token",
                fingerprint: print.clone(),
                issued_at: now,
                expires_at,
            },
            issued: AuditEvent::new(EventKind::CredentialIssued, &p.user_id, origin, now)?
                .about(&grant.id, &r.name, &grant.role)
                .details(serde_json::json!({ "kind": "token", "fingerprint": print, "jti": claims.jti, "expires_at": expires_at, "audience": claims.aud })),
            identifiers: serde_json::json!({ "kind": "token", "fingerprint": print, "jti": claims.jti }),
            made_login: None,
        };
        self.hand_out_to(p, &r, &grant, minted, origin, (now, began))
            .await?;
        Ok(IssuedToken {
            token: jwt,
            expires_at,
            audience: claims.registered.aud,
            grant_id: grant.id,
            role: grant.role,
            algorithm: format!("{:?}", r.token_algorithm),
        })
    }
}

/// The refusal for a caller without a live grant on `r`, naming the command that would
/// request one: what a new request gets, and what a credential in flight gets when its
/// grant ended before it was handed out.
fn no_active_grant(r: &Resource) -> ServiceError {
    let role = if r.roles.len() == 1 {
        r.roles
            .keys()
            .next()
            .map(|k| format!(" --role {k}"))
            .unwrap_or_default()
    } else {
        " --role ROLE".into()
    };
    ServiceError::NoActiveGrant {
        resource: r.name.clone(),
        command: format!("latchkey request {}{role} --reason \"…\"", r.name),
    }
}
