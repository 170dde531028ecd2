//! [`Tx`] operations for AWS session denies: the entries each role's deny policy must
//! hold, the outbox of roles to write, and what the broker knows of a grant's or a
//! locked user's AWS sessions.

use chrono::{DateTime, Utc};

use super::{StoreError, Tx};

/// One entry of a role's deny policy.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DenyRow {
    /// Id.
    pub id: i64,
    /// The IAM role.
    pub role_arn: String,
    /// `request` or `identity`.
    pub kind: String,
    /// The grant id, or the SourceIdentity.
    pub value: String,
    /// `identity`: sessions issued before this (ms) are denied.
    pub issued_before: Option<i64>,
    /// Every session it covers has expired by then (ms).
    pub lasts_until: i64,
    /// The grant or the lock it comes from.
    pub subject: String,
    /// The grant's resource.
    pub resource: Option<String>,
    /// The grant's role.
    pub role: Option<String>,
    /// What called for it (`grant.revoked`, `user.locked`, …).
    pub cause: String,
    /// Queued at (ms).
    pub created_at: i64,
    /// First in a policy IAM accepted (ms).
    pub written_at: Option<i64>,
    /// A failure to write it is already in the audit log.
    pub failure_reported: bool,
}

/// A deny to queue.
#[derive(Debug, Clone)]
pub struct NewDeny<'a> {
    /// The IAM role.
    pub role_arn: &'a str,
    /// `request` or `identity`.
    pub kind: &'a str,
    /// The grant id, or the SourceIdentity.
    pub value: &'a str,
    /// `identity`: sessions issued before this are denied.
    pub issued_before: Option<DateTime<Utc>>,
    /// Every session it covers has expired by then.
    pub lasts_until: DateTime<Utc>,
    /// The grant or the lock it comes from.
    pub subject: &'a str,
    /// The grant's resource.
    pub resource: Option<&'a str>,
    /// The grant's role.
    pub role: Option<&'a str>,
    /// What called for it.
    pub cause: &'a str,
}

/// A role whose deny policy is due to be written.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DenyOutboxRow {
    /// Id.
    pub id: i64,
    /// The IAM role.
    pub role_arn: String,
    /// Bumped by every enqueue.
    pub gen: i64,
    /// Failed attempts since the last success.
    pub attempts: i64,
    /// Due at (ms).
    pub next_at: i64,
    /// First queued at (ms).
    pub created_at: i64,
    /// The last failure.
    pub last_error: Option<String>,
}

/// A grant of a locked user that may have live AWS sessions.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionGrant {
    /// The grant.
    pub id: String,
    /// Resource.
    pub resource: String,
    /// Role.
    pub role: String,
    /// The requester's name when they asked (their SourceIdentity's source).
    pub requester_name: String,
    /// State.
    pub state: String,
    /// The grant's end (ms).
    pub expires_at: Option<i64>,
    /// The latest expiry of its recorded AWS sessions (ms).
    pub sessions_until: Option<i64>,
}

impl Tx {
    /// Queues a deny entry (merged with an existing one for the same role and target: the
    /// later end and lock time win) and marks its role due now.
    pub async fn aws_deny_enqueue(
        &mut self,
        d: &NewDeny<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        dispatch!(self, aws_deny_enqueue(d, now))
    }

    /// Roles due at `now` and not held by a worker, soonest first.
    pub async fn aws_deny_due(
        &mut self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<DenyOutboxRow>, StoreError> {
        dispatch!(self, aws_deny_due(now, limit))
    }

    /// Takes a role for writing until `until`; false if another worker holds it.
    pub async fn aws_deny_claim(
        &mut self,
        id: i64,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        dispatch!(self, aws_deny_claim(id, now, until))
    }

    /// Every entry of a role.
    pub async fn aws_denies(&mut self, role_arn: &str) -> Result<Vec<DenyRow>, StoreError> {
        dispatch!(self, aws_denies(role_arn))
    }

    /// Records that a policy holding the entry was accepted.
    pub async fn aws_deny_written(
        &mut self,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        dispatch!(self, aws_deny_written(id, now))
    }

    /// Records that a failure to write the entry was audited (once per entry until it is written).
    pub async fn aws_deny_failure_reported(&mut self, id: i64) -> Result<(), StoreError> {
        dispatch!(self, aws_deny_failure_reported(id))
    }

    /// Removes an entry unless it was extended past `now` meanwhile; true if removed.
    pub async fn aws_deny_remove(
        &mut self,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        dispatch!(self, aws_deny_remove(id, now))
    }

    /// Releases a role after a successful write: due again at `next` (the next entry's
    /// end), or gone when `next` is `None`, unless it was queued again meanwhile.
    pub async fn aws_deny_done(
        &mut self,
        id: i64,
        gen: i64,
        next: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        dispatch!(self, aws_deny_done(id, gen, next))
    }

    /// Releases a role after a failed attempt, due again at `next_at`.
    pub async fn aws_deny_retry(
        &mut self,
        id: i64,
        gen: i64,
        next_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        dispatch!(self, aws_deny_retry(id, gen, next_at, error))
    }

    /// The latest expiry of the AWS sessions recorded for a grant.
    pub async fn aws_sessions_until(
        &mut self,
        request_id: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        dispatch!(self, aws_sessions_until(request_id))
    }

    /// The grants of the users a lock identifier names that are active or have AWS
    /// sessions still live at `now`.
    pub async fn aws_session_grants(
        &mut self,
        identifier: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionGrant>, StoreError> {
        dispatch!(self, aws_session_grants(identifier, now))
    }

    /// Users a lock identifier names: `(user id, email)`.
    pub async fn users_named(
        &mut self,
        identifier: &str,
    ) -> Result<Vec<(String, Option<String>)>, StoreError> {
        dispatch!(self, users_named(identifier))
    }
}
