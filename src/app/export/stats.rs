//! What the report says: counts over the period's events and requests, and the findings
//! an auditor would flag.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::model::access::{AccessRequest, Review, Verdict};
use crate::model::audit::{AuditEvent, EventKind};

/// The period of an export: `[from, to)`, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    /// First instant included.
    pub from: DateTime<Utc>,
    /// First instant after the period.
    pub to: DateTime<Utc>,
}

/// Counts kept while the period's events stream past.
#[derive(Debug, Default)]
pub struct EventTally {
    /// Events per type (by wire name: a kind this broker does not know is counted too).
    pub by_type: BTreeMap<String, u64>,
    /// Events whose outcome was not success, per type.
    pub refused_by_type: BTreeMap<String, u64>,
    /// Policy loads and reloads, in order.
    pub policy: Vec<AuditEvent>,
    /// Users locked, as (when, who, by whom, why).
    pub locks: Vec<AuditEvent>,
    /// Sessions per distinct user.
    pub session_users: BTreeMap<String, u64>,
}

impl EventTally {
    /// Counts one event.
    pub fn add(&mut self, e: &AuditEvent) {
        *self.by_type.entry(e.kind.clone()).or_default() += 1;
        if e.outcome != "success" {
            *self.refused_by_type.entry(e.kind.clone()).or_default() += 1;
        }
        use EventKind as K;
        match e.event_kind() {
            Some(K::PolicyLoaded | K::PolicyReloaded) => self.policy.push(e.clone()),
            Some(K::UserLocked | K::UserUnlocked) => self.locks.push(e.clone()),
            Some(K::SessionCreated) => *self.session_users.entry(e.actor.clone()).or_default() += 1,
            _ => {}
        }
    }

    /// How many events of `kind`.
    pub fn count(&self, kind: EventKind) -> u64 {
        self.by_type.get(kind.as_str()).copied().unwrap_or(0)
    }

    /// How many events of `kind` did not succeed.
    pub fn refused(&self, kind: EventKind) -> u64 {
        self.refused_by_type
            .get(kind.as_str())
            .copied()
            .unwrap_or(0)
    }
}

/// Something an auditor would look at twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable code: `self_approval`, `access_without_approval`, `longer_than_policy`,
    /// `breakglass_unreviewed`, `chain_broken`.
    pub code: String,
    /// The request (or the event) it is about.
    pub subject: String,
    /// What was seen.
    pub detail: String,
}

/// The request-side figures of the report.
#[derive(Debug, Default)]
pub struct AccessFigures {
    /// Grants activated per day (UTC) in the period.
    pub grants_per_day: BTreeMap<NaiveDate, u64>,
    /// Minutes from request to a human decision, for requests approved by reviewers.
    pub minutes_to_approval: Vec<i64>,
    /// Activations in the period by how they were granted: auto, approved, break-glass.
    pub granted_how: BTreeMap<&'static str, u64>,
    /// Grants by resource#role.
    pub by_resource: BTreeMap<String, u64>,
    /// How grants ended in the period: expired, revoked, …
    pub ended_how: BTreeMap<String, u64>,
    /// Break-glass requests in the period.
    pub breakglass: Vec<AccessRequest>,
    /// Distinct approvers.
    pub approvers: BTreeMap<String, u64>,
    /// Findings.
    pub findings: Vec<Finding>,
}

fn in_period(t: Option<DateTime<Utc>>, p: &Period) -> bool {
    t.is_some_and(|t| t >= p.from && t < p.to)
}

/// Computes the request-side figures and findings, request by request.
pub fn access_figures(
    requests: &[AccessRequest],
    reviews: &HashMap<&str, Vec<&Review>>,
    period: &Period,
) -> AccessFigures {
    let mut f = AccessFigures::default();
    for r in requests {
        let rv = reviews.get(r.id.as_str()).map(Vec::as_slice).unwrap_or(&[]);
        let approvals: Vec<&&Review> = rv
            .iter()
            .filter(|x| x.verdict == Verdict::Approve)
            .collect();
        f.count_approvers(r, &approvals);
        if in_period(r.activated_at, period) {
            f.count_activation(r, &approvals);
        }
        f.time_to_approval(r, &approvals, period);
        if r.breakglass && in_period(Some(r.created_at), period) {
            f.breakglass_use(r, rv);
        }
        // Ended as the CSVs say: by its recorded end or its expiry, whichever came first.
        let ended = crate::app::export::as_of::ended_by(r, period.to);
        if ended.is_some_and(|t| t >= period.from) && r.activated_at.is_some() {
            let how = crate::app::export::as_of::state_at(r, period.to);
            *f.ended_how.entry(how.to_string()).or_default() += 1;
        }
    }
    f
}

impl AccessFigures {
    /// Counts each approver of `r`; an approval by the requester is a finding.
    fn count_approvers(&mut self, r: &AccessRequest, approvals: &[&&Review]) {
        for a in approvals {
            *self.approvers.entry(a.reviewer_name.clone()).or_default() += 1;
            if a.reviewer_id == r.requester_id {
                self.findings.push(Finding {
                    code: "self_approval".into(),
                    subject: r.id.clone(),
                    detail: format!(
                        "{} approved their own request for {}#{}",
                        a.reviewer_name, r.resource, r.role
                    ),
                });
            }
        }
    }

    /// Counts a grant activated in the period (per day, how, on what) and checks it had
    /// the approvals and the length its policy allowed.
    fn count_activation(&mut self, r: &AccessRequest, approvals: &[&&Review]) {
        if let Some(day) = r.activated_at.map(|t| t.date_naive()) {
            *self.grants_per_day.entry(day).or_default() += 1;
        }
        // Approvals by someone other than the requester are the ones that count.
        let counted = approvals
            .iter()
            .filter(|a| a.reviewer_id != r.requester_id)
            .count();
        let how = if r.breakglass {
            "break-glass"
        } else if r.auto_approved {
            "auto-approved"
        } else if counted > 0 {
            "approved by reviewers"
        } else {
            "without a recorded approval"
        };
        *self.granted_how.entry(how).or_default() += 1;
        *self
            .by_resource
            .entry(format!("{}#{}", r.resource, r.role))
            .or_default() += 1;
        if !r.breakglass && !r.auto_approved && (counted as u32) < r.terms.approvals.max(1) {
            self.findings.push(Finding {
                code: "access_without_approval".into(),
                subject: r.id.clone(),
                detail: format!(
                    "{} held {}#{} with {counted} approval(s) from others, fewer than the {} required, without auto-approval or break-glass",
                    r.requester_name, r.resource, r.role, r.terms.approvals.max(1)
                ),
            });
        }
        self.check_length(r);
    }

    /// A grant held longer than its role's cap (with every extension) is a finding.
    fn check_length(&mut self, r: &AccessRequest) {
        let (Some(start), Some(end)) = (r.activated_at, r.expires_at) else {
            return;
        };
        let cap = r.terms.max_duration + r.terms.extension * r.terms.max_extensions;
        let held = (end - start).to_std().unwrap_or_default();
        if held > cap + std::time::Duration::from_secs(1) {
            self.findings.push(Finding {
                code: "longer_than_policy".into(),
                subject: r.id.clone(),
                detail: format!(
                    "{}#{} was granted to {} for {}, beyond the policy's cap of {}",
                    r.resource,
                    r.role,
                    r.requester_name,
                    crate::model::duration::format(held),
                    crate::model::duration::format(cap)
                ),
            });
        }
    }

    /// Minutes from request to decision, for a request made in the period that people
    /// approved.
    fn time_to_approval(&mut self, r: &AccessRequest, approvals: &[&&Review], period: &Period) {
        let approved_by_people = !r.auto_approved
            && !r.breakglass
            && !approvals.is_empty()
            && r.state != crate::model::access::State::Denied;
        if let (true, Some(decided)) = (
            approved_by_people && in_period(Some(r.created_at), period),
            r.decided_at,
        ) {
            self.minutes_to_approval
                .push((decided - r.created_at).num_minutes());
        }
    }

    /// A break-glass use in the period; one nobody reviewed after the fact is a finding.
    fn breakglass_use(&mut self, r: &AccessRequest, reviews: &[&Review]) {
        if reviews.is_empty() {
            self.findings.push(Finding {
                code: "breakglass_unreviewed".into(),
                subject: r.id.clone(),
                detail: format!(
                    "break-glass use of {}#{} by {} has not been reviewed after the fact",
                    r.resource, r.role, r.requester_name
                ),
            });
        }
        self.breakglass.push(r.clone());
    }
}
