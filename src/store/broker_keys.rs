//! The broker's own keys, sealed (`broker_keys`), and the version replicas poll to learn
//! that another one changed them (`broker_keys_version`).

use chrono::{DateTime, Utc};

use crate::model::domain::to_ms;
use crate::store::error::StoreError;
use crate::store::statement::sql;
use crate::store::tx::Tx;

/// One sealed key, as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct KeyRow {
    /// `signing`, `ssh_ca`, `audit`, `db_login`.
    pub kind: String,
    /// Its id (thumbprint, fingerprint).
    pub id: String,
    /// Its algorithm.
    pub alg: String,
    /// Made at, ms.
    pub created_at: i64,
    /// Trusted until, ms; `None` while it signs.
    pub retire_at: Option<i64>,
    /// The sealed private material, base64.
    pub sealed: String,
}

impl Tx {
    /// The keys' version; bumping it takes the row's lock, so on PostgreSQL whoever
    /// changes the keys (or makes the first ones) does it one at a time.
    pub async fn broker_keys_bump(&mut self) -> Result<i64, StoreError> {
        let (v,): (i64,) = sql(
            "UPDATE broker_keys_version SET version = version + 1 WHERE id = 1 RETURNING version",
        )
        .fetch_one(self)
        .await?;
        Ok(v)
    }

    /// Takes the version row's lock without moving it: start-ups that may make the first
    /// keys queue here, so two replicas starting at once do not both make them.
    pub async fn broker_keys_lock(&mut self) -> Result<(), StoreError> {
        sql("UPDATE broker_keys_version SET version = version WHERE id = 1")
            .execute(self)
            .await?;
        Ok(())
    }

    /// The keys' version, without a lock.
    pub async fn broker_keys_version(&mut self) -> Result<i64, StoreError> {
        let (v,): (i64,) = sql("SELECT version FROM broker_keys_version WHERE id = 1")
            .fetch_one(self)
            .await?;
        Ok(v)
    }

    /// Every key row still trusted at `now`, oldest first.
    pub async fn broker_keys(&mut self, now: DateTime<Utc>) -> Result<Vec<KeyRow>, StoreError> {
        sql(
            "SELECT kind, id, alg, created_at, retire_at, sealed FROM broker_keys
             WHERE retire_at IS NULL OR retire_at > $1 ORDER BY created_at, id",
        )
        .bind(to_ms(now))
        .fetch_all(self)
        .await
    }

    /// Stores a new key.
    pub async fn broker_key_insert(&mut self, row: &KeyRow) -> Result<(), StoreError> {
        sql(
            "INSERT INTO broker_keys (kind, id, alg, created_at, retire_at, sealed)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(row.kind.as_str())
        .bind(row.id.as_str())
        .bind(row.alg.as_str())
        .bind(row.created_at)
        .bind(row.retire_at)
        .bind(row.sealed.as_str())
        .execute(self)
        .await?;
        Ok(())
    }

    /// Rotates out every signing key of `kind` (and `alg`, when given): trusted until
    /// `until`. Keys retired before `now` are deleted. Returns how many were rotated out.
    pub async fn broker_keys_retire(
        &mut self,
        kind: &str,
        alg: Option<&str>,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        sql("DELETE FROM broker_keys WHERE retire_at IS NOT NULL AND retire_at <= $1")
            .bind(to_ms(now))
            .execute(self)
            .await?;
        sql("UPDATE broker_keys SET retire_at = $1
             WHERE kind = $2 AND retire_at IS NULL AND ($3 IS NULL OR alg = $3)")
        .bind(to_ms(until))
        .bind(kind)
        .bind(alg)
        .execute(self)
        .await
    }
}
