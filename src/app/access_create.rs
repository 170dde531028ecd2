//! Creating access requests: the policy decides, and unless it refuses, the request is
//! recorded with its `policy.decided` and `request.created` events (and, when it starts
//! active, `grant.activated` or `breakglass.used`) in one transaction. A refusal is
//! audited too. Break-glass also calls its hook, after the commit.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::app::access::{event, who};
use crate::app::error::ServiceError;
use crate::app::services::Access;
use crate::model::access::{AccessRequest, NewRequest, Start, Terms};
use crate::model::audit::{AuditEvent, EventKind, Origin};
use crate::model::domain::Principal;
use crate::model::policy::catalogue::Role;
use crate::model::policy::decide::{Ask, Decision, Outcome};
use crate::model::policy::permit;
use crate::model::policy::permit::{Permit, RequestAccess};
use crate::model::policy::Policy;
use crate::store::Tx;

impl Access {
    /// Decides and, unless refused, records a request. With an idempotency key, a repeat
    /// returns the first request unchanged.
    pub async fn create_request(
        &self,
        p: &Principal,
        ask: Ask,
        idempotency_key: Option<&str>,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<(AccessRequest, Decision), ServiceError> {
        let policy = self.core.policy.current();
        let (decision, permit) = permit::request(&policy, &who(p), &ask);
        let mut tx = self.core.store.begin().await?;
        if let Some(key) = idempotency_key {
            if let Some(existing) = tx.request_by_key(&p.user_id, key).await? {
                return Ok((existing, decision));
            }
        }
        let mut decided = decided_event(p, &ask, &decision, &policy, origin, now)?;
        let Some((permit, start, role_name)) = admitted(permit, &decision) else {
            decided = decided.outcome("refused", decision.explanation.last().cloned());
            tx.append_audit(&decided).await?;
            tx.commit().await?;
            return Err(ServiceError::Refused(Box::new(decision)));
        };
        let Some((_, role)) = policy.catalogue.role(&ask.resource, &role_name) else {
            return Err(ServiceError::Refused(Box::new(decision)));
        };
        let request = new_request(p, &ask, &decision, role, role_name, start, now)?;
        let first_request = self.first_on_resource(&mut tx, p, &request).await?;
        tx.insert_request(&permit, &request, idempotency_key)
            .await?;
        if self.slack_on && matches!(start, Start::Pending | Start::Breakglass) {
            crate::app::slack::notify::announce(&mut tx, &request, first_request, now).await?;
        }
        decided.subject = Some(request.id.clone());
        tx.append_audit(&decided).await?;
        audit_created(&mut tx, p, &request, start, &decision, origin, now).await?;
        tx.commit().await?;
        if start == Start::Breakglass {
            self.notify_breakglass(&request);
        }
        Ok((request, decision))
    }

    /// Whether this is the requester's first request on its resource (Slack says so when
    /// it announces it); read in the creating transaction, before the insert. Always
    /// false without Slack, which is then not asked.
    async fn first_on_resource(
        &self,
        tx: &mut Tx,
        p: &Principal,
        request: &AccessRequest,
    ) -> Result<bool, ServiceError> {
        if !self.slack_on {
            return Ok(false);
        }
        Ok(!tx
            .list_requests(Some(&p.user_id), &[], 200)
            .await?
            .iter()
            .any(|earlier| earlier.resource == request.resource))
    }

    fn notify_breakglass(&self, r: &AccessRequest) {
        tracing::warn!(request = %r.id, resource = %r.resource, role = %r.role, by = %r.requester_name, "break-glass used");
        let Some(url) = self.core.config.hooks.breakglass_url.clone() else {
            return;
        };
        let body = serde_json::json!({
            "event": EventKind::BreakglassUsed.as_str(), "request_id": r.id, "requester": r.requester_name,
            "resource": r.resource, "role": r.role, "reason": r.reason, "expires_at": r.expires_at,
        });
        let http = self.http.clone();
        tokio::spawn(async move {
            for attempt in 0..3u32 {
                match http
                    .post(&url)
                    .json(&body)
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await
                {
                    Ok(resp) if resp.status().is_success() => return,
                    Ok(resp) => {
                        tracing::warn!(status = %resp.status(), attempt, "break-glass hook refused")
                    }
                    Err(e) => {
                        tracing::warn!(error = %e.without_url(), attempt, "break-glass hook failed")
                    }
                }
                tokio::time::sleep(Duration::from_millis(500 * 2u64.pow(attempt))).await;
            }
            tracing::error!("break-glass hook gave up after 3 attempts");
        });
    }
}

/// The `policy.decided` event of an ask, before its outcome is known to stick.
fn decided_event(
    p: &Principal,
    ask: &Ask,
    decision: &Decision,
    policy: &Policy,
    origin: &Origin,
    now: DateTime<Utc>,
) -> Result<AuditEvent, ServiceError> {
    let mut decided = AuditEvent::new(EventKind::PolicyDecided, &p.user_id, origin, now)?
        .details(serde_json::json!({ "decision": decision, "policy_hash": policy.hash, "breakglass": ask.breakglass }));
    decided.resource = Some(ask.resource.clone());
    decided.role = decision.role.clone().or(ask.role.clone());
    Ok(decided)
}

/// The permit, how the request starts and its role, unless the decision refused it.
fn admitted(
    permit: Option<Permit<RequestAccess>>,
    decision: &Decision,
) -> Option<(Permit<RequestAccess>, Start, String)> {
    match (permit, decision.outcome, &decision.role) {
        (None, _, _) | (_, Outcome::Refused, _) | (_, _, None) => None,
        (Some(pm), Outcome::AutoApproved, Some(r)) => Some((pm, Start::AutoApproved, r.clone())),
        (Some(pm), Outcome::Breakglass, Some(r)) => Some((pm, Start::Breakglass, r.clone())),
        (Some(pm), Outcome::NeedsReview, Some(r)) => Some((pm, Start::Pending, r.clone())),
    }
}

/// The new request, on the terms of its role (break-glass: its own maximum, no extensions).
fn new_request(
    p: &Principal,
    ask: &Ask,
    decision: &Decision,
    role: &Role,
    role_name: String,
    start: Start,
    now: DateTime<Utc>,
) -> Result<AccessRequest, ServiceError> {
    Ok(AccessRequest::create(
        NewRequest {
            id: crate::model::random::uuid_v4()?.to_string(),
            requester_id: p.user_id.clone(),
            requester_name: p.policy_name().to_string(),
            resource: ask.resource.clone(),
            role: role_name,
            reason: ask.reason.clone(),
            ticket: ask.ticket.clone(),
            duration: Duration::from_secs(decision.duration_secs),
            pending_timeout: role.pending_timeout,
            terms: Terms {
                approvals: role.approvals,
                denials: role.denials,
                activation_window: role.activation_window,
                max_duration: if ask.breakglass {
                    role.breakglass_max_duration
                } else {
                    role.max_duration
                },
                max_extensions: if ask.breakglass {
                    0
                } else {
                    role.max_extensions
                },
                extension: role.extension,
            },
        },
        start,
        now,
    ))
}

/// Appends, in the creating transaction, `request.created` and, for a request that starts
/// active, `grant.activated` or `breakglass.used`.
async fn audit_created(
    tx: &mut Tx,
    p: &Principal,
    request: &AccessRequest,
    start: Start,
    decision: &Decision,
    origin: &Origin,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let created = event(EventKind::RequestCreated, &p.user_id, request, origin, now)?
        .outcome("success", request.reason.clone())
        .details(serde_json::json!({ "state": request.state, "duration_secs": decision.duration_secs, "ticket": request.ticket }));
    tx.append_audit(&created).await?;
    if start != Start::Pending {
        let kind = if start == Start::Breakglass {
            EventKind::BreakglassUsed
        } else {
            EventKind::GrantActivated
        };
        let e = event(kind, &p.user_id, request, origin, now)?
            .details(serde_json::json!({ "expires_at": request.expires_at, "auto_approved": request.auto_approved }));
        tx.append_audit(&e).await?;
    }
    Ok(())
}
