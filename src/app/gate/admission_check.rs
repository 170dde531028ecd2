//! The admission check: from a bearer credential and a resource name to an
//! [`Admission`] or a [`GateRefusal`]. Refusals of a known human are audited.

use std::sync::Arc;

use base64::Engine;
use chrono::{DateTime, Utc};

use crate::adapters::assertion;
use crate::adapters::auth::session::{SessionTokenError, SESSION_AUDIENCE};
use crate::adapters::providers::token::{BrokerTokenClaims, OfflineVerifier, VerifyError};
use crate::app::error::ServiceError;
use crate::app::gate::cache::{cache_key, CacheKey};
use crate::app::issuance::Holder;
use crate::app::services::Gatekeeper;
use crate::model::access::{AccessRequest, State};
use crate::model::audit::{AuditEvent, EventKind, Origin};
use crate::model::gate::admission_rules::{
    gated, wants_livestream, Admission, GateRefusal, Prepared,
};
use crate::model::refusal::Class;

/// Checks of one admission before it gives up (see [`Gatekeeper::admit`]).
const CHECKS: usize = 3;

/// The human behind a credential, before the grant is looked at.
struct Who {
    user_id: String,
    subject: String,
    email: Option<String>,
    groups: Vec<String>,
    session_id: Option<String>,
    /// The grant a broker token names.
    grant_id: Option<String>,
    /// When the credential ends (exactly: no leeway).
    credential_ends: DateTime<Utc>,
}

/// A failure of the broker itself while admitting: 503, logged, never echoed.
pub(super) fn internal(e: impl std::fmt::Display) -> GateRefusal {
    tracing::error!(error = %e, "gate admission failed");
    GateRefusal::new(
        Class::Unavailable,
        "unavailable",
        "the broker cannot check access right now; try again",
    )
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

impl Gatekeeper {
    /// Admits the holder of `token` to `resource`, or says why not.
    pub async fn admit(
        &self,
        token: Option<&str>,
        resource: &str,
        origin: &(dyn Fn() -> Origin + Sync),
        now: DateTime<Utc>,
    ) -> Result<Arc<Admission>, GateRefusal> {
        let token = token.ok_or_else(|| {
            GateRefusal::new(
                Class::Unauthenticated,
                "unauthenticated",
                "no credential: send Authorization: Bearer <session or broker token>",
            )
        })?;
        // A log found cut short or rewritten admits nobody, remembered admissions included.
        if self.core.store.audit_guard().is_broken() {
            return Err(GateRefusal::new(
                Class::Unavailable,
                "audit_chain_broken",
                "the broker found its audit log cut short or rewritten and admits nobody until an operator has checked it",
            ));
        }
        let key = cache_key(token, resource);
        if let Some(a) = self.gate.admissions.get(&key, now) {
            return Ok(a);
        }
        // Boxed: the store's futures are large, and every admission, cached or not, would
        // otherwise carry (and move) their space.
        Box::pin(async {
            let turn = self.gate.admissions.turn(key).await;
            // Whoever checked before this turn may have admitted the same credential.
            if let Some(a) = self.gate.admissions.get(&key, now) {
                return Ok(a);
            }
            // If that check admitted nobody, the others that waited for it check too, side
            // by side (see the cache module).
            let _turn = (!turn.waited()).then_some(turn);
            self.admit_uncached(key, token, resource, origin, now).await
        })
        .await
    }

    /// [`Gatekeeper::admit`] past the cache: the credential and the grant checked, the
    /// admission remembered, a refusal audited.
    async fn admit_uncached(
        &self,
        key: CacheKey,
        token: &str,
        resource: &str,
        origin: &(dyn Fn() -> Origin + Sync),
        now: DateTime<Utc>,
    ) -> Result<Arc<Admission>, GateRefusal> {
        let (r, upstream) = gated(
            self.core.policy.current().catalogue.resources.get(resource),
            resource,
        )?;
        // An end this replica commits while the check runs may have overtaken its reads:
        // such an admission is neither remembered nor used, and the check runs again
        // (from reads that see the end). Two ends in a row are bad luck; more, fail closed.
        for _ in 0..CHECKS {
            self.gate.admissions.count_check();
            let since = self.gate.admissions.since();
            let who = self.identify(token, &r.audience).await?;
            match self.admit_who(&who, &r, upstream.clone(), now).await {
                Ok(a) => {
                    self.core.in_flight.pass("admission").await;
                    let a = Arc::new(a);
                    if self.gate.admissions.put(key, a.clone(), since) {
                        return Ok(a);
                    }
                }
                Err(refusal) => return Err(self.refused(&who, resource, refusal, origin).await),
            }
        }
        Err(internal("every check was overtaken by an end"))
    }

    /// Audits a refusal of a known human as `gate.refused`.
    async fn refused(
        &self,
        who: &Who,
        resource: &str,
        refusal: GateRefusal,
        origin: &(dyn Fn() -> Origin + Sync),
    ) -> GateRefusal {
        let now = Utc::now();
        let mut event = match AuditEvent::new(EventKind::GateRefused, &who.user_id, &origin(), now) {
            Ok(event) => event
                .outcome("refused", Some(refusal.message.clone()))
                .details(serde_json::json!({ "code": refusal.code, "credential": if who.session_id.is_some() { "session" } else { "broker_token" } })),
            Err(e) => return internal(e),
        };
        event.resource = Some(resource.to_string());
        event.subject = who.grant_id.clone();
        let written = async {
            let mut tx = self.core.store.begin().await?;
            tx.append_audit(&event).await?;
            tx.commit().await
        };
        match written.await {
            Ok(()) => refusal,
            Err(e) => internal(e),
        }
    }

    /// Verifies the credential: a session token, or a broker token for `audience`.
    async fn identify(&self, token: &str, audience: &str) -> Result<Who, GateRefusal> {
        let unauthenticated =
            |code, m: &str| GateRefusal::new(Class::Unauthenticated, code, m.to_string());
        if assertion::is_assertion(token) {
            return Err(unauthenticated(
                "invalid_token",
                "an identity assertion is not a credential",
            ));
        }
        let now = Utc::now();
        if audience_of(token).as_deref() == Some(SESSION_AUDIENCE) {
            let p = self
                .sessions
                .authenticate(token, now)
                .await
                .map_err(|e| match e {
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
                })?;
            return Ok(Who {
                user_id: p.user_id,
                subject: p.subject,
                email: p.email,
                groups: p.groups,
                session_id: Some(p.session_id),
                grant_id: None,
                credential_ends: p.expires_at,
            });
        }
        let jwks = serde_json::from_value(self.keyring.jwks(now)).map_err(internal)?;
        let claims: BrokerTokenClaims =
            OfflineVerifier::new(&jwks, &self.core.config.public_url, audience)
                .verify(token)
                .map_err(|e| match e {
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
                })?;
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

    /// The grant and lock checks, then the assertion (and livestream token) for the upstream.
    async fn admit_who(
        &self,
        who: &Who,
        r: &crate::model::policy::Resource,
        upstream: crate::model::policy::upstream::Upstream,
        now: DateTime<Utc>,
    ) -> Result<Admission, GateRefusal> {
        let mut user_keys = vec![who.user_id.clone(), who.subject.clone()];
        user_keys.extend(who.email.as_ref().map(|e| e.to_lowercase()));
        let standing = self.standing(who, &r.name, &user_keys, now).await?;
        let g = standing.admits(who, &r.name, now)?;
        let grant_ends = g.expires_at.unwrap_or(now);
        let subject = assertion::Subject {
            user_id: &who.user_id,
            email: who.email.as_deref(),
            groups: &who.groups,
            grant: &g.id,
            resource: &r.name,
            role: &g.role,
            grant_ends,
        };
        let (assertion, assertion_expires) = assertion::mint(
            &self.keyring,
            &self.core.config.public_url,
            &r.audience,
            &subject,
            now,
        )
        .map_err(internal)?;
        let bearer = if wants_livestream(r) {
            let holder = Holder {
                user_id: who.user_id.clone(),
                lock_keys: user_keys.clone(),
                session_id: who.session_id.clone(),
            };
            Some(
                self.credentials
                    .gate_livestream_token(&holder, who.email.as_deref(), g, now)
                    .await?,
            )
        } else {
            None
        };
        Ok(Admission {
            user_id: who.user_id.clone(),
            user_keys,
            email: who.email.clone(),
            groups: who.groups.clone(),
            session_id: who.session_id.clone(),
            grant_id: g.id.clone(),
            role: g.role.clone(),
            resource: r.name.clone(),
            grant_ends,
            upstream,
            assertion_expires,
            credential_ends: who.credential_ends,
            headers: Prepared::new(&assertion, bearer.as_deref(), &g.id).map_err(internal)?,
        })
    }

    /// The caller's standing on `resource`, read in one transaction: the live grant (the
    /// one a broker token names, else the active one), the latest grant to explain a
    /// refusal with, and a lock (for broker tokens; sessions were checked by `authenticate`).
    async fn standing(
        &self,
        who: &Who,
        resource: &str,
        user_keys: &[String],
        now: DateTime<Utc>,
    ) -> Result<Standing, GateRefusal> {
        let mut tx = self.core.store.begin_read().await.map_err(internal)?;
        let grant: Option<AccessRequest> = match &who.grant_id {
            // A broker token names its grant: that one, and only while it is active.
            Some(id) => tx
                .request(id)
                .await
                .map_err(internal)?
                .filter(|g| g.requester_id == who.user_id && g.resource == resource),
            None => tx
                .active_grant(&who.user_id, resource, now)
                .await
                .map_err(internal)?,
        };
        let live = grant
            .clone()
            .filter(|g| g.state == State::Active && g.expires_at.is_some_and(|e| e > now));
        let latest = match (&live, &who.grant_id) {
            (Some(_), _) => None,
            (None, Some(_)) => grant,
            (None, None) => tx
                .latest_grant(&who.user_id, resource)
                .await
                .map_err(internal)?,
        };
        let locked =
            who.session_id.is_none() && tx.find_lock(user_keys).await.map_err(internal)?.is_some();
        tx.commit().await.map_err(internal)?;
        Ok(Standing {
            live,
            latest,
            locked,
        })
    }
}

/// What the store says of a caller and a resource (see [`Gatekeeper::standing`]).
struct Standing {
    live: Option<AccessRequest>,
    latest: Option<AccessRequest>,
    locked: bool,
}

impl Standing {
    /// The grant that admits, or why none does: a lock, no live grant, or a credential
    /// that has expired.
    fn admits(
        &self,
        who: &Who,
        resource: &str,
        now: DateTime<Utc>,
    ) -> Result<&AccessRequest, GateRefusal> {
        if self.locked {
            return Err(GateRefusal::new(
                Class::Forbidden,
                "user_locked",
                "this user is locked by an administrator",
            ));
        }
        let Some(g) = &self.live else {
            return Err(GateRefusal::no_grant(resource, self.latest.as_ref(), now));
        };
        if who.credential_ends <= now {
            let (code, what) = match who.session_id {
                Some(_) => ("session_expired", "session"),
                None => ("token_expired", "broker token"),
            };
            return Err(GateRefusal::new(
                Class::Unauthenticated,
                code,
                format!("the {what} has expired"),
            ));
        }
        Ok(g)
    }
}
