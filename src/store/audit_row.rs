//! An audit event as a row: the type both backends read events into, and its columns.

use crate::model::audit::AuditEvent;
use crate::model::domain::from_ms;

/// An audit event as stored (also read from SQLite's one-row JSON pages).
#[derive(sqlx::FromRow, serde::Deserialize)]
pub(super) struct AuditRow {
    pub(super) seq: i64,
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
pub(super) const AUDIT_COLUMNS: &str =
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
