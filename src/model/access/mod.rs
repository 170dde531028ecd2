//! Access requests as plain types and pure functions: the three clocks, reviews,
//! activation, extension, cancellation, revocation and expiry. Time is passed in; nothing
//! here reads the clock or does I/O, so every path can be tested exhaustively.
//!
//! - [`lifecycle`]: the transitions and their refusals.
//! - [`ids`]: how people name a request: whole ids, unique prefixes, short forms.

pub mod ids;
pub mod lifecycle;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which requests the administrators' and reviewers' list (`view=all`) answers; `None`
/// matches all.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestFilter<'a> {
    /// The requester, by user id or by name (e.g. the email).
    pub user: Option<&'a str>,
    /// The resource.
    pub resource: Option<&'a str>,
    /// The state.
    pub state: Option<State>,
    /// Only grants active at this moment (state active and not yet expired).
    pub live_at: Option<DateTime<Utc>>,
}

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Waiting for reviews.
    Pending,
    /// Approved; waiting for the requester to activate.
    Approved,
    /// Access is live.
    Active,
    /// A denial threshold was reached.
    Denied,
    /// A clock ran out (pending, activation or access).
    Expired,
    /// The requester withdrew it before it became active.
    Cancelled,
    /// Ended early by the requester or an administrator.
    Revoked,
}

impl State {
    /// Stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Approved => "approved",
            State::Active => "active",
            State::Denied => "denied",
            State::Expired => "expired",
            State::Cancelled => "cancelled",
            State::Revoked => "revoked",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<State> {
        [
            State::Pending,
            State::Approved,
            State::Active,
            State::Denied,
            State::Expired,
            State::Cancelled,
            State::Revoked,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    /// No transition leaves this state.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            State::Denied | State::Expired | State::Cancelled | State::Revoked
        )
    }
}

/// A reviewer's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Approve.
    Approve,
    /// Deny.
    Deny,
}

/// One review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Review {
    /// Reviewer's user id.
    pub reviewer_id: String,
    /// Reviewer's email or id, for people.
    pub reviewer_name: String,
    /// Approve or deny.
    #[schema(inline)]
    pub verdict: Verdict,
    /// Comment (a denial's reason).
    pub comment: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// The role's rules, fixed when the request is made so a later policy change cannot
/// move a request's goalposts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Terms {
    /// Approvals needed.
    pub approvals: u32,
    /// Denials that end it.
    pub denials: u32,
    /// How long an approved grant may wait for activation (seconds).
    #[serde(with = "secs")]
    #[schema(value_type = u64)]
    pub activation_window: Duration,
    /// The longest the access may last in all, extensions included (seconds).
    #[serde(with = "secs")]
    #[schema(value_type = u64)]
    pub max_duration: Duration,
    /// How many extensions.
    pub max_extensions: u32,
    /// Longest single extension (seconds).
    #[serde(with = "secs")]
    #[schema(value_type = u64)]
    pub extension: Duration,
}

mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<std::time::Duration, D::Error> {
        Ok(std::time::Duration::from_secs(u64::deserialize(d)?))
    }
}

/// An access request and, once approved, its grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccessRequest {
    /// Request id.
    pub id: String,
    /// Requester's user id.
    pub requester_id: String,
    /// Requester's email or id.
    pub requester_name: String,
    /// Resource.
    pub resource: String,
    /// Role.
    pub role: String,
    /// Why.
    pub reason: Option<String>,
    /// Ticket.
    pub ticket: Option<String>,
    /// Access duration asked, counted from activation (seconds).
    #[serde(with = "secs")]
    #[schema(value_type = u64)]
    pub duration: Duration,
    /// State.
    #[schema(inline)]
    pub state: State,
    /// The role's rules at request time.
    pub terms: Terms,
    /// Made at.
    pub created_at: DateTime<Utc>,
    /// Pending until.
    pub pending_until: DateTime<Utc>,
    /// Approved or denied at.
    pub decided_at: Option<DateTime<Utc>>,
    /// Activation allowed until.
    pub activation_deadline: Option<DateTime<Utc>>,
    /// Activated at.
    pub activated_at: Option<DateTime<Utc>>,
    /// Access ends at.
    pub expires_at: Option<DateTime<Utc>>,
    /// Ended at (any terminal state).
    pub ended_at: Option<DateTime<Utc>>,
    /// How it ended, in words.
    pub end_reason: Option<String>,
    /// Extensions used.
    pub extensions_used: u32,
    /// Granted without review.
    pub auto_approved: bool,
    /// Break-glass: granted at once, reviewed after the fact.
    pub breakglass: bool,
    /// Optimistic-concurrency version, bumped on each stored change.
    pub version: i64,
}

/// What a new request becomes at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Waits for reviews.
    Pending,
    /// Auto-approved: active at once.
    AutoApproved,
    /// Break-glass: active at once.
    Breakglass,
}

/// The fields of a new request.
#[derive(Debug, Clone)]
pub struct NewRequest {
    /// Id.
    pub id: String,
    /// Requester user id.
    pub requester_id: String,
    /// Requester name.
    pub requester_name: String,
    /// Resource.
    pub resource: String,
    /// Role.
    pub role: String,
    /// Reason.
    pub reason: Option<String>,
    /// Ticket.
    pub ticket: Option<String>,
    /// Duration.
    pub duration: Duration,
    /// How long it may stay pending.
    pub pending_timeout: Duration,
    /// Terms.
    pub terms: Terms,
}

/// `t + d`, saturating: durations come from requests, and chrono's `+` panics on overflow.
fn add(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

impl AccessRequest {
    /// Creates a request at `now`; auto-approved and break-glass requests are active at once.
    pub fn create(n: NewRequest, start: Start, now: DateTime<Utc>) -> Self {
        let active = start != Start::Pending;
        AccessRequest {
            id: n.id,
            requester_id: n.requester_id,
            requester_name: n.requester_name,
            resource: n.resource,
            role: n.role,
            reason: n.reason,
            ticket: n.ticket,
            state: if active {
                State::Active
            } else {
                State::Pending
            },
            created_at: now,
            pending_until: add(now, n.pending_timeout),
            decided_at: active.then_some(now),
            activation_deadline: None,
            activated_at: active.then_some(now),
            expires_at: active.then(|| add(now, n.duration)),
            duration: n.duration,
            terms: n.terms,
            ended_at: None,
            end_reason: None,
            extensions_used: 0,
            auto_approved: start == Start::AutoApproved,
            breakglass: start == Start::Breakglass,
            version: 0,
        }
    }
}
