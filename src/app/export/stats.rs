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

/// Computes the request-side figures and findings.
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
        for a in &approvals {
            *f.approvers.entry(a.reviewer_name.clone()).or_default() += 1;
            if a.reviewer_id == r.requester_id {
                f.findings.push(Finding {
                    code: "self_approval".into(),
                    subject: r.id.clone(),
                    detail: format!(
                        "{} approved their own request for {}#{}",
                        a.reviewer_name, r.resource, r.role
                    ),
                });
            }
        }
        if in_period(r.activated_at, period) {
            if let Some(day) = r.activated_at.map(|t| t.date_naive()) {
                *f.grants_per_day.entry(day).or_default() += 1;
            }
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
            *f.granted_how.entry(how).or_default() += 1;
            *f.by_resource
                .entry(format!("{}#{}", r.resource, r.role))
                .or_default() += 1;
            let counted = approvals
                .iter()
                .filter(|a| a.reviewer_id != r.requester_id)
                .count();
            if !r.breakglass && !r.auto_approved && (counted as u32) < r.terms.approvals.max(1) {
                f.findings.push(Finding {
                    code: "access_without_approval".into(),
                    subject: r.id.clone(),
                    detail: format!(
                        "{} held {}#{} with {counted} approval(s) from others, fewer than the {} required, without auto-approval or break-glass",
                        r.requester_name, r.resource, r.role, r.terms.approvals.max(1)
                    ),
                });
            }
            if let (Some(start), Some(end)) = (r.activated_at, r.expires_at) {
                let cap = r.terms.max_duration + r.terms.extension * r.terms.max_extensions;
                let held = (end - start).to_std().unwrap_or_default();
                if held > cap + std::time::Duration::from_secs(1) {
                    f.findings.push(Finding {
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
        }
        let approved_by_people = !r.auto_approved
            && !r.breakglass
            && !approvals.is_empty()
            && r.state != crate::model::access::State::Denied;
        if let (true, Some(decided)) = (
            approved_by_people && in_period(Some(r.created_at), period),
            r.decided_at,
        ) {
            f.minutes_to_approval
                .push((decided - r.created_at).num_minutes());
        }
        if r.breakglass && in_period(Some(r.created_at), period) {
            if rv.is_empty() {
                f.findings.push(Finding {
                    code: "breakglass_unreviewed".into(),
                    subject: r.id.clone(),
                    detail: format!(
                        "break-glass use of {}#{} by {} has not been reviewed after the fact",
                        r.resource, r.role, r.requester_name
                    ),
                });
            }
            f.breakglass.push(r.clone());
        }
        if in_period(r.ended_at, period) && r.activated_at.is_some() {
            *f.ended_how.entry(r.state.as_str().to_string()).or_default() += 1;
        }
    }
    f
}
