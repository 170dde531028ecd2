//! Audit events: one per thing that happened, written in the same transaction as the
//! change it records, so that a change without its event cannot exist.
//!
//! Secrets never appear here: tokens and keys are named by fingerprint only.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::service::ClientInfo;

/// Where an action came from: the HTTP request id and the client.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// The API request id (`x-request-id`).
    pub request_id: Option<String>,
    /// Peer address and user agent.
    pub client: ClientInfo,
}

/// One audit event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Sequence number, assigned on append.
    pub seq: i64,
    /// Unique id.
    pub id: String,
    /// Dotted type: `request.created`, `grant.activated`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// When (UTC, milliseconds).
    pub at: DateTime<Utc>,
    /// Who did it (user id, or `latchkey` for the broker itself).
    pub actor: String,
    /// What it was done to (an access request id, a user).
    pub subject: Option<String>,
    /// Resource.
    pub resource: Option<String>,
    /// Role.
    pub role: Option<String>,
    /// `success`, `refused`, `failure`.
    pub outcome: String,
    /// Why, in words.
    pub reason: Option<String>,
    /// API request id.
    pub request_id: Option<String>,
    /// Client address.
    pub client_addr: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Anything else, structured.
    pub details: serde_json::Value,
}

/// The broker itself, as an actor.
pub const SYSTEM: &str = "latchkey";

impl AuditEvent {
    /// A new event of `kind` by `actor` at `now`, from `origin`.
    pub fn new(kind: &str, actor: &str, origin: &Origin, now: DateTime<Utc>) -> Self {
        AuditEvent {
            seq: 0,
            id: uuid::Uuid::new_v4().to_string(),
            kind: kind.to_string(),
            at: now,
            actor: actor.to_string(),
            subject: None,
            resource: None,
            role: None,
            outcome: "success".into(),
            reason: None,
            request_id: origin.request_id.clone(),
            client_addr: origin.client.addr.clone(),
            user_agent: origin.client.user_agent.clone(),
            details: serde_json::json!({}),
        }
    }

    /// About an access request.
    pub fn about(mut self, request_id: &str, resource: &str, role: &str) -> Self {
        self.subject = Some(request_id.to_string());
        self.resource = Some(resource.to_string());
        self.role = Some(role.to_string());
        self
    }

    /// With an outcome and reason.
    pub fn outcome(mut self, outcome: &str, reason: Option<String>) -> Self {
        self.outcome = outcome.to_string();
        self.reason = reason;
        self
    }

    /// With details.
    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}
