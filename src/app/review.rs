//! Reviews and what people see of requests: approve or deny (eligibility checked against
//! the policy at the moment of the review), one request with its reviews, and the lists.

use chrono::{DateTime, Utc};

use crate::app::access::{event, who, RequestView, RETRIES};
use crate::app::error::ServiceError;
use crate::app::services::Access;
use crate::model::access::lifecycle::{Change, TransitionRefusal};
use crate::model::access::{AccessRequest, Review, State, Verdict};
use crate::model::audit::{EventKind, Origin};
use crate::model::domain::Principal;
use crate::model::policy::decide;
use crate::model::policy::permit::{Permit, ReviewRequest};
use crate::model::policy::review::ReviewRefusal;
use crate::model::policy::{Action, Policy};
use crate::store::Tx;

impl Access {
    /// A reviewer approves or denies (`id` whole or a unique prefix). Eligibility is
    /// checked against the policy now.
    pub async fn review(
        &self,
        p: &Principal,
        id: &str,
        verdict: Verdict,
        comment: Option<String>,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<RequestView, ServiceError> {
        self.review_via(p, id, verdict, comment, origin, None, now)
            .await
    }

    /// [`Access::review`] with where the review came from (e.g. Slack and the Slack user),
    /// recorded in the audit events' details.
    #[allow(clippy::too_many_arguments)]
    pub async fn review_via(
        &self,
        p: &Principal,
        id: &str,
        verdict: Verdict,
        comment: Option<String>,
        origin: &Origin,
        via: Option<&serde_json::Value>,
        now: DateTime<Utc>,
    ) -> Result<RequestView, ServiceError> {
        let id = &self.resolve(p, id).await?;
        let policy = self.core.policy.current();
        for _ in 0..RETRIES {
            let mut tx = self.core.store.begin().await?;
            let mut r = self.load_live(&mut tx, id, origin, now).await?;
            let permit = match review_permit(&policy, p, &r, now) {
                Ok(permit) => permit,
                Err(refusal) => {
                    audit_refused(&mut tx, p, &r, &refusal, origin, via, now).await?;
                    tx.commit().await?;
                    return Err(ServiceError::ReviewRefused(refusal));
                }
            };
            let earlier = tx.reviews(id).await?;
            let review = review_by(p, verdict, comment.clone(), now);
            let change = match r.review(&earlier, &review, now) {
                Ok(c) => c,
                Err(refusal) => {
                    tx.commit().await?;
                    return Err(refusal.into());
                }
            };
            if !tx.insert_review(&permit, &r, &review).await? {
                return Err(TransitionRefusal::AlreadyReviewed.into());
            }
            // Bump the version even when the state stays, so racing reviews serialise.
            if !tx.update_request(&r).await? {
                continue;
            }
            let decided = change.is_some();
            audit_reviewed(&mut tx, &r, &review, change, origin, via, now).await?;
            if self.slack_on {
                crate::app::slack::notify::changed(&mut tx, &r, decided, now).await?;
            }
            tx.commit().await?;
            r.version += 1;
            let mut reviews = earlier;
            reviews.push(review);
            return Ok(self.view(r, reviews));
        }
        Err(ServiceError::Conflict)
    }

    fn view(&self, request: AccessRequest, reviews: Vec<Review>) -> RequestView {
        let (approvals, denials) = request.tally(&reviews);
        let policy = self.core.policy.current();
        let reviewers = match policy.catalogue.role(&request.resource, &request.role) {
            Some((_, role)) => {
                crate::model::policy::review::reviewers_text(&policy, &request.resource, role)
            }
            None => "nobody (the role is no longer in the catalogue)".into(),
        };
        RequestView {
            request,
            reviews,
            approvals,
            denials,
            reviewers,
        }
    }

    /// Whether `p` may see request `r`: the requester, an administrator, an audit reader,
    /// or someone the policy lets review it.
    pub(super) fn may_see(&self, p: &Principal, r: &AccessRequest) -> bool {
        let policy = self.core.policy.current();
        let name = p.policy_name();
        r.requester_id == p.user_id
            || self.core.is_admin(p)
            || policy
                .check(name, &p.groups, "audit", Action::AuditRead)
                .allowed
            || policy
                .check(
                    name,
                    &p.groups,
                    &decide::object(&r.resource, &r.role),
                    Action::Review,
                )
                .allowed
    }

    /// One request with its reviews (`id` whole or a unique prefix).
    pub async fn request_view(
        &self,
        p: &Principal,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<RequestView, ServiceError> {
        let id = &self.resolve(p, id).await?;
        let mut tx = self.core.store.begin().await?;
        let r = self.load_live(&mut tx, id, &Origin::default(), now).await?;
        let reviews = tx.reviews(id).await?;
        tx.commit().await?;
        if !self.may_see(p, &r) {
            return Err(ServiceError::NotFound(format!("no request {id}")));
        }
        Ok(self.view(r, reviews))
    }

    /// The caller's requests, or those the caller may review and has not. A request whose
    /// role asks for a fresher login than the caller's still waits for them (they can
    /// log in again), so it is listed: the CLI, the API and Slack show the same list.
    pub async fn list_requests(
        &self,
        p: &Principal,
        to_review: bool,
    ) -> Result<Vec<AccessRequest>, ServiceError> {
        let mut tx = self.core.store.begin_read().await?;
        let list = if to_review {
            let candidates = tx
                .list_requests(None, &[State::Pending, State::Active], 500)
                .await?;
            let policy = self.core.policy.current();
            let mut out = Vec::new();
            for r in candidates {
                let waiting = r.state == State::Pending || r.breakglass;
                let eligible = match crate::model::policy::review::may_review(
                    &policy,
                    &who(p),
                    p.auth_time,
                    &r.resource,
                    &r.role,
                    &r.requester_id,
                    Utc::now(),
                ) {
                    Ok(_) => true,
                    Err(refusal) => refusal.code == "login_not_fresh",
                };
                if waiting
                    && eligible
                    && !tx
                        .reviews(&r.id)
                        .await?
                        .iter()
                        .any(|rv| rv.reviewer_id == p.user_id)
                {
                    out.push(r);
                }
            }
            out
        } else {
            tx.list_requests(Some(&p.user_id), &[], 200).await?
        };
        tx.commit().await?;
        Ok(list)
    }
}

/// The policy's permit for `p` to review `r` now, or why not.
fn review_permit(
    policy: &Policy,
    p: &Principal,
    r: &AccessRequest,
    now: DateTime<Utc>,
) -> Result<Permit<ReviewRequest>, ReviewRefusal> {
    let object = (r.resource.as_str(), r.role.as_str());
    crate::model::policy::permit::review(policy, &who(p), p.auth_time, object, &r.requester_id, now)
        .map(|(_, permit)| permit)
}

/// The review `p` submits.
fn review_by(
    p: &Principal,
    verdict: Verdict,
    comment: Option<String>,
    now: DateTime<Utc>,
) -> Review {
    Review {
        reviewer_id: p.user_id.clone(),
        reviewer_name: p.policy_name().to_string(),
        verdict,
        comment,
        at: now,
    }
}

/// The details of a review's audit events, with where it came from (`via`) merged in.
fn with_via(via: Option<&serde_json::Value>, mut details: serde_json::Value) -> serde_json::Value {
    if let (Some(serde_json::Value::Object(extra)), Some(map)) = (via, details.as_object_mut()) {
        map.extend(extra.clone());
    }
    details
}

/// Appends, in the review's transaction, `review.refused` for a reviewer the policy
/// does not let review `r` now.
async fn audit_refused(
    tx: &mut Tx,
    p: &Principal,
    r: &AccessRequest,
    refusal: &ReviewRefusal,
    origin: &Origin,
    via: Option<&serde_json::Value>,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let e = event(EventKind::ReviewRefused, &p.user_id, r, origin, now)?
        .outcome("refused", Some(refusal.message.clone()))
        .details(with_via(via, serde_json::json!({ "code": refusal.code })));
    tx.append_audit(&e).await?;
    Ok(())
}

/// Appends, in the review's transaction, `review.submitted` and, when the review decided
/// the request, the event of that change.
async fn audit_reviewed(
    tx: &mut Tx,
    r: &AccessRequest,
    review: &Review,
    change: Option<Change>,
    origin: &Origin,
    via: Option<&serde_json::Value>,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let submitted = event(
        EventKind::ReviewSubmitted,
        &review.reviewer_id,
        r,
        origin,
        now,
    )?
    .outcome("success", review.comment.clone())
    .details(with_via(
        via,
        serde_json::json!({ "verdict": review.verdict }),
    ));
    tx.append_audit(&submitted).await?;
    if let Some(c) = change {
        let e = event(c.event, &review.reviewer_id, r, origin, now)?
            .outcome("success", r.end_reason.clone())
            .details(with_via(
                via,
                serde_json::json!({ "from": c.from, "to": c.to }),
            ));
        tx.append_audit(&e).await?;
    }
    Ok(())
}
