//! Rows of the access tables and their conversion to domain types.

use crate::access::{AccessRequest, Review, State, Verdict};
use crate::audit::AuditEvent;
use crate::domain::from_ms;

use super::StoreError;

#[derive(sqlx::FromRow)]
pub(crate) struct RequestRow {
    id: String,
    requester_id: String,
    requester_name: String,
    resource: String,
    role: String,
    reason: Option<String>,
    ticket: Option<String>,
    duration_s: i64,
    state: String,
    terms_json: String,
    created_at: i64,
    pending_until: i64,
    decided_at: Option<i64>,
    activation_deadline: Option<i64>,
    activated_at: Option<i64>,
    expires_at: Option<i64>,
    ended_at: Option<i64>,
    end_reason: Option<String>,
    extensions_used: i64,
    auto_approved: bool,
    breakglass: bool,
    version: i64,
}

/// The columns of [`RequestRow`], for SELECTs.
pub(crate) const REQUEST_COLUMNS: &str = "id, requester_id, requester_name, resource, role, reason, ticket, duration_s, state, terms_json, \
     created_at, pending_until, decided_at, activation_deadline, activated_at, expires_at, ended_at, end_reason, \
     extensions_used, auto_approved, breakglass, version";

impl TryFrom<RequestRow> for AccessRequest {
    type Error = StoreError;
    fn try_from(r: RequestRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("access_requests {}: {what}", r.id));
        Ok(AccessRequest {
            state: State::parse(&r.state).ok_or_else(|| corrupt("state"))?,
            terms: serde_json::from_str(&r.terms_json).map_err(|_| corrupt("terms_json"))?,
            duration: std::time::Duration::from_secs(
                u64::try_from(r.duration_s).map_err(|_| corrupt("duration"))?,
            ),
            extensions_used: u32::try_from(r.extensions_used)
                .map_err(|_| corrupt("extensions_used"))?,
            id: r.id,
            requester_id: r.requester_id,
            requester_name: r.requester_name,
            resource: r.resource,
            role: r.role,
            reason: r.reason,
            ticket: r.ticket,
            created_at: from_ms(r.created_at),
            pending_until: from_ms(r.pending_until),
            decided_at: r.decided_at.map(from_ms),
            activation_deadline: r.activation_deadline.map(from_ms),
            activated_at: r.activated_at.map(from_ms),
            expires_at: r.expires_at.map(from_ms),
            ended_at: r.ended_at.map(from_ms),
            end_reason: r.end_reason,
            auto_approved: r.auto_approved,
            breakglass: r.breakglass,
            version: r.version,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ReviewRow {
    reviewer_id: String,
    reviewer_name: String,
    verdict: String,
    comment: Option<String>,
    at: i64,
}

impl TryFrom<ReviewRow> for Review {
    type Error = StoreError;
    fn try_from(r: ReviewRow) -> Result<Self, StoreError> {
        Ok(Review {
            verdict: match r.verdict.as_str() {
                "approve" => Verdict::Approve,
                "deny" => Verdict::Deny,
                _ => {
                    return Err(StoreError::Corrupt(format!(
                        "reviews.verdict {:?}",
                        r.verdict
                    )))
                }
            },
            reviewer_id: r.reviewer_id,
            reviewer_name: r.reviewer_name,
            comment: r.comment,
            at: from_ms(r.at),
        })
    }
}

/// Stored name of a verdict.
pub(crate) fn verdict_str(v: Verdict) -> &'static str {
    match v {
        Verdict::Approve => "approve",
        Verdict::Deny => "deny",
    }
}

/// A review with the request it belongs to, for evidence exports.
#[derive(sqlx::FromRow)]
pub(crate) struct ExportReviewRow {
    request_id: String,
    #[sqlx(flatten)]
    review: ReviewRow,
}

impl TryFrom<ExportReviewRow> for (String, Review) {
    type Error = StoreError;
    fn try_from(r: ExportReviewRow) -> Result<Self, StoreError> {
        Ok((r.request_id, r.review.try_into()?))
    }
}

/// An audit event as stored (also read from SQLite's one-row JSON pages).
#[derive(sqlx::FromRow, serde::Deserialize)]
pub(crate) struct AuditRow {
    pub(crate) seq: i64,
    id: String,
    #[sqlx(rename = "type")]
    #[serde(rename = "type")]
    kind: String,
    at: i64,
    actor: String,
    subject: Option<String>,
    resource: Option<String>,
    role: Option<String>,
    outcome: String,
    reason: Option<String>,
    request_id: Option<String>,
    client_addr: Option<String>,
    user_agent: Option<String>,
    details: String,
    prev_hash: Option<String>,
    hash: Option<String>,
}

/// The columns of [`AuditRow`], in a `SELECT`.
pub(crate) const AUDIT_COLUMNS: &str =
    "seq, id, type, at, actor, subject, resource, role, outcome, reason, \
     request_id, client_addr, user_agent, details, prev_hash, hash";

impl From<AuditRow> for AuditEvent {
    /// Details that are not JSON (a damaged or edited row) are kept as a string, which no
    /// longer matches the event's hash: verification reports the row instead of failing.
    fn from(r: AuditRow) -> Self {
        AuditEvent {
            details: serde_json::from_str(&r.details)
                .unwrap_or(serde_json::Value::String(r.details)),
            seq: r.seq,
            id: r.id,
            kind: r.kind,
            at: from_ms(r.at),
            actor: r.actor,
            subject: r.subject,
            resource: r.resource,
            role: r.role,
            outcome: r.outcome,
            reason: r.reason,
            request_id: r.request_id,
            client_addr: r.client_addr,
            user_agent: r.user_agent,
            prev_hash: r.prev_hash.unwrap_or_default(),
            hash: r.hash.unwrap_or_default(),
        }
    }
}
