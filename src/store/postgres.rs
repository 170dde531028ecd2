//! PostgreSQL, for several broker replicas sharing one database; and the statements that
//! differ from SQLite's.

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

use crate::store::error::StoreError;
use crate::store::statement::sql;
use crate::store::tx::Tx;

/// Connects to the server named by `url`.
pub async fn connect(url: &str) -> Result<PgPool, StoreError> {
    Ok(PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await?)
}

/// Applies `migrations/postgres`.
pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    sqlx::migrate!("migrations/postgres").run(pool).await?;
    Ok(())
}

/// What ends a `SELECT` that holds its rows until the transaction ends: locked against
/// updates. `FOR NO KEY UPDATE`, not `FOR SHARE`: share locks let a stream of issuances
/// keep a revocation's `UPDATE` waiting until the last of them, where this one queues it
/// behind the one holding the row.
pub(super) const ROW_LOCK: &str = " FOR NO KEY UPDATE";

/// The advisory lock key that orders issuances and logins against user locks
/// (`latchkey` in ASCII).
const LOCKS_KEY: i64 = 0x6c61_7463_686b_6579;

/// Takes the user-lock advisory lock shared, until the transaction ends.
pub(super) async fn hold_against_locks(tx: &mut Tx) -> Result<(), StoreError> {
    sql("SELECT pg_advisory_xact_lock_shared($1)")
        .bind(LOCKS_KEY)
        .execute(tx)
        .await?;
    Ok(())
}

/// Takes the user-lock advisory lock exclusively, until the transaction ends.
pub(super) async fn exclude_holders(tx: &mut Tx) -> Result<(), StoreError> {
    sql("SELECT pg_advisory_xact_lock($1)")
        .bind(LOCKS_KEY)
        .execute(tx)
        .await?;
    Ok(())
}

/// Placeholders for a multi-row `INSERT`: `($1, …, $n), ($n+1, …)`.
pub(super) fn row_marks(rows: usize, per_row: usize) -> String {
    (0..rows)
        .map(|r| {
            let marks: Vec<String> = (1..=per_row)
                .map(|k| format!("${}", r * per_row + k))
                .collect();
            format!("({})", marks.join(", "))
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The chain head, locked until this transaction ends: every appender, in every broker
/// process sharing the database, queues here, so the chain never forks.
pub(super) async fn lock_audit_head(tx: &mut Tx) -> Result<(i64, String), StoreError> {
    const SELECT: &str = "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE";
    if let Some(head) = sql(SELECT).fetch_optional(tx).await? {
        return Ok(head);
    }
    // The first event ever: create the head, or wait for whoever is creating it.
    sql("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, $1) ON CONFLICT (id) DO NOTHING")
        .bind(crate::model::audit::chain::GENESIS)
        .execute(tx)
        .await?;
    sql(SELECT).fetch_one(tx).await
}

/// Now in milliseconds since the epoch by the server's clock: leases are timed by the one
/// clock every replica shares, never by a replica's own.
pub(super) const NOW_MS: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";

/// What ends a `SELECT` that keeps a row from being changed until the transaction ends,
/// without keeping others from reading or share-locking it.
pub(super) const SHARE_LOCK: &str = " FOR SHARE";
