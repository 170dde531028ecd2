//! The admission check: from a bearer credential and a resource name to an
//! [`Admission`] or a [`GateRefusal`], through the cache of recent admissions; the
//! credential is identified in `identify`, the grant and lock checked in `standing`.
//! Refusals of a known human are audited.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::app::gate::cache::{cache_key, CacheKey};
use crate::app::gate::failure::internal;
use crate::app::gate::identify::Who;
use crate::app::services::Gatekeeper;
use crate::model::audit::{AuditEvent, EventKind, Origin};
use crate::model::gate::admission_rules::{gated, Admission, GateRefusal};
use crate::model::refusal::Class;

/// Checks of one admission before it gives up (see [`Gatekeeper::admit`]).
const CHECKS: usize = 3;

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
        // Cut off from the database, this replica cannot learn of revocations: it admits
        // nobody, remembered admissions included, until the database answers again.
        if self.gate.reach.is_cut() {
            return Err(self.gate.reach.refusal());
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
}
