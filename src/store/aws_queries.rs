//! Statements for AWS session denies (entries, the outbox, what is known of AWS sessions),
//! shared by both backends (instantiated by [`aws_queries!`]).

macro_rules! aws_queries {
    ($conn:ty) => {
        mod aws {
            use chrono::{DateTime, Utc};

            use crate::domain::{from_ms, to_ms};
            use crate::store::tx_aws::{DenyOutboxRow, DenyRow, NewDeny, SessionGrant};
            use crate::store::StoreError;

            pub async fn aws_deny_enqueue(c: &mut $conn, d: &NewDeny<'_>, now: DateTime<Utc>) -> Result<(), StoreError> {
                // Every SET reads the row as it was: an entry that had run out, or a later
                // lock, must be written again (and audited again when it is).
                sqlx::query(
                    "INSERT INTO aws_denies (role_arn, kind, value, issued_before, lasts_until, subject, resource, role, cause, created_at)
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
                        subject = excluded.subject, cause = excluded.cause",
                )
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
                .execute(&mut *c)
                .await?;
                sqlx::query(
                    "INSERT INTO aws_deny_outbox (role_arn, gen, attempts, next_at, created_at) VALUES ($1, 0, 0, $2, $2)
                     ON CONFLICT (role_arn) DO UPDATE SET gen = aws_deny_outbox.gen + 1, next_at = $2",
                )
                .bind(d.role_arn)
                .bind(to_ms(now))
                .execute(&mut *c)
                .await?;
                Ok(())
            }

            pub async fn aws_deny_due(c: &mut $conn, now: DateTime<Utc>, limit: i64) -> Result<Vec<DenyOutboxRow>, StoreError> {
                Ok(sqlx::query_as(
                    "SELECT id, role_arn, gen, attempts, next_at, created_at, last_error FROM aws_deny_outbox
                     WHERE next_at <= $1 AND (lease_until IS NULL OR lease_until <= $1) ORDER BY next_at, id LIMIT $2",
                )
                .bind(to_ms(now))
                .bind(limit)
                .fetch_all(&mut *c)
                .await?)
            }

            pub async fn aws_deny_claim(c: &mut $conn, id: i64, now: DateTime<Utc>, until: DateTime<Utc>) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE aws_deny_outbox SET lease_until = $3 WHERE id = $1 AND (lease_until IS NULL OR lease_until <= $2)",
                )
                .bind(id)
                .bind(to_ms(now))
                .bind(to_ms(until))
                .execute(&mut *c)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            pub async fn aws_denies(c: &mut $conn, role_arn: &str) -> Result<Vec<DenyRow>, StoreError> {
                Ok(sqlx::query_as(
                    "SELECT id, role_arn, kind, value, issued_before, lasts_until, subject, resource, role, cause, created_at,
                            written_at, failure_reported
                     FROM aws_denies WHERE role_arn = $1 ORDER BY id",
                )
                .bind(role_arn)
                .fetch_all(&mut *c)
                .await?)
            }

            pub async fn aws_deny_written(c: &mut $conn, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
                sqlx::query("UPDATE aws_denies SET written_at = $2 WHERE id = $1 AND written_at IS NULL")
                    .bind(id)
                    .bind(to_ms(now))
                    .execute(&mut *c)
                    .await?;
                Ok(())
            }

            pub async fn aws_deny_failure_reported(c: &mut $conn, id: i64) -> Result<(), StoreError> {
                sqlx::query("UPDATE aws_denies SET failure_reported = TRUE WHERE id = $1")
                    .bind(id)
                    .execute(&mut *c)
                    .await?;
                Ok(())
            }

            pub async fn aws_deny_remove(c: &mut $conn, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
                let done = sqlx::query("DELETE FROM aws_denies WHERE id = $1 AND lasts_until <= $2")
                    .bind(id)
                    .bind(to_ms(now))
                    .execute(&mut *c)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            pub async fn aws_deny_done(c: &mut $conn, id: i64, gen: i64, next: Option<DateTime<Utc>>) -> Result<(), StoreError> {
                match next {
                    None => {
                        // Nothing left to deny; a row queued again meanwhile stays.
                        sqlx::query("DELETE FROM aws_deny_outbox WHERE id = $1 AND gen = $2")
                            .bind(id)
                            .bind(gen)
                            .execute(&mut *c)
                            .await?;
                    }
                    Some(next) => {
                        sqlx::query(
                            "UPDATE aws_deny_outbox SET lease_until = NULL, attempts = 0, last_error = NULL,
                                next_at = CASE WHEN gen = $2 THEN $3 ELSE next_at END WHERE id = $1",
                        )
                        .bind(id)
                        .bind(gen)
                        .bind(to_ms(next))
                        .execute(&mut *c)
                        .await?;
                    }
                }
                sqlx::query("UPDATE aws_deny_outbox SET lease_until = NULL WHERE id = $1")
                    .bind(id)
                    .execute(&mut *c)
                    .await?;
                Ok(())
            }

            pub async fn aws_deny_retry(c: &mut $conn, id: i64, gen: i64, next_at: DateTime<Utc>, error: &str) -> Result<(), StoreError> {
                // A row queued again meanwhile (gen moved) is due now anyway; keep its next_at.
                sqlx::query(
                    "UPDATE aws_deny_outbox SET lease_until = NULL, attempts = attempts + 1, last_error = $4,
                        next_at = CASE WHEN gen = $2 THEN $3 ELSE next_at END WHERE id = $1",
                )
                .bind(id)
                .bind(gen)
                .bind(to_ms(next_at))
                .bind(error)
                .execute(&mut *c)
                .await?;
                Ok(())
            }

            pub async fn aws_sessions_until(c: &mut $conn, request_id: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
                let row: (Option<i64>,) = sqlx::query_as(
                    "SELECT MAX(expires_at) FROM credential_issuances WHERE request_id = $1 AND kind = 'aws'",
                )
                .bind(request_id)
                .fetch_one(&mut *c)
                .await?;
                Ok(row.0.map(from_ms))
            }

            pub async fn aws_session_grants(c: &mut $conn, identifier: &str, now: DateTime<Utc>) -> Result<Vec<SessionGrant>, StoreError> {
                Ok(sqlx::query_as(
                    "SELECT a.id, a.resource, a.role, a.requester_name, a.state, a.expires_at,
                            (SELECT MAX(i.expires_at) FROM credential_issuances i WHERE i.request_id = a.id AND i.kind = 'aws') AS sessions_until
                     FROM access_requests a
                     WHERE a.requester_id IN (SELECT id FROM users WHERE id = $1 OR subject = $1 OR LOWER(email) = LOWER($1))
                       AND (a.state = 'active' OR EXISTS (SELECT 1 FROM credential_issuances i
                            WHERE i.request_id = a.id AND i.kind = 'aws' AND i.expires_at > $2))",
                )
                .bind(identifier)
                .bind(to_ms(now))
                .fetch_all(&mut *c)
                .await?)
            }

            pub async fn users_named(c: &mut $conn, identifier: &str) -> Result<Vec<(String, Option<String>)>, StoreError> {
                Ok(sqlx::query_as(
                    "SELECT id, email FROM users WHERE id = $1 OR subject = $1 OR LOWER(email) = LOWER($1)",
                )
                .bind(identifier)
                .fetch_all(&mut *c)
                .await?)
            }
        }
        pub use aws::*;
    };
}

pub(crate) use aws_queries;
