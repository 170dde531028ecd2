//! The standing check of an identified caller on a gated resource: the grant (the one a
//! broker token names, else the active one) and the lock, read in one transaction and
//! then judged; and, once admitted, the identity assertion (and live events token) the
//! upstream gets.

use chrono::{DateTime, Utc};

use crate::adapters::assertion;
use crate::app::gate::failure::internal;
use crate::app::gate::identify::Who;
use crate::app::issuance::Holder;
use crate::app::services::Gatekeeper;
use crate::model::access::{AccessRequest, State};
use crate::model::gate::admission_rules::{wants_livestream, Admission, GateRefusal, Prepared};
use crate::model::refusal::Class;

impl Gatekeeper {
    /// The grant and lock checks, then the assertion (and livestream token) for the upstream.
    pub(super) async fn admit_who(
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
