//! User locks: an identifier (email, subject or user id) that ends its users' sessions
//! and refuses them until unlocked.

use crate::model::domain::{from_ms, to_ms, Lock};
use crate::model::policy::permit::{Administer, Permit, BROKER};
use crate::store::error::StoreError;
use crate::store::permitted::permitted;
use crate::store::statement::sql;
use crate::store::tx::Tx;

#[derive(sqlx::FromRow)]
struct LockRow {
    identifier: String,
    reason: Option<String>,
    locked_by: String,
    locked_at: i64,
}

impl From<LockRow> for Lock {
    fn from(r: LockRow) -> Self {
        Lock {
            identifier: r.identifier,
            reason: r.reason,
            locked_by: r.locked_by,
            locked_at: from_ms(r.locked_at),
        }
    }
}

impl Tx {
    /// Locks an identifier (email, subject or user id) and ends the sessions of the users
    /// it names. Returns how many sessions were ended.
    pub async fn lock(
        &mut self,
        permit: &Permit<Administer>,
        lock: &Lock,
    ) -> Result<u64, StoreError> {
        permitted(permit, &lock.locked_by, BROKER)?;
        // Waits for issuances and logins that checked the locks to commit, and keeps
        // new ones from checking until this lock has committed (PostgreSQL).
        self.exclude_holders().await?;
        sql("INSERT INTO user_locks (identifier, reason, locked_by, locked_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (identifier) DO UPDATE SET reason = $2, locked_by = $3, locked_at = $4")
        .bind(&lock.identifier)
        .bind(&lock.reason)
        .bind(&lock.locked_by)
        .bind(to_ms(lock.locked_at))
        .execute(self)
        .await?;
        sql(
            "UPDATE sessions SET revoked_at = $2, revoked_reason = 'user locked'
             WHERE revoked_at IS NULL AND expires_at > $2 AND user_id IN
               (SELECT id FROM users WHERE id = $1 OR subject = $1 OR email = $1)",
        )
        .bind(&lock.identifier)
        .bind(to_ms(lock.locked_at))
        .execute(self)
        .await
    }

    /// Removes a lock; false if there was none.
    pub async fn unlock(
        &mut self,
        _administrator: &Permit<Administer>,
        identifier: &str,
    ) -> Result<bool, StoreError> {
        let removed = sql("DELETE FROM user_locks WHERE identifier = $1")
            .bind(identifier)
            .execute(self)
            .await?;
        Ok(removed == 1)
    }

    /// The first lock naming any of `identifiers`.
    pub async fn find_lock(&mut self, identifiers: &[String]) -> Result<Option<Lock>, StoreError> {
        for id in identifiers {
            let row: Option<LockRow> = sql(
                "SELECT identifier, reason, locked_by, locked_at FROM user_locks WHERE identifier = $1",
            )
            .bind(id)
            .fetch_optional(self)
            .await?;
            if let Some(row) = row {
                return Ok(Some(row.into()));
            }
        }
        Ok(None)
    }

    /// Every identifier a lock names (email, subject or user id).
    pub async fn lock_identifiers(&mut self) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = sql("SELECT identifier FROM user_locks")
            .fetch_all(self)
            .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }
}
