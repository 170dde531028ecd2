//! The statements SQLite and PostgreSQL share, instantiated once per backend by
//! [`shared_queries!`]. Placeholders are `$N`, which both read.

macro_rules! shared_queries {
    ($conn:ty) => {
        use chrono::{DateTime, Utc};

        use crate::domain::{to_ms, Identity, Lock, Session};
        use crate::store::{LockRow, SessionRecord, SessionRow, StoreError};

        /// See [`crate::store::Tx::upsert_user`].
        pub async fn upsert_user(c: &mut $conn, who: &Identity, now: DateTime<Utc>) -> Result<(), StoreError> {
            let groups = serde_json::to_string(&who.groups).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            sqlx::query(
                "INSERT INTO users (id, issuer, subject, email, name, groups_json, created_at, last_login_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
                 ON CONFLICT (id) DO UPDATE SET email = $4, name = $5, groups_json = $6, last_login_at = $7",
            )
            .bind(who.user_id())
            .bind(&who.issuer)
            .bind(&who.subject)
            .bind(&who.email)
            .bind(&who.name)
            .bind(groups)
            .bind(to_ms(now))
            .execute(&mut *c)
            .await?;
            Ok(())
        }

        /// See [`crate::store::Tx::insert_session`].
        pub async fn insert_session(c: &mut $conn, s: &Session) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO sessions (id, user_id, kid, dev, created_at, expires_at, auth_time, client_addr, user_agent)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&s.id)
            .bind(&s.user_id)
            .bind(&s.kid)
            .bind(s.dev)
            .bind(to_ms(s.created_at))
            .bind(to_ms(s.expires_at))
            .bind(s.auth_time.map(to_ms))
            .bind(&s.client_addr)
            .bind(&s.user_agent)
            .execute(&mut *c)
            .await?;
            Ok(())
        }

        /// See [`crate::store::Tx::session`].
        pub async fn session(c: &mut $conn, id: &str) -> Result<Option<SessionRecord>, StoreError> {
            let row: Option<SessionRow> = sqlx::query_as(
                "SELECT s.id, s.user_id, s.kid, s.dev, s.created_at, s.expires_at, s.auth_time, s.revoked_at,
                        s.client_addr, s.user_agent, u.subject, u.email, u.name, u.groups_json,
                        EXISTS (SELECT 1 FROM user_locks l WHERE l.identifier IN (u.id, u.subject, u.email)) AS locked
                 FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1",
            )
            .bind(id)
            .fetch_optional(&mut *c)
            .await?;
            row.map(SessionRecord::try_from).transpose()
        }

        /// See [`crate::store::Tx::revoke_session`].
        pub async fn revoke_session(c: &mut $conn, id: &str, reason: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
            let done = sqlx::query(
                "UPDATE sessions SET revoked_at = $2, revoked_reason = $3 WHERE id = $1 AND revoked_at IS NULL",
            )
            .bind(id)
            .bind(to_ms(now))
            .bind(reason)
            .execute(&mut *c)
            .await?;
            Ok(done.rows_affected() == 1)
        }

        /// See [`crate::store::Tx::revoke_dev_sessions`].
        pub async fn revoke_dev_sessions(c: &mut $conn, reason: &str, now: DateTime<Utc>) -> Result<Vec<(String, String)>, StoreError> {
            let ended: Vec<(String, String)> = sqlx::query_as(
                "UPDATE sessions SET revoked_at = $1, revoked_reason = $2
                 WHERE dev AND revoked_at IS NULL AND expires_at > $1 RETURNING id, user_id",
            )
            .bind(to_ms(now))
            .bind(reason)
            .fetch_all(&mut *c)
            .await?;
            Ok(ended)
        }

        /// See [`crate::store::Tx::lock`].
        pub async fn lock(c: &mut $conn, lock: &Lock) -> Result<u64, StoreError> {
            // Waits for issuances and logins that checked the locks to commit, and keeps
            // new ones from checking until this lock has committed (PostgreSQL).
            exclude_holders(&mut *c).await?;
            sqlx::query(
                "INSERT INTO user_locks (identifier, reason, locked_by, locked_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (identifier) DO UPDATE SET reason = $2, locked_by = $3, locked_at = $4",
            )
            .bind(&lock.identifier)
            .bind(&lock.reason)
            .bind(&lock.locked_by)
            .bind(to_ms(lock.locked_at))
            .execute(&mut *c)
            .await?;
            let ended = sqlx::query(
                "UPDATE sessions SET revoked_at = $2, revoked_reason = 'user locked'
                 WHERE revoked_at IS NULL AND expires_at > $2 AND user_id IN
                   (SELECT id FROM users WHERE id = $1 OR subject = $1 OR email = $1)",
            )
            .bind(&lock.identifier)
            .bind(to_ms(lock.locked_at))
            .execute(&mut *c)
            .await?;
            Ok(ended.rows_affected())
        }

        /// See [`crate::store::Tx::unlock`].
        pub async fn unlock(c: &mut $conn, identifier: &str) -> Result<bool, StoreError> {
            let done = sqlx::query("DELETE FROM user_locks WHERE identifier = $1")
                .bind(identifier)
                .execute(&mut *c)
                .await?;
            Ok(done.rows_affected() == 1)
        }

        /// See [`crate::store::Tx::find_lock`].
        pub async fn find_lock(c: &mut $conn, identifiers: &[String]) -> Result<Option<Lock>, StoreError> {
            for id in identifiers {
                let row: Option<LockRow> = sqlx::query_as(
                    "SELECT identifier, reason, locked_by, locked_at FROM user_locks WHERE identifier = $1",
                )
                .bind(id)
                .fetch_optional(&mut *c)
                .await?;
                if let Some(row) = row {
                    return Ok(Some(row.into()));
                }
            }
            Ok(None)
        }

        /// See [`crate::store::Tx::insert_login_attempt`].
        pub async fn insert_login_attempt(c: &mut $conn, id: &str, nonce: &str, expires_at: DateTime<Utc>, now: DateTime<Utc>, max_pending: i64) -> Result<bool, StoreError> {
            sqlx::query("DELETE FROM login_attempts WHERE expires_at <= $1")
                .bind(to_ms(now))
                .execute(&mut *c)
                .await?;
            let (pending,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM login_attempts")
                .fetch_one(&mut *c)
                .await?;
            if pending >= max_pending {
                return Ok(false);
            }
            sqlx::query("INSERT INTO login_attempts (id, nonce, expires_at) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(nonce)
                .bind(to_ms(expires_at))
                .execute(&mut *c)
                .await?;
            Ok(true)
        }

        /// See [`crate::store::Tx::take_login_attempt`].
        pub async fn take_login_attempt(c: &mut $conn, id: &str, now: DateTime<Utc>) -> Result<Option<String>, StoreError> {
            sqlx::query("DELETE FROM login_attempts WHERE expires_at <= $1")
                .bind(to_ms(now))
                .execute(&mut *c)
                .await?;
            let nonce: Option<(String,)> = sqlx::query_as("DELETE FROM login_attempts WHERE id = $1 RETURNING nonce")
                .bind(id)
                .fetch_optional(&mut *c)
                .await?;
            Ok(nonce.map(|(n,)| n))
        }

        /// See [`crate::store::Tx::mark_id_token_used`].
        pub async fn mark_id_token_used(c: &mut $conn, hash: &str, expires_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<bool, StoreError> {
            sqlx::query("DELETE FROM used_id_tokens WHERE expires_at <= $1")
                .bind(to_ms(now))
                .execute(&mut *c)
                .await?;
            let done = sqlx::query(
                "INSERT INTO used_id_tokens (token_hash, expires_at) VALUES ($1, $2) ON CONFLICT (token_hash) DO NOTHING",
            )
            .bind(hash)
            .bind(to_ms(expires_at))
            .execute(&mut *c)
            .await?;
            Ok(done.rows_affected() == 1)
        }
    };
}

pub(crate) use shared_queries;
