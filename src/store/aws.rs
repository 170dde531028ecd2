//! AWS session denies: the entries each role's deny policy must hold, the outbox of roles
//! to write, and what the broker knows of a grant's or a locked user's AWS sessions.

use chrono::{DateTime, Utc};

use crate::model::domain::{from_ms, to_ms};
use crate::store::error::StoreError;
use crate::store::statement::sql;
use crate::store::tx::Tx;

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
        // Every SET reads the row as it was: an entry that had run out, or a later
        // lock, must be written again (and audited again when it is).
        sql("INSERT INTO aws_denies (role_arn, kind, value, issued_before, lasts_until, subject, resource, role, cause, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (role_arn, kind, value) DO UPDATE SET
                written_at = CASE WHEN aws_denies.lasts_until <= $10
                    OR COALESCE(excluded.issued_before, 0) > COALESCE(aws_denies.issued_before, 0)
                    THEN NULL ELSE aws_denies.written_at END,
                failure_reported = CASE WHEN aws_denies.lasts_until <= $10
                    OR COALESCE(excluded.issued_before, 0) > COALESCE(aws_denies.issued_before, 0)
                    THEN FALSE ELSE aws_denies.failure_reported END,
                issued_before = CASE WHEN COALESCE(excluded.issued_before, 0) > COALESCE(aws_denies.issued_before, 0)
                    THEN excluded.issued_before ELSE aws_denies.issued_before END,
                lasts_until = CASE WHEN excluded.lasts_until > aws_denies.lasts_until
                    THEN excluded.lasts_until ELSE aws_denies.lasts_until END,
                subject = excluded.subject, cause = excluded.cause")
        .bind(d.role_arn)
        .bind(d.kind)
        .bind(d.value)
        .bind(d.issued_before.map(to_ms))
        .bind(to_ms(d.lasts_until))
        .bind(d.subject)
        .bind(d.resource)
        .bind(d.role)
        .bind(d.cause)
        .bind(to_ms(now))
        .execute(self)
        .await?;
        sql("INSERT INTO aws_deny_outbox (role_arn, gen, attempts, next_at, created_at) VALUES ($1, 0, 0, $2, $2)
             ON CONFLICT (role_arn) DO UPDATE SET gen = aws_deny_outbox.gen + 1, next_at = $2")
        .bind(d.role_arn)
        .bind(to_ms(now))
        .execute(self)
        .await?;
        Ok(())
    }

    /// Roles due at `now` and not held by a worker, soonest first.
    pub async fn aws_deny_due(
        &mut self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<DenyOutboxRow>, StoreError> {
        sql("SELECT id, role_arn, gen, attempts, next_at, created_at, last_error FROM aws_deny_outbox
             WHERE next_at <= $1 AND (lease_until IS NULL OR lease_until <= $1) ORDER BY next_at, id LIMIT $2")
        .bind(to_ms(now))
        .bind(limit)
        .fetch_all(self)
        .await
    }

    /// Takes a role for writing until `until`; false if another worker holds it.
    pub async fn aws_deny_claim(
        &mut self,
        id: i64,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let taken = sql("UPDATE aws_deny_outbox SET lease_until = $3
                         WHERE id = $1 AND (lease_until IS NULL OR lease_until <= $2)")
        .bind(id)
        .bind(to_ms(now))
        .bind(to_ms(until))
        .execute(self)
        .await?;
        Ok(taken == 1)
    }

    /// Every entry of a role.
    pub async fn aws_denies(&mut self, role_arn: &str) -> Result<Vec<DenyRow>, StoreError> {
        sql("SELECT id, role_arn, kind, value, issued_before, lasts_until, subject, resource, role, cause, created_at,
                    written_at, failure_reported
             FROM aws_denies WHERE role_arn = $1 ORDER BY id")
        .bind(role_arn)
        .fetch_all(self)
        .await
    }

    /// Records that a policy holding the entry was accepted.
    pub async fn aws_deny_written(
        &mut self,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sql("UPDATE aws_denies SET written_at = $2 WHERE id = $1 AND written_at IS NULL")
            .bind(id)
            .bind(to_ms(now))
            .execute(self)
            .await?;
        Ok(())
    }

    /// Records that a failure to write the entry was audited (once per entry until it is
    /// written).
    pub async fn aws_deny_failure_reported(&mut self, id: i64) -> Result<(), StoreError> {
        sql("UPDATE aws_denies SET failure_reported = TRUE WHERE id = $1")
            .bind(id)
            .execute(self)
            .await?;
        Ok(())
    }

    /// Removes an entry unless it was extended past `now` meanwhile; true if removed.
    pub async fn aws_deny_remove(
        &mut self,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let removed = sql("DELETE FROM aws_denies WHERE id = $1 AND lasts_until <= $2")
            .bind(id)
            .bind(to_ms(now))
            .execute(self)
            .await?;
        Ok(removed == 1)
    }

    /// Releases a role after a successful write: due again at `next` (the next entry's
    /// end), or gone when `next` is `None`, unless it was queued again meanwhile.
    pub async fn aws_deny_done(
        &mut self,
        id: i64,
        gen: i64,
        next: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let release = match next {
            // Nothing left to deny; a row queued again meanwhile stays.
            None => sql("DELETE FROM aws_deny_outbox WHERE id = $1 AND gen = $2")
                .bind(id)
                .bind(gen),
            Some(next) => sql("UPDATE aws_deny_outbox SET lease_until = NULL, attempts = 0, last_error = NULL,
                                  next_at = CASE WHEN gen = $2 THEN $3 ELSE next_at END WHERE id = $1")
            .bind(id)
            .bind(gen)
            .bind(to_ms(next)),
        };
        release.execute(self).await?;
        sql("UPDATE aws_deny_outbox SET lease_until = NULL WHERE id = $1")
            .bind(id)
            .execute(self)
            .await?;
        Ok(())
    }

    /// Releases a role after a failed attempt, due again at `next_at`.
    pub async fn aws_deny_retry(
        &mut self,
        id: i64,
        gen: i64,
        next_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        // A row queued again meanwhile (gen moved) is due now anyway; keep its next_at.
        sql("UPDATE aws_deny_outbox SET lease_until = NULL, attempts = attempts + 1, last_error = $4,
                next_at = CASE WHEN gen = $2 THEN $3 ELSE next_at END WHERE id = $1")
        .bind(id)
        .bind(gen)
        .bind(to_ms(next_at))
        .bind(error)
        .execute(self)
        .await?;
        Ok(())
    }

    /// The latest expiry of the AWS sessions recorded for a grant.
    pub async fn aws_sessions_until(
        &mut self,
        request_id: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let (until,): (Option<i64>,) = sql(
            "SELECT MAX(expires_at) FROM credential_issuances WHERE request_id = $1 AND kind = 'aws'",
        )
        .bind(request_id)
        .fetch_one(self)
        .await?;
        Ok(until.map(from_ms))
    }

    /// The grants of the users a lock identifier names that are active or have AWS
    /// sessions still live at `now`.
    pub async fn aws_session_grants(
        &mut self,
        identifier: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionGrant>, StoreError> {
        sql("SELECT a.id, a.resource, a.role, a.requester_name, a.state, a.expires_at,
                    (SELECT MAX(i.expires_at) FROM credential_issuances i
                     WHERE i.request_id = a.id AND i.kind = 'aws') AS sessions_until
             FROM access_requests a
             WHERE a.requester_id IN (SELECT id FROM users WHERE id = $1 OR subject = $1 OR LOWER(email) = LOWER($1))
               AND (a.state = 'active' OR EXISTS (SELECT 1 FROM credential_issuances i
                    WHERE i.request_id = a.id AND i.kind = 'aws' AND i.expires_at > $2))")
        .bind(identifier)
        .bind(to_ms(now))
        .fetch_all(self)
        .await
    }
}
