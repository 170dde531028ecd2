//! The lifecycle of access requests as the API serves them: activate, extend, cancel,
//! revoke, and the sweeper (creation is in `access_create`, reviews in `review`), with
//! what they share: the view of a request, and its audit events. Each change and its
//! audit event commit in one transaction; concurrent changes to one request retry from a
//! fresh read, so exactly one of two racing outcomes wins.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::app::error::ServiceError;
use crate::app::services::Access;
use crate::model::access::lifecycle::{Change, TransitionRefusal};
use crate::model::access::AccessRequest;
use crate::model::audit::{AuditEvent, EventKind, Origin, SYSTEM};
use crate::model::domain::Principal;
use crate::model::policy::decide::Who;
pub use crate::model::wire::RequestView;
use crate::store::{Fence, Tx};

/// Attempts before a change that keeps losing races gives up.
pub(super) const RETRIES: usize = 8;

pub(super) fn who(p: &Principal) -> Who<'_> {
    Who {
        name: p.policy_name(),
        user_id: &p.user_id,
        groups: &p.groups,
    }
}

pub(super) fn event(
    kind: EventKind,
    actor: &str,
    r: &AccessRequest,
    origin: &Origin,
    now: DateTime<Utc>,
) -> Result<AuditEvent, crate::model::random::RandomError> {
    AuditEvent::new(kind, actor, origin, now).map(|e| e.about(&r.id, &r.resource, &r.role))
}

impl Access {
    /// Loads a request, expiring it first if a clock ran out (committed on its own).
    pub(super) async fn load_live(
        &self,
        tx: &mut Tx,
        id: &str,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<AccessRequest, ServiceError> {
        let mut r = tx
            .request(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no request {id}")))?;
        if let Some(change) = r.expire(now) {
            if tx.update_request(&r).await? {
                let e = event(change.event, SYSTEM, &r, origin, now)?
                    .outcome("success", r.end_reason.clone());
                tx.append_audit(&e).await?;
                self.slack_changed(tx, &r, now).await?;
                tx.db_logins_end_grant(&r.id, change.event.as_str(), now)
                    .await?;
                self.core.logins_due.notify_one();
                r.version += 1;
            }
        }
        Ok(r)
    }

    /// Applies `op` to a request (`id` as typed: whole or a unique prefix) and records it with its audit event, retrying on races.
    async fn change(
        &self,
        p: &Principal,
        id: &str,
        origin: &Origin,
        now: DateTime<Utc>,
        op: impl Fn(&mut AccessRequest) -> Result<Change, TransitionRefusal>,
    ) -> Result<AccessRequest, ServiceError> {
        let id = &self.resolve(p, id).await?;
        for _ in 0..RETRIES {
            let mut tx = self.core.store.begin().await?;
            let mut r = self.load_live(&mut tx, id, origin, now).await?;
            let change = match op(&mut r) {
                Ok(c) => c,
                Err(refusal) => {
                    // Keep an expiry that load_live found; refuse the operation.
                    tx.commit().await?;
                    return Err(refusal.into());
                }
            };
            if !tx.update_request(&r).await? {
                continue;
            }
            let e = event(change.event, &p.user_id, &r, origin, now)?
                .outcome("success", r.end_reason.clone())
                .details(serde_json::json!({ "from": change.from, "to": change.to, "expires_at": r.expires_at }));
            tx.append_audit(&e).await?;
            self.slack_changed(&mut tx, &r, now).await?;
            if change.from == crate::model::access::State::Active
                && change.to == crate::model::access::State::Revoked
            {
                // Ended early: its AWS sessions are denied at AWS, and its database
                // logins ended, both queued with the revocation.
                self.core
                    .deny_grant_sessions(&mut tx, &r, change.event.as_str(), now)
                    .await?;
                tx.db_logins_end_grant(&r.id, change.event.as_str(), now)
                    .await?;
            }
            if change.from == crate::model::access::State::Active && change.to != change.from {
                // Every replica's gate hears of it when (and only if) this commits.
                tx.notify_gate(&format!("grant:{}", r.id)).await?;
            }
            tx.commit().await?;
            r.version += 1;
            return Ok(r);
        }
        Err(ServiceError::Conflict)
    }

    /// The requester activates an approved grant.
    pub async fn activate(
        &self,
        p: &Principal,
        id: &str,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<AccessRequest, ServiceError> {
        self.change(p, id, origin, now, |r| r.activate(&p.user_id, now))
            .await
    }

    /// The requester extends a live grant.
    pub async fn extend(
        &self,
        p: &Principal,
        id: &str,
        by: Duration,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<AccessRequest, ServiceError> {
        self.change(p, id, origin, now, |r| r.extend(&p.user_id, by, now))
            .await
    }

    /// The requester withdraws a request that is not yet active.
    pub async fn cancel(
        &self,
        p: &Principal,
        id: &str,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<AccessRequest, ServiceError> {
        self.change(p, id, origin, now, |r| r.cancel(&p.user_id, now))
            .await
    }

    /// The requester or an administrator ends a grant.
    pub async fn revoke(
        &self,
        p: &Principal,
        id: &str,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<AccessRequest, ServiceError> {
        // Someone else's grant is revoked only with the administrator's permit.
        let admin = self.core.admin_permit(p);
        let name = p.policy_name().to_string();
        let r = self
            .change(p, id, origin, now, |r| {
                r.revoke(&p.user_id, &name, admin.is_some(), now)
            })
            .await?;
        // Committed: every gated stream of the grant closes now, and its database logins end.
        self.gate.end_grant(&r.id, crate::app::gate::End::Revoked);
        self.core.logins_due.notify_one();
        Ok(r)
    }

    /// Expires every request whose clock has run out; returns how many. A request
    /// another replica expired meanwhile is skipped by its version.
    pub async fn sweep(&self, now: DateTime<Utc>) -> Result<usize, ServiceError> {
        self.sweep_fenced(now, &Fence::Sole).await
    }

    /// [`Access::sweep`], each batch written only while `fence` holds (the sweeping
    /// replica still leads the periodic jobs).
    pub async fn sweep_fenced(
        &self,
        now: DateTime<Utc>,
        fence: &Fence,
    ) -> Result<usize, ServiceError> {
        let mut done = 0;
        loop {
            let mut tx = self.core.store.begin().await?;
            tx.check_fence(fence).await?;
            let due = tx.due_requests(now, 100).await?;
            let batch = due.len();
            let mut ended = Vec::new();
            for mut r in due {
                if let Some(change) = r.expire(now) {
                    if tx.update_request(&r).await? {
                        let e = event(change.event, SYSTEM, &r, &Origin::default(), now)?
                            .outcome("success", r.end_reason.clone());
                        tx.append_audit(&e).await?;
                        self.slack_changed(&mut tx, &r, now).await?;
                        tx.db_logins_end_grant(&r.id, change.event.as_str(), now)
                            .await?;
                        done += 1;
                        ended.push(r.id);
                    }
                }
            }
            if !ended.is_empty() {
                // One wake-up for the batch: each replica reads back what it has open.
                tx.notify_gate("expired").await?;
            }
            tx.commit().await?;
            if !ended.is_empty() {
                self.core.logins_due.notify_one();
            }
            for id in ended {
                self.gate.end_grant(&id, crate::app::gate::End::Expired);
            }
            if batch < 100 {
                return Ok(done);
            }
        }
    }

    /// Queues the Slack update of a changed request (same transaction), when Slack is on.
    async fn slack_changed(
        &self,
        tx: &mut Tx,
        r: &AccessRequest,
        now: DateTime<Utc>,
    ) -> Result<(), ServiceError> {
        if self.slack_on {
            crate::app::slack::notify::changed(tx, r, false, now).await?;
        }
        Ok(())
    }
}
