//! Statements for Slack (outbox, announced messages, bindings, link codes, handled clicks)
//! and the user lookups a Slack binding needs, shared by both backends (instantiated by
//! [`slack_queries!`]).

macro_rules! slack_queries {
    ($conn:ty) => {
        mod slack {
            use chrono::{DateTime, Utc};

            use crate::domain::to_ms;
            use crate::store::tx_slack::{Confirmation, OutboxRow, SlackMessage, UserRecord, UserRow};
            use crate::store::StoreError;

            pub async fn slack_enqueue(c: &mut $conn, dedupe: &str, request_id: &str, kind: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO slack_outbox (dedupe, request_id, kind, gen, attempts, next_at, created_at) VALUES ($1, $2, $3, 0, 0, $4, $4)
                     ON CONFLICT (dedupe) DO UPDATE SET gen = slack_outbox.gen + 1, next_at = $4",
                )
                .bind(dedupe)
                .bind(request_id)
                .bind(kind)
                .bind(to_ms(now))
                .execute(&mut *c)
                .await?;
                Ok(())
            }

            pub async fn slack_due(c: &mut $conn, now: DateTime<Utc>, limit: i64) -> Result<Vec<OutboxRow>, StoreError> {
                Ok(sqlx::query_as(
                    "SELECT id, dedupe, request_id, kind, gen, attempts, next_at, created_at FROM slack_outbox
                     WHERE next_at <= $1 ORDER BY id LIMIT $2",
                )
                .bind(to_ms(now))
                .bind(limit)
                .fetch_all(&mut *c)
                .await?)
            }

            pub async fn slack_claim(c: &mut $conn, id: i64, seen_next_at: i64, until: DateTime<Utc>) -> Result<bool, StoreError> {
                let done = sqlx::query("UPDATE slack_outbox SET next_at = $3 WHERE id = $1 AND next_at = $2")
                    .bind(id)
                    .bind(seen_next_at)
                    .bind(to_ms(until))
                    .execute(&mut *c)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            pub async fn slack_sent(c: &mut $conn, id: i64, gen: i64) -> Result<bool, StoreError> {
                let done = sqlx::query("DELETE FROM slack_outbox WHERE id = $1 AND gen = $2")
                    .bind(id)
                    .bind(gen)
                    .execute(&mut *c)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            pub async fn slack_retry(c: &mut $conn, id: i64, gen: i64, next_at: DateTime<Utc>, error: &str) -> Result<(), StoreError> {
                // A row enqueued again meanwhile (gen moved) is due now anyway; keep its next_at.
                sqlx::query(
                    "UPDATE slack_outbox SET attempts = attempts + 1, last_error = $4,
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

            pub async fn slack_drop(c: &mut $conn, id: i64) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM slack_outbox WHERE id = $1").bind(id).execute(&mut *c).await?;
                Ok(())
            }

            pub async fn slack_announce(c: &mut $conn, request_id: &str, first_request: bool) -> Result<(), StoreError> {
                sqlx::query("INSERT INTO slack_messages (request_id, first_request) VALUES ($1, $2) ON CONFLICT (request_id) DO NOTHING")
                    .bind(request_id)
                    .bind(first_request)
                    .execute(&mut *c)
                    .await?;
                Ok(())
            }

            pub async fn slack_message(c: &mut $conn, request_id: &str) -> Result<Option<SlackMessage>, StoreError> {
                Ok(sqlx::query_as("SELECT request_id, first_request, channel, ts FROM slack_messages WHERE request_id = $1")
                    .bind(request_id)
                    .fetch_optional(&mut *c)
                    .await?)
            }

            pub async fn slack_message_posted(c: &mut $conn, request_id: &str, channel: &str, ts: &str) -> Result<(), StoreError> {
                sqlx::query("UPDATE slack_messages SET channel = $2, ts = $3 WHERE request_id = $1")
                    .bind(request_id)
                    .bind(channel)
                    .bind(ts)
                    .execute(&mut *c)
                    .await?;
                Ok(())
            }

            pub async fn slack_binding(c: &mut $conn, slack_user_id: &str) -> Result<Option<(String, String)>, StoreError> {
                Ok(sqlx::query_as("SELECT user_id, method FROM slack_bindings WHERE slack_user_id = $1")
                    .bind(slack_user_id)
                    .fetch_optional(&mut *c)
                    .await?)
            }

            pub async fn slack_user_of(c: &mut $conn, user_id: &str) -> Result<Option<String>, StoreError> {
                let row: Option<(String,)> = sqlx::query_as(
                    "SELECT slack_user_id FROM slack_bindings WHERE user_id = $1 ORDER BY CASE method WHEN 'code' THEN 0 ELSE 1 END, created_at DESC LIMIT 1",
                )
                .bind(user_id)
                .fetch_optional(&mut *c)
                .await?;
                Ok(row.map(|(s,)| s))
            }

            /// Returns whether the binding is new or changed.
            pub async fn slack_bind(c: &mut $conn, slack_user_id: &str, user_id: &str, method: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "INSERT INTO slack_bindings (slack_user_id, user_id, method, created_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (slack_user_id) DO UPDATE SET user_id = $2, method = $3, created_at = $4
                     WHERE slack_bindings.user_id <> $2 OR slack_bindings.method <> $3",
                )
                .bind(slack_user_id)
                .bind(user_id)
                .bind(method)
                .bind(to_ms(now))
                .execute(&mut *c)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            pub async fn slack_insert_link_code(c: &mut $conn, code_hash: &str, user_id: &str, expires_at: DateTime<Utc>) -> Result<(), StoreError> {
                sqlx::query("INSERT INTO slack_link_codes (code_hash, user_id, expires_at) VALUES ($1, $2, $3)")
                    .bind(code_hash)
                    .bind(user_id)
                    .bind(to_ms(expires_at))
                    .execute(&mut *c)
                    .await?;
                Ok(())
            }

            pub async fn slack_take_link_code(c: &mut $conn, code_hash: &str, now: DateTime<Utc>) -> Result<Option<String>, StoreError> {
                sqlx::query("DELETE FROM slack_link_codes WHERE expires_at <= $1")
                    .bind(to_ms(now))
                    .execute(&mut *c)
                    .await?;
                let row: Option<(String,)> = sqlx::query_as("DELETE FROM slack_link_codes WHERE code_hash = $1 RETURNING user_id")
                    .bind(code_hash)
                    .fetch_optional(&mut *c)
                    .await?;
                Ok(row.map(|(u,)| u))
            }

            pub async fn slack_first_click(c: &mut $conn, key: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
                // Slack retries within minutes; a day of keys is plenty.
                sqlx::query("DELETE FROM slack_clicks WHERE at < $1")
                    .bind(to_ms(now - chrono::Duration::days(1)))
                    .execute(&mut *c)
                    .await?;
                let done = sqlx::query("INSERT INTO slack_clicks (click_key, at) VALUES ($1, $2) ON CONFLICT (click_key) DO NOTHING")
                    .bind(key)
                    .bind(to_ms(now))
                    .execute(&mut *c)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            pub async fn slack_insert_confirmation(c: &mut $conn, f: &Confirmation) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO slack_confirmations (id, state, request_id, verdict, slack_user_id, user_id, nonce, pkce_verifier, expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&f.id)
                .bind(&f.state)
                .bind(&f.request_id)
                .bind(&f.verdict)
                .bind(&f.slack_user_id)
                .bind(&f.user_id)
                .bind(&f.nonce)
                .bind(&f.pkce_verifier)
                .bind(f.expires_at)
                .execute(&mut *c)
                .await?;
                Ok(())
            }

            pub async fn slack_confirmation(c: &mut $conn, id: &str, now: DateTime<Utc>) -> Result<Option<Confirmation>, StoreError> {
                Ok(sqlx::query_as(
                    "SELECT id, state, request_id, verdict, slack_user_id, user_id, nonce, pkce_verifier, expires_at
                     FROM slack_confirmations WHERE id = $1 AND expires_at > $2",
                )
                .bind(id)
                .bind(to_ms(now))
                .fetch_optional(&mut *c)
                .await?)
            }

            pub async fn slack_take_confirmation(c: &mut $conn, state: &str, now: DateTime<Utc>) -> Result<Option<Confirmation>, StoreError> {
                sqlx::query("DELETE FROM slack_confirmations WHERE expires_at <= $1")
                    .bind(to_ms(now))
                    .execute(&mut *c)
                    .await?;
                Ok(sqlx::query_as(
                    "DELETE FROM slack_confirmations WHERE state = $1
                     RETURNING id, state, request_id, verdict, slack_user_id, user_id, nonce, pkce_verifier, expires_at",
                )
                .bind(state)
                .fetch_optional(&mut *c)
                .await?)
            }

            const USER_COLUMNS: &str = "u.id, u.issuer, u.subject, u.email, u.name, u.groups_json,
                EXISTS (SELECT 1 FROM user_locks l WHERE l.identifier IN (u.id, u.subject, u.email)) AS locked";

            pub async fn user_by_id(c: &mut $conn, id: &str) -> Result<Option<UserRecord>, StoreError> {
                let row: Option<UserRow> = sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1"))
                    .bind(id)
                    .fetch_optional(&mut *c)
                    .await?;
                row.map(UserRecord::try_from).transpose()
            }

            pub async fn users_by_email(c: &mut $conn, email: &str) -> Result<Vec<UserRecord>, StoreError> {
                let rows: Vec<UserRow> = sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users u WHERE lower(u.email) = lower($1)"))
                    .bind(email)
                    .fetch_all(&mut *c)
                    .await?;
                rows.into_iter().map(UserRecord::try_from).collect()
            }
        }
        pub use slack::*;
    };
}

pub(crate) use slack_queries;
