//! Users, sessions, browser login attempts and used ID tokens.

use chrono::{DateTime, Utc};

use crate::model::domain::{from_ms, to_ms, Identity, Session};
use crate::store::error::StoreError;
use crate::store::statement::sql;
use crate::store::tx::Tx;

/// A session with what the API needs to know of its user.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    /// The session.
    pub session: Session,
    /// Subject at the provider.
    pub subject: String,
    /// Verified email.
    pub email: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// Groups at the last login.
    pub groups: Vec<String>,
    /// Whether a lock names this user.
    pub locked: bool,
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    id: String,
    user_id: String,
    kid: String,
    dev: bool,
    created_at: i64,
    expires_at: i64,
    auth_time: Option<i64>,
    revoked_at: Option<i64>,
    client_addr: Option<String>,
    user_agent: Option<String>,
    subject: String,
    email: Option<String>,
    name: Option<String>,
    groups_json: String,
    locked: bool,
}

/// A user's groups as stored (`users.groups_json`).
pub(super) fn parse_groups(json: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("users.groups_json: {e}")))
}

impl TryFrom<SessionRow> for SessionRecord {
    type Error = StoreError;
    fn try_from(r: SessionRow) -> Result<Self, StoreError> {
        Ok(SessionRecord {
            groups: parse_groups(&r.groups_json)?,
            session: Session {
                id: r.id,
                user_id: r.user_id,
                kid: r.kid,
                dev: r.dev,
                created_at: from_ms(r.created_at),
                expires_at: from_ms(r.expires_at),
                auth_time: r.auth_time.map(from_ms),
                revoked_at: r.revoked_at.map(from_ms),
                client_addr: r.client_addr,
                user_agent: r.user_agent,
            },
            subject: r.subject,
            email: r.email,
            name: r.name,
            locked: r.locked,
        })
    }
}

impl Tx {
    /// Creates or refreshes a user from a verified identity.
    pub async fn upsert_user(
        &mut self,
        who: &Identity,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let groups =
            serde_json::to_string(&who.groups).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sql("INSERT INTO users (id, issuer, subject, email, name, groups_json, created_at, last_login_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
             ON CONFLICT (id) DO UPDATE SET email = $4, name = $5, groups_json = $6, last_login_at = $7")
        .bind(who.user_id())
        .bind(&who.issuer)
        .bind(&who.subject)
        .bind(&who.email)
        .bind(&who.name)
        .bind(groups)
        .bind(to_ms(now))
        .execute(self)
        .await?;
        Ok(())
    }

    /// Records a new session.
    pub async fn insert_session(&mut self, s: &Session) -> Result<(), StoreError> {
        sql("INSERT INTO sessions (id, user_id, kid, dev, created_at, expires_at, auth_time, client_addr, user_agent)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
        .bind(&s.id)
        .bind(&s.user_id)
        .bind(&s.kid)
        .bind(s.dev)
        .bind(to_ms(s.created_at))
        .bind(to_ms(s.expires_at))
        .bind(s.auth_time.map(to_ms))
        .bind(&s.client_addr)
        .bind(&s.user_agent)
        .execute(self)
        .await?;
        Ok(())
    }

    /// A session with its user and lock state.
    pub async fn session(&mut self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let row: Option<SessionRow> = sql(
            "SELECT s.id, s.user_id, s.kid, s.dev, s.created_at, s.expires_at, s.auth_time, s.revoked_at,
                    s.client_addr, s.user_agent, u.subject, u.email, u.name, u.groups_json,
                    EXISTS (SELECT 1 FROM user_locks l WHERE l.identifier IN (u.id, u.subject, u.email)) AS locked
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1",
        )
        .bind(id)
        .fetch_optional(self)
        .await?;
        row.map(SessionRecord::try_from).transpose()
    }

    /// Ends one session; false if it was unknown or already ended.
    pub async fn revoke_session(
        &mut self,
        id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let changed = sql("UPDATE sessions SET revoked_at = $2, revoked_reason = $3
                           WHERE id = $1 AND revoked_at IS NULL")
        .bind(id)
        .bind(to_ms(now))
        .bind(reason)
        .execute(self)
        .await?;
        Ok(changed == 1)
    }

    /// Ends every live development session; returns their ids and users.
    pub async fn revoke_dev_sessions(
        &mut self,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, String)>, StoreError> {
        sql("UPDATE sessions SET revoked_at = $1, revoked_reason = $2
             WHERE dev AND revoked_at IS NULL AND expires_at > $1 RETURNING id, user_id")
        .bind(to_ms(now))
        .bind(reason)
        .fetch_all(self)
        .await
    }

    /// When `user_id` last logged in with the development login, among their live
    /// development sessions (none: `None`).
    pub async fn last_dev_login(
        &mut self,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let (at,): (Option<i64>,) = sql("SELECT MAX(auth_time) FROM sessions
             WHERE user_id = $1 AND dev AND revoked_at IS NULL AND expires_at > $2")
        .bind(user_id)
        .bind(to_ms(now))
        .fetch_one(self)
        .await?;
        Ok(at.map(from_ms))
    }

    /// Remembers a browser login's nonce until `expires_at`, after forgetting expired
    /// ones; false (nothing stored) when `max_pending` attempts are already pending.
    pub async fn insert_login_attempt(
        &mut self,
        id: &str,
        nonce: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
        max_pending: i64,
    ) -> Result<bool, StoreError> {
        sql("DELETE FROM login_attempts WHERE expires_at <= $1")
            .bind(to_ms(now))
            .execute(self)
            .await?;
        let (pending,): (i64,) = sql("SELECT COUNT(*) FROM login_attempts")
            .fetch_one(self)
            .await?;
        if pending >= max_pending {
            return Ok(false);
        }
        sql("INSERT INTO login_attempts (id, nonce, expires_at) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(nonce)
            .bind(to_ms(expires_at))
            .execute(self)
            .await?;
        Ok(true)
    }

    /// Consumes a login attempt, returning its nonce if it existed and had not expired.
    pub async fn take_login_attempt(
        &mut self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        sql("DELETE FROM login_attempts WHERE expires_at <= $1")
            .bind(to_ms(now))
            .execute(self)
            .await?;
        let nonce: Option<(String,)> =
            sql("DELETE FROM login_attempts WHERE id = $1 RETURNING nonce")
                .bind(id)
                .fetch_optional(self)
                .await?;
        Ok(nonce.map(|(n,)| n))
    }

    /// Records an ID token as used (by its replay key, until `expires_at`); false if it
    /// already was (a replay).
    pub async fn mark_id_token_used(
        &mut self,
        hash: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        sql("DELETE FROM used_id_tokens WHERE expires_at <= $1")
            .bind(to_ms(now))
            .execute(self)
            .await?;
        let inserted = sql(
            "INSERT INTO used_id_tokens (token_hash, expires_at) VALUES ($1, $2)
                            ON CONFLICT (token_hash) DO NOTHING",
        )
        .bind(hash)
        .bind(to_ms(expires_at))
        .execute(self)
        .await?;
        Ok(inserted == 1)
    }
}
