//! Signed checkpoints of the audit chain, and their delivery to the outside sink.

use chrono::{DateTime, Utc};

use crate::model::audit::checkpoint::Checkpoint;
use crate::model::domain::{from_ms, to_ms};
use crate::store::error::StoreError;
use crate::store::statement::sql;
use crate::store::tx::Tx;

#[derive(sqlx::FromRow)]
struct CheckpointRow {
    number: i64,
    events: i64,
    head_hash: String,
    at: i64,
    prev: Option<String>,
    kid: String,
    signature: String,
    delivered_at: Option<i64>,
}

impl From<CheckpointRow> for Checkpoint {
    fn from(r: CheckpointRow) -> Self {
        Checkpoint {
            number: r.number,
            events: r.events,
            head_hash: r.head_hash,
            at: from_ms(r.at),
            prev: r.prev,
            kid: r.kid,
            signature: r.signature,
            delivered: r.delivered_at.is_some(),
        }
    }
}

const CHECKPOINT_COLUMNS: &str =
    "number, events, head_hash, at, prev, kid, signature, delivered_at";

impl Tx {
    /// Stores a signed checkpoint.
    pub async fn insert_checkpoint(&mut self, cp: &Checkpoint) -> Result<(), StoreError> {
        sql(
            "INSERT INTO audit_checkpoints (number, events, head_hash, at, prev, kid, signature)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(cp.number)
        .bind(cp.events)
        .bind(&cp.head_hash)
        .bind(to_ms(cp.at))
        .bind(&cp.prev)
        .bind(&cp.kid)
        .bind(&cp.signature)
        .execute(self)
        .await?;
        Ok(())
    }

    /// Checkpoints numbered `from..=to`, in order.
    pub async fn checkpoints_between(
        &mut self,
        from: i64,
        to: i64,
    ) -> Result<Vec<Checkpoint>, StoreError> {
        let rows: Vec<CheckpointRow> = sql(format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints
             WHERE number >= $1 AND number <= $2 ORDER BY number"
        ))
        .bind(from)
        .bind(to)
        .fetch_all(self)
        .await?;
        Ok(rows.into_iter().map(Checkpoint::from).collect())
    }

    /// The latest checkpoint.
    pub async fn last_checkpoint(&mut self) -> Result<Option<Checkpoint>, StoreError> {
        let row: Option<CheckpointRow> = sql(format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY number DESC LIMIT 1"
        ))
        .fetch_optional(self)
        .await?;
        Ok(row.map(Checkpoint::from))
    }

    /// The last checkpoint covering fewer than `seq` events (the anchor before event
    /// `seq`), and the first covering at least `seq` events (the anchor at or after it).
    pub async fn checkpoints_around(
        &mut self,
        seq: i64,
    ) -> Result<(Option<Checkpoint>, Option<Checkpoint>), StoreError> {
        let before: Option<CheckpointRow> = sql(format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints
             WHERE events < $1 ORDER BY number DESC LIMIT 1"
        ))
        .bind(seq)
        .fetch_optional(self)
        .await?;
        let after: Option<CheckpointRow> = sql(format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints
             WHERE events >= $1 ORDER BY number LIMIT 1"
        ))
        .bind(seq)
        .fetch_optional(self)
        .await?;
        Ok((before.map(Checkpoint::from), after.map(Checkpoint::from)))
    }

    /// Checkpoints not yet written to the outside sink.
    pub async fn undelivered_checkpoints(&mut self) -> Result<Vec<Checkpoint>, StoreError> {
        let rows: Vec<CheckpointRow> = sql(format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints
             WHERE delivered_at IS NULL ORDER BY number"
        ))
        .fetch_all(self)
        .await?;
        Ok(rows.into_iter().map(Checkpoint::from).collect())
    }

    /// Records whether a checkpoint reached the sink.
    pub async fn mark_checkpoint_delivery(
        &mut self,
        number: i64,
        delivered_at: Option<DateTime<Utc>>,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        sql(
            "UPDATE audit_checkpoints SET delivered_at = $2, delivery_error = $3 WHERE number = $1",
        )
        .bind(number)
        .bind(delivered_at.map(to_ms))
        .bind(error)
        .execute(self)
        .await?;
        Ok(())
    }
}
