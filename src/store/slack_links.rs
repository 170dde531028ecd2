//! Slack users bound to latchkey users (by a link code or by email), link codes,
//! interactions already handled, and fresh-login confirmations of Slack reviews.

use chrono::{DateTime, Utc};

use crate::model::domain::to_ms;
use crate::store::error::StoreError;
use crate::store::statement::sql;
use crate::store::tx::Tx;

/// A pending fresh-login confirmation of a Slack review.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Confirmation {
    /// Id (in the link shown to the reviewer).
    pub id: String,
    /// OAuth `state` of the authorization request.
    pub state: String,
    /// The request.
    pub request_id: String,
    /// `approve` or `deny`.
    pub verdict: String,
    /// Who clicked.
    pub slack_user_id: String,
    /// The latchkey user that Slack user is bound to; the login must be theirs.
    pub user_id: String,
    /// Nonce the ID token must carry.
    pub nonce: String,
    /// PKCE code verifier.
    pub pkce_verifier: String,
    /// Until (ms).
    pub expires_at: i64,
    /// The reviewer's comment (a denial's reason).
    pub comment: Option<String>,
}

const CONFIRMATION_COLUMNS: &str =
    "id, state, request_id, verdict, slack_user_id, user_id, nonce, pkce_verifier, expires_at, comment";

impl Tx {
    /// The latchkey user and binding method (`code`, `email`) of a Slack user.
    pub async fn slack_binding(
        &mut self,
        slack_user_id: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        sql("SELECT user_id, method FROM slack_bindings WHERE slack_user_id = $1")
            .bind(slack_user_id)
            .fetch_optional(self)
            .await
    }

    /// The Slack user bound to a latchkey user (a code binding first).
    pub async fn slack_user_of(&mut self, user_id: &str) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> =
            sql("SELECT slack_user_id FROM slack_bindings WHERE user_id = $1
             ORDER BY CASE method WHEN 'code' THEN 0 ELSE 1 END, created_at DESC LIMIT 1")
            .bind(user_id)
            .fetch_optional(self)
            .await?;
        Ok(row.map(|(s,)| s))
    }

    /// Binds a Slack user to a latchkey user; true if the binding is new or changed.
    pub async fn slack_bind(
        &mut self,
        slack_user_id: &str,
        user_id: &str,
        method: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let changed = sql("INSERT INTO slack_bindings (slack_user_id, user_id, method, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (slack_user_id) DO UPDATE SET user_id = $2, method = $3, created_at = $4
             WHERE slack_bindings.user_id <> $2 OR slack_bindings.method <> $3")
        .bind(slack_user_id)
        .bind(user_id)
        .bind(method)
        .bind(to_ms(now))
        .execute(self)
        .await?;
        Ok(changed == 1)
    }

    /// Stores a link code's hash for `user_id` until `expires_at`.
    pub async fn slack_insert_link_code(
        &mut self,
        code_hash: &str,
        user_id: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sql("INSERT INTO slack_link_codes (code_hash, user_id, expires_at) VALUES ($1, $2, $3)")
            .bind(code_hash)
            .bind(user_id)
            .bind(to_ms(expires_at))
            .execute(self)
            .await?;
        Ok(())
    }

    /// Consumes a link code; the user it was issued to, if it existed and had not expired.
    pub async fn slack_take_link_code(
        &mut self,
        code_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        sql("DELETE FROM slack_link_codes WHERE expires_at <= $1")
            .bind(to_ms(now))
            .execute(self)
            .await?;
        let row: Option<(String,)> =
            sql("DELETE FROM slack_link_codes WHERE code_hash = $1 RETURNING user_id")
                .bind(code_hash)
                .fetch_optional(self)
                .await?;
        Ok(row.map(|(u,)| u))
    }

    /// Records an interaction as handled; false if it already was (a retry or double click).
    pub async fn slack_first_click(
        &mut self,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // Slack retries within minutes; a day of keys is plenty.
        sql("DELETE FROM slack_clicks WHERE at < $1")
            .bind(to_ms(now - chrono::Duration::days(1)))
            .execute(self)
            .await?;
        let inserted = sql("INSERT INTO slack_clicks (click_key, at) VALUES ($1, $2)
                            ON CONFLICT (click_key) DO NOTHING")
        .bind(key)
        .bind(to_ms(now))
        .execute(self)
        .await?;
        Ok(inserted == 1)
    }

    /// Stores a pending fresh-login confirmation.
    pub async fn slack_insert_confirmation(&mut self, f: &Confirmation) -> Result<(), StoreError> {
        sql(format!(
            "INSERT INTO slack_confirmations ({CONFIRMATION_COLUMNS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(&f.id)
        .bind(&f.state)
        .bind(&f.request_id)
        .bind(&f.verdict)
        .bind(&f.slack_user_id)
        .bind(&f.user_id)
        .bind(&f.nonce)
        .bind(&f.pkce_verifier)
        .bind(f.expires_at)
        .bind(&f.comment)
        .execute(self)
        .await?;
        Ok(())
    }

    /// A pending confirmation by id, unless expired.
    pub async fn slack_confirmation(
        &mut self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Confirmation>, StoreError> {
        sql(format!(
            "SELECT {CONFIRMATION_COLUMNS} FROM slack_confirmations WHERE id = $1 AND expires_at > $2"
        ))
        .bind(id)
        .bind(to_ms(now))
        .fetch_optional(self)
        .await
    }

    /// Consumes the confirmation with this OAuth `state`, unless expired.
    pub async fn slack_take_confirmation(
        &mut self,
        state: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Confirmation>, StoreError> {
        sql("DELETE FROM slack_confirmations WHERE expires_at <= $1")
            .bind(to_ms(now))
            .execute(self)
            .await?;
        sql(format!(
            "DELETE FROM slack_confirmations WHERE state = $1 RETURNING {CONFIRMATION_COLUMNS}"
        ))
        .bind(state)
        .fetch_optional(self)
        .await
    }
}
